//! Settings, read from `parcours.toml` (all keys optional) with the defaults below.

use serde::Deserialize;
use std::path::Path;

/// Everything that tunes the bot's behaviour. Every field has a default; see the README for the file format.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// A conversation with no message for this long is over (it becomes a touchpoint).
    pub idle_timeout_minutes: u64,
    /// Below this classifier confidence the bot answers with its fallback.
    pub fallback_threshold: f32,
    /// Below this speech-recognition confidence, intents that act on something are confirmed first.
    pub asr_confidence_threshold: f32,
    /// Consecutive fallbacks after which a human is offered.
    pub fallbacks_before_human: u32,
    /// How many times a missing entity is asked for before giving up.
    pub entity_attempts: u32,
    /// At most one satisfaction survey per customer in this many days.
    pub survey_every_days: u64,
    /// Transcripts older than this many days lose their words (intents, outcomes and ratings stay for
    /// reports); unset keeps them.
    pub retention_days: Option<u64>,
    /// Regular expressions whose matches are replaced by `[redacted]` before anything is stored (card
    /// numbers always are).
    pub redact_patterns: Vec<String>,
    /// At most this many MiB of the store are kept in memory (sled's page cache).
    pub store_cache_mb: u64,
    /// Short messages already understood are kept, up to twice this many, and not parsed again, and as
    /// many of the classifier's verdicts on the tokens it read ([`crate::nlu::memo`]); 0 parses and
    /// classifies every message.
    pub nlu_memo: usize,
    /// At most this many HTTP connections are served at once (fewer if the open-file limit is lower).
    pub max_connections: usize,
    /// Members of staff: each signs in with their own token and signs their replies with their name.
    /// `PARCOURS_STAFF_TOKEN`, when set, is one more, named `staff_name`.
    pub staff: Vec<crate::handoff::StaffMember>,
    /// The name of the member of staff behind `PARCOURS_STAFF_TOKEN`.
    pub staff_name: String,
    /// The people side of a handoff: hours, time-outs, phone, webhook.
    pub handoff: crate::handoff::HandoffSettings,
    /// Caller ids many people call from (a switchboard, a hotel): each call from them is its own
    /// customer, never the profile of whoever called from there before.
    pub shared_caller_ids: Vec<String>,
    /// The business's fulfillment webhook, for intents with `fulfillment = true`
    /// (`PARCOURS_FULFILLMENT_URL` overrides it). Unset: the imported profile answers.
    pub fulfillment_url: Option<String>,
    /// Time-outs, retries, breaker and cache of the fulfillment calls.
    pub fulfillment: crate::fulfillment::FulfillmentSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            idle_timeout_minutes: 30,
            fallback_threshold: 0.2,
            asr_confidence_threshold: 0.5,
            fallbacks_before_human: 2,
            entity_attempts: 2,
            survey_every_days: 7,
            retention_days: None,
            redact_patterns: Vec::new(),
            store_cache_mb: crate::store::sled_store::DEFAULT_CACHE_BYTES / (1024 * 1024),
            nlu_memo: 4096,
            max_connections: 4096,
            staff: Vec::new(),
            staff_name: "Support".into(),
            handoff: Default::default(),
            shared_caller_ids: Vec::new(),
            fulfillment_url: None,
            fulfillment: Default::default(),
        }
    }
}

/// Why the settings file could not be used. The cause is the error's `source()`, printed once by the
/// CLI's error chain (not repeated in the message).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}")]
    Parse {
        path: String,
        source: toml::de::Error,
    },
    #[error("{path}")]
    Pattern {
        path: String,
        source: crate::redact::PatternError,
    },
    #[error("{path}: [handoff] {what}")]
    Handoff { path: String, what: String },
    /// A setting outside the values it can take.
    #[error("{path}: {key} = {value} is not between 0 and 1")]
    NotAShare {
        path: String,
        key: &'static str,
        value: f32,
    },
}

impl Settings {
    /// Reads `path`; a missing file gives the defaults only when `required` is false.
    pub fn load(path: &Path, required: bool) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(Settings::default());
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let settings: Settings = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.display().to_string(),
            source,
        })?;
        for (key, value) in [
            ("fallback_threshold", settings.fallback_threshold),
            (
                "asr_confidence_threshold",
                settings.asr_confidence_threshold,
            ),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(ConfigError::NotAShare {
                    path: path.display().to_string(),
                    key,
                    value,
                });
            }
        }
        if let Err(what) = settings.handoff.check() {
            return Err(ConfigError::Handoff {
                path: path.display().to_string(),
                what,
            });
        }
        crate::redact::Redactor::new(&settings.redact_patterns).map_err(|source| {
            ConfigError::Pattern {
                path: path.display().to_string(),
                source,
            }
        })?;
        Ok(settings)
    }

    /// The idle timeout in milliseconds.
    pub fn idle_timeout_ms(&self) -> u64 {
        self.idle_timeout_minutes.saturating_mul(60_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_threshold_above_one_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("parcours.toml");
        std::fs::write(&path, "asr_confidence_threshold = 7\n").unwrap();
        let e = Settings::load(&path, true).unwrap_err();
        assert!(
            e.to_string().contains("asr_confidence_threshold = 7"),
            "{e}"
        );
        std::fs::write(&path, "asr_confidence_threshold = 0.7\n").unwrap();
        assert!(Settings::load(&path, true).is_ok());
    }
}
