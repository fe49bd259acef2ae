//! One conversation, three voice channels: the store keeps the same conversation for each, with its channel.

use crate::helpers::{alexa_request, spawn_app};
use parcours::message::Channel;
use parcours::store::Outcome;
use serde_json::json;

const SCRIPT: [&str; 4] = [
    "hello",
    "where is my order",
    "four five six seven",
    "that's all, goodbye",
];

#[tokio::test]
async fn the_same_call_through_voice_twilio_and_alexa_gives_the_same_conversation() {
    let app = spawn_app().await;
    for said in SCRIPT {
        app.post_voice(&json!({"session_id": "V1", "user_id": "+33612345678", "transcript": said, "locale": "en-US"}))
            .await;
    }
    app.post_twilio(&[("CallSid", "CA7"), ("From", "+33612345678")], None)
        .await;
    for said in SCRIPT {
        app.post_twilio(
            &[
                ("CallSid", "CA7"),
                ("From", "+33612345678"),
                ("SpeechResult", said),
            ],
            None,
        )
        .await;
    }
    let alice = "amzn1.ask.account.ALICE";
    app.post_alexa(&alexa_request("LaunchRequest", alice, "S7", None))
        .await;
    for said in SCRIPT {
        app.post_alexa(&alexa_request(
            "IntentRequest",
            alice,
            "S7",
            Some(("CatchAllIntent", Some(said))),
        ))
        .await;
    }

    let tps = app.test_bot.store.touchpoints_of("cus_alice").unwrap();
    let channels: Vec<Channel> = tps.iter().map(|t| t.channel).collect();
    assert_eq!(channels, [Channel::Voice, Channel::Twilio, Channel::Alexa]);
    for tp in &tps {
        assert_eq!(
            tp.intents,
            ["greeting", "order_status", "goodbye"],
            "{:?}",
            tp.channel
        );
        assert_eq!(tp.outcome, Some(Outcome::Resolved), "{:?}", tp.channel);
        let said: Vec<&str> = tp
            .turns
            .iter()
            .filter(|t| t.speaker == parcours::store::Speaker::Customer)
            .map(|t| t.text.as_str())
            .collect();
        assert_eq!(said, SCRIPT, "{:?}", tp.channel);
        let answer = &tp.turns.iter().rev().nth(2).unwrap().text;
        assert!(
            answer.contains("Order 4567 is on its way"),
            "{:?}: {answer}",
            tp.channel
        );
    }
}
