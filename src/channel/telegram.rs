//! Telegram, through teloxide's Bot API client: long polling by default, or webhook updates on
//! `POST /webhook/telegram` (secret header checked) when `PARCOURS_PUBLIC_URL` is set.
//!
//! Each update becomes one [`Inbound`]: text and commands (/start, /help, /human, /link, /forget), inline
//! button presses (quick replies and the 0-10 rating), a shared contact (a verified phone number that links
//! this identity with the phone channel's), voice notes (transcribed by an OpenAI-compatible endpoint when
//! one is configured). Everything else (stickers, photos, edited messages, group chats, channel posts) gets
//! a short polite answer or is ignored on purpose; nothing crashes the loop (RasaHQ/rasa#5864).
//! Flood limits: a 429's `retry_after` is honoured; a failing setWebhook or setMyCommands is retried and
//! logged, never fatal (RasaHQ/rasa#4128).

use crate::bot::Bot;
use crate::message::{Channel, Delivery, Event, Inbound, Lang, Reply};
use crate::store::Identity;
use crate::time::Timestamp;
use std::sync::Arc;
use std::time::Duration;
use teloxide::net::Download;
use teloxide::prelude::{Request, Requester};
use teloxide::types::{
    BotCommand, ButtonRequest, CallbackQuery, ChatAction, ChatId, InlineKeyboardButton,
    InlineKeyboardMarkup, KeyboardButton, KeyboardMarkup, Message, ReplyMarkup, Update, UpdateKind,
};
use teloxide::{ApiError, RequestError};
use tokio::sync::watch;

/// Seconds a long poll waits for updates (below teloxide's HTTP timeout).
const POLL_SECONDS: u32 = 10;
/// How many times a Bot API call is tried before giving up (flood limits, network errors).
const ATTEMPTS: u32 = 5;
/// Callback data is at most 64 bytes in the Bot API.
const MAX_CALLBACK_BYTES: usize = 64;

/// Where voice notes are transcribed: an OpenAI-compatible `POST /v1/audio/transcriptions` (whisper.cpp's
/// server, faster-whisper-server, OpenAI).
#[derive(Clone)]
pub struct Transcriber {
    /// Base URL, e.g. `http://127.0.0.1:8000`.
    pub url: String,
    /// Bearer key, if the service needs one. Never logged.
    pub key: Option<String>,
    pub model: String,
}

/// The Telegram channel.
pub struct Telegram {
    api: teloxide::Bot,
    bot: Arc<Bot>,
    transcriber: Option<Transcriber>,
    http: reqwest::Client,
}

impl Telegram {
    /// The channel when `TELOXIDE_TOKEN` is set (and `TELOXIDE_API_URL` points to another Bot API server
    /// when set); transcription from `PARCOURS_TRANSCRIBE_URL`, `PARCOURS_TRANSCRIBE_KEY`,
    /// `PARCOURS_TRANSCRIBE_MODEL`.
    pub fn from_env(bot: Arc<Bot>) -> Option<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        var("TELOXIDE_TOKEN")?;
        let transcriber = var("PARCOURS_TRANSCRIBE_URL").map(|url| Transcriber {
            url: url.trim_end_matches('/').to_string(),
            key: var("PARCOURS_TRANSCRIBE_KEY"),
            model: var("PARCOURS_TRANSCRIBE_MODEL").unwrap_or_else(|| "whisper-1".into()),
        });
        Some(Telegram {
            api: teloxide::Bot::from_env(),
            bot,
            transcriber,
            http: reqwest::Client::new(),
        })
    }

    /// The channel on an explicit Bot API client (tests, tools).
    pub fn new(bot: Arc<Bot>, api: teloxide::Bot, transcriber: Option<Transcriber>) -> Self {
        Telegram {
            api,
            bot,
            transcriber,
            http: reqwest::Client::new(),
        }
    }

    /// Registers the commands, retrying in the background: a failure is logged, never fatal.
    pub fn register_commands(self: &Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move {
            let commands = vec![
                BotCommand::new("start", "What I can do for you"),
                BotCommand::new("help", "What I can do for you"),
                BotCommand::new("human", "Talk to a person"),
                BotCommand::new("link", "Link your other channels (phone, voice assistant)"),
                BotCommand::new("forget", "Erase what we hold about you"),
            ];
            if let Err(e) = with_retry("setMyCommands", || {
                me.api.set_my_commands(commands.clone()).send()
            })
            .await
            {
                tracing::warn!(error = %e, "could not register the Telegram commands");
            }
        });
    }

    /// Webhook mode: asks Telegram to post updates to `url` with `secret` in a header.
    pub async fn set_webhook(&self, url: &str, secret: &str) -> Result<(), RequestError> {
        let url = reqwest::Url::parse(url)
            .map_err(|e| RequestError::Io(std::io::Error::other(e.to_string()).into()))?;
        with_retry("setWebhook", || {
            use teloxide::payloads::SetWebhookSetters;
            self.api
                .set_webhook(url.clone())
                .secret_token(secret.to_string())
                .max_connections(1)
                .send()
        })
        .await
        .map(|_| ())
    }

    /// Long polling until `shutdown` says stop. Updates are handled one at a time, in order, so that two
    /// quick messages of one customer never race.
    pub async fn poll(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        if let Err(e) = with_retry("deleteWebhook", || self.api.delete_webhook().send()).await {
            tracing::warn!(error = %e, "could not remove a previous webhook");
        }
        let mut offset: i32 = 0;
        let mut backoff = Duration::from_secs(1);
        loop {
            use teloxide::payloads::GetUpdatesSetters;
            let request = self
                .api
                .get_updates()
                .offset(offset)
                .timeout(POLL_SECONDS)
                .send();
            let updates = tokio::select! {
                _ = shutdown.changed() => break,
                r = request => r,
            };
            match updates {
                Ok(updates) => {
                    backoff = Duration::from_secs(1);
                    for u in updates {
                        offset = offset.max(u.id.0 as i32 + 1);
                        self.handle_update(u).await;
                    }
                }
                Err(RequestError::RetryAfter(s)) => tokio::time::sleep(s.duration()).await,
                Err(e) => {
                    tracing::warn!(error = %e, "getUpdates failed; retrying");
                    tokio::select! {
                        _ = shutdown.changed() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
        tracing::info!("Telegram polling stopped");
    }

    /// One update, whatever it is. Errors are logged: one bad update never stops the channel.
    pub async fn handle_update(&self, update: Update) {
        // Telegram delivers an update again when a webhook answered it slowly: the store remembers
        // which were handled (a unique key, whichever replica got it), so the customer gets one reply.
        // A turn's update is recorded in the turn's own commit; any other, here.
        let delivery = Delivery::new("telegram", &update.id.0.to_string());
        let result = match update.kind {
            UpdateKind::Message(m) => self.on_message(m, delivery).await,
            UpdateKind::CallbackQuery(q) => self.on_callback(q, delivery).await,
            // Edits, channel posts, reactions, polls…: not a customer talking to us. Ignored on purpose.
            other => {
                tracing::debug!(kind = ?std::mem::discriminant(&other), "Telegram update ignored");
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "Telegram update failed");
        }
    }

    /// Whether an update that is not a turn is seen for the first time (remembering it).
    async fn first_time(&self, delivery: &Option<Delivery>) -> bool {
        let Some(d) = delivery else {
            return true;
        };
        match self.bot.store().first_delivery(d.source, &d.id).await {
            Ok(new) => new,
            Err(e) => {
                tracing::warn!(error = %e, "could not check whether a Telegram update is new; handling it");
                true
            }
        }
    }

    async fn on_message(
        &self,
        m: Message,
        delivery: Option<Delivery>,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        // Group chats are not customer conversations: the bot stays quiet there.
        if !m.chat.is_private() {
            return Ok(());
        }
        let Some(from) = m.from.as_ref() else {
            return Ok(());
        };
        let user = from.id.0.to_string();
        let locale = from.language_code.as_deref().and_then(Lang::from_locale);
        let lang = locale.unwrap_or_default();
        let chat = m.chat.id;
        let identity = Identity {
            channel: Channel::Telegram,
            id: user.clone(),
        };
        if let Some(text) = m.text() {
            let (command, rest) = split_command(text);
            let event = match command.as_deref() {
                Some("start") => Event::Start,
                Some("help") => Event::Help,
                Some("human") => Event::Handoff,
                Some("forget") if rest.eq_ignore_ascii_case("confirm") => {
                    if !self.first_time(&delivery).await {
                        return Ok(());
                    }
                    self.bot.forget(&identity).await?;
                    return self
                        .send_text(chat, &self.bot.messages(lang).forgotten)
                        .await;
                }
                Some("forget") => {
                    if !self.first_time(&delivery).await {
                        return Ok(());
                    }
                    return self
                        .send_text(chat, &self.bot.messages(lang).forget_info)
                        .await;
                }
                _ => Event::Message,
            };
            let text = if event == Event::Message {
                text.to_string()
            } else {
                String::new()
            };
            return self
                .converse(chat, &user, event, text, locale, delivery)
                .await;
        }
        if m.voice().is_none() || self.transcriber.is_none() {
            // Not a turn: remembered here.
            if !self.first_time(&delivery).await {
                return Ok(());
            }
        }
        if let Some(contact) = m.contact() {
            let own = contact.user_id == Some(from.id);
            if !own {
                return self
                    .send_text(chat, &self.bot.messages(lang).contact_not_own)
                    .await;
            }
            self.bot
                .link_verified_phone(&identity, &contact.phone_number, Timestamp::now())
                .await?;
            return self
                .send_text(chat, &self.bot.messages(lang).phone_linked)
                .await;
        }
        if let Some(voice) = m.voice() {
            let Some(t) = &self.transcriber else {
                return self
                    .send_text(chat, &self.bot.messages(lang).voice_unsupported)
                    .await;
            };
            self.typing(chat);
            let file = with_retry("getFile", || {
                self.api.get_file(voice.file.id.clone()).send()
            })
            .await?;
            let mut audio: Vec<u8> = Vec::new();
            self.api.download_file(&file.path, &mut audio).await?;
            let text = transcribe(&self.http, t, audio).await?;
            return self
                .converse(chat, &user, Event::Message, text, locale, delivery)
                .await;
        }
        // Stickers, photos, locations, documents…
        self.send_text(chat, &self.bot.messages(lang).unsupported)
            .await
    }

    /// A button press: acknowledged at once, then handled as if the customer had typed its label.
    async fn on_callback(
        &self,
        q: CallbackQuery,
        delivery: Option<Delivery>,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let _ = with_retry("answerCallbackQuery", || {
            self.api.answer_callback_query(q.id.clone()).send()
        })
        .await;
        let Some(message) = q.regular_message() else {
            return Ok(());
        };
        if !message.chat.is_private() {
            return Ok(());
        }
        let Some(data) = q.data.clone() else {
            return Ok(());
        };
        let locale = q.from.language_code.as_deref().and_then(Lang::from_locale);
        self.converse(
            message.chat.id,
            &q.from.id.0.to_string(),
            Event::Message,
            data,
            locale,
            delivery,
        )
        .await
    }

    /// The turn through the bot, and the reply back.
    async fn converse(
        &self,
        chat: ChatId,
        user: &str,
        event: Event,
        text: String,
        locale: Option<Lang>,
        delivery: Option<Delivery>,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.typing(chat);
        let reply = self
            .bot
            .handle(Inbound {
                event,
                channel: Channel::Telegram,
                user: user.to_string(),
                session: None,
                text,
                asr_confidence: None,
                locale,
                at: Timestamp::now(),
                delivery,
            })
            .await?;
        if reply.replayed {
            tracing::debug!("Telegram update already handled");
            return Ok(());
        }
        let mut text = reply.text.clone();
        let mut markup = keyboard(&reply);
        if event == Event::Start {
            let m = self.bot.messages(reply.lang);
            text = format!("{text}\n\n{}", m.welcome);
            markup = markup.or_else(|| Some(share_phone_keyboard(&m.share_phone)));
        }
        self.send(chat, &text, markup).await
    }

    fn typing(&self, chat: ChatId) {
        let api = self.api.clone();
        tokio::spawn(async move {
            let _ = api.send_chat_action(chat, ChatAction::Typing).send().await;
        });
    }

    async fn send_text(
        &self,
        chat: ChatId,
        text: &str,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.send(chat, text, None).await
    }

    async fn send(
        &self,
        chat: ChatId,
        text: &str,
        markup: Option<ReplyMarkup>,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if text.is_empty() {
            return Ok(());
        }
        with_retry("sendMessage", || {
            use teloxide::payloads::SendMessageSetters;
            let req = self.api.send_message(chat, text.to_string());
            match markup.clone() {
                Some(m) => req.reply_markup(m).send(),
                None => req.send(),
            }
        })
        .await?;
        Ok(())
    }
}

/// Staff replies and queue news go straight to the customer's chat (the user id is the private chat's
/// id), with the buttons offered while waiting.
impl crate::handoff::Outlet for Telegram {
    fn deliver<'a>(
        &'a self,
        user: &'a str,
        text: &'a str,
        buttons: &'a [String],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let chat = ChatId(
                user.parse::<i64>()
                    .map_err(|_| format!("{user:?} is not a chat id"))?,
            );
            let markup = (!buttons.is_empty()).then(|| {
                let row: Vec<InlineKeyboardButton> = buttons
                    .iter()
                    .map(|b| InlineKeyboardButton::callback(b.clone(), b.clone()))
                    .collect();
                ReplyMarkup::InlineKeyboard(InlineKeyboardMarkup::new(vec![row]))
            });
            self.send(chat, text, markup)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn typing<'a>(
        &'a self,
        user: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            if let Ok(id) = user.parse::<i64>() {
                Telegram::typing(self, ChatId(id));
            }
        })
    }
}

/// The channel as a teloxide handler tree, for teloxide's dispatcher and `teloxide_tests`: every update goes to
/// [`Telegram::handle_update`] with the Bot API client the dispatcher gives and the [`Bot`] among the
/// dependencies. It builds the channel per update, so it does not remember update ids: the dispatcher
/// confirms its offsets itself, and `serve` uses [`Telegram::poll`] or the webhook, which do.
pub fn handler_tree()
-> teloxide::dispatching::UpdateHandler<Box<dyn std::error::Error + Send + Sync + 'static>> {
    teloxide::dptree::entry().endpoint(
        |api: teloxide::Bot, update: Update, bot: Arc<Bot>| async move {
            Telegram::new(bot, api, None).handle_update(update).await;
            Ok(())
        },
    )
}

/// The header Telegram sends with webhook updates.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// `POST /webhook/telegram`: checks the secret header, then handles the update.
pub async fn webhook(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<crate::http::AppState>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<axum::http::StatusCode, crate::http::error::ApiError> {
    use crate::http::error::ApiError;
    let Some((telegram, secret)) = &state.telegram else {
        return Err(ApiError::not_found(
            "the Telegram channel is not in webhook mode",
        ));
    };
    let given = headers
        .get(SECRET_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !crate::http::constant_time_eq(given.as_bytes(), secret.as_bytes()) {
        return Err(ApiError {
            status: axum::http::StatusCode::FORBIDDEN,
            message: "invalid secret token".into(),
        });
    }
    let update: Update = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("not a Telegram update: {e}")))?;
    telegram.handle_update(update).await;
    Ok(axum::http::StatusCode::OK)
}

/// The secret of the webhook header, derived from the bot token (HMAC-SHA256): every replica serving
/// the same bot sets and expects the same one, so whichever replica called `setWebhook` last, the
/// others accept Telegram's calls too. Knowing it needs the token.
pub fn webhook_secret(token: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(b"parcours telegram webhook secret");
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `/start@my_bot args` → (`start`, `args`).
fn split_command(text: &str) -> (Option<String>, &str) {
    let t = text.trim();
    let Some(rest) = t.strip_prefix('/') else {
        return (None, t);
    };
    let (head, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let name = head.split('@').next().unwrap_or("").to_ascii_lowercase();
    (Some(name), args.trim())
}

/// Inline buttons for the reply's quick replies: one row for a few, rows of six for the 0-10 rating.
fn keyboard(reply: &Reply) -> Option<ReplyMarkup> {
    if reply.quick_replies.is_empty() {
        return None;
    }
    let buttons: Vec<InlineKeyboardButton> = reply
        .quick_replies
        .iter()
        .map(|r| {
            let mut data = r.clone();
            while data.len() > MAX_CALLBACK_BYTES {
                data.pop();
            }
            InlineKeyboardButton::callback(r.clone(), data)
        })
        .collect();
    let rows: Vec<Vec<InlineKeyboardButton>> = buttons.chunks(6).map(<[_]>::to_vec).collect();
    Some(ReplyMarkup::InlineKeyboard(InlineKeyboardMarkup::new(rows)))
}

/// A one-time keyboard with the button that shares the customer's own phone number.
fn share_phone_keyboard(label: &str) -> ReplyMarkup {
    let button = KeyboardButton::new(label).request(ButtonRequest::Contact);
    ReplyMarkup::Keyboard(
        KeyboardMarkup::new(vec![vec![button]])
            .one_time_keyboard()
            .resize_keyboard(),
    )
}

/// Calls the Bot API, waiting out flood limits (`retry_after`) and retrying network errors.
async fn with_retry<T, F, Fut>(what: &str, mut call: F) -> Result<T, RequestError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, RequestError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call().await {
            Ok(v) => return Ok(v),
            Err(RequestError::RetryAfter(s)) if attempt < ATTEMPTS => {
                tracing::warn!(
                    method = what,
                    seconds = s.seconds(),
                    "Telegram flood limit; waiting"
                );
                tokio::time::sleep(s.duration()).await;
            }
            Err(RequestError::Network(e)) if attempt < ATTEMPTS => {
                tracing::warn!(method = what, error = %e, "Telegram network error; retrying");
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            }
            Err(RequestError::Api(ApiError::Unknown(e)))
                if attempt < ATTEMPTS && e.contains("Too Many") =>
            {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sends the audio to the transcription endpoint and returns the text.
async fn transcribe(
    http: &reqwest::Client,
    t: &Transcriber,
    audio: Vec<u8>,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    #[derive(serde::Deserialize)]
    struct Transcript {
        text: String,
    }
    let file = reqwest::multipart::Part::bytes(audio)
        .file_name("voice.ogg")
        .mime_str("audio/ogg")?;
    let form = reqwest::multipart::Form::new()
        .text("model", t.model.clone())
        .part("file", file);
    let mut req = http
        .post(format!("{}/v1/audio/transcriptions", t.url))
        .multipart(form);
    if let Some(key) = &t.key {
        req = req.bearer_auth(key);
    }
    let res = req
        .timeout(Duration::from_secs(60))
        .send()
        .await?
        .error_for_status()?;
    Ok(res.json::<Transcript>().await?.text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_replica_of_one_bot_derives_the_same_webhook_secret() {
        let a = webhook_secret("123:ABC");
        assert_eq!(a, webhook_secret("123:ABC"));
        assert_ne!(a, webhook_secret("123:ABD"));
        assert_eq!(a.len(), 64);
        assert!(
            a.bytes().all(|b| b.is_ascii_hexdigit()),
            "Telegram allows A-Z, a-z, 0-9, _ and -"
        );
    }

    #[test]
    fn commands_are_split_from_the_bot_name_and_arguments() {
        assert_eq!(split_command("/start"), (Some("start".into()), ""));
        assert_eq!(
            split_command("/forget@parcours_bot confirm"),
            (Some("forget".into()), "confirm")
        );
        assert_eq!(
            split_command("where is my order"),
            (None, "where is my order")
        );
    }
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn a_voice_note_update_parses() {
        let u: Update = serde_json::from_str(
            r#"{"update_id": 3, "message": {"message_id": 3, "date": 1700000000,
                "chat": {"id": 1001, "type": "private", "first_name": "Alice"},
                "from": {"id": 1001, "is_bot": false, "first_name": "Alice"},
                "voice": {"file_id": "v1", "file_unique_id": "vu1", "duration": 2, "mime_type": "audio/ogg", "file_size": 1000}}}"#,
        )
        .unwrap();
        let UpdateKind::Message(m) = u.kind else {
            panic!("not a message")
        };
        assert!(m.voice().is_some(), "{m:?}");
    }
}
