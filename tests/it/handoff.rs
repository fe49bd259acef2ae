//! A way to a human that reaches one (issue 15): the owner of a conversation, the queue, staff
//! actions on every channel, hours, a restart in the middle.

use crate::helpers::{TestBot, alexa_request};
use parcours::config::Settings;
use parcours::handoff::StaffMember;
use parcours::message::{Channel, Inbound};
use parcours::store::sled_store::SledStore;
use parcours::store::{Owner, ProfileStore, Speaker};
use parcours::time::Timestamp;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

fn staffed() -> Settings {
    Settings {
        staff: vec![
            StaffMember {
                name: "Camille".into(),
                token: "camille-token".into(),
            },
            StaffMember {
                name: "Hugo".into(),
                token: "hugo-token".into(),
            },
        ],
        ..Settings::default()
    }
}

fn owner_of(t: &TestBot, id: &str) -> Owner {
    t.store.touchpoint(id).unwrap().unwrap().owner
}

/// The customer asks for a person: the conversation stays open in the queue, the bot goes silent, a
/// person's replies reach the customer with their name, and handing back brings the bot again.
#[tokio::test]
async fn a_handoff_is_a_queue_a_person_and_a_hand_back() {
    let t = TestBot::with_settings(staffed()).with_alice();
    let r = t.say("alice", "I want to talk to a human").await;
    assert!(r.text.contains("number 1"), "{}", r.text);
    assert!(!r.end, "a handoff no longer ends the conversation");
    assert_eq!(
        r.quick_replies.len(),
        3,
        "keep waiting, call me back, back to the assistant"
    );
    let id = r.conversation_id.clone();
    assert!(matches!(owner_of(&t, &id), Owner::Waiting { .. }));
    let queue = t.bot.queue(Timestamp::now()).await.unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].position, Some(1));

    // While waiting, what the customer writes goes to the queue; the bot does not answer it.
    let r = t.say("alice", "where is my order 4567").await;
    assert_eq!(r.text, "", "the bot stays silent while a person is awaited");
    assert_eq!(r.conversation_id, id);
    let r = t.say("alice", "asdfgh qwerty").await;
    assert_eq!(r.text, "", "no fallback either");
    let r = t.say("alice", "Keep waiting").await;
    assert!(r.text.contains("number 1"), "{}", r.text);

    t.bot.claim(&id, "Camille", Timestamp::now()).await.unwrap();
    assert!(matches!(owner_of(&t, &id), Owner::Staff { ref name, .. } if name == "Camille"));
    t.bot
        .staff_reply(
            &id,
            "Camille",
            "Your parcel left our warehouse today.",
            false,
            Timestamp::now(),
        )
        .await
        .unwrap();
    t.bot
        .staff_reply(
            &id,
            "Camille",
            "customer seems fine",
            true,
            Timestamp::now(),
        )
        .await
        .unwrap();
    // The chat channel cannot be written to unasked: what people said comes with the next turn.
    let r = t.say("alice", "ok thanks, anything else?").await;
    assert!(r.text.contains("Camille from support joined"), "{}", r.text);
    assert!(
        r.text
            .contains("Camille: Your parcel left our warehouse today."),
        "{}",
        r.text
    );
    assert!(
        !r.text.contains("seems fine"),
        "a private note never reaches the customer"
    );
    let r = t.say("alice", "hello?").await;
    assert_eq!(r.text, "", "the bot says nothing while Camille has it");

    t.bot
        .release(
            &id,
            "Camille",
            Some("answered the delivery question"),
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!(owner_of(&t, &id), Owner::Bot);
    let r = t.say("alice", "where is my order 4567").await;
    assert!(
        r.text
            .contains("Camille has left; I'm the assistant again."),
        "{}",
        r.text
    );
    assert!(r.text.contains("4567"), "the bot answers again: {}", r.text);

    let tp = t.store.touchpoint(&id).unwrap().unwrap();
    assert_eq!(tp.handled_by.as_deref(), Some("Camille"));
    let lines: Vec<String> = tp
        .turns
        .iter()
        .filter(|x| x.speaker == Speaker::System)
        .map(|x| x.text.clone())
        .collect();
    assert!(lines.iter().any(|l| l.contains("handed off")), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Camille took the conversation")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("note: customer seems fine")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("gave the conversation back to the bot: answered")),
        "{lines:?}"
    );
    let staff_turn = tp
        .turns
        .iter()
        .find(|x| x.speaker == Speaker::Staff)
        .unwrap();
    assert_eq!(staff_turn.author.as_deref(), Some("Camille"));
    assert!(t.bot.queue(Timestamp::now()).await.unwrap().is_empty());

    // Reports: the handoff, its wait, and who answered.
    let report = parcours::report::satisfaction(
        t.store.as_ref(),
        &parcours::report::Filter::default(),
        t.bot.non_topic_intents(),
    )
    .await
    .unwrap();
    assert_eq!(report.handoffs.handoffs, 1);
    assert_eq!(report.handoffs.handoff_rate, Some(1.0));
    assert!(report.handoffs.wait_median_seconds.is_some());
    assert_eq!(report.handoffs.abandoned_waiting, 0);
    assert_eq!(report.handoffs.by_answerer["person"].conversations, 1);
}

/// Back to the assistant, or a call back, while waiting; a waiting customer is never timed out.
#[tokio::test]
async fn a_waiting_customer_chooses_and_is_never_timed_out() {
    let t = TestBot::new();
    let r = t.say("zoe", "can I speak to a person").await;
    let id = r.conversation_id;
    assert!(
        t.bot
            .close_idle(Timestamp::now().plus_ms(3 * 3_600_000))
            .await
            .unwrap()
            == 0
    );
    assert!(matches!(owner_of(&t, &id), Owner::Waiting { .. }));
    // Nobody can call a chat user with no number: the request stays, answered here.
    let r = t.say("zoe", "call me back").await;
    assert!(r.text.contains("stays with our team"), "{}", r.text);
    assert!(matches!(
        owner_of(&t, &id),
        Owner::Waiting {
            callback: false,
            ..
        }
    ));
    let r = t.say("zoe", "Back to the assistant").await;
    assert!(r.text.contains("assistant again"), "{}", r.text);
    assert_eq!(owner_of(&t, &id), Owner::Bot);
    let r = t.say("zoe", "where are your stores").await;
    assert!(!r.text.is_empty(), "the bot answers again");
}

/// The owner and the queue are in the store: a restart in the middle of a handoff loses neither.
#[tokio::test]
async fn a_restart_keeps_the_owner_and_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let pack = parcours::intents::IntentPack::load(&crate::helpers::intents_dir()).unwrap();
    let id = {
        let store: Arc<dyn ProfileStore> = Arc::new(SledStore::open(dir.path()).unwrap());
        let bot = parcours::bot::Bot::new(pack.clone(), staffed(), store.clone());
        let r = bot
            .handle(Inbound::text(Channel::Chat, "u1", "human please"))
            .await
            .unwrap();
        bot.handle(Inbound::text(
            Channel::Chat,
            "u2",
            "I want to talk to an agent",
        ))
        .await
        .unwrap();
        bot.claim(&r.conversation_id, "Hugo", Timestamp::now())
            .await
            .unwrap();
        store.flush_now().await.unwrap();
        r.conversation_id
    };
    let store: Arc<dyn ProfileStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    let bot = parcours::bot::Bot::new(pack, staffed(), store.clone());
    let queue = bot.queue(Timestamp::now()).await.unwrap();
    assert_eq!(queue.len(), 2, "{queue:?}");
    let mine = queue.iter().find(|q| q.id == id).unwrap();
    assert!(matches!(&mine.owner, Owner::Staff { name, .. } if name == "Hugo"));
    let other = queue.iter().find(|q| q.id != id).unwrap();
    assert_eq!(other.position, Some(1));
    let r = bot
        .handle(Inbound::text(Channel::Chat, "u1", "still there?"))
        .await
        .unwrap();
    assert_eq!(
        r.text, "Hugo from support joined.",
        "Hugo still has it after the restart: only what people said"
    );
    assert_eq!(r.conversation_id, id);
}

/// Out of hours, the customer is told when people are back and the request is kept as a ticket;
/// nobody claiming in time is said honestly too.
#[tokio::test]
async fn out_of_hours_and_unclaimed_handoffs_are_said_honestly() {
    let mut s = Settings::default();
    s.handoff.hours = Some(parcours::handoff::Hours {
        time_zone: None,
        utc_offset: "+00:00".into(),
        days: vec![],
        open: "09:00".into(),
        close: "18:00".into(),
        holidays: vec![],
    });
    let t = TestBot::with_settings(s);
    let r = t.say("night", "I want to talk to a human").await;
    assert!(r.text.contains("isn't available right now"), "{}", r.text);
    assert!(matches!(
        owner_of(&t, &r.conversation_id),
        Owner::Waiting { ticket: true, .. }
    ));

    let mut s = Settings::default();
    s.handoff.claim_timeout_minutes = 1;
    let t = TestBot::with_settings(s);
    let mut msg = Inbound::text(Channel::Voice, "+33600000001", "talk to an agent");
    msg.session = Some("call-1".into());
    let r = t.bot.handle(msg).await.unwrap();
    let id = r.conversation_id;
    assert_eq!(
        r.handoff.as_ref().map(|h| h.state.as_str()),
        Some("waiting")
    );
    t.bot
        .tend_queue(Timestamp::now().plus_ms(2 * 60_000))
        .await
        .unwrap();
    assert!(matches!(
        owner_of(&t, &id),
        Owner::Waiting { ticket: true, .. }
    ));
    let mut msg = Inbound::text(Channel::Voice, "+33600000001", "");
    msg.session = Some("call-1".into());
    let r = t.bot.handle(msg).await.unwrap();
    assert!(
        r.text.contains("nobody from the team is free yet"),
        "{}",
        r.text
    );
}

/// The staff API: queue, claim, reply, a conflict, transfer, release, with staff named by token, and
/// the events the console listens to.
#[tokio::test]
async fn the_staff_api_runs_a_handoff_and_streams_its_events() {
    let test_bot = TestBot::with_settings(staffed()).with_alice();
    let app = crate::helpers::spawn_app_on(test_bot, |_, _| {}).await;
    let post = |path: String, token: &'static str, body: Value| {
        let c = app.client.clone();
        let url = format!("{}{path}", app.addr);
        async move {
            c.post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    // Listen first.
    let mut events = app
        .client
        .get(format!("{}/api/events", app.addr))
        .bearer_auth("camille-token")
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    assert!(
        events.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );

    let r = app
        .post_voice(&json!({"session_id": "c1", "user_id": "+33612345678", "transcript": "I need a real person"}))
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["handoff"]["state"], "waiting", "{v}");
    assert_eq!(v["handoff"]["position"], 1, "{v}");
    assert_eq!(v["end_session"], false);
    let id = v["conversation_id"].as_str().unwrap().to_string();

    let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), events.chunk())
        .await
        .expect("an event within 5 s")
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&chunk);
    assert!(text.contains("event: handoff"), "{text}");
    assert!(text.contains(&id), "{text}");

    let metrics = app
        .client
        .get(format!("{}/metrics", app.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("parcours_queue_waiting{channel=\"voice\"} 1"),
        "{metrics}"
    );
    let q = app.staff_json("/api/queue", "hugo-token").await;
    assert_eq!(q["items"][0]["id"], id.as_str(), "{q}");
    assert_eq!(q["items"][0]["channel"], "voice");
    assert_eq!(q["items"][0]["summary"].as_array().unwrap().len(), 3);

    let r = post(
        format!("/api/conversations/{id}/claim"),
        "camille-token",
        json!({}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = post(
        format!("/api/conversations/{id}/claim"),
        "hugo-token",
        json!({}),
    )
    .await;
    assert_eq!(r.status(), 409, "Camille has it");
    let r = post(
        format!("/api/conversations/{id}/messages"),
        "camille-token",
        json!({"text": "Hello, I'm <b>Camille</b>. Let me look."}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = post(
        format!("/api/conversations/{id}/messages"),
        "camille-token",
        json!({"text": "  "}),
    )
    .await;
    assert_eq!(r.status(), 422);

    // The caller's next turn says what Camille wrote, escaped in the SSML.
    let v: Value = app
        .post_voice(&json!({"session_id": "c1", "user_id": "+33612345678", "transcript": "hello?"}))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        v["text"]
            .as_str()
            .unwrap()
            .contains("Camille: Hello, I'm <b>Camille</b>."),
        "{v}"
    );
    assert!(v["ssml"].as_str().unwrap().contains("&lt;b&gt;"), "{v}");
    assert_eq!(v["handoff"]["state"], "staff");
    assert_eq!(v["handoff"]["staff"], "Camille");

    let r = post(
        format!("/api/conversations/{id}/transfer"),
        "camille-token",
        json!({"to": "Nobody"}),
    )
    .await;
    assert_eq!(r.status(), 422);
    let r = post(
        format!("/api/conversations/{id}/transfer"),
        "camille-token",
        json!({"to": "Hugo"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    // Only the person who has it releases or closes it.
    for action in ["release", "close"] {
        let r = post(
            format!("/api/conversations/{id}/{action}"),
            "camille-token",
            json!({}),
        )
        .await;
        assert_eq!(r.status(), 409, "{action} by someone who does not have it");
    }
    let r = post(
        format!("/api/conversations/{id}/release"),
        "hugo-token",
        json!({"note": "done"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = post(
        format!("/api/conversations/{id}/release"),
        "hugo-token",
        json!({}),
    )
    .await;
    assert_eq!(r.status(), 409, "already the bot's");
    let r = post(
        "/api/conversations/tp_nope/claim".into(),
        "hugo-token",
        json!({}),
    )
    .await;
    assert_eq!(r.status(), 404);
    let r = post(format!("/api/conversations/{id}/claim"), "wrong", json!({})).await;
    assert_eq!(r.status(), 401);

    let tp = app
        .staff_json(&format!("/api/conversations/{id}"), "hugo-token")
        .await;
    let turns = tp["turns"].as_array().unwrap();
    assert!(
        turns
            .iter()
            .any(|t| t["speaker"] == "staff" && t["author"] == "Camille"),
        "{tp}"
    );
    assert!(
        turns.iter().any(|t| t["speaker"] == "system"
            && t["text"]
                .as_str()
                .unwrap()
                .contains("Camille passed the conversation to Hugo")),
        "{tp}"
    );
}

/// Alexa cannot transfer: the customer is given a reference and hears the reply next time.
#[tokio::test]
async fn alexa_gives_a_reference_and_reads_the_reply_next_time() {
    let test_bot = TestBot::with_settings(staffed()).with_alice();
    let app = crate::helpers::spawn_app_on(test_bot, |_, _| {}).await;
    const ALICE: &str = "amzn1.ask.account.ALICE";
    let r: Value = app
        .post_alexa(&alexa_request(
            "IntentRequest",
            ALICE,
            "S1",
            Some(("CatchAllIntent", Some("let me talk to a person"))),
        ))
        .await
        .json()
        .await
        .unwrap();
    let said = r["response"]["outputSpeech"]["ssml"].as_str().unwrap();
    assert!(said.contains("Your reference is tp_"), "{said}");
    assert_eq!(r["response"]["shouldEndSession"], true);
    let id = app.staff_json("/api/queue", "camille-token").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.test_bot
        .bot
        .staff_reply(
            &id,
            "Camille",
            "Your refund was sent on Monday.",
            false,
            Timestamp::now(),
        )
        .await
        .unwrap();
    let r: Value = app
        .post_alexa(&alexa_request("LaunchRequest", ALICE, "S2", None))
        .await
        .json()
        .await
        .unwrap();
    let said = r["response"]["outputSpeech"]["ssml"].as_str().unwrap();
    assert!(
        said.contains("Camille: Your refund was sent on Monday."),
        "{said}"
    );
}

/// Twilio with a staff phone: the caller waits in a queue of their own (told their place, offered a
/// call back on the keypad), the staff phone is called and hears the summary before the bridge.
#[tokio::test]
async fn twilio_queues_the_caller_and_calls_the_staff_phone_with_a_whisper() {
    // A fake Twilio REST API that records the calls it is asked to place.
    let placed: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = placed.clone();
    let api = axum::Router::new().route(
        "/2010-04-01/Accounts/{sid}/Calls.json",
        axum::routing::post(move |body: String| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(body);
                (
                    axum::http::StatusCode::CREATED,
                    axum::Json(json!({"sid": "CA_staff"})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, api).await.unwrap() });

    let mut settings = staffed();
    settings.handoff.staff_phone = Some("+33100000000".into());
    settings.handoff.staff_phone_name = Some("Hugo".into());
    let test_bot = TestBot::with_settings(settings).with_alice();
    let app = crate::helpers::spawn_app_on(test_bot, move |s, _| {
        s.twilio_dialer = Some(Arc::new(parcours::channel::twilio::Dialer::new(
            &api_url,
            "AC_test",
            "secret",
            Some("+33199999999"),
        )));
    })
    .await;
    let caller = [
        ("CallSid", "CA1"),
        ("From", "+33612345678"),
        ("To", "+33188888888"),
    ];
    app.post_twilio(&caller, None).await;
    let mut fields = caller.to_vec();
    fields.push(("SpeechResult", "I want to speak to an agent"));
    let twiml = app.post_twilio(&fields, None).await.text().await.unwrap();
    crate::helpers::assert_well_formed(&twiml);
    assert!(
        twiml.contains("<Enqueue waitUrl=\"/webhook/twilio/wait?conversation=tp_"),
        "{twiml}"
    );
    let id = twiml
        .split("conversation=")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    // The staff phone is called, pointed at the agent TwiML.
    for _ in 0..50 {
        if !placed.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let call = placed
        .lock()
        .unwrap()
        .first()
        .cloned()
        .expect("a call to the staff phone");
    assert!(call.contains("To=%2B33100000000"), "{call}");
    assert!(call.contains("From=%2B33199999999"), "{call}");
    assert!(
        call.contains("webhook%2Ftwilio%2Fagent%3Fconversation%3D"),
        "{call}"
    );

    let post_to = |path: String, form: Vec<(&'static str, &'static str)>| {
        let c = app.client.clone();
        let url = format!("{}{path}", app.addr);
        async move {
            c.post(url)
                .form(&form)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let wait = post_to(
        format!("/webhook/twilio/wait?conversation={id}"),
        vec![("CallSid", "CA1")],
    )
    .await;
    crate::helpers::assert_well_formed(&wait);
    assert!(wait.contains("number 1 in the queue"), "{wait}");
    assert!(wait.contains("press 1"), "{wait}");
    let agent = post_to(
        format!("/webhook/twilio/agent?conversation={id}"),
        vec![("CallSid", "CA_staff")],
    )
    .await;
    assert!(
        agent.contains(&format!(
            "<Queue url=\"/webhook/twilio/whisper?conversation={id}\">{id}</Queue>"
        )),
        "{agent}"
    );
    let whisper = post_to(
        format!("/webhook/twilio/whisper?conversation={id}"),
        vec![("CallSid", "CA_staff")],
    )
    .await;
    assert!(
        whisper.contains("A customer is waiting. Wants:"),
        "{whisper}"
    );
    assert!(matches!(
        app.test_bot.store.touchpoint(&id).unwrap().unwrap().owner,
        Owner::Staff { ref name, .. } if name == "Hugo"
    ));

    // Another caller presses 1 while waiting: a call back, and the call ends politely.
    let other = [
        ("CallSid", "CA2"),
        ("From", "+33655555555"),
        ("To", "+33188888888"),
    ];
    app.post_twilio(&other, None).await;
    let mut f = other.to_vec();
    f.push(("SpeechResult", "human please"));
    let twiml = app.post_twilio(&f, None).await.text().await.unwrap();
    let id2 = twiml
        .split("conversation=")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let key = post_to(
        format!("/webhook/twilio/wait-key?conversation={id2}"),
        vec![("CallSid", "CA2"), ("Digits", "1")],
    )
    .await;
    assert!(
        key.contains("call you back") && key.contains("<Hangup/>"),
        "{key}"
    );
    assert!(matches!(
        app.test_bot.store.touchpoint(&id2).unwrap().unwrap().owner,
        Owner::Waiting { callback: true, .. }
    ));
}

/// Without a staff phone, a caller stays on the line: staff type, and the caller hears it next turn.
#[tokio::test]
async fn twilio_without_a_phone_speaks_the_typed_replies() {
    let app =
        crate::helpers::spawn_app_on(TestBot::with_settings(staffed()).with_alice(), |_, _| {})
            .await;
    let caller = [("CallSid", "CA9"), ("From", "+33612345678")];
    app.post_twilio(&caller, None).await;
    let mut f = caller.to_vec();
    f.push(("SpeechResult", "talk to a human"));
    let twiml = app.post_twilio(&f, None).await.text().await.unwrap();
    assert!(twiml.contains("<Gather"), "the call goes on: {twiml}");
    assert!(twiml.contains("connecting you to a person"), "{twiml}");
    let id = app.staff_json("/api/queue", "camille-token").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.test_bot
        .bot
        .staff_reply(
            &id,
            "Camille",
            "I can see your order & it ships today.",
            false,
            Timestamp::now(),
        )
        .await
        .unwrap();
    let mut f = caller.to_vec();
    f.push(("SpeechResult", "hello"));
    let twiml = app.post_twilio(&f, None).await.text().await.unwrap();
    crate::helpers::assert_well_formed(&twiml);
    assert!(
        twiml.contains("Camille: I can see your order &amp; it ships today."),
        "{twiml}"
    );
}

/// Every handoff and change of owner is posted to the webhook, signed.
#[tokio::test]
async fn the_handoff_webhook_is_told_and_signed() {
    let got: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
    let seen = got.clone();
    let hook = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                let h = |n: &str| {
                    headers
                        .get(n)
                        .map(|v| v.to_str().unwrap().to_string())
                        .unwrap_or_default()
                };
                seen.lock().unwrap().push((
                    h("x-parcours-timestamp"),
                    h("x-parcours-signature"),
                    body,
                ));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, hook).await.unwrap() });
    let mut s = staffed();
    s.handoff.webhook_url = Some(url);
    let t = TestBot::with_settings(s);
    parcours::handoff::spawn_webhook(&t.bot, Some("whsec".into()));
    let r = t.say("zoe", "I want to talk to a human").await;
    t.bot
        .claim(&r.conversation_id, "Hugo", Timestamp::now())
        .await
        .unwrap();
    for _ in 0..50 {
        if got.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let got = got.lock().unwrap().clone();
    assert!(got.len() >= 2, "{got:?}");
    let kinds: Vec<String> = got
        .iter()
        .map(|(_, _, b)| {
            serde_json::from_str::<Value>(b).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(&kinds[..2], &["handoff", "claimed"]);
    for (ts, sig, body) in &got {
        let expected = parcours::handoff::signature("whsec", ts.parse().unwrap(), body.as_bytes());
        assert_eq!(sig, &expected);
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
    }
}

/// A conversation closed by staff right after a reply: the caller, who cannot be written to unasked,
/// hears the reply and that it is closed on their next call; and a customer can always leave a person
/// for the assistant.
#[tokio::test]
async fn nothing_said_is_lost_at_a_close_and_nobody_is_trapped() {
    let t = TestBot::with_settings(staffed()).with_alice();
    let voice = |text: &str, session: &str| {
        let mut m = Inbound::text(Channel::Voice, "+33612345678", text);
        m.session = Some(session.into());
        m
    };
    let r = t.bot.handle(voice("talk to a human", "c1")).await.unwrap();
    let id = r.conversation_id;
    t.bot
        .staff_reply(
            &id,
            "Hugo",
            "Your refund of 20 euros is done.",
            false,
            Timestamp::now(),
        )
        .await
        .unwrap();
    t.bot
        .close_by_staff(&id, "Hugo", Timestamp::now())
        .await
        .unwrap();
    let r = t.bot.handle(voice("ok thanks", "c2")).await.unwrap();
    assert_ne!(r.conversation_id, id);
    assert!(
        r.text.contains("Hugo: Your refund of 20 euros is done."),
        "{}",
        r.text
    );
    assert!(r.text.contains("This conversation is closed"), "{}", r.text);
    assert!(t.store.touchpoint(&id).unwrap().unwrap().outbox.is_empty());

    let r = t.say("alice", "I want to talk to a human").await;
    let id = r.conversation_id;
    t.bot.claim(&id, "Camille", Timestamp::now()).await.unwrap();
    let r = t.say("alice", "I'd rather talk to the bot again").await;
    assert!(r.text.contains("assistant again"), "{}", r.text);
    assert_eq!(owner_of(&t, &id), Owner::Bot);
}

/// A channel that writes unasked (as Telegram does), recording what it was asked to send.
#[derive(Default)]
struct FakeOutlet(Mutex<Vec<(String, String)>>);

impl parcours::handoff::Outlet for FakeOutlet {
    fn deliver<'a>(
        &'a self,
        user: &'a str,
        text: &'a str,
        _buttons: &'a [String],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        self.0.lock().unwrap().push((user.into(), text.into()));
        Box::pin(async { Ok(()) })
    }

    fn typing<'a>(
        &'a self,
        _user: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(async {})
    }
}

/// A waiting customer's place is sent when it changes, at most once a minute, and not again when it
/// has not changed.
#[tokio::test]
async fn position_news_is_sent_when_it_changes_at_most_once_a_minute() {
    let t = TestBot::with_settings(staffed());
    let outlet = Arc::new(FakeOutlet::default());
    t.bot.desk().set_outlet(Channel::Chat, outlet.clone());
    let now = Timestamp::now();
    let first = t.say_at("u1", "I want to talk to a human", now).await;
    let second = t.say_at("u2", "I want to talk to a human", now).await;
    assert!(second.text.contains("number 2"), "{}", second.text);
    t.bot
        .claim(&first.conversation_id, "Hugo", now)
        .await
        .unwrap();
    let to_u2 = |o: &FakeOutlet| {
        o.0.lock()
            .unwrap()
            .iter()
            .filter(|(u, _)| u == "u2")
            .map(|(_, m)| m.clone())
            .collect::<Vec<_>>()
    };
    t.bot.tend_queue(now.plus_ms(30_000)).await.unwrap();
    assert!(
        to_u2(&outlet).is_empty(),
        "news within the minute: {:?}",
        to_u2(&outlet)
    );
    t.bot.tend_queue(now.plus_ms(61_000)).await.unwrap();
    assert_eq!(to_u2(&outlet), ["You're now number 1 in the queue."]);
    t.bot.tend_queue(now.plus_ms(125_000)).await.unwrap();
    assert_eq!(to_u2(&outlet).len(), 1, "the same place is not said again");
}

/// "Forget it, where is my order 4567" while waiting, or with a person: the customer leaves the
/// queue, staff see them leave, and the question is answered in the same turn.
#[tokio::test]
async fn leaving_the_queue_with_a_question_answers_it_and_tells_the_desk() {
    let t = TestBot::with_settings(staffed()).with_alice();
    let mut events = t.bot.desk().subscribe();
    let r = t.say("alice", "I want to talk to a person").await;
    let id = r.conversation_id.clone();
    assert!(matches!(owner_of(&t, &id), Owner::Waiting { .. }));
    let r = t.say("alice", "forget it, where is my order 4567").await;
    assert!(r.text.contains("assistant again"), "{}", r.text);
    assert!(r.text.contains("4567"), "{}", r.text);
    assert!(!r.text.contains("How can I help"), "{}", r.text);
    assert_eq!(r.conversation_id, id);
    assert_eq!(owner_of(&t, &id), Owner::Bot);
    assert!(t.bot.queue(Timestamp::now()).await.unwrap().is_empty());
    let mut kinds = Vec::new();
    while let Ok(e) = events.try_recv() {
        kinds.push(e.kind);
    }
    assert_eq!(kinds, ["handoff", "cancelled"]);
    let tp = t.store.touchpoint(&id).unwrap().unwrap();
    assert!(
        tp.turns
            .iter()
            .any(|turn| turn.text == "the customer went back to the assistant")
    );

    // "Forget it" alone, or the button, still asks what the customer wants (the button's words are
    // no complaint).
    for leaving in ["forget it", "Back to the assistant"] {
        t.say("alice", "I want to talk to a person").await;
        let r = t.say("alice", leaving).await;
        assert!(r.text.contains("How can I help"), "{leaving}: {}", r.text);
        assert!(!r.text.contains("complaint"), "{leaving}: {}", r.text);
    }
}
