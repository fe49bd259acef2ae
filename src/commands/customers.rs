//! `parcours customers import FILE`: loads customers (profile, orders, identities) from JSON or CSV so that
//! answers such as order status and loyalty points come from real data.
//!
//! JSON: an array of records (or `{"customers": [...]}`):
//! `{"id", "name", "email", "phone", "loyalty_points", "orders": [{"id", "status", "eta"}],
//!   "identities": [{"channel", "id"}], "attributes": {…}}`; every field but one way to find the customer
//! (`id` or an identity) is optional.
//! CSV: a header with any of `id,name,email,phone,loyalty_points,orders,identities`; `orders` is
//! `4567:shipped:2026-11-25;1234:delivered`, `identities` is `chat:alice;telegram:123456`.

use crate::message::Channel;
use crate::store::{Customer, Identity, Order, ProfileStore};
use crate::time::Timestamp;
use anyhow::{Context, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One customer as imported.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Record {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub loyalty_points: Option<u64>,
    #[serde(default)]
    pub orders: Vec<Order>,
    #[serde(default)]
    pub identities: Vec<Identity>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonFile {
    List(Vec<Record>),
    Wrapped { customers: Vec<Record> },
}

/// Reads records from a `.json` or `.csv` file.
pub fn read(path: &Path) -> anyhow::Result<Vec<Record>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv {
        return read_csv(&text).with_context(|| format!("in {}", path.display()));
    }
    let file: JsonFile = serde_json::from_str(&text)
        .with_context(|| format!("{}: expected a JSON array of customers", path.display()))?;
    Ok(match file {
        JsonFile::List(r) | JsonFile::Wrapped { customers: r } => r,
    })
}

fn read_csv(text: &str) -> anyhow::Result<Vec<Record>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers()?.clone();
    let mut out = Vec::new();
    for (n, row) in reader.records().enumerate() {
        let row = row?;
        let line = n + 2;
        let mut r = Record::default();
        for (h, v) in headers.iter().zip(row.iter()) {
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            match h.trim() {
                "id" => r.id = Some(v.into()),
                "name" => r.name = Some(v.into()),
                "email" => r.email = Some(v.into()),
                "phone" => r.phone = Some(v.into()),
                "loyalty_points" => {
                    r.loyalty_points = Some(
                        v.parse()
                            .with_context(|| format!("line {line}: loyalty_points {v:?}"))?,
                    )
                }
                "orders" => {
                    for o in v.split(';').filter(|o| !o.trim().is_empty()) {
                        let mut parts = o.trim().splitn(3, ':');
                        let id = parts.next().unwrap_or("").to_string();
                        let Some(status) = parts.next() else {
                            bail!("line {line}: order {o:?} should be id:status[:eta]");
                        };
                        r.orders.push(Order {
                            id,
                            status: status.to_string(),
                            eta: parts.next().map(str::to_string),
                            ..Order::default()
                        });
                    }
                }
                "identities" => {
                    for i in v.split(';').filter(|i| !i.trim().is_empty()) {
                        let Some((channel, id)) = i.trim().split_once(':') else {
                            bail!("line {line}: identity {i:?} should be channel:id");
                        };
                        let channel = Channel::parse(channel)
                            .with_context(|| format!("line {line}: unknown channel {channel:?}"))?;
                        r.identities.push(Identity {
                            channel,
                            id: id.to_string(),
                        });
                    }
                }
                other => {
                    r.attributes.insert(other.to_string(), v.to_string());
                }
            }
        }
        out.push(r);
    }
    Ok(out)
}

/// Imports records into the store; returns how many customers were written.
pub async fn import(store: &dyn ProfileStore, records: Vec<Record>) -> anyhow::Result<usize> {
    let now = Timestamp::now();
    let mut n = 0;
    for (i, r) in records.into_iter().enumerate() {
        let which = || {
            format!(
                "customer #{} ({})",
                i + 1,
                r.id.as_deref().unwrap_or("no id")
            )
        };
        for o in &r.orders {
            if o.id.trim().is_empty() || o.status.trim().is_empty() {
                bail!("{}: every order needs an id and a status", which());
            }
        }
        // An existing customer is found by id, then by any of the identities.
        let mut existing = match &r.id {
            Some(id) => store.customer(id).await?,
            None => None,
        };
        if existing.is_none() {
            for ident in &r.identities {
                if let Some(c) = store.customer_of(ident).await? {
                    existing = Some(c);
                    break;
                }
            }
        }
        let id = match (&r.id, &existing) {
            (Some(id), _) => id.clone(),
            (None, Some(c)) => c.id.clone(),
            (None, None) if !r.identities.is_empty() || r.phone.is_some() => {
                store.new_id("cus").await?
            }
            (None, None) => bail!("{}: needs an id or at least one identity", which()),
        };
        let customer = Customer {
            id: id.clone(),
            name: r.name,
            email: r.email,
            phone: r.phone.clone(),
            loyalty_points: r.loyalty_points,
            orders: r.orders,
            attributes: r.attributes,
            created_at: existing.map_or(now, |c| c.created_at),
        };
        store.put_customer(&customer).await?;
        let mut identities = r.identities;
        // A phone number is how a caller is known on the phone channel (Twilio gives the caller's number).
        if let Some(phone) = r.phone {
            identities.push(Identity {
                channel: Channel::Twilio,
                id: phone,
            });
        }
        for ident in &identities {
            store.link(ident, &id).await?;
        }
        n += 1;
    }
    store.flush_now().await?;
    Ok(n)
}
