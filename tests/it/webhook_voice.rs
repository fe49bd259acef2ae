//! `POST /webhook/voice` and the server's handling of bad input.

use crate::helpers::{assert_well_formed, spawn_app, spawn_app_with};
use serde_json::{Value, json};

#[tokio::test]
async fn health_check_works() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(format!("{}/healthz", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_caller_gets_the_status_of_their_order_with_digits_in_ssml() {
    let app = spawn_app().await;
    let call = |t: &str| json!({"session_id": "CA1", "user_id": "+33612345678", "transcript": t, "confidence": 0.92, "locale": "en-US"});
    let r = app.post_voice(&call("where is my order")).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["intent"], "order_status");
    assert_eq!(body["end_session"], false);
    let r: Value = app
        .post_voice(&call("four five six seven"))
        .await
        .json()
        .await
        .unwrap();
    let ssml = r["ssml"].as_str().unwrap();
    assert!(
        ssml.contains(r#"<say-as interpret-as="digits">4567</say-as>"#),
        "{ssml}"
    );
    assert_well_formed(ssml);
    let r: Value = app
        .post_voice(&call("that's all, goodbye"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["end_session"], true);
    let tps = app.test_bot.store.touchpoints_of("cus_alice").unwrap();
    assert_eq!(tps.len(), 1);
    assert_eq!(tps[0].channel, parcours::message::Channel::Voice);
    assert_eq!(tps[0].session.as_deref(), Some("CA1"));
}

#[tokio::test]
async fn fields_a_platform_adds_are_ignored() {
    let app = spawn_app().await;
    let call = json!({"session_id": "CA9", "user_id": "u9", "transcript": "where is my order",
        "metadata": {"channel": "ivr", "tags": [1, 2]}, "call_sid": "CA123"});
    let r = app.post_voice(&call).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["intent"], "order_status");
}

#[tokio::test]
async fn silence_gets_a_reprompt_then_a_goodbye() {
    let app = spawn_app().await;
    let silent = json!({"session_id": "CA2", "user_id": "u2", "transcript": "  "});
    let r: Value = app.post_voice(&silent).await.json().await.unwrap();
    assert!(r["text"].as_str().unwrap().contains("still there"), "{r}");
    assert_eq!(r["end_session"], false);
    let r: Value = app.post_voice(&silent).await.json().await.unwrap();
    assert_eq!(r["end_session"], true);
}

#[tokio::test]
async fn a_silence_while_a_question_is_pending_asks_that_question_again() {
    let app = spawn_app().await;
    let call = |t: &str| json!({"session_id": "CA3", "user_id": "+33612345678", "transcript": t, "locale": "fr-FR"});
    let r: Value = app
        .post_voice(&call("où est ma commande"))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        r["text"].as_str().unwrap().contains("numéro de commande"),
        "{r}"
    );
    let r: Value = app.post_voice(&call("")).await.json().await.unwrap();
    let text = r["text"].as_str().unwrap();
    assert!(
        text.contains("toujours là") && text.contains("numéro de commande"),
        "{r}"
    );
    assert_eq!(r["end_session"], false);
    assert_well_formed(r["ssml"].as_str().unwrap());
    // The number, given after the reprompt, still answers the question.
    let r: Value = app
        .post_voice(&call("quatre cinq six sept"))
        .await
        .json()
        .await
        .unwrap();
    assert!(r["text"].as_str().unwrap().contains("4567"), "{r}");
}

#[tokio::test]
async fn malformed_json_is_a_400_with_a_json_error() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(format!("{}/webhook/voice", app.addr))
        .header("content-type", "application/json")
        .body("{\"session_id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn missing_or_mistyped_fields_are_rejected_and_nothing_is_stored() {
    let app = spawn_app().await;
    for bad in [
        json!({"user_id": "u", "transcript": "hi"}),
        json!({"session_id": 5, "user_id": "u", "transcript": "hi"}),
        json!({"session_id": "s", "user_id": "", "transcript": "hi"}),
        json!({"session_id": "s", "user_id": "u", "transcript": "hi", "confidence": 7}),
    ] {
        let r = app.post_voice(&bad).await;
        // Well-formed JSON with a wrong field: 422, whether the type or the value is wrong.
        assert_eq!(r.status(), 422, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
    }
    let page = app
        .test_bot
        .store
        .touchpoints_between(
            parcours::time::Timestamp(0),
            parcours::time::Timestamp(u64::MAX),
            10,
            None,
            &Default::default(),
            false,
        )
        .unwrap();
    assert!(page.items.is_empty());
}

#[tokio::test]
async fn a_huge_body_is_a_413() {
    let app = spawn_app().await;
    let big = "a".repeat(100 * 1024);
    let r = app
        .post_voice(&json!({"session_id": "s", "user_id": "u", "transcript": big}))
        .await;
    assert_eq!(r.status(), 413);
}

#[tokio::test]
async fn an_unknown_route_is_a_json_404() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(format!("{}/nope", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn the_webhook_token_is_required_when_set() {
    let app = spawn_app_with(Some("s3cret")).await;
    let body = json!({"session_id": "s", "user_id": "u", "transcript": "hello"});
    let r = app.post_voice(&body).await;
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .post(format!("{}/webhook/voice", app.addr))
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .post(format!("{}/webhook/voice", app.addr))
        .bearer_auth("s3cret")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_transcript_full_of_xml_and_odd_unicode_still_gives_well_formed_ssml() {
    let app = spawn_app().await;
    for t in [
        "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>",
        "]]> <![CDATA[ where is order 4567 ]]>",
        "\u{0}\u{1}\u{fffe}\u{202e} où est ma commande 🙂",
    ] {
        let r = app
            .post_voice(&json!({"session_id": "x", "user_id": "mallory", "transcript": t}))
            .await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_well_formed(body["ssml"].as_str().unwrap());
    }
}

#[tokio::test]
async fn a_body_that_never_arrives_is_a_408_and_the_connection_is_freed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with_timeout().await;
    let host = app.addr.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream
        .write_all(
            b"POST /webhook/voice HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(read.is_ok(), "no answer within 10 s: {answer}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"error\""), "{answer}");
    // The server still serves everyone else.
    let r = app
        .post_voice(&json!({"session_id": "s", "user_id": "u", "transcript": "hi"}))
        .await;
    assert_eq!(r.status(), 200);
}

async fn spawn_app_with_timeout() -> crate::helpers::TestApp {
    crate::helpers::spawn_app_configured(|state, _| {
        state.body_timeout = std::time::Duration::from_millis(500);
    })
    .await
}

#[tokio::test]
async fn a_retried_request_is_answered_once_with_the_same_reply() {
    let app = spawn_app().await;
    let call = |t: &str| json!({"session_id": "CA-retry", "user_id": "+33612345678", "transcript": t, "confidence": 0.92, "locale": "en-US"});
    let post = |body: Value, key: &'static str| {
        let client = app.client.clone();
        let url = format!("{}/webhook/voice", app.addr);
        async move {
            let r = client
                .post(url)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    // The platform gave up waiting and sent the message again, twice at once.
    let (a, b) = tokio::join!(
        post(call("where is my order"), "k-1"),
        post(call("where is my order"), "k-1")
    );
    assert_eq!(a, b, "the same reply to every delivery");
    let again = post(call("where is my order"), "k-1").await;
    assert_eq!(again, a);
    // The next message has its own key and moves the conversation on.
    let next = post(call("four five six seven"), "k-2").await;
    assert_ne!(next["text"], a["text"]);
    let tps = app.test_bot.store.touchpoints_of("cus_alice").unwrap();
    assert_eq!(tps.len(), 1);
    let said: Vec<&str> = tps[0]
        .turns
        .iter()
        .filter(|t| t.speaker == parcours::store::Speaker::Customer)
        .map(|t| t.text.as_str())
        .collect();
    assert_eq!(
        said,
        ["where is my order", "four five six seven"],
        "stored once each"
    );
}

#[tokio::test]
async fn a_delivery_id_reused_by_another_caller_never_gives_them_someone_elses_reply() {
    let app = spawn_app().await;
    let post = |user: &'static str, said: &'static str| {
        let client = app.client.clone();
        let url = format!("{}/webhook/voice", app.addr);
        async move {
            client
                .post(url)
                .header("Idempotency-Key", "same-key")
                .json(&json!({"session_id": format!("CA-{user}"), "user_id": user, "transcript": said}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let first = post("+33612345678", "where is my order").await;
    let other = post("+15550009999", "hello").await;
    assert_ne!(other["conversation_id"], first["conversation_id"]);
    assert_ne!(other["text"], first["text"], "{other}");
}
