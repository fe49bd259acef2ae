//! The binary's commands, run as a user would.

use crate::helpers::{data_file, intents_dir};
use std::io::Write;
use std::process::{Command, Stdio};

fn parcours() -> Command {
    Command::new(env!("CARGO_BIN_EXE_parcours"))
}

#[test]
fn a_scripted_chat_gets_the_order_status_from_imported_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = parcours()
        .args(["customers", "import"])
        .arg(data_file("customers.json"))
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut child = parcours()
        .args(["chat", "--user", "alice", "--data-dir"])
        .arg(dir.path())
        .arg("--intents")
        .arg(intents_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hi\nwhere is my order?\nit's 4567\nbye\nyes\nnine\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Hello Alice"), "{stdout}");
    assert!(stdout.contains("Order 4567 is on its way"), "{stdout}");
    assert!(stdout.contains("did that solve your problem?"), "{stdout}");
    assert!(stdout.contains("(conversation ended)"), "{stdout}");

    let store = parcours::store::sled_store::SledStore::open(dir.path()).unwrap();
    let tps = store.touchpoints_of("cus_alice").unwrap();
    assert_eq!(tps[0].survey.get("rating").map(String::as_str), Some("9"));
    assert_eq!(tps[0].survey.get("solved").map(String::as_str), Some("yes"));
}

#[test]
fn a_csv_import_with_a_bad_order_says_which_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.csv");
    std::fs::write(&file, "id,name,orders\nc1,Ann,4567:shipped\nc2,Bob,999\n").unwrap();
    let out = parcours()
        .args(["customers", "import"])
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn a_broken_intents_folder_stops_start_up_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let intents = dir.path().join("intents");
    std::fs::create_dir(&intents).unwrap();
    for f in std::fs::read_dir(intents_dir()).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, intents.join(f.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        intents.join("greeting.toml"),
        "name = \"greeting\"\n[examples]\nen = [\"hi\"]\n[answers]\nen = [\"Hi {frist_name}\"]\n",
    )
    .unwrap();
    let out = parcours()
        .args(["chat", "--intents"])
        .arg(&intents)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("greeting.toml (intent greeting)") && err.contains("{frist_name}"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// Runs `parcours eval --json` and returns the JSON on its last line.
fn eval_json(test: &str) -> serde_json::Value {
    let out = parcours()
        .args(["eval", "--json", "--oos-label", "out_of_scope", "--intents"])
        .arg(intents_dir())
        .arg("--test")
        .arg(data_file(test))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

#[test]
fn eval_json_has_the_contract_keys_and_the_pack_meets_its_bar_in_both_languages() {
    for test in ["pack_en.csv", "pack_fr.csv"] {
        let r = eval_json(test);
        for key in [
            "accuracy",
            "macro_f1",
            "n",
            "fit_s",
            "ms_per_utterance",
            "in_scope_accuracy",
            "oos_recall",
        ] {
            assert!(r[key].is_number(), "{test}: {key} missing in {r}");
        }
        assert_eq!(
            r["train_overlap"], 0,
            "{test} shares sentences with the examples"
        );
        let ins = r["in_scope_accuracy"].as_f64().unwrap();
        let oos = r["oos_recall"].as_f64().unwrap();
        assert!(ins >= 0.90, "{test}: in-scope accuracy {ins}");
        assert!(oos >= 0.60, "{test}: out-of-scope recall {oos}");
    }
}
