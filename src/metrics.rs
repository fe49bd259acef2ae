//! Prometheus metrics (`GET /metrics`, text format 0.0.4): messages by channel and intent, fallbacks,
//! handoffs, survey answers, and the reply latency histogram. Plain counters behind a mutex: a few updates
//! per message do not need a metrics framework.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

#[derive(Default)]
struct Inner {
    messages: BTreeMap<(String, String), u64>,
    fallbacks: BTreeMap<String, u64>,
    handoffs: BTreeMap<String, u64>,
    survey_answers: BTreeMap<String, u64>,
    irritants: BTreeMap<String, u64>,
    latency_buckets: [u64; BUCKETS.len()],
    latency_count: u64,
    latency_sum: f64,
}

/// The bot's metrics.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// What one turn adds to the metrics.
pub struct TurnMetrics<'a> {
    pub channel: &'a str,
    /// The intent understood, or the one the answer serves (an order number given when asked for one),
    /// `none` for neither.
    pub intent: Option<&'a str>,
    /// The answer was the fallback (not an answer to a question the bot asked).
    pub fallback: bool,
    pub handoff: bool,
    pub survey_answers: &'a [(String, String)],
    pub irritants: &'a [&'a str],
    pub latency: Duration,
}

impl Metrics {
    /// Counts one turn.
    pub fn record(&self, t: &TurnMetrics) {
        let Ok(mut m) = self.inner.lock() else { return };
        let intent = t.intent.unwrap_or("none").to_string();
        *m.messages
            .entry((t.channel.to_string(), intent))
            .or_default() += 1;
        if t.fallback {
            *m.fallbacks.entry(t.channel.to_string()).or_default() += 1;
        }
        if t.handoff {
            *m.handoffs.entry(t.channel.to_string()).or_default() += 1;
        }
        for (question, _) in t.survey_answers {
            *m.survey_answers.entry(question.clone()).or_default() += 1;
        }
        for i in t.irritants {
            *m.irritants.entry((*i).to_string()).or_default() += 1;
        }
        let secs = t.latency.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                m.latency_buckets[i] += 1;
            }
        }
        m.latency_count += 1;
        m.latency_sum += secs;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let Ok(m) = self.inner.lock() else {
            return String::new();
        };
        let mut s = String::new();
        let label = |v: &str| {
            v.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        };
        s.push_str(
            "# HELP parcours_messages_total Customer messages by channel and understood intent.\n",
        );
        s.push_str("# TYPE parcours_messages_total counter\n");
        for ((c, i), n) in &m.messages {
            let _ = writeln!(
                s,
                "parcours_messages_total{{channel=\"{}\",intent=\"{}\"}} {n}",
                label(c),
                label(i)
            );
        }
        for (name, help, map, key) in [
            (
                "parcours_fallbacks_total",
                "Messages answered with the fallback.",
                &m.fallbacks,
                "channel",
            ),
            (
                "parcours_handoffs_total",
                "Conversations handed to a person.",
                &m.handoffs,
                "channel",
            ),
            (
                "parcours_survey_answers_total",
                "Satisfaction answers by question.",
                &m.survey_answers,
                "question",
            ),
            (
                "parcours_irritants_total",
                "Turns marked as irritants by kind.",
                &m.irritants,
                "kind",
            ),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter");
            for (k, n) in map {
                let _ = writeln!(s, "{name}{{{key}=\"{}\"}} {n}", label(k));
            }
        }
        let total: u64 = m.messages.values().sum();
        let fallbacks: u64 = m.fallbacks.values().sum();
        s.push_str(
            "# HELP parcours_fallback_ratio Share of messages answered with the fallback.\n",
        );
        s.push_str("# TYPE parcours_fallback_ratio gauge\n");
        let ratio = if total == 0 {
            0.0
        } else {
            fallbacks as f64 / total as f64
        };
        let _ = writeln!(s, "parcours_fallback_ratio {ratio}");
        s.push_str("# HELP parcours_reply_seconds Time from a message to its durable reply.\n");
        s.push_str("# TYPE parcours_reply_seconds histogram\n");
        for (i, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                s,
                "parcours_reply_seconds_bucket{{le=\"{bound}\"}} {}",
                m.latency_buckets[i]
            );
        }
        let _ = writeln!(
            s,
            "parcours_reply_seconds_bucket{{le=\"+Inf\"}} {}",
            m.latency_count
        );
        let _ = writeln!(s, "parcours_reply_seconds_sum {}", m.latency_sum);
        let _ = writeln!(s, "parcours_reply_seconds_count {}", m.latency_count);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_shows_in_every_family() {
        let m = Metrics::default();
        m.record(&TurnMetrics {
            channel: "voice",
            intent: None,
            fallback: true,
            handoff: true,
            survey_answers: &[("rating".into(), "9".into())],
            irritants: &["repeated_fallback"],
            latency: Duration::from_millis(3),
        });
        let text = m.render();
        assert!(
            text.contains("parcours_messages_total{channel=\"voice\",intent=\"none\"} 1"),
            "{text}"
        );
        assert!(text.contains("parcours_fallbacks_total{channel=\"voice\"} 1"));
        assert!(text.contains("parcours_handoffs_total{channel=\"voice\"} 1"));
        assert!(text.contains("parcours_survey_answers_total{question=\"rating\"} 1"));
        assert!(text.contains("parcours_reply_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("parcours_reply_seconds_bucket{le=\"0.001\"} 0"));
        assert!(text.contains("parcours_fallback_ratio 1"));
        // A survey rating has no intent but is no fallback.
        m.record(&TurnMetrics {
            channel: "voice",
            intent: None,
            fallback: false,
            handoff: false,
            survey_answers: &[],
            irritants: &[],
            latency: Duration::from_millis(3),
        });
        let text = m.render();
        assert!(
            text.contains("parcours_fallbacks_total{channel=\"voice\"} 1"),
            "{text}"
        );
        assert!(text.contains("parcours_fallback_ratio 0.5"), "{text}");
    }
}
