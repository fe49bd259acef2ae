//! `parcours chat`: the terminal channel. A customer types, the bot answers. Reads stdin line by line, so a
//! script can pipe a whole conversation in. A blank line is not a message (a typed channel has no
//! silences), bytes that are not UTF-8 are replaced rather than ending the session, and the end of input
//! ends the conversation, as a customer closing the window would.

use crate::bot::Bot;
use crate::message::{Channel, Event, Inbound, Lang, Reply};
use std::io::IsTerminal;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Runs a conversation on stdin/stdout as `user` until end of input.
pub async fn run(bot: &Bot, user: &str, locale: Option<Lang>) -> anyhow::Result<()> {
    let interactive = std::io::stdin().is_terminal();
    let mut out = tokio::io::stdout();
    let mut lines = BufReader::new(tokio::io::stdin()).split(b'\n');
    if interactive {
        out.write_all(b"Talk to the bot; Ctrl-D to quit.\n> ")
            .await?;
        out.flush().await?;
    }
    while let Some(bytes) = lines.next_segment().await? {
        let line = String::from_utf8_lossy(&bytes);
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            if interactive {
                out.write_all(b"> ").await?;
                out.flush().await?;
            }
            continue;
        }
        if !interactive {
            out.write_all(format!("you: {line}\n").as_bytes()).await?;
        }
        let mut msg = Inbound::text(Channel::Chat, user, line);
        msg.locale = locale;
        let reply = bot.handle(msg).await?;
        let mut shown = shown(&reply);
        if interactive {
            shown.push_str("> ");
        }
        out.write_all(shown.as_bytes()).await?;
        out.flush().await?;
    }
    // The customer left: the conversation ends now, not at the next idle sweep.
    let mut end = Inbound::text(Channel::Chat, user, "");
    end.event = Event::End;
    end.locale = locale;
    let reply = bot.handle(end).await?;
    if !reply.text.is_empty() {
        out.write_all(shown(&reply).as_bytes()).await?;
        out.flush().await?;
    }
    bot.store().flush_now().await?;
    Ok(())
}

/// A reply as the terminal shows it: the text, the buttons, and whether the conversation ended.
fn shown(reply: &Reply) -> String {
    // While a person is awaited or has the conversation, the bot says nothing of its own: the
    // message went to the team.
    let mut shown = match (&reply.handoff, reply.text.is_empty()) {
        (Some(_), true) => {
            "     (no reply from the assistant: your message went to the team)\n".into()
        }
        _ => format!("bot: {}\n", reply.text),
    };
    if !reply.quick_replies.is_empty() {
        let buttons: Vec<String> = reply
            .quick_replies
            .iter()
            .map(|r| format!("[{r}]"))
            .collect();
        shown.push_str(&format!("     {}\n", buttons.join(" ")));
    }
    if reply.end {
        shown.push_str("     (conversation ended)\n");
    }
    shown
}
