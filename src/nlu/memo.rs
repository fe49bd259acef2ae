//! Short messages already understood, kept by their text. Customers say the same short things over and
//! over ("yes", "nine", "thanks, bye", "agent"), and [`Nlu::parse_in`] is a function of the text, the
//! day (relative dates) and the conversation's language alone: a message seen before is given the
//! understanding it had then, without parsing it again.
//!
//! Two generations of at most `capacity` entries each: a lookup reads the young one, then the old one
//! (moving what it finds to the young); when the young one is full it becomes the old one and the old one
//! is let go. Memory stays bounded, and a message still said often survives every turnover.
//!
//! Below it, [`Classified`] keeps the classifier's verdicts by the tokens it was given, in the same two
//! generations: a message seen for the first time is often another customer's words with another
//! number in them ("it's 4471", "order 5521 please"), and numbers reach the classifier as one
//! placeholder, so its scores, most of a parse's work, are those of a message seen before.

use super::{Nlu, Understanding};
use crate::message::Lang;
use crate::time::Date;
use std::sync::{Arc, Mutex, PoisonError};

/// Messages longer than this many bytes are parsed every time: they are seldom said twice, and keeping
/// them would cost memory for nothing.
pub const MAX_TEXT: usize = 64;

#[derive(PartialEq, Eq, Hash)]
struct Key {
    text: Box<str>,
    today: Date,
    current: Option<Lang>,
}

struct Generations<K, V> {
    young: crate::FastMap<K, V>,
    old: crate::FastMap<K, V>,
}

impl<K, V> Default for Generations<K, V> {
    fn default() -> Self {
        Generations {
            young: crate::FastMap::default(),
            old: crate::FastMap::default(),
        }
    }
}

impl<K: Eq + std::hash::Hash, V: Clone> Generations<K, V> {
    /// What is kept under `key`; found in the old generation, it moves to the young one, which first
    /// becomes the old one if it is full (so that the two never hold more than `capacity` each).
    fn find(&mut self, key: &K, capacity: usize) -> Option<V> {
        if let Some(known) = self.young.get(key) {
            return Some(known.clone());
        }
        let (key, known) = self.old.remove_entry(key)?;
        self.keep(key, known.clone(), capacity);
        Some(known)
    }

    /// Keeps `value` in the young generation, which first becomes the old one if it is full.
    fn keep(&mut self, key: K, value: V, capacity: usize) {
        if self.young.len() >= capacity {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(key, value);
    }
}

/// Values kept by key in two generations of at most `capacity` entries each, shared between threads;
/// `capacity` 0 keeps none.
struct Kept<K, V> {
    capacity: usize,
    generations: Mutex<Generations<K, V>>,
}

impl<K: Eq + std::hash::Hash, V: Clone> Kept<K, V> {
    fn new(capacity: usize) -> Self {
        Kept {
            capacity,
            generations: Mutex::new(Generations::default()),
        }
    }

    /// The value kept under `key`, or the one `make` gives now (then kept). `make` runs outside the
    /// lock: another thread may make the same value meanwhile, and both give the same.
    fn get_or(&self, key: K, make: impl FnOnce() -> V) -> V {
        if let Some(known) = self.lock().find(&key, self.capacity) {
            return known;
        }
        let value = make();
        self.lock().keep(key, value.clone(), self.capacity);
        value
    }

    fn len(&self) -> usize {
        let g = self.lock();
        g.young.len() + g.old.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations<K, V>> {
        self.generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The understood messages; `capacity` 0 keeps none.
pub struct Memo(Kept<Key, Arc<Understanding>>);

impl Memo {
    /// Keeps up to `capacity` messages in each of its two generations.
    pub fn new(capacity: usize) -> Self {
        Memo(Kept::new(capacity))
    }

    /// What `nlu` makes of `text` on `today` in a conversation held in `current`: as it made of it
    /// before, if the same text was understood on the same day in the same language, else parsed now.
    pub fn understand(
        &self,
        nlu: &Nlu,
        text: &str,
        today: Date,
        current: Option<Lang>,
    ) -> Arc<Understanding> {
        let parse = || Arc::new(nlu.parse_in(text, today, current));
        if self.0.capacity == 0 || text.len() > MAX_TEXT {
            return parse();
        }
        let key = Key {
            text: text.into(),
            today,
            current,
        };
        self.0.get_or(key, parse)
    }

    /// How many messages are kept.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no message is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the classifier made of a message's tokens: its best label, the confidence, and whether the
/// message is close to that label's examples.
pub(super) type Verdict = (Option<String>, f32, bool);

/// Which classifier read the tokens (the English one, or the other), and the tokens as it saw them
/// (numbers already one placeholder). Whether word vectors were used follows from the classifier.
#[derive(PartialEq, Eq, Hash)]
pub(super) struct ClassKey {
    english: bool,
    tokens: Box<str>,
}

/// The classifier's verdicts, kept by [`ClassKey`]; `capacity` 0 keeps none.
pub(super) struct Classified(Kept<ClassKey, Verdict>);

impl Classified {
    pub fn new(capacity: usize) -> Self {
        Classified(Kept::new(capacity))
    }

    /// The verdict given before on the same tokens read by the same classifier, or the one `classify`
    /// gives now (then kept). Tokens too long to be said again are classified every time.
    pub fn verdict(
        &self,
        tokens: &[String],
        english: bool,
        classify: impl FnOnce() -> Verdict,
    ) -> Verdict {
        let len = tokens.iter().map(|t| t.len() + 1).sum::<usize>();
        if self.0.capacity == 0 || len > MAX_TEXT {
            return classify();
        }
        let key = ClassKey {
            english,
            tokens: tokens.join(" ").into(),
        };
        self.0.get_or(key, classify)
    }

    /// How many verdicts are kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intents::IntentPack;
    use crate::nlu::NluConfig;

    fn nlu() -> Nlu {
        let pack = IntentPack::load(std::path::Path::new("intents")).expect("the intent pack");
        Nlu::from_pack(&pack, NluConfig::default())
    }

    fn day(d: u32) -> Date {
        Date::new(2026, 12, d).expect("a date")
    }

    #[test]
    fn a_message_kept_is_understood_as_when_it_was_parsed() {
        let nlu = nlu();
        let memo = Memo::new(8);
        for text in [
            "where is my order?",
            "yes",
            "I want it delivered tomorrow",
            "je veux parler à quelqu'un",
        ] {
            for current in [None, Some(Lang::En), Some(Lang::Fr)] {
                let first = memo.understand(&nlu, text, day(5), current);
                let again = memo.understand(&nlu, text, day(5), current);
                assert!(Arc::ptr_eq(&first, &again), "{text:?} was parsed again");
                assert_eq!(*again, nlu.parse_in(text, day(5), current), "{text:?}");
            }
        }
    }

    #[test]
    fn another_day_or_language_is_another_message() {
        let nlu = nlu();
        let memo = Memo::new(8);
        let today = memo.understand(&nlu, "tomorrow", day(5), None);
        let later = memo.understand(&nlu, "tomorrow", day(6), None);
        assert!(!Arc::ptr_eq(&today, &later));
        assert_eq!(*later, nlu.parse_in("tomorrow", day(6), None));
        assert_ne!(today.entities, later.entities, "tomorrow is another date");
        let fr = memo.understand(&nlu, "tomorrow", day(5), Some(Lang::Fr));
        assert!(!Arc::ptr_eq(&today, &fr));
    }

    #[test]
    fn long_messages_and_a_memo_of_none_are_parsed_every_time() {
        let nlu = nlu();
        let long =
            "my parcel never arrived and nobody answers the phone, this is the third time I write";
        assert!(long.len() > MAX_TEXT);
        let memo = Memo::new(8);
        let first = memo.understand(&nlu, long, day(5), None);
        assert!(!Arc::ptr_eq(
            &first,
            &memo.understand(&nlu, long, day(5), None)
        ));
        assert!(memo.is_empty());
        let off = Memo::new(0);
        let first = off.understand(&nlu, "yes", day(5), None);
        assert!(!Arc::ptr_eq(
            &first,
            &off.understand(&nlu, "yes", day(5), None)
        ));
        assert!(off.is_empty());
    }

    #[test]
    fn what_is_found_again_in_the_old_generation_never_grows_the_two_past_their_capacity() {
        let capacity = 3;
        let mut g: Generations<u32, u32> = Generations::default();
        for n in 0..40 {
            g.keep(n, n, capacity);
            // Everything kept before, looked up again: found ones move to the young generation.
            for k in 0..n {
                if let Some(v) = g.find(&k, capacity) {
                    assert_eq!(v, k);
                }
            }
            assert!(g.young.len() <= capacity, "young {}", g.young.len());
            assert!(g.old.len() <= capacity, "old {}", g.old.len());
        }
        // The latest is always found.
        assert_eq!(g.find(&39, capacity), Some(39));
    }

    #[test]
    fn a_verdict_kept_for_other_numbers_gives_the_understanding_of_a_fresh_parse() {
        let pack = IntentPack::load(std::path::Path::new("intents")).expect("the intent pack");
        let keeping = Nlu::from_pack(
            &pack,
            NluConfig {
                class_memo: 64,
                ..NluConfig::default()
            },
        );
        let fresh = nlu();
        let said = [
            "it's 4471",
            "it's 5521",
            "order 1234 please",
            "order 98 please",
            "where is my order 4567",
            "where is my order 12",
            "c'est la commande 4567",
            "c'est la commande 9911",
            "4 5 6 7",
            "nine nine one one",
            "hello, where is order 5521, and I want a refund",
            "hello, where is order 7710, and I want a refund",
        ];
        for current in [None, Some(Lang::En), Some(Lang::Fr)] {
            for text in said {
                assert_eq!(
                    keeping.parse_in(text, day(5), current),
                    fresh.parse_in(text, day(5), current),
                    "{text:?} in {current:?}"
                );
            }
        }
        // The second of each pair was classified from what the first left: nothing new kept.
        let kept = keeping.classified.len();
        assert!(kept > 0);
        for current in [None, Some(Lang::En), Some(Lang::Fr)] {
            keeping.parse_in("where is my order 31", day(5), current);
            keeping.parse_in("c'est la commande 31", day(5), current);
        }
        assert_eq!(keeping.classified.len(), kept, "numbers made new verdicts");
        // An NLU that keeps none keeps none.
        fresh.parse_in("it's 4471", day(5), None);
        assert_eq!(fresh.classified.len(), 0);
    }

    #[test]
    fn memory_stays_within_two_generations_and_what_is_said_often_stays() {
        let nlu = nlu();
        let memo = Memo::new(4);
        let yes = memo.understand(&nlu, "yes", day(5), None);
        for n in 0..50 {
            memo.understand(&nlu, &format!("order {n}"), day(5), None);
            // Said again between the others: found each time, never let go.
            assert!(Arc::ptr_eq(
                &yes,
                &memo.understand(&nlu, "yes", day(5), None)
            ));
            assert!(memo.len() <= 8, "{} kept", memo.len());
        }
    }
}
