//! `POST /webhook/twilio`: a phone call, turn by turn, in TwiML.

use crate::helpers::{assert_well_formed, spawn_app_configured};
use parcours::message::Channel;
use parcours::store::Outcome;

const TOKEN: &str = "twilio-test-token";

async fn signed_app() -> crate::helpers::TestApp {
    spawn_app_configured(|state, addr| {
        state.twilio_auth_token = Some(TOKEN.into());
        state.public_url = Some(addr.to_string().into());
    })
    .await
}

fn call<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("AccountSid", "AC0000"),
        ("CallSid", "CA42"),
        ("From", "+33612345678"),
        ("To", "+33100000000"),
        ("CallStatus", "in-progress"),
        ("Direction", "inbound"),
        ("ApiVersion", "2010-04-01"),
    ];
    // A field given in `extra` replaces the default.
    fields.retain(|(k, _)| extra.iter().all(|(e, _)| e != k));
    fields.extend_from_slice(extra);
    fields
}

async fn turn(app: &crate::helpers::TestApp, extra: &[(&str, &str)]) -> String {
    let r = app.post_twilio(&call(extra), Some(TOKEN)).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    let xml = r.text().await.unwrap();
    assert_well_formed(&xml);
    xml
}

#[tokio::test]
async fn a_signed_phone_call_gets_the_order_status_from_the_profile_and_hangs_up() {
    let app = signed_app().await;
    let xml = turn(&app, &[]).await;
    assert!(xml.contains("<Gather input=\"speech dtmf\""), "{xml}");
    assert!(xml.contains("Hello Alice"), "{xml}");
    let xml = turn(
        &app,
        &[
            ("SpeechResult", "where is my order"),
            ("Confidence", "0.93"),
        ],
    )
    .await;
    assert!(xml.contains("order number"), "{xml}");
    let xml = turn(
        &app,
        &[
            ("SpeechResult", "four five six seven"),
            ("Confidence", "0.88"),
        ],
    )
    .await;
    assert!(
        xml.contains(r#"<say-as interpret-as="digits">4567</say-as>"#),
        "{xml}"
    );
    assert!(xml.contains("on its way"), "{xml}");
    let xml = turn(
        &app,
        &[
            ("SpeechResult", "that's all goodbye"),
            ("Confidence", "0.9"),
        ],
    )
    .await;
    assert!(xml.contains("<Hangup/>"), "{xml}");
    assert!(!xml.contains("<Gather"), "{xml}");

    let tps = app.test_bot.store.touchpoints_of("cus_alice").unwrap();
    assert_eq!(tps.len(), 1);
    assert_eq!(tps[0].channel, Channel::Twilio);
    assert_eq!(tps[0].session.as_deref(), Some("CA42"));
    assert_eq!(tps[0].outcome, Some(Outcome::Resolved));
}

#[tokio::test]
async fn keypad_digits_answer_a_number_question() {
    let app = signed_app().await;
    turn(&app, &[]).await;
    turn(&app, &[("SpeechResult", "where is my order")]).await;
    let xml = turn(&app, &[("Digits", "4567#")]).await;
    assert!(xml.contains("on its way"), "{xml}");
}

#[tokio::test]
async fn two_silences_get_a_reprompt_then_a_polite_goodbye() {
    let app = signed_app().await;
    turn(&app, &[]).await;
    let xml = turn(&app, &[("SpeechResult", "")]).await;
    assert!(xml.contains("still there"), "{xml}");
    let xml = turn(&app, &[]).await;
    assert!(
        xml.contains("<Hangup/>") && xml.contains("Goodbye"),
        "{xml}"
    );
}

#[tokio::test]
async fn a_doubtful_transcript_of_an_action_is_confirmed_first() {
    let app = signed_app().await;
    turn(&app, &[]).await;
    let xml = turn(
        &app,
        &[
            (
                "SpeechResult",
                "change the delivery address of order 4567 to 14 avenue foch",
            ),
            ("Confidence", "0.31"),
        ],
    )
    .await;
    assert!(xml.contains("4567") && xml.contains('?'), "{xml}");
}

#[tokio::test]
async fn a_bad_or_missing_signature_is_a_403_and_stores_nothing() {
    let app = signed_app().await;
    let fields = call(&[("SpeechResult", "where is my order")]);
    let r = app.post_twilio(&fields, None).await;
    assert_eq!(r.status(), 403);
    let r = app.post_twilio(&fields, Some("another-token")).await;
    assert_eq!(r.status(), 403);
    assert!(
        app.test_bot
            .store
            .touchpoints_of("cus_alice")
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_callback_without_caller_or_call_is_a_400() {
    let app = spawn_app_configured(|_, _| {}).await;
    let r = app.post_twilio(&[("SpeechResult", "hello")], None).await;
    assert_eq!(r.status(), 400);
    let r = app
        .post_twilio(
            &[("CallSid", "CA1"), ("From", "+1"), ("Confidence", "high")],
            None,
        )
        .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn what_a_caller_says_cannot_break_the_twiml() {
    let app = spawn_app_configured(|_, _| {}).await;
    for said in [
        "</Say><Hangup/>",
        "my email is a&b<c>@x.com",
        "\u{0}\u{7}]]>",
    ] {
        let r = app
            .post_twilio(
                &[
                    ("CallSid", "CA9"),
                    ("From", "+15550001"),
                    ("SpeechResult", said),
                ],
                None,
            )
            .await;
        assert_eq!(r.status(), 200);
        assert_well_formed(&r.text().await.unwrap());
    }
}

#[tokio::test]
async fn a_huge_form_is_a_json_413() {
    let app = signed_app().await;
    let speech = "a".repeat(200 * 1024);
    let r = app
        .post_twilio(&call(&[("SpeechResult", speech.as_str())]), Some(TOKEN))
        .await;
    assert_eq!(r.status(), 413);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");
}

/// A withheld number is not one customer: two calls from "anonymous" are two conversations that do not
/// reset each other, and the second caller is not told about the first one's call.
#[tokio::test]
async fn calls_from_a_withheld_number_are_kept_apart() {
    let app = signed_app().await;
    let first = [("CallSid", "CA_A"), ("From", "anonymous")];
    turn(&app, &first).await;
    turn(
        &app,
        &[
            ("CallSid", "CA_A"),
            ("From", "anonymous"),
            ("SpeechResult", "I want a refund"),
            ("Confidence", "0.9"),
        ],
    )
    .await;
    turn(
        &app,
        &[
            ("CallSid", "CA_A"),
            ("From", "anonymous"),
            ("CallStatus", "completed"),
        ],
    )
    .await;
    // A second withheld call, later: a stranger, not "you called us earlier today".
    let xml = turn(&app, &[("CallSid", "CA_B"), ("From", "anonymous")]).await;
    assert!(!xml.contains("called us"), "{xml}");
    // Two withheld calls at once keep their own conversations.
    turn(&app, &[("CallSid", "CA_C"), ("From", "+266696687")]).await;
    let store = app.test_bot.store.clone();
    let b = store
        .open_touchpoint(Channel::Twilio, "withheld:CA_B")
        .unwrap()
        .expect("call B is open");
    let c = store
        .open_touchpoint(Channel::Twilio, "withheld:CA_C")
        .unwrap()
        .expect("call C is open");
    assert_ne!(b.id, c.id);
    assert_ne!(b.customer_id, c.customer_id);
}

/// A caller id the carrier could not verify (STIR/SHAKEN failed) may be spoofed: it does not open
/// Alice's profile. A switchboard number many people call from is no one customer either.
#[tokio::test]
async fn an_unverified_or_shared_caller_id_does_not_open_a_profile() {
    let app = signed_app().await;
    let xml = turn(
        &app,
        &[
            ("CallSid", "CA_S"),
            ("StirVerstat", "TN-Validation-Failed-A"),
        ],
    )
    .await;
    assert!(
        !xml.contains("Alice"),
        "a spoofable caller id was greeted by name: {xml}"
    );
    let xml = turn(
        &app,
        &[
            ("CallSid", "CA_V"),
            ("StirVerstat", "TN-Validation-Passed-A"),
        ],
    )
    .await;
    assert!(xml.contains("Hello Alice"), "{xml}");

    let settings = parcours::config::Settings {
        shared_caller_ids: vec!["+33612345678".into()],
        ..Default::default()
    };
    let app = crate::helpers::spawn_app_on(
        crate::helpers::TestBot::with_settings(settings).with_alice(),
        |_, _| {},
    )
    .await;
    let r = app
        .post_twilio(&[("CallSid", "CA_W"), ("From", "+33612345678")], None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !r.contains("Alice"),
        "a shared number opened one customer's profile: {r}"
    );
    assert!(
        app.test_bot
            .store
            .open_touchpoint(Channel::Twilio, "shared:CA_W")
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_webhook_twilio_retries_with_its_idempotency_token_is_answered_once() {
    let app = signed_app().await;
    turn(&app, &[]).await; // the call starts: the greeting
    let url = format!("{}/webhook/twilio", app.addr);
    let fields: Vec<(String, String)> = call(&[
        ("SpeechResult", "where is my order"),
        ("Confidence", "0.93"),
    ])
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let send = || {
        app.client
            .post(&url)
            .form(&fields)
            .header(
                "X-Twilio-Signature",
                parcours::channel::twilio::sign(TOKEN, &url, &fields),
            )
            .header("I-Twilio-Idempotency-Token", "tok-7")
            .send()
    };
    let first = send().await.unwrap().text().await.unwrap();
    let retried = send().await.unwrap().text().await.unwrap();
    assert_eq!(
        first, retried,
        "the retry hears what the first delivery got"
    );
    let tp = app
        .test_bot
        .store
        .open_touchpoint(Channel::Twilio, "+33612345678")
        .unwrap()
        .expect("the call goes on");
    let asked = tp
        .turns
        .iter()
        .filter(|t| t.text == "where is my order")
        .count();
    assert_eq!(asked, 1, "{:?}", tp.turns);
}
