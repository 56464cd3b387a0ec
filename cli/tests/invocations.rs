//! `oaasc invocations get` and `list` against a real `oaasc serve`: plain and with `--json`, as every
//! cluster command takes it (docs/running.md).
#![allow(clippy::unwrap_used)]

mod common;

use serde_json::{json, Value};
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_get_prints_the_record_with_or_without_json() {
    let data = tempfile::tempdir().unwrap();
    let (mut server, base) = common::serve(data.path(), None);
    let client = common::client();
    common::deploy_fixture(&client, &base).await;
    let (status, made) = common::post(
        &client,
        format!("{base}/api/classes/testpkg.Counter/objects"),
        json!({"label": "t"}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let id = made["result"]["id"].as_str().unwrap();
    let (status, started) = common::post(
        &client,
        format!("{base}/api/objects/{id}/invoke/get?async=true"),
        json!({}),
    )
    .await;
    assert_eq!(status, 202, "{started}");
    let inv = started["invocation_id"].as_str().unwrap().to_string();
    for json_flag in [true, false] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_oaasc"));
        cmd.args(["invocations", "get", &inv, "--cluster", &base])
            .args(["--token", common::TOKEN]);
        if json_flag {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "--json {json_flag}: {stderr}");
        let record: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(record["invocation_id"], inv.as_str(), "{record}");
        assert_eq!(record["request"]["function"], "get", "{record}");
    }
    server.kill().unwrap();
    server.wait().unwrap();
}

/// `oaasc invocations` with `args` against `base`: exit code, stdout, stderr.
fn oaasc(base: &str, args: &[&str]) -> (i32, String, String) {
    common::oaasc_at(base, &[&["invocations"], args].concat())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_list_shows_the_newest_first_filtered_and_paged() {
    let data = tempfile::tempdir().unwrap();
    let (mut server, base) = common::serve(data.path(), None);
    let client = common::client();
    common::deploy_fixture(&client, &base).await;
    let mut objects = Vec::new();
    for label in ["a", "b"] {
        let (status, made) = common::post(
            &client,
            format!("{base}/api/classes/testpkg.Counter/objects"),
            json!({"label": label}),
        )
        .await;
        assert_eq!(status, 201, "{made}");
        objects.push(made["result"]["id"].as_str().unwrap().to_string());
    }
    // Three recorded calls: asynchronous ones, each left to finish.
    let mut invocations = Vec::new();
    for (id, by) in [(&objects[0], 1), (&objects[1], 2), (&objects[0], 3)] {
        let (status, started) = common::post(
            &client,
            format!("{base}/api/objects/{id}/invoke/increment?async=true"),
            json!({"by": by}),
        )
        .await;
        assert_eq!(status, 202, "{started}");
        invocations.push(started["invocation_id"].as_str().unwrap().to_string());
    }
    for inv in &invocations {
        let finished = async {
            loop {
                let (_, record) =
                    common::get(&client, format!("{base}/api/invocations/{inv}")).await;
                if record["status"] != "pending" {
                    return record;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        };
        let record = tokio::time::timeout(std::time::Duration::from_secs(30), finished)
            .await
            .unwrap();
        assert_eq!(record["status"], "succeeded", "{record}");
    }
    // Everything, newest first, one line each: id, status, call, duration.
    let (code, stdout, stderr) = oaasc(&base, &["list"]);
    assert_eq!(code, 0, "{stderr}");
    let ids: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let newest_first: Vec<&str> = invocations.iter().rev().map(String::as_str).collect();
    assert_eq!(ids, newest_first, "{stdout}");
    let first = stdout.lines().next().unwrap();
    assert!(
        first.contains(&format!("{}:increment", objects[0])) && first.ends_with(" ms"),
        "{first}"
    );
    // On one object; a page of one, with the next page's `--before` told on stderr.
    let (code, stdout, stderr) = oaasc(&base, &["list", "--object", &objects[0], "--limit", "1"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with(&invocations[2]), "{stdout}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert_eq!(stderr.trim(), format!("more: --before {}", invocations[2]));
    let (code, stdout, _) = oaasc(
        &base,
        &["list", "--object", &objects[0], "--before", &invocations[2]],
    );
    assert_eq!(code, 0);
    assert!(stdout.starts_with(&invocations[0]), "{stdout}");
    // By status, and as the runtime's JSON page.
    let (code, stdout, _) = oaasc(&base, &["list", "--status", "failed"]);
    assert_eq!((code, stdout.trim()), (0, "no invocations"));
    let (code, stdout, stderr) = oaasc(&base, &["list", "--status", "succeeded", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let page: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 3, "{page}");
    assert_eq!(page["items"][0]["request"]["function"], "increment");
    // A page size the runtime refuses, a status it does not know, an id it does not have.
    let (code, _, stderr) = oaasc(&base, &["list", "--limit", "101"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("`limit` must be between 1 and 100"),
        "{stderr}"
    );
    let (code, _, stderr) = oaasc(&base, &["list", "--status", "lost"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = oaasc(&base, &["get", "no-such-invocation"]);
    assert_eq!(code, 2, "{stderr}");
    // So do the other cluster commands (docs/running.md, "Cluster commands").
    for args in [
        ["objects", "get", "no-such-object"],
        ["token", "revoke", "no-such-token"],
    ] {
        let (code, _, stderr) = common::oaasc_at(&base, &args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains("(404)"), "{args:?}: {stderr}");
    }
    server.kill().unwrap();
    server.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_wait_prints_the_result_the_error_or_that_time_is_up() {
    let data = tempfile::tempdir().unwrap();
    let (mut server, base) = common::serve(data.path(), None);
    let client = common::client();
    common::deploy_fixture(&client, &base).await;
    // A macro that waits for a signal: pending until it gets one, no container needed.
    let source = "package w\n\nclass W {\n  public macro gate() -> string {\n    let a = signal(\"go\", type: string, timeout: 1h)\n    return \"got \" + a\n  }\n}\n";
    let (status, r) = common::post(
        &client,
        format!("{base}/api/packages"),
        json!({"sources": {"w.oaas": source}}),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    let started = |path: String| {
        let client = client.clone();
        async move {
            let (status, made) = common::post(&client, path, json!({})).await;
            assert!(status == 201 || status == 202, "{made}");
            made
        }
    };
    let w = started(format!("{base}/api/classes/w.W/objects")).await;
    let w = w["result"]["id"].as_str().unwrap();
    let gate = started(format!("{base}/api/objects/{w}/invoke/gate?async=true")).await;
    let gate = gate["invocation_id"].as_str().unwrap();
    let (code, stdout, stderr) = oaasc(&base, &["wait", gate, "--timeout", "1"]);
    assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
    assert!(
        stderr.contains(&format!("`{gate}` is still pending after 1 s")),
        "{stderr}"
    );
    let (status, r) = common::post(
        &client,
        format!("{base}/api/invocations/{gate}/signals/go"),
        json!("yes"),
    )
    .await;
    assert!(status < 300, "{r}");
    let (code, stdout, stderr) = oaasc(&base, &["wait", gate, "--timeout", "30"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "\"got yes\"");
    let (code, stdout, _) = oaasc(&base, &["wait", gate, "--json"]);
    assert_eq!(code, 0);
    let record: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(record["status"], "succeeded", "{record}");
    // A failed call: its error, exit 1.
    let c = started(format!("{base}/api/classes/testpkg.Counter/objects")).await;
    let c = c["result"]["id"].as_str().unwrap();
    let broken = started(format!("{base}/api/objects/{c}/invoke/broken?async=true")).await;
    let broken = broken["invocation_id"].as_str().unwrap();
    let (code, stdout, stderr) = oaasc(&base, &["wait", broken]);
    assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
    assert!(
        stderr.contains("the frobnicator is out of order"),
        "{stderr}"
    );
    // No such invocation: the runtime's 404, exit 2.
    let (code, _, stderr) = oaasc(&base, &["wait", "no-such-invocation"]);
    assert_eq!(code, 2, "{stderr}");
    server.kill().unwrap();
    server.wait().unwrap();
}
