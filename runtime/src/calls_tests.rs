//! Tests of the calls layer (beside it, not inside it, so that `calls` does not depend on
//! the test helpers that use it). The calls layer over a real SQLite store, with a fake invoker standing in for the
//! containers: admission rules, resuming a macro, and `mut` calls in one order.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::access::Caller;
use crate::calls::*;
use crate::error::ErrorKind;
use crate::ids::{InvocationId, Target};
use crate::testing::{new_object, request, world};
use serde_json::{json, Value};

#[tokio::test]
async fn admission_follows_access_target_and_parameters() {
    let w = world().await;
    let id = new_object(&w, 1).await;
    let on_object = w.calls.resolve(&Target::Object(id)).await.unwrap();
    let on_class = w.calls.resolve(&Target::Class("t.N".into())).await.unwrap();
    use Caller::{External, Internal};
    let table: &[(&Resolved, &str, Value, Caller, Option<ErrorKind>)] = &[
        (&on_object, "add", json!({"by": 1}), External, None),
        (
            &on_object,
            "add",
            json!({"by": "x"}),
            External,
            Some(ErrorKind::BadRequest),
        ),
        (
            &on_object,
            "add",
            json!({"step": 1}),
            External,
            Some(ErrorKind::BadRequest),
        ),
        (
            &on_object,
            "add",
            json!({}),
            External,
            Some(ErrorKind::BadRequest),
        ),
        (
            &on_object,
            "inner",
            json!({}),
            External,
            Some(ErrorKind::Forbidden),
        ),
        (&on_object, "inner", json!({}), Internal, None),
        (
            &on_object,
            "secret",
            json!({}),
            External,
            Some(ErrorKind::Forbidden),
        ),
        (&on_object, "secret", json!({}), Internal, None),
        (
            &on_object,
            "hidden_macro",
            json!({}),
            External,
            Some(ErrorKind::Forbidden),
        ),
        (&on_object, "hidden_macro", json!({}), Internal, None),
        (&on_object, "fan", json!({"n": 2}), External, None),
        (
            &on_object,
            "make",
            json!({}),
            External,
            Some(ErrorKind::BadRequest),
        ),
        (&on_class, "make", json!({}), External, None),
        (
            &on_class,
            "add",
            json!({"by": 1}),
            External,
            Some(ErrorKind::BadRequest),
        ),
        (
            &on_object,
            "nothing",
            json!({}),
            External,
            Some(ErrorKind::NotFound),
        ),
        (&on_class, "new", json!({"v": 1}), External, None),
        (
            &on_class,
            "new",
            json!({"hidden": 1}),
            External,
            Some(ErrorKind::Forbidden),
        ),
        (&on_class, "new", json!({"hidden": 1}), Internal, None),
    ];
    for (resolved, function, args, caller, expected) in table {
        let got = w
            .calls
            .check(resolved, function, args, *caller)
            .err()
            .map(|e| e.kind);
        assert_eq!(got, *expected, "{function}({args}) by {caller:?}");
    }
    assert!(
        w.invoker.sent.lock().unwrap().is_empty(),
        "checking runs nothing"
    );
}

#[tokio::test]
async fn a_macro_run_again_after_a_failure_reuses_what_it_committed() {
    let w = world().await;
    let id = new_object(&w, 10).await;
    *w.invoker.fail.lock().unwrap() = Some("sum");
    let inv = InvocationId::new();
    let fan = || request(Target::Object(id.clone()), "fan", json!({"n": 3}));
    let e = w.invocations.rerun(inv.clone(), fan()).await.unwrap_err();
    assert!(e.message.contains("`sum` is down"), "{}", e.message);
    let first: Vec<String> = w
        .invoker
        .sent
        .lock()
        .unwrap()
        .drain(..)
        .map(|(f, _)| f)
        .collect();
    assert_eq!(first.iter().filter(|f| *f == "add").count(), 3, "{first:?}");
    *w.invoker.fail.lock().unwrap() = None;
    let done = w.invocations.rerun(inv, fan()).await.unwrap();
    // Only the failed task ran again; range and the three adds were committed before.
    let second: Vec<String> = w
        .invoker
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|(f, _)| f.clone())
        .collect();
    assert_eq!(second, vec!["sum"]);
    assert_eq!(done.result["state"]["v"], 11 + 12 + 13);
}

#[tokio::test]
async fn mut_calls_on_one_object_lose_no_update() {
    let w = world().await;
    let id = new_object(&w, 0).await;
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let inv = w.invocations.clone();
        let req = request(Target::Object(id.clone()), "bump", json!({}));
        runs.spawn(async move { inv.invoke(req, false, None).await });
    }
    while let Some(r) = runs.join_next().await {
        r.unwrap().unwrap();
    }
    let obj = w.calls.objects.object(&id, None).await.unwrap();
    assert_eq!((obj.version, obj.state["v"].clone()), (21, json!(20)));
}

#[tokio::test]
async fn a_macro_sees_one_version_of_an_object_it_does_not_change() {
    let w = world().await;
    let id = new_object(&w, 1).await;
    *w.invoker.delay.lock().unwrap() = std::time::Duration::from_millis(300);
    let inv = w.invocations.clone();
    let req = request(Target::Object(id.clone()), "read_twice", json!({}));
    let run = tokio::spawn(async move { inv.rerun(InvocationId::new(), req).await });
    // While the first read is in its container, another caller changes the object (a
    // builtin: no container, so no delay).
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let patch = request(
        Target::Object(id.clone()),
        "update",
        json!({"patch": {"v": 5}}),
    );
    w.invocations
        .rerun(InvocationId::new(), patch)
        .await
        .unwrap();
    let both = run.await.unwrap().unwrap();
    assert_eq!(
        both.result,
        json!([1, 1]),
        "both nodes read the version the macro began on"
    );
    let now = w.calls.objects.object(&id, None).await.unwrap();
    assert_eq!(now.state["v"], json!(5));
}

#[tokio::test]
async fn a_macro_sees_its_own_change_of_an_object() {
    let w = world().await;
    let id = new_object(&w, 1).await;
    let req = request(Target::Object(id), "bump_then_read", json!({}));
    let got = w.invocations.rerun(InvocationId::new(), req).await.unwrap();
    assert_eq!(
        got.result,
        json!(2),
        "the read after `bump` reads the bumped version"
    );
}
