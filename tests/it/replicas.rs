//! Two `parcours serve` replicas on one PostgreSQL database: turns of many concurrent conversations sent
//! to both in turn are each stored once, in order, with the conversation's state carried from one
//! replica to the other; a replica killed with SIGKILL under load loses no acknowledged turn. Skipped,
//! saying so, without `PARCOURS_TEST_DATABASE_URL`.

use crate::helpers::ServeProcess;
use crate::store_suite::Schema;
use serde_json::json;
use std::collections::BTreeMap;

const CONVERSATIONS: usize = 24;

fn migrate(url: &str) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_parcours"))
        .args(["migrate", "--store", url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn replica(url: &str, dir: &std::path::Path) -> ServeProcess {
    let server = ServeProcess::start(
        dir,
        &[("PARCOURS_DATABASE_URL", url)],
        std::process::Stdio::null(),
    )
    .await;
    let up = reqwest::get(format!("{}/healthz", server.base)).await;
    assert!(
        up.is_ok_and(|r| r.status().is_success()),
        "a replica did not start"
    );
    server
}

async fn say(
    client: &reqwest::Client,
    base: &str,
    user: &str,
    text: &str,
) -> Option<serde_json::Value> {
    let r = client
        .post(format!("{base}/webhook/voice"))
        .json(&json!({ "session_id": format!("call-{user}"), "user_id": user, "transcript": text }))
        .send()
        .await
        .map_err(|e| eprintln!("{user} {text:?}: {e}"))
        .ok()?;
    if !r.status().is_success() {
        eprintln!(
            "{user} {text:?}: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
        return None;
    }
    r.json().await.ok()
}

/// Every stored turn of the schema, by conversation, in sequence order: (speaker, text, intent).
async fn stored(url: &str) -> BTreeMap<String, Vec<(String, String, Option<String>)>> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let rows = client
        .query(
            "SELECT c.user_id, t.turn->>'speaker', t.turn->>'text', t.turn->>'intent'
             FROM turns t JOIN conversations c ON c.id = t.conversation_id
             ORDER BY c.user_id, c.started_at, t.seq",
            &[],
        )
        .await
        .unwrap();
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for r in rows {
        out.entry(r.get(0))
            .or_default()
            .push((r.get(1), r.get(2), r.get(3)));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_store_every_turn_once_in_order_and_share_the_state() {
    let Some(schema) =
        Schema::new("two_replicas_store_every_turn_once_in_order_and_share_the_state").await
    else {
        return;
    };
    migrate(&schema.url);
    let dir = tempfile::tempdir().unwrap();
    let (da, db) = (dir.path().join("a"), dir.path().join("b"));
    let (a, b) = tokio::join!(replica(&schema.url, &da), replica(&schema.url, &db));
    let bases = [a.base.clone(), b.base.clone()];
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for n in 0..CONVERSATIONS {
        let (client, bases) = (client.clone(), bases.clone());
        tasks.push(tokio::spawn(async move {
            let user = format!("+3369900{n:04}");
            // Each turn goes to the other replica than the one before.
            let first = n % 2;
            let script = ["hi", "where is my order?", "four five six seven"];
            for (i, text) in script.iter().enumerate() {
                let base = &bases[(first + i) % 2];
                say(&client, base, &user, text)
                    .await
                    .expect("a turn answered");
            }
            // A double text: two messages at once, one to each replica.
            let (x, y) = tokio::join!(
                say(&client, &bases[0], &user, "hello?"),
                say(&client, &bases[1], &user, "anyone there?")
            );
            assert!(x.is_some() && y.is_some());
            user
        }));
    }
    let mut users = Vec::new();
    for t in tasks {
        users.push(t.await.unwrap());
    }
    let all = stored(&schema.url).await;
    for user in &users {
        let turns = all
            .get(user)
            .unwrap_or_else(|| panic!("{user} has no stored turns"));
        let customer: Vec<&str> = turns
            .iter()
            .filter(|t| t.0 == "customer")
            .map(|t| t.1.as_str())
            .collect();
        assert_eq!(
            customer.len(),
            5,
            "{user}: every turn stored once: {customer:?}"
        );
        assert_eq!(
            &customer[..3],
            ["hi", "where is my order?", "four five six seven"],
            "{user}: in order"
        );
        let mut last_two = customer[3..].to_vec();
        last_two.sort();
        assert_eq!(last_two, ["anyone there?", "hello?"]);
        // Each customer turn is followed by the bot's answer to it: the turns were not interleaved.
        for pair in turns.chunks(2) {
            assert_eq!(pair[0].0, "customer", "{user}: {turns:?}");
            assert_eq!(
                pair.get(1).map(|t| t.0.as_str()),
                Some("bot"),
                "{user}: {turns:?}"
            );
        }
        // The number, sent to the other replica, answered the question asked by the first: the
        // conversation's state went with it.
        assert_eq!(
            turns[5].2.as_deref(),
            Some("order_status"),
            "{user}: {turns:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_under_load_loses_no_acknowledged_turn() {
    let Some(schema) = Schema::new("a_replica_killed_under_load_loses_no_acknowledged_turn").await
    else {
        return;
    };
    migrate(&schema.url);
    let dir = tempfile::tempdir().unwrap();
    let (da, db) = (dir.path().join("a"), dir.path().join("b"));
    let (mut a, b) = tokio::join!(replica(&schema.url, &da), replica(&schema.url, &db));
    let bases = [a.base.clone(), b.base.clone()];
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for n in 0..16 {
        let (client, bases, stop) = (client.clone(), bases.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let user = format!("+3369800{n:04}");
            let mut acked = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && i < 400 {
                let text = format!("message {i} from {user}");
                if say(&client, &bases[i % 2], &user, &text).await.is_some() {
                    acked.push(text);
                }
                i += 1;
            }
            (user, acked)
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    // SIGKILL: no shutdown, no flush, connections cut mid-transaction.
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut acked_total = 0;
    let mut finished = Vec::new();
    for t in tasks {
        finished.push(t.await.unwrap());
    }
    let all = stored(&schema.url).await;
    for (user, acked) in finished {
        let turns = all.get(&user).cloned().unwrap_or_default();
        let stored_texts: Vec<&str> = turns
            .iter()
            .filter(|t| t.0 == "customer")
            .map(|t| t.1.as_str())
            .collect();
        for text in &acked {
            assert_eq!(
                stored_texts.iter().filter(|s| **s == text.as_str()).count(),
                1,
                "{user}: the acknowledged turn {text:?} is stored once; stored: {stored_texts:?}; acknowledged: {acked:?}"
            );
        }
        acked_total += acked.len();
    }
    assert!(
        acked_total > 50,
        "the load ran ({acked_total} turns acknowledged)"
    );
    drop(b);
}

/// `parcours store copy`: the demo customers and a conversation, sled → PostgreSQL → sled, counts checked
/// by the command, and the copy answers as the original did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_is_copied_to_postgresql_and_back() {
    let Some(schema) = Schema::new("a_store_is_copied_to_postgresql_and_back").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    crate::helpers::import_demo_customers(&data, &[]);
    let chat = std::process::Command::new(env!("CARGO_BIN_EXE_parcours"))
        .args(["chat", "--user", "alice", "--data-dir"])
        .arg(&data)
        .arg("--intents")
        .arg(crate::helpers::intents_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"where is my order 4567?\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(chat.status.success());
    let copy = |from: &str, to: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_parcours"))
            .args(["store", "copy", "--from", from, "--to", to])
            .output()
            .unwrap()
    };
    let out = copy(data.to_str().unwrap(), &schema.url);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("the counts agree"), "{said}");
    assert!(said.contains("1 conversations"), "{said}");
    // Into a store that is not empty: refused.
    let again = copy(data.to_str().unwrap(), &schema.url);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("empty store"));
    // And back into a new embedded store.
    let back = dir.path().join("back");
    let out = copy(&schema.url, back.to_str().unwrap());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("the counts agree"));
    let shown = std::process::Command::new(env!("CARGO_BIN_EXE_parcours"))
        .args(["customers", "show", "cus_alice", "--store", &schema.url])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("Alice"), "{shown}");
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_parcours"))
        .args(["conversations", "list", "--data-dir"])
        .arg(&back)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("order_status"), "{listed}");
}

/// Erasure on PostgreSQL leaves none of the customer's channel ids behind, not even in the lock rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_leaves_no_channel_id_in_any_table() {
    use parcours::store::{Identity, ProfileStore};
    let Some(schema) = Schema::new("erasure_leaves_no_channel_id_in_any_table").await else {
        return;
    };
    let store = parcours::store::pg_store::PgStore::connect(&schema.url)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let pack = parcours::intents::IntentPack::load(&crate::helpers::intents_dir()).unwrap();
    let store: std::sync::Arc<dyn ProfileStore> = std::sync::Arc::new(store);
    let bot = parcours::bot::Bot::new(pack, Default::default(), store.clone());
    let phone = "+33655501234";
    bot.handle(parcours::message::Inbound::text(
        parcours::message::Channel::Voice,
        phone,
        "where is my order",
    ))
    .await
    .unwrap();
    let who = Identity {
        channel: parcours::message::Channel::Voice,
        id: phone.into(),
    };
    let customer = store.customer_of(&who).await.unwrap().unwrap();
    store.forget(&customer.id).await.unwrap();
    let dump = std::process::Command::new("pg_dump")
        .args(["--data-only", "--schema", schema.name()])
        .arg(schema.base())
        .output();
    let Some(dump) = dump.ok().filter(|d| d.status.success()) else {
        // No pg_dump here: ask the tables that hold channel ids.
        let (client, conn) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        for table in ["senders", "identities", "conversations"] {
            let n: i64 = client
                .query_one(
                    &format!("SELECT count(*) FROM {table} WHERE user_id = $1"),
                    &[&phone],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(n, 0, "{table} still names the erased caller");
        }
        return;
    };
    let text = String::from_utf8_lossy(&dump.stdout);
    assert!(
        !text.contains(phone),
        "the erased caller's number is still in the database"
    );
}
