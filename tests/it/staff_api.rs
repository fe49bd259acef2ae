//! The staff API's documentation, metrics, data rights and the CLI (issue 7).

use crate::helpers::{data_file, files_containing, intents_dir, spawn_app, spawn_app_configured};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::process::Command;

/// Every `.route("PATH", METHOD(` in the source, as (method, path).
fn routes_in_source() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut stack = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&p)
                .unwrap()
                .replace(['\n', ' '], "");
            for chunk in text.split(".route(\"").skip(1) {
                let (path, rest) = chunk.split_once('"').unwrap();
                let rest = rest.trim_start_matches(',');
                let method = ["get", "post", "delete", "put", "patch"]
                    .into_iter()
                    .find(|m| {
                        rest.starts_with(&format!("{m}("))
                            || rest.contains(&format!("routing::{m}("))
                                && rest.find(&format!("routing::{m}(")).unwrap() < 20
                    })
                    .unwrap_or("?");
                out.insert((method.to_string(), path.to_string()));
            }
        }
    }
    out
}

#[tokio::test]
async fn openapi_describes_every_route_of_the_router() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(format!("{}/openapi.json", app.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let routes = routes_in_source();
    assert!(routes.len() >= 15, "{routes:?}");
    for (method, path) in &routes {
        assert!(
            doc["paths"][path].is_object(),
            "{path} is missing from /openapi.json"
        );
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is missing from /openapi.json"
        );
    }
}

#[tokio::test]
async fn metrics_count_messages_fallbacks_and_latency() {
    let app = spawn_app().await;
    app.test_bot.say("alice", "where is order 4567").await;
    app.test_bot
        .say("alice", "what's the capital of peru")
        .await;
    let text = app
        .client
        .get(format!("{}/metrics", app.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("parcours_messages_total{channel=\"chat\",intent=\"order_status\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("parcours_fallbacks_total{channel=\"chat\"} 1"),
        "{text}"
    );
    assert!(text.contains("parcours_reply_seconds_count 2"), "{text}");
}

#[tokio::test]
async fn card_numbers_are_redacted_before_anything_is_stored() {
    let app = spawn_app().await;
    app.test_bot
        .say("alice", "my card 4111 1111 1111 1111 was charged twice")
        .await;
    let tp = &app.test_bot.store.touchpoints_of("cus_alice").unwrap()[0];
    assert_eq!(tp.turns[0].text, "my card [card number] was charged twice");
}

#[test]
fn an_erased_customer_leaves_no_trace_in_the_cli_or_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bin = env!("CARGO_BIN_EXE_parcours");
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut c = Command::new(bin);
        c.args(args).arg("--data-dir").arg(&data);
        if stdin.is_some() {
            c.arg("--intents").arg(intents_dir());
        }
        c.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        if let Some(s) = stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(
        &[
            "customers",
            "import",
            data_file("customers.json").to_str().unwrap(),
        ],
        None,
    );
    run(
        &["chat", "--user", "alice"],
        Some("hi, my phone is +33612345678\nwhere is order 4567\nbye\n"),
    );
    let shown = run(&["customers", "show", "cus_alice"], None);
    assert!(
        shown.contains("Alice Martin") && shown.contains("+33612345678"),
        "{shown}"
    );
    let exported = run(&["customers", "export", "cus_alice"], None);
    let v: Value = serde_json::from_str(&exported).unwrap();
    assert_eq!(v["customer"]["name"], "Alice Martin");
    // One `turns` key per conversation (the turns), not a count beside them: strict readers reject repeats.
    let conversations = v["conversations"].as_array().unwrap().len();
    assert!(conversations > 0);
    assert_eq!(
        exported.matches("\"turns\"").count(),
        conversations,
        "{exported}"
    );
    assert_eq!(
        v["conversations"][0]["turns"][0]["text"],
        "hi, my phone is +33612345678"
    );
    let csv = run(&["conversations", "export", "--format", "csv"], None);
    assert!(
        csv.starts_with("conversation,customer,channel,at,speaker,text"),
        "{csv}"
    );

    let bye = run(&["customers", "forget", "cus_alice"], None);
    assert!(bye.contains("erased"), "{bye}");
    for needle in ["Alice Martin", "+33612345678", "alice.martin@example.com"] {
        let hits = files_containing(&data, needle.as_bytes());
        assert!(hits.is_empty(), "{needle} is still in {hits:?}");
    }
    let list = run(&["conversations", "list"], None);
    assert!(!list.contains("cus_alice"), "{list}");
    assert!(
        list.contains("erased"),
        "the anonymous conversation stays for reports: {list}"
    );
    // Bruno is untouched.
    assert!(run(&["customers", "show", "cus_bruno"], None).contains("Bruno"));
}

#[tokio::test]
async fn the_api_exports_erases_merges_and_splits() {
    let app = spawn_app_configured(|s, _| s.staff_token = Some("k".into())).await;
    app.test_bot.say("alice", "where is order 4567").await;
    app.test_bot.say("stranger", "hello").await;
    let c = &app.client;
    let base = &app.addr;
    let export: Value = app.staff_json("/api/customers/cus_alice/export", "k").await;
    assert_eq!(export["customer"]["name"], "Alice Martin");
    assert_eq!(export["conversations"].as_array().unwrap().len(), 1);

    // Merge the stranger into Alice, then split the identity back out.
    let stranger = app
        .test_bot
        .store
        .customer_of(&parcours::store::Identity {
            channel: parcours::message::Channel::Chat,
            id: "stranger".into(),
        })
        .unwrap()
        .unwrap();
    let r = c
        .post(format!("{base}/api/customers/{}/merge", stranger.id))
        .bearer_auth("k")
        .json(&json!({"into": "cus_alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.test_bot
            .store
            .touchpoints_of("cus_alice")
            .unwrap()
            .len(),
        2
    );
    let r: Value = c
        .post(format!("{base}/api/customers/cus_alice/split"))
        .bearer_auth("k")
        .json(&json!({"channel": "chat", "id": "stranger"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new = r["new_customer"].as_str().unwrap();
    assert_eq!(app.test_bot.store.touchpoints_of(new).unwrap().len(), 1);
    assert_eq!(
        app.test_bot
            .store
            .touchpoints_of("cus_alice")
            .unwrap()
            .len(),
        1
    );

    let r = c
        .delete(format!("{base}/api/customers/cus_alice"))
        .bearer_auth("k")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app.staff_get("/api/customers/cus_alice", "k").await;
    assert_eq!(r.status(), 404);
    let list: Value = app
        .staff_json("/api/conversations?customer=cus_alice", "k")
        .await;
    assert_eq!(list["items"], json!([]));
    let report: Value = app.staff_json("/api/reports/satisfaction", "k").await;
    assert_eq!(
        report["conversations"], 2,
        "anonymous counts stay: {report}"
    );
}

#[tokio::test]
async fn an_api_erasure_leaves_no_trace_once_the_server_has_shut_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    crate::helpers::import_demo_customers(&data, &[]);
    let mut server = crate::helpers::ServeProcess::start(
        &data,
        &[("PARCOURS_STAFF_TOKEN", "k")],
        std::process::Stdio::null(),
    )
    .await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    // Alice calls (her number is her phone identity) and says her email.
    for said in [
        "hello",
        "my email is alice.martin@example.com and where is order 4567",
    ] {
        let r = client
            .post(format!("{base}/webhook/voice"))
            .json(&json!({"session_id": "C1", "user_id": "+33612345678", "transcript": said}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let profile: Value = client
        .get(format!("{base}/api/customers/cus_alice"))
        .bearer_auth("k")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        profile["touchpoints"].as_array().unwrap().len(),
        1,
        "{profile}"
    );
    let r = client
        .delete(format!("{base}/api/customers/cus_alice"))
        .bearer_auth("k")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .get(format!("{base}/api/customers/cus_alice"))
        .bearer_auth("k")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let page = client
        .get(format!("{base}/api/conversations"))
        .bearer_auth("k")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in ["Alice", "+33612345678", "alice.martin@example.com"] {
        assert!(!page.contains(needle), "{needle} in {page}");
    }

    // SIGTERM: the one shutdown signal stops the server, flushes and compacts the store, exits cleanly.
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut status = None;
    for _ in 0..100 {
        if let Some(s) = server.child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let status = status.expect("the server stops on SIGTERM");
    assert!(status.success(), "{status:?}");
    for needle in ["Alice Martin", "+33612345678", "alice.martin@example.com"] {
        let hits = files_containing(&data, needle.as_bytes());
        assert!(hits.is_empty(), "{needle} is still in {hits:?}");
    }
}

/// Review of 2026-12-01: an id that is not UTF-8 once decoded got a plain-text 400.
#[tokio::test]
async fn an_id_that_is_not_utf8_gets_a_json_400() {
    let app = spawn_app_configured(|s, _| s.staff_token = Some("k".into())).await;
    for path in [
        "/api/customers/%ff",
        "/api/customers/%ff/export",
        "/api/conversations/%00%ff",
    ] {
        let r = app.staff_get(path, "k").await;
        assert_eq!(r.status(), 400, "{path}");
        let body: Value = r.json().await.expect("a JSON body");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}: {body}"
        );
    }
}
