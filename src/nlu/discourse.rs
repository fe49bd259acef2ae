//! What a message does in a conversation besides its intent: whether it corrects what was said ("no, I
//! meant 1234"), drops the pending question ("forget it"), closes ("that's it"), follows the topic up
//! ("and the other one?", "how long?"), and how a long message splits into clauses ("hi, where is my
//! order, and also I want a refund" → a greeting, two requests).
//!
//! Cues are read on the normalised tokens (lower case, no accents, number words as digits), in English
//! and French. They are evidence for the engine, which weighs them against the state of the dialogue; they
//! decide nothing alone.

use regex::Regex;
use std::sync::LazyLock;

/// Dialogue cues found in one message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Cues {
    /// The customer corrects something they said ("I meant", "wrong number", "je me suis trompé").
    pub correction: bool,
    /// The customer drops what is pending ("forget it", "never mind", "laissez tomber").
    pub drop_flow: bool,
    /// The customer is done ("that's it", "nothing else", "rien d'autre", "c'est tout").
    pub done: bool,
    /// The message leans on what was said before ("it", "that", "what about", "et pour", "how long").
    pub followup: bool,
    /// It asks about another item than the one discussed ("the other one", "my second order", "l'autre").
    pub other_one: bool,
    /// It asks when, or how long, or says it is still waiting ("still nothing", "j'attends depuis").
    pub timing: bool,
    /// It opens with a no ("no I'll wait", "nah", "non merci, ça ira"): a refusal, whatever follows.
    pub declines: bool,
    /// It says the customer does not know or have what was asked ("no idea", "I don't remember it",
    /// "je l'ai pas sous la main", "aucune idée").
    pub dont_know: bool,
    /// It tells the bot not to do what it offered ("wait no, don't cancel it!", "I changed my mind",
    /// "non surtout pas", "j'ai changé d'avis").
    pub refuses: bool,
}

fn re(p: &str) -> Regex {
    Regex::new(p).expect("discourse patterns compile")
}

static CORRECTION: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"\b(i meant|i mean|meant to say|wrong (one|number|order|ref)|not that one|not that order|",
        r"my mistake|my bad|typo|oops|correction|sorry it s|sorry its|actually it s|actually its|",
        r"no it s|no its|it should be|should have said|sorry no|no sorry|no wait|",
        r"je voulais dire|je me suis trompe|je me suis trompee|me suis trompe|erreur|c est plutot|",
        r"plutot la|plutot le|pardon c est|non c est|mauvais numero|pas celle la|pas celui la|",
        r"pas la bonne|pas le bon|je rectifie|oups|non pardon|pardon non|non attendez|non attends)\b"
    ))
});

static DROP_FLOW: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"\b(forget it|forget about it|forget that|never ?mind|nevermind|cancel that|scratch that|",
        r"drop it|leave it|skip it|doesn t matter|no matter|not important|don t bother|",
        r"laissez tomber|laisse tomber|laisser tomber|oubliez|oublie ca|oublions|tant pis|",
        r"c est pas grave|ce n est pas grave|pas grave|peu importe|laissez)\b"
    ))
});

static DROP_FLOW_FIRST: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"^(?:(?:oh|ah|no|non|ok|okay|bon|ben|um|uh|euh|well|actually|en fait|bah|oups|oops)\s+)*",
        r"(forget it|forget about it|never ?mind|nevermind|laissez tomber|laisse tomber|oubliez|tant pis)\b"
    ))
});

static DONE: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"\b(that s it|thats it|that s all|thats all|that will be all|that ll be all|nothing else|",
        r"that is it|that is all|that is everything|that was it|that was all|that will do|that ll do|",
        r"i m done|im done|i am done|all good|that s everything|i m good|im good|i am good|i m fine|",
        r"i am fine|all set|nothing more|nothing further|no more questions|no other questions|",
        r"c etait tout|rien de plus|pas d autre question|pas d autres questions|",
        r"c est tout|rien d autre|ce sera tout|ca sera tout|c est bon|ca ira|ca va aller|",
        r"j ai fini|plus rien|non merci|no thanks|no thank you)\b"
    ))
});

static FOLLOWUP: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"\b(it|its|it s|that|this|them|they|one|what about|how about|and the|and my|",
        r"l|la|le|elle|il|ca|celle|celui|et pour|et la|et le|et ma|et mon|et l|",
        r"so has|has it|is it|did it|update|news|nouvelles|nouveau|du coup|elles|ils|",
        r"and if|what if|what happens if|what do i do|what should i do|et si|je fais quoi|on fait quoi|",
        r"je fais comment|on fait comment|comment je fais|comment on fait|what now|now what|",
        r"what happens now|what happens next|what s next|whats next|and then what|et maintenant|",
        r"et apres|il se passe quoi|qu est ce qui se passe maintenant)\b"
    ))
});

static OTHER_ONE: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"\b(other one|other order|the other|another one|second one|second order|my second|",
        r"the first one|first order|other parcel|",
        r"l autre|autre commande|deuxieme|seconde|second|premiere commande|l autre colis)\b"
    ))
});

static TIMING: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"\b(when|how long|how much longer|still|yet|any update|update|eta|gone missing|missing|",
        r"lost|been ages|been waiting|waiting|days|weeks|",
        r"quand|combien de temps|toujours|encore|depuis|j attends|attends|perdu|disparu|",
        r"jours|semaines|des nouvelles|du nouveau)\b"
    ))
});

static DECLINES: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"^(?:(?:oh|ah|um|uh|euh|well|ben|bah|alors|actually|hmm|wait|en fait|attendez|attends)\s+)*",
        r"(no|nope|nah|non|no thanks|no thank you|not now|not yet|pas besoin|pas maintenant|",
        r"pas la peine|surtout pas)\b"
    ))
});

static REFUSES: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"\b((don t|dont|do not|please don t|please do not) (cancel|do|change|return|send|refund|touch|",
        r"go ahead|proceed|bother)|",
        r"changed my mind|change my mind|changing my mind|not anymore|no longer|hold on|stop stop|",
        r"wait no|no no no|no don t|",
        r"ne l annulez pas|n annulez pas|n annulez rien|ne faites pas|ne faites rien|ne changez pas|",
        r"ne changez rien|surtout pas|j ai change d avis|change d avis|finalement non|non finalement|",
        r"attendez non|attends non|non non non)\b"
    ))
});

static DONT_KNOW: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"\b(no idea|not sure|don t know|dont know|do not know|don t remember|dont remember|",
        r"do not remember|can t remember|cant remember|can t find it|don t have it|dont have it|",
        r"forgot it|forgotten it|no clue|haven t got it|not to hand|",
        r"sais pas|sais plus|aucune idee|je ne sais|me souviens pas|me souviens plus|m en souviens|",
        r"j ai oublie|l ai pas|l ai plus|ne l ai pas|pas sous la main|pas le numero|plus le numero)\b"
    ))
});

/// The cues of a message, from its normalised tokens.
pub fn cues(tokens: &[String]) -> Cues {
    let spaced = tokens.join(" ");
    Cues {
        correction: CORRECTION.is_match(&spaced),
        // A short message, or one that opens with it: "forget it, I'll sort it out myself" drops the
        // question, "I always forget my password" does not.
        drop_flow: (tokens.len() <= 8 && DROP_FLOW.is_match(&spaced))
            || DROP_FLOW_FIRST.is_match(&spaced),
        done: tokens.len() <= 8 && DONE.is_match(&spaced),
        followup: FOLLOWUP.is_match(&spaced),
        other_one: OTHER_ONE.is_match(&spaced),
        timing: TIMING.is_match(&spaced),
        declines: DECLINES.is_match(&spaced) && !CORRECTION.is_match(&spaced),
        refuses: REFUSES.is_match(&spaced),
        dont_know: DONT_KNOW.is_match(&spaced),
    }
}

/// Words that open a message as a greeting or a filler and say nothing of the request ("hey there, …",
/// "oui bonjour, …", "um so …").
const OPENERS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "hiya",
    "there",
    "good",
    "morning",
    "afternoon",
    "evening",
    "yes",
    "yeah",
    "ok",
    "okay",
    "um",
    "uh",
    "erm",
    "hmm",
    "so",
    "well",
    "bonjour",
    "bonsoir",
    "salut",
    "allo",
    "coucou",
    "oui",
    "euh",
    "heu",
    "bah",
    "ben",
    "alors",
    "madame",
    "monsieur",
    "hola",
    "yo",
];

/// Words that are only hesitation in speech ("um", "euh", "genre"), or that only colour what follows
/// ("actually can you tell me where 9012 is": the cues still read "actually no, 5521" as a correction).
const FILLERS: &[&str] = &[
    "um",
    "uh",
    "erm",
    "hmm",
    "uhm",
    "euh",
    "heu",
    "hum",
    "genre",
    "actually",
    "basically",
    "honestly",
];

/// The tokens without hesitation words.
pub fn without_fillers(tokens: &[String]) -> Vec<String> {
    tokens
        .iter()
        .filter(|t| !FILLERS.contains(&t.as_str()))
        .cloned()
        .collect()
}

/// The tokens after a leading greeting or filler, if any was there and something is left.
pub fn after_opener(tokens: &[String]) -> Option<&[String]> {
    let n = tokens
        .iter()
        .take_while(|t| OPENERS.contains(&t.as_str()))
        .count();
    (n > 0 && tokens.len() - n >= 2).then(|| &tokens[n..])
}

/// Words that say goodbye or thanks at the end of a message ("… ok bye", "… merci au revoir"),
const BYE_WORDS: &[&str] = &[
    "bye", "goodbye", "byebye", "cheers", "ciao", "thanks", "thank", "merci", "revoir",
];
/// and those that go with them and say nothing of the request.
const CLOSING_FILLERS: &[&str] = &[
    "ok", "okay", "you", "beaucoup", "au", "bonne", "journee", "soiree",
];

/// The words a closer said at the end leaves ("where is my order 4567 ok bye" → "where is my order
/// 4567"): some when the message ends in a goodbye or thanks after at least two other words.
pub fn before_closer(tokens: &[String]) -> Option<&[String]> {
    let is = |set: &[&str], t: &String| set.contains(&t.as_str());
    let n = tokens
        .iter()
        .rev()
        .take_while(|t| is(BYE_WORDS, t) || is(CLOSING_FILLERS, t))
        .count();
    let says_bye = tokens[tokens.len() - n..].iter().any(|t| is(BYE_WORDS, t));
    (says_bye && tokens.len() - n >= 2).then(|| &tokens[..tokens.len() - n])
}

/// A clause that tells what the customer did to an order ("I cancelled it by mistake", "j'ai annulé
/// ma commande", "I returned it last week"): "I" or "j'ai" just before a past participle that changes
/// an order.
pub fn tells_past_act(tokens: &[String]) -> bool {
    const DONE: &[&str] = &[
        "cancelled",
        "canceled",
        "returned",
        "changed",
        "annule",
        "annulee",
        "retourne",
        "retournee",
        "renvoye",
        "renvoyee",
        "modifie",
        "modifiee",
        "paid",
        "paye",
        "payee",
    ];
    const DOER: &[&str] = &[
        "i",
        "ve",
        "have",
        "had",
        "ai",
        "avais",
        "accidentally",
        "already",
    ];
    // "je voudrais me faire rembourser un article que j'ai renvoyé" asks, as well as tells.
    if tokens.iter().any(|t| WANTING.contains(&t.as_str())) {
        return false;
    }
    tokens.iter().enumerate().any(|(i, t)| {
        DONE.contains(&t.as_str())
            && tokens[i.saturating_sub(2)..i]
                .iter()
                .any(|d| DOER.contains(&d.as_str()))
    })
}

/// The words after a goodbye taken back ("ok so bye but actually where is 5521", "merci au revoir,
/// ah si attendez, et la 88231 ?"): some when the message opens with a goodbye or thanks and then
/// turns ("but", "wait", "actually", "mais", "attendez", "en fait") to at least two more words.
pub fn after_closer(tokens: &[String]) -> Option<&[String]> {
    const TURNS: &[&str] = &[
        "but", "wait", "actually", "oh", "mais", "attendez", "attends", "fait", "si", "ah",
    ];
    const OPENING: &[&str] = &["so", "well", "alors", "bon", "bien", "and", "et"];
    let is = |set: &[&str], t: &String| set.contains(&t.as_str());
    let n = tokens
        .iter()
        .take_while(|t| is(BYE_WORDS, t) || is(CLOSING_FILLERS, t) || is(OPENING, t))
        .count();
    if !tokens[..n].iter().any(|t| is(BYE_WORDS, t)) {
        return None;
    }
    let turned = tokens[n..]
        .iter()
        .take_while(|t| is(TURNS, t) || t.as_str() == "en")
        .count();
    let rest = &tokens[n + turned..];
    (turned > 0 && rest.len() >= 2).then_some(rest)
}

/// Connectors that start a new request inside a sentence.
static CONNECTOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\b(?:and also|also|plus|another thing|one more thing|as well as that|and then|",
        r"by the way|btw|oh and|",
        r"et aussi|aussi|autre chose|et puis|et en plus|par ailleurs|sinon|et au fait|au fait|",
        r"d ailleurs|d'ailleurs)\b"
    ))
    .expect("connector pattern compiles")
});

/// "And" before a second question or wish ("where is my order and can I change the address?", "et
/// est-ce que je peux payer en trois fois"): the "and" (group 1) ends a clause, the question starts
/// the next.
static AND_ASKS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\b(and|et)\s+(?:can|could|would|will|how|when|where|what|why|do|does|is|are|",
        r"i want|i need|i would like|i'd like|i d like|",
        r"est-ce|est ce|comment|quand|où|pourquoi|combien|je voudrais|je veux|je souhaite|",
        r"pouvez|vous pouvez|peut-on|on peut|puis-je)\b"
    ))
    .expect("and-asks pattern compiles")
});

/// Words that ask without saying what about: "what's going on", "why is that", "c'est quoi ce
/// délire". A clause of only these is no request of its own.
const GENERIC: &[&str] = &[
    "what",
    "whats",
    "s",
    "is",
    "are",
    "going",
    "on",
    "happening",
    "happened",
    "why",
    "how",
    "come",
    "the",
    "it",
    "this",
    "that",
    "so",
    "then",
    "now",
    "up",
    "hello",
    "seriously",
    "really",
    "ok",
    "okay",
    "please",
    "pls",
    "wtf",
    "hey",
    "and",
    "or",
    "but",
    "quoi",
    "qu",
    "est",
    "ce",
    "se",
    "passe",
    "pourquoi",
    "comment",
    "ca",
    "c",
    "alors",
    "donc",
    "bon",
    "mais",
    "et",
    "ou",
    "vraiment",
    "serieux",
    "qui",
    "svp",
    "il",
    "y",
    "a",
    "de",
    "la",
    "le",
];

/// A clause says what it is about: a word besides the generic ones ("what's going on" does not).
pub fn says_something(tokens: &[String]) -> bool {
    tokens.iter().any(|t| !GENERIC.contains(&t.as_str()))
}

/// A wish to keep the order ("I want to keep it", "je veux la garder", "on la conserve"): no negation
/// in the three words before ("je ne veux plus la garder" does not), and not "keep" going on doing
/// ("I can't keep waiting").
pub fn wants_to_keep(tokens: &[String]) -> bool {
    const KEEP: &[&str] = &["keep", "garder", "garde", "gardez", "conserver", "conserve"];
    // What is kept is the order: "keep it", "keep my order", "la garder", "garder ma commande" ("keep
    // me posted", "gardez-moi au courant" keep nothing).
    const AFTER: &[&str] = &[
        "it", "them", "that", "this", "the", "my", "order", "la", "le", "les", "ma", "mon",
        "cette", "commande",
    ];
    const BEFORE: &[&str] = &["la", "le", "les", "l"];
    tokens.iter().enumerate().any(|(i, t)| {
        KEEP.contains(&t.as_str())
            && (tokens
                .get(i + 1)
                .is_some_and(|w| AFTER.contains(&w.as_str()))
                || (i > 0 && BEFORE.contains(&tokens[i - 1].as_str())))
            && !tokens[i.saturating_sub(3)..i]
                .iter()
                .any(|w| NEGATION.contains(&w.as_str()) || w == "ne" || w == "n" || w == "t")
    })
}

/// Taking back a request ("I changed my mind", "don't cancel it", "finalement non", "surtout pas"):
/// the refusing cues but those that only pause ("hold on", "wait no") or tell something else ("I no
/// longer have the email").
pub fn takes_back(tokens: &[String], cues: &Cues) -> bool {
    const NOT_TAKING_BACK: &[&str] = &[
        "hold", "wait", "attendez", "attends", "moment", "longer", "anymore", "sec",
    ];
    (cues.refuses && !tokens.iter().any(|t| NOT_TAKING_BACK.contains(&t.as_str())))
        || negates_action(tokens)
}

/// A message about being called back ("j'attends qu'on me rappelle", "is my callback still on?",
/// "you were going to call me back"): about the place the customer holds, not a new request.
pub fn asks_about_callback(tokens: &[String]) -> bool {
    let joined = format!(" {} ", tokens.join(" "));
    // "Me rappeler", "qu'on me rappelle", "rappelez-moi", but not "je me rappelle" (I remember).
    let french = tokens.iter().enumerate().any(|(i, t)| {
        t.starts_with("rappel")
            && ((i > 0 && tokens[i - 1] == "me" && (i < 2 || tokens[i - 2] != "je"))
                || tokens.get(i + 1).is_some_and(|w| w == "moi"))
    });
    french
        || [
            " callback ",
            " call me back ",
            " ring me back ",
            " call back ",
            " called back ",
        ]
        .iter()
        .any(|p| joined.contains(p))
}

/// The part of the day a customer greets by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeOfDay {
    Morning,
    Afternoon,
    Evening,
}

/// The time of day a greeting names in the message's first words ("good evening, where is my
/// parcel", "hi, good morning", "evening all", "bonsoir", "bien le bonsoir"): the caller says it
/// back. A bare "morning" counts only as the first word ("morning delivery" is no greeting).
pub fn salutation(tokens: &[String]) -> Option<TimeOfDay> {
    let of = |w: &str| match w {
        "morning" => Some(TimeOfDay::Morning),
        "afternoon" => Some(TimeOfDay::Afternoon),
        "evening" => Some(TimeOfDay::Evening),
        _ => None,
    };
    let head = &tokens[..tokens.len().min(5)];
    if let Some(first) = head.first().and_then(|t| of(t)) {
        return Some(first);
    }
    head.iter().enumerate().find_map(|(i, t)| match t.as_str() {
        "bonsoir" => Some(TimeOfDay::Evening),
        "good" => head.get(i + 1).and_then(|w| of(w)),
        _ => None,
    })
}

/// A clause that says no to a person ("I don't want to talk to a person", "pas besoin d'un
/// conseiller"): a negation before the first word of the request ("a real person, not a bot" asks).
pub fn refuses_person(tokens: &[String]) -> bool {
    const ASKING: &[&str] = &[
        "talk",
        "speak",
        "chat",
        "person",
        "human",
        "agent",
        "someone",
        "somebody",
        "operator",
        "representative",
        "advisor",
        "manager",
        "parler",
        "conseiller",
        "conseillere",
        "humain",
        "personne",
        "quelqu",
        "operateur",
        "operatrice",
        "transfer",
        "transferer",
        "passer",
    ];
    // Besides the words that negate a wish, those that refuse what follows ("no agent", "sans
    // conseiller", "je ne veux pas parler à…").
    const REFUSING: &[&str] = &["no", "without", "sans", "ne", "n"];
    let first = tokens
        .iter()
        .position(|t| ASKING.contains(&t.as_str()))
        .unwrap_or(tokens.len());
    tokens[..first]
        .iter()
        .any(|t| NEGATION.contains(&t.as_str()) || REFUSING.contains(&t.as_str()))
}

/// A short message that asks the bot to say its last answer again ("sorry can you repeat that?",
/// "pardon vous pouvez répéter ?", "say that again", "come again?").
pub fn asks_to_repeat(tokens: &[String]) -> bool {
    const REPEAT: &[&str] = &[
        "repeat", "repeter", "repetez", "repete", "redire", "redites", "redis",
    ];
    // "I repeat, where is 5521", "can I repeat my last order": a request, not a wish to hear again.
    const REQUEST: &[&str] = &["order", "commande", "where", "ou", "cancel", "annuler"];
    let asks_more = tokens
        .iter()
        .any(|t| REQUEST.contains(&t.as_str()) || t.bytes().all(|b| b.is_ascii_digit()));
    if asks_more || tokens.len() > 8 {
        return false;
    }
    if tokens.iter().any(|t| REPEAT.contains(&t.as_str())) {
        return true;
    }
    let spaced = tokens.join(" ");
    [
        "say that again",
        "say it again",
        "come again",
        "what did you say",
        "didn t hear you",
        "didn t catch that",
        "qu avez vous dit",
        "vous avez dit quoi",
        "j ai pas entendu",
        "je n ai pas entendu",
    ]
    .iter()
    .any(|p| spaced.contains(p))
}

/// Words that negate a wish ("don't want", "do not need", "je ne veux pas", "veux plus").
const NEGATION: &[&str] = &[
    "don", "dont", "not", "never", "didn", "doesn", "wouldn", "pas", "jamais", "plus",
];

/// Words of wanting: a clause with one asks for something.
const WANTING: &[&str] = &[
    "want",
    "wanna",
    "need",
    "wish",
    "trying",
    "asking",
    "like",
    "veux",
    "voulais",
    "voudrais",
    "souhaite",
    "souhaiterais",
    "besoin",
    "demande",
];

/// A clause that says it does not want what it names ("I do NOT want to return 1234", "I don't want
/// to cancel it, just checking", "je ne veux pas l'annuler", "no need to refund"): a negation, then a
/// word of wanting, at most five words before a verb that changes an order. "I didn't cancel it"
/// (something that happened) and "no, I want to cancel it" are not.
pub fn negates_action(tokens: &[String]) -> bool {
    const ACTS: &[&str] = &[
        "cancel",
        "return",
        "refund",
        "change",
        "modify",
        "exchange",
        "annuler",
        "annule",
        "retourner",
        "renvoyer",
        "rembourser",
        "changer",
        "modifier",
        "echanger",
    ];
    const BREAK: &[&str] = &["so", "but", "donc", "mais", "just", "juste"];
    let is = |set: &[&str], t: &String| set.contains(&t.as_str());
    tokens.iter().enumerate().any(|(i, t)| {
        if !is(ACTS, t) {
            return false;
        }
        let window = &tokens[i.saturating_sub(5)..i];
        // The negation goes with the wanting: "don't want to", "do not need to", "no need to" (the
        // wanting one or two words after it), "veux pas", "voulais plus" (just before it), "pas
        // besoin"; "never arrived, I want a refund" and "not happy I want to return it" want it.
        let negated_wanting = (0..window.len()).find(|&j| {
            let after = window[j + 1..].iter().take(2).any(|w| is(WANTING, w));
            let before = j > 0 && is(WANTING, &window[j - 1]);
            (is(NEGATION, &window[j]) && (after || before))
                || (window[j] == "no" && window.get(j + 1).is_some_and(|w| w == "need"))
        });
        negated_wanting.is_some_and(|j| !window[j + 1..].iter().any(|w| is(BREAK, w)))
    })
}

/// Whether a message asks a second thing in a clause of its own: a connector ("and also", "et aussi")
/// or a question mark before its end.
pub fn has_second_request(text: &str) -> bool {
    CONNECTOR
        .find_iter(text)
        .any(|m| !(m.as_str().eq_ignore_ascii_case("plus") && negates_before(text, m.start())))
        || AND_ASKS.is_match(text)
        || text.trim_end().trim_end_matches('?').contains('?')
}

/// A French negation in the three words before `at` ("je n'arrive plus", "ne marche plus"): "plus"
/// there is "no longer", not "also".
fn negates_before(sentence: &str, at: usize) -> bool {
    sentence[..at]
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .rev()
        .take(3)
        .any(|w| w.eq_ignore_ascii_case("n") || w.eq_ignore_ascii_case("ne"))
}

/// A message split into clauses: at sentence ends, commas, semicolons and connectors ("and also",
/// "et aussi"). Clauses keep their original words; the caller normalises them.
pub fn clauses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for sentence in text.split(['.', '!', '?', ';', '\n', ',', ':']) {
        // Where each clause ends and the next starts: a connector goes with neither; of "and can I",
        // only the "and".
        let mut cuts: Vec<(usize, usize)> = CONNECTOR
            .find_iter(sentence)
            .filter(|m| {
                !(m.as_str().eq_ignore_ascii_case("plus") && negates_before(sentence, m.start()))
            })
            .map(|m| (m.start(), m.end()))
            .chain(
                AND_ASKS
                    .captures_iter(sentence)
                    .filter_map(|c| c.get(1))
                    .map(|m| (m.start(), m.end())),
            )
            .collect();
        cuts.sort_unstable();
        let mut last = 0;
        for (start, end) in cuts {
            if start < last {
                continue;
            }
            out.push(sentence[last..start].to_string());
            last = end;
        }
        out.push(sentence[last..].to_string());
    }
    out.into_iter()
        .map(|c| c.trim().to_string())
        .filter(|c| c.chars().any(char::is_alphanumeric))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(s: &str) -> Vec<String> {
        crate::nlu::normalize::normalize(s).tokens
    }

    #[test]
    fn a_no_that_opens_a_message_declines_whatever_follows() {
        assert!(cues(&tokens("no I'll wait a few more days")).declines);
        assert!(cues(&tokens("euh non merci ça ira")).declines);
        assert!(!cues(&tokens("no, I meant 5521")).declines);
        assert!(!cues(&tokens("I have no idea where it is")).declines);
    }

    #[test]
    fn keeping_taking_back_and_callbacks_are_read_narrowly() {
        assert!(wants_to_keep(&tokens(
            "non non surtout pas je veux la garder"
        )));
        assert!(wants_to_keep(&tokens("I'd rather keep it")));
        assert!(!wants_to_keep(&tokens("ok keep me posted")));
        assert!(!wants_to_keep(&tokens("gardez-moi au courant")));
        assert!(!wants_to_keep(&tokens("je ne veux plus la garder")));
        let back = |t: &str| takes_back(&tokens(t), &cues(&tokens(t)));
        assert!(back("actually no, don't cancel it, I changed my mind"));
        assert!(back("ah en fait non je veux pas annuler finalement"));
        assert!(!back("hold on, let me find the number"));
        assert!(!back("I no longer have the confirmation email"));
        assert!(asks_about_callback(&tokens(
            "bonjour, j'attends qu'on me rappelle, c'est toujours prévu ?"
        )));
        assert!(asks_about_callback(&tokens("is my callback still on?")));
        assert!(asks_about_callback(&tokens(
            "you were going to call me back"
        )));
        assert!(!asks_about_callback(&tokens(
            "je me rappelle plus la réponse à ma question secrète"
        )));
        assert!(!asks_about_callback(&tokens(
            "I want to send this phone back"
        )));
    }

    #[test]
    fn plus_after_a_french_negation_is_no_connector() {
        assert_eq!(
            clauses("bonjour je n'arrive plus à me connecter à mon compte").len(),
            1
        );
        assert!(!has_second_request("je n'arrive plus à me connecter"));
        assert_eq!(clauses("where is my order plus I want a refund").len(), 2);
        assert_eq!(
            salutation(&tokens("good evening, where is my parcel")),
            Some(TimeOfDay::Evening)
        );
        assert_eq!(
            salutation(&tokens("bien le bonsoir")),
            Some(TimeOfDay::Evening)
        );
        assert_eq!(salutation(&tokens("is there a morning delivery")), None);
    }

    #[test]
    fn a_clause_of_only_generic_words_says_nothing() {
        assert!(!says_something(&tokens("whats going on")));
        assert!(!says_something(&tokens("qu'est-ce qui se passe")));
        assert!(says_something(&tokens("I want to return something")));
        assert!(says_something(&tokens("where is order 4567")));
    }

    #[test]
    fn corrections_are_noticed_in_both_languages() {
        assert!(cues(&tokens("oops wrong one, I meant 3321")).correction);
        assert!(cues(&tokens("non je me suis trompé, c'est la 55012")).correction);
        assert!(!cues(&tokens("where is my order")).correction);
        assert!(cues(&tokens("where is order 4576 sorry no 4567")).correction);
        assert!(cues(&tokens("la 88213 non pardon la 88231")).correction);
    }

    #[test]
    fn dropping_and_closing_are_short_messages() {
        assert!(cues(&tokens("forget it")).drop_flow);
        assert!(cues(&tokens("bon, laissez tomber")).drop_flow);
        assert!(cues(&tokens("ok that's it")).done);
        assert!(cues(&tokens("rien d'autre")).done);
        // Written out in full, as people type and speak it.
        assert!(cues(&tokens("thanks that is all")).done);
        assert!(cues(&tokens("no I am all set")).done);
        assert!(cues(&tokens("non c'était tout")).done);
        assert!(!cues(&tokens("that is not my order")).done);
        assert!(
            !cues(&tokens(
                "i always forget it is not easy to find the form on your site"
            ))
            .drop_flow
        );
    }

    #[test]
    fn a_message_splits_at_punctuation_and_connectors() {
        assert_eq!(
            clauses("Hi there, where is order 4567? And also I want a refund"),
            ["Hi there", "where is order 4567", "I want a refund"]
        );
        assert_eq!(clauses("bonjour"), ["bonjour"]);
        assert_eq!(
            clauses("where is my order and can I change my delivery address"),
            ["where is my order", "can I change my delivery address"]
        );
        assert_eq!(
            clauses("ma commande est en retard et est-ce que je peux être remboursé"),
            [
                "ma commande est en retard",
                "est-ce que je peux être remboursé"
            ]
        );
        // "And" between two things asked for is no second request.
        assert_eq!(
            clauses("I ordered shoes and a lamp"),
            ["I ordered shoes and a lamp"]
        );
        assert!(has_second_request("where is it and when will it come"));
        assert!(!has_second_request("where is my order and the lamp"));
    }

    #[test]
    fn a_greeting_opener_is_skipped() {
        let t = tokens("hey there calling about a parcel");
        assert_eq!(
            after_opener(&t).unwrap().join(" "),
            "calling about a parcel"
        );
        assert!(after_opener(&tokens("hello")).is_none());
    }

    #[test]
    fn a_closer_at_the_end_is_set_apart() {
        let t = tokens("where is my order 4567 ok bye");
        assert_eq!(
            before_closer(&t).unwrap().join(" "),
            "where is my order 4567"
        );
        let t = tokens("ou est ma commande 4567 merci au revoir");
        assert_eq!(
            before_closer(&t).unwrap().join(" "),
            "ou est ma commande 4567"
        );
        // Nothing but a goodbye, or no goodbye at all ("… are you ok"), is no closer.
        assert!(before_closer(&tokens("ok bye")).is_none());
        assert!(before_closer(&tokens("thanks bye")).is_none());
        assert!(before_closer(&tokens("where is my order are you ok")).is_none());
    }
}
