//! The satisfaction report: survey responses, NPS (% promoters − % detractors), resolution rate and
//! irritants, overall and by channel, by intent and by period. Computed from touchpoints read through the
//! store's time index, so a report over a period does not scan older conversations.

use crate::engine::survey::{Category, RATING, Rating, SOLVED};
use crate::message::Channel;
use crate::store::{ConversationFilter, Outcome, ProfileStore, Speaker, StoreError, Touchpoint};
use crate::time::{Date, Timestamp};
use serde::Serialize;
use std::collections::BTreeMap;

/// Which conversations a report covers.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub channel: Option<Channel>,
    pub intent: Option<String>,
    /// Group periods by `day`, `week` (starting Monday) or `month`.
    pub period: Period,
}

/// The length of a reporting period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Period {
    #[default]
    Day,
    Week,
    Month,
}

impl Period {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "day" => Some(Period::Day),
            "week" => Some(Period::Week),
            "month" => Some(Period::Month),
            _ => None,
        }
    }

    /// The label of the period a date falls in: `2026-11-23`, the Monday of its week, or `2026-11`.
    fn label(self, d: Date) -> String {
        match self {
            Period::Day => d.to_string(),
            Period::Week => d.add_days(-i64::from(d.weekday())).to_string(),
            Period::Month => format!("{:04}-{:02}", d.year, d.month),
        }
    }
}

/// Counts for one slice of conversations.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Counts {
    /// Conversations (ended or not).
    pub conversations: usize,
    /// Conversations that ended resolved.
    pub resolved: usize,
    /// Resolved / ended conversations; `null` when none ended.
    pub resolution_rate: Option<f64>,
    /// 0-10 ratings given.
    pub responses: usize,
    pub promoters: usize,
    pub passives: usize,
    pub detractors: usize,
    /// % promoters − % detractors, -100 to 100; `null` without responses.
    pub nps: Option<f64>,
    /// Answers "yes" / "no" to "did that solve your problem?".
    pub solved_yes: usize,
    pub solved_no: usize,
    /// Turns marked as irritants.
    pub irritants: usize,
    #[serde(skip)]
    ended: usize,
}

impl Counts {
    fn add(&mut self, tp: &Touchpoint, irritants: usize) {
        self.conversations += 1;
        if tp.ended_at.is_some() {
            self.ended += 1;
        }
        if tp.outcome == Some(Outcome::Resolved) {
            self.resolved += 1;
        }
        if let Some(r) = tp
            .survey
            .get(RATING)
            .and_then(|r| r.parse::<u8>().ok())
            .and_then(Rating::new)
        {
            self.responses += 1;
            match r.category() {
                Category::Promoter => self.promoters += 1,
                Category::Passive => self.passives += 1,
                Category::Detractor => self.detractors += 1,
            }
        }
        match tp.survey.get(SOLVED).map(String::as_str) {
            Some("yes") => self.solved_yes += 1,
            Some("no") => self.solved_no += 1,
            _ => {}
        }
        self.irritants += irritants;
    }

    fn finish(&mut self) {
        self.resolution_rate = (self.ended > 0).then(|| self.resolved as f64 / self.ended as f64);
        self.nps = (self.responses > 0).then(|| {
            (self.promoters as f64 - self.detractors as f64) * 100.0 / self.responses as f64
        });
    }
}

/// One row of the "moments of truth": an intent with its irritants and NPS.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IntentRow {
    pub intent: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// The whole report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    #[serde(flatten)]
    pub total: Counts,
    pub by_channel: BTreeMap<String, Counts>,
    pub by_intent: BTreeMap<String, Counts>,
    pub by_period: BTreeMap<String, Counts>,
    /// Intents with the most irritants, then the worst NPS: where the journey hurts.
    pub moments_of_truth: Vec<IntentRow>,
    /// Irritant marks by kind.
    pub irritants_by_kind: BTreeMap<String, usize>,
    /// The people side: how often, how long customers waited, who gave up, NPS by who answered.
    pub handoffs: HandoffReport,
}

/// Handoffs to people in the period.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct HandoffReport {
    /// Conversations put in the queue for a person.
    pub handoffs: usize,
    /// Handoffs / conversations; `null` without conversations.
    pub handoff_rate: Option<f64>,
    /// Seconds between the queue and a person taking it (median, 90th percentile), over those taken.
    pub wait_median_seconds: Option<u64>,
    pub wait_p90_seconds: Option<u64>,
    /// Handed off and never taken by a person: the customer went back to the bot, or it was closed.
    pub abandoned_waiting: usize,
    /// Still waiting now, and of those, call-back requests.
    pub waiting: usize,
    pub callbacks: usize,
    /// Counts (NPS...) of conversations a person answered in, and of those the bot answered alone.
    pub by_answerer: BTreeMap<String, Counts>,
}

/// Computes the report over the store. `ignore` lists intents that are not topics (greeting, thanks…).
pub async fn satisfaction(
    store: &dyn ProfileStore,
    filter: &Filter,
    ignore: &crate::FastSet<String>,
) -> Result<Report, StoreError> {
    let keep = ConversationFilter {
        channel: filter.channel,
        intent: filter.intent.clone(),
        ..Default::default()
    };
    let since = filter.since.unwrap_or(Timestamp(0));
    let until = filter.until.unwrap_or(Timestamp(u64::MAX));
    let mut total = Counts::default();
    let mut by_channel: BTreeMap<String, Counts> = BTreeMap::new();
    let mut by_intent: BTreeMap<String, Counts> = BTreeMap::new();
    let mut by_period: BTreeMap<String, Counts> = BTreeMap::new();
    let mut irritants_by_kind: BTreeMap<String, usize> = BTreeMap::new();
    let mut handoffs = HandoffReport::default();
    let mut waits: Vec<u64> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .touchpoints_between(since, until, 500, cursor.as_deref(), &keep, false)
            .await?;
        for tp in &page.items {
            let marks: Vec<_> = tp
                .turns
                .iter()
                .filter(|t| t.speaker == Speaker::Customer)
                .flat_map(|t| &t.irritants)
                .collect();
            for m in &marks {
                *irritants_by_kind.entry(m.as_str().to_string()).or_default() += 1;
            }
            total.add(tp, marks.len());
            if let Some(queued) = tp.queued_at {
                handoffs.handoffs += 1;
                match tp.claimed_at {
                    Some(claimed) => waits.push(claimed.0.saturating_sub(queued.0) / 1000),
                    None if !tp.owner.is_human() => handoffs.abandoned_waiting += 1,
                    None => {}
                }
                if let crate::store::Owner::Waiting { callback, .. } = &tp.owner {
                    if tp.is_open() {
                        handoffs.waiting += 1;
                        handoffs.callbacks += usize::from(*callback);
                    }
                }
            }
            let answerer = if tp.handled_by.is_some() {
                "person"
            } else {
                "bot"
            };
            handoffs
                .by_answerer
                .entry(answerer.to_string())
                .or_default()
                .add(tp, marks.len());
            by_channel
                .entry(tp.channel.to_string())
                .or_default()
                .add(tp, marks.len());
            by_period
                .entry(filter.period.label(tp.started_at.date()))
                .or_default()
                .add(tp, marks.len());
            let topics: Vec<&String> = tp.intents.iter().filter(|i| !ignore.contains(*i)).collect();
            for intent in &topics {
                by_intent
                    .entry(intent.to_string())
                    .or_default()
                    .add(tp, marks.len());
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    total.finish();
    waits.sort_unstable();
    let pick = |q: f64| {
        (!waits.is_empty()).then(|| waits[((waits.len() - 1) as f64 * q).round() as usize])
    };
    handoffs.wait_median_seconds = pick(0.5);
    handoffs.wait_p90_seconds = pick(0.9);
    handoffs.handoff_rate =
        (total.conversations > 0).then(|| handoffs.handoffs as f64 / total.conversations as f64);
    for c in by_channel
        .values_mut()
        .chain(by_intent.values_mut())
        .chain(by_period.values_mut())
        .chain(handoffs.by_answerer.values_mut())
    {
        c.finish();
    }
    let mut moments_of_truth: Vec<IntentRow> = by_intent
        .iter()
        .filter(|(_, c)| c.irritants > 0 || c.nps.is_some_and(|n| n < 0.0))
        .map(|(i, c)| IntentRow {
            intent: i.clone(),
            counts: c.clone(),
        })
        .collect();
    moments_of_truth.sort_by(|a, b| {
        b.counts.irritants.cmp(&a.counts.irritants).then(
            a.counts
                .nps
                .unwrap_or(0.0)
                .total_cmp(&b.counts.nps.unwrap_or(0.0)),
        )
    });
    Ok(Report {
        total,
        by_channel,
        by_intent,
        by_period,
        moments_of_truth,
        irritants_by_kind,
        handoffs,
    })
}

impl Report {
    /// An NPS table for the terminal.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let row = |name: &str, c: &Counts| {
            format!(
                "{:<26} {:>6} {:>9} {:>6} {:>6} {:>6} {:>7} {:>10} {:>9}\n",
                name,
                c.conversations,
                c.responses,
                c.promoters,
                c.passives,
                c.detractors,
                c.nps.map_or("-".to_string(), |n| format!("{n:.0}")),
                c.resolution_rate
                    .map_or("-".to_string(), |r| format!("{:.0}%", r * 100.0)),
                c.irritants
            )
        };
        let header = format!(
            "{:<26} {:>6} {:>9} {:>6} {:>6} {:>6} {:>7} {:>10} {:>9}\n",
            "", "convs", "responses", "prom.", "pass.", "detr.", "NPS", "resolved", "irritants"
        );
        s.push_str(&header);
        s.push_str(&row("all", &self.total));
        for (title, map) in [
            ("channel", &self.by_channel),
            ("intent", &self.by_intent),
            ("period", &self.by_period),
        ] {
            if map.is_empty() {
                continue;
            }
            s.push_str(&format!("\nby {title}\n"));
            for (k, c) in map {
                s.push_str(&row(k, c));
            }
        }
        let h = &self.handoffs;
        if h.handoffs > 0 {
            s.push_str(&format!(
                "\nhandoffs {} ({}), wait median {} p90 {}, abandoned while waiting {}, waiting now {} ({} call backs)\n",
                h.handoffs,
                h.handoff_rate.map_or("-".into(), |r| format!("{:.0}%", r * 100.0)),
                h.wait_median_seconds.map_or("-".into(), |w| format!("{w} s")),
                h.wait_p90_seconds.map_or("-".into(), |w| format!("{w} s")),
                h.abandoned_waiting,
                h.waiting,
                h.callbacks
            ));
            for (k, c) in &h.by_answerer {
                s.push_str(&row(&format!("answered by {k}"), c));
            }
        }
        if !self.moments_of_truth.is_empty() {
            s.push_str("\nmoments of truth (most irritants, worst NPS)\n");
            for r in self.moments_of_truth.iter().take(5) {
                s.push_str(&row(&r.intent, &r.counts));
            }
        }
        s
    }
}

/// How customers move between channels and come back.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Journeys {
    /// Customers with at least one conversation in the period.
    pub customers: usize,
    /// Channel paths: consecutive conversations of one customer within 7 days, as `voice>telegram`.
    pub channel_paths: BTreeMap<String, usize>,
    /// Conversations about a topic.
    pub contacts: usize,
    /// Conversations whose topic the same customer raised again within 7 days (a first contact that did not
    /// settle it).
    pub repeat_contacts: usize,
    /// `repeat_contacts / contacts`; `null` without contacts.
    pub repeat_contact_rate: Option<f64>,
    /// Repeat contacts by intent.
    pub repeats_by_intent: BTreeMap<String, usize>,
}

/// The window in which a second contact counts as a repeat, and a channel change as a path.
const JOURNEY_WINDOW_MS: u64 = 7 * 86_400_000;

/// Channel paths and repeat contacts over the conversations of the period.
pub async fn journeys(
    store: &dyn ProfileStore,
    filter: &Filter,
    ignore: &crate::FastSet<String>,
) -> Result<Journeys, StoreError> {
    let since = filter.since.unwrap_or(Timestamp(0));
    let until = filter.until.unwrap_or(Timestamp(u64::MAX));
    let mut by_customer: BTreeMap<String, Vec<Touchpoint>> = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let keep = ConversationFilter {
            channel: filter.channel,
            ..Default::default()
        };
        let page = store
            .touchpoints_between(since, until, 500, cursor.as_deref(), &keep, false)
            .await?;
        for tp in page.items {
            by_customer
                .entry(tp.customer_id.clone())
                .or_default()
                .push(tp);
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let mut j = Journeys {
        customers: by_customer.len(),
        ..Journeys::default()
    };
    for tps in by_customer.values() {
        for pair in tps.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            if a.channel != b.channel
                && b.started_at.0.saturating_sub(a.last_at.0) <= JOURNEY_WINDOW_MS
            {
                *j.channel_paths
                    .entry(format!("{}>{}", a.channel, b.channel))
                    .or_default() += 1;
            }
        }
        for (i, tp) in tps.iter().enumerate() {
            let topics: Vec<&String> = tp.intents.iter().filter(|t| !ignore.contains(*t)).collect();
            if topics.is_empty() {
                continue;
            }
            j.contacts += 1;
            let again = tps[i + 1..]
                .iter()
                .take_while(|n| n.started_at.0.saturating_sub(tp.last_at.0) <= JOURNEY_WINDOW_MS);
            if let Some(t) = topics
                .iter()
                .find(|t| again.clone().any(|n| n.intents.contains(t)))
            {
                j.repeat_contacts += 1;
                *j.repeats_by_intent.entry(t.to_string()).or_default() += 1;
            }
        }
    }
    j.repeat_contact_rate = (j.contacts > 0).then(|| j.repeat_contacts as f64 / j.contacts as f64);
    Ok(j)
}
