//! The executor against a fake [`NodeCaller`]: ordering, failure propagation, fan-out caps,
//! and task ids that repeat across runs (what resuming relies on).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::ids::InvocationId;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const SOURCE: &str = r#"package t
class N {
  public state v: int = 0
  public fn add(by: int) -> N
  public fn range(n: int) -> [N]
  public static fn sum(parts: [N]) -> N
  public mut fn note(text: string)
  public fn read() -> int

  public macro diamond() -> N {
    let a = self.add(by: 1)
    let l = a.add(by: 10)
    let r = a.add(by: 100)
    return N.sum(parts: [l, r])
  }

  public macro fan(n: int) -> N {
    let xs = self.range(n: n)
    let ys = for x in xs { x.add(by: 1) }
    return N.sum(parts: ys)
  }

  public macro ordered() -> int {
    self.note(text: "a")
    self.note(text: "b")
    return self.read()
  }

  public fn fails() -> N
  public mut fn release(by: int)

  public macro decide(n: int) -> int {
    if n > 2 {
      self.note(text: "big")
      return n * 10
    } else {
      self.note(text: "small")
    }
    let r = self.read()
    return r + n
  }

  public macro caught(by: int) -> string {
    let x = try {
      self.fails()
    } catch e {
      for i in [1, 2] { self.release(by: i * by) }
      return "caught " + e.code + ": " + e.message + " at " + e.node
    }
    return "fine"
  }

  public macro evens() -> [N] {
    return for x in [1, 2, 3, 4] if x % 2 == 0 { self.add(by: x) }
  }

  public macro paced() -> int {
    self.note(text: "a")
    sleep(10m)
    self.note(text: "b")
    return self.read()
  }

  public macro approved() -> string {
    let answer = try {
      signal("late", timeout: 1h)
    } catch e {
      return "timed out: " + e.code
    }
    return "answered"
  }

  public macro tolerant(n: int) -> [N] {
    let xs = self.range(n: n)
    let done = for x in xs tolerate 1 { x.add(by: 1) }
    for f in done.failed { self.note(text: f.node + ": " + f.message) }
    return done.ok
  }

  public macro written(n: int, x: float) -> string {
    let r = self.read()
    return "read {r}, {n * 2} and {x / 2.0}, {n > 1}, \{n\} \"{"q"}\""
  }

  public macro noted_then_fails() -> N {
    self.note(text: "first")
    return self.fails()
  }

  public macro share(n: int) -> int {
    let xs = self.range(n: n)
    let done = for x in xs tolerate 25% { x.add(by: 1) }
    return len(done.failed) * 100 + len(done.ok)
  }

  public macro split(n: int) -> N {
    let xs = self.range(n: n)
    let ys = for x in xs { x.add(by: 1) }
    let other = self.add(by: 5)
    return N.sum(parts: ys)
  }
}
"#;

/// A fake runtime: each call is logged; `add` on an object whose id ends with `fail_on`
/// fails; calls return new ids named after their task; a call takes a moment so that
/// concurrency shows.
#[derive(Default)]
struct Fake {
    fail_on: Option<&'static str>,
    log: Mutex<Vec<(String, TaskId, Value)>>,
    running: AtomicUsize,
    peak: AtomicUsize,
}

impl NodeCaller for Arc<Fake> {
    fn call(
        &self,
        target: Target,
        function: String,
        args: Value,
        task: TaskId,
    ) -> BoxFuture<'static, Result<Value>> {
        let fake = self.clone();
        Box::pin(async move {
            let now = fake.running.fetch_add(1, Ordering::SeqCst) + 1;
            fake.peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            fake.running.fetch_sub(1, Ordering::SeqCst);
            fake.log
                .lock()
                .unwrap()
                .push((function.clone(), task.clone(), args.clone()));
            let on = match &target {
                Target::Object(id) => id.to_string(),
                Target::Class(c) => c.clone(),
            };
            match function.as_str() {
                "add" if fake.fail_on.is_some_and(|s| on.ends_with(s)) => {
                    Err(Error::function_failed(format!("`add` failed on {on}")))
                }
                "range" => {
                    let n = args["n"].as_u64().unwrap();
                    Ok(Value::Array(
                        (0..n).map(|i| Value::from(format!("{task}#{i}"))).collect(),
                    ))
                }
                "read" => Ok(Value::from(42)),
                "fails" => Err(Error::function_failed("card declined")),
                "note" | "release" => Ok(Value::Null),
                _ => Ok(Value::from(format!("{task}#0"))),
            }
        })
    }

    fn field(&self, _id: ObjectId, _name: String) -> BoxFuture<'static, Result<Value>> {
        Box::pin(async { Ok(Value::Null) })
    }

    /// A sleep is over at once; the signal `late` times out; others come with `true`.
    fn wait(&self, wait: Wait, task: TaskId) -> BoxFuture<'static, Result<Value>> {
        let fake = self.clone();
        Box::pin(async move {
            let name = wait.signal.clone().unwrap_or_else(|| "sleep".into());
            fake.log
                .lock()
                .unwrap()
                .push((format!("wait {name}"), task, json!(wait.ms)));
            match wait.signal.as_deref() {
                Some("late") => Err(Error::timeout("no signal `late` came within 1h")),
                Some(_) => Ok(Value::Bool(true)),
                None => Ok(Value::Null),
            }
        })
    }
}

fn macro_named(name: &str) -> (Arc<Artifact>, MacroRef) {
    let mut ws = oaas_compiler::Workspace::new();
    ws.add_file("t.oaas", SOURCE);
    let build = ws.build();
    assert!(!build.has_errors(), "{:?}", build.diagnostics);
    let artifact = build.artifact.unwrap();
    let m = artifact
        .class("t.N")
        .unwrap()
        .macro_named(name)
        .unwrap()
        .clone();
    (Arc::new(artifact), Arc::new(Arc::new(m)))
}

fn run(fake: &Arc<Fake>, name: &str, args: Value, self_id: &str) -> MacroRun {
    let (artifact, macro_) = macro_named(name);
    let inv = InvocationId::from("inv");
    MacroRun {
        calls: Arc::new(fake.clone()),
        artifact,
        macro_,
        self_id: Some(ObjectId::from(self_id)),
        args: args.as_object().cloned().unwrap_or_default(),
        scope: TaskScope::of(&inv, &inv.root_task()),
        progress: Arc::new(Progress::default()),
    }
}

fn position(
    log: &[(String, TaskId, Value)],
    pred: impl Fn(&(String, TaskId, Value)) -> bool,
) -> usize {
    log.iter().position(pred).expect("the call was made")
}

#[tokio::test]
async fn nodes_run_after_their_inputs_and_feed_them_forward() {
    let fake = Arc::new(Fake::default());
    let out = run(&fake, "diamond", json!({}), "o1").run().await.unwrap();
    let log = fake.log.lock().unwrap().clone();
    assert_eq!(log.len(), 4);
    let first = position(&log, |(f, _, a)| f == "add" && a["by"] == 1);
    let left = position(&log, |(f, _, a)| f == "add" && a["by"] == 10);
    let right = position(&log, |(f, _, a)| f == "add" && a["by"] == 100);
    let sum = position(&log, |(f, _, _)| f == "sum");
    assert!(
        first < left && first < right && left < sum && right < sum,
        "{log:?}"
    );
    // The join got the outputs of both branches, and its output is the macro's result.
    let parts = log[sum].2["parts"].as_array().unwrap().clone();
    assert_eq!(
        parts,
        vec![
            Value::from(format!("{}#0", log[left].1)),
            Value::from(format!("{}#0", log[right].1))
        ]
    );
    assert_eq!(out, Value::from(format!("{}#0", log[sum].1)));
}

#[tokio::test]
async fn ordering_edges_keep_source_order_without_data() {
    let fake = Arc::new(Fake::default());
    let out = run(&fake, "ordered", json!({}), "o1").run().await.unwrap();
    let log = fake.log.lock().unwrap().clone();
    let order: Vec<String> = log
        .iter()
        .map(|(f, _, a)| format!("{f}{}", a.get("text").and_then(Value::as_str).unwrap_or("")))
        .collect();
    assert_eq!(order, vec!["notea", "noteb", "read"]);
    assert_eq!(out, 42);
}

#[tokio::test]
async fn a_failure_skips_its_dependents_and_lets_independent_nodes_finish() {
    let fake = Arc::new(Fake {
        fail_on: Some("#1"),
        ..Fake::default()
    });
    let r = run(&fake, "split", json!({"n": 3}), "o1");
    let progress = r.progress.clone();
    let e = r.run().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::FunctionFailed);
    let failures = failures_of(&e).unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let f = &failures[0];
    assert_eq!(f.message, "`add` failed on inv.n0#1");
    assert_eq!(f.label.as_deref(), Some("x.add(by)"));
    assert!(
        f.task_id.as_ref().unwrap().as_str().ends_with(".e1"),
        "{f:?}"
    );
    assert!(f.source.as_ref().unwrap().line > 0);
    let log = fake.log.lock().unwrap().clone();
    // The two good elements and the independent `other` ran; the join did not.
    assert_eq!(
        log.iter().filter(|(f, _, _)| f == "add").count(),
        4,
        "{log:?}"
    );
    assert!(log.iter().all(|(f, _, _)| f != "sum"));
    let nodes = progress.snapshot();
    let statuses: Vec<NodeStatus> = nodes.values().map(|n| n.status).collect();
    assert!(statuses.contains(&NodeStatus::Skipped), "{nodes:?}");
    assert!(statuses.contains(&NodeStatus::Failed), "{nodes:?}");
    assert!(nodes
        .values()
        .filter(|n| n.status == NodeStatus::Skipped)
        .all(|n| n.cause.as_deref().is_some_and(|c| c.contains("failed"))));
    // What the calls made before the failure is listed, not orphaned: the range, the two
    // good elements and `other`.
    assert!(
        e.message
            .ends_with("; 4 calls made outputs before it, listed in `partial_outputs`"),
        "{}",
        e.message
    );
    let partial = partial_outputs_of(&e);
    let listed: Vec<(&str, &str, Value)> = partial
        .iter()
        .map(|p| (p.node.as_str(), p.label.as_str(), p.output.clone().unwrap()))
        .collect();
    assert_eq!(
        listed,
        vec![
            (
                "n0",
                "self.range(n)",
                json!(["inv.n0#0", "inv.n0#1", "inv.n0#2"])
            ),
            ("n1.e0", "x.add(by)", json!("inv.n1.e0#0")),
            ("n1.e2", "x.add(by)", json!("inv.n1.e2#0")),
            ("n3", "self.add(by)", json!("inv.n3#0")),
        ]
    );
    assert!(partial.iter().all(|p| !p.changed));
}

#[tokio::test]
async fn a_failed_macro_lists_the_mut_calls_it_made() {
    let fake = Arc::new(Fake::default());
    let e = run(&fake, "noted_then_fails", json!({}), "o1")
        .run()
        .await
        .unwrap_err();
    let partial = partial_outputs_of(&e);
    assert_eq!(partial.len(), 1, "{partial:?}");
    assert_eq!(partial[0].label, "self.note(text)");
    assert!(partial[0].changed && partial[0].output.is_none());
}

#[tokio::test]
async fn a_fan_out_runs_at_most_map_concurrency_elements_at_once() {
    let fake = Arc::new(Fake::default());
    let n = MAP_CONCURRENCY * 2 + 3;
    run(&fake, "fan", json!({"n": n}), "o1")
        .run()
        .await
        .unwrap();
    let log = fake.log.lock().unwrap().clone();
    assert_eq!(log.iter().filter(|(f, _, _)| f == "add").count(), n);
    let peak = fake.peak.load(Ordering::SeqCst);
    assert!(peak <= MAP_CONCURRENCY, "{peak} calls at once");
    assert!(peak > 1, "the elements ran one by one");
}

#[tokio::test]
async fn a_second_run_makes_the_same_tasks_so_committed_ones_can_be_reused() {
    let a = Arc::new(Fake::default());
    let b = Arc::new(Fake::default());
    run(&a, "fan", json!({"n": 4}), "o1").run().await.unwrap();
    run(&b, "fan", json!({"n": 4}), "o1").run().await.unwrap();
    let tasks = |f: &Arc<Fake>| {
        let mut t: Vec<String> = f
            .log
            .lock()
            .unwrap()
            .iter()
            .map(|(_, t, _)| t.to_string())
            .collect();
        t.sort();
        t
    };
    assert_eq!(tasks(&a), tasks(&b));
    assert!(
        tasks(&a).contains(&"inv.n1.e3".to_string()),
        "{:?}",
        tasks(&a)
    );
}

fn texts(fake: &Arc<Fake>) -> Vec<String> {
    fake.log
        .lock()
        .unwrap()
        .iter()
        .map(|(f, _, a)| format!("{f}{}", a.get("text").and_then(Value::as_str).unwrap_or("")))
        .collect()
}

#[tokio::test]
async fn a_branch_not_taken_is_skipped_and_a_return_in_a_branch_ends_the_macro() {
    let fake = Arc::new(Fake::default());
    let r = run(&fake, "decide", json!({"n": 5}), "o1");
    let progress = r.progress.clone();
    assert_eq!(r.run().await.unwrap(), 50);
    // Only the taken branch ran; the read after the `if` did not, as the branch returned.
    assert_eq!(texts(&fake), vec!["notebig"]);
    let nodes = progress.snapshot();
    let cause = |label: &str| {
        nodes
            .values()
            .find(|n| n.label == label)
            .map(|n| (n.status, n.cause.clone().unwrap_or_default()))
            .unwrap()
    };
    let (status, why) = cause("self.note(text)");
    // Two nodes share the label; whichever is found, the skipped one says why.
    let skipped: Vec<_> = nodes
        .values()
        .filter(|n| n.status == NodeStatus::Skipped)
        .map(|n| (n.label.clone(), n.cause.clone().unwrap_or_default()))
        .collect();
    assert!(
        skipped.contains(&("self.note(text)".into(), "skipped: branch not taken".into())),
        "{skipped:?} {status:?} {why}"
    );
    assert!(
        skipped
            .iter()
            .any(|(l, c)| l == "self.read()" && c.contains("returned")),
        "{skipped:?}"
    );
    assert!(nodes.values().all(|n| n.status != NodeStatus::Failed));

    let fake = Arc::new(Fake::default());
    assert_eq!(
        run(&fake, "decide", json!({"n": 1}), "o1")
            .run()
            .await
            .unwrap(),
        43
    );
    assert_eq!(texts(&fake), vec!["notesmall", "read"]);
}

#[tokio::test]
async fn a_catch_block_gets_the_error_and_compensates() {
    let fake = Arc::new(Fake::default());
    let out = run(&fake, "caught", json!({"by": 3}), "o1")
        .run()
        .await
        .unwrap();
    assert_eq!(out, "caught function_failed: card declined at self.fails()");
    let log = fake.log.lock().unwrap().clone();
    let mut released: Vec<i64> = log
        .iter()
        .filter(|(f, _, _)| f == "release")
        .map(|(_, _, a)| a["by"].as_i64().unwrap())
        .collect();
    released.sort();
    assert_eq!(released, vec![3, 6]);
}

#[tokio::test]
async fn a_for_filter_leaves_elements_out_and_keeps_task_ids() {
    let fake = Arc::new(Fake::default());
    let out = run(&fake, "evens", json!({}), "o1").run().await.unwrap();
    let log = fake.log.lock().unwrap().clone();
    let mut by: Vec<(i64, String)> = log
        .iter()
        .map(|(_, t, a)| (a["by"].as_i64().unwrap(), t.to_string()))
        .collect();
    by.sort();
    assert_eq!(by.len(), 2, "{by:?}");
    assert_eq!(by[0].0, 2);
    assert_eq!(by[1].0, 4);
    // The elements keep their index in the whole list: the second and the fourth.
    assert!(
        by[0].1.ends_with(".e1") && by[1].1.ends_with(".e3"),
        "{by:?}"
    );
    assert_eq!(out.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_sleep_runs_between_the_calls_around_it_with_its_length() {
    let fake = Arc::new(Fake::default());
    let out = run(&fake, "paced", json!({}), "o1").run().await.unwrap();
    let log = fake.log.lock().unwrap().clone();
    let order: Vec<String> = log
        .iter()
        .map(|(f, _, a)| format!("{f}{}", a.get("text").and_then(Value::as_str).unwrap_or("")))
        .collect();
    assert_eq!(order, vec!["notea", "wait sleep", "noteb", "read"]);
    let (_, task, ms) = &log[1];
    assert_eq!(ms, &json!(600_000));
    assert_eq!(task.as_str(), "inv.n1");
    assert_eq!(out, 42);
}

#[tokio::test]
async fn a_signal_timeout_is_caught_by_try_with_its_code() {
    let fake = Arc::new(Fake::default());
    let r = run(&fake, "approved", json!({}), "o1");
    let progress = r.progress.clone();
    let out = r.run().await.unwrap();
    assert_eq!(out, "timed out: function_timeout");
    let failed: Vec<String> = progress
        .snapshot()
        .values()
        .filter(|n| n.status == NodeStatus::Failed)
        .map(|n| n.label.clone())
        .collect();
    assert_eq!(failed, vec!["signal(\"late\", timeout: 1h)"]);
}

#[tokio::test]
async fn a_tolerant_for_gives_the_successes_and_a_report_of_the_failed_elements() {
    let fake = Arc::new(Fake {
        fail_on: Some("#1"),
        ..Fake::default()
    });
    let r = run(&fake, "tolerant", json!({"n": 3}), "o1");
    let progress = r.progress.clone();
    let out = r.run().await.unwrap();
    // Elements 0 and 2 succeeded, in order; element 1 is in the report, which the macro read.
    let ok: Vec<String> = out
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ok, vec!["inv.n1.e0#0", "inv.n1.e2#0"]);
    assert_eq!(
        texts(&fake)
            .iter()
            .filter(|t| t.starts_with("note"))
            .collect::<Vec<_>>(),
        vec!["notex.add(by): `add` failed on inv.n0#1"]
    );
    // The map node succeeded with both parts; the failed element's call is marked failed.
    let nodes = progress.snapshot();
    let map = nodes
        .values()
        .find(|n| n.label == "for x in xs tolerate 1")
        .unwrap();
    assert_eq!(map.status, NodeStatus::Succeeded);
    let failed = &map.output.as_ref().unwrap()["failed"];
    assert_eq!(
        failed,
        &json!([{"index": 1, "element": "inv.n0#1", "code": "function_failed",
                 "message": "`add` failed on inv.n0#1", "node": "x.add(by)"}])
    );
    assert!(nodes
        .values()
        .any(|n| n.label == "x.add(by)" && n.status == NodeStatus::Failed));
}

#[tokio::test]
async fn a_tolerant_for_fails_with_every_failure_past_its_count() {
    // Elements 1 and 11 of 12 fail: two, where one is tolerated.
    let fake = Arc::new(Fake {
        fail_on: Some("1"),
        ..Fake::default()
    });
    let e = run(&fake, "tolerant", json!({"n": 12}), "o1")
        .run()
        .await
        .unwrap_err();
    let failures = failures_of(&e).unwrap();
    let mut tasks: Vec<String> = failures
        .iter()
        .map(|f| f.task_id.as_ref().unwrap().to_string())
        .collect();
    tasks.sort();
    assert_eq!(tasks, vec!["inv.n1.e1", "inv.n1.e11"]);
    assert!(texts(&fake).iter().all(|t| !t.starts_with("note")));
}

#[tokio::test]
async fn a_share_is_counted_on_the_elements_run() {
    // 25% of 4 is 1: one failure passes.
    let fake = Arc::new(Fake {
        fail_on: Some("#1"),
        ..Fake::default()
    });
    let out = run(&fake, "share", json!({"n": 4}), "o1")
        .run()
        .await
        .unwrap();
    assert_eq!(out, 103);
    // 25% of 3 rounds down to 0: the same failure fails the macro.
    let fake = Arc::new(Fake {
        fail_on: Some("#1"),
        ..Fake::default()
    });
    let e = run(&fake, "share", json!({"n": 3}), "o1")
        .run()
        .await
        .unwrap_err();
    assert_eq!(failures_of(&e).unwrap().len(), 1);
}

#[tokio::test]
async fn an_interpolated_string_writes_its_values_out() {
    let fake = Arc::new(Fake::default());
    let r = run(&fake, "written", json!({"n": 3, "x": 1.5}), "o1");
    let progress = r.progress.clone();
    let out = r.run().await.unwrap();
    assert_eq!(out, r#"read 42, 6 and 0.75, true, {n} "q""#);
    // The string is a node of its own, with its value among the invocation's nodes.
    let nodes = progress.snapshot();
    assert!(
        nodes.values().any(|n| n.output.as_ref() == Some(&out)),
        "{nodes:?}"
    );
}
