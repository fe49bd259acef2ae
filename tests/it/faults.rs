//! What a fault trial found (issue 18): a crash in the middle of a compaction, an erasure left on disk
//! by a kill, a turn racing an erasure, a client that never finishes its headers, and what every
//! response must carry.

use crate::helpers::{ServeProcess, files_containing, import_demo_customers};
use parcours::message::Channel;
use parcours::store::sled_store::{FAULT_ENV, SledStore};
use parcours::store::{Customer, Identity, Touchpoint};
use parcours::time::Timestamp;
use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

const ALICE_EMAIL: &str = "alice.martin@example.com";
const BRUNO_EMAIL: &str = "bruno@example.fr";

/// The generation directories (`gen-*`) of a data directory.
fn generations(data: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(data)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("gen-"))
        .map(|e| e.path())
        .collect()
}

fn forget_with_fault(data: &std::path::Path, id: &str, step: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_parcours"))
        .args(["customers", "forget", id, "--data-dir"])
        .arg(data)
        .env(FAULT_ENV, step)
        .output()
        .unwrap()
}

/// Killed at either side of the switch to the compacted copy, the store opens with every other
/// customer, and the erasure is carried through at the start: nothing of the erased customer is left
/// in any file, and no copy but the current one remains.
#[test]
fn a_crash_during_compaction_loses_nothing_and_finishes_the_erasure() {
    for step in ["before-switch", "after-switch"] {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        import_demo_customers(&data, &[]);
        let out = forget_with_fault(&data, "cus_alice", step);
        assert!(
            !out.status.success(),
            "{step}: the fault hook should have aborted the compaction"
        );
        // The kill left the erased bytes on disk (the failure this guards against).
        assert!(
            !files_containing(&data, ALICE_EMAIL.as_bytes()).is_empty(),
            "{step}: the erased email should still be in the old files before the restart"
        );
        let store = SledStore::open(&data).unwrap();
        assert!(store.customer("cus_alice").unwrap().is_none(), "{step}");
        let bruno = store
            .customer("cus_bruno")
            .unwrap()
            .expect("bruno survives");
        assert_eq!(bruno.email.as_deref(), Some(BRUNO_EMAIL), "{step}");
        assert!(!store.needs_compaction(), "{step}");
        drop(store);
        assert_eq!(
            files_containing(&data, ALICE_EMAIL.as_bytes()),
            Vec::<String>::new(),
            "{step}"
        );
        assert_eq!(generations(&data).len(), 1, "{step}: one generation left");
        assert!(!files_containing(&data, BRUNO_EMAIL.as_bytes()).is_empty());
    }
}

/// The earlier version renamed the data directory aside before renaming the new one in; a crash between
/// the two left no data directory, and the next start created an empty store. The copy set aside is
/// put back.
#[test]
fn the_copy_an_interrupted_swap_set_aside_is_restored_not_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    import_demo_customers(&data, &[]);
    let generation = generations(&data).remove(0);
    // The old layout, caught between its two renames: sled's files in `data.before-compaction`.
    std::fs::rename(&generation, data.with_extension("before-compaction")).unwrap();
    std::fs::remove_dir_all(&data).unwrap();
    let store = SledStore::open(&data).unwrap();
    assert!(store.customer("cus_alice").unwrap().is_some());
    assert!(store.customer("cus_bruno").unwrap().is_some());
    assert!(!data.with_extension("before-compaction").exists());
}

fn customer(id: &str, email: &str) -> Customer {
    Customer {
        id: id.into(),
        email: Some(email.into()),
        ..Customer::default()
    }
}

/// An erasure followed by a kill (no shutdown, no compaction) leaves a mark in the store, and the next
/// start compacts: the erased bytes do not stay on disk for good.
#[tokio::test]
async fn an_erasure_a_kill_interrupted_is_compacted_at_the_next_start() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(tmp.path()).unwrap();
        store
            .put_customer(&customer("cus_zoe", "zoe.unique@example.org"))
            .unwrap();
        store.durable().await.unwrap();
        // In sled's log, as after any checkpoint (a record erased while it still waited in the
        // journal's memory never reaches sled at all).
        store.flush_now().unwrap();
        store.forget("cus_zoe").unwrap();
        store.durable().await.unwrap();
        assert!(store.needs_compaction());
        // Dropped without compacting, as a kill -9 would leave it.
    }
    assert!(!files_containing(tmp.path(), b"zoe.unique@example.org").is_empty());
    let store = SledStore::open(tmp.path()).unwrap();
    assert!(!store.needs_compaction());
    drop(store);
    assert_eq!(
        files_containing(tmp.path(), b"zoe.unique@example.org"),
        Vec::<String>::new()
    );
}

/// A customer erased while her record still waits in the journal's memory for a checkpoint: the record
/// never reaches sled, and the erasure's own checkpoint deletes the journal files that held it, so no
/// file keeps it even before a compaction.
#[tokio::test]
async fn a_customer_erased_before_a_checkpoint_never_reaches_sled() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(tmp.path()).unwrap();
        store
            .put_customer(&customer("cus_zoe", "zoe.waiting@example.org"))
            .unwrap();
        store.durable().await.unwrap();
        assert!(!files_containing(tmp.path(), b"zoe.waiting@example.org").is_empty());
        store.forget("cus_zoe").unwrap();
        store.durable().await.unwrap();
        // Dropped without compacting, as a kill -9 would leave it.
    }
    assert_eq!(
        files_containing(tmp.path(), b"zoe.waiting@example.org"),
        Vec::<String>::new()
    );
}

fn touchpoint(store: &SledStore, customer: &str) -> Touchpoint {
    let at = Timestamp(1_000);
    Touchpoint::new(
        store.new_id("tp").unwrap(),
        customer.into(),
        Channel::Chat,
        "zoe".into(),
        at,
    )
}

/// A customer's turns racing her erasure never save her records again under her id (it happened in 3
/// of 180 trials).
#[test]
fn a_turn_racing_an_erasure_never_brings_the_customer_back() {
    let tmp = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(SledStore::open(tmp.path()).unwrap());
    let ident = Identity {
        channel: Channel::Chat,
        id: "zoe".into(),
    };
    for trial in 0..200 {
        let id = format!("cus_race{trial}");
        store.put_customer(&customer(&id, "z@example.org")).unwrap();
        store.link(&ident, &id).unwrap();
        let writer = {
            let (store, id) = (store.clone(), id.clone());
            std::thread::spawn(move || {
                for _ in 0..20 {
                    store.put_customer(&customer(&id, "z@example.org")).unwrap();
                    let tp = touchpoint(store.as_ref(), &id);
                    store.save_touchpoint(&tp).unwrap();
                }
            })
        };
        std::thread::sleep(Duration::from_micros(50 * (trial % 7)));
        store.forget(&id).unwrap();
        writer.join().unwrap();
        assert!(store.customer(&id).unwrap().is_none(), "trial {trial}");
        assert!(
            store.touchpoints_of(&id).unwrap().is_empty(),
            "trial {trial}"
        );
    }
}

/// A client that sends half a header neither keeps the server from stopping on SIGTERM nor keeps its
/// connection open for ever.
#[tokio::test]
async fn a_half_sent_header_does_not_hang_the_shutdown() {
    let tmp = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(tmp.path(), &[], std::process::Stdio::null()).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut stuck = std::net::TcpStream::connect(&addr).unwrap();
    stuck
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // The server closes a connection whose headers do not come.
    stuck
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let n = stuck.read(&mut buf).unwrap_or(0);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the half-sent header was kept open {:?}",
        started.elapsed()
    );
    let _ = n;
    // Another stuck client, then SIGTERM: the server stops within its grace period.
    let mut other = std::net::TcpStream::connect(&addr).unwrap();
    other
        .write_all(b"POST /webhook/voice HTTP/1.1\r\n")
        .unwrap();
    let pid = server.child.id();
    let stopped = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let mut server = server;
    loop {
        if server.child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(30),
            "still running {:?} after SIGTERM",
            stopped.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The console and the API are not cached and not framed, and the console runs only its own script;
/// a voice or Alexa call without the token is refused before its body is read.
#[tokio::test]
async fn responses_carry_the_security_headers_and_webhooks_check_the_token_first() {
    let app = crate::helpers::spawn_app_configured(|state, _| {
        state.webhook_token = Some("s3cret".into());
    })
    .await;
    let client = reqwest::Client::new();
    let page = client.get(format!("{}/", app.addr)).send().await.unwrap();
    let h = page.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("script-src 'self' 'unsafe-inline'")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script src="/console.js"></script>"#));
    let js = client
        .get(format!("{}/console.js", app.addr))
        .send()
        .await
        .unwrap();
    assert!(js.status().is_success());
    assert!(js.text().await.unwrap().contains("enterApp"));
    let api = client
        .get(format!("{}/api/conversations", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(api.headers()["cache-control"], "no-store");
    for route in ["/webhook/voice", "/webhook/alexa"] {
        for body in ["{not json", "{}"] {
            let r = client
                .post(format!("{}{route}", app.addr))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401, "{route} with {body}");
        }
    }
}

/// A flipped byte in the store never crashes the CLI (sled panicked, exit 101, in 9 of 15 tries): the
/// store opens, or `store check` and the other commands say it is damaged and what to do.
#[test]
fn a_flipped_byte_is_a_clear_error_not_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    import_demo_customers(&data, &[]);
    let generation = generations(&data).remove(0);
    let log = generation.join("db");
    let pristine = std::fs::read(&log).unwrap();
    let check = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_parcours"))
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .unwrap()
    };
    let ok = check(&["store", "check"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("no damage found"));
    for i in 1..=15u64 {
        let mut bytes = pristine.clone();
        let at = (i as usize * 7919) % bytes.len();
        bytes[at] ^= 0x5a;
        std::fs::write(&log, &bytes).unwrap();
        for args in [
            &["store", "check"][..],
            &["customers", "show", "cus_bruno"][..],
        ] {
            let out = check(args);
            assert_ne!(
                out.status.code(),
                Some(101),
                "byte {at} flipped: {args:?} crashed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(
                    err.contains("damaged") || err.contains("store"),
                    "byte {at}: {args:?}: {err}"
                );
            }
        }
        std::fs::write(&log, &pristine).unwrap();
    }
}

/// A small file system of its own, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// Mounts `size` of tmpfs at `at`, or says why it cannot (not root, no mount namespace).
    fn mount(at: &std::path::Path, size: &str) -> Result<Self, String> {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(Tmpfs(at.to_path_buf()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A full disk: turns are refused with 503 and Retry-After (never an opaque 500), `/healthz` and
/// `/readyz` fail while the store cannot write, and once space is freed the server recovers without a
/// restart.
#[tokio::test]
async fn a_full_disk_is_recovered_from_without_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("small");
    let _fs = match Tmpfs::mount(&mnt, "24m") {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("skipped: cannot mount a small tmpfs here ({})", why.trim());
            return;
        }
    };
    let data = mnt.join("data");
    let server = ServeProcess::start(&data, &[], std::process::Stdio::null()).await;
    let client = reqwest::Client::new();
    let voice = |i: usize| {
        serde_json::json!({
            "session_id": format!("s{i}"),
            "user_id": format!("caller{i}"),
            "transcript": "where is my order",
        })
    };
    let health = |path: &'static str| {
        let (client, base) = (client.clone(), server.base.clone());
        async move {
            client
                .get(format!("{base}{path}"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let r = client
        .post(format!("{}/webhook/voice", server.base))
        .json(&voice(0))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Fill the disk.
    let filler = mnt.join("filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![7u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    }
    // Turns go on into the room the journal's file was written ahead with (writing over blocks it
    // has needs no new one), then are refused once they need more.
    let mut refused = None;
    for i in 1..5000 {
        let r = client
            .post(format!("{}/webhook/voice", server.base))
            .json(&voice(i))
            .send()
            .await
            .unwrap();
        assert_ne!(r.status(), 500, "a full disk must not be an opaque 500");
        if r.status() == 503 {
            refused = Some(r);
            break;
        }
    }
    let refused = refused.expect("no turn was refused with the disk full");
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("try again"));
    assert_eq!(health("/healthz").await, 503);
    assert_eq!(health("/readyz").await, 503);
    // A phone caller hears the sentence (TwiML), not Twilio's application error.
    let call = client
        .post(format!("{}/webhook/twilio", server.base))
        .form(&[
            ("CallSid", "CA_full"),
            ("From", "+33600000000"),
            ("SpeechResult", "where is my order"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(call.status(), 200);
    let twiml = call.text().await.unwrap();
    assert!(
        twiml.contains("try again") && twiml.contains("<Hangup/>"),
        "{twiml}"
    );
    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    while health("/healthz").await != 200 {
        assert!(
            freed.elapsed() < Duration::from_secs(30),
            "the store did not recover once space was freed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = client
        .post(format!("{}/webhook/voice", server.base))
        .json(&voice(1000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a turn after recovery");
    assert_eq!(health("/readyz").await, 200);
}

/// Values the OpenAPI document allows are accepted: an empty filter is no filter, a date or a time.
#[tokio::test]
async fn filters_valid_by_the_schema_are_accepted() {
    let app = crate::helpers::spawn_app_configured(|s, _| s.staff_token = Some("k".into())).await;
    for q in [
        "max_rating=",
        "since=&until=",
        "since=2026-11-23",
        "since=2026-11-23T10:00:00Z&until=2026-11-24T10:00:00%2B01:00",
        "max_rating=6&irritant=true&limit=1000",
    ] {
        let r = app.staff_get(&format!("/api/conversations?{q}"), "k").await;
        assert_eq!(r.status(), 200, "{q}");
    }
    let r = app
        .staff_get("/api/conversations?max_rating=eleven", "k")
        .await;
    assert_eq!(r.status(), 400);
}

/// Bodies the OpenAPI document allows are accepted (extra fields are ignored), and what it forbids
/// (an empty id, an Alexa request without `request`) is a 4xx that says why, never a 5xx.
#[tokio::test]
async fn bodies_are_judged_as_the_schema_says() {
    let app = crate::helpers::spawn_app_configured(|s, _| s.staff_token = Some("k".into())).await;
    let post = |path: &str, body: serde_json::Value| {
        app.client
            .post(format!("{}{path}", app.addr))
            .bearer_auth("k")
            .json(&body)
            .send()
    };
    // An unknown customer with an extra field: the field is ignored, the customer is not found.
    let r = post(
        "/api/customers/nobody/merge",
        serde_json::json!({"into": "alice", "reason": "same person"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 404, "an extra field is not a 422");
    let r = post(
        "/api/customers/nobody/split",
        serde_json::json!({"channel": "telegram", "id": "1", "note": "x"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 404);
    let r = app
        .post_voice(&serde_json::json!({"session_id": "", "user_id": "u", "transcript": "hi"}))
        .await;
    assert!(r.status().is_client_error(), "{}", r.status());
    let r = app.post_alexa(&serde_json::json!({})).await;
    assert!(r.status().is_client_error(), "{}", r.status());
    let body = r.text().await.unwrap();
    assert!(body.contains("request"), "{body}");
}

/// A truncated log loses acknowledged writes: the store opens with what it can replay and says what
/// is missing (at start-up, and in `parcours store check`), or refuses with a clear error; it never
/// starts silently without them.
#[tokio::test]
async fn a_truncated_log_is_reported_not_silently_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let written = 3000;
    {
        let store = SledStore::open(&data).unwrap();
        for i in 0..written {
            let mut tp = touchpoint(&store, "cus_zoe");
            tp.user = format!("caller {i}: {}", "words said ".repeat(20));
            store.save_touchpoint(&tp).unwrap();
            if i % 100 == 0 {
                store.durable().await.unwrap();
            }
        }
        store.flush_now().unwrap();
        assert_eq!(store.recovery_loss(), None);
    }
    let log = generations(&data).remove(0).join("db");
    let pristine = std::fs::read(&log).unwrap();
    let backup = tmp.path().join("backup");
    copy_dir(&data, &backup);
    // sled's log is made of 512 KiB segments: cut whole segments off the end, then cut mid-segment.
    const SEGMENT: usize = 512 * 1024;
    let mut cuts: Vec<usize> = (1..pristine.len() / SEGMENT).map(|n| n * SEGMENT).collect();
    cuts.push(pristine.len() * 2 / 3);
    assert!(
        cuts.len() >= 2,
        "the log is too small to cut ({} bytes)",
        pristine.len()
    );
    let mut noticed = 0;
    for cut in cuts {
        std::fs::remove_dir_all(&data).unwrap();
        copy_dir(&backup, &data);
        std::fs::write(&log, &pristine[..cut]).unwrap();
        let store = match parcours::commands::open_sled(&data, 8 << 20) {
            Ok(store) => store,
            Err(e) => {
                eprintln!("cut at {cut}: refused: {e}");
                assert!(
                    e.to_string().contains("damaged") || e.to_string().contains("store"),
                    "{e}"
                );
                continue;
            }
        };
        let found = store.touchpoints_of("cus_zoe").unwrap().len();
        eprintln!("cut at {cut}: {found} of {written} found");
        if found == written as usize {
            continue; // the cut took nothing sled needed
        }
        let loss = store.recovery_loss().unwrap_or_else(|| {
            panic!("cut at {cut}: {found} of {written} found, and nothing said")
        });
        assert_eq!(loss.acknowledged, written);
        assert!(loss.found < written, "{loss:?}");
        let report = store.check().unwrap();
        assert!(
            report
                .damaged
                .iter()
                .any(|d| d.contains("recovery dropped data")),
            "{report:?}"
        );
        drop(store);
        // Reported again by the next check, not only by the open that found it.
        let out = Command::new(env!("CARGO_BIN_EXE_parcours"))
            .args(["store", "check", "--data-dir"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("recovery dropped data"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        noticed += 1;
    }
    assert!(noticed > 0, "no cut opened with a loss to notice");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The server killed (SIGKILL: no shutdown, no checkpoint), then its store opened.
fn kill_and_open(server: &mut ServeProcess, data: &std::path::Path) -> SledStore {
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    SledStore::open(data).unwrap()
}

/// `user`'s open conversation on the voice channel, which must be there.
fn open_conversation(store: &SledStore, user: &str) -> Touchpoint {
    store
        .open_touchpoint(Channel::Voice, user)
        .unwrap()
        .unwrap_or_else(|| panic!("{user}'s conversation was lost"))
}

/// Turns a server acknowledged before it was killed (SIGKILL: no shutdown, no checkpoint, sled never
/// synced) are all there at the next open, replayed from the journal with their indexes.
#[tokio::test]
async fn turns_acknowledged_before_a_kill_are_replayed_from_the_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = ServeProcess::start(&data, &[], std::process::Stdio::null()).await;
    let client = reqwest::Client::new();
    let callers = 40;
    for i in 0..callers {
        let r = client
            .post(format!("{}/webhook/voice", server.base))
            .json(&serde_json::json!({
                "session_id": format!("s{i}"),
                "user_id": format!("caller{i}"),
                "transcript": format!("hello, where is my parcel number {i}"),
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let journal = journal_files(&data);
    let said = format!("parcel number {}", callers - 1);
    assert!(
        journal
            .iter()
            .any(|(_, b)| b.windows(said.len()).any(|w| w == said.as_bytes())),
        "the turns are in the journal"
    );
    let store = kill_and_open(&mut server, &data);
    for i in 0..callers {
        let user = format!("caller{i}");
        let tp = open_conversation(&store, &user);
        assert!(
            tp.turns
                .iter()
                .any(|t| t.text == format!("hello, where is my parcel number {i}")),
            "{:?}",
            tp.turns
        );
        let customer = store
            .customer_of(&Identity {
                channel: Channel::Voice,
                id: user,
            })
            .unwrap()
            .unwrap();
        assert_eq!(customer.id, tp.customer_id);
    }
    assert_eq!(store.recovery_loss(), None);
    assert!(store.check().unwrap().damaged.is_empty());
}

/// The journal files in a data directory's generations: (file name, bytes).
fn journal_files(data: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = generations(data)
        .iter()
        .flat_map(|g| std::fs::read_dir(g).unwrap())
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with("journal-"))
        .filter_map(|e| {
            let bytes = std::fs::read(e.path()).ok()?;
            Some((e.file_name().to_string_lossy().into_owned(), bytes))
        })
        .collect();
    out.sort();
    out
}

/// One voice turn of `user` (the same session each time), acknowledged.
async fn say_voice(client: &reqwest::Client, base: &str, user: &str, text: &str) {
    let r = client
        .post(format!("{base}/webhook/voice"))
        .json(&serde_json::json!({
            "session_id": format!("session-{user}"),
            "user_id": user,
            "transcript": text,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Checkpoints run after a turn once 2 s have passed: a caller of its own speaks once a second until
/// `done` holds of the journal's files, watched meanwhile (so that nothing is written after the
/// checkpoint that made it hold).
async fn checkpoint_until(
    client: &reqwest::Client,
    base: &str,
    data: &std::path::Path,
    done: impl Fn(&[(String, Vec<u8>)]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        say_voice(client, base, "poke", "hello").await;
        let next = Instant::now() + Duration::from_secs(1);
        while Instant::now() < next {
            if done(&journal_files(data)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(Instant::now() < deadline, "no checkpoint recycled a file");
    }
}

/// A kill right after a checkpoint made the spare (the file that held the first round) the journal's
/// file again: every turn acknowledged is there at the next open, and nothing the file held before
/// (older versions of the same conversations, whose frames start where the new ones would) is
/// replayed over them.
#[tokio::test]
async fn a_kill_right_after_a_journal_file_is_recycled_brings_back_nothing_it_held_before() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = ServeProcess::start(&data, &[], std::process::Stdio::null()).await;
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let callers = 40;
    // The last caller speaks only in the first round: her conversation is never written again, and
    // what she said, found in a file, is what that file held then.
    let last = format!("first round {}", callers - 1);
    let holds_first_round = |bytes: &[u8]| bytes.windows(last.len()).any(|w| w == last.as_bytes());
    let spare_holds_it = |files: &[(String, Vec<u8>)]| {
        files
            .iter()
            .any(|(n, b)| n == "journal-spare" && holds_first_round(b))
    };
    let current_holds_it = |files: &[(String, Vec<u8>)]| {
        files
            .iter()
            .rfind(|(n, _)| n != "journal-spare")
            .is_some_and(|(_, b)| holds_first_round(b))
    };
    for i in 0..callers {
        for text in [
            format!("hello, first round {i}"),
            format!("where is my parcel, first round {i}"),
            format!("it was sent in the first round {i}"),
        ] {
            say_voice(&client, &base, &format!("caller{i}"), &text).await;
        }
    }
    // The file that holds the first round let go of, and kept as the spare.
    checkpoint_until(&client, &base, &data, spare_holds_it).await;
    for i in 0..callers - 1 {
        say_voice(
            &client,
            &base,
            &format!("caller{i}"),
            &format!("second round {i}"),
        )
        .await;
    }
    // The spare recycled: the journal now writes over the first round's file.
    checkpoint_until(&client, &base, &data, |files: &[(String, Vec<u8>)]| {
        current_holds_it(files) && !spare_holds_it(files)
    })
    .await;
    // Killed at once: the journal's file is its new header, then what it held before, frame after
    // frame from where the new ones would start.
    let store = kill_and_open(&mut server, &data);
    for i in 0..callers {
        let user = format!("caller{i}");
        let tp = open_conversation(&store, &user);
        let said = |text: String| tp.turns.iter().any(|t| t.text == text);
        assert!(said(format!("hello, first round {i}")), "{:?}", tp.turns);
        assert!(
            i == callers - 1 || said(format!("second round {i}")),
            "{:?}",
            tp.turns
        );
    }
    assert_eq!(store.recovery_loss(), None);
    assert!(store.check().unwrap().damaged.is_empty());
}
