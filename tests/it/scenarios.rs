//! The conversation files of `tests/conversations/` (issue 14), replayed as `parcours test` does.

use crate::helpers::TestBot;
use parcours::scenario;
use std::path::PathBuf;

fn dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(sub)
}

#[tokio::test]
async fn every_shipped_conversation_file_passes() {
    let t = TestBot::new();
    let report = scenario::run_dir(&t.bot, &dir("tests/conversations"), None)
        .await
        .expect("the conversation files load");
    assert!(report.passed >= 80, "{}", report.human(false));
    assert_eq!(report.failed, 0, "{}", report.human(false));
}

#[tokio::test]
async fn a_failing_expectation_is_reported_with_what_was_said_and_expected() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("wrong.toml"),
        r#"
description = "expects the wrong thing"
[[turns]]
say = "what time do you open on sunday"
reply = ["we never open"]
ends = true
"#,
    )
    .unwrap();
    let t = TestBot::new();
    let report = scenario::run_dir(&t.bot, tmp.path(), None).await.unwrap();
    assert_eq!((report.passed, report.failed), (0, 1));
    let text = report.human(false);
    assert!(text.contains("FAIL wrong.toml"), "{text}");
    assert!(
        text.contains("you: what time do you open on sunday"),
        "{text}"
    );
    assert!(
        text.contains("expected the reply to match /we never open/"),
        "{text}"
    );
    assert!(text.contains("expected the conversation to end"), "{text}");
}

#[tokio::test]
async fn a_bad_conversation_file_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("bad.toml"),
        "description = \"x\"\nturns = []\n",
    )
    .unwrap();
    let t = TestBot::new();
    let err = scenario::run_dir(&t.bot, tmp.path(), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bad.toml"), "{err}");
}
