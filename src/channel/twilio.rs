//! Phone calls through Twilio: each `<Gather input="speech">` callback is one turn, answered with TwiML.
//!
//! The caller's number (`From`) is their identity and the call (`CallSid`) the conversation. The first
//! request of a call (no speech yet) gets the greeting; an empty result is a silence (reprompt, then a polite
//! goodbye); keypad digits (`Digits`) stand for speech wherever a number is asked. When `TWILIO_AUTH_TOKEN`
//! is set, `X-Twilio-Signature` is checked (HMAC-SHA1 of the URL and the sorted form fields, base64).

use super::ssml;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::message::{Channel, Event, Inbound, Reply};
use crate::time::Timestamp;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac};

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
    fn parse(fields: &[(String, String)]) -> Result<Self, ApiError> {
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
            from: super::caller_identity(&from, &call_sid),
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

/// `POST /webhook/twilio`.
pub async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    // A body over the limit is a JSON 413 here too, not axum's plain-text one.
    let body = body.map_err(|e| ApiError {
        status: e.status(),
        message: e.body_text(),
    })?;
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|e| ApiError::bad_request(format!("expected a form-encoded body: {e}")))?;
    if let Some(token) = &state.twilio_auth_token {
        let signature = headers
            .get("x-twilio-signature")
            .and_then(|s| s.to_str().ok())
            .unwrap_or("");
        if !signature_is_valid(
            token,
            &signed_url(&state, &headers, &uri),
            &fields,
            signature,
        ) {
            return Err(ApiError {
                status: StatusCode::FORBIDDEN,
                message: "invalid X-Twilio-Signature".into(),
            });
        }
    }
    let cb = Callback::parse(&fields)?;
    let open = state
        .bot
        .store()
        .open_touchpoint(Channel::Twilio, &cb.from)
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
    let reply = state
        .bot
        .handle(Inbound {
            event,
            channel: Channel::Twilio,
            user: cb.from,
            session: Some(cb.call_sid),
            text,
            // Keypad digits are exact.
            asr_confidence: if cb.digits.is_some() {
                None
            } else {
                cb.confidence
            },
            locale,
            at: Timestamp::now(),
        })
        .await;
    let body = match reply {
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
    Ok(([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response())
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
