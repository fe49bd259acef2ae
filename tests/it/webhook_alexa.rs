//! `POST /webhook/alexa`: an Alexa skill session.

use crate::helpers::{alexa_request, assert_well_formed, spawn_app, spawn_app_configured};
use parcours::message::Channel;
use serde_json::Value;

const ALICE: &str = "amzn1.ask.account.ALICE";

#[tokio::test]
async fn a_skill_session_launches_answers_from_the_profile_and_stops() {
    let app = spawn_app().await;
    let r: Value = app
        .post_alexa(&alexa_request("LaunchRequest", ALICE, "S1", None))
        .await
        .json()
        .await
        .unwrap();
    let ssml = r["response"]["outputSpeech"]["ssml"].as_str().unwrap();
    assert!(ssml.contains("Hello Alice"), "{r}");
    assert_eq!(r["response"]["outputSpeech"]["type"], "SSML");
    assert_eq!(r["response"]["shouldEndSession"], false);
    assert_well_formed(
        r["response"]["reprompt"]["outputSpeech"]["ssml"]
            .as_str()
            .unwrap(),
    );

    let ask = |q: &'static str| {
        alexa_request(
            "IntentRequest",
            ALICE,
            "S1",
            Some(("CatchAllIntent", Some(q))),
        )
    };
    let r: Value = app
        .post_alexa(&ask("where is my order"))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        r["response"]["outputSpeech"]["ssml"]
            .as_str()
            .unwrap()
            .contains("order number"),
        "{r}"
    );
    let r: Value = app
        .post_alexa(&ask("four five six seven"))
        .await
        .json()
        .await
        .unwrap();
    let ssml = r["response"]["outputSpeech"]["ssml"].as_str().unwrap();
    assert!(
        ssml.contains(r#"<say-as interpret-as="digits">4567</say-as>"#),
        "{ssml}"
    );
    assert_well_formed(ssml);

    let r: Value = app
        .post_alexa(&alexa_request(
            "IntentRequest",
            ALICE,
            "S1",
            Some(("AMAZON.StopIntent", None)),
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["response"]["shouldEndSession"], true);
    let tps = app.test_bot.store.touchpoints_of("cus_alice").unwrap();
    assert_eq!(tps.len(), 1);
    assert_eq!(tps[0].channel, Channel::Alexa);
    assert!(tps[0].ended_at.is_some());

    // The session-ended notice that follows has nothing left to close and takes no speech.
    let r: Value = app
        .post_alexa(&alexa_request("SessionEndedRequest", ALICE, "S1", None))
        .await
        .json()
        .await
        .unwrap();
    assert!(r["response"].get("outputSpeech").is_none(), "{r}");
    assert_eq!(
        app.test_bot
            .store
            .touchpoints_of("cus_alice")
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn help_says_what_the_bot_can_do() {
    let app = spawn_app().await;
    let r: Value = app
        .post_alexa(&alexa_request(
            "IntentRequest",
            "u1",
            "S2",
            Some(("AMAZON.HelpIntent", None)),
        ))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        r["response"]["outputSpeech"]["ssml"]
            .as_str()
            .unwrap()
            .contains("I can tell you"),
        "{r}"
    );
    assert_eq!(r["response"]["shouldEndSession"], false);
}

#[tokio::test]
async fn another_skills_requests_are_refused_when_the_skill_id_is_set() {
    let app =
        spawn_app_configured(|s, _| s.alexa_skill_id = Some("amzn1.ask.skill.other".into())).await;
    let r = app
        .post_alexa(&alexa_request("LaunchRequest", "u", "S3", None))
        .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn malformed_alexa_requests_get_clear_4xx() {
    let app = spawn_app().await;
    let mut no_user = alexa_request("LaunchRequest", "u", "S4", None);
    no_user["context"]["System"]
        .as_object_mut()
        .unwrap()
        .remove("user");
    no_user["session"].as_object_mut().unwrap().remove("user");
    let mut no_intent = alexa_request("IntentRequest", "u", "S4", None);
    no_intent["request"]
        .as_object_mut()
        .unwrap()
        .remove("intent");
    let unknown = alexa_request("Dialog.Delegate", "u", "S4", None);
    for bad in [
        no_user,
        no_intent,
        unknown,
        serde_json::json!({"request": 5}),
    ] {
        let r = app.post_alexa(&bad).await;
        assert!(r.status().is_client_error(), "{bad} gave {}", r.status());
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].is_string());
    }
}

/// Review of 2026-12-01: the reprompt was always the general one, and Alexa's own yes, no and fallback
/// intents were taken for silences.
#[tokio::test]
async fn the_reprompt_repeats_the_pending_question_and_alexas_yes_and_fallback_are_understood() {
    let app = spawn_app().await;
    // One turn of session S9: the response's speech and reprompt.
    let turn = async |name: &str, q: Option<&str>| -> (String, String) {
        let r: Value = app
            .post_alexa(&alexa_request(
                "IntentRequest",
                ALICE,
                "S9",
                Some((name, q)),
            ))
            .await
            .json()
            .await
            .unwrap();
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        (
            text(&r["response"]["outputSpeech"]["ssml"]),
            text(&r["response"]["reprompt"]["outputSpeech"]["ssml"]),
        )
    };
    let (_, reprompt) = turn("CatchAllIntent", Some("where is my order")).await;
    assert!(reprompt.contains("order number"), "{reprompt}");
    assert_well_formed(&reprompt);

    let (said, _) = turn("AMAZON.FallbackIntent", None).await;
    assert!(
        !said.contains("still there"),
        "a fallback, not a silence: {said}"
    );

    // Cancelling asks for a yes or no; Alexa's YesIntent is a yes.
    turn("CatchAllIntent", Some("cancel order 5521")).await;
    let (said, _) = turn("AMAZON.YesIntent", None).await;
    assert!(said.contains("cancelled"), "{said}");
}
