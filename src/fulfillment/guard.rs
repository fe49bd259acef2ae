//! What keeps a slow or dead backend from costing more than it must: a circuit breaker per URL, a
//! short cache of reads per customer, and the counts and latencies `/metrics` shows per URL.
//!
//! The breaker opens after `breaker_failures` failed tries in a row: calls then fail at once, without a
//! connection, for `breaker_open_ms`; after that one call at a time is let through (half open), and
//! its success closes the breaker, its failure opens it again.

use super::{FulfillError, FulfillmentSettings, Request, Response, display_url};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Upper bounds of the latency histogram, in seconds (a backend call is slower than a turn).
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0];

/// Customers whose reads are cached at most: past it, expired entries go, then the oldest half.
const CACHE_CUSTOMERS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One call is trying the URL again.
    HalfOpen,
}

#[derive(Default)]
struct UrlStats {
    outcomes: BTreeMap<&'static str, u64>,
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

struct Cached {
    key: String,
    until: Instant,
    response: Response,
}

/// The breaker, the cache and the metrics of one fulfiller.
pub struct Guard {
    failures_to_open: u32,
    open_for: Duration,
    cache_for: Duration,
    breakers: Mutex<HashMap<String, State>>,
    cache: Mutex<HashMap<String, (Instant, Vec<Cached>)>>,
    stats: Mutex<BTreeMap<String, UrlStats>>,
}

/// Whether the call let through is the half-open probe.
#[derive(Debug, Clone, Copy)]
pub struct Admitted {
    probe: bool,
}

/// The cache key of a read: the URL, the question and the language (the customer is the map's key).
pub fn cache_key(url: &str, req: &Request) -> String {
    let entities = serde_json::to_string(&req.entities).unwrap_or_default();
    format!("{url}\0{}\0{entities}\0{}", req.intent, req.lang)
}

impl Guard {
    pub fn new(s: &FulfillmentSettings) -> Self {
        Guard {
            failures_to_open: s.breaker_failures.max(1),
            open_for: Duration::from_millis(s.breaker_open_ms),
            cache_for: Duration::from_millis(s.cache_ms),
            breakers: Default::default(),
            cache: Default::default(),
            stats: Default::default(),
        }
    }

    /// Whether a try may go to `url` now; `None` while its breaker is open.
    pub fn admit(&self, url: &str) -> Option<Admitted> {
        let mut b = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
        let state = b
            .entry(url.to_string())
            .or_insert(State::Closed { failures: 0 });
        match *state {
            State::Closed { .. } => Some(Admitted { probe: false }),
            State::Open { until } if Instant::now() >= until => {
                *state = State::HalfOpen;
                tracing::info!(url = %display_url(url), "fulfillment breaker half open: trying the backend again");
                Some(Admitted { probe: true })
            }
            State::Open { .. } | State::HalfOpen => None,
        }
    }

    /// Counts a try's result and moves the breaker.
    pub fn observe(
        &self,
        url: &str,
        admitted: Admitted,
        took: Duration,
        error: Option<&FulfillError>,
    ) {
        {
            let mut b = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
            let state = b
                .entry(url.to_string())
                .or_insert(State::Closed { failures: 0 });
            // Only a failure of the backend itself counts: a turn out of time says nothing of it.
            let failed = error.is_some_and(|e| !matches!(e, FulfillError::Deadline));
            *state = match (*state, failed) {
                (_, false) => {
                    if admitted.probe {
                        tracing::info!(url = %display_url(url), "fulfillment breaker closed: the backend answers again");
                    }
                    State::Closed { failures: 0 }
                }
                (State::HalfOpen, true) => State::Open {
                    until: Instant::now() + self.open_for,
                },
                (State::Closed { failures }, true) if failures + 1 >= self.failures_to_open => {
                    tracing::error!(url = %display_url(url), failures = failures + 1, "fulfillment breaker open: the backend is not called for a while");
                    State::Open {
                        until: Instant::now() + self.open_for,
                    }
                }
                (State::Closed { failures }, true) => State::Closed {
                    failures: failures + 1,
                },
                (open @ State::Open { .. }, true) => open,
            };
        }
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        let s = stats.entry(display_url(url)).or_default();
        *s.outcomes
            .entry(error.map(FulfillError::kind).unwrap_or("ok"))
            .or_default() += 1;
        let secs = took.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                s.buckets[i] += 1;
            }
        }
        s.count += 1;
        s.sum += secs;
    }

    /// Counts an outcome that made no HTTP try (a cache hit, an open breaker).
    pub fn count(&self, url: &str, outcome: &'static str) {
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        *stats
            .entry(display_url(url))
            .or_default()
            .outcomes
            .entry(outcome)
            .or_default() += 1;
    }

    /// A read answered for this customer less than `cache_ms` ago.
    pub fn cached(&self, customer: &str, key: &str) -> Option<Response> {
        if self.cache_for.is_zero() {
            return None;
        }
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        cache
            .get(customer)?
            .1
            .iter()
            .find(|c| c.key == key && c.until > now)
            .map(|c| c.response.clone())
    }

    /// Keeps a read's answer for `cache_ms`.
    pub fn remember(&self, customer: &str, key: String, response: Response) {
        if self.cache_for.is_zero() {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if cache.len() >= CACHE_CUSTOMERS && !cache.contains_key(customer) {
            cache.retain(|_, (last, _)| *last + self.cache_for > now);
            if cache.len() >= CACHE_CUSTOMERS {
                // Still full of live entries: the least recently written half goes.
                let mut ages: Vec<Instant> = cache.values().map(|(t, _)| *t).collect();
                ages.sort();
                let cut = ages[ages.len() / 2];
                cache.retain(|_, (t, _)| *t > cut);
            }
        }
        let entry = cache
            .entry(customer.to_string())
            .or_insert_with(|| (now, Vec::new()));
        entry.0 = now;
        entry.1.retain(|c| c.key != key && c.until > now);
        entry.1.push(Cached {
            key,
            until: now + self.cache_for,
            response,
        });
    }

    /// Drops a customer's cached reads (an action may have changed what they said).
    pub fn forget_customer(&self, customer: &str) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.remove(customer);
    }

    /// Prometheus text: calls by URL and outcome, the latency histogram of tries, the breakers.
    pub fn render_metrics(&self) -> String {
        let stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        let mut s = String::new();
        s.push_str("# HELP parcours_fulfillment_calls_total Fulfillment calls by URL and outcome (ok, timeout, status, unreachable, bad_answer, circuit_open, cache_hit).\n# TYPE parcours_fulfillment_calls_total counter\n");
        for (url, st) in stats.iter() {
            for (outcome, n) in &st.outcomes {
                let _ = writeln!(
                    s,
                    "parcours_fulfillment_calls_total{{url=\"{}\",outcome=\"{outcome}\"}} {n}",
                    label(url)
                );
            }
        }
        s.push_str("# HELP parcours_fulfillment_latency_seconds Time of each HTTP try to the fulfillment backend.\n# TYPE parcours_fulfillment_latency_seconds histogram\n");
        for (url, st) in stats.iter() {
            let url = label(url);
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "parcours_fulfillment_latency_seconds_bucket{{url=\"{url}\",le=\"{bound}\"}} {}",
                    st.buckets[i]
                );
            }
            let _ = writeln!(
                s,
                "parcours_fulfillment_latency_seconds_bucket{{url=\"{url}\",le=\"+Inf\"}} {}",
                st.count
            );
            let _ = writeln!(
                s,
                "parcours_fulfillment_latency_seconds_sum{{url=\"{url}\"}} {}",
                st.sum
            );
            let _ = writeln!(
                s,
                "parcours_fulfillment_latency_seconds_count{{url=\"{url}\"}} {}",
                st.count
            );
        }
        drop(stats);
        let b = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
        s.push_str("# HELP parcours_fulfillment_breaker_open 1 while the URL's circuit breaker keeps calls from it.\n# TYPE parcours_fulfillment_breaker_open gauge\n");
        for (url, state) in b.iter() {
            let open = matches!(state, State::Open { until } if *until > Instant::now());
            let _ = writeln!(
                s,
                "parcours_fulfillment_breaker_open{{url=\"{}\"}} {}",
                label(&display_url(url)),
                u8::from(open)
            );
        }
        s
    }
}

/// A label value, escaped as the text format wants.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(failures: u32, open_ms: u64) -> Guard {
        Guard::new(&FulfillmentSettings {
            breaker_failures: failures,
            breaker_open_ms: open_ms,
            ..Default::default()
        })
    }

    #[test]
    fn the_breaker_opens_after_the_failures_in_a_row_and_a_success_closes_it() {
        let g = guard(3, 50);
        let url = "http://127.0.0.1:9/f";
        let fail = FulfillError::Timeout(10);
        for _ in 0..3 {
            let a = g.admit(url).expect("closed");
            g.observe(url, a, Duration::ZERO, Some(&fail));
        }
        assert!(g.admit(url).is_none(), "open after three failures");
        std::thread::sleep(Duration::from_millis(60));
        let probe = g.admit(url).expect("half open after the pause");
        assert!(g.admit(url).is_none(), "one probe at a time");
        g.observe(url, probe, Duration::ZERO, None);
        assert!(g.admit(url).is_some(), "closed again");
    }

    #[test]
    fn a_failed_probe_opens_the_breaker_again() {
        let g = guard(1, 30);
        let url = "http://x/f";
        let a = g.admit(url).unwrap();
        g.observe(url, a, Duration::ZERO, Some(&FulfillError::Status(500)));
        std::thread::sleep(Duration::from_millis(40));
        let probe = g.admit(url).unwrap();
        g.observe(url, probe, Duration::ZERO, Some(&FulfillError::Status(500)));
        assert!(g.admit(url).is_none());
    }

    #[test]
    fn a_success_between_failures_starts_the_count_again() {
        let g = guard(2, 1000);
        let url = "http://x/f";
        for error in [
            Some(FulfillError::Status(503)),
            None,
            Some(FulfillError::Status(503)),
        ] {
            let a = g.admit(url).unwrap();
            g.observe(url, a, Duration::ZERO, error.as_ref());
        }
        assert!(g.admit(url).is_some());
    }

    #[test]
    fn a_cached_read_expires_and_is_dropped_for_its_customer_only() {
        let g = Guard::new(&FulfillmentSettings {
            cache_ms: 40,
            ..Default::default()
        });
        let r = Response::default();
        g.remember("alice", "k".into(), r.clone());
        g.remember("bruno", "k".into(), r.clone());
        assert_eq!(g.cached("alice", "k"), Some(r.clone()));
        assert_eq!(g.cached("alice", "other"), None);
        g.forget_customer("alice");
        assert_eq!(g.cached("alice", "k"), None);
        assert!(g.cached("bruno", "k").is_some());
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(g.cached("bruno", "k"), None);
    }
}
