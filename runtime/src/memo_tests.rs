//! Tests of `@memo` functions over a real SQLite store, with the fake invoker counting the
//! tasks that reach a container: what reuses a recorded result and what misses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::ids::{ObjectId, Target};
use crate::invocations::{CallResult, Outcome};
use crate::store::InvocationRequest;
use crate::testing::{new_object, request, world, world_in, World, SOURCE};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Tasks of `function` the containers were sent so far.
fn sent(w: &World, function: &str) -> usize {
    let sent = w.invoker.sent.lock().unwrap();
    sent.iter().filter(|(f, _)| f == function).count()
}

async fn call(w: &World, request: InvocationRequest) -> CallResult {
    match w.invocations.invoke(request, false, None).await.unwrap() {
        Outcome::Done(r) => r,
        Outcome::Accepted { .. } => panic!("a synchronous call was accepted"),
    }
}

async fn scaled(w: &World, id: &ObjectId, by: i64) -> CallResult {
    let on = Target::Object(id.clone());
    call(w, request(on, "scaled", json!({"by": by}))).await
}

fn id_of(r: &CallResult) -> &str {
    r.result["id"].as_str().unwrap()
}

#[tokio::test]
async fn a_second_call_on_the_same_inputs_answers_with_the_first_output_and_no_container() {
    let w = world().await;
    let x = new_object(&w, 3).await;
    let first = scaled(&w, &x, 2).await;
    let second = scaled(&w, &x, 2).await;
    assert_eq!(sent(&w, "scaled"), 1, "the second call reached a container");
    assert_eq!(id_of(&first), id_of(&second), "another output object");
    assert_eq!(second.result["state"]["v"], json!(5));
    assert_ne!(first.invocation_id, second.invocation_id);
}

#[tokio::test]
async fn other_arguments_another_object_version_or_another_input_version_miss() {
    let w = world().await;
    let x = new_object(&w, 3).await;
    let y = new_object(&w, 4).await;
    scaled(&w, &x, 2).await;
    scaled(&w, &x, 3).await;
    assert_eq!(sent(&w, "scaled"), 2, "other arguments reused a result");
    scaled(&w, &y, 2).await;
    assert_eq!(sent(&w, "scaled"), 3, "another object reused a result");
    call(&w, request(Target::Object(x.clone()), "bump", json!({}))).await;
    let bumped = scaled(&w, &x, 2).await;
    assert_eq!(
        sent(&w, "scaled"),
        4,
        "a new version of the object reused a result"
    );
    assert_eq!(bumped.result["state"]["v"], json!(6));

    let total = |parts: Vec<&ObjectId>| {
        let parts: Vec<Value> = parts.iter().map(|p| json!(p.as_str())).collect();
        request(
            Target::Class("t.N".into()),
            "total",
            json!({ "parts": parts }),
        )
    };
    call(&w, total(vec![&x, &y])).await;
    call(&w, total(vec![&x, &y])).await;
    assert_eq!(sent(&w, "total"), 1, "the same inputs ran twice");
    call(&w, request(Target::Object(y.clone()), "bump", json!({}))).await;
    let after = call(&w, total(vec![&x, &y])).await;
    assert_eq!(
        sent(&w, "total"),
        2,
        "a new version of an input reused a result"
    );
    assert_eq!(after.result["state"]["v"], json!(4 + 5));
}

#[tokio::test]
async fn a_new_package_version_misses() {
    let w = world().await;
    let x = new_object(&w, 1).await;
    let parts = json!({ "parts": [x.as_str()] });
    call(
        &w,
        request(Target::Class("t.N".into()), "total", parts.clone()),
    )
    .await;
    let mut ws = oaas_compiler::Workspace::new();
    ws.add_file(
        "t.oaas",
        SOURCE.replace("class N {", "class N {\n  public state w: int = 0"),
    );
    let build = ws.build();
    assert!(!build.has_errors(), "{:?}", build.diagnostics);
    w.calls
        .objects
        .deploy(build.artifact.unwrap(), None)
        .await
        .unwrap();
    call(&w, request(Target::Class("t.N".into()), "total", parts)).await;
    assert_eq!(
        sent(&w, "total"),
        2,
        "a new package version reused a result"
    );
}

#[tokio::test]
async fn a_failed_call_is_not_recorded_and_a_fresh_call_runs_again() {
    let w = world().await;
    let x = new_object(&w, 1).await;
    *w.invoker.fail.lock().unwrap() = Some("scaled");
    let on = Target::Object(x.clone());
    let failed = w
        .invocations
        .invoke(request(on.clone(), "scaled", json!({"by": 1})), false, None)
        .await;
    assert!(failed.is_err());
    *w.invoker.fail.lock().unwrap() = None;
    let first = scaled(&w, &x, 1).await;
    assert_eq!(
        sent(&w, "scaled"),
        2,
        "the failure answered for the next call"
    );
    let fresh = InvocationRequest {
        fresh: true,
        ..request(on, "scaled", json!({"by": 1}))
    };
    let again = call(&w, fresh).await;
    assert_eq!(
        sent(&w, "scaled"),
        3,
        "a fresh call did not reach the container"
    );
    assert_ne!(id_of(&first), id_of(&again));
    // The first recorded result stays the one later calls get.
    assert_eq!(id_of(&scaled(&w, &x, 1).await), id_of(&first));
    assert_eq!(sent(&w, "scaled"), 3);
}

#[tokio::test]
async fn identical_calls_at_once_run_one_container() {
    let w = Arc::new(world().await);
    let x = new_object(&w, 1).await;
    *w.invoker.delay.lock().unwrap() = Duration::from_millis(200);
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let (w, x) = (w.clone(), x.clone());
        calls.spawn(async move { id_of(&scaled(&w, &x, 7).await).to_string() });
    }
    let ids: Vec<String> = calls.join_all().await;
    assert_eq!(sent(&w, "scaled"), 1, "identical calls ran {ids:?}");
    assert!(ids.iter().all(|i| i == &ids[0]), "{ids:?}");
}

#[tokio::test]
async fn a_recorded_result_outlives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let keep = tempfile::tempdir().unwrap();
    let before = world_in(keep, &path, |s| s).await;
    let x = new_object(&before, 2).await;
    let first = scaled(&before, &x, 1).await;
    drop(before);
    let after = world_in(dir, &path, |s| s).await;
    let again = scaled(&after, &x, 1).await;
    assert_eq!(
        sent(&after, "scaled"),
        0,
        "the restarted runtime called the container"
    );
    assert_eq!(id_of(&first), id_of(&again));
}

#[tokio::test]
async fn a_macro_run_again_reuses_its_nodes_and_reruns_only_what_a_change_reaches() {
    let w = world().await;
    let x = new_object(&w, 1).await;
    let y = new_object(&w, 10).await;
    let pair = || {
        request(
            Target::Object(x.clone()),
            "pair",
            json!({ "other": y.as_str() }),
        )
    };
    let first = call(&w, pair()).await;
    let id = first.invocation_id.clone();
    assert_eq!(first.result["state"]["v"], json!(2 + 11));
    let calls_before = w.invoker.sent.lock().unwrap().len();
    let again = call(&w, pair()).await;
    let again_id = again.invocation_id.clone();
    assert_eq!(
        w.invoker.sent.lock().unwrap().len(),
        calls_before,
        "a rerun on unchanged inputs reached a container"
    );
    assert_eq!(id_of(&first), id_of(&again));
    let record = w.invocations.get(&again_id).await.unwrap();
    let reused: Vec<bool> = record.nodes.values().map(|n| n.reused).collect();
    assert_eq!(reused, vec![true, true, true], "{:?}", record.nodes);
    let first_record = w.invocations.get(&id).await.unwrap();
    assert!(first_record.nodes.values().all(|n| !n.reused));

    // A new version of `other`: its own call and the total run again, `self`'s does not.
    call(&w, request(Target::Object(y.clone()), "bump", json!({}))).await;
    let changed = call(&w, pair()).await;
    let id = changed.invocation_id.clone();
    assert_eq!(changed.result["state"]["v"], json!(2 + 12));
    assert_eq!((sent(&w, "scaled"), sent(&w, "total")), (3, 2));
    let record = w.invocations.get(&id).await.unwrap();
    let reused: Vec<(&str, bool)> = record
        .nodes
        .values()
        .map(|n| (n.label.as_str(), n.reused))
        .collect();
    assert_eq!(
        reused,
        vec![
            ("self.scaled(by)", true),
            ("other.scaled(by)", false),
            ("N.total(parts)", false)
        ]
    );
}
