//! The HTTP server: health, the webhooks of the channels, and their shared plumbing (auth, body limit,
//! JSON errors, graceful shutdown). Routes are listed in [`router`].

pub mod error;
pub mod openapi;
pub mod server;

use crate::bot::Bot;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use error::ApiError;
use std::sync::Arc;

/// Largest request body accepted (CONTRACT.md): larger ones get 413.
pub const MAX_BODY: usize = 64 * 1024;

/// How long a client has to send its whole request body: a client that announces a body and then sends
/// it byte by byte, or not at all, would otherwise hold a connection (and a file descriptor) for ever.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What every handler can reach. Cloned for every request (axum gives each extractor its own), so
/// that its strings are shared, not copied.
#[derive(Clone)]
pub struct AppState {
    pub bot: Arc<Bot>,
    /// `PARCOURS_WEBHOOK_TOKEN`: when set, voice webhooks need `Authorization: Bearer <token>`.
    pub webhook_token: Option<Arc<str>>,
    /// `TWILIO_AUTH_TOKEN`: when set, Twilio requests must carry a valid `X-Twilio-Signature`.
    pub twilio_auth_token: Option<Arc<str>>,
    /// `PARCOURS_PUBLIC_URL`: the public base URL, for signature checks.
    pub public_url: Option<Arc<str>>,
    /// `PARCOURS_ALEXA_SKILL_ID`: when set, Alexa requests must come from this skill.
    pub alexa_skill_id: Option<Arc<str>>,
    /// `PARCOURS_STAFF_TOKEN`: the staff API's bearer token; unset, the staff API refuses every call.
    pub staff_token: Option<Arc<str>>,
    /// The Telegram channel in webhook mode, with the secret its updates must carry.
    pub telegram: Option<(Arc<crate::channel::telegram::Telegram>, Arc<str>)>,
    /// How long a request body may take to arrive ([`BODY_TIMEOUT`]; shorter in tests).
    pub body_timeout: std::time::Duration,
    /// Places calls to the staff phone (Twilio's REST API), when an account is configured.
    pub twilio_dialer: Option<Arc<crate::channel::twilio::Dialer>>,
    /// `PARCOURS_STAFF_NAME`: the name behind `PARCOURS_STAFF_TOKEN` (else `staff_name` in the
    /// settings).
    pub staff_name: Option<Arc<str>>,
    /// Twilio turns still running after their filler was said (a slow lookup), by call.
    pub twilio_pending: Arc<crate::channel::twilio::Pending>,
}

impl AppState {
    /// The state for `bot`, configured from the environment (CONTRACT.md's variables).
    pub fn from_env(bot: Arc<Bot>) -> Self {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(Arc::from)
        };
        AppState {
            bot,
            webhook_token: var("PARCOURS_WEBHOOK_TOKEN"),
            twilio_auth_token: var("TWILIO_AUTH_TOKEN"),
            public_url: var("PARCOURS_PUBLIC_URL").map(|u| Arc::from(u.trim_end_matches('/'))),
            alexa_skill_id: var("PARCOURS_ALEXA_SKILL_ID"),
            staff_token: var("PARCOURS_STAFF_TOKEN"),
            telegram: None,
            body_timeout: BODY_TIMEOUT,
            twilio_dialer: crate::channel::twilio::Dialer::from_env().map(Arc::new),
            staff_name: var("PARCOURS_STAFF_NAME"),
            twilio_pending: Default::default(),
        }
    }

    /// State with no secrets configured (tests, local runs).
    pub fn open(bot: Arc<Bot>) -> Self {
        AppState {
            bot,
            webhook_token: None,
            twilio_auth_token: None,
            public_url: None,
            alexa_skill_id: None,
            staff_token: None,
            telegram: None,
            body_timeout: BODY_TIMEOUT,
            twilio_dialer: None,
            staff_name: None,
            twilio_pending: Default::default(),
        }
    }
}

impl AppState {
    /// Checks the bearer token of a webhook call, when one is configured.
    pub fn check_webhook_token(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        match &self.webhook_token {
            None => Ok(()),
            Some(expected)
                if bearer(headers)
                    .is_some_and(|t| constant_time_eq(t.as_bytes(), expected.as_bytes())) =>
            {
                Ok(())
            }
            Some(_) => Err(ApiError::unauthorized()),
        }
    }
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Compares secrets in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// Every route. The state is shared behind one `Arc`: a request's extractors each take it, one count
/// each rather than one per field.
pub fn router(state: AppState) -> Router {
    let state = Arc::new(state);
    Router::new()
        .route("/healthz", get(health))
        .route("/readyz", get(health))
        .route("/", get(crate::staff::console))
        .route("/console.js", get(crate::staff::console_script))
        .route(
            "/openapi.json",
            get(|| async { axum::Json(openapi::document()) }),
        )
        .route(
            "/metrics",
            get(|State(s): State<Arc<AppState>>| async move {
                let mut text = s.bot.metrics().render();
                text.push_str(
                    &crate::handoff::queue_metrics(&s.bot, crate::time::Timestamp::now()).await,
                );
                if let Some(f) = s.bot.fulfiller() {
                    text.push_str(&f.render_metrics());
                }
                ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
            }),
        )
        .route("/webhook/voice", post(crate::channel::voice::webhook))
        .route("/webhook/twilio", post(crate::channel::twilio::webhook))
        .route("/webhook/twilio/wait", post(crate::channel::twilio::wait))
        .route(
            "/webhook/twilio/pending",
            post(crate::channel::twilio::pending),
        )
        .route(
            "/webhook/twilio/wait-key",
            post(crate::channel::twilio::wait_key),
        )
        .route("/webhook/twilio/agent", post(crate::channel::twilio::agent))
        .route(
            "/webhook/twilio/whisper",
            post(crate::channel::twilio::whisper),
        )
        .route(
            "/webhook/twilio/queue-done",
            post(crate::channel::twilio::queue_done),
        )
        .route("/webhook/alexa", post(crate::channel::alexa::webhook))
        .route("/webhook/telegram", post(crate::channel::telegram::webhook))
        .merge(crate::staff::routes(state.clone()))
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError {
                status: StatusCode::METHOD_NOT_ALLOWED,
                message: "method not allowed on this route".into(),
            }
        })
        // The body limit is the door's: it reads every body whole and at most `MAX_BODY`, under the
        // limit axum's extractors keep by default, so no `DefaultBodyLimit` layer wraps every route.
        .layer(axum::middleware::from_fn_with_state(state.clone(), door))
        .with_state(state)
}

/// A webhook call whose bearer token is the configured one (or any call, when none is). As an
/// extractor before the body's, the token is checked before the body is parsed: a caller without it
/// learns nothing of what the body should be (401, not 400 or 422).
pub struct WebhookToken;

impl axum::extract::FromRequestParts<Arc<AppState>> for WebhookToken {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        state
            .check_webhook_token(&parts.headers)
            .map(|()| WebhookToken)
    }
}

/// `/healthz` and `/readyz`: 200 while the store can write, 503 (with `Retry-After`) while it cannot, so
/// that a load balancer sends customers elsewhere and a supervisor sees the fault.
async fn health(State(state): State<Arc<AppState>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    if state.bot.store().healthy() {
        "ok".into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            "the store cannot write",
        )
            .into_response()
    }
}

/// What every request goes through, in one layer: its body read in time ([`read_body`]), and the
/// headers every response carries ([`secure`]).
async fn door(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = request.uri().path();
    let console = path == "/";
    let no_store = console || path == "/console.js" || path.starts_with("/api");
    let mut response = match read_body(request, state.body_timeout).await {
        Ok(request) => next.run(request).await,
        Err(error) => error.into_response(),
    };
    secure(response.headers_mut(), console, no_store);
    response
}

/// Headers every response carries: no sniffing, no framing, no referrer; the console and the API are
/// never cached (they hold customers' data), and the console may run only its own script.
fn secure(h: &mut HeaderMap, console: bool, no_store: bool) {
    use axum::http::HeaderValue;
    // The values are checked once, when the program is built (`from_static` in a static), and the
    // map grows once.
    static NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
    static DENY: HeaderValue = HeaderValue::from_static("DENY");
    static NO_REFERRER: HeaderValue = HeaderValue::from_static("no-referrer");
    static CONSOLE_POLICY: HeaderValue = HeaderValue::from_static(
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    static NOTHING_POLICY: HeaderValue =
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'");
    static NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
    h.reserve(5);
    h.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF.clone());
    h.insert(header::X_FRAME_OPTIONS, DENY.clone());
    h.insert(header::REFERRER_POLICY, NO_REFERRER.clone());
    let policy = if console {
        &CONSOLE_POLICY
    } else {
        &NOTHING_POLICY
    };
    h.insert(header::CONTENT_SECURITY_POLICY, policy.clone());
    if no_store {
        h.insert(header::CACHE_CONTROL, NO_STORE.clone());
    }
}

/// Reads the request body before any handler runs, within `timeout` (else 408) and the body limit
/// (else 413), both as JSON errors; the handler then gets the body already in memory, so a slow client
/// never holds a handler half-way through a turn.
async fn read_body(
    request: axum::extract::Request,
    timeout: std::time::Duration,
) -> Result<axum::extract::Request, ApiError> {
    let (parts, body) = request.into_parts();
    let bytes = match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return Err(if too_large {
                ApiError {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    message: format!("the body is over {MAX_BODY} bytes"),
                }
            } else {
                ApiError::bad_request(format!("the body could not be read: {e}"))
            });
        }
        Err(_) => {
            return Err(ApiError {
                status: StatusCode::REQUEST_TIMEOUT,
                message: format!("the body did not arrive within {} s", timeout.as_secs_f32()),
            });
        }
    };
    Ok(axum::extract::Request::from_parts(parts, bytes.into()))
}

/// Resolves on Ctrl-C or SIGTERM: the one shutdown signal.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_only_when_equal() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
