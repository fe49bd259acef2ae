//! The two halves of `scripts/serve_bench.py`: a bare axum endpoint of the voice webhook's shape (the
//! floor parcours is measured against), and a load generator that plays customers' conversations.
//!
//! ```text
//! serve_bench bare --listen 127.0.0.1:8080 [--fdatasync FILE]
//! serve_bench load --port 8080 --pid PID --seconds 10 [--rate 1000] [--connections 64] [--orders 8 --tag T]
//! serve_bench customers --tag T --connections 32 --customers-per-connection 40 --orders 8 > customers.json
//! ```
//!
//! `bare` parses the same JSON parcours does and answers the same shape; with `--fdatasync` each request
//! is appended to a file and answered once an `fdatasync` covers it (one per batch: group commit, as
//! parcours shares its flushes). `load` runs closed loop (each connection sends as soon as it has its
//! answer) or, with `--rate`, open loop (each request has a due time; latency counts from it, so a slow
//! answer delays no measurement). It reads the server's CPU time from `/proc` around the measured
//! window and prints one JSON line. The closed loop pauses between its warm-up and its window for the
//! server to settle, and counts what the server does after the window on the window's turns
//! ([`settle`]). `customers` writes the profiles (`parcours customers import`) of the
//! customers a `load` with the same `--tag`, `--connections`, `--customers-per-connection` and
//! `--orders` plays: each with the orders it asks about, so that they are found (`load --orders K`: a
//! customer's round `r` asks about its order `r % K`; without it, every round's number is new and in
//! no profile).

use axum::Json;
use axum::routing::post;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a customer says, turn after turn: a greeting, where is my order, the number (each customer's
/// own, in [`order_number`]'s place), thanks bye, then "yes" and "nine", the survey's answers. With
/// `--orders` the order is in the customer's profile (`customers`), the conversation solved and the
/// survey asked; without it no order is found, no survey follows (the bot asks it only after a
/// conversation it solved), and those two open a second, short conversation.
const SCRIPT: &[&str] = &[
    "hi",
    "where is my order?",
    ORDER_NUMBER,
    "thanks, bye",
    "yes",
    "nine",
];

/// The place of the order number in [`SCRIPT`].
const ORDER_NUMBER: &str = "";

/// The order number customer `customer` gives in their `round`th conversation, spoken digit by digit
/// ("four five six seven"): every customer's own, and every round's ([`order_id`]).
fn order_number(customer: u64, round: u64, orders: u64) -> String {
    const DIGITS: [&str; 10] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    let n = order_id(customer, round, orders);
    let digits = [n / 1000, n / 100 % 10, n / 10 % 10, n % 10];
    digits.map(|d| DIGITS[d as usize]).join(" ")
}

/// The number of customer `customer`'s order of `round`: any of 10,000 when the orders are in no
/// profile (`orders` 0), else one of the customer's `orders` (from 1000 up: four digits however said).
fn order_id(customer: u64, round: u64, orders: u64) -> u64 {
    match orders {
        0 => (customer * 7919 + round * 104_729) % 10_000,
        k => 1000 + (customer * 7919 + (round % k) * 104_729) % 9000,
    }
}

/// The profiles of the customers a `load` with the same arguments plays, for `parcours customers
/// import`: the identity it calls from, and the orders it asks about.
fn customers(args: &[String]) {
    let tag = arg(args, "--tag").expect("--tag");
    let number = |name: &str, default: usize| -> usize {
        arg(args, name)
            .map(|v| v.parse().expect("a number"))
            .unwrap_or(default)
    };
    let connections = number("--connections", 32);
    let per_conn = number("--customers-per-connection", 40);
    let orders = number("--orders", 8) as u64;
    let mut out = Vec::with_capacity(connections * per_conn);
    for k in 0..connections {
        for c in 0..per_conn {
            let customer = (k * per_conn + c) as u64;
            let orders: Vec<_> = (0..orders)
                .map(|r| {
                    serde_json::json!({
                        "id": order_id(customer, r, orders).to_string(),
                        "status": "shipped",
                        "eta": "2099-12-01",
                        "carrier": "Colissimo",
                    })
                })
                .collect();
            out.push(serde_json::json!({
                "id": format!("cus_bench_{tag}_{k}_{c}"),
                "orders": orders,
                "identities": [{"channel": "voice", "id": user_id(&tag, k, c)}],
            }));
        }
    }
    let stdout = std::io::stdout();
    serde_json::to_writer(stdout.lock(), &out).expect("stdout");
}

/// The caller id of customer `c` of connection `k`.
fn user_id(tag: &str, k: usize, c: usize) -> String {
    format!("+1555{tag}{k:04}{c:04}")
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("bare") => bare(&args),
        Some("load") => load(&args),
        Some("customers") => customers(&args),
        _ => {
            eprintln!("usage: serve_bench bare|load|customers ... (see the source)");
            std::process::exit(2);
        }
    }
}

#[derive(Deserialize)]
struct VoiceRequest {
    session_id: String,
    user_id: String,
    transcript: String,
    #[serde(default)]
    confidence: Option<f32>,
    #[serde(default)]
    locale: Option<String>,
}

#[derive(Serialize)]
struct VoiceResponse {
    conversation_id: String,
    text: String,
    ssml: String,
    end_session: bool,
}

/// One `fdatasync` per batch of waiting requests.
struct GroupCommit {
    tx: std::sync::mpsc::Sender<(Vec<u8>, tokio::sync::oneshot::Sender<()>)>,
}

impl GroupCommit {
    fn start(path: &str) -> GroupCommit {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("the fdatasync file opens");
        let (tx, rx) = std::sync::mpsc::channel::<(Vec<u8>, tokio::sync::oneshot::Sender<()>)>();
        std::thread::spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut batch = vec![first];
                batch.extend(rx.try_iter());
                for (line, _) in &batch {
                    file.write_all(line).expect("write");
                }
                file.sync_data().expect("fdatasync");
                for (_, done) in batch {
                    let _ = done.send(());
                }
            }
        });
        GroupCommit { tx }
    }

    async fn append(&self, line: Vec<u8>) {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.tx.send((line, done)).expect("the writer runs");
        wait.await.expect("the writer answers");
    }
}

fn bare(args: &[String]) {
    let listen = arg(args, "--listen").unwrap_or_else(|| "127.0.0.1:8080".into());
    let log = arg(args, "--fdatasync").map(|p| Arc::new(GroupCommit::start(&p)));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        let app = axum::Router::new().route(
            "/webhook/voice",
            post(move |Json(req): Json<VoiceRequest>| {
                let log = log.clone();
                async move {
                    let text = format!("You said: {}", req.transcript);
                    if let Some(log) = &log {
                        let mut line = serde_json::to_vec(&serde_json::json!({
                            "session": req.session_id, "user": req.user_id, "text": req.transcript,
                            "confidence": req.confidence, "locale": req.locale,
                        }))
                        .expect("json");
                        line.push(b'\n');
                        log.append(line).await;
                    }
                    let ssml = format!("<speak>{}</speak>", parcours::channel::ssml::escape(&text));
                    Json(VoiceResponse {
                        conversation_id: format!("tp_{}", req.session_id),
                        text,
                        ssml,
                        end_session: false,
                    })
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .expect("the address binds");
        axum::serve(listener, app).await.expect("serves");
    });
}

/// The server's user + system CPU time, in microseconds.
fn cpu_us(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks * 1_000_000 / hz
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(port: u16) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// One request, and its answer read whole; the status code.
    async fn post(&mut self, port: u16, body: &str) -> std::io::Result<u16> {
        let head = format!(
            "POST /webhook/voice HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut req = head.into_bytes();
        req.extend_from_slice(body.as_bytes());
        self.stream.write_all(&req).await?;
        self.buf.clear();
        let mut chunk = [0u8; 8192];
        loop {
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
            let Some(end) = find(&self.buf, b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if self.buf.len() >= end + 4 + length {
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                return Ok(status);
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[derive(Default)]
struct Tally {
    done: AtomicU64,
    errors: AtomicU64,
    /// Connections done with the closed loop's warm-up (or with everything).
    paused: AtomicU64,
}

/// Whether a thread of `pid` is named `name` (as `/proc` keeps it: 15 bytes at most).
fn has_thread(pid: u32, name: &str) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .any(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == name))
}

/// Waits until the server has done the work its turns left for later, with no load meanwhile; how
/// many rounds it took, and whether it got there within its bounds (20 rounds, 90 s).
///
/// parcours writes the journal's waiting writes to sled at its checkpoints, on a thread of their own at
/// the lowest priority, when one is due (2 s after the last one started, or sooner when the journal
/// has grown) and a turn comes to start it: under a closed loop that keeps the core busy they fall
/// behind, and a window's CPU time would leave them out. Each round waits 2.1 s, sends one turn from a
/// customer of its own (which starts any checkpoint due), then waits until the server's CPU time has
/// not risen for 300 ms. A round ends the settling when its turn was answered, the server's CPU time
/// rose by no more than a clock tick over it (so by less than about 30 ms: user and system time are
/// each counted in ticks) and no checkpoint thread is left (one waiting for the disk uses no CPU).
async fn settle(pid: u32, port: u16, tag: &str) -> (u32, bool) {
    // SAFETY: sysconf has no preconditions.
    let tick = 1_000_000 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let deadline = Instant::now() + Duration::from_secs(90);
    for round in 1..=20 {
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let before = cpu_us(pid);
        let mut answered = false;
        if let Ok(mut conn) = Conn::open(port).await {
            let body = format!(
                "{{\"session_id\":\"settle-{tag}-{round}\",\"user_id\":\"+1666{tag}\",\"transcript\":\"hi\",\"confidence\":0.93,\"locale\":\"en-US\"}}"
            );
            answered = matches!(
                tokio::time::timeout(Duration::from_secs(10), conn.post(port, &body)).await,
                Ok(Ok(200))
            );
        }
        let mut last = cpu_us(pid);
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let now = cpu_us(pid);
            if now == last {
                break;
            }
            last = now;
        }
        if answered && last - before <= tick && !has_thread(pid, "parcours-checkp") {
            return (round, true);
        }
        if Instant::now() >= deadline {
            return (round, false);
        }
    }
    (20, false)
}

fn load(args: &[String]) {
    let port: u16 = arg(args, "--port")
        .and_then(|p| p.parse().ok())
        .expect("--port");
    let pid: u32 = arg(args, "--pid")
        .and_then(|p| p.parse().ok())
        .expect("--pid");
    let seconds: f64 = arg(args, "--seconds")
        .and_then(|p| p.parse().ok())
        .unwrap_or(10.0);
    let warmup: f64 = arg(args, "--warmup")
        .and_then(|p| p.parse().ok())
        .unwrap_or(2.0);
    let rate: Option<f64> = arg(args, "--rate").and_then(|p| p.parse().ok());
    let connections: usize = arg(args, "--connections")
        .and_then(|p| p.parse().ok())
        .unwrap_or(if rate.is_some() { 256 } else { 32 });
    let customers_per_conn: usize = arg(args, "--customers-per-connection")
        .and_then(|p| p.parse().ok())
        .unwrap_or(40);
    let tag = arg(args, "--tag").unwrap_or_else(|| format!("{}", std::process::id()));
    let orders: u64 = arg(args, "--orders")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let tally = Arc::new(Tally::default());
    let closed = rate.is_none();
    // The closed loop's window, sent to every connection once the server has settled after the
    // warm-up (the open loop's is fixed: its requests keep their due times).
    let (window_tx, window_rx) = tokio::sync::watch::channel(None::<(Instant, Instant)>);
    let result = rt.block_on(async move {
        let start = Instant::now();
        let warm_end = start + Duration::from_secs_f64(warmup);
        let far = warm_end + Duration::from_secs(1_000_000);
        let mut tasks = Vec::new();
        for k in 0..connections {
            let tally = tally.clone();
            let tag = tag.clone();
            let mut window_rx = window_rx.clone();
            tasks.push(tokio::spawn(async move {
                let mut latencies: Vec<u32> = Vec::new();
                let Ok(mut conn) = Conn::open(port).await else {
                    tally.errors.fetch_add(1, Ordering::Relaxed);
                    tally.paused.fetch_add(1, Ordering::Relaxed);
                    return latencies;
                };
                // The closed loop's window is not known until the server has settled: nothing before
                // it is counted.
                let (mut measure_from, mut end) = if closed {
                    (far, far)
                } else {
                    (warm_end, warm_end + Duration::from_secs_f64(seconds))
                };
                let mut warming = closed;
                // This connection's customers, each at their place in the script, taken in turn.
                let mut places = vec![0usize; customers_per_conn];
                let mut rounds = vec![0usize; customers_per_conn];
                let mut i: u64 = 0;
                loop {
                    if warming && Instant::now() >= warm_end {
                        // The warm-up is over: wait for the measured window.
                        warming = false;
                        tally.paused.fetch_add(1, Ordering::Relaxed);
                        let window = match window_rx.wait_for(Option::is_some).await {
                            Ok(window) => *window,
                            Err(_) => return latencies,
                        };
                        (measure_from, end) = window.expect("a window");
                        // A fresh connection: the server may have closed an idle one meanwhile.
                        match Conn::open(port).await {
                            Ok(c) => conn = c,
                            Err(_) => {
                                tally.errors.fetch_add(1, Ordering::Relaxed);
                                return latencies;
                            }
                        }
                    }
                    let due = match rate {
                        // Request number i*connections+k of the whole load.
                        Some(r) => start + Duration::from_secs_f64((i * connections as u64 + k as u64) as f64 / r),
                        None => Instant::now(),
                    };
                    if due >= end {
                        break;
                    }
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        tokio::time::sleep(wait).await;
                    }
                    let c = (i as usize) % customers_per_conn;
                    let said = match SCRIPT[places[c]] {
                        ORDER_NUMBER => order_number(
                            (k * customers_per_conn + c) as u64,
                            rounds[c] as u64,
                            orders,
                        ),
                        line => line.to_string(),
                    };
                    let body = format!(
                        "{{\"session_id\":\"call-{tag}-{k}-{c}-{}\",\"user_id\":\"{}\",\"transcript\":\"{said}\",\"confidence\":0.93,\"locale\":\"en-US\"}}",
                        rounds[c],
                        user_id(&tag, k, c)
                    );
                    places[c] += 1;
                    if places[c] == SCRIPT.len() {
                        places[c] = 0;
                        rounds[c] += 1;
                    }
                    i += 1;
                    let ok = matches!(conn.post(port, &body).await, Ok(200));
                    let now = Instant::now();
                    if !ok {
                        tally.errors.fetch_add(1, Ordering::Relaxed);
                        match Conn::open(port).await {
                            Ok(c) => conn = c,
                            Err(_) => break,
                        }
                        continue;
                    }
                    if due >= measure_from && now <= end + Duration::from_secs(5) {
                        tally.done.fetch_add(1, Ordering::Relaxed);
                        latencies.push(now.duration_since(due).as_micros().min(u32::MAX as u128) as u32);
                    }
                }
                if warming {
                    tally.paused.fetch_add(1, Ordering::Relaxed);
                }
                latencies
            }));
        }
        // The server's CPU over the measured window. In the closed loop, the server settles before it
        // and after it (see `settle`): the CPU counted includes what the server did after the window
        // (on the window's turns, mostly), and none of what the warm-up's turns left.
        let (cpu_before, settled_before, end) = if closed {
            tokio::time::sleep_until(warm_end.into()).await;
            let waiting = Instant::now() + Duration::from_secs(60);
            while tally.paused.load(Ordering::Relaxed) < connections as u64 && Instant::now() < waiting {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let settled = settle(pid, port, &tag).await;
            let cpu_before = cpu_us(pid);
            let from = Instant::now();
            let end = from + Duration::from_secs_f64(seconds);
            let _ = window_tx.send(Some((from, end)));
            (cpu_before, Some(settled), end)
        } else {
            tokio::time::sleep_until(warm_end.into()).await;
            (cpu_us(pid), None, warm_end + Duration::from_secs_f64(seconds))
        };
        tokio::time::sleep_until(end.into()).await;
        let cpu_window = cpu_us(pid);
        let done_in_window = tally.done.load(Ordering::Relaxed);
        let rss = rss_kib(pid);
        let mut all: Vec<u32> = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap_or_default());
        }
        let (cpu_after, settled_after) = if closed {
            let settled = settle(pid, port, &tag).await;
            (cpu_us(pid), Some(settled))
        } else {
            (cpu_window, None)
        };
        let seconds_settling = (cpu_after - cpu_window) as f64 / 1e6;
        all.sort_unstable();
        let pct = |p: f64| -> f64 {
            if all.is_empty() {
                return 0.0;
            }
            let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
            all[i] as f64 / 1000.0
        };
        serde_json::json!({
            "mode": if closed { "closed" } else { "open" },
            // Rounds of `settle` before and after the window, and whether each got there.
            "settled": [settled_before, settled_after],
            "rate": rate,
            "connections": connections,
            "turns": all.len(),
            // The turns answered in the window, over the window and the CPU time the server spent
            // after it (on what the window's turns left, mostly: its core was free then; under load,
            // that time would have been theirs). The closed loop only: the open loop spends none.
            "turns_per_s": done_in_window as f64 / (seconds + seconds_settling),
            "window_turns_per_s": done_in_window as f64 / seconds,
            "settling_cpu_us_per_turn": if done_in_window > 0 { seconds_settling * 1e6 / done_in_window as f64 } else { 0.0 },
            "errors": tally.errors.load(Ordering::Relaxed),
            "cpu_us_per_turn": if done_in_window > 0 { (cpu_after - cpu_before) as f64 / done_in_window as f64 } else { 0.0 },
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "p999_ms": pct(0.999),
            "rss_mib": rss as f64 / 1024.0,
        })
    });
    println!("{result}");
}
