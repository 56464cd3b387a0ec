//! Durability: `oaasc serve` killed with SIGKILL in the middle of a stream of acknowledged
//! writes loses none of them after a restart. Each scenario runs on the SQLite store and on
//! a fresh PostgreSQL database (skipped loudly when no server is reachable; see
//! `ScratchDatabase`).
#![allow(clippy::unwrap_used)]

mod common;

use common::{client, counts, fixture, serve};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Deploys the fixture package `dir/file` to the server at `base` and creates one object of
/// `class` with `state`; returns the object's id.
async fn deploy_and_create(
    client: &reqwest::Client,
    base: &str,
    dir: &Path,
    file: &str,
    class: &str,
    state: Value,
) -> String {
    let source = std::fs::read_to_string(dir.join(file)).unwrap();
    let r = client
        .post(format!("{base}/api/packages"))
        .json(&json!({"sources": {file: source}, "workdir": dir}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = client
        .post(format!("{base}/api/classes/{class}/objects"))
        .json(&state)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["result"]["id"].as_str().unwrap().to_string()
}

async fn kill_9_loses_no_acknowledged_write(store: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) = serve(dir.path(), store);
    let client = client();
    let id = deploy_and_create(
        &client,
        &base,
        &fixture(),
        "testpkg.oaas",
        "testpkg.Counter",
        json!({}),
    )
    .await;

    // Four writers increment until the server dies; each remembers the counts acknowledged.
    let mut writers = Vec::new();
    for _ in 0..4 {
        let (client, url) = (
            client.clone(),
            format!("{base}/api/objects/{id}/invoke/increment"),
        );
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            loop {
                match client
                    .post(&url)
                    .json(&json!({"by": 1}))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => {
                        let v: Value = r.json().await.unwrap_or(Value::Null);
                        if let Some(n) = v["result"].as_i64() {
                            acked.push(n);
                        }
                    }
                    _ => return acked,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // SIGKILL: no chance to flush anything.
    server.kill().unwrap();
    server.wait().unwrap();
    let mut acked: Vec<i64> = Vec::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    assert!(
        acked.len() > 10,
        "too few writes acknowledged before the kill: {}",
        acked.len()
    );

    let (mut server, base) = serve(dir.path(), store);
    let counts = counts(&client, &base, &id).await;
    for n in &acked {
        assert!(
            counts.contains(n),
            "acknowledged count {n} is missing after restart (have up to {:?})",
            counts.last()
        );
    }
    // The store still works after the crash.
    let r: Value = client
        .post(format!("{base}/api/objects/{id}/invoke/increment"))
        .json(&json!({"by": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["result"].as_i64().unwrap(), *counts.last().unwrap() + 1);
    server.kill().unwrap();
    server.wait().unwrap();
}

fn flow_fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../runtime/tests/fixtures/flow")
}

async fn macros_resume_after_kill_9_and_outputs_exist_once(store: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) = serve(dir.path(), store);
    let client = client();
    let id = deploy_and_create(
        &client,
        &base,
        &flow_fixture(),
        "flow.oaas",
        "flow.Num",
        json!({"value": 0}),
    )
    .await;

    // 100 macros of three steps each, accepted asynchronously.
    let mut invocations = Vec::new();
    for _ in 0..100 {
        let r: Value = client
            .post(format!(
                "{base}/api/objects/{id}/invoke/slow_chain?async=true"
            ))
            .json(&json!({"ms": 150}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        invocations.push(r["invocation_id"].as_str().unwrap().to_string());
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.kill().unwrap();
    server.wait().unwrap();

    let (mut server, base) = serve(dir.path(), store);
    let started = Instant::now();
    for inv in &invocations {
        loop {
            let v: Value = client
                .get(format!("{base}/api/invocations/{inv}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            match v["status"].as_str() {
                Some("succeeded") => {
                    assert_eq!(v["result"]["state"]["value"], 3, "{v}");
                    break;
                }
                Some("failed") => panic!("invocation {inv} failed after the restart: {v}"),
                _ => {
                    assert!(
                        started.elapsed() < Duration::from_secs(120),
                        "invocation {inv} did not finish: {v}"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    // Every node's output object exists exactly once: the input, and three per macro.
    let list: Value = client
        .get(format!("{base}/api/classes/flow.Num/objects?limit=1000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1 + 3 * invocations.len()
    );
    server.kill().unwrap();
    server.wait().unwrap();
}

async fn synchronous_macros_cut_by_kill_9_finish_every_step_or_none(store: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) = serve(dir.path(), store);
    let client = client();
    let first = deploy_and_create(
        &client,
        &base,
        &flow_fixture(),
        "flow.oaas",
        "flow.Num",
        json!({"value": 0}),
    )
    .await;
    let mut ids = vec![first];
    for _ in 1..100 {
        let created: Value = client
            .post(format!("{base}/api/classes/flow.Num/objects"))
            .json(&json!({"value": 0}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(created["result"]["id"].as_str().unwrap().to_string());
    }
    // 100 synchronous macros of three slow `mut` steps, one per object; the server dies
    // while they run.
    let mut calls = Vec::new();
    for id in &ids {
        let (client, url) = (
            client.clone(),
            format!("{base}/api/objects/{id}/invoke/slow_notes"),
        );
        calls.push(tokio::spawn(async move {
            let _ = client
                .post(url)
                .json(&json!({"ms": 100}))
                .timeout(Duration::from_secs(20))
                .send()
                .await;
        }));
    }
    tokio::time::sleep(Duration::from_millis(350)).await;
    server.kill().unwrap();
    server.wait().unwrap();
    for c in calls {
        c.await.unwrap();
    }

    let (mut server, base) = serve(dir.path(), store);
    let started = Instant::now();
    let (mut finished, mut untouched) = (0, 0);
    for id in &ids {
        loop {
            let v: Value = client
                .get(format!("{base}/api/objects/{id}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let log = v["state"]["log"].clone();
            if log == json!(["a", "b", "c"]) {
                assert_eq!(v["version"], 4, "each step once: {v}");
                finished += 1;
                break;
            }
            if log == json!([]) && started.elapsed() > Duration::from_secs(5) {
                assert_eq!(v["version"], 1, "{v}");
                untouched += 1;
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "object {id} stayed half done: {v}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert!(
        finished > 0,
        "no macro had begun before the kill ({untouched} untouched)"
    );
    server.kill().unwrap();
    server.wait().unwrap();
}

/// Runs each scenario as two tests, `NAME::sqlite` and `NAME::postgres`.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$name(None).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                let db = oaas_runtime::store::postgres::ScratchDatabase::create().await;
                let Some(db) = db.expect("PostgreSQL required") else {
                    return;
                };
                super::$name(Some(db.url())).await;
                db.drop_database().await.unwrap();
            }
        }
    )* };
}

on_both_stores!(
    kill_9_loses_no_acknowledged_write,
    macros_resume_after_kill_9_and_outputs_exist_once,
    synchronous_macros_cut_by_kill_9_finish_every_step_or_none,
);
