//! Shared test helpers: a bot on a temporary store, a server on port 0, and one method per action.

use parcours::bot::Bot;
use parcours::config::Settings;
use parcours::http::{self, AppState};
use parcours::intents::IntentPack;
use parcours::message::{Channel, Inbound, Lang, Reply};
use parcours::store::sled_store::SledStore;
use parcours::store::{Customer, Identity, Order, ProfileStore};
use parcours::time::Timestamp;
use std::path::PathBuf;
use std::sync::{Arc, Once};

/// Logs only when asked: `TEST_LOG=1 cargo test`.
pub fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt()
                .with_env_filter("parcours=debug")
                .with_test_writer()
                .init();
        }
    });
}

pub fn intents_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("intents")
}

pub fn data_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A bot on the shipped intents and a fresh store in a temporary directory.
pub struct TestBot {
    pub bot: Arc<Bot>,
    /// The sled store itself: its calls are synchronous, for the tests to read and seed it.
    pub store: Arc<SledStore>,
    /// Kept alive so the store's directory outlives the test.
    pub _dir: tempfile::TempDir,
}

impl TestBot {
    pub fn new() -> Self {
        Self::with_settings(Settings::default())
    }

    pub fn with_settings(settings: Settings) -> Self {
        init_logs();
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(SledStore::open(dir.path()).expect("store"));
        let pack = IntentPack::load(&intents_dir()).expect("shipped intents load");
        let bot = Arc::new(Bot::new(
            pack,
            settings,
            store.clone() as Arc<dyn ProfileStore>,
        ));
        TestBot {
            bot,
            store,
            _dir: dir,
        }
    }

    /// Alice, on the chat channel as `alice`, with two orders.
    pub fn with_alice(self) -> Self {
        let alice = Customer {
            id: "cus_alice".into(),
            name: Some("Alice Martin".into()),
            email: Some("alice@example.com".into()),
            loyalty_points: Some(1250),
            orders: vec![
                Order {
                    id: "4567".into(),
                    status: "shipped".into(),
                    eta: Some("2099-11-26".into()),
                    ..Order::default()
                },
                Order {
                    id: "1234".into(),
                    status: "delivered".into(),
                    eta: None,
                    ..Order::default()
                },
                // Not shipped yet: the one order that can still be cancelled.
                Order {
                    id: "5521".into(),
                    status: "processing".into(),
                    eta: Some("2099-12-08".into()),
                    ..Order::default()
                },
            ],
            // Surveyed yesterday, so conversations end on goodbye without the satisfaction questions; the
            // survey tests call `surveyable()`.
            attributes: [(
                parcours::bot::LAST_SURVEY.to_string(),
                (Timestamp::now().0 - 86_400_000).to_string(),
            )]
            .into(),
            ..Customer::default()
        };
        self.store.put_customer(&alice).unwrap();
        for (channel, id) in [
            (Channel::Chat, "alice"),
            (Channel::Voice, "+33612345678"),
            (Channel::Twilio, "+33612345678"),
            (Channel::Alexa, "amzn1.ask.account.ALICE"),
        ] {
            self.store
                .link(
                    &Identity {
                        channel,
                        id: id.into(),
                    },
                    "cus_alice",
                )
                .unwrap();
        }
        self
    }

    /// Makes Alice eligible for the satisfaction questions.
    pub fn surveyable(self) -> Self {
        let mut alice = self.store.customer("cus_alice").unwrap().unwrap();
        alice.attributes.remove(parcours::bot::LAST_SURVEY);
        self.store.put_customer(&alice).unwrap();
        self
    }

    /// `user` says `text` on the chat channel at time `at`.
    pub async fn say_at(&self, user: &str, text: &str, at: Timestamp) -> Reply {
        let mut msg = Inbound::text(Channel::Chat, user, text);
        msg.at = at;
        self.bot.handle(msg).await.expect("handled")
    }

    /// `user` says `text` on the chat channel now.
    pub async fn say(&self, user: &str, text: &str) -> Reply {
        self.say_at(user, text, Timestamp::now()).await
    }

    /// Says `text` in `lang`'s locale.
    pub async fn say_in(&self, user: &str, text: &str, lang: Lang) -> Reply {
        let mut msg = Inbound::text(Channel::Chat, user, text);
        msg.locale = Some(lang);
        self.bot.handle(msg).await.expect("handled")
    }
}

/// A running HTTP server on port 0.
pub struct TestApp {
    pub addr: String,
    pub client: reqwest::Client,
    pub test_bot: TestBot,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(None).await
}

pub async fn spawn_app_with(webhook_token: Option<&str>) -> TestApp {
    let token = webhook_token.map(str::to_string);
    spawn_app_configured(move |state, _| state.webhook_token = token.map(Into::into)).await
}

/// A server whose state `configure` adjusts; it gets the server's base URL too.
pub async fn spawn_app_configured(configure: impl FnOnce(&mut AppState, &str)) -> TestApp {
    spawn_app_on(TestBot::new().with_alice(), configure).await
}

/// A server on `test_bot`, whose state `configure` adjusts.
pub async fn spawn_app_on(
    test_bot: TestBot,
    configure: impl FnOnce(&mut AppState, &str),
) -> TestApp {
    let mut state = AppState::open(test_bot.bot.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    configure(&mut state, &addr);
    tokio::spawn(async move {
        axum::serve(listener, http::router(state)).await.unwrap();
    });
    TestApp {
        addr,
        client: reqwest::Client::new(),
        test_bot,
    }
}

impl TestApp {
    /// A staff API call with a bearer token.
    pub async fn staff_get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.addr))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// A staff API call's JSON.
    pub async fn staff_json(&self, path: &str, token: &str) -> serde_json::Value {
        self.staff_get(path, token).await.json().await.unwrap()
    }

    /// Posts a voice transcript.
    pub async fn post_voice(&self, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(format!("{}/webhook/voice", self.addr))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Posts a Twilio form, signed with `auth_token` when given.
    pub async fn post_twilio(
        &self,
        fields: &[(&str, &str)],
        auth_token: Option<&str>,
    ) -> reqwest::Response {
        let url = format!("{}/webhook/twilio", self.addr);
        let owned: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut req = self.client.post(&url).form(&owned);
        if let Some(token) = auth_token {
            req = req.header(
                "X-Twilio-Signature",
                parcours::channel::twilio::sign(token, &url, &owned),
            );
        }
        req.send().await.unwrap()
    }

    /// Posts an Alexa request.
    pub async fn post_alexa(&self, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(format!("{}/webhook/alexa", self.addr))
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

/// An Alexa request as the Alexa service sends it (the shape of the Alexa Skills Kit request reference).
pub fn alexa_request(
    kind: &str,
    user: &str,
    session: &str,
    intent: Option<(&str, Option<&str>)>,
) -> serde_json::Value {
    // Every request has its own id (Alexa's is unique per request: a repeated one is a redelivery).
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut request = serde_json::json!({
        "type": kind,
        "requestId": format!("amzn1.echo-api.request.{n:04}"),
        "timestamp": "2026-11-23T10:00:00Z",
        "locale": "en-US"
    });
    if let Some((name, query)) = intent {
        let mut slots = serde_json::json!({});
        if let Some(q) = query {
            slots["Query"] =
                serde_json::json!({"name": "Query", "value": q, "confirmationStatus": "NONE"});
        }
        request["intent"] =
            serde_json::json!({"name": name, "confirmationStatus": "NONE", "slots": slots});
    }
    if kind == "SessionEndedRequest" {
        request["reason"] = serde_json::json!("USER_INITIATED");
    }
    serde_json::json!({
        "version": "1.0",
        "session": {
            "new": kind == "LaunchRequest",
            "sessionId": session,
            "application": {"applicationId": "amzn1.ask.skill.parcours"},
            "user": {"userId": user}
        },
        "context": {
            "System": {
                "application": {"applicationId": "amzn1.ask.skill.parcours"},
                "user": {"userId": user},
                "device": {"deviceId": "amzn1.ask.device.1", "supportedInterfaces": {}},
                "apiEndpoint": "https://api.amazonalexa.com"
            }
        },
        "request": request
    })
}

/// Checks that `xml` is a well-formed document.
pub fn assert_well_formed(xml: &str) {
    if let Err(e) = roxmltree::Document::parse(xml) {
        panic!("not well-formed XML ({e}): {xml}");
    }
}

/// The real `parcours serve` binary on a free port, killed when dropped.
pub struct ServeProcess {
    pub child: std::process::Child,
    pub base: String,
}

impl ServeProcess {
    /// Starts `parcours serve` on `data` with the shipped intents and `envs`, and waits for `/healthz`.
    pub async fn start(
        data: &std::path::Path,
        envs: &[(&str, &str)],
        log: std::process::Stdio,
    ) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_parcours"));
        cmd.args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data)
        .arg("--intents")
        .arg(intents_dir())
        .env_remove("TELOXIDE_TOKEN")
        .env_remove("PARCOURS_PUBLIC_URL")
        .stdout(std::process::Stdio::null())
        .stderr(log);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        // Up to a minute: the server trains its NLU at start, and on a loaded 2-core machine (the rest of
        // the suite training bots beside it) that took more than the 10 s this loop once allowed.
        for _ in 0..600 {
            if client.get(format!("{base}/healthz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        ServeProcess { child, base }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Imports the shipped demo customers (plus `extra_identities` for Alice) into `data` with the CLI.
pub fn import_demo_customers(data: &std::path::Path, extra_identities: &[serde_json::Value]) {
    let mut list: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data_file("customers.json")).unwrap())
            .unwrap();
    for i in extra_identities {
        list[0]["identities"]
            .as_array_mut()
            .unwrap()
            .push(i.clone());
    }
    let file = data.with_extension("customers.json");
    std::fs::write(&file, list.to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_parcours"))
        .args(["customers", "import"])
        .arg(&file)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file under `dir`, searched for `needle`.
pub fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
            {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}
