//! The calls and invocations layers over a real SQLite store, with a fake invoker standing in
//! for the containers: admission rules, and a macro resumed after a failure reusing every
//! task it had committed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::blobs::Blobs;
use crate::error::ErrorKind;
use crate::invocations::Invocations;
use crate::invoker::protocol::{OutputReply, TaskRequest, TaskResponse};
use crate::invoker::{Attempt, FunctionRef};
use crate::store::sqlite::SqliteStore;
use crate::store::InvocationRequest;
use std::time::Duration;

const SOURCE: &str = r#"package t
class N {
  public state v: int = 0
  internal state hidden: int = 0
  public fn add(by: int) -> N
  public fn range(n: int) -> [N]
  public static fn sum(parts: [N]) -> N
  public mut fn bump()
  internal fn inner() -> int
  private fn secret() -> int
  public static fn make() -> N

  public macro fan(n: int) -> N {
    let xs = self.range(n: n)
    let ys = for x in xs { x.add(by: 1) }
    return N.sum(parts: ys)
  }

  internal macro hidden_macro() -> int {
    return self.inner()
  }
}
"#;

/// Answers tasks as the function's declaration asks, failing `fail` while it is set, and
/// logs every task it is sent.
#[derive(Default)]
struct FakeInvoker {
    fail: Mutex<Option<&'static str>>,
    sent: Mutex<Vec<(String, TaskId)>>,
}

#[async_trait::async_trait]
impl Invoker for FakeInvoker {
    async fn attempt(
        &self,
        f: &FunctionRef<'_>,
        request: &TaskRequest,
        _timeout: Duration,
    ) -> Result<TaskResponse, Attempt> {
        self.sent
            .lock()
            .unwrap()
            .push((request.function.clone(), request.task_id.clone()));
        if *self.fail.lock().unwrap() == Some(f.func.name.as_str()) {
            return Err(Attempt::Final(Error::function_failed(format!(
                "`{}` is down",
                f.func.name
            ))));
        }
        let v = request
            .self_
            .as_ref()
            .and_then(|s| s.object.state["v"].as_i64())
            .unwrap_or(0);
        let out = |v: i64| OutputReply {
            state: json!({"v": v}).as_object().cloned().unwrap(),
            ..Default::default()
        };
        Ok(match request.function.as_str() {
            "add" => TaskResponse {
                output: Some(out(v + request.args["by"].as_i64().unwrap())),
                ..Default::default()
            },
            "range" => TaskResponse {
                outputs: Some(
                    (0..request.args["n"].as_i64().unwrap())
                        .map(|i| out(v + i))
                        .collect(),
                ),
                ..Default::default()
            },
            "sum" => {
                let total = request
                    .objects
                    .values()
                    .map(|o| o["state"]["v"].as_i64().unwrap())
                    .sum();
                TaskResponse {
                    output: Some(out(total)),
                    ..Default::default()
                }
            }
            "bump" => TaskResponse {
                state: json!({"v": v + 1}).as_object().cloned(),
                ..Default::default()
            },
            "make" => TaskResponse {
                output: Some(out(0)),
                ..Default::default()
            },
            _ => TaskResponse {
                value: Some(json!(1)),
                ..Default::default()
            },
        })
    }
}

struct World {
    _dir: tempfile::TempDir,
    invoker: Arc<FakeInvoker>,
    calls: Arc<Calls>,
    invocations: Arc<Invocations>,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn crate::store::Store> =
        Arc::new(SqliteStore::open(&dir.path().join("oaas.db")).unwrap());
    let blobs = Arc::new(Blobs::new(
        dir.path().join("blobs"),
        b"secret".to_vec(),
        "http://127.0.0.1:1".into(),
    ));
    let objects = Arc::new(Objects::new(store.clone(), blobs));
    let mut ws = oaas_compiler::Workspace::new();
    ws.add_file("t.oaas", SOURCE);
    let build = ws.build();
    assert!(!build.has_errors(), "{:?}", build.diagnostics);
    objects.deploy(build.artifact.unwrap(), None).await.unwrap();
    let invoker = Arc::new(FakeInvoker::default());
    let calls = Arc::new(Calls::new(objects, invoker.clone()));
    let invocations = Arc::new(Invocations::new(calls.clone(), store));
    World {
        _dir: dir,
        invoker,
        calls,
        invocations,
    }
}

fn request(target: Target, function: &str, args: Value) -> InvocationRequest {
    InvocationRequest {
        target,
        function: function.into(),
        args,
    }
}

async fn new_object(w: &World, v: i64) -> ObjectId {
    let r = w
        .invocations
        .rerun(
            InvocationId::new(),
            request(Target::Class("t.N".into()), "new", json!({"v": v})),
        )
        .await
        .unwrap();
    ObjectId::from(r.result["id"].as_str().unwrap())
}

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
