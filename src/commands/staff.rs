//! Staff work from the shell: `parcours conversations list|show|export` and
//! `parcours customers show|export|forget|merge|split|compact`. The same views as the staff API.

use crate::message::Channel;
use crate::staff::views::{ConversationSummary, Transcript};
use crate::store::{Identity, ProfileStore, Speaker, Touchpoint};
use crate::time::Timestamp;
use anyhow::{Context, bail};
use std::io::Write;

/// Which conversations to list or export.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub channel: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub intent: Option<String>,
    pub customer: Option<String>,
    pub limit: usize,
}

fn time(name: &str, v: &Option<String>) -> anyhow::Result<Option<Timestamp>> {
    match v {
        None => Ok(None),
        Some(s) => {
            let t = Timestamp::parse(s)
                .with_context(|| format!("--{name}: expected a date or an RFC 3339 time"))?;
            Ok(Some(if name == "until" && s.trim().len() == 10 {
                t.plus_ms(86_400_000)
            } else {
                t
            }))
        }
    }
}

/// The selected conversations, newest first.
pub async fn select(store: &dyn ProfileStore, sel: &Selection) -> anyhow::Result<Vec<Touchpoint>> {
    let channel = match &sel.channel {
        Some(c) => {
            Some(Channel::parse(c).with_context(|| format!("--channel: unknown channel {c:?}"))?)
        }
        None => None,
    };
    let since = time("since", &sel.since)?.unwrap_or(Timestamp(0));
    let until = time("until", &sel.until)?.unwrap_or(Timestamp(u64::MAX));
    let filter = crate::store::ConversationFilter {
        channel,
        intent: sel.intent.clone(),
        customer: sel.customer.clone(),
        ..Default::default()
    };
    Ok(store
        .touchpoints_between(since, until, sel.limit.max(1), None, &filter, true)
        .await?
        .items)
}

/// `conversations list`: one line per conversation.
pub async fn list(
    store: &dyn ProfileStore,
    sel: &Selection,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "{:<14} {:<20} {:<9} {:<14} {:<10} {:>6} {:>5}  intents",
        "id", "started", "channel", "customer", "outcome", "rating", "turns"
    )?;
    for tp in select(store, sel).await? {
        let s = ConversationSummary::from(&tp);
        writeln!(
            out,
            "{:<14} {:<20} {:<9} {:<14} {:<10} {:>6} {:>5}  {}",
            s.id,
            s.started_at,
            s.channel.as_str(),
            s.customer_id,
            s.outcome
                .map_or("open".to_string(), |o| format!("{o:?}").to_lowercase()),
            s.rating.map_or("-".to_string(), |r| r.to_string()),
            s.turns.unwrap_or_default(),
            s.intents.join(",")
        )?;
    }
    Ok(())
}

/// `conversations show ID`: the transcript.
pub async fn show(store: &dyn ProfileStore, id: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    let tp = store
        .touchpoint(id)
        .await?
        .with_context(|| format!("no conversation {id}"))?;
    let s = ConversationSummary::from(&tp);
    writeln!(
        out,
        "conversation {} on {} with {} ({})",
        s.id, s.channel, s.customer_id, s.started_at
    )?;
    for t in &tp.turns {
        let who = match t.speaker {
            Speaker::Customer => "customer",
            Speaker::Bot => "bot",
            Speaker::Staff => t.author.as_deref().unwrap_or("staff"),
            Speaker::System => "(staff only)",
        };
        let mut meta = Vec::new();
        if let Some(i) = &t.intent {
            meta.push(match t.confidence {
                Some(c) => format!("{i} {:.0}%", c * 100.0),
                None => i.clone(),
            });
        }
        for irr in &t.irritants {
            meta.push(format!("irritant: {}", irr.as_str()));
        }
        let meta = if meta.is_empty() {
            String::new()
        } else {
            format!("  [{}]", meta.join(", "))
        };
        writeln!(out, "{} {:<8} {}{}", t.at, who, printable(&t.text), meta)?;
    }
    writeln!(
        out,
        "outcome: {}",
        s.outcome
            .map_or("open".to_string(), |o| format!("{o:?}").to_lowercase())
    )?;
    for (k, v) in &tp.survey {
        writeln!(out, "survey {k}: {}", printable(v))?;
    }
    Ok(())
}

/// `conversations export --format json|csv`: JSON (one array of transcripts) or CSV (one row per turn).
pub async fn export(
    store: &dyn ProfileStore,
    sel: &Selection,
    format: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let tps = select(store, sel).await?;
    match format {
        "json" => {
            let all: Vec<Transcript> = tps.iter().map(Transcript::from).collect();
            serde_json::to_writer_pretty(&mut *out, &all)?;
            writeln!(out)?;
        }
        "csv" => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record([
                "conversation",
                "customer",
                "channel",
                "at",
                "speaker",
                "text",
                "intent",
                "confidence",
                "irritants",
                "outcome",
                "rating",
            ])?;
            for tp in &tps {
                let s = ConversationSummary::from(tp);
                for t in &tp.turns {
                    w.write_record([
                        tp.id.as_str(),
                        &tp.customer_id,
                        tp.channel.as_str(),
                        &t.at.to_string(),
                        if t.speaker == Speaker::Customer {
                            "customer"
                        } else {
                            "bot"
                        },
                        &spreadsheet_safe(&t.text),
                        t.intent.as_deref().unwrap_or(""),
                        &t.confidence.map_or(String::new(), |c| format!("{c:.3}")),
                        &t.irritants
                            .iter()
                            .map(|i| i.as_str())
                            .collect::<Vec<_>>()
                            .join(";"),
                        &s.outcome
                            .map_or(String::new(), |o| format!("{o:?}").to_lowercase()),
                        &s.rating.map_or(String::new(), |r| r.to_string()),
                    ])?;
                }
            }
            w.flush()?;
        }
        other => bail!("--format: {other:?} (json or csv)"),
    }
    Ok(())
}

/// `customers show ID`: the profile, identities and conversations.
pub async fn show_customer(
    store: &dyn ProfileStore,
    id: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let c = store
        .customer(id)
        .await?
        .with_context(|| format!("no customer {id}"))?;
    writeln!(out, "customer {}", c.id)?;
    for (k, v) in [("name", &c.name), ("email", &c.email), ("phone", &c.phone)] {
        if let Some(v) = v {
            writeln!(out, "  {k}: {v}")?;
        }
    }
    if let Some(p) = c.loyalty_points {
        writeln!(out, "  loyalty points: {p}")?;
    }
    for o in &c.orders {
        writeln!(
            out,
            "  order {}: {}{}",
            o.id,
            o.status,
            o.eta
                .as_ref()
                .map_or(String::new(), |e| format!(" (eta {e})"))
        )?;
    }
    for i in store.identities(id).await? {
        writeln!(out, "  identity {}: {}", i.channel, i.id)?;
    }
    writeln!(out, "journey:")?;
    for tp in store.touchpoints_of(id).await? {
        let s = ConversationSummary::from(&tp);
        writeln!(
            out,
            "  {} {:<9} {} {}",
            s.started_at,
            s.channel.as_str(),
            s.intents.join(","),
            s.outcome
                .map_or("open".to_string(), |o| format!("{o:?}").to_lowercase())
        )?;
    }
    Ok(())
}

/// `customers export ID`: everything held, as JSON.
pub async fn export_customer(
    store: &dyn ProfileStore,
    id: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let v = crate::staff::export(store, id)
        .await?
        .with_context(|| format!("no customer {id}"))?;
    serde_json::to_writer_pretty(&mut *out, &v)?;
    writeln!(out)?;
    Ok(())
}

/// `customers forget ID`: erasure, then a compaction so that nothing lingers in the files.
pub async fn forget(paths: &super::Paths, id: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    if paths.store_url.is_some() {
        let store = super::open_store(paths).await?;
        if store.customer(id).await?.is_none() {
            bail!("no customer {id}");
        }
        let n = store.forget(id).await?;
        writeln!(out, "erased customer {id}; {n} conversations anonymised")?;
        return Ok(());
    }
    let store = super::open_sled(
        &paths.data_dir,
        crate::store::sled_store::DEFAULT_CACHE_BYTES,
    )?;
    if store.customer(id)?.is_none() {
        bail!("no customer {id}");
    }
    let n = store.forget(id)?;
    store.compact().context("compacting the store")?;
    writeln!(
        out,
        "erased customer {id}; {n} conversations anonymised; store compacted"
    )?;
    Ok(())
}

/// `customers merge FROM INTO`.
pub async fn merge(
    store: &dyn ProfileStore,
    from: &str,
    into: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    for c in [from, into] {
        store
            .customer(c)
            .await?
            .with_context(|| format!("no customer {c}"))?;
    }
    if from == into {
        bail!("a customer cannot be merged into itself");
    }
    store.merge(from, into, None).await?;
    store.flush_now().await?;
    writeln!(out, "merged {from} into {into}")?;
    Ok(())
}

/// `customers split ID CHANNEL:ID`.
pub async fn split(
    store: &dyn ProfileStore,
    id: &str,
    identity: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let (channel, user) = identity
        .split_once(':')
        .context("the identity is channel:id, e.g. telegram:1234")?;
    let channel =
        Channel::parse(channel).with_context(|| format!("unknown channel {channel:?}"))?;
    let identity = Identity {
        channel,
        id: user.to_string(),
    };
    if !store.identities(id).await?.contains(&identity) {
        bail!(
            "customer {id} has no identity {}:{}",
            identity.channel,
            identity.id
        );
    }
    let new = store.split(id, &identity, Timestamp::now()).await?;
    store.flush_now().await?;
    writeln!(
        out,
        "{}:{} and its conversations moved to the new customer {new}",
        identity.channel, identity.id
    )?;
    Ok(())
}

/// A customer's words for a terminal: control characters (escape sequences that recolour or rewrite the
/// staff member's screen, bells, carriage returns) are shown escaped, as `\u{1b}`.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// A customer's words as a CSV cell that a spreadsheet shows as text: a leading `=`, `+`, `-`, `@`, tab or
/// carriage return would make Excel or LibreOffice run it as a formula (OWASP's CSV injection advice), so
/// such a cell starts with a quote mark. Control characters other than line breaks are dropped.
pub fn spreadsheet_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let control = text.chars().any(|c| c.is_control() && c != '\n');
    if !risky && !control {
        return std::borrow::Cow::Borrowed(text);
    }
    let kept = text.chars().filter(|&c| !c.is_control() || c == '\n');
    let prefix = if risky { "'" } else { "" };
    std::borrow::Cow::Owned(prefix.chars().chain(kept).collect())
}

#[cfg(test)]
mod tests {
    use super::{printable, spreadsheet_safe};

    #[test]
    fn terminal_escapes_a_customer_typed_are_shown_not_obeyed() {
        assert_eq!(printable("bonjour"), "bonjour");
        assert_eq!(
            printable("\u{7}\u{1b}[31mhello\r\n"),
            "\\u{7}\\u{1b}[31mhello\\u{d}\\u{a}"
        );
    }

    #[test]
    fn formulas_and_control_characters_do_not_reach_a_spreadsheet() {
        assert_eq!(spreadsheet_safe("where is my order"), "where is my order");
        assert_eq!(
            spreadsheet_safe("=HYPERLINK(\"http://evil\",\"x\")"),
            "'=HYPERLINK(\"http://evil\",\"x\")"
        );
        assert_eq!(spreadsheet_safe("+33612345678"), "'+33612345678");
        assert_eq!(spreadsheet_safe("-5 stars"), "'-5 stars");
        assert_eq!(spreadsheet_safe("@everyone"), "'@everyone");
        assert_eq!(spreadsheet_safe("\u{7}\u{1b}[31mhello\0"), "[31mhello");
        assert_eq!(spreadsheet_safe("two\nlines"), "two\nlines");
    }
}
