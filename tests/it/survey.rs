//! The satisfaction questions: when they are asked, how answers are understood, and when they are not.

use crate::helpers::TestBot;
use parcours::store::Outcome;
use parcours::time::Timestamp;

#[tokio::test]
async fn a_resolved_conversation_ends_with_the_survey_and_the_answers_are_kept() {
    let t = TestBot::new().with_alice().surveyable();
    t.say("alice", "how many loyalty points do I have").await;
    let r = t.say("alice", "great thanks, that's all").await;
    assert!(
        r.text.contains("did that solve your problem?"),
        "{}",
        r.text
    );
    assert!(!r.end);
    let r = t.say("alice", "yes").await;
    assert!(r.text.contains("0 to 10"), "{}", r.text);
    assert_eq!(r.quick_replies.len(), 11);
    let r = t.say("alice", "a solid eight").await;
    assert!(r.end, "{}", r.text);
    let tp = &t.store.touchpoints_of("cus_alice").unwrap()[0];
    assert_eq!(tp.survey.get("solved").map(String::as_str), Some("yes"));
    assert_eq!(tp.survey.get("rating").map(String::as_str), Some("8"));
    assert!(!tp.survey.contains_key("comment"));
    assert_eq!(tp.outcome, Some(Outcome::Resolved));
}

#[tokio::test]
async fn un_detracteur_est_invite_a_dire_ce_qu_il_faut_ameliorer_et_sa_reponse_est_gardee_telle_quelle()
 {
    let t = TestBot::new().with_alice().surveyable();
    t.say("alice", "combien de points de fidélité j'ai").await;
    t.say("alice", "merci, au revoir").await;
    let r = t.say("alice", "non").await;
    assert!(r.text.contains("conseiller"), "{}", r.text);
    let r = t.say("alice", "non").await;
    assert!(r.text.contains("De 0 à 10"), "{}", r.text);
    let r = t.say("alice", "trois").await;
    assert!(r.text.contains("améliorer"), "{}", r.text);
    let r = t.say("alice", "Répondre plus vite <svp> & mieux").await;
    assert!(r.end);
    let tp = &t.store.touchpoints_of("cus_alice").unwrap()[0];
    assert_eq!(tp.survey.get("rating").map(String::as_str), Some("3"));
    assert_eq!(tp.survey.get("solved").map(String::as_str), Some("no"));
    assert_eq!(
        tp.survey.get("comment").map(String::as_str),
        Some("Répondre plus vite <svp> & mieux")
    );
}

#[tokio::test]
async fn an_unclear_rating_is_asked_again_once_then_dropped() {
    let t = TestBot::new().with_alice().surveyable();
    t.say("alice", "how many loyalty points do I have").await;
    t.say("alice", "bye").await;
    t.say("alice", "skip").await;
    let r = t.say("alice", "purple").await;
    assert!(
        r.text.starts_with("Sorry, I didn't catch that."),
        "{}",
        r.text
    );
    let r = t.say("alice", "eleven").await;
    assert!(r.end, "{}", r.text);
    let tp = &t.store.touchpoints_of("cus_alice").unwrap()[0];
    assert!(tp.survey.is_empty(), "{:?}", tp.survey);
}

#[tokio::test]
async fn no_survey_without_a_resolving_answer() {
    let t = TestBot::new().with_alice().surveyable();
    t.say("alice", "hello").await;
    let r = t.say("alice", "bye").await;
    assert!(r.end, "{}", r.text);
}

#[tokio::test]
async fn the_survey_is_not_asked_again_the_next_day() {
    let t = TestBot::new().with_alice().surveyable();
    let day1 = Timestamp::now();
    t.say_at("alice", "how many loyalty points do I have", day1)
        .await;
    let r = t.say_at("alice", "thanks bye", day1).await;
    assert!(r.text.contains("did that solve"), "{}", r.text);
    // They never answer; the next day the conversation has ended on idle and a new one starts.
    let day2 = day1.plus_ms(86_400_000);
    t.say_at("alice", "how many loyalty points do I have", day2)
        .await;
    let r = t.say_at("alice", "thanks bye", day2).await;
    assert!(r.end, "asked again: {}", r.text);
    let day8 = day1.plus_ms(8 * 86_400_000);
    t.say_at("alice", "how many loyalty points do I have", day8)
        .await;
    let r = t.say_at("alice", "thanks bye", day8).await;
    assert!(
        r.text.contains("did that solve"),
        "not asked after a week: {}",
        r.text
    );
}

#[tokio::test]
async fn a_new_question_during_the_survey_is_answered() {
    let t = TestBot::new().with_alice().surveyable();
    t.say("alice", "how many loyalty points do I have").await;
    t.say("alice", "thanks").await;
    let r = t.say("alice", "actually where is order 1234").await;
    assert!(
        r.text.contains("1234") && r.text.contains("delivered"),
        "{}",
        r.text
    );
}
