//! `GET /api/invocations/{id}/events` over real HTTP: node changes in order with ids, a
//! reconnect with `Last-Event-ID` resumes after what was seen, a failed node and `done`, the
//! token rules, and an invocation run by another replica on one PostgreSQL database.
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};

mod common;
use common::{get, post};

/// One event as received.
#[derive(Clone, Debug)]
struct Received {
    id: u64,
    kind: String,
    data: Value,
}

/// Reads events from an open stream until `stop` says so or the stream ends.
async fn read_events(
    mut r: reqwest::Response,
    mut stop: impl FnMut(&[Received]) -> bool,
) -> Vec<Received> {
    let mut got = Vec::new();
    let mut buf = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while !stop(&got) {
        let chunk = tokio::time::timeout_at(deadline, r.chunk())
            .await
            .expect("the stream went silent for 60 s");
        let Some(chunk) = chunk.unwrap() else { break };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(cut) = buf.find("\n\n") {
            let block: String = buf.drain(..cut + 2).collect();
            let (mut id, mut kind, mut data) = (None, String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().parse().unwrap());
                } else if let Some(v) = line.strip_prefix("event:") {
                    kind = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if let Some(id) = id {
                let data = serde_json::from_str(&data).unwrap();
                got.push(Received { id, kind, data });
            }
        }
    }
    got
}

async fn open(client: &reqwest::Client, url: &str, last: Option<u64>) -> reqwest::Response {
    let mut req = client.get(url);
    if let Some(last) = last {
        req = req.header("Last-Event-ID", last.to_string());
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200);
    let kind = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.starts_with("text/event-stream"), "{kind}");
    r
}

async fn num(client: &reqwest::Client, base: &str, value: i64) -> String {
    let url = format!("{base}/api/classes/flow.Num/objects");
    let (status, body) = post(client, url, json!({ "value": value })).await;
    assert_eq!(status, 201, "{body}");
    body["result"]["id"].as_str().unwrap().to_string()
}

async fn start_async(
    client: &reqwest::Client,
    base: &str,
    id: &str,
    m: &str,
    args: Value,
) -> String {
    let url = format!("{base}/api/objects/{id}/invoke/{m}?async=true");
    let (status, body) = post(client, url, args).await;
    assert_eq!(status, 202, "{body}");
    body["invocation_id"].as_str().unwrap().to_string()
}

fn assert_increasing(events: &[Received]) {
    for pair in events.windows(2) {
        assert!(pair[0].id < pair[1].id, "ids out of order: {events:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_come_in_order_and_a_reconnect_resumes_after_the_last_seen() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, client) = common::start_fixture(dir.path(), "flow", "flow.oaas").await;
    let base = rt.url();
    let id = num(&client, &base, 1).await;
    let inv = start_async(&client, &base, &id, "slow_chain", json!({"ms": 400})).await;
    let url = format!("{base}/api/invocations/{inv}/events");

    // The first connection reads until a node has succeeded, then goes away.
    let first = read_events(open(&client, &url, None).await, |got| {
        got.iter().any(|e| e.data["status"] == "succeeded")
    })
    .await;
    assert!(!first.is_empty());
    assert_increasing(&first);
    assert!(first.iter().all(|e| e.kind == "node"), "{first:?}");
    let last = first.last().unwrap().id;

    // The second resumes after it and reads to the end.
    let second = read_events(open(&client, &url, Some(last)).await, |_| false).await;
    assert!(second.iter().all(|e| e.id > last), "{second:?}");
    let all: Vec<Received> = first.iter().chain(&second).cloned().collect();
    assert_increasing(&all);
    let done = second.last().unwrap();
    assert_eq!(done.kind, "done", "{second:?}");
    assert_eq!(done.data["status"], "succeeded");
    assert!(done.data["result"]["id"].is_string(), "{done:?}");

    // What the events said last of each node is the record's final word.
    let record: Value = get(&client, format!("{base}/api/invocations/{inv}")).await;
    let nodes = record["nodes"].as_object().unwrap();
    assert_eq!(nodes.len(), 3, "{record}");
    for (key, node) in nodes {
        let said = all.iter().rev().find(|e| e.data["key"] == *key).unwrap();
        assert_eq!(said.data["status"], node["status"], "{key}");
        assert_eq!(said.id, node["seq"].as_u64().unwrap(), "{key}");
        let (start, end) = (
            node["started_at"].as_i64().unwrap(),
            node["finished_at"].as_i64().unwrap(),
        );
        assert!(start <= end, "{node}");
    }
    // The nodes of a chain finish in order: each one's change comes after the one before.
    let finished: Vec<&str> = all
        .iter()
        .filter(|e| e.data["status"] == "succeeded" && e.kind == "node")
        .map(|e| e.data["key"].as_str().unwrap())
        .collect();
    assert_eq!(finished, ["n0", "n1", "n2"], "{all:?}");

    // A fresh stream of a finished invocation replays every node, then `done`; one that
    // resumes after `done` ends with nothing.
    let replay = read_events(open(&client, &url, None).await, |_| false).await;
    assert_eq!(replay.len(), 4, "{replay:?}");
    assert_eq!(replay.last().unwrap().id, done.id);
    let after = read_events(open(&client, &url, Some(done.id)).await, |_| false).await;
    assert!(after.is_empty(), "{after:?}");
    rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_node_carries_its_error_and_the_stream_ends_failed() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, client) = common::start_fixture(dir.path(), "flow", "flow.oaas").await;
    let base = rt.url();
    let id = num(&client, &base, 0).await;
    let inv = start_async(
        &client,
        &base,
        &id,
        "fails_in_branch",
        json!({"n": 4, "bad": 2}),
    )
    .await;
    let url = format!("{base}/api/invocations/{inv}/events");
    let events = read_events(open(&client, &url, None).await, |_| false).await;
    assert_increasing(&events);
    let done = events.last().unwrap();
    assert_eq!(
        (done.kind.as_str(), &done.data["status"]),
        ("done", &json!("failed"))
    );
    let failures = done.data["error"]["failures"].as_array().unwrap();
    assert_eq!(failures[0]["label"], "x.check(bad)");
    assert!(failures[0]["source"]["line"].as_u64().unwrap() > 1);
    // Only the element whose value is `bad` (the third) failed.
    let failed: Vec<&Received> = events
        .iter()
        .filter(|e| e.kind == "node" && e.data["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 2, "the element and its loop: {events:?}");
    let failed = failed
        .iter()
        .find(|e| e.data["key"].as_str().unwrap().ends_with(".e2"))
        .expect("the element that failed");
    assert!(failed.data["error"]
        .as_str()
        .unwrap()
        .contains("not allowed"));
    // The join after the loop is skipped, with why.
    let skipped = events
        .iter()
        .find(|e| e.data["status"] == "skipped")
        .expect("a skipped node");
    assert!(skipped.data["cause"].as_str().unwrap().contains("failed"));
    rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_need_a_token_and_a_known_invocation() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, client) = common::start_fixture(dir.path(), "flow", "flow.oaas").await;
    let base = rt.url();
    let id = num(&client, &base, 0).await;
    // Asynchronous, so recorded (a synchronous macro that changes nothing may leave none).
    let (status, body) = post(
        &client,
        format!("{base}/api/objects/{id}/invoke/same?async=true"),
        json!({}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let inv = body["invocation_id"].as_str().unwrap();
    let url = format!("{base}/api/invocations/{inv}/events");

    let anonymous = reqwest::Client::new().get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = common::authed(reqwest::Client::builder(), "not-a-token");
    assert_eq!(wrong.get(&url).send().await.unwrap().status(), 401);
    // A read token may follow.
    let (status, minted) = post(
        &client,
        format!("{base}/api/tokens"),
        json!({"role": "read"}),
    )
    .await;
    assert_eq!(status, 201, "{minted}");
    let reader = common::authed(
        reqwest::Client::builder(),
        minted["token"].as_str().unwrap(),
    );
    let events = read_events(open(&reader, &url, None).await, |_| false).await;
    assert_eq!(events.last().unwrap().data["status"], "succeeded");

    let missing = client
        .get(format!("{base}/api/invocations/no-such-thing/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let bad = client
        .get(&url)
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_streams_what_another_runs() {
    let Some(db) = oaas_runtime::store::postgres::ScratchDatabase::create()
        .await
        .unwrap()
    else {
        return;
    };
    let replica = |dir: std::path::PathBuf| {
        let url = db.url().to_string();
        async move {
            let source =
                std::fs::read_to_string(common::fixture("flow").join("flow.oaas")).unwrap();
            common::start_configured(
                &dir,
                &common::fixture("flow"),
                json!({ "flow.oaas": source }),
                move |c| {
                    c.store = oaas_runtime::StoreLocation::Postgres(url);
                    c.admin_token = Some("events-test-admin".into());
                },
            )
            .await
        }
    };
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, client) = replica(a_dir.path().to_path_buf()).await;
    let (b, _) = replica(b_dir.path().to_path_buf()).await;
    let id = num(&client, &a.url(), 1).await;
    let inv = start_async(&client, &a.url(), &id, "slow_chain", json!({"ms": 300})).await;
    // Followed through the replica that does not run it.
    let url = format!("{}/api/invocations/{inv}/events", b.url());
    let events = read_events(open(&client, &url, None).await, |_| false).await;
    assert_increasing(&events);
    let done = events.last().unwrap();
    assert_eq!(
        (done.kind.as_str(), &done.data["status"]),
        ("done", &json!("succeeded"))
    );
    let keys: Vec<&str> = events
        .iter()
        .filter(|e| e.data["status"] == "succeeded" && e.kind == "node")
        .map(|e| e.data["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["n0", "n1", "n2"], "{events:?}");
    a.stop().await;
    b.stop().await;
    db.drop_database().await.unwrap();
}
