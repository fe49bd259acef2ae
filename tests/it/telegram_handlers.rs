//! Handler tests with `teloxide_tests`: the Telegram channel's handler tree against its mocked Bot API.

use crate::helpers::TestBot;
use parcours::channel::telegram::handler_tree;
use teloxide::dptree::deps;
use teloxide_tests::{MockBot, MockCallbackQuery, MockMessageSticker, MockMessageText};

#[tokio::test]
async fn the_handlers_answer_text_buttons_and_stickers() {
    let t = TestBot::new().with_alice();
    let mut bot = MockBot::new(MockMessageText::new().text("/start"), handler_tree());
    bot.dependencies(deps![t.bot.clone()]);
    bot.dispatch().await;
    let sent = bot.get_responses().sent_messages;
    let text = sent
        .last()
        .and_then(|m| m.text())
        .unwrap_or_default()
        .to_string();
    assert!(
        text.starts_with("Hello") && text.contains("/human"),
        "{text}"
    );

    bot.update(MockMessageText::new().text("what are your opening hours on sunday?"));
    bot.dispatch().await;
    let text = bot
        .get_responses()
        .sent_messages
        .last()
        .and_then(|m| m.text())
        .unwrap_or_default()
        .to_string();
    assert!(text.to_lowercase().contains("sunday"), "{text}");

    bot.update(MockMessageSticker::new());
    bot.dispatch().await;
    let text = bot
        .get_responses()
        .sent_messages
        .last()
        .and_then(|m| m.text())
        .unwrap_or_default()
        .to_string();
    assert!(text.contains("only read text"), "{text}");

    bot.update(MockCallbackQuery::new().data("No"));
    bot.dispatch().await;
    let responses = bot.get_responses();
    assert!(
        !responses.answered_callback_queries.is_empty(),
        "the button press is acknowledged"
    );
}
