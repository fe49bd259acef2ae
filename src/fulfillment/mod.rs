//! The fulfillment webhook: live data and actions from the business's own systems.
//!
//! When an intent needs the business's data (`fulfillment = true` in its TOML, or its own URL), the
//! bot POSTs a small signed JSON [`Request`] to the business and fills the answer from the
//! [`Response`]'s `values`, or says its ready `say` sentence; an acting intent, once confirmed, sends the
//! same request with `action` and an `idempotency_key`, and says it is done only when the answer's
//! `done` is true. The protocol is in `../shared/CONTRACT.md` ("Fulfillment webhook"), the README and
//! `/openapi.json`.
//!
//! Safe by construction ([`guard`]): every call is signed (the secret is required), bounded by a short
//! time-out and a per-turn deadline (voice cannot wait), retried only where that is safe (reads, and
//! actions with their key), cut off by a circuit breaker per URL after a few failures, and reads are
//! cached per customer for a few seconds. This module never decides what the customer hears: the
//! engine does, from the [`Live`] answer or the failure it is given. It never logs a body, the secret
//! or a URL's credentials.

pub mod demo;
pub mod guard;

use crate::store::Customer;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// `PARCOURS_FULFILLMENT_URL`: the default fulfillment URL (overrides `fulfillment_url`).
pub const URL_ENV: &str = "PARCOURS_FULFILLMENT_URL";
/// `PARCOURS_FULFILLMENT_SECRET`: the key every call is signed with.
pub const SECRET_ENV: &str = "PARCOURS_FULFILLMENT_SECRET";

/// The largest answer read from a backend: anything longer is a failure, not a memory hog.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// How the calls are bounded (`[fulfillment]` in `parcours.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FulfillmentSettings {
    /// One try's time-out. Voice platforms cut a webhook after 5 to 10 seconds, and the caller hears
    /// silence meanwhile: 2 seconds is what a lookup may cost.
    pub timeout_ms: u64,
    /// Tries after the first, for reads and for actions (which carry their idempotency key).
    pub retries: u32,
    /// Everything the business is asked in one turn (tries and waits) ends by then.
    pub deadline_ms: u64,
    /// Failed tries in a row after which a URL is not called for `breaker_open_ms`.
    pub breaker_failures: u32,
    /// How long an open breaker fails calls at once, before one call tries the URL again.
    pub breaker_open_ms: u64,
    /// How long a read's answer is reused for the same customer and question (0: never).
    pub cache_ms: u64,
}

impl Default for FulfillmentSettings {
    fn default() -> Self {
        FulfillmentSettings {
            timeout_ms: 2000,
            retries: 1,
            deadline_ms: 4000,
            breaker_failures: 5,
            breaker_open_ms: 30_000,
            cache_ms: 5000,
        }
    }
}

/// Who the request is about: the customer's id, the identities the business may know them by, and the
/// profile fields parcours has.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CustomerRef {
    pub id: String,
    pub identities: Vec<IdentityRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// One identity of the customer on a channel.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IdentityRef {
    pub channel: String,
    pub id: String,
}

impl CustomerRef {
    pub fn new(c: &Customer, identities: &[crate::store::Identity]) -> Self {
        CustomerRef {
            id: c.id.clone(),
            identities: identities
                .iter()
                .map(|i| IdentityRef {
                    channel: i.channel.to_string(),
                    id: i.id.clone(),
                })
                .collect(),
            name: c.name.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
        }
    }
}

/// What parcours POSTs to the business.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Request {
    pub intent: String,
    /// Entity name → value, as collected in the conversation.
    pub entities: BTreeMap<String, String>,
    pub customer: CustomerRef,
    pub conversation_id: String,
    /// `en` or `fr`.
    pub lang: String,
    /// The channel of the conversation (`voice`, `twilio`, `telegram`…).
    pub channel: String,
    /// Only for an action: what to do (`cancel_order`, `change_delivery`, `reinstate_order`,
    /// `update_email`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Only for an action: the same on every retry and for the same request in the same conversation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

impl Request {
    /// Makes this read an action, with its idempotency key.
    pub fn into_action(mut self, action: &str) -> Self {
        self.idempotency_key = Some(idempotency_key(
            &self.conversation_id,
            &self.intent,
            action,
            &self.entities,
        ));
        self.action = Some(action.to_string());
        self
    }
}

/// The key of an action: one per conversation, intent, action and entities, so a retry, or the same
/// request asked twice in a conversation, is done once by a backend that honours it.
pub fn idempotency_key(
    conversation: &str,
    intent: &str,
    action: &str,
    entities: &BTreeMap<String, String>,
) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in [conversation, intent, action] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for (k, v) in entities {
        h.update(k.as_bytes());
        h.update([1]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("idem_{hex}")
}

/// What the business answers.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Response {
    /// Template placeholders and their values (`order.status`, `order.eta`, `loyalty_points`…).
    /// Numbers and booleans are taken as their text; `null` is no value.
    #[serde(default, deserialize_with = "values_as_text")]
    pub values: BTreeMap<String, String>,
    /// A ready sentence per language, said instead of the intent's template.
    #[serde(default)]
    pub say: BTreeMap<String, String>,
    /// For an action: whether it was done.
    #[serde(default)]
    pub done: Option<bool>,
}

fn values_as_text<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: BTreeMap<String, serde_json::Value> = Deserialize::deserialize(d)?;
    Ok(raw
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            serde_json::Value::Number(n) => Some((k, n.to_string())),
            serde_json::Value::Bool(b) => Some((k, b.to_string())),
            _ => None,
        })
        .collect())
}

/// Why the business's answer could not be had. None of this reaches the customer: they hear the
/// engine's honest sentence.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FulfillError {
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("unreachable ({0})")]
    Unreachable(String),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("answered something that is not the protocol's JSON: {0}")]
    BadAnswer(String),
    #[error("not called: it failed too often just now (circuit open)")]
    CircuitOpen,
    #[error("no time left in this turn")]
    Deadline,
}

impl FulfillError {
    /// The label of the failure in `/metrics`.
    pub fn kind(&self) -> &'static str {
        match self {
            FulfillError::Timeout(_) => "timeout",
            FulfillError::Unreachable(_) => "unreachable",
            FulfillError::Status(_) => "status",
            FulfillError::BadAnswer(_) => "bad_answer",
            FulfillError::CircuitOpen => "circuit_open",
            FulfillError::Deadline => "deadline",
        }
    }

    /// Another try may do better: the backend was slow, unreachable or briefly unwell.
    fn retryable(&self) -> bool {
        match self {
            FulfillError::Timeout(_) | FulfillError::Unreachable(_) => true,
            FulfillError::Status(s) => *s >= 500 || *s == 429 || *s == 408,
            _ => false,
        }
    }
}

/// What the engine is given about the business's answer for this turn.
#[derive(Debug, Clone, PartialEq)]
pub enum Live {
    /// The answer: values for the templates, and the ready sentence in the customer's language.
    Answer {
        values: BTreeMap<String, String>,
        say: Option<String>,
    },
    /// The business could not be asked or did not answer.
    Failed,
}

impl Live {
    /// The engine's view of a read: the sentence in `lang`, if the backend gave one.
    pub fn from_result(r: &Result<Response, FulfillError>, lang: &str) -> Live {
        match r {
            Ok(resp) => Live::Answer {
                values: resp.values.clone(),
                say: resp.say.get(lang).cloned(),
            },
            Err(_) => Live::Failed,
        }
    }

    /// A value the backend gave.
    pub fn value(&self, name: &str) -> Option<&str> {
        match self {
            Live::Answer { values, .. } => values.get(name).map(String::as_str),
            Live::Failed => None,
        }
    }
}

/// The customer as this turn sees them once the business answered: the backend's values win over the
/// imported profile (the order named, the points balance, contact details). Nothing of this is stored.
pub fn overlay(customer: &Customer, order_id: Option<&str>, live: &Live) -> Customer {
    let mut c = customer.clone();
    let Live::Answer { values, .. } = live else {
        return c;
    };
    if let Some(id) = order_id {
        let known = c.orders.iter().position(|o| o.id == id);
        let mut order = known.map(|i| c.orders.remove(i)).unwrap_or_default();
        // A read that says nothing of the order's status: the business does not know that order.
        if let Some(status) = values.get("order.status") {
            order.id = id.to_string();
            order.status = status.clone();
            order.eta = values.get("order.eta").cloned();
            order.address = values.get("order.address").cloned().or(order.address);
            order.previous_status = values.get("order.previous_status").cloned();
            c.orders.push(order);
        }
    }
    if let Some(points) = values.get("loyalty_points").and_then(|p| p.parse().ok()) {
        c.loyalty_points = Some(points);
    }
    for (field, slot) in [
        ("name", &mut c.name),
        ("email", &mut c.email),
        ("phone", &mut c.phone),
    ] {
        if let Some(v) = values.get(field) {
            *slot = Some(v.clone());
        }
    }
    c
}

/// A URL as it may be logged and labelled: scheme, host, port and path; never the credentials or the
/// query string, where tokens hide.
pub fn display_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!(
                "{}://{}{port}{}",
                u.scheme(),
                u.host_str().unwrap_or(""),
                u.path()
            )
        }
        Err(_) => "(unparsable url)".into(),
    }
}

/// The fulfillment client: one per bot, shared by every conversation.
pub struct Fulfiller {
    client: reqwest::Client,
    secret: String,
    settings: FulfillmentSettings,
    guard: guard::Guard,
}

impl Fulfiller {
    /// A client that signs with `secret`.
    pub fn new(settings: FulfillmentSettings, secret: String) -> Self {
        let client = reqwest::Client::builder()
            // The time-out of each try is set per request, from what is left of the turn's deadline.
            .connect_timeout(Duration::from_millis(settings.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Fulfiller {
            client,
            secret,
            guard: guard::Guard::new(&settings),
            settings,
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &FulfillmentSettings {
        &self.settings
    }

    /// A read: the values for a turn's answer. Answers are reused for `cache_ms` for the same
    /// customer and question; a failure is retried while the deadline allows.
    pub async fn read(
        &self,
        url: &str,
        req: &Request,
        deadline: Instant,
    ) -> Result<Response, FulfillError> {
        let key = guard::cache_key(url, req);
        if let Some(hit) = self.guard.cached(&req.customer.id, &key) {
            self.guard.count(url, "cache_hit");
            return Ok(hit);
        }
        let r = self.call(url, req, deadline).await;
        if let Ok(resp) = &r {
            self.guard.remember(&req.customer.id, key, resp.clone());
        }
        r
    }

    /// An action: retried with the same idempotency key while the deadline allows. Whatever happens,
    /// the customer's cached reads are dropped: the action may have changed them.
    pub async fn act(
        &self,
        url: &str,
        req: &Request,
        deadline: Instant,
    ) -> Result<Response, FulfillError> {
        debug_assert!(req.idempotency_key.is_some(), "an action carries its key");
        let r = self.call(url, req, deadline).await;
        self.guard.forget_customer(&req.customer.id);
        r
    }

    /// Signs and posts, with retries, the breaker and the metrics.
    async fn call(
        &self,
        url: &str,
        req: &Request,
        deadline: Instant,
    ) -> Result<Response, FulfillError> {
        let body = serde_json::to_vec(req).map_err(|e| FulfillError::BadAnswer(e.to_string()))?;
        let shown = display_url(url);
        let mut last = FulfillError::Deadline;
        for attempt in 0..=self.settings.retries {
            if attempt > 0 {
                // A short pause, so a backend that just failed is not hit again at once.
                let pause = Duration::from_millis(50u64 << attempt.min(4));
                if Instant::now() + pause >= deadline {
                    break;
                }
                tokio::time::sleep(pause).await;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left < Duration::from_millis(10) {
                break;
            }
            let Some(probe) = self.guard.admit(url) else {
                self.guard.count(url, FulfillError::CircuitOpen.kind());
                return Err(FulfillError::CircuitOpen);
            };
            let timeout = left.min(Duration::from_millis(self.settings.timeout_ms));
            let started = Instant::now();
            let r = self.try_once(url, &body, timeout).await;
            self.guard
                .observe(url, probe, started.elapsed(), r.as_ref().err());
            match r {
                Ok(resp) => return Ok(resp),
                Err(e) => {
                    tracing::warn!(url = %shown, intent = %req.intent, attempt, error = %e, "fulfillment call failed");
                    let again = e.retryable();
                    last = e;
                    if !again {
                        break;
                    }
                }
            }
        }
        Err(last)
    }

    async fn try_once(
        &self,
        url: &str,
        body: &[u8],
        timeout: Duration,
    ) -> Result<Response, FulfillError> {
        let ts = crate::time::Timestamp::now().0 / 1000;
        let sent = self
            .client
            .post(url)
            .timeout(timeout)
            .header("content-type", "application/json")
            .header("X-Parcours-Timestamp", ts.to_string())
            .header(
                "X-Parcours-Signature",
                crate::handoff::signature(&self.secret, ts, body),
            )
            .body(body.to_vec())
            .send();
        let timeout_ms = timeout.as_millis() as u64;
        let outcome = tokio::time::timeout(timeout, async {
            let resp = sent.await.map_err(|e| transport_error(&e, timeout_ms))?;
            let status = resp.status();
            if !status.is_success() {
                return Err(FulfillError::Status(status.as_u16()));
            }
            let bytes = read_capped(resp)
                .await
                .map_err(|e| transport_error(&e, timeout_ms))?;
            let Some(bytes) = bytes else {
                return Err(FulfillError::BadAnswer(format!(
                    "longer than {MAX_ANSWER_BYTES} bytes"
                )));
            };
            serde_json::from_slice::<Response>(&bytes)
                .map_err(|e| FulfillError::BadAnswer(e.to_string()))
        })
        .await;
        outcome.unwrap_or(Err(FulfillError::Timeout(timeout_ms)))
    }

    /// The fulfillment families of `/metrics`.
    pub fn render_metrics(&self) -> String {
        self.guard.render_metrics()
    }
}

/// A transport error without its URL (which may hold credentials).
fn transport_error(e: &reqwest::Error, timeout_ms: u64) -> FulfillError {
    if e.is_timeout() {
        FulfillError::Timeout(timeout_ms)
    } else if e.is_decode() || e.is_body() {
        FulfillError::BadAnswer("the body could not be read".into())
    } else if e.is_connect() {
        FulfillError::Unreachable("connection refused or failed".into())
    } else {
        FulfillError::Unreachable(
            std::error::Error::source(e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| "request failed".into()),
        )
    }
}

/// The body, or `None` past [`MAX_ANSWER_BYTES`].
async fn read_capped(mut resp: reqwest::Response) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if out.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Ok(None);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_urls_credentials_and_query_never_show() {
        assert_eq!(
            display_url("https://bot:hunter2@orders.example.com:8443/hook?token=abc"),
            "https://orders.example.com:8443/hook"
        );
    }

    #[test]
    fn the_idempotency_key_is_the_same_for_the_same_request_only() {
        let e: BTreeMap<String, String> = [("order_id".to_string(), "4567".to_string())].into();
        let a = idempotency_key("tp_1", "cancel_order", "cancel_order", &e);
        assert_eq!(
            a,
            idempotency_key("tp_1", "cancel_order", "cancel_order", &e)
        );
        assert_ne!(
            a,
            idempotency_key("tp_2", "cancel_order", "cancel_order", &e)
        );
        let other: BTreeMap<String, String> = [("order_id".to_string(), "1234".to_string())].into();
        assert_ne!(
            a,
            idempotency_key("tp_1", "cancel_order", "cancel_order", &other)
        );
    }

    #[test]
    fn numbers_in_values_are_read_as_text_and_nulls_as_nothing() {
        let r: Response = serde_json::from_str(
            r#"{"values": {"loyalty_points": 1250, "order.eta": null, "x": "y"}}"#,
        )
        .unwrap();
        assert_eq!(
            r.values.get("loyalty_points").map(String::as_str),
            Some("1250")
        );
        assert!(!r.values.contains_key("order.eta"));
        assert_eq!(r.done, None);
    }

    #[test]
    fn the_backends_order_replaces_the_imported_one_and_an_unknown_order_disappears() {
        let mut c = Customer::default();
        c.orders.push(crate::store::Order {
            id: "4567".into(),
            status: "processing".into(),
            ..Default::default()
        });
        let live = Live::Answer {
            values: [("order.status".to_string(), "shipped".to_string())].into(),
            say: None,
        };
        let seen = overlay(&c, Some("4567"), &live);
        assert_eq!(seen.order("4567").unwrap().status, "shipped");
        let unknown = Live::Answer {
            values: BTreeMap::new(),
            say: None,
        };
        assert!(overlay(&c, Some("4567"), &unknown).order("4567").is_none());
    }
}
