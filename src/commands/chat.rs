//! `parcours chat`: the terminal channel. A customer types, the bot answers. Reads stdin line by line, so a
//! script can pipe a whole conversation in.

use crate::bot::Bot;
use crate::message::{Channel, Inbound, Lang};
use std::io::IsTerminal;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Runs a conversation on stdin/stdout as `user` until end of input.
pub async fn run(bot: &Bot, user: &str, locale: Option<Lang>) -> anyhow::Result<()> {
    let interactive = std::io::stdin().is_terminal();
    let mut out = tokio::io::stdout();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    if interactive {
        out.write_all(b"Talk to the bot; Ctrl-D to quit.\n> ")
            .await?;
        out.flush().await?;
    }
    while let Some(line) = lines.next_line().await? {
        if !interactive {
            out.write_all(format!("you: {line}\n").as_bytes()).await?;
        }
        let mut msg = Inbound::text(Channel::Chat, user, line);
        msg.locale = locale;
        let reply = bot.handle(msg).await?;
        let mut shown = format!("bot: {}\n", reply.text);
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
        if interactive {
            shown.push_str("> ");
        }
        out.write_all(shown.as_bytes()).await?;
        out.flush().await?;
    }
    bot.store().flush_now()?;
    Ok(())
}
