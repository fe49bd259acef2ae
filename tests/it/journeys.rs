//! One customer across channels, picked up where they left off, and the satisfaction report (issue 6).

use crate::helpers::{TestBot, spawn_app_configured};
use parcours::message::{Channel, Inbound, Lang};
use parcours::store::Outcome;
use parcours::time::Timestamp;
use serde_json::{Value, json};

async fn say(
    t: &TestBot,
    channel: Channel,
    user: &str,
    text: &str,
    at: Timestamp,
) -> parcours::message::Reply {
    let mut msg = Inbound::text(channel, user, text);
    msg.at = at;
    if channel.is_spoken() {
        msg.session = Some(format!("call-{}", at.0 / 3_600_000));
    }
    t.bot.handle(msg).await.unwrap()
}

#[tokio::test]
async fn a_caller_about_a_refund_who_links_telegram_is_greeted_by_name_and_asked_about_the_refund()
{
    let t = TestBot::new().with_alice();
    let day1 = Timestamp::parse("2026-11-22T09:00:00Z").unwrap();
    // Day 1, on the phone: a refund question that ends with a person.
    say(
        &t,
        Channel::Voice,
        "+33612345678",
        "hi, I'm calling about my refund",
        day1,
    )
    .await;
    let r = say(
        &t,
        Channel::Voice,
        "+33612345678",
        "this is useless, I want to talk to a human",
        day1.plus_ms(30_000),
    )
    .await;
    assert!(r.handoff.as_ref().is_some_and(|h| h.started), "{r:?}");
    // A person takes the call and closes it.
    t.bot
        .claim(&r.conversation_id, "Camille", day1.plus_ms(60_000))
        .await
        .unwrap();
    t.bot
        .close_by_staff(&r.conversation_id, "Camille", day1.plus_ms(300_000))
        .await
        .unwrap();
    let call = &t.store.touchpoints_of("cus_alice").unwrap()[0];
    assert_eq!(call.outcome, Some(Outcome::HandedOff));
    assert!(
        call.intents.contains(&"refund_status".to_string()),
        "{:?}",
        call.intents
    );

    // Day 2, a new Telegram user asks for a link code…
    let day2 = Timestamp::parse("2026-11-23T10:00:00Z").unwrap();
    let r = say(&t, Channel::Telegram, "tg-42", "/link", day2).await;
    let code: String = r
        .text
        .chars()
        .filter(char::is_ascii_digit)
        .take(6)
        .collect();
    assert_eq!(code.len(), 6, "{}", r.text);
    assert!(
        r.ssml
            .contains(&format!(r#"<say-as interpret-as="digits">{code}</say-as>"#))
    );
    // …and says it on the phone, where Alice is known: both identities are now one customer.
    let spoken: Vec<&str> = code
        .chars()
        .map(|c| {
            [
                "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
            ][c as usize - '0' as usize]
        })
        .collect();
    let r = say(
        &t,
        Channel::Voice,
        "+33612345678",
        &format!("my code is {}", spoken.join(" ")),
        day2.plus_ms(60_000),
    )
    .await;
    assert!(r.text.contains("linked"), "{}", r.text);
    let tg = parcours::store::Identity {
        channel: Channel::Telegram,
        id: "tg-42".into(),
    };
    let customer = t.store.customer_of(&tg).unwrap().unwrap();
    assert_eq!(customer.id, "cus_alice");

    // Journeys: voice then Telegram for Alice.
    let j = parcours::report::journeys(
        t.store.as_ref(),
        &Default::default(),
        t.bot.non_topic_intents(),
    )
    .await
    .unwrap();
    assert_eq!(j.channel_paths.get("voice>telegram"), Some(&1), "{j:?}");

    // The next message on Telegram: greeted by name, asked about the refund.
    let r = say(
        &t,
        Channel::Telegram,
        "tg-42",
        "hello",
        day2.plus_ms(40 * 60_000),
    )
    .await;
    assert!(r.text.contains("Alice"), "{}", r.text);
    assert!(
        r.text.contains("called us yesterday about your refund"),
        "{}",
        r.text
    );
    let r = say(
        &t,
        Channel::Telegram,
        "tg-42",
        "yes",
        day2.plus_ms(41 * 60_000),
    )
    .await;
    assert_eq!(r.intent.as_deref(), Some("affirm"));
    assert!(r.text.to_lowercase().contains("refund"), "{}", r.text);
    // Coming back about the refund within 7 days is a repeat contact.
    t.bot.close_idle(day2.plus_ms(3 * 3_600_000)).await.unwrap();
    let j = parcours::report::journeys(
        t.store.as_ref(),
        &Default::default(),
        t.bot.non_topic_intents(),
    )
    .await
    .unwrap();
    assert_eq!(j.repeats_by_intent.get("refund_status"), Some(&1), "{j:?}");
    assert!(j.repeat_contact_rate.unwrap() > 0.0);
}

#[tokio::test]
async fn a_wrong_or_expired_code_links_nothing() {
    let t = TestBot::new().with_alice();
    let now = Timestamp::now();
    let r = say(&t, Channel::Telegram, "tg-1", "/link", now).await;
    let code: String = r
        .text
        .chars()
        .filter(char::is_ascii_digit)
        .take(6)
        .collect();
    let late = now.plus_ms(11 * 60_000);
    let r = say(
        &t,
        Channel::Chat,
        "alice",
        &format!("my code is {code}"),
        late,
    )
    .await;
    assert!(r.text.contains("not valid"), "{}", r.text);
    let tg = parcours::store::Identity {
        channel: Channel::Telegram,
        id: "tg-1".into(),
    };
    assert_ne!(t.store.customer_of(&tg).unwrap().unwrap().id, "cus_alice");
}

#[tokio::test]
async fn a_nine_by_voice_and_a_french_trois_make_one_promoter_one_detractor_and_an_nps_of_zero() {
    let app = spawn_app_configured(|s, _| s.staff_token = Some("staff-secret".into())).await;
    let t = &app.test_bot;
    let alice = t.store.customer("cus_alice").unwrap().unwrap();
    let mut fresh = alice.clone();
    fresh.attributes.clear();
    t.store.put_customer(&fresh).unwrap();
    // English, by voice: resolved, rated "nine".
    for said in [
        "how many loyalty points do I have",
        "thanks, that's all",
        "yes",
        "nine",
    ] {
        app.post_voice(&json!({"session_id": "V9", "user_id": "+33612345678", "transcript": said, "locale": "en-US"}))
            .await;
    }
    // French, on chat, another customer: rated "trois".
    let mut at = Timestamp::now();
    for said in [
        "quels sont vos horaires d'ouverture le dimanche",
        "merci, au revoir",
        "non",
        // No person, thanks: the rating follows.
        "non merci",
        "trois",
        "plus de caisses",
    ] {
        let mut msg = Inbound::text(Channel::Chat, "zoe", said);
        msg.locale = Some(Lang::Fr);
        msg.at = at;
        at = at.plus_ms(1000);
        t.bot.handle(msg).await.unwrap();
    }
    let report: Value = app
        .staff_json("/api/reports/satisfaction", "staff-secret")
        .await;
    assert_eq!(report["responses"], 2, "{report}");
    assert_eq!(report["promoters"], 1);
    assert_eq!(report["detractors"], 1);
    assert_eq!(report["passives"], 0);
    assert_eq!(report["nps"], 0.0);
    assert_eq!(report["by_channel"]["voice"]["nps"], 100.0);
    assert_eq!(report["by_channel"]["chat"]["nps"], -100.0);
    assert_eq!(report["by_intent"]["opening_hours"]["detractors"], 1);
    // Zoé said "non" to "did that solve your problem?": her conversation does not count as resolved.
    assert_eq!(report["resolution_rate"], 0.5);

    // The same filtered by channel, and through the CLI's table.
    let voice: Value = app
        .client
        .get(format!(
            "{}/api/reports/satisfaction?channel=voice",
            app.addr
        ))
        .bearer_auth("staff-secret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(voice["responses"], 1);
}

#[tokio::test]
async fn the_staff_api_refuses_calls_without_the_token_and_lists_transcripts_with_it() {
    let app = spawn_app_configured(|s, _| s.staff_token = Some("staff-secret".into())).await;
    app.test_bot.say("alice", "where is order 4567").await;
    let url = format!("{}/api/conversations", app.addr);
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth("nope")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let list: Value = app
        .client
        .get(&url)
        .bearer_auth("staff-secret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = list["items"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(list["items"][0]["intents"], json!(["order_status"]));
    let tr: Value = app
        .client
        .get(format!("{url}/{id}"))
        .bearer_auth("staff-secret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tr["turns"][0]["speaker"], "customer");
    assert_eq!(tr["turns"][0]["intent"], "order_status");
    assert!(tr["turns"][0]["confidence"].is_number());
    let filtered: Value = app
        .client
        .get(format!("{url}?channel=telegram"))
        .bearer_auth("staff-secret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(filtered["items"], json!([]));
    let bad = app
        .client
        .get(format!("{url}?since=yesterday"))
        .bearer_auth("staff-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let profile: Value = app
        .staff_json("/api/customers/cus_alice", "staff-secret")
        .await;
    assert_eq!(profile["name"], "Alice Martin");
    assert_eq!(profile["identities"]["chat"], json!(["alice"]));
    assert_eq!(profile["touchpoints"][0]["id"], id);
}

#[tokio::test]
async fn the_staff_api_is_closed_when_no_token_is_configured() {
    let app = spawn_app_configured(|_, _| {}).await;
    let r = app
        .client
        .get(format!("{}/api/conversations", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn the_console_lists_newest_first_until_a_whole_day_and_rejects_a_bad_cursor() {
    let app = spawn_app_configured(|s, _| s.staff_token = Some("k".into())).await;
    let t = &app.test_bot;
    let day = Timestamp::parse("2026-11-23T08:00:00Z").unwrap();
    for (i, user) in ["u1", "u2", "u3"].iter().enumerate() {
        say(
            t,
            Channel::Chat,
            user,
            "what are your opening hours",
            day.plus_ms(i as u64 * 3_600_000),
        )
        .await;
    }
    let get = |q: &str| {
        let url = format!("{}/api/conversations?{q}", app.addr);
        let c = app.client.clone();
        async move { c.get(url).bearer_auth("k").send().await.unwrap() }
    };
    let page: Value = get("since=2026-11-23&until=2026-11-23&limit=2")
        .await
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{page}");
    assert!(
        items[0]["started_at"].as_str() > items[1]["started_at"].as_str(),
        "newest first: {page}"
    );
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let rest: Value = get(&format!(
        "since=2026-11-23&until=2026-11-23&cursor={cursor}"
    ))
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(get("cursor=garbage").await.status(), 400);
    assert_eq!(get("limit=0").await.status(), 400);
    let all: Value = get("limit=100000").await.json().await.unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 3, "{all}");
}

#[tokio::test]
async fn a_stray_word_does_not_switch_the_conversation_language() {
    let t = TestBot::new().with_alice();
    let r = t.say("alice", "where is my order?").await;
    assert_eq!(r.lang, Lang::En);
    let r = t.say("alice", "<script>alert(1)</script>").await;
    assert_eq!(r.lang, Lang::En, "{}", r.text);
    let r = t
        .say(
            "alice",
            "bonjour, je voudrais plutôt savoir où en est mon remboursement",
        )
        .await;
    assert_eq!(r.lang, Lang::Fr, "{}", r.text);
}

#[tokio::test]
async fn a_caller_id_on_the_voice_webhook_finds_the_customer_known_by_that_number() {
    let t = TestBot::new().with_alice();
    let r = say(
        &t,
        Channel::Voice,
        "+33698765432",
        "hello",
        Timestamp::now(),
    )
    .await;
    assert!(!r.text.contains("Alice"));
    t.store
        .link(
            &parcours::store::Identity {
                channel: Channel::Twilio,
                id: "+33611112222".into(),
            },
            "cus_alice",
        )
        .unwrap();
    let r = say(
        &t,
        Channel::Voice,
        "+33611112222",
        "hello",
        Timestamp::now(),
    )
    .await;
    assert!(r.text.contains("Alice"), "{}", r.text);
}
