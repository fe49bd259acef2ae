//! Issue 16: live answers from the business's own systems, through the signed fulfillment webhook, against
//! the reference backend (`parcours::fulfillment::demo`) on a local port.

use crate::helpers::{TestBot, init_logs, spawn_app_on};
use parcours::bot::Bot;
use parcours::config::Settings;
use parcours::fulfillment::FulfillmentSettings;
use parcours::fulfillment::demo::{DemoBackend, Faults};
use parcours::intents::IntentPack;
use parcours::message::Lang;
use parcours::store::sled_store::SledStore;
use parcours::store::{Identity, ProfileStore, Speaker};
use serde_json::json;
use std::sync::Arc;

const SECRET: &str = "whsec_test_0123456789";

/// The business's copy of Alice's orders: not the imported profile's (4567 is out for delivery there, with
/// a carrier; 5521 still processing).
fn business_customers() -> Vec<serde_json::Value> {
    vec![json!({
        "id": "cus_alice",
        "loyalty_points": 3400,
        "orders": [
            {"id": "4567", "status": "out_for_delivery", "eta": "2099-11-26", "carrier": "DHL",
             "tracking_url": "https://track.example.com/4567"},
            {"id": "5521", "status": "processing", "eta": "2099-12-08"},
            {"id": "1234", "status": "delivered"}
        ],
        "identities": [{"channel": "chat", "id": "alice"}]
    })]
}

/// The reference backend on a free port: its state and URL.
async fn spawn_backend(secret: &str) -> (DemoBackend, String) {
    let backend = DemoBackend::new(business_customers(), secret);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/fulfillment", listener.local_addr().unwrap());
    tokio::spawn(backend.clone().serve(listener));
    (backend, url)
}

/// Alice's bot, with the fulfillment URL and the secret it signs with.
fn live_bot(url: &str, secret: &str, tune: impl FnOnce(&mut FulfillmentSettings)) -> TestBot {
    init_logs();
    let mut settings = Settings {
        fulfillment_url: Some(url.to_string()),
        ..Settings::default()
    };
    tune(&mut settings.fulfillment);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let pack = IntentPack::load(&crate::helpers::intents_dir()).unwrap();
    let bot = Bot::new(pack, settings, store.clone() as Arc<dyn ProfileStore>)
        .with_fulfillment(secret.to_string());
    TestBot {
        bot: Arc::new(bot),
        store,
        _dir: dir,
    }
    .with_alice()
}

fn turns_of(t: &TestBot, user: &str) -> Vec<parcours::store::Turn> {
    let c = t
        .store
        .customer_of(&Identity {
            channel: parcours::message::Channel::Chat,
            id: user.into(),
        })
        .unwrap()
        .unwrap();
    t.store
        .touchpoints_of(&c.id)
        .unwrap()
        .into_iter()
        .flat_map(|tp| tp.turns)
        .collect()
}

#[tokio::test]
async fn a_lookup_fills_the_answer_with_the_businesss_values_and_is_signed() {
    let (backend, url) = spawn_backend(SECRET).await;
    let t = live_bot(&url, SECRET, |_| {});
    let r = t.say("alice", "where is order 4567?").await;
    // The imported profile says "shipped" with no carrier: the business's values win.
    assert!(r.text.contains("out for delivery today"), "{}", r.text);
    assert!(r.text.contains("DHL"), "{}", r.text);
    let seen = backend.seen();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].signed);
    let body = &seen[0].body;
    assert_eq!(body["intent"], "order_status");
    assert_eq!(body["entities"]["order_id"], "4567");
    assert_eq!(body["customer"]["id"], "cus_alice");
    assert_eq!(body["lang"], "en");
    assert!(body["conversation_id"].as_str().unwrap().starts_with("tp_"));
    assert!(
        body["customer"]["identities"]
            .as_array()
            .unwrap()
            .contains(&json!({"channel": "chat", "id": "alice"}))
    );
    assert!(body.get("action").is_none() && body.get("idempotency_key").is_none());
    // The follow-up has the tracking link, from the same (cached) answer.
    let again = t.say("alice", "and the tracking link?").await;
    assert!(
        again.text.contains("https://track.example.com/4567"),
        "{}",
        again.text
    );
    assert_eq!(
        backend.seen().len(),
        1,
        "the second read came from the cache"
    );
}

#[tokio::test]
async fn reads_are_cached_a_few_seconds_per_customer_only() {
    let (backend, url) = spawn_backend(SECRET).await;
    let t = live_bot(&url, SECRET, |f| f.cache_ms = 0);
    t.say("alice", "where is order 4567?").await;
    t.say("alice", "where is order 4567?").await;
    assert_eq!(backend.seen().len(), 2, "no cache: each turn asks");
    let (backend, url) = spawn_backend(SECRET).await;
    let t = live_bot(&url, SECRET, |f| f.cache_ms = 200);
    t.say("alice", "how many loyalty points do I have?").await;
    let r = t.say("alice", "how many loyalty points do I have?").await;
    assert!(
        r.text.contains("3400") || r.text.contains("3,400"),
        "{}",
        r.text
    );
    assert_eq!(backend.seen().len(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    t.say("alice", "how many loyalty points do I have?").await;
    assert_eq!(backend.seen().len(), 2, "expired after cache_ms");
}

#[tokio::test]
async fn an_action_is_confirmed_then_done_once_even_when_the_first_try_times_out() {
    let (backend, url) = spawn_backend(SECRET).await;
    let t = live_bot(&url, SECRET, |f| {
        f.timeout_ms = 300;
        f.retries = 1;
    });
    let q = t.say("alice", "I want to cancel order 5521").await;
    assert!(q.text.contains("confirm"), "asked first: {}", q.text);
    assert!(
        backend.performed().is_empty(),
        "nothing done before the yes"
    );
    // The first try of the action is answered too late: the backend did it, parcours retries.
    backend.set_faults(Faults {
        slow_next: 1,
        slow_ms: 700,
        ..Faults::default()
    });
    let done = t.say("alice", "yes").await;
    assert!(
        done.text.to_lowercase().contains("cancel"),
        "said done: {}",
        done.text
    );
    assert!(!done.text.contains("can't reach"), "{}", done.text);
    let actions: Vec<serde_json::Value> = backend
        .seen()
        .into_iter()
        .map(|s| s.body)
        .filter(|b| b.get("action").is_some())
        .collect();
    assert_eq!(actions.len(), 2, "a first try and a retry: {actions:?}");
    assert_eq!(actions[0]["action"], "cancel_order");
    assert_eq!(actions[0]["idempotency_key"], actions[1]["idempotency_key"]);
    assert!(
        actions[0]["idempotency_key"]
            .as_str()
            .unwrap()
            .starts_with("idem_")
    );
    assert_eq!(backend.performed().len(), 1, "done once");
    assert_eq!(backend.order_status("5521").as_deref(), Some("cancelled"));
}

#[tokio::test]
async fn the_businesss_status_refuses_before_confirming_and_a_refused_action_is_never_said_done() {
    let (backend, url) = spawn_backend(SECRET).await;
    let t = live_bot(&url, SECRET, |_| {});
    // Imported as shipped, but the business says it is out for delivery: not cancellable either way;
    // 1234 is delivered: refused before any question.
    let r = t.say("alice", "cancel order 1234").await;
    assert!(r.text.contains("can't be cancelled"), "{}", r.text);
    // 5521 can be cancelled when asked, but the warehouse ships it before the yes.
    let q = t.say("alice", "actually cancel order 5521").await;
    assert!(q.text.contains("confirm"), "{}", q.text);
    backend.set_order_status("5521", "shipped");
    let r = t.say("alice", "yes").await;
    assert!(r.text.contains("already left our warehouse"), "{}", r.text);
    assert!(r.text.contains("person"), "a person is offered: {}", r.text);
    assert!(backend.performed().is_empty());
    assert_eq!(backend.order_status("5521").as_deref(), Some("shipped"));
}

#[tokio::test]
async fn a_wrong_signature_is_refused_by_the_reference_backend() {
    let (backend, url) = spawn_backend(SECRET).await;
    let t = live_bot(&url, "not-the-shared-secret", |f| f.retries = 0);
    let r = t.say("alice", "where is order 4567?").await;
    assert!(
        r.text.contains("can't reach our order system"),
        "{}",
        r.text
    );
    assert!(!backend.seen()[0].signed);
    // An unsigned request is refused too.
    let resp = reqwest::Client::new()
        .post(&url)
        .json(&json!({"intent": "order_status"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn a_time_out_gives_the_honest_sentence_the_irritant_and_a_line_staff_see() {
    let (backend, url) = spawn_backend(SECRET).await;
    backend.set_faults(Faults {
        slow_next: 10,
        slow_ms: 1000,
        ..Faults::default()
    });
    let t = live_bot(&url, SECRET, |f| {
        f.timeout_ms = 200;
        f.retries = 1;
    });
    let started = std::time::Instant::now();
    let r = t.say("alice", "where is order 4567?").await;
    assert!(
        started.elapsed() < std::time::Duration::from_millis(900),
        "two tries of 200 ms, not the backend's second"
    );
    assert!(
        r.text.contains("I can't reach our order system right now"),
        "{}",
        r.text
    );
    assert!(
        !r.text.contains("on its way"),
        "nothing claimed: {}",
        r.text
    );
    let turns = turns_of(&t, "alice");
    let customer = turns
        .iter()
        .find(|t| t.speaker == Speaker::Customer)
        .unwrap();
    assert!(
        customer
            .irritants
            .contains(&parcours::store::Irritant::BackendError)
    );
    assert!(
        turns.iter().any(|t| t.speaker == Speaker::System
            && t.text
                .contains("fulfillment read for order_status failed: no answer within 200 ms")),
        "{turns:?}"
    );
    let metrics = t.bot.fulfiller().unwrap().render_metrics();
    assert!(metrics.contains("outcome=\"timeout\"} 2"), "{metrics}");
    assert!(
        metrics.contains("parcours_fulfillment_latency_seconds_count"),
        "{metrics}"
    );
    // The offer of a person is a real one.
    let yes = t.say("alice", "yes").await;
    assert!(yes.handoff.is_some(), "{}", yes.text);
}

#[tokio::test]
async fn a_500_is_said_honestly_in_french_and_nothing_is_done() {
    let (backend, url) = spawn_backend(SECRET).await;
    backend.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let t = live_bot(&url, SECRET, |_| {});
    let r = t
        .say_in("alice", "où est ma commande 4567 ?", Lang::Fr)
        .await;
    assert!(
        r.text
            .contains("Je n'arrive pas à joindre notre système de commandes"),
        "{}",
        r.text
    );
    let metrics = t.bot.fulfiller().unwrap().render_metrics();
    assert!(metrics.contains("outcome=\"status\""), "{metrics}");
}

#[tokio::test]
async fn the_breaker_opens_after_failures_and_closes_when_the_backend_is_back() {
    let (backend, url) = spawn_backend(SECRET).await;
    backend.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let t = live_bot(&url, SECRET, |f| {
        f.retries = 0;
        f.breaker_failures = 2;
        f.breaker_open_ms = 400;
    });
    for order in ["4567", "5521"] {
        t.say("alice", &format!("where is order {order}?")).await;
    }
    assert_eq!(backend.seen().len(), 2);
    let r = t.say("alice", "where is order 1234?").await;
    assert!(r.text.contains("can't reach"), "{}", r.text);
    assert_eq!(backend.seen().len(), 2, "open: not called");
    let metrics = t.bot.fulfiller().unwrap().render_metrics();
    assert!(metrics.contains("outcome=\"circuit_open\"} 1"), "{metrics}");
    assert!(
        metrics.contains("parcours_fulfillment_breaker_open{"),
        "{metrics}"
    );
    backend.set_faults(Faults::default());
    tokio::time::sleep(std::time::Duration::from_millis(450)).await;
    let r = t.say("alice", "where is order 4567?").await;
    assert!(r.text.contains("DHL"), "closed again: {}", r.text);
}

#[tokio::test]
async fn a_dead_backend_costs_nothing_to_conversations_that_do_not_need_it() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = live_bot(&format!("http://127.0.0.1:{port}/f"), SECRET, |_| {});
    let r = t.say("alice", "hi, what are your opening hours?").await;
    assert!(!r.text.contains("can't reach"), "{}", r.text);
    assert_eq!(
        t.bot
            .fulfiller()
            .unwrap()
            .render_metrics()
            .matches("outcome=")
            .count(),
        0,
        "no call made"
    );
    let r = t.say("alice", "where is order 4567?").await;
    assert!(r.text.contains("can't reach"), "{}", r.text);
}

#[tokio::test]
async fn without_a_url_the_imported_profile_answers_as_before() {
    let t = TestBot::new().with_alice();
    let r = t.say("alice", "where is order 4567?").await;
    assert!(r.text.contains("on its way"), "{}", r.text);
    assert!(t.bot.fulfiller().is_none());
}

#[tokio::test]
async fn twilio_callers_hear_a_filler_while_a_slow_lookup_runs_then_the_answer() {
    let (backend, url) = spawn_backend(SECRET).await;
    backend.set_faults(Faults {
        slow_next: 1,
        slow_ms: 1500,
        ..Faults::default()
    });
    let t = live_bot(&url, SECRET, |f| f.timeout_ms = 3000);
    let app = spawn_app_on(t, |_, _| {}).await;
    let call = [("CallSid", "CA_slow"), ("From", "+33612345678")];
    app.post_twilio(&call, None).await.text().await.unwrap();
    let mut turn = call.to_vec();
    turn.extend([
        ("SpeechResult", "where is order 4567"),
        ("Confidence", "0.93"),
    ]);
    let filler = app.post_twilio(&turn, None).await.text().await.unwrap();
    crate::helpers::assert_well_formed(&filler);
    assert!(
        filler.contains("One moment, I&apos;m checking."),
        "{filler}"
    );
    assert!(
        filler.contains("/webhook/twilio/pending</Redirect>"),
        "{filler}"
    );
    let answer = app
        .client
        .post(format!("{}/webhook/twilio/pending", app.addr))
        .form(&call)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    crate::helpers::assert_well_formed(&answer);
    assert!(answer.contains("DHL"), "{answer}");
    assert!(answer.contains("<Gather"), "{answer}");
}

#[tokio::test]
async fn secrets_and_url_credentials_never_reach_the_logs() {
    let (backend, _) = spawn_backend(SECRET).await;
    backend.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(backend.clone().serve(listener));
    let url = format!("http://ops:url-password-77@127.0.0.1:{port}/hook?token=query-token-88");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    crate::helpers::import_demo_customers(&data, &[]);
    let log = dir.path().join("stderr.log");
    let server = crate::helpers::ServeProcess::start(
        &data,
        &[
            ("PARCOURS_FULFILLMENT_URL", url.as_str()),
            ("PARCOURS_FULFILLMENT_SECRET", SECRET),
            ("RUST_LOG", "debug"),
        ],
        std::fs::File::create(&log).unwrap().into(),
    )
    .await;
    let r: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/webhook/voice", server.base))
        .json(&json!({"session_id": "S1", "user_id": "+33612345678", "transcript": "where is order 4567"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r["text"].as_str().unwrap().contains("can't reach"), "{r}");
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    drop(server);
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("fulfillment call failed"), "{logs}");
    for secret in [SECRET, "url-password-77", "query-token-88"] {
        assert!(!logs.contains(secret), "{secret} in the logs");
        assert!(!metrics.contains(secret), "{secret} in /metrics");
    }
    assert!(
        metrics.contains(&format!("url=\"http://127.0.0.1:{port}/hook\"")),
        "{metrics}"
    );
}

#[tokio::test]
async fn serve_refuses_a_fulfillment_url_without_its_secret() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_parcours"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .arg("--intents")
        .arg(crate::helpers::intents_dir())
        .env("PARCOURS_FULFILLMENT_URL", "http://127.0.0.1:9/f")
        .env_remove("PARCOURS_FULFILLMENT_SECRET")
        .env_remove("TELOXIDE_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PARCOURS_FULFILLMENT_SECRET"), "{err}");
}
