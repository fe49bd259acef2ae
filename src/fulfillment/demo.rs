//! The reference backend: the business side of the fulfillment protocol, serving the sample customers'
//! orders (`parcours demo-backend`, and the tests' fake backend). It checks every signature, answers
//! reads from its copy of the orders, and performs each action once per idempotency key, as a real
//! backend must. It is an example to read when writing one, not a part of the bot.
//!
//! Faults can be injected ([`Faults`]) so tests can make it slow or failing on purpose.

use super::Response;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How far a request's timestamp may be from the backend's clock (replayed requests are refused).
const TOLERANCE_SECONDS: u64 = 300;

/// What the next requests suffer, for tests.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    /// The next this-many requests wait `slow_ms` before answering (after doing their work).
    pub slow_next: u32,
    pub slow_ms: u64,
    /// The next this-many requests are answered HTTP 500, doing nothing.
    pub fail_next: u32,
    /// Every request is answered HTTP 500.
    pub down: bool,
}

/// One request as the backend received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub body: Value,
    /// The signature was valid.
    pub signed: bool,
}

#[derive(Default)]
struct Inner {
    /// Customers as in the import file (objects with `id`, `orders`, `identities`…).
    customers: Vec<Value>,
    /// Idempotency key → the answer given when the action was performed.
    done: HashMap<String, Value>,
    /// Actions performed (not replayed), in order.
    performed: Vec<(String, String)>,
    seen: Vec<Seen>,
    faults: Faults,
}

/// The reference backend's state; clone it to look inside from a test.
#[derive(Clone)]
pub struct DemoBackend {
    secret: Arc<String>,
    inner: Arc<Mutex<Inner>>,
}

impl DemoBackend {
    /// A backend holding `customers` (the JSON array `parcours customers import` reads) that accepts
    /// requests signed with `secret`.
    pub fn new(customers: Vec<Value>, secret: &str) -> Self {
        DemoBackend {
            secret: Arc::new(secret.to_string()),
            inner: Arc::new(Mutex::new(Inner {
                customers,
                ..Default::default()
            })),
        }
    }

    /// Reads the customers from a JSON file.
    pub fn from_file(path: &std::path::Path, secret: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let customers: Vec<Value> =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self::new(customers, secret))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the faults the next requests suffer.
    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    /// Every request received, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// Actions performed: (action, idempotency key), each key at most once.
    pub fn performed(&self) -> Vec<(String, String)> {
        self.lock().performed.clone()
    }

    /// An order's status as the backend holds it.
    pub fn order_status(&self, order: &str) -> Option<String> {
        let inner = self.lock();
        inner.customers.iter().find_map(|c| {
            orders(c)
                .iter()
                .find(|o| o.get("id").and_then(Value::as_str) == Some(order))
                .and_then(|o| o.get("status").and_then(Value::as_str))
                .map(str::to_string)
        })
    }

    /// Changes an order's status, as the business's own staff or warehouse would.
    pub fn set_order_status(&self, order: &str, status: &str) {
        let mut inner = self.lock();
        for c in inner.customers.iter_mut() {
            if let Some(os) = c.get_mut("orders").and_then(Value::as_array_mut) {
                for o in os.iter_mut() {
                    if o.get("id").and_then(Value::as_str) == Some(order) {
                        o["status"] = Value::String(status.to_string());
                    }
                }
            }
        }
    }

    /// The router: every POST, at any path, is a fulfillment request.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .fallback(axum::routing::post(handle))
            .with_state(self.clone())
    }

    /// Serves on `listener` until the task is dropped.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }
}

fn orders(c: &Value) -> &[Value] {
    c.get("orders")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// Whether the signature headers are those of `body` with `secret`, and recent.
pub fn verify(secret: &str, headers: &HeaderMap, body: &[u8], now_s: u64) -> bool {
    use subtle::ConstantTimeEq;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(ts), Some(sig)) = (
        header("x-parcours-timestamp").and_then(|t| t.parse::<u64>().ok()),
        header("x-parcours-signature"),
    ) else {
        return false;
    };
    if now_s.abs_diff(ts) > TOLERANCE_SECONDS {
        return false;
    }
    let expected = crate::handoff::signature(secret, ts, body);
    expected.as_bytes().ct_eq(sig.as_bytes()).into()
}

async fn handle(
    State(backend): State<DemoBackend>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let now = crate::time::Timestamp::now().0 / 1000;
    let signed = verify(&backend.secret, &headers, &body, now);
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let (answer, delay) = {
        let mut inner = backend.lock();
        inner.seen.push(Seen {
            body: parsed.clone().unwrap_or(Value::Null),
            signed,
        });
        if !signed {
            let r = (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "bad or missing signature"})),
            );
            return r.into_response();
        }
        let Some(req) = parsed else {
            let r = (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "the body is not JSON"})),
            );
            return r.into_response();
        };
        let f = &mut inner.faults;
        if f.down || f.fail_next > 0 {
            f.fail_next = f.fail_next.saturating_sub(1);
            let r = (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": "order system down"})),
            );
            return r.into_response();
        }
        let delay = if f.slow_next > 0 {
            f.slow_next -= 1;
            Some(Duration::from_millis(f.slow_ms))
        } else {
            None
        };
        (answer(&mut inner, &req), delay)
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    Json(answer).into_response()
}

/// The answer to one request, performing its action once per key.
fn answer(inner: &mut Inner, req: &Value) -> Value {
    let action = req.get("action").and_then(Value::as_str);
    let key = req.get("idempotency_key").and_then(Value::as_str);
    if let (Some(_), Some(key)) = (action, key) {
        if let Some(before) = inner.done.get(key) {
            return before.clone();
        }
    }
    let entities: BTreeMap<String, String> = req
        .get("entities")
        .and_then(|e| serde_json::from_value(e.clone()).ok())
        .unwrap_or_default();
    let Some(ci) = find_customer(&inner.customers, req.get("customer")) else {
        return serde_json::to_value(Response::default()).unwrap_or_default();
    };
    let order_id = entities
        .iter()
        .find(|(k, _)| k.contains("order"))
        .map(|(_, v)| v.clone());
    match (action, key) {
        (Some(action), Some(key)) => {
            let a = act(
                &mut inner.customers[ci],
                action,
                order_id.as_deref(),
                &entities,
            );
            if a.get("done") == Some(&Value::Bool(true)) {
                inner.performed.push((action.to_string(), key.to_string()));
            }
            inner.done.insert(key.to_string(), a.clone());
            a
        }
        // An action without its key is refused: it could be done twice.
        (Some(_), None) => json!({"done": false, "say": {
            "en": "That request was missing its idempotency key, so nothing was done.",
            "fr": "Il manquait la clé d'idempotence à cette demande : rien n'a été fait."}}),
        (None, _) => read(&inner.customers[ci], order_id.as_deref()),
    }
}

/// The customer the request is about: by id, else by an identity, else by phone or email.
fn find_customer(customers: &[Value], who: Option<&Value>) -> Option<usize> {
    let who = who?;
    let id = who.get("id").and_then(Value::as_str);
    if let Some(i) = customers
        .iter()
        .position(|c| id.is_some() && c.get("id").and_then(Value::as_str) == id)
    {
        return Some(i);
    }
    let idents: Vec<(String, String)> = who
        .get("identities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| {
            Some((
                i.get("channel")?.as_str()?.to_string(),
                i.get("id")?.as_str()?.to_string(),
            ))
        })
        .collect();
    customers.iter().position(|c| {
        let theirs = c.get("identities").and_then(Value::as_array);
        let by_identity = theirs.into_iter().flatten().any(|i| {
            idents.iter().any(|(ch, id)| {
                i.get("channel").and_then(Value::as_str) == Some(ch)
                    && i.get("id").and_then(Value::as_str) == Some(id)
            })
        });
        let same = |field: &str| {
            let mine = who.get(field).and_then(Value::as_str);
            mine.is_some() && c.get(field).and_then(Value::as_str) == mine
        };
        by_identity || same("phone") || same("email")
    })
}

/// What the backend knows for a read: the order named (each of its fields as `order.<field>`), the
/// points balance.
fn read(customer: &Value, order_id: Option<&str>) -> Value {
    let mut values = Map::new();
    if let Some(p) = customer.get("loyalty_points") {
        values.insert("loyalty_points".into(), p.clone());
    }
    if let Some(order) = order_id.and_then(|id| {
        orders(customer)
            .iter()
            .find(|o| o.get("id").and_then(Value::as_str) == Some(id))
    }) {
        if let Some(fields) = order.as_object() {
            for (k, v) in fields {
                if k != "id" {
                    values.insert(format!("order.{k}"), v.clone());
                }
            }
        }
    }
    json!({ "values": values })
}

/// Performs an action on the customer's copy, with the same rules a shop has: cancel only before
/// shipping, change a delivery only before it arrives, undo only a cancellation not yet processed.
fn act(
    customer: &mut Value,
    action: &str,
    order_id: Option<&str>,
    entities: &BTreeMap<String, String>,
) -> Value {
    let refuse = |en: &str, fr_text: &str| json!({"done": false, "say": {"en": en, "fr": fr_text}});
    if action == "update_email" {
        let Some(email) = entities.values().find(|v| v.contains('@')) else {
            return refuse(
                "I need the new email address.",
                "Il me faut la nouvelle adresse e-mail.",
            );
        };
        customer["email"] = Value::String(email.clone());
        return json!({"done": true, "values": {"email": email}});
    }
    let Some(id) = order_id else {
        return refuse("Which order is it?", "De quelle commande s'agit-il ?");
    };
    let Some(order) = customer
        .get_mut("orders")
        .and_then(Value::as_array_mut)
        .and_then(|os| {
            os.iter_mut()
                .find(|o| o.get("id").and_then(Value::as_str) == Some(id))
        })
    else {
        return refuse(
            &format!("I can't find order {id} on your account."),
            &format!("Je ne trouve pas la commande {id} sur votre compte."),
        );
    };
    let status = order
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match action {
        "cancel_order" if status == "processing" => {
            order["previous_status"] = Value::String(status);
            order["status"] = Value::String("cancelled".into());
            json!({"done": true, "values": {"order.status": "cancelled"}})
        }
        "cancel_order" => refuse(
            &format!(
                "Order {id} has already left our warehouse, so it can't be cancelled any more."
            ),
            &format!(
                "La commande {id} a déjà quitté notre entrepôt, elle ne peut plus être annulée."
            ),
        ),
        "reinstate_order" if status == "cancelled" && order.get("previous_status").is_some() => {
            let before = order["previous_status"].take();
            order["status"] = before.clone();
            if let Some(o) = order.as_object_mut() {
                o.remove("previous_status");
            }
            json!({"done": true, "values": {"order.status": before}})
        }
        "reinstate_order" => refuse(
            &format!("Order {id}'s cancellation has already been processed."),
            &format!("L'annulation de la commande {id} a déjà été traitée."),
        ),
        "change_delivery"
            if ["processing", "shipped", "out_for_delivery"].contains(&status.as_str()) =>
        {
            if let Some(a) = entities.get("address") {
                order["address"] = Value::String(a.clone());
            }
            if let Some(d) = entities.get("date") {
                order["eta"] = Value::String(d.clone());
            }
            json!({"done": true})
        }
        "change_delivery" => refuse(
            &format!("Order {id} has already been delivered."),
            &format!("La commande {id} a déjà été livrée."),
        ),
        other => refuse(
            &format!("I don't know how to do {other}."),
            &format!("Je ne sais pas faire {other}."),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_made_with_another_secret_or_long_ago_is_refused() {
        let body = br#"{"intent":"order_status"}"#;
        let mut h = HeaderMap::new();
        let now = 1_800_000_000;
        h.insert("x-parcours-timestamp", now.to_string().parse().unwrap());
        let good = crate::handoff::signature("s3cret", now, body);
        h.insert("x-parcours-signature", good.parse().unwrap());
        assert!(verify("s3cret", &h, body, now));
        assert!(!verify("other", &h, body, now));
        assert!(!verify("s3cret", &h, br#"{"intent":"cancel_order"}"#, now));
        assert!(!verify("s3cret", &h, body, now + TOLERANCE_SECONDS + 1));
    }

    #[test]
    fn an_action_is_performed_once_per_key() {
        let customers =
            vec![json!({"id": "c1", "orders": [{"id": "5521", "status": "processing"}]})];
        let mut inner = Inner {
            customers,
            ..Default::default()
        };
        let req = json!({"intent": "cancel_order", "action": "cancel_order", "idempotency_key": "k1",
            "entities": {"order_id": "5521"}, "customer": {"id": "c1", "identities": []}, "lang": "en"});
        let first = answer(&mut inner, &req);
        let again = answer(&mut inner, &req);
        assert_eq!(first, again);
        assert_eq!(first["done"], json!(true));
        assert_eq!(inner.performed.len(), 1);
        // A second cancellation under another key is refused: the order is cancelled already.
        let mut other = req.clone();
        other["idempotency_key"] = json!("k2");
        assert_eq!(answer(&mut inner, &other)["done"], json!(false));
    }
}
