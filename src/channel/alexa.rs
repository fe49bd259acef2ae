//! An Alexa skill (`POST /webhook/alexa`). The skill's interaction model sends the caller's free text in a
//! `Query` slot (`AMAZON.SearchQuery`); parcours does the understanding. LaunchRequest greets,
//! AMAZON.HelpIntent says what the bot can do, AMAZON.StopIntent / CancelIntent and SessionEndedRequest end
//! the conversation. The answer is SSML with a reprompt, and `shouldEndSession` when the conversation is over.
//!
//! Auth: the webhook bearer token (CONTRACT.md) and, when `PARCOURS_ALEXA_SKILL_ID` is set, the skill's
//! applicationId. (Amazon's own request signature is for skills hosted outside AWS Lambda; put a verifying
//! proxy in front, or run the skill behind Lambda.)

use crate::http::AppState;
use crate::http::error::{ApiError, ApiJson};
use crate::message::{Channel, Delivery, Event, Inbound, Lang};
use crate::time::Timestamp;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
pub struct AlexaRequest {
    pub session: Option<Session>,
    pub context: Option<Context>,
    pub request: Request,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub session_id: String,
    pub application: Option<Application>,
    pub user: Option<User>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    pub application_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub user_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Context {
    pub system: Option<System>,
}

#[derive(Debug, Deserialize)]
pub struct System {
    pub application: Option<Application>,
    pub user: Option<User>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    #[serde(rename = "type")]
    pub kind: String,
    /// Unique per request, the same if Alexa sends it again.
    #[serde(default)]
    pub request_id: Option<String>,
    pub locale: Option<String>,
    pub intent: Option<Intent>,
}

#[derive(Debug, Deserialize)]
pub struct Intent {
    pub name: String,
    #[serde(default)]
    pub slots: HashMap<String, Slot>,
}

#[derive(Debug, Deserialize)]
pub struct Slot {
    pub value: Option<String>,
}

/// The free-text slot of the skill's catch-all intent.
const QUERY_SLOT: &str = "Query";

impl AlexaRequest {
    fn application_id(&self) -> Option<&str> {
        let from_context = self
            .context
            .as_ref()
            .and_then(|c| c.system.as_ref())
            .and_then(|s| s.application.as_ref());
        let from_session = self.session.as_ref().and_then(|s| s.application.as_ref());
        from_context
            .or(from_session)
            .map(|a| a.application_id.as_str())
    }

    fn user_id(&self) -> Option<&str> {
        let from_context = self
            .context
            .as_ref()
            .and_then(|c| c.system.as_ref())
            .and_then(|s| s.user.as_ref());
        let from_session = self.session.as_ref().and_then(|s| s.user.as_ref());
        from_context.or(from_session).map(|u| u.user_id.as_str())
    }

    /// The channel-neutral message.
    fn into_inbound(self) -> Result<Inbound, ApiError> {
        let user = self
            .user_id()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                ApiError::bad_request("the request has no user (context.System.user.userId)")
            })?
            .to_string();
        let session = self.session.as_ref().map(|s| s.session_id.clone());
        let mut text = String::new();
        let event = match self.request.kind.as_str() {
            "LaunchRequest" => Event::Start,
            "SessionEndedRequest" => Event::End,
            "IntentRequest" => {
                let intent = self.request.intent.as_ref().ok_or_else(|| {
                    ApiError::bad_request("an IntentRequest needs request.intent")
                })?;
                match intent.name.as_str() {
                    "AMAZON.StopIntent" | "AMAZON.CancelIntent" => Event::End,
                    "AMAZON.HelpIntent" => Event::Help,
                    // Alexa's own yes and no, in the customer's language.
                    name @ ("AMAZON.YesIntent" | "AMAZON.NoIntent") => {
                        let fr = self.request.locale.as_deref().and_then(Lang::from_locale)
                            == Some(Lang::Fr);
                        text = match (name == "AMAZON.YesIntent", fr) {
                            (true, false) => "yes",
                            (true, true) => "oui",
                            (false, false) => "no",
                            (false, true) => "non",
                        }
                        .to_string();
                        Event::Message
                    }
                    // Alexa heard the customer but matched nothing: the fallback answer, not a silence.
                    "AMAZON.FallbackIntent" => Event::NotUnderstood,
                    _ => {
                        text = intent
                            .slots
                            .get(QUERY_SLOT)
                            .and_then(|s| s.value.clone())
                            .unwrap_or_default();
                        Event::Message
                    }
                }
            }
            other => {
                return Err(ApiError {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    message: format!("unsupported request type {other:?}"),
                });
            }
        };
        Ok(Inbound {
            event,
            channel: Channel::Alexa,
            user,
            session,
            text,
            asr_confidence: None,
            locale: self.request.locale.as_deref().and_then(Lang::from_locale),
            at: Timestamp::now(),
            delivery: self
                .request
                .request_id
                .as_deref()
                .and_then(|id| Delivery::new("alexa", id)),
        })
    }
}

/// `POST /webhook/alexa`.
pub async fn webhook(
    State(state): State<Arc<AppState>>,
    _: crate::http::WebhookToken,
    ApiJson(req): ApiJson<AlexaRequest>,
) -> Result<ApiJson<Value>, ApiError> {
    if let Some(expected) = &state.alexa_skill_id {
        if req.application_id() != Some(&**expected) {
            return Err(ApiError {
                status: StatusCode::FORBIDDEN,
                message: "this skill's applicationId is not accepted here".into(),
            });
        }
    }
    let inbound = req.into_inbound()?;
    let session_ended = inbound.event == Event::End && inbound.text.is_empty();
    let reply = state.bot.handle(inbound).await?;
    if session_ended && reply.text.is_empty() {
        // A SessionEndedRequest accepts no speech.
        return Ok(ApiJson(json!({ "version": "1.0", "response": {} })));
    }
    let reprompt = reply.reprompt_ssml;
    let mut response = json!({
        "outputSpeech": { "type": "SSML", "ssml": reply.ssml },
        "shouldEndSession": reply.end,
    });
    if !reply.end {
        response["reprompt"] = json!({ "outputSpeech": { "type": "SSML", "ssml": reprompt } });
    }
    Ok(ApiJson(json!({ "version": "1.0", "response": response })))
}
