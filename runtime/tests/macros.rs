//! Macros executed as invocation graphs: a real runtime, real SQLite, real Python containers.
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use std::path::PathBuf;

mod common;
use common::{get, invoke, post};

fn fixture() -> PathBuf {
    common::fixture("flow")
}

async fn runtime(data: &std::path::Path) -> (oaas_runtime::Running, reqwest::Client) {
    common::start_fixture(data, "flow", "flow.oaas").await
}

async fn num(client: &reqwest::Client, base: &str, value: i64) -> String {
    let (status, body) = post(
        client,
        format!("{base}/api/classes/flow.Num/objects"),
        json!({"value": value}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["result"]["id"].as_str().unwrap().to_string()
}

fn values(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|o| o["state"]["value"].as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dataflow_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, client) = runtime(dir.path()).await;
    let base = rt.url();
    let id = num(&client, &base, 1).await;
    let call =
        |m: &str, args: Value| post(&client, format!("{base}/api/objects/{id}/invoke/{m}"), args);

    // Diamond: (1+1+10) + (1+1+100).
    let (status, body) = call("diamond", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["state"]["value"], 114);

    // Fan-out over 100 elements: sum of (1+i)+1 for i in 0..100.
    let (status, body) = call("fan", json!({"n": 100})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"]["state"]["value"],
        (0..100).map(|i| 1 + i + 1).sum::<i64>()
    );

    // Nested fan-out, flattened: for x in 1..=3, for y in x..x+2: y+1.
    let (status, body) = call("nested", json!({"n": 3, "m": 2})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(values(&body["result"]), vec![2, 3, 3, 4, 4, 5]);

    // A macro returning a list.
    let (status, body) = call("list", json!({"n": 4})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(values(&body["result"]), vec![11, 12, 13, 14]);

    // `mut` calls in source order, and the read after them sees all three.
    let (status, body) = call("ordered", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!(["a", "b", "c"]));
    let obj: Value = get(&client, format!("{base}/api/objects/{id}")).await;
    assert_eq!(obj["version"], 4);

    // A transient failure is retried to success.
    let (status, body) = call("retried", json!({"key": "k"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["state"]["value"], 2);

    // Per-node status is recorded on the invocation.
    let inv = body["invocation_id"].as_str().unwrap();
    let inv: Value = get(&client, format!("{base}/api/invocations/{inv}")).await;
    assert_eq!(inv["status"], "succeeded");
    assert_eq!(inv["nodes"]["n0"]["status"], "succeeded", "{inv}");
    rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failure_skips_dependents_and_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, client) = runtime(dir.path()).await;
    let base = rt.url();
    let id = num(&client, &base, 0).await;
    let (status, body) = invoke(
        &client,
        &base,
        &id,
        "fails_in_branch",
        json!({"n": 5, "bad": 3}),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    let failures = body["error"]["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{body}");
    let f = &failures[0];
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("value 3 is not allowed"),
        "{f}"
    );
    assert_eq!(f["label"], "x.check(bad)");
    // The failing call's place in the source.
    let line = std::fs::read_to_string(fixture().join("flow.oaas"))
        .unwrap()
        .lines()
        .position(|l| l.contains("x.check(bad: bad)"))
        .unwrap()
        + 1;
    assert_eq!(f["source"]["line"], line);
    assert_eq!(f["source"]["text"], "x.check(bad: bad)");
    assert_eq!(f["source"]["file"], "flow.oaas");
    // Siblings finished, the independent branch finished, the join was skipped.
    let nodes = body["error"]["nodes"].as_object().unwrap();
    let status_of = |k: &str| nodes[k]["status"].as_str().unwrap().to_string();
    let checks: Vec<String> = nodes
        .iter()
        .filter(|(k, v)| k.contains(".e") && v["label"] == "x.check(bad)")
        .map(|(_, v)| v["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        checks.iter().filter(|s| *s == "succeeded").count(),
        4,
        "{nodes:?}"
    );
    assert_eq!(checks.iter().filter(|s| *s == "failed").count(), 1);
    let other = nodes
        .iter()
        .find(|(_, v)| v["label"] == "self.add(by)")
        .unwrap()
        .0
        .clone();
    assert_eq!(status_of(&other), "succeeded");
    let join = nodes
        .iter()
        .find(|(_, v)| v["label"] == "Num.sum(parts)")
        .unwrap()
        .0
        .clone();
    assert_eq!(status_of(&join), "skipped");
    assert!(nodes[&join]["cause"].as_str().unwrap().contains("failed"));
    // What was made before the failure is listed, and every object listed exists.
    let partial = body["error"]["partial_outputs"].as_array().unwrap();
    let labels: Vec<&str> = partial
        .iter()
        .map(|p| p["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels.iter().filter(|l| **l == "x.check(bad)").count(), 4);
    assert!(labels.contains(&"self.range(n)") && labels.contains(&"self.add(by)"));
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.ends_with("6 calls made outputs before it, listed in `partial_outputs`"),
        "{message}"
    );
    for p in partial.iter().filter(|p| p["label"] == "x.check(bad)") {
        let made = p["output"].as_str().unwrap();
        let obj: Value = get(&client, format!("{base}/api/objects/{made}")).await;
        assert_eq!(obj["id"], made, "{obj}");
    }

    // A macro run in the background keeps the same list in its record.
    let url = format!("{base}/api/objects/{id}/invoke/fails_in_branch?async=true");
    let (status, started) = post(&client, url, json!({"n": 3, "bad": 0})).await;
    assert_eq!(status, 202, "{started}");
    let inv = started["invocation_id"].as_str().unwrap();
    let mut record = Value::Null;
    for _ in 0..300 {
        record = get(&client, format!("{base}/api/invocations/{inv}")).await;
        if record["status"] == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(record["status"], "failed", "{record}");
    let listed = record["error"]["partial_outputs"].as_array().unwrap();
    // The range, the two elements other than value 0, and `self.add(by: 5)`.
    assert_eq!(listed.len(), 4, "{record}");
    rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn completed_nodes_are_reused_when_a_macro_runs_again() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, client) = runtime(dir.path()).await;
    let base = rt.url();
    let id = num(&client, &base, 1).await;
    // Run the same invocation twice through the engine: same task ids, same outputs, once.
    let engine = rt.engine.clone();
    let request = || oaas_runtime::store::InvocationRequest {
        target: oaas_runtime::ids::Target::Object(id.as_str().into()),
        function: "fan".into(),
        args: json!({"n": 5}),
        fresh: false,
    };
    let inv = oaas_runtime::ids::InvocationId::from("01900000-0000-7000-8000-000000000001");
    let a = engine
        .invocations
        .rerun(inv.clone(), request())
        .await
        .unwrap();
    let b = engine.invocations.rerun(inv, request()).await.unwrap();
    assert_eq!(a.result["id"], b.result["id"]);
    let list: Value = get(
        &client,
        format!("{base}/api/classes/flow.Num/objects?limit=1000"),
    )
    .await;
    // 1 input + 5 from range + 5 from add + 1 sum.
    assert_eq!(list["items"].as_array().unwrap().len(), 12, "{list}");
    rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_synchronous_macro_leaves_a_pending_record() {
    // A synchronous macro's start record is written in the background; one that finishes
    // before that record is on disk must still leave `succeeded`, not `pending` (a pending
    // record would be run again after every restart). `same` changes nothing, so one that
    // ends before anything asks for its record leaves none at all (`404`), as a plain
    // synchronous call leaves none.
    let dir = tempfile::tempdir().unwrap();
    let (rt, client) = runtime(dir.path()).await;
    let base = rt.url();
    let id = num(&client, &base, 7).await;
    let calls = futures_util::future::join_all((0..200).map(|_| {
        let (client, base, id) = (client.clone(), base.clone(), id.clone());
        async move { invoke(&client, &base, &id, "same", json!({})).await }
    }))
    .await;
    let mut pending = Vec::new();
    for (status, body) in calls {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"]["state"]["value"], 7);
        let inv = body["invocation_id"].as_str().unwrap();
        let record: Value = get(&client, format!("{base}/api/invocations/{inv}")).await;
        let absent = record["error"]["code"] == "not_found";
        if !(record["status"] == "succeeded" || absent) {
            pending.push(record);
        }
    }
    assert!(
        pending.is_empty(),
        "{} neither succeeded nor absent, first: {}",
        pending.len(),
        pending[0]
    );
    rt.stop().await;
}
