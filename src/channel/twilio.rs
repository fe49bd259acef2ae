//! Phone calls through Twilio: each `<Gather input="speech">` callback is one turn, answered with TwiML.
//!
//! The caller's number (`From`) is their identity and the call (`CallSid`) the conversation. The first
//! request of a call (no speech yet) gets the greeting; an empty result is a silence (reprompt, then a polite
//! goodbye); keypad digits (`Digits`) stand for speech wherever a number is asked. When `TWILIO_AUTH_TOKEN`
//! is set, `X-Twilio-Signature` is checked (HMAC-SHA1 of the URL and the sorted form fields, base64).

use super::ssml;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::message::{Channel, Delivery, Event, Inbound, Reply};
use crate::time::Timestamp;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use std::sync::Arc;

/// Where Twilio posts the next turn (relative to the current document, as Twilio resolves it).
const ACTION: &str = "/webhook/twilio";

/// The fields of a Twilio callback that parcours reads.
#[derive(Debug, Default)]
struct Callback {
    call_sid: String,
    from: String,
    speech: Option<String>,
    confidence: Option<f32>,
    digits: Option<String>,
    call_status: Option<String>,
}

impl Callback {
    fn parse(fields: &[(String, String)], shared: &[String]) -> Result<Self, ApiError> {
        let get = |k: &str| {
            fields
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.trim().to_string())
        };
        let call_sid = get("CallSid").filter(|v| !v.is_empty());
        let from = get("From").filter(|v| !v.is_empty());
        let (Some(call_sid), Some(from)) = (call_sid, from) else {
            return Err(ApiError::bad_request("CallSid and From are required"));
        };
        let confidence = match get("Confidence").filter(|c| !c.is_empty()) {
            Some(c) => Some(
                c.parse::<f32>()
                    .ok()
                    .filter(|c| (0.0..=1.0).contains(c))
                    .ok_or_else(|| {
                        ApiError::bad_request("Confidence must be a number between 0 and 1")
                    })?,
            ),
            None => None,
        };
        Ok(Callback {
            from: super::caller_identity(
                &from,
                &call_sid,
                shared,
                super::stir_failed(get("StirVerstat").as_deref()),
            ),
            call_sid,
            speech: get("SpeechResult"),
            confidence,
            digits: get("Digits")
                .map(|d| d.trim_end_matches('#').to_string())
                .filter(|d| !d.is_empty()),
            call_status: get("CallStatus"),
        })
    }
}

/// Checks `X-Twilio-Signature`: base64(HMAC-SHA1(auth token, URL + every field name and value, sorted)).
pub fn signature_is_valid(
    auth_token: &str,
    url: &str,
    fields: &[(String, String)],
    signature: &str,
) -> bool {
    let mac = signing_mac(auth_token, url, fields);
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return false;
    };
    mac.verify_slice(&expected).is_ok()
}

/// The signature a request to `url` with `fields` must carry (for tests and tools).
pub fn sign(auth_token: &str, url: &str, fields: &[(String, String)]) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(signing_mac(auth_token, url, fields).finalize().into_bytes())
}

/// The HMAC over what Twilio signs.
fn signing_mac(auth_token: &str, url: &str, fields: &[(String, String)]) -> Hmac<sha1::Sha1> {
    let mut sorted: Vec<&(String, String)> = fields.iter().collect();
    sorted.sort();
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    mac
}

/// The URL Twilio signed: the configured public base URL, or `http://` + Host, plus the path and query.
fn signed_url(state: &AppState, headers: &HeaderMap, uri: &axum::http::Uri) -> String {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    match &state.public_url {
        Some(base) => format!("{base}{path}"),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}{path}")
        }
    }
}

/// The form fields of a Twilio request, once its signature is checked (when a token is set).
fn verified_fields(
    state: &AppState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
    body: &[u8],
) -> Result<Vec<(String, String)>, ApiError> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| ApiError::bad_request(format!("expected a form-encoded body: {e}")))?;
    if let Some(token) = &state.twilio_auth_token {
        let signature = headers
            .get("x-twilio-signature")
            .and_then(|s| s.to_str().ok())
            .unwrap_or("");
        if !signature_is_valid(token, &signed_url(state, headers, uri), &fields, signature) {
            return Err(ApiError {
                status: StatusCode::FORBIDDEN,
                message: "invalid X-Twilio-Signature".into(),
            });
        }
    }
    Ok(fields)
}

/// `POST /webhook/twilio`.
pub async fn webhook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    // A body over the limit is a JSON 413 here too, not axum's plain-text one.
    let body = body.map_err(|e| ApiError {
        status: e.status(),
        message: e.body_text(),
    })?;
    let fields = verified_fields(&state, &headers, &uri, &body)?;
    let cb = Callback::parse(&fields, &state.bot.settings().shared_caller_ids)?;
    let open = state
        .bot
        .store()
        .open_touchpoint(Channel::Twilio, &cb.from)
        .await
        .map_err(ApiError::from)?;
    let in_this_call = open
        .as_ref()
        .is_some_and(|tp| tp.session.as_deref() == Some(cb.call_sid.as_str()));
    let event = match (&cb.call_status, &cb.speech, &cb.digits) {
        (Some(status), _, _)
            if matches!(
                status.as_str(),
                "completed" | "canceled" | "failed" | "busy" | "no-answer"
            ) =>
        {
            Event::End
        }
        (_, None, None) if !in_this_call => Event::Start,
        _ => Event::Message,
    };
    let text = cb.digits.clone().or(cb.speech.clone()).unwrap_or_default();
    let locale = open.as_ref().filter(|_| in_this_call).map(|tp| tp.lang);
    let inbound = Inbound {
        event,
        channel: Channel::Twilio,
        user: cb.from,
        session: Some(cb.call_sid.clone()),
        text,
        // Keypad digits are exact.
        asr_confidence: if cb.digits.is_some() {
            None
        } else {
            cb.confidence
        },
        locale,
        at: Timestamp::now(),
        // Twilio's idempotency token: a request that comes again with the same one is answered once.
        delivery: headers
            .get("i-twilio-idempotency-token")
            .and_then(|v| v.to_str().ok())
            .and_then(|id| Delivery::new("twilio", id)),
    };
    let bot = state.bot.clone();
    let mut turn = tokio::spawn(async move { bot.handle(inbound).await });
    // A turn that takes long is waiting for the business's systems: the caller hears "One moment"
    // rather than silence, and Twilio comes back for the answer.
    let reply = match tokio::time::timeout(FILLER_AFTER, &mut turn).await {
        Ok(joined) => joined.unwrap_or_else(|e| Err(crate::bot::BotError::Aborted(e.to_string()))),
        Err(_) => {
            state.twilio_pending.put(&cb.call_sid, turn);
            let lang = locale.unwrap_or_default();
            let body = filler_twiml(&state, &headers, lang);
            return Ok(([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response());
        }
    };
    Ok(answer_call(&state, &headers, &fields, reply))
}

/// How long a turn runs before the caller hears the filler.
const FILLER_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// How long `/webhook/twilio/pending` waits for the turn (Twilio gives a webhook 15 seconds).
const PENDING_WAIT: std::time::Duration = std::time::Duration::from_secs(12);

/// The filler: "One moment, I'm checking.", then Twilio asks `/webhook/twilio/pending` for the answer.
fn filler_twiml(state: &AppState, headers: &HeaderMap, lang: crate::message::Lang) -> String {
    let said = ssml::escape(&state.bot.messages(lang).checking);
    let base = base_url(state, headers);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say language=\"{}\">{said}</Say>\
         <Redirect method=\"POST\">{}</Redirect></Response>",
        lang.locale(),
        ssml::escape(&format!("{base}/webhook/twilio/pending"))
    )
}

/// A Twilio turn running on its own task.
type Turn = tokio::task::JoinHandle<Result<crate::message::Reply, crate::bot::BotError>>;

/// Turns still running after their filler, by CallSid.
#[derive(Default)]
pub struct Pending {
    turns: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, Turn)>>,
}

impl Pending {
    fn put(&self, call: &str, turn: Turn) {
        let mut m = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        // A caller who hung up during the filler never comes back for the answer (the turn is
        // stored all the same).
        m.retain(|_, (since, t)| !t.is_finished() || since.elapsed() < PENDING_WAIT * 5);
        m.insert(call.to_string(), (std::time::Instant::now(), turn));
    }

    fn take(&self, call: &str) -> Option<Turn> {
        let mut m = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        m.remove(call).map(|(_, t)| t)
    }
}

/// `POST /webhook/twilio/pending`: the answer of the turn the filler covered.
pub async fn pending(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| ApiError {
        status: e.status(),
        message: e.body_text(),
    })?;
    let fields = verified_fields(&state, &headers, &uri, &body)?;
    let call = fields
        .iter()
        .find(|(k, _)| k == "CallSid")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| ApiError::bad_request("CallSid is missing"))?;
    let Some(mut turn) = state.twilio_pending.take(&call) else {
        // Nothing pending (a replay, a restart): listen again rather than hang up.
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Gather input=\"speech dtmf\" action=\"{ACTION}\" method=\"POST\" speechTimeout=\"auto\" actionOnEmptyResult=\"true\"/></Response>"
        );
        return Ok(([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response());
    };
    let reply = match tokio::time::timeout(PENDING_WAIT, &mut turn).await {
        Ok(joined) => joined.unwrap_or_else(|e| Err(crate::bot::BotError::Aborted(e.to_string()))),
        Err(_) => {
            // Still not done: one more filler, and the turn is kept for the next redirect.
            state.twilio_pending.put(&call, turn);
            let body = filler_twiml(&state, &headers, crate::message::Lang::default());
            return Ok(([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response());
        }
    };
    Ok(answer_call(&state, &headers, &fields, reply))
}

/// The TwiML of a finished turn: the answer and a new `<Gather>`, or the queue and the staff phone on
/// a handoff, or the apology of a turn that could not be stored.
fn answer_call(
    state: &AppState,
    headers: &HeaderMap,
    fields: &[(String, String)],
    reply: Result<crate::message::Reply, crate::bot::BotError>,
) -> Response {
    let staff_phone = state.bot.settings().handoff.staff_phone.clone();
    let body = match reply {
        Ok(reply) if reply.handoff.as_ref().is_some_and(|h| h.started) && staff_phone.is_some() => {
            let phone = staff_phone.unwrap_or_default();
            let base = base_url(state, headers);
            let called = fields
                .iter()
                .find(|(k, _)| k == "To")
                .map(|(_, v)| v.clone());
            match state.twilio_dialer.clone() {
                // The caller waits in a queue of their own; the staff phone is called, hears the
                // summary, and is bridged.
                Some(dialer) => {
                    let id = reply.conversation_id.clone();
                    let agent_url = format!("{base}/webhook/twilio/agent?conversation={id}");
                    tokio::spawn(async move {
                        if let Err(e) = dialer.call(&phone, called.as_deref(), &agent_url).await {
                            tracing::error!(conversation = %id, error = %e, "could not call the staff phone");
                        }
                    });
                    enqueue_twiml(&reply)
                }
                // No Twilio account to place the call from: the caller is dialled straight through.
                None => dial_twiml(&reply, &phone),
            }
        }
        Ok(reply) => twiml(&reply),
        // The turn could not be stored (a full disk): the caller hears why and is asked to call back,
        // rather than Twilio's "an application error has occurred".
        Err(e) => {
            // Converting logs it, at most once a second, as for every refused turn.
            let _ = ApiError::from(e);
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>{}</Say><Hangup/></Response>",
                ssml::escape(crate::http::error::STORE_DOWN)
            )
        }
    };
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// The base URL Twilio reaches parcours at.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    match &state.public_url {
        Some(base) => base.to_string(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    }
}

/// Places calls through Twilio's REST API (`TWILIO_ACCOUNT_SID` with `TWILIO_AUTH_TOKEN`;
/// `TWILIO_API_URL` points elsewhere, for tests). Calls come from `TWILIO_FROM_NUMBER`, or the number
/// the customer called.
pub struct Dialer {
    api: String,
    sid: String,
    token: String,
    from: Option<String>,
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialer")
            .field("api", &self.api)
            .field("sid", &self.sid)
            .finish_non_exhaustive()
    }
}

impl Dialer {
    /// A dialer on `api` (Twilio's, or a fake in tests).
    pub fn new(api: &str, sid: &str, token: &str, from: Option<&str>) -> Self {
        Dialer {
            api: api.trim_end_matches('/').to_string(),
            sid: sid.to_string(),
            token: token.to_string(),
            from: from.map(str::to_string),
        }
    }

    pub fn from_env() -> Option<Self> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
        Some(Dialer {
            api: var("TWILIO_API_URL")
                .unwrap_or_else(|| "https://api.twilio.com".into())
                .trim_end_matches('/')
                .to_string(),
            sid: var("TWILIO_ACCOUNT_SID")?,
            token: var("TWILIO_AUTH_TOKEN")?,
            from: var("TWILIO_FROM_NUMBER"),
        })
    }

    /// Calls `to`; when it answers, Twilio fetches `url` for what to do.
    pub async fn call(&self, to: &str, called: Option<&str>, url: &str) -> Result<(), String> {
        let from = self
            .from
            .as_deref()
            .or(called)
            .ok_or("no number to call from: set TWILIO_FROM_NUMBER")?;
        let endpoint = format!("{}/2010-04-01/Accounts/{}/Calls.json", self.api, self.sid);
        let r = reqwest::Client::new()
            .post(&endpoint)
            .basic_auth(&self.sid, Some(&self.token))
            .form(&[("To", to), ("From", from), ("Url", url)])
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if r.status().is_success() {
            Ok(())
        } else {
            Err(format!("Twilio answered {}", r.status()))
        }
    }
}

fn xml(inner: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>{inner}</Response>")
}

fn say(reply: &Reply) -> String {
    let body = reply
        .ssml
        .strip_prefix("<speak>")
        .and_then(|s| s.strip_suffix("</speak>"))
        .map_or_else(|| ssml::escape(&reply.text), str::to_string);
    format!("<Say language=\"{}\">{body}</Say>", reply.lang.locale())
}

/// The caller told their place, then put in a queue of their own (named after the conversation),
/// where the wait URL speaks to them until the staff phone takes the call.
fn enqueue_twiml(reply: &Reply) -> String {
    let id = ssml::escape(&reply.conversation_id);
    xml(&format!(
        "{}<Enqueue waitUrl=\"/webhook/twilio/wait?conversation={id}\" waitUrlMethod=\"POST\" \
         action=\"/webhook/twilio/queue-done?conversation={id}\" method=\"POST\">{id}</Enqueue>",
        say(reply)
    ))
}

/// The number to dial: a SIP address or a phone number.
fn dial_target(phone: &str, whisper_url: &str) -> String {
    let phone = ssml::escape(phone.trim());
    if phone.starts_with("sip:") {
        format!("<Sip url=\"{whisper_url}\">{phone}</Sip>")
    } else {
        format!("<Number url=\"{whisper_url}\">{phone}</Number>")
    }
}

/// The caller told, then dialled through to the staff phone, which hears the summary first.
fn dial_twiml(reply: &Reply, phone: &str) -> String {
    let id = ssml::escape(&reply.conversation_id);
    let whisper = format!("/webhook/twilio/whisper?conversation={id}");
    xml(&format!(
        "{}<Dial action=\"/webhook/twilio/queue-done?conversation={id}\" method=\"POST\" timeout=\"30\">{}</Dial>",
        say(reply),
        dial_target(phone, &whisper)
    ))
}

/// `?conversation=tp_…` of the queue callbacks; a missing or bad query is a JSON 400.
#[derive(Debug)]
pub struct ConversationQuery {
    conversation: String,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ConversationQuery {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let fields: Vec<(String, String)> =
            serde_urlencoded::from_str(parts.uri.query().unwrap_or("")).unwrap_or_default();
        fields
            .into_iter()
            .find(|(k, v)| k == "conversation" && !v.trim().is_empty())
            .map(|(_, v)| ConversationQuery { conversation: v })
            .ok_or_else(|| {
                ApiError::bad_request("conversation: the query must name the conversation")
            })
    }
}

/// The conversation a queue callback names, which must be a Twilio call.
async fn queued(state: &AppState, id: &str) -> Result<crate::store::Touchpoint, ApiError> {
    state
        .bot
        .store()
        .touchpoint(id)
        .await
        .map_err(ApiError::from)?
        .filter(|tp| tp.channel == Channel::Twilio)
        .ok_or_else(|| ApiError::not_found(format!("no call {id}")))
}

fn twiml_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// `POST /webhook/twilio/wait`: what a caller in the queue hears, again and again: their place, and
/// the keypad choice of a call back.
pub async fn wait(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    q: ConversationQuery,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    verified_fields(&state, &headers, &uri, &body)?;
    let tp = queued(&state, &q.conversation).await?;
    let now = Timestamp::now();
    let position = state
        .bot
        .queue_item(&tp.id, now)
        .await?
        .and_then(|i| i.position)
        .unwrap_or(1);
    let m = &state.bot.messages(tp.lang).people;
    let text = crate::handoff::fill(&m.twilio_wait, &[("position", &position.to_string())]);
    let lang = tp.lang.locale();
    let id = ssml::escape(&tp.id);
    Ok(twiml_response(xml(&format!(
        "<Gather input=\"dtmf\" numDigits=\"1\" timeout=\"15\" action=\"/webhook/twilio/wait-key?conversation={id}\" method=\"POST\">\
         <Say language=\"{lang}\">{}</Say></Gather>",
        ssml::escape(&text)
    ))))
}

/// `POST /webhook/twilio/wait-key`: 1 on the keypad while waiting is a call back.
pub async fn wait_key(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    q: ConversationQuery,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let fields = verified_fields(&state, &headers, &uri, &body)?;
    let tp = queued(&state, &q.conversation).await?;
    let digits = fields
        .iter()
        .find(|(k, _)| k == "Digits")
        .map(|(_, v)| v.trim().to_string());
    let m = &state.bot.messages(tp.lang).people;
    let lang = tp.lang.locale();
    if digits.as_deref() == Some("1") {
        state
            .bot
            .request_callback(
                &tp.id,
                "the caller pressed 1 for a call back",
                Timestamp::now(),
            )
            .await?;
        return Ok(twiml_response(xml(&format!(
            "<Say language=\"{lang}\">{}</Say><Hangup/>",
            ssml::escape(&m.twilio_callback)
        ))));
    }
    // Anything else: back to the waiting loop.
    Ok(twiml_response(xml(&format!(
        "<Redirect method=\"POST\">/webhook/twilio/wait?conversation={}</Redirect>",
        ssml::escape(&tp.id)
    ))))
}

/// `POST /webhook/twilio/agent`: the staff phone answered parcours's call: it takes the caller from
/// their queue, after the whisper.
pub async fn agent(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    q: ConversationQuery,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    verified_fields(&state, &headers, &uri, &body)?;
    let tp = queued(&state, &q.conversation).await?;
    let id = ssml::escape(&tp.id);
    Ok(twiml_response(xml(&format!(
        "<Dial><Queue url=\"/webhook/twilio/whisper?conversation={id}\">{id}</Queue></Dial>"
    ))))
}

/// `POST /webhook/twilio/whisper`: what the person who answers hears before the caller is connected:
/// the summary. The conversation is theirs from then on.
pub async fn whisper(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    q: ConversationQuery,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    verified_fields(&state, &headers, &uri, &body)?;
    let tp = queued(&state, &q.conversation).await?;
    let now = Timestamp::now();
    let summary = crate::handoff::summary(&tp, state.bot.non_topic_intents()).join(". ");
    let settings = state.bot.settings();
    let name = settings
        .handoff
        .staff_phone_name
        .clone()
        .unwrap_or_else(|| settings.staff_name.clone());
    match state.bot.claim(&tp.id, &name, now).await {
        Ok(_) | Err(crate::handoff::DeskError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let m = &state.bot.messages(tp.lang).people;
    let text = crate::handoff::fill(&m.twilio_whisper, &[("summary", &summary)]);
    Ok(twiml_response(xml(&format!(
        "<Say language=\"{}\">{}</Say>",
        tp.lang.locale(),
        ssml::escape(&text)
    ))))
}

/// `POST /webhook/twilio/queue-done`: the caller left the queue or the dialled call. Hung up while
/// waiting, or nobody answered: a call-back request.
pub async fn queue_done(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    q: ConversationQuery,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let fields = verified_fields(&state, &headers, &uri, &body)?;
    let tp = queued(&state, &q.conversation).await?;
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let result = get("QueueResult").or(get("DialCallStatus")).unwrap_or("");
    let m = &state.bot.messages(tp.lang).people;
    let unanswered = matches!(
        result,
        "hangup" | "error" | "system-error" | "no-answer" | "busy" | "failed" | "canceled"
    );
    if unanswered && matches!(tp.owner, crate::store::Owner::Waiting { .. }) {
        state
            .bot
            .request_callback(
                &tp.id,
                &format!("the call left the queue unanswered ({result}): call back"),
                Timestamp::now(),
            )
            .await?;
        return Ok(twiml_response(xml(&format!(
            "<Say language=\"{}\">{}</Say><Hangup/>",
            tp.lang.locale(),
            ssml::escape(&m.twilio_no_answer)
        ))));
    }
    Ok(twiml_response(xml("<Hangup/>")))
}

/// The TwiML for a reply: a `<Say>` inside a `<Gather>` that posts the next turn, or `<Hangup/>` at the end.
pub fn twiml(reply: &Reply) -> String {
    let lang = reply.lang.locale();
    let body = reply
        .ssml
        .strip_prefix("<speak>")
        .and_then(|s| s.strip_suffix("</speak>"))
        .map_or_else(|| ssml::escape(&reply.text), str::to_string);
    let say = format!("<Say language=\"{lang}\">{body}</Say>");
    let inner = if reply.end {
        format!("{say}<Hangup/>")
    } else {
        format!(
            "<Gather input=\"speech dtmf\" action=\"{ACTION}\" method=\"POST\" language=\"{lang}\" \
             speechTimeout=\"auto\" actionOnEmptyResult=\"true\">{say}</Gather>"
        )
    };
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>{inner}</Response>")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn twilios_documented_signature_example_verifies() {
        // The example of Twilio's "Webhooks security" page.
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let fields = [
            f("CallSid", "CA1234567890ABCDE"),
            f("Caller", "+12349013030"),
            f("Digits", "1234"),
            f("From", "+12349013030"),
            f("To", "+18005551212"),
        ];
        let sig = sign("12345", url, &fields);
        assert_eq!(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(signature_is_valid("12345", url, &fields, &sig));
        assert!(!signature_is_valid("12345", url, &fields[1..], &sig));
        assert!(!signature_is_valid("wrong", url, &fields, &sig));
        assert!(!signature_is_valid("12345", url, &fields, "not base64!"));
    }
}
