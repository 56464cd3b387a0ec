//! One contract for every `Store`: the same calls give the same answers on SQLite and on
//! PostgreSQL. The PostgreSQL runs use a fresh database on `$OAAS_TEST_POSTGRES` each and
//! skip loudly when no server is reachable (fail with `OAAS_REQUIRE_POSTGRES=1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use oaas_runtime::error::Error;
use oaas_runtime::ids::{InvocationId, MemoKey, Target, TaskId};
use oaas_runtime::store::postgres::{PostgresStore, ScratchDatabase};
use oaas_runtime::store::sqlite::SqliteStore;
use oaas_runtime::store::*;
use oaas_runtime::tokens::Role;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

fn version(id: &str, class: &str, n: u64, state: Value, deleted: bool) -> Arc<ObjectVersion> {
    let mut refs = BTreeMap::new();
    refs.insert("parent".to_string(), json!("p1"));
    refs.insert("kids".to_string(), json!(["k1", "k2"]));
    let mut files = BTreeMap::new();
    files.insert("video".to_string(), format!("{id}/{n}/video"));
    Arc::new(ObjectVersion {
        refs,
        files,
        deleted,
        task_id: Some(format!("task-{id}-{n}").as_str().into()),
        created_at: 1_700_000_000_000 + n as i64,
        ..ObjectVersion::new(id, class, "pkg1", n, state)
    })
}

async fn write(store: &dyn Store, v: Arc<ObjectVersion>) -> CommitOutcome {
    store
        .commit(Commit {
            versions: vec![v],
            ..Default::default()
        })
        .await
        .unwrap()
}

fn ids(list: &[ObjectVersion]) -> Vec<(String, u64)> {
    list.iter().map(|o| (o.id.to_string(), o.version)).collect()
}

/// Every method of the trait, on an empty store.
async fn store_contract(store: Arc<dyn Store>) {
    packages(&*store).await;
    objects_and_history(&*store).await;
    listing(&*store).await;
    tasks_and_conflicts(&*store).await;
    memos(&*store).await;
    idempotency(&*store).await;
    invocations(&*store).await;
    tokens(&*store).await;
    signals_and_waits(&*store).await;
}

async fn packages(store: &dyn Store) {
    assert!(store.packages().await.unwrap().is_empty());
    let p = |version: &str, at: i64, workdir: Option<&str>| PackageRecord {
        version: version.into(),
        names: vec!["video".into(), "util".into()],
        artifact: format!("{{\"hash\":\"{version}\"}}"),
        deployed_at: at,
        workdir: workdir.map(String::from),
    };
    store.put_package(p("v2", 20, Some("/w"))).await.unwrap();
    store.put_package(p("v1", 10, None)).await.unwrap();
    // The same version again: a missing workdir keeps the one stored, a new one replaces it.
    store.put_package(p("v2", 99, None)).await.unwrap();
    store.put_package(p("v1", 99, Some("/x"))).await.unwrap();
    let all = store.packages().await.unwrap();
    assert_eq!(all, vec![p("v1", 10, Some("/x")), p("v2", 20, Some("/w"))]);
}

async fn objects_and_history(store: &dyn Store) {
    // U+0000 in a string is JSON like any other character (PostgreSQL's jsonb refused it).
    let state = json!({"title": "a", "n": 1, "nested": {"x": [1, 2.5, null, "s\u{0}t"]}});
    let v1 = version("obj-a", "k.C", 1, state.clone(), false);
    assert_eq!(write(store, v1.clone()).await, CommitOutcome::Committed);
    let v2 = version("obj-a", "k.C", 2, json!({"title": "b"}), false);
    assert_eq!(write(store, v2.clone()).await, CommitOutcome::Committed);
    let a = "obj-a".into();
    assert_eq!(store.object(&a, None).await.unwrap(), Some((*v2).clone()));
    assert_eq!(
        store.object(&a, Some(1)).await.unwrap(),
        Some((*v1).clone())
    );
    assert_eq!(store.object(&a, Some(3)).await.unwrap(), None);
    assert_eq!(store.object(&"nothing".into(), None).await.unwrap(), None);
    let history = store.history(&a).await.unwrap();
    assert_eq!(history, vec![(*v1).clone(), (*v2).clone()]);
    assert!(store.history(&"nothing".into()).await.unwrap().is_empty());
}

async fn listing(store: &dyn Store) {
    let class = "list.L";
    for (id, n, state, deleted) in [
        (
            "l1",
            1,
            json!({"color": "red", "size": 3, "ok": true}),
            false,
        ),
        ("l2", 1, json!({"color": "blue", "size": 3.0}), false),
        ("l3", 1, json!({"color": "red", "meta": {"a": 1}}), false),
        ("l3", 2, json!({"color": "green"}), false),
        ("l4", 1, json!({"color": "red"}), false),
        ("l4", 2, json!({"color": "red"}), true),
        ("l5", 1, json!({"color": "red", "size": null}), false),
    ] {
        assert_eq!(
            write(store, version(id, class, n, state, deleted)).await,
            CommitOutcome::Committed
        );
    }
    // A later version in another class keeps the object in the class it was created in.
    write(
        store,
        version("l5", "other.O", 2, json!({"color": "red"}), false),
    )
    .await;
    let list = |filters: Vec<(&str, Value)>, after: Option<&str>, limit: usize| {
        let filters: Vec<FieldFilter> = filters
            .into_iter()
            .map(|(field, value)| FieldFilter {
                field: field.into(),
                value,
            })
            .collect();
        let after = after.map(oaas_runtime::ids::ObjectId::from);
        async move {
            ids(&store
                .list(class, &filters, after.as_ref(), limit)
                .await
                .unwrap())
        }
    };
    let s = |v: &[(&str, u64)]| -> Vec<(String, u64)> {
        v.iter().map(|(i, n)| (i.to_string(), *n)).collect()
    };
    // Newest versions of live objects, by id; the deleted l4 is left out.
    assert_eq!(
        list(vec![], None, 10).await,
        s(&[("l1", 1), ("l2", 1), ("l3", 2), ("l5", 2)])
    );
    // Paging: a limit, then the page after the last id seen.
    assert_eq!(list(vec![], None, 2).await, s(&[("l1", 1), ("l2", 1)]));
    assert_eq!(
        list(vec![], Some("l2"), 2).await,
        s(&[("l3", 2), ("l5", 2)])
    );
    assert_eq!(list(vec![], Some("l5"), 2).await, s(&[]));
    // Filters match the newest state only: l3 is green now.
    assert_eq!(
        list(vec![("color", json!("red"))], None, 10).await,
        s(&[("l1", 1), ("l5", 2)])
    );
    // Numbers compare as numbers (3 equals 3.0); two filters both hold.
    assert_eq!(
        list(vec![("color", json!("blue")), ("size", json!(3))], None, 10).await,
        s(&[("l2", 1)])
    );
    assert_eq!(
        list(vec![("ok", json!(true))], None, 10).await,
        s(&[("l1", 1)])
    );
    // Null matches a null and a missing field.
    assert_eq!(
        list(vec![("size", Value::Null)], None, 10).await,
        s(&[("l3", 2), ("l5", 2)])
    );
    assert_eq!(list(vec![("color", json!("none"))], None, 10).await, s(&[]));
    assert!(store
        .list("none.N", &[], None, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn tasks_and_conflicts(store: &dyn Store) {
    let commit = |task: &str, result: Value, v: Arc<ObjectVersion>| Commit {
        task_id: Some(task.into()),
        task_result: Some(result),
        versions: vec![v],
        ..Default::default()
    };
    assert_eq!(store.task_result(&"t1".into()).await.unwrap(), None);
    let first = commit(
        "t1",
        json!({"r": 1}),
        version("t", "k.T", 1, json!({}), false),
    );
    assert_eq!(store.commit(first).await.unwrap(), CommitOutcome::Committed);
    // The same task again: its first result; its version is not written.
    let again = commit(
        "t1",
        json!("second"),
        version("t", "k.T", 2, json!({}), false),
    );
    assert_eq!(
        store.commit(again).await.unwrap(),
        CommitOutcome::AlreadyCommitted(Some(json!({"r": 1})))
    );
    assert_eq!(
        store
            .object(&"t".into(), None)
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
    // A version taken: a conflict that leaves nothing of the commit behind.
    let inv = InvocationId::from("inv-conflict");
    let mut clash = commit(
        "t2",
        json!("clash"),
        version("t", "k.T", 1, json!({}), false),
    );
    clash.invocations = vec![invocation("inv-conflict")];
    clash.idempotency = Some(("key-conflict".into(), inv.clone()));
    assert!(matches!(
        store.commit(clash).await.unwrap(),
        CommitOutcome::Conflict(_)
    ));
    assert_eq!(store.task_result(&"t2".into()).await.unwrap(), None);
    assert_eq!(store.invocation(&inv).await.unwrap(), None);
    assert_eq!(store.idempotent("key-conflict").await.unwrap(), None);
    // The task commits once it writes the next version; a task without result is `Some(None)`.
    let retry = commit("t2", json!(null), version("t", "k.T", 2, json!({}), false));
    assert_eq!(store.commit(retry).await.unwrap(), CommitOutcome::Committed);
    assert_eq!(
        store.task_result(&"t2".into()).await.unwrap(),
        Some(Some(Value::Null))
    );
    let bare = Commit {
        task_id: Some("t3".into()),
        ..Default::default()
    };
    assert_eq!(store.commit(bare).await.unwrap(), CommitOutcome::Committed);
    assert_eq!(store.task_result(&"t3".into()).await.unwrap(), Some(None));
}

/// A memo key names the task committed with it; the first task keeps it; a commit that
/// does not go in records none.
async fn memos(store: &dyn Store) {
    let key = MemoKey::from("k1");
    assert_eq!(store.memo(&key).await.unwrap(), None);
    let commit = |task: &str, result: Value, v: Arc<ObjectVersion>| Commit {
        task_id: Some(task.into()),
        task_result: Some(result),
        versions: vec![v],
        memo: Some(key.clone()),
        ..Default::default()
    };
    let first = commit(
        "m1",
        json!("m-out"),
        version("m-out", "k.T", 1, json!({}), false),
    );
    assert_eq!(store.commit(first).await.unwrap(), CommitOutcome::Committed);
    let recorded = Some((TaskId::from("m1"), Some(json!("m-out"))));
    assert_eq!(store.memo(&key).await.unwrap(), recorded);
    let second = commit(
        "m2",
        json!("m-2"),
        version("m-2", "k.T", 1, json!({}), false),
    );
    assert_eq!(
        store.commit(second).await.unwrap(),
        CommitOutcome::Committed
    );
    assert_eq!(
        store.memo(&key).await.unwrap(),
        recorded,
        "the first task lost its key"
    );
    // A commit that conflicts leaves no key behind.
    let other = MemoKey::from("k2");
    let clash = Commit {
        memo: Some(other.clone()),
        ..commit(
            "m3",
            json!("x"),
            version("m-out", "k.T", 1, json!({}), false),
        )
    };
    assert!(matches!(
        store.commit(clash).await.unwrap(),
        CommitOutcome::Conflict(_)
    ));
    assert_eq!(store.memo(&other).await.unwrap(), None);
}

fn invocation(id: &str) -> Invocation {
    Invocation::pending(
        id.into(),
        InvocationRequest {
            target: Target::Object("obj-a".into()),
            function: "resize".into(),
            args: json!({"w": 10}),
            fresh: false,
        },
        Some("out-1".into()),
    )
}

async fn idempotency(store: &dyn Store) {
    let (one, two) = (InvocationId::from("inv-1"), InvocationId::from("inv-2"));
    let claim = |inv: &InvocationId, v: Arc<ObjectVersion>| Commit {
        versions: vec![v],
        invocations: vec![invocation(inv.as_str())],
        idempotency: Some(("key-1".into(), inv.clone())),
        ..Default::default()
    };
    assert_eq!(store.idempotent("key-1").await.unwrap(), None);
    let first = claim(&one, version("i", "k.I", 1, json!({}), false));
    assert_eq!(store.commit(first).await.unwrap(), CommitOutcome::Committed);
    assert_eq!(store.idempotent("key-1").await.unwrap(), Some(one.clone()));
    // Another invocation with the key: told who holds it, and nothing is written.
    let other = claim(&two, version("i", "k.I", 2, json!({}), false));
    assert_eq!(
        store.commit(other).await.unwrap(),
        CommitOutcome::KeyTaken(one.clone())
    );
    assert_eq!(store.invocation(&two).await.unwrap(), None);
    assert_eq!(
        store
            .object(&"i".into(), None)
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
    // The holder itself may commit with its key again.
    let same = claim(&one, version("i", "k.I", 2, json!({}), false));
    assert_eq!(store.commit(same).await.unwrap(), CommitOutcome::Committed);
    assert_eq!(store.idempotent("key-1").await.unwrap(), Some(one));
}

async fn invocations(store: &dyn Store) {
    let write = |inv: Invocation| async move {
        let c = Commit {
            invocations: vec![inv],
            ..Default::default()
        };
        assert_eq!(store.commit(c).await.unwrap(), CommitOutcome::Committed);
    };
    let mut a = invocation("inv-a");
    a.created_at = 1;
    let mut b = invocation("inv-b");
    b.created_at = 2;
    b.request.target = Target::Class("video.Video".into());
    b.output_id = None;
    write(b.clone()).await;
    write(a.clone()).await;
    let pending: Vec<_> = store.pending_invocations().await.unwrap();
    let pending: Vec<&str> = pending.iter().map(|i| i.id.as_str()).collect();
    // inv-1 (from the idempotency part) is pending too, created now.
    assert_eq!(pending, vec!["inv-a", "inv-b", "inv-1"]);
    assert_eq!(store.invocation(&"inv-b".into()).await.unwrap(), Some(b));
    // Progress, then success.
    a.nodes.insert(
        "n1.e0".into(),
        NodeRecord {
            status: NodeStatus::Succeeded,
            label: "self.split()".into(),
            output: Some(json!([1, 2])),
            error: None,
            cause: None,
            internal: true,
            seq: 1_795_706_819_412_001,
            started_at: Some(1_795_706_819_400),
            finished_at: Some(1_795_706_819_412),
            reused: true,
        },
    );
    a.status = InvocationStatus::Succeeded;
    a.result = Some(json!({"done": true}));
    a.updated_at = 5;
    write(a.clone()).await;
    assert_eq!(
        store.invocation(&"inv-a".into()).await.unwrap(),
        Some(a.clone())
    );
    // A finished invocation is never set back to pending.
    let mut stale = a.clone();
    stale.status = InvocationStatus::Pending;
    stale.result = None;
    write(stale).await;
    assert_eq!(store.invocation(&"inv-a".into()).await.unwrap(), Some(a));
    let mut failed = invocation("inv-c");
    failed.status = InvocationStatus::Failed;
    failed.error = Some(Error::function_failed("it broke").with(json!({"exit": 3})));
    write(failed.clone()).await;
    assert_eq!(
        store.invocation(&"inv-c".into()).await.unwrap(),
        Some(failed)
    );
    let pending = store.pending_invocations().await.unwrap();
    assert!(pending
        .iter()
        .all(|i| i.status == InvocationStatus::Pending));
    assert_eq!(pending.len(), 2);
    recent_invocations(store).await;
}

/// Newest first by id, filtered on status and on the object called, paged with `before`.
async fn recent_invocations(store: &dyn Store) {
    let ids = |q: InvocationQuery| async move {
        let found = store.recent_invocations(&q).await.unwrap();
        found
            .into_iter()
            .map(|i| i.id.to_string())
            .collect::<Vec<_>>()
    };
    let on_a = |before: Option<&str>, limit| InvocationQuery {
        object: Some("obj-a".into()),
        before: before.map(InvocationId::from),
        limit,
        ..Default::default()
    };
    let all_on_a = ids(on_a(None, 10)).await;
    assert_eq!(all_on_a[..2], ["inv-c", "inv-a"], "{all_on_a:?}");
    assert!(!all_on_a.contains(&"inv-b".to_string()), "{all_on_a:?}");
    assert_eq!(ids(on_a(None, 1)).await, ["inv-c"]);
    assert_eq!(ids(on_a(Some("inv-c"), 1)).await, ["inv-a"]);
    let failed = InvocationQuery {
        status: Some(InvocationStatus::Failed),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(ids(failed).await, ["inv-c"]);
    let on_class = InvocationQuery {
        status: Some(InvocationStatus::Pending),
        limit: 10,
        ..Default::default()
    };
    assert!(ids(on_class).await.contains(&"inv-b".to_string()));
}

async fn tokens(store: &dyn Store) {
    let t = |id: &str, hash: &str, role: Role, packages: Option<Vec<String>>| TokenRecord {
        id: id.into(),
        hash: hash.into(),
        role,
        packages,
        created_at: 42,
    };
    let deploy = t("tok-b", "hb", Role::Deploy, Some(vec!["video".into()]));
    let read = t("tok-a", "ha", Role::Read, None);
    store.put_token(deploy.clone()).await.unwrap();
    store.put_token(read.clone()).await.unwrap();
    assert_eq!(store.tokens().await.unwrap(), vec![read.clone(), deploy]);
    // Ids and hashes are unique.
    assert!(store
        .put_token(t("tok-a", "hz", Role::Admin, None))
        .await
        .is_err());
    assert!(store
        .put_token(t("tok-z", "ha", Role::Admin, None))
        .await
        .is_err());
    assert!(store.revoke_token("tok-b").await.unwrap());
    assert!(!store.revoke_token("tok-b").await.unwrap());
    assert_eq!(store.tokens().await.unwrap(), vec![read]);
}

fn wait(task: &str, signal: Option<&str>, ms: u64) -> WaitRequest {
    WaitRequest {
        task: task.into(),
        invocation: "sig1".into(),
        signal: signal.map(str::to_string),
        ms,
    }
}

/// Signals are kept for a pending invocation only, taken once each in the order sent, and
/// a wait answers the same on every turn once it is over.
async fn signals_and_waits(store: &dyn Store) {
    let none = InvocationId::from("nobody");
    let v = json!({"approved": true});
    assert_eq!(
        store.put_signal(&none, "go", &v, 8).await.unwrap(),
        SignalOutcome::UnknownInvocation
    );
    store
        .commit(Commit {
            invocations: vec![invocation("sig1")],
            ..Default::default()
        })
        .await
        .unwrap();
    let id = InvocationId::from("sig1");
    // Sent before any wait reached it: kept.
    for n in [1, 2] {
        let value = json!({"n": n});
        let stored = store.put_signal(&id, "go", &value, 2).await.unwrap();
        assert_eq!(stored, SignalOutcome::Stored);
    }
    assert_eq!(
        store.put_signal(&id, "go", &v, 2).await.unwrap(),
        SignalOutcome::TooMany(2)
    );
    // The first wait takes the first signal, and keeps it on later turns.
    let a = wait("sig1.n1", Some("go"), 3_600_000);
    assert_eq!(
        store.wait(&a).await.unwrap(),
        WaitState::Done(json!({"n": 1}))
    );
    assert_eq!(
        store.wait(&a).await.unwrap(),
        WaitState::Done(json!({"n": 1}))
    );
    // Another wait takes the second; a third finds none and waits.
    let b = wait("sig1.n2", Some("go"), 3_600_000);
    assert_eq!(
        store.wait(&b).await.unwrap(),
        WaitState::Done(json!({"n": 2}))
    );
    let c = wait("sig1.n3", Some("go"), 3_600_000);
    match store.wait(&c).await.unwrap() {
        WaitState::Waiting { due_in_ms } => assert!(due_in_ms > 3_500_000, "{due_in_ms}"),
        other => panic!("{other:?}"),
    }
    // A signal of another name is not taken by it.
    assert_eq!(
        store.put_signal(&id, "other", &v, 8).await.unwrap(),
        SignalOutcome::Stored
    );
    assert!(matches!(
        store.wait(&c).await.unwrap(),
        WaitState::Waiting { .. }
    ));
    // A short timeout strikes once due, and stays struck though a signal comes later.
    let d = wait("sig1.n4", Some("late"), 30);
    assert!(matches!(
        store.wait(&d).await.unwrap(),
        WaitState::Waiting { .. }
    ));
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    assert_eq!(store.wait(&d).await.unwrap(), WaitState::TimedOut);
    store.put_signal(&id, "late", &v, 8).await.unwrap();
    assert_eq!(store.wait(&d).await.unwrap(), WaitState::TimedOut);
    // A sleep keeps the due time of its first turn: asked again with another length, it
    // is over when the first said.
    let s = wait("sig1.n5", None, 30);
    assert!(matches!(
        store.wait(&s).await.unwrap(),
        WaitState::Waiting { .. }
    ));
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    let again = wait("sig1.n5", None, 3_600_000);
    assert_eq!(
        store.wait(&again).await.unwrap(),
        WaitState::Done(Value::Null)
    );
    // A finished invocation takes no more signals.
    let mut done = invocation("sig1");
    done.status = InvocationStatus::Succeeded;
    store
        .commit(Commit {
            invocations: vec![done],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        store.put_signal(&id, "go", &v, 8).await.unwrap(),
        SignalOutcome::Finished(InvocationStatus::Succeeded)
    );
}

#[tokio::test]
async fn sqlite_keeps_the_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("store.db")).unwrap();
    store_contract(Arc::new(store)).await;
}

/// A fresh database, or `None` when the test is skipped.
async fn scratch() -> Option<ScratchDatabase> {
    ScratchDatabase::create()
        .await
        .expect("PostgreSQL required")
}

#[tokio::test]
async fn postgres_keeps_the_store_contract() {
    let Some(db) = scratch().await else { return };
    let store = PostgresStore::connect(db.url()).await.unwrap();
    store_contract(Arc::new(store)).await;
    db.drop_database().await.unwrap();
}

fn lease(owner: &str, ms: u64) -> Lease {
    Lease {
        owner: owner.into(),
        duration: std::time::Duration::from_millis(ms),
    }
}

async fn record(store: &dyn Store, inv: Invocation, lease: Option<Lease>) {
    let c = Commit {
        invocations: vec![inv],
        lease,
        ..Default::default()
    };
    assert_eq!(store.commit(c).await.unwrap(), CommitOutcome::Committed);
}

/// Two replicas (`b` and `c`, which may be one store value) claiming free invocations at
/// once never both get one; a live owner's renewed lease is never claimed; an expired one
/// is, once; a finished invocation has no lease left.
async fn lease_contract(b: Arc<dyn Store>, c: Arc<dyn Store>) {
    for i in 0..60 {
        record(&*b, invocation(&format!("free-{i:02}")), None).await;
    }
    let claimer = |store: Arc<dyn Store>, owner: &'static str| {
        tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = store.claim_expired(&lease(owner, 60_000), 7).await.unwrap();
                if batch.is_empty() {
                    return got;
                }
                assert!(batch.iter().all(|i| i.status == InvocationStatus::Pending));
                got.extend(batch.into_iter().map(|i| i.id.to_string()));
            }
        })
    };
    let (by_b, by_c) = (claimer(b.clone(), "b"), claimer(c.clone(), "c"));
    let (by_b, by_c) = (by_b.await.unwrap(), by_c.await.unwrap());
    let mut all: Vec<String> = by_b.iter().chain(&by_c).cloned().collect();
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!(before, all.len(), "an invocation was claimed twice");
    assert_eq!(all.len(), 60);
    let mut renewed: Vec<String> = b
        .renew_leases(&lease("b", 60_000))
        .await
        .unwrap()
        .iter()
        .map(|i| i.to_string())
        .collect();
    renewed.sort();
    let mut mine = by_b.clone();
    mine.sort();
    assert_eq!(renewed, mine, "b renews exactly what it claimed");

    // A live owner renews a short lease: never claimed while it does.
    let held = lease("a", 600);
    record(&*b, invocation("held"), Some(held.clone())).await;
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(1500) {
        assert!(b
            .renew_leases(&held)
            .await
            .unwrap()
            .contains(&"held".into()));
        let taken = c.claim_expired(&lease("c", 60_000), 100).await.unwrap();
        assert!(taken.is_empty(), "claimed a live lease: {taken:?}");
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    // Its owner stops renewing: once expired, it is claimed, by one replica.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let taken = c.claim_expired(&lease("c", 60_000), 100).await.unwrap();
    let taken: Vec<&str> = taken.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(taken, vec!["held"]);
    assert!(b
        .claim_expired(&lease("b", 60_000), 100)
        .await
        .unwrap()
        .is_empty());
    assert!(!b
        .renew_leases(&held)
        .await
        .unwrap()
        .contains(&"held".into()));
    // Finished, it has no owner to renew it and nothing to claim.
    let mut done = invocation("held");
    done.status = InvocationStatus::Succeeded;
    done.result = Some(json!(1));
    record(&*c, done, None).await;
    let renewed = c.renew_leases(&lease("c", 10)).await.unwrap();
    assert!(!renewed.contains(&"held".into()));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let taken = b.claim_expired(&lease("b", 60_000), 100).await.unwrap();
    assert!(taken.iter().all(|i| i.id.as_str() != "held"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_the_lease_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("store.db")).unwrap());
    lease_contract(store.clone(), store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_the_lease_contract() {
    let Some(db) = scratch().await else { return };
    let b = PostgresStore::connect(db.url()).await.unwrap();
    let c = PostgresStore::connect(db.url()).await.unwrap();
    lease_contract(Arc::new(b), Arc::new(c)).await;
    db.drop_database().await.unwrap();
}
