//! The generic voice webhook: any assistant or phone system that turns speech into text posts the
//! transcript here and speaks back the SSML (`POST /webhook/voice`, see CONTRACT.md).

use crate::http::AppState;
use crate::http::error::{ApiError, ApiJson, JsonBody};
use crate::message::{Channel, Delivery, Event, Inbound, Lang};
use crate::time::Timestamp;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Longest id accepted from a platform, in bytes.
const MAX_ID_LEN: usize = 256;

/// What the platform sends. Other fields (a platform's `metadata`, …) are ignored, as Rasa's REST channel
/// does: platforms add fields, and a call must not fail for it.
#[derive(Debug, Deserialize)]
pub struct VoiceRequest {
    /// The platform's conversation (a call).
    pub session_id: String,
    /// The caller or device.
    pub user_id: String,
    /// What the caller said; empty when they said nothing.
    pub transcript: String,
    /// The recogniser's confidence, 0 to 1.
    #[serde(default)]
    pub confidence: Option<f32>,
    /// `en-US`, `fr-FR`, …
    #[serde(default)]
    pub locale: Option<String>,
}

/// What we answer.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct VoiceResponse {
    pub conversation_id: String,
    pub text: String,
    pub ssml: String,
    pub end_session: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// A person has the conversation or is awaited: `{"state": "waiting", "position": 2, ...}`. Staff
    /// replies are said at the start of the next turn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handoff: Option<crate::handoff::HandoffStatus>,
}

impl VoiceResponse {
    /// Its JSON, as serde_json writes it (the reply of every voice turn, written by hand: [`crate::json`]).
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        use crate::json::{key, serde, string};
        // Every field named: one added does not compile here until it is written.
        let VoiceResponse {
            conversation_id: _,
            text: _,
            ssml: _,
            end_session: _,
            intent: _,
            handoff: _,
        } = self;
        let mut out = Vec::with_capacity(128 + self.text.len() + self.ssml.len());
        out.extend_from_slice(b"{\"conversation_id\":");
        string(&mut out, &self.conversation_id);
        key(&mut out, "text");
        string(&mut out, &self.text);
        key(&mut out, "ssml");
        string(&mut out, &self.ssml);
        key(&mut out, "end_session");
        out.extend_from_slice(if self.end_session { b"true" } else { b"false" });
        if let Some(intent) = &self.intent {
            key(&mut out, "intent");
            string(&mut out, intent);
        }
        if let Some(handoff) = &self.handoff {
            key(&mut out, "handoff");
            serde(&mut out, handoff)?;
        }
        out.push(b'}');
        Ok(out)
    }
}

impl VoiceRequest {
    /// Checks the fields and makes the channel-neutral message.
    fn into_inbound(self, shared: &[String], key: IdempotencyKey) -> Result<Inbound, ApiError> {
        for (name, v) in [("session_id", &self.session_id), ("user_id", &self.user_id)] {
            if v.trim().is_empty() || v.len() > MAX_ID_LEN {
                return Err(ApiError::unprocessable(format!(
                    "{name} must be a non-empty string of at most {MAX_ID_LEN} bytes"
                )));
            }
        }
        if let Some(c) = self.confidence {
            if !(0.0..=1.0).contains(&c) {
                return Err(ApiError::unprocessable(
                    "confidence must be between 0 and 1",
                ));
            }
        }
        Ok(Inbound {
            event: Event::Message,
            channel: Channel::Voice,
            user: super::caller_identity(&self.user_id, &self.session_id, shared, false),
            session: Some(self.session_id),
            text: self.transcript,
            asr_confidence: self.confidence,
            locale: self.locale.as_deref().and_then(Lang::from_locale),
            at: Timestamp::now(),
            // A platform that retries sends the same `Idempotency-Key`: answered once, the same reply.
            delivery: key.0.as_deref().and_then(|id| Delivery::new("voice", id)),
        })
    }
}

/// The request's `Idempotency-Key`, if it has a readable one (the headers are not copied for it).
pub struct IdempotencyKey(Option<String>);

impl<S: Sync> axum::extract::FromRequestParts<S> for IdempotencyKey {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let key = parts.headers.get("idempotency-key");
        Ok(IdempotencyKey(
            key.and_then(|v| v.to_str().ok()).map(str::to_owned),
        ))
    }
}

/// `POST /webhook/voice`: check the token, parse, handle, answer.
pub async fn webhook(
    State(state): State<Arc<AppState>>,
    _: crate::http::WebhookToken,
    key: IdempotencyKey,
    ApiJson(req): ApiJson<VoiceRequest>,
) -> Result<JsonBody, ApiError> {
    let inbound = req.into_inbound(&state.bot.settings().shared_caller_ids, key)?;
    let reply = state.bot.handle(inbound).await?;
    let response = VoiceResponse {
        conversation_id: reply.conversation_id,
        text: reply.text,
        ssml: reply.ssml,
        end_session: reply.end,
        intent: reply.intent,
        handoff: reply.handoff,
    };
    Ok(JsonBody(response.to_json().map_err(ApiError::internal)?))
}
