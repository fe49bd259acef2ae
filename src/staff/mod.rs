//! The staff API (`/api/*`): conversations, transcripts, customers and the satisfaction report, behind a
//! bearer token (`PARCOURS_STAFF_TOKEN`, compared in constant time; unset, every call is refused).

pub mod views;

use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::http::{AppState, bearer, constant_time_eq};
use crate::message::Channel;
use crate::report::{self, Filter, Period};
use crate::time::Timestamp;
use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use views::{ConversationSummary, Profile, Transcript};

/// Longest staff message, in characters.
const MAX_STAFF_TEXT: usize = 2_000;

/// Largest page of conversations.
const MAX_LIMIT: usize = 500;
const DEFAULT_LIMIT: usize = 50;

/// The staff console: one self-contained page (no external scripts, styles or fonts). It signs in with the
/// staff token and calls the API from the browser; the page itself holds no data, so it needs no auth.
pub async fn console() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("console.html"))
}

/// The console's script, served apart so that the page's Content-Security-Policy can forbid inline
/// scripts.
pub async fn console_script() -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/javascript; charset=utf-8",
        )],
        include_str!("console.js"),
    )
}

/// The `/api` routes, all behind the staff token.
pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/conversations", get(list_conversations))
        .route("/api/conversations/{id}", get(show_conversation))
        .route("/api/customers/{id}", get(show_customer))
        .route(
            "/api/customers/{id}",
            axum::routing::delete(forget_customer),
        )
        .route("/api/customers/{id}/export", get(export_customer))
        .route("/api/customers/{id}/journey", get(journey))
        .route(
            "/api/customers/{id}/merge",
            axum::routing::post(merge_customer),
        )
        .route(
            "/api/customers/{id}/split",
            axum::routing::post(split_customer),
        )
        .route("/api/queue", get(queue))
        .route("/api/me", get(me))
        .route("/api/staff", get(staff_list))
        .route("/api/events", get(events))
        .route(
            "/api/conversations/{id}/handoff",
            axum::routing::post(handoff),
        )
        .route("/api/conversations/{id}/claim", axum::routing::post(claim))
        .route(
            "/api/conversations/{id}/messages",
            axum::routing::post(message),
        )
        .route(
            "/api/conversations/{id}/typing",
            axum::routing::post(typing),
        )
        .route(
            "/api/conversations/{id}/transfer",
            axum::routing::post(transfer),
        )
        .route(
            "/api/conversations/{id}/release",
            axum::routing::post(release),
        )
        .route("/api/conversations/{id}/close", axum::routing::post(close))
        .route("/api/reports/satisfaction", get(satisfaction))
        .route("/api/reports/journeys", get(journeys_report))
        .route_layer(middleware::from_fn_with_state(state, require_staff))
}

/// The member of staff making a call (from their token), in the request's extensions.
#[derive(Debug, Clone)]
pub struct StaffName(pub String);

/// Refuses calls without a staff token: `PARCOURS_STAFF_TOKEN` or one of the `[[staff]]` tokens
/// of the settings, each compared in constant time. The caller's name goes with the request.
async fn require_staff(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let settings = state.bot.settings();
    if state.staff_token.is_none() && settings.staff.is_empty() {
        return Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            message:
                "the staff API is disabled: set PARCOURS_STAFF_TOKEN or [[staff]] in the settings"
                    .into(),
        });
    }
    let Some(given) = bearer(req.headers()) else {
        return Err(ApiError::unauthorized());
    };
    let mut who = None;
    if let Some(expected) = &state.staff_token {
        if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            who = Some(
                state
                    .staff_name
                    .as_deref()
                    .map_or_else(|| settings.staff_name.clone(), str::to_string),
            );
        }
    }
    for member in &settings.staff {
        if !member.token.is_empty() && constant_time_eq(given.as_bytes(), member.token.as_bytes()) {
            who = Some(member.name.clone());
        }
    }
    match who {
        Some(name) => {
            req.extensions_mut().insert(StaffName(name));
            Ok(next.run(req).await)
        }
        None => Err(ApiError::unauthorized()),
    }
}

impl From<crate::handoff::DeskError> for ApiError {
    fn from(e: crate::handoff::DeskError) -> Self {
        use crate::handoff::DeskError;
        match e {
            DeskError::NotFound(_) => ApiError::not_found(e.to_string()),
            DeskError::Closed(_) | DeskError::Conflict(_) => ApiError {
                status: StatusCode::CONFLICT,
                message: e.to_string(),
            },
            DeskError::Bot(b) => ApiError::from(b),
        }
    }
}

/// The conversations waiting for a person or owned by one, oldest first.
async fn queue(State(state): State<Arc<AppState>>) -> Result<ApiJson<Value>, ApiError> {
    let items = state.bot.queue(Timestamp::now()).await?;
    Ok(ApiJson(json!({ "items": items })))
}

/// Who the token belongs to.
async fn me(axum::Extension(StaffName(name)): axum::Extension<StaffName>) -> ApiJson<Value> {
    ApiJson(json!({ "name": name }))
}

/// The names of the members of staff (to transfer to).
async fn staff_list(State(state): State<Arc<AppState>>) -> ApiJson<Value> {
    let s = state.bot.settings();
    let mut names: Vec<&str> = s.staff.iter().map(|m| m.name.as_str()).collect();
    if state.staff_token.is_some() {
        names.push(state.staff_name.as_deref().unwrap_or(&s.staff_name));
    }
    names.dedup();
    ApiJson(json!({ "staff": names }))
}

/// Server-sent events: every handoff, claim, message, release, as JSON, with a keep-alive.
async fn events(
    State(state): State<Arc<AppState>>,
) -> axum::response::sse::Sse<
    impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let rx = state.bot.desk().subscribe();
    let closing = state.bot.desk().closing();
    let stream = futures_util::stream::unfold((rx, closing), |(mut rx, mut closing)| async move {
        if *closing.borrow() {
            return None;
        }
        let received = tokio::select! {
            r = rx.recv() => r,
            // The server is stopping: the stream ends, the client reconnects elsewhere.
            _ = closing.changed() => return None,
        };
        let event = match received {
            Ok(e) => {
                let data = serde_json::to_string(&e).unwrap_or_default();
                Event::default().event(e.kind).data(data)
            }
            // A slow listener missed some: tell it to reload the queue.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                Event::default().event("lagged").data(n.to_string())
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), (rx, closing)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// A body that may be left out (or be `{}`): its fields are all optional.
fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        message: format!("the body is not the JSON expected: {e}"),
    })
}

#[derive(Debug, Default, Deserialize)]
struct HandoffBody {
    /// Why (shown in the transcript and the queue).
    #[serde(default)]
    reason: Option<String>,
}

async fn handoff(
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
    axum::Extension(StaffName(name)): axum::Extension<StaffName>,
    body: axum::body::Bytes,
) -> Result<ApiJson<Value>, ApiError> {
    let reason = optional_json::<HandoffBody>(&body)?
        .reason
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| format!("api ({name})"));
    let tp = state
        .bot
        .request_handoff(&id, &reason, Timestamp::now())
        .await?;
    Ok(ApiJson(json!({ "conversation": tp.id, "owner": tp.owner })))
}

async fn claim(
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
    axum::Extension(StaffName(name)): axum::Extension<StaffName>,
) -> Result<ApiJson<Value>, ApiError> {
    let tp = state.bot.claim(&id, &name, Timestamp::now()).await?;
    Ok(ApiJson(json!({ "conversation": tp.id, "owner": tp.owner })))
}

#[derive(Debug, Deserialize)]
struct MessageBody {
    text: String,
    /// A private note: in the transcript for staff, never sent to the customer.
    #[serde(default)]
    private: bool,
}

async fn message(
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
    axum::Extension(StaffName(name)): axum::Extension<StaffName>,
    ApiJson(body): ApiJson<MessageBody>,
) -> Result<ApiJson<Value>, ApiError> {
    if body.text.trim().is_empty() {
        return Err(ApiError::unprocessable("text: a message cannot be empty"));
    }
    if body.text.chars().count() > MAX_STAFF_TEXT {
        return Err(ApiError::unprocessable(format!(
            "text: at most {MAX_STAFF_TEXT} characters (a customer reads it on a phone, or hears it)"
        )));
    }
    let tp = state
        .bot
        .staff_reply(&id, &name, &body.text, body.private, Timestamp::now())
        .await?;
    Ok(ApiJson(
        json!({ "conversation": tp.id, "owner": tp.owner, "private": body.private }),
    ))
}

async fn typing(
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<Value>, ApiError> {
    state.bot.staff_typing(&id).await?;
    Ok(ApiJson(json!({ "conversation": id })))
}

#[derive(Debug, Deserialize)]
struct TransferBody {
    to: String,
}

async fn transfer(
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
    axum::Extension(StaffName(name)): axum::Extension<StaffName>,
    ApiJson(body): ApiJson<TransferBody>,
) -> Result<ApiJson<Value>, ApiError> {
    let s = state.bot.settings();
    let mut names: Vec<&str> = s.staff.iter().map(|m| m.name.as_str()).collect();
    if state.staff_token.is_some() {
        names.push(state.staff_name.as_deref().unwrap_or(&s.staff_name));
    }
    let Some(to) = names
        .into_iter()
        .find(|n| n.trim().eq_ignore_ascii_case(body.to.trim()))
    else {
        return Err(ApiError::unprocessable(format!(
            "to: no member of staff is called {:?}",
            body.to
        )));
    };
    let tp = state.bot.transfer(&id, &name, to, Timestamp::now()).await?;
    Ok(ApiJson(json!({ "conversation": tp.id, "owner": tp.owner })))
}

#[derive(Debug, Default, Deserialize)]
struct ReleaseBody {
    #[serde(default)]
    note: Option<String>,
}

async fn release(
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
    axum::Extension(StaffName(name)): axum::Extension<StaffName>,
    body: axum::body::Bytes,
) -> Result<ApiJson<Value>, ApiError> {
    let note = optional_json::<ReleaseBody>(&body)?.note;
    let tp = state
        .bot
        .release(&id, &name, note.as_deref(), Timestamp::now())
        .await?;
    Ok(ApiJson(json!({ "conversation": tp.id, "owner": tp.owner })))
}

async fn close(
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
    axum::Extension(StaffName(name)): axum::Extension<StaffName>,
) -> Result<ApiJson<Value>, ApiError> {
    let tp = state
        .bot
        .close_by_staff(&id, &name, Timestamp::now())
        .await?;
    Ok(ApiJson(json!({ "conversation": tp.id, "closed": true })))
}

fn parse_time(name: &str, v: &Option<String>) -> Result<Option<Timestamp>, ApiError> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => {
            let t = Timestamp::parse(s).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{name}: expected a date (2026-11-23) or an RFC 3339 time"
                ))
            })?;
            // `until=2026-11-23` means until the end of that day.
            let whole_day = name == "until" && s.len() == 10;
            Ok(Some(if whole_day { t.plus_ms(86_400_000) } else { t }))
        }
    }
}

fn parse_channel(v: &Option<String>) -> Result<Option<Channel>, ApiError> {
    match v.as_deref().filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => Channel::parse(s)
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("channel: unknown channel {s:?}"))),
    }
}

/// An empty query value (`max_rating=`) is no filter, as the OpenAPI document says.
fn empty_is_none<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let s: Option<String> = Option::deserialize(d)?;
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => v.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// Filters of `GET /api/conversations`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConversationQuery {
    pub channel: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub intent: Option<String>,
    pub customer: Option<String>,
    #[serde(default, deserialize_with = "empty_is_none")]
    pub max_rating: Option<u8>,
    /// Only conversations with at least one irritant.
    pub irritant: Option<bool>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

async fn list_conversations(
    State(state): State<Arc<AppState>>,
    query: Result<Query<ConversationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<ApiJson<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let channel = parse_channel(&q.channel)?;
    let since = parse_time("since", &q.since)?.unwrap_or(Timestamp(0));
    let until = parse_time("until", &q.until)?.unwrap_or(Timestamp(u64::MAX));
    // Zero is a mistake to report, not a page of one; above the maximum, the maximum (as GitHub's API).
    let limit = match q.limit.unwrap_or(DEFAULT_LIMIT) {
        0 => return Err(ApiError::bad_request("limit must be at least 1")),
        n => n.min(MAX_LIMIT),
    };
    let filter = crate::store::ConversationFilter {
        channel,
        intent: q.intent.clone(),
        customer: q.customer.clone(),
        max_rating: q.max_rating,
        irritant: q.irritant,
    };
    if let Some(c) = q
        .cursor
        .as_deref()
        .filter(|c| crate::store::sled_store::parse_cursor(c).is_none())
    {
        return Err(ApiError::bad_request(format!(
            "cursor: {c:?} is not a cursor from a previous page"
        )));
    }
    let page = state
        .bot
        .store()
        .touchpoints_between(since, until, limit, q.cursor.as_deref(), &filter, true)
        .await
        .map_err(ApiError::from)?;
    let items: Vec<ConversationSummary> =
        page.items.iter().map(ConversationSummary::from).collect();
    Ok(ApiJson(
        json!({ "items": items, "next_cursor": page.next_cursor }),
    ))
}

async fn show_conversation(
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<Transcript>, ApiError> {
    let tp = state
        .bot
        .store()
        .touchpoint(&id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found(format!("no conversation {id}")))?;
    Ok(ApiJson(Transcript::from(&tp)))
}

async fn show_customer(
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<Profile>, ApiError> {
    let store = state.bot.store();
    let customer = store
        .customer(&id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found(format!("no customer {id}")))?;
    let identities = store.identities(&id).await.map_err(ApiError::from)?;
    let touchpoints = store.touchpoints_of(&id).await.map_err(ApiError::from)?;
    Ok(ApiJson(Profile::new(customer, &identities, &touchpoints)))
}

/// Everything held on a customer: profile, identities, every conversation with its transcript.
pub async fn export(
    store: &dyn crate::store::ProfileStore,
    id: &str,
) -> Result<Option<Value>, crate::store::StoreError> {
    let Some(customer) = store.customer(id).await? else {
        return Ok(None);
    };
    let identities = store.identities(id).await?;
    let touchpoints = store.touchpoints_of(id).await?;
    let transcripts: Vec<Transcript> = touchpoints.iter().map(Transcript::from).collect();
    Ok(Some(json!({
        "exported_at": Timestamp::now().to_string(),
        "customer": customer,
        "identities": identities,
        "conversations": transcripts,
    })))
}

async fn export_customer(
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<Value>, ApiError> {
    export(state.bot.store().as_ref(), &id)
        .await
        .map_err(ApiError::from)?
        .map(ApiJson)
        .ok_or_else(|| ApiError::not_found(format!("no customer {id}")))
}

/// Erasure: profile and identities deleted, conversations anonymised (counts stay in reports).
async fn forget_customer(
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<Value>, ApiError> {
    let store = state.bot.store();
    if store.customer(&id).await.map_err(ApiError::from)?.is_none() {
        return Err(ApiError::not_found(format!("no customer {id}")));
    }
    let n = store.forget(&id).await.map_err(ApiError::from)?;
    store.durable().await.map_err(ApiError::from)?;
    tracing::info!(customer = %id, conversations = n, "customer erased");
    Ok(ApiJson(
        json!({ "erased": id, "conversations_anonymised": n }),
    ))
}

/// Extra fields are ignored, as the OpenAPI document allows.
#[derive(Debug, Deserialize)]
struct MergeBody {
    /// The customer that absorbs this one.
    into: String,
}

/// Staff merge: this customer's identities and conversations move to `into`.
async fn merge_customer(
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<MergeBody>,
) -> Result<ApiJson<Value>, ApiError> {
    let store = state.bot.store();
    for c in [&id, &body.into] {
        if store.customer(c).await.map_err(ApiError::from)?.is_none() {
            return Err(ApiError::not_found(format!("no customer {c}")));
        }
    }
    if id == body.into {
        return Err(ApiError::bad_request(
            "a customer cannot be merged into itself",
        ));
    }
    store
        .merge(&id, &body.into, None)
        .await
        .map_err(ApiError::from)?;
    store.durable().await.map_err(ApiError::from)?;
    Ok(ApiJson(json!({ "merged": id, "into": body.into })))
}

#[derive(Debug, Deserialize)]
struct SplitBody {
    channel: String,
    id: String,
}

/// Staff split: one identity (and its conversations) leaves this customer for a new one.
async fn split_customer(
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<SplitBody>,
) -> Result<ApiJson<Value>, ApiError> {
    let store = state.bot.store();
    let channel = parse_channel(&Some(body.channel.clone()))?
        .ok_or_else(|| ApiError::bad_request("channel is required"))?;
    let identity = crate::store::Identity {
        channel,
        id: body.id,
    };
    if !store
        .identities(&id)
        .await
        .map_err(ApiError::from)?
        .contains(&identity)
    {
        return Err(ApiError::not_found(format!(
            "customer {id} has no such identity"
        )));
    }
    let new = store
        .split(&id, &identity, Timestamp::now())
        .await
        .map_err(ApiError::from)?;
    store.durable().await.map_err(ApiError::from)?;
    Ok(ApiJson(json!({ "split_from": id, "new_customer": new })))
}

/// The customer's touchpoints across channels, oldest first.
async fn journey(
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<Value>, ApiError> {
    let store = state.bot.store();
    if store.customer(&id).await.map_err(ApiError::from)?.is_none() {
        return Err(ApiError::not_found(format!("no customer {id}")));
    }
    let tps = store.touchpoints_of(&id).await.map_err(ApiError::from)?;
    let timeline: Vec<ConversationSummary> = tps.iter().map(ConversationSummary::from).collect();
    let path: Vec<Channel> = tps.iter().map(|t| t.channel).collect();
    Ok(ApiJson(
        json!({ "customer_id": id, "channels": path, "timeline": timeline }),
    ))
}

/// Filters of `GET /api/reports/satisfaction`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    pub since: Option<String>,
    pub until: Option<String>,
    pub channel: Option<String>,
    pub intent: Option<String>,
    /// `day`, `week` or `month`.
    pub period: Option<String>,
}

impl ReportQuery {
    /// The report filter, or a 400 naming the bad parameter.
    pub fn filter(&self) -> Result<Filter, ApiError> {
        Ok(Filter {
            since: parse_time("since", &self.since)?,
            until: parse_time("until", &self.until)?,
            channel: parse_channel(&self.channel)?,
            intent: self.intent.clone().filter(|i| !i.is_empty()),
            period: match self.period.as_deref() {
                None | Some("") => Period::Day,
                Some(p) => Period::parse(p)
                    .ok_or_else(|| ApiError::bad_request("period: day, week or month"))?,
            },
        })
    }
}

async fn journeys_report(
    State(state): State<Arc<AppState>>,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<ApiJson<report::Journeys>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let r = report::journeys(
        state.bot.store().as_ref(),
        &q.filter()?,
        state.bot.non_topic_intents(),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(ApiJson(r))
}

async fn satisfaction(
    State(state): State<Arc<AppState>>,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<ApiJson<report::Report>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let r = report::satisfaction(
        state.bot.store().as_ref(),
        &q.filter()?,
        state.bot.non_topic_intents(),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(ApiJson(r))
}
