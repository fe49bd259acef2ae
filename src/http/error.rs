//! HTTP errors, mapped in one place: bad input gets a 4xx with a JSON `{"error": "…"}` that says what is
//! wrong; internal failures get an opaque 500 and the cause goes to the log, never to the client.

use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    /// 400 with a message for the client.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 422: well-formed, but a field's value is not acceptable (as serde's type errors are).
    pub fn unprocessable(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: message.into(),
        }
    }

    /// 401: missing or wrong credentials.
    pub fn unauthorized() -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "missing or invalid credentials".into(),
        }
    }

    /// 404.
    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: what.into(),
        }
    }

    /// 500: logs the cause, tells the client nothing about it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "internal error".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("5"),
            );
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        ApiError {
            status: r.status(),
            message: r.body_text(),
        }
    }
}

impl From<FormRejection> for ApiError {
    fn from(r: FormRejection) -> Self {
        ApiError {
            status: r.status(),
            message: r.body_text(),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError {
            status: r.status(),
            message: r.body_text(),
        }
    }
}

/// `Path` whose rejections (an id that is not valid UTF-8 once decoded, say) are JSON errors too.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// What a channel can say when a turn could not be stored.
pub const STORE_DOWN: &str =
    "Sorry, I can't take your message right now. Please try again in a minute.";

/// A turn that cannot be stored is refused (503, `Retry-After`, a sentence the channel can say).
impl From<crate::bot::BotError> for ApiError {
    fn from(e: crate::bot::BotError) -> Self {
        unavailable(&e, "a turn could not be stored")
    }
}

/// The staff API's store failures: a store that cannot read or write (a full disk, I/O) is 503 with
/// `Retry-After`, as for turns; a record that cannot be decoded is a 500.
impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Encoding(_) => ApiError::internal(e),
            _ => unavailable(&e, "the store failed"),
        }
    }
}

/// 503 for a store that is down; the error is logged at most once a second, with how many were not.
fn unavailable(e: &dyn std::fmt::Display, what: &'static str) -> ApiError {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    static SILENCED: AtomicU64 = AtomicU64::new(0);
    let now = crate::time::Timestamp::now().0;
    let last = LAST.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= 1000
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        let silenced = SILENCED.swap(0, Ordering::Relaxed);
        tracing::error!(error = %e, silenced, "{what}");
    } else {
        SILENCED.fetch_add(1, Ordering::Relaxed);
    }
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: STORE_DOWN.into(),
    }
}

/// `Json` whose rejections are JSON errors too (400 bad syntax, 413 too large, 415 not JSON, 422 wrong
/// fields).
pub struct ApiJson<T>(pub T);

/// A body sent as plain `application/json` that parses is read in one pass of `serde_json`; anything
/// else (another content type, a body that does not parse) goes through `axum::Json`, which gives the
/// rejection, with the path of the field at fault. Only the cost differs: `axum::Json` tracks the path
/// of every value it reads, and parses the content type.
impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let plain = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes() == b"application/json");
        if !plain {
            return Ok(ApiJson(Json::<T>::from_request(req, state).await?.0));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(JsonRejection::from)?;
        match serde_json::from_slice(&bytes) {
            Ok(value) => Ok(ApiJson(value)),
            Err(_) => Ok(ApiJson(Json::<T>::from_bytes(&bytes)?.0)),
        }
    }
}

/// As `axum::Json` answers, written into a buffer the size of a turn's reply (its text and SSML) rather
/// than one grown from 128 bytes, copied at each doubling.
impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        use axum::http::{HeaderValue, header};
        let mut body = Vec::with_capacity(1024);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => JsonBody(body).into_response(),
            Err(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                )],
                e.to_string(),
            )
                .into_response(),
        }
    }
}

/// A JSON body already written (by [`crate::json`]'s writers), answered as [`ApiJson`] answers.
pub struct JsonBody(pub Vec<u8>);

impl IntoResponse for JsonBody {
    fn into_response(self) -> Response {
        use axum::http::{HeaderValue, header};
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.0,
        )
            .into_response()
    }
}
