//! `oaasc invocations get` against a real `oaasc serve`: plain and with `--json`, as every
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
