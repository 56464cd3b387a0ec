//! What the layers' unit tests share: a package, a fake invoker standing in for the
//! containers, and the layers built over a real SQLite store in a temporary folder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::blobs::Blobs;
use crate::calls::Calls;
use crate::error::{Error, Result};
use crate::ids::{InvocationId, ObjectId, Target, TaskId};
use crate::invocations::Invocations;
use crate::invoker::protocol::{OutputReply, TaskRequest, TaskResponse};
use crate::invoker::{Attempt, FunctionRef, Invoker};
use crate::objects::Objects;
use crate::store::sqlite::SqliteStore;
use crate::store::{InvocationRequest, Store};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The package of the tests.
pub const SOURCE: &str = r#"package t
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
  public fn scaled(by: int) -> N @memo
  public fn parts(n: int) -> [N] @memo
  public static fn total(parts: [N]) -> N @memo
  public fn read_v() -> int

  public macro pair(other: N) -> N {
    let a = self.scaled(by: 1)
    let b = other.scaled(by: 1)
    return N.total(parts: [a, b])
  }

  public macro fan(n: int) -> N {
    let xs = self.range(n: n)
    let ys = for x in xs { x.add(by: 1) }
    return N.sum(parts: ys)
  }

  internal macro hidden_macro() -> int {
    return self.inner()
  }

  public macro renew() -> N {
    self.update(patch: { "v": 5 })
    return self
  }

  public macro approval() -> N {
    self.bump()
    let by = signal("go", type: int, timeout: 1h)
    return self.add(by: by)
  }

  public macro impatient() -> string {
    let by = try {
      signal("go", type: int, timeout: 300ms)
    } catch e {
      return "timed out: " + e.code + ": " + e.message
    }
    return "got " + by
  }

  public macro nap() -> N {
    self.bump()
    sleep(1500ms)
    self.bump()
    return self
  }

  public macro peek2() -> int {
    let a = self.inner()
    let b = self.inner()
    return a + b
  }

  public macro read_twice() -> [int] {
    let a = self.read_v()
    let b = self.read_v() after a
    return [a, b]
  }

  public macro bump_then_read() -> int {
    self.bump()
    return self.read_v()
  }

  public macro bump3() -> N {
    self.bump()
    self.bump()
    self.bump()
    return self
  }
}
"#;

/// Answers tasks as the function's declaration asks, failing `fail` while it is set, and
/// logs every task it is sent.
#[derive(Default)]
pub struct FakeInvoker {
    /// The function that fails while set.
    pub fail: Mutex<Option<&'static str>>,
    /// Every task sent: function and task id.
    pub sent: Mutex<Vec<(String, TaskId)>>,
    /// How long each answer takes.
    pub delay: Mutex<Duration>,
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
        let delay = *self.delay.lock().unwrap();
        tokio::time::sleep(delay).await;
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
            "add" | "scaled" => TaskResponse {
                output: Some(out(v + request.args["by"].as_i64().unwrap())),
                ..Default::default()
            },
            "range" | "parts" => TaskResponse {
                outputs: Some(
                    (0..request.args["n"].as_i64().unwrap())
                        .map(|i| out(v + i))
                        .collect(),
                ),
                ..Default::default()
            },
            "sum" | "total" => {
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
            "read_v" => TaskResponse {
                value: Some(json!(v)),
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

/// The layers over a store in a temporary folder, with the package deployed.
pub struct World {
    /// The data folder, removed when the world is dropped.
    pub _dir: tempfile::TempDir,
    /// The fake containers.
    pub invoker: Arc<FakeInvoker>,
    /// The calls layer.
    pub calls: Arc<Calls>,
    /// The invocations layer.
    pub invocations: Arc<Invocations>,
}

/// A new world.
pub async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    world_in(dir, &path, |s| s).await
}

/// The layers over the store in `path` (kept alive by `dir`), with the store wrapped by
/// `wrap` and the package deployed.
pub async fn world_in(
    dir: tempfile::TempDir,
    path: &std::path::Path,
    wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store>,
) -> World {
    let store = wrap(Arc::new(SqliteStore::open(&path.join("oaas.db")).unwrap()));
    world_over(dir, store, crate::invocations::DEFAULT_LEASE).await
}

/// The layers over `store`, with blobs in `dir`, the package deployed, and invocations
/// held for `lease` at a time.
pub async fn world_over(dir: tempfile::TempDir, store: Arc<dyn Store>, lease: Duration) -> World {
    let path = dir.path().to_path_buf();
    let blobs = Arc::new(Blobs::new(
        path.join("blobs"),
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
    let invocations = Arc::new(Invocations::new(calls.clone(), store, lease));
    World {
        _dir: dir,
        invoker,
        calls,
        invocations,
    }
}

/// A request.
pub fn request(target: Target, function: &str, args: Value) -> InvocationRequest {
    InvocationRequest {
        target,
        function: function.into(),
        args,
        fresh: false,
    }
}

/// A new `t.N` object with `v`.
pub async fn new_object(w: &World, v: i64) -> ObjectId {
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
