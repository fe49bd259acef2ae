//! Regressions from the black-box review of 2026-12-01: what a customer noticed in the dialogue.

use crate::helpers::TestBot;
use parcours::message::Lang;
use parcours::store::{Irritant, Outcome};

/// Alice's only conversation (each test has one).
fn last_touchpoint(t: &TestBot) -> parcours::store::Touchpoint {
    let mut all = t.store.touchpoints_of("cus_alice").unwrap();
    assert_eq!(all.len(), 1, "one conversation");
    all.remove(0)
}

#[tokio::test]
async fn one_out_of_ten_is_a_detractor_not_a_promoter() {
    let t = TestBot::new().with_alice().surveyable();
    t.say("alice", "how many loyalty points do I have").await;
    t.say("alice", "thanks, bye").await;
    t.say("alice", "yes").await;
    let r = t.say("alice", "one out of ten").await;
    // A detractor is asked what to improve.
    assert!(!r.end, "{}", r.text);
    assert_eq!(
        last_touchpoint(&t).survey.get("rating").map(String::as_str),
        Some("1")
    );
}

#[tokio::test]
async fn a_rating_of_un_is_understood_in_french() {
    let t = TestBot::new().with_alice().surveyable();
    t.say("alice", "combien de points de fidélité j'ai").await;
    t.say("alice", "merci, au revoir").await;
    t.say("alice", "oui").await;
    t.say("alice", "un").await;
    assert_eq!(
        last_touchpoint(&t).survey.get("rating").map(String::as_str),
        Some("1")
    );
}

#[tokio::test]
async fn ok_is_an_acknowledgement_not_a_goodbye() {
    let t = TestBot::new().with_alice();
    let r = t.say("alice", "okay").await;
    assert!(!r.end, "{}", r.text);
    let r = t.say("alice", "where is my order").await;
    assert!(r.text.contains("order number"), "{}", r.text);
    // Mid-question, "ok" gets the question again, not a hang-up.
    let r = t.say("alice", "ok").await;
    assert!(!r.end, "{}", r.text);
    assert!(r.text.contains("order number"), "{}", r.text);
}

#[tokio::test]
async fn no_to_anything_else_ends_the_conversation_in_both_languages() {
    let t = TestBot::new().with_alice();
    let r = t.say("alice", "thanks").await;
    assert!(!r.end, "{}", r.text);
    let r = t.say("alice", "no").await;
    assert!(r.end, "{}", r.text);

    let t = TestBot::new().with_alice();
    t.say_in("alice", "merci", Lang::Fr).await;
    let r = t.say_in("alice", "non c'est tout", Lang::Fr).await;
    assert!(r.end, "{}", r.text);
}

#[tokio::test]
async fn a_first_no_does_not_end_the_conversation() {
    let t = TestBot::new().with_alice();
    let r = t.say("alice", "no").await;
    assert!(!r.end, "{}", r.text);
}

#[tokio::test]
async fn asking_about_a_second_order_is_not_the_same_question_again() {
    let t = TestBot::new().with_alice();
    t.say("alice", "where is order 4567").await;
    let r = t.say("alice", "and where is order 1234?").await;
    assert!(r.text.contains("1234"), "{}", r.text);
    assert!(!r.text.contains("put you through"), "{}", r.text);
    // The very same question again gets the next piece of information (issue 14), and a third time the
    // offer of a person.
    let r = t.say("alice", "where is order 1234?").await;
    assert!(!r.text.contains("put you through"), "{}", r.text);
    assert!(
        !r.text.contains("tracking link"),
        "a delivered order: {}",
        r.text
    );
    let r = t.say("alice", "where is order 1234?").await;
    assert!(r.text.contains("put you through"), "{}", r.text);
    let tp = t
        .store
        .open_touchpoint(parcours::message::Channel::Chat, "alice")
        .unwrap()
        .unwrap();
    let repeated = tp
        .turns
        .iter()
        .filter(|turn| turn.irritants.contains(&Irritant::RepeatedQuestion))
        .count();
    assert_eq!(repeated, 1);
}

#[tokio::test]
async fn no_to_did_that_solve_it_makes_the_outcome_unresolved() {
    let t = TestBot::new().with_alice().surveyable();
    t.say("alice", "how many loyalty points do I have").await;
    t.say("alice", "bye").await;
    let r = t.say("alice", "no").await;
    // A person is offered first; declined, the survey goes on to the rating. The "no" decides the
    // outcome.
    assert!(r.text.contains("pass you to a person"), "{}", r.text);
    assert!(!r.text.contains("0 to 10"), "{}", r.text);
    let r = t.say("alice", "no thanks").await;
    assert!(r.text.contains("0 to 10"), "{}", r.text);
    let r = t.say("alice", "eight").await;
    assert!(r.end, "{}", r.text);
    let tp = last_touchpoint(&t);
    assert_eq!(tp.outcome, Some(Outcome::Unresolved));
    assert_eq!(tp.survey.get("solved").map(String::as_str), Some("no"));
    assert_eq!(tp.survey.get("rating").map(String::as_str), Some("8"));
}

#[tokio::test]
async fn yes_to_a_person_after_an_unsolved_survey_answer_queues_the_customer_without_the_rating() {
    let t = TestBot::new().with_alice().surveyable();
    t.say("alice", "how many loyalty points do I have").await;
    t.say("alice", "bye").await;
    t.say("alice", "no").await;
    let r = t.say("alice", "yes").await;
    assert!(r.text.contains("number 1"), "{}", r.text);
    assert!(!r.text.contains("0 to 10"), "{}", r.text);
    let tp = t
        .store
        .open_touchpoint(parcours::message::Channel::Chat, "alice")
        .unwrap()
        .expect("the conversation waits in the queue");
    assert!(matches!(tp.owner, parcours::store::Owner::Waiting { .. }));
    assert_eq!(tp.survey.get("solved").map(String::as_str), Some("no"));
    assert!(!tp.survey.contains_key("rating"));
}

#[tokio::test]
async fn an_order_that_is_not_on_the_account_settles_nothing() {
    let t = TestBot::new().with_alice().surveyable();
    let r = t.say("alice", "where is order 9999").await;
    assert!(r.text.contains("can't find"), "{}", r.text);
    // Not resolved: goodbye ends without the satisfaction questions.
    let r = t.say("alice", "bye").await;
    assert!(r.end, "{}", r.text);
    assert_eq!(last_touchpoint(&t).outcome, Some(Outcome::Abandoned));
}

#[tokio::test]
async fn help_says_what_the_bot_can_do_in_both_languages() {
    let t = TestBot::new().with_alice();
    for (text, lang, want) in [
        ("help", Lang::En, "I can tell you"),
        ("what can you do", Lang::En, "I can tell you"),
        ("aide", Lang::Fr, "Je peux vous dire"),
        (
            "qu'est-ce que vous pouvez faire",
            Lang::Fr,
            "Je peux vous dire",
        ),
    ] {
        let r = t.say_in("alice", text, lang).await;
        assert!(r.text.contains(want), "{text}: {}", r.text);
        assert_eq!(r.intent.as_deref(), Some("help"), "{text}");
    }
}

fn order_of(t: &TestBot, id: &str) -> parcours::store::Order {
    let alice = t.store.customer("cus_alice").unwrap().unwrap();
    alice.orders.into_iter().find(|o| o.id == id).unwrap()
}

#[tokio::test]
async fn a_confirmed_cancellation_cancels_the_order_and_cannot_be_done_twice() {
    let t = TestBot::new().with_alice();
    t.say("alice", "cancel order 5521").await;
    let r = t.say("alice", "yes").await;
    assert!(r.text.contains("is cancelled"), "{}", r.text);
    assert_eq!(order_of(&t, "5521").status, "cancelled");
    assert_eq!(
        order_of(&t, "5521").eta,
        None,
        "a cancelled order arrives on no date"
    );
    let r = t.say("alice", "where is order 5521").await;
    assert!(r.text.contains("cancelled"), "{}", r.text);
    assert!(!r.text.contains("arrive"), "{}", r.text);
    let r = t.say("alice", "cancel order 5521").await;
    assert!(r.text.contains("already cancelled"), "{}", r.text);
    assert!(!r.text.contains("confirm"), "{}", r.text);
}

#[tokio::test]
async fn a_delivered_order_is_neither_cancelled_nor_rescheduled() {
    let t = TestBot::new().with_alice();
    let r = t.say("alice", "cancel order 1234").await;
    assert!(r.text.contains("already delivered"), "{}", r.text);
    let r = t
        .say_in("alice", "annulez la commande 1234", Lang::Fr)
        .await;
    assert!(r.text.contains("déjà livrée"), "{}", r.text);
    let r = t
        .say("alice", "change my delivery for order 1234 to 2026-12-09")
        .await;
    assert!(r.text.contains("already delivered"), "{}", r.text);
    let order = order_of(&t, "1234");
    assert_eq!((order.status.as_str(), order.eta), ("delivered", None));
}

#[tokio::test]
async fn a_new_delivery_date_becomes_the_orders_expected_date() {
    let t = TestBot::new().with_alice();
    let r = t
        .say("alice", "change my delivery for order 5521 to 2026-12-09")
        .await;
    // It changes the order: confirmed first, on every channel.
    assert!(r.text.contains("confirm"), "{}", r.text);
    assert_eq!(order_of(&t, "5521").eta.as_deref(), Some("2099-12-08"));
    let r = t.say("alice", "yes").await;
    // Said as a date, never as an ISO string.
    assert!(r.text.contains("9 December"), "{}", r.text);
    assert!(!r.text.contains("2026-12-09"), "{}", r.text);
    assert_eq!(order_of(&t, "5521").eta.as_deref(), Some("2026-12-09"));
}

#[tokio::test]
async fn an_expected_date_is_said_as_a_date_not_an_iso_string() {
    let t = TestBot::new().with_alice();
    let r = t.say("alice", "where is order 4567").await;
    // Issue 14: "Thursday 26 November 2099", as people say it, in the text and the speech alike.
    assert!(r.text.contains("26 November 2099"), "{}", r.text);
    assert!(r.ssml.contains("26 November 2099"), "{}", r.ssml);
    assert!(!r.text.contains("2099-11-26"), "{}", r.text);
}

#[tokio::test]
async fn a_doubtful_request_for_a_person_is_asked_before_the_call_is_handed_off() {
    let t = TestBot::new().with_alice();
    let r = t.say("alice", "speak").await;
    assert!(!r.end, "{}", r.text);
    assert!(r.text.contains("put you through"), "{}", r.text);
    let r = t.say("alice", "yes").await;
    assert!(r.handoff.as_ref().is_some_and(|h| h.started), "{}", r.text);
    // A clear request is handed off at once.
    let t = TestBot::new().with_alice();
    let r = t
        .say("alice", "I want to talk to a human agent please")
        .await;
    assert!(r.handoff.as_ref().is_some_and(|h| h.started), "{}", r.text);
}

#[tokio::test]
async fn no_order_number_to_give_is_met_with_the_offer_of_a_person() {
    let t = TestBot::new().with_alice();
    t.say("alice", "cancel my order").await;
    let r = t.say("alice", "no").await;
    assert!(r.text.contains("ask for a person"), "{}", r.text);
    assert!(!r.end, "{}", r.text);
}

#[tokio::test]
async fn an_order_number_that_reads_like_tracking_still_answers_the_pending_question() {
    for answer in ["my order 5521", "the order number is 5521"] {
        let t = TestBot::new().with_alice();
        t.say("alice", "cancel my order").await;
        let r = t.say("alice", answer).await;
        assert!(
            r.text.contains("cancel order 5521?"),
            "{answer}: {}",
            r.text
        );
    }
    // A request that acts is a new request: cancelling while asked which order to track.
    let t = TestBot::new().with_alice();
    t.say("alice", "where is my order").await;
    let r = t.say("alice", "cancel order 5521").await;
    assert!(r.text.contains("cancel order 5521?"), "{}", r.text);
}

#[tokio::test]
async fn a_correction_starting_with_no_does_not_end_the_conversation() {
    let t = TestBot::new().with_alice();
    t.say("alice", "where is order 4567").await;
    for text in ["no, that's not the right one", "no I meant the other order"] {
        let r = t.say("alice", text).await;
        assert!(!r.end, "{text}: {}", r.text);
    }
}

#[tokio::test]
async fn a_card_number_is_deleted_and_the_customer_told_not_answered_as_a_question() {
    let t = TestBot::new().with_alice();
    let r = t.say("alice", "my card is 4111 1111 1111 1111").await;
    assert!(r.text.contains("deleted that card number"), "{}", r.text);
    assert!(!r.text.contains("loyalty"), "{}", r.text);
    // Mid-question, the question comes again.
    t.say("alice", "where is my order").await;
    let r = t.say("alice", "4111111111111111").await;
    assert!(r.text.contains("deleted that card number"), "{}", r.text);
    assert!(r.text.contains("order number"), "{}", r.text);
    let tp = t
        .store
        .open_touchpoint(parcours::message::Channel::Chat, "alice")
        .unwrap()
        .unwrap();
    assert!(tp.turns.iter().all(|turn| !turn.text.contains("4111")));
}

/// A message nothing was understood in does not switch the language away from the platform's locale
/// (a trial's "blorp fizzle wug" from an en-US caller was answered, and then recognised, in French).
#[tokio::test]
async fn gibberish_keeps_the_callers_locale() {
    let t = TestBot::new();
    for (locale, lang) in [
        (parcours::message::Lang::En, parcours::message::Lang::En),
        (parcours::message::Lang::Fr, parcours::message::Lang::Fr),
    ] {
        let mut m = parcours::message::Inbound::text(
            parcours::message::Channel::Voice,
            format!("+3360000000{}", lang as u8),
            "blorp fizzle wug",
        );
        m.session = Some(format!("call-{}", lang.code()));
        m.locale = Some(locale);
        let r = t.bot.handle(m).await.unwrap();
        assert_eq!(r.lang, lang, "{}", r.text);
    }
}

/// A goodbye to the first satisfaction question is a goodbye, not thanks "for your answers".
#[tokio::test]
async fn leaving_at_the_first_survey_question_is_not_thanked_for_answers() {
    let t = TestBot::new().with_alice().surveyable();
    t.say("alice", "where is order 4567").await;
    let r = t.say("alice", "thanks, bye").await;
    assert!(r.text.contains("did that solve"), "{}", r.text);
    let r = t.say("alice", "bye").await;
    assert!(r.end, "{}", r.text);
    assert!(!r.text.contains("answers"), "{}", r.text);
}
