//! Waiting macros end to end: a real `oaasc serve` runs a macro that waits for a signal,
//! sleeps, then waits for another; the server is killed with SIGKILL while the macro waits,
//! the first signal is sent with `oaasc signal` while no server runs (into its data folder,
//! on SQLite) or to the restarted server (PostgreSQL), and the macro completes after the
//! restart with both values.
#![allow(clippy::unwrap_used)]

mod common;

use common::{client, get, post, serve, TOKEN};
use serde_json::{json, Value};
use std::process::Output;
use std::time::{Duration, Instant};

const PACKAGE: &str = r#"package waiting

class Gate {
  public state base: int = 0

  public macro pass() -> int {
    let first = signal("first", type: int, timeout: 1h)
    sleep(1s)
    let second = signal("second", type: int, timeout: 1h)
    return self.base + first * 10 + second
  }
}
"#;

/// `oaasc signal ARGS...`, with the admin token.
fn oaasc_signal(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_oaasc"))
        .arg("signal")
        .args(args)
        .env("OAAS_TOKEN", TOKEN)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Polls the invocation until `done` holds of it (at most 60 s); the last answer.
async fn until(base: &str, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let (status, inv) = get(&client(), format!("{base}/api/invocations/{id}")).await;
        if status == 200 && done(&inv) {
            return inv;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{what}: {inv}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether the invocation's node waits for the signal `name` (its status `waiting`).
fn waiting_for(inv: &Value, name: &str) -> bool {
    let label = format!("signal(\"{name}\"");
    inv["nodes"].as_object().is_some_and(|nodes| {
        nodes.values().any(|n| {
            n["status"] == "waiting" && n["label"].as_str().is_some_and(|l| l.starts_with(&label))
        })
    })
}

async fn a_macro_waits_through_kill_9_for_its_signals(store: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (mut server, base) = serve(data, store);
    let c = client();
    let (status, r) = post(
        &c,
        format!("{base}/api/packages"),
        json!({"sources": {"waiting.oaas": PACKAGE}}),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    let (status, obj) = post(
        &c,
        format!("{base}/api/classes/waiting.Gate/objects"),
        json!({"base": 100}),
    )
    .await;
    assert_eq!(status, 201, "{obj}");
    let obj = obj["result"]["id"].as_str().unwrap().to_string();
    let (status, accepted) = post(
        &c,
        format!("{base}/api/objects/{obj}/invoke/pass?async=true"),
        json!({}),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["invocation_id"].as_str().unwrap().to_string();
    until(&base, &id, "the first wait did not start", |i| {
        waiting_for(i, "first")
    })
    .await;

    // SIGKILL while the macro waits.
    server.kill().unwrap();
    server.wait().unwrap();

    let base = if store.is_none() {
        // No server runs: the signal goes into the data folder, checked as the API checks it.
        let wrong = oaasc_signal(&[
            &id,
            "first",
            "--value",
            "\"four\"",
            "--data",
            data.to_str().unwrap(),
        ]);
        assert_eq!(wrong.status.code(), Some(1), "{}", stderr(&wrong));
        assert!(
            stderr(&wrong).contains("carries `int`"),
            "{}",
            stderr(&wrong)
        );
        let sent = oaasc_signal(&[
            &id,
            "first",
            "--value",
            "4",
            "--data",
            data.to_str().unwrap(),
        ]);
        assert!(sent.status.success(), "{}", stderr(&sent));
        let (restarted, base) = serve(data, store);
        server = restarted;
        base
    } else {
        let (restarted, base) = serve(data, store);
        server = restarted;
        let sent = oaasc_signal(&[&id, "first", "--value", "4", "--cluster", &base]);
        assert!(sent.status.success(), "{}", stderr(&sent));
        base
    };
    // The restarted server resumes the macro: it takes the first signal, sleeps, and waits
    // for the second.
    until(&base, &id, "the second wait did not start", |i| {
        waiting_for(i, "second")
    })
    .await;
    let sent = oaasc_signal(&[&id, "second", "--value", "2", "--cluster", &base]);
    assert!(sent.status.success(), "{}", stderr(&sent));
    let inv = until(&base, &id, "the macro did not finish", |i| {
        i["status"] != "pending"
    })
    .await;
    assert_eq!(inv["status"], "succeeded", "{inv}");
    assert_eq!(inv["result"], 142, "{inv}");
    // Finished, it takes no more signals.
    let late = oaasc_signal(&[&id, "second", "--value", "2", "--cluster", &base]);
    assert_eq!(late.status.code(), Some(1), "{}", stderr(&late));
    assert!(stderr(&late).contains("has finished"), "{}", stderr(&late));
    server.kill().unwrap();
    server.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite() {
    a_macro_waits_through_kill_9_for_its_signals(None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres() {
    let db = oaas_runtime::store::postgres::ScratchDatabase::create().await;
    let Some(db) = db.expect("PostgreSQL required") else {
        return;
    };
    a_macro_waits_through_kill_9_for_its_signals(Some(db.url())).await;
    db.drop_database().await.unwrap();
}
