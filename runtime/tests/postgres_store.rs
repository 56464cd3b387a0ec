//! What only the PostgreSQL store has to show: migrations at open that replicas may run
//! together, commits from two processes' pools racing for one version, and a server that
//! goes away. Each test uses a fresh database on `$OAAS_TEST_POSTGRES` and skips loudly
//! when no server is reachable (fails with `OAAS_REQUIRE_POSTGRES=1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use oaas_runtime::blobs::Blobs;
use oaas_runtime::error::ErrorKind;
use oaas_runtime::ids::{InvocationId, ObjectId, Target};
use oaas_runtime::objects::Objects;
use oaas_runtime::store::postgres::{PostgresStore, ScratchDatabase, MIGRATIONS};
use oaas_runtime::store::*;
use serde_json::json;
use std::sync::Arc;

/// A fresh database, or `None` when the test is skipped.
async fn scratch() -> Option<ScratchDatabase> {
    ScratchDatabase::create()
        .await
        .expect("PostgreSQL required")
}

fn version(id: &str, n: u64, writer: &str) -> Arc<ObjectVersion> {
    Arc::new(ObjectVersion::new(
        id,
        "k.C",
        "p",
        n,
        json!({ "n": n, "writer": writer }),
    ))
}

/// Commits `versions` alone through `store`, which must write them.
async fn writes(store: &PostgresStore, versions: Vec<Arc<ObjectVersion>>) {
    let commit = Commit {
        versions,
        ..Default::default()
    };
    assert_eq!(
        store.commit(commit).await.unwrap(),
        CommitOutcome::Committed
    );
}

/// The statement another runtime would run to write object `id` at `version` (an empty state).
fn object_row(id: &str, version: i64) -> String {
    format!(
        "INSERT INTO objects (id, version, class, package_version, state, refs, files, deleted, created_at)
         VALUES ('{id}', {version}, 'k.C', 'p', '{{}}', '{{}}', '{{}}', false, 0)"
    )
}

fn package(version: &str, names: &[&str]) -> PackageRecord {
    PackageRecord {
        version: version.into(),
        names: names.iter().map(|n| n.to_string()).collect(),
        artifact: "{}".into(),
        deployed_at: now_ms(),
        workdir: None,
    }
}

fn token(id: &str) -> TokenRecord {
    TokenRecord {
        id: id.into(),
        hash: format!("hash-of-{id}"),
        role: oaas_runtime::tokens::Role::Invoke,
        packages: None,
        created_at: now_ms(),
    }
}

/// A new pending invocation `id` of `function` on `target`.
fn pending(id: &str, target: Target, function: &str, args: serde_json::Value) -> Invocation {
    let request = InvocationRequest {
        target,
        function: function.into(),
        args,
        fresh: false,
    };
    Invocation::pending(id.into(), request, None)
}

fn every_migration() -> Vec<i64> {
    (1..=MIGRATIONS.len() as i64).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_once_however_many_replicas_open_the_database() {
    let Some(db) = scratch().await else { return };
    // Two replicas starting together on an empty database: both open, one migrates.
    let (a, b) = tokio::join!(
        PostgresStore::connect(db.url()),
        PostgresStore::connect(db.url())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.applied_migrations().await.unwrap(), every_migration());
    let commit = Commit {
        versions: vec![version("x", 1, "a")],
        ..Default::default()
    };
    assert_eq!(a.commit(commit).await.unwrap(), CommitOutcome::Committed);
    // Opening again changes nothing and keeps what was written.
    let c = PostgresStore::connect(db.url()).await.unwrap();
    assert_eq!(c.applied_migrations().await.unwrap(), every_migration());
    let x = c.object(&"x".into(), None).await.unwrap().unwrap();
    assert_eq!(x.state, json!({"n": 1, "writer": "a"}));
    assert_eq!(b.history(&"x".into()).await.unwrap().len(), 1);
    drop((a, b, c));
    db.drop_database().await.unwrap();
}

/// Two stores, as two replicas would have them, commit version n+1 of one object at once
/// 50 times: each round exactly one wins, the other is told of the conflict, and the
/// history holds each winner's version and nothing of a loser's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_replicas_committing_one_version_exactly_one_wins() {
    let Some(db) = scratch().await else { return };
    let a = Arc::new(PostgresStore::connect(db.url()).await.unwrap());
    let b = Arc::new(PostgresStore::connect(db.url()).await.unwrap());
    let first = Commit {
        versions: vec![version("x", 1, "setup")],
        ..Default::default()
    };
    assert_eq!(a.commit(first).await.unwrap(), CommitOutcome::Committed);
    let mut winners = vec!["setup".to_string()];
    for round in 2..=51u64 {
        let race = |store: Arc<PostgresStore>, writer: &'static str| {
            let commit = Commit {
                task_id: Some(format!("{writer}-{round}").as_str().into()),
                task_result: Some(json!(writer)),
                versions: vec![version("x", round, writer)],
                ..Default::default()
            };
            tokio::spawn(async move { store.commit(commit).await.unwrap() })
        };
        let (ra, rb) = (race(a.clone(), "a"), race(b.clone(), "b"));
        let (ra, rb) = (ra.await.unwrap(), rb.await.unwrap());
        let (winner, loser) = match (&ra, &rb) {
            (CommitOutcome::Committed, CommitOutcome::Conflict(_)) => ("a", "b"),
            (CommitOutcome::Conflict(_), CommitOutcome::Committed) => ("b", "a"),
            other => panic!("round {round}: {other:?}"),
        };
        winners.push(winner.to_string());
        // The loser's commit left nothing, its task row included.
        let loser_task = format!("{loser}-{round}");
        assert_eq!(
            a.task_result(&loser_task.as_str().into()).await.unwrap(),
            None
        );
    }
    let history = b.history(&"x".into()).await.unwrap();
    let written: Vec<(u64, String)> = history
        .iter()
        .map(|v| (v.version, v.state["writer"].as_str().unwrap().to_string()))
        .collect();
    let expected: Vec<(u64, String)> = (1..=51).zip(winners).collect();
    assert_eq!(written, expected);
    drop((a, b));
    db.drop_database().await.unwrap();
}

/// Two replicas claiming one idempotency key for two invocations: one holds it, the other
/// is told which invocation does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_replicas_claiming_one_key_exactly_one_holds_it() {
    let Some(db) = scratch().await else { return };
    let a = Arc::new(PostgresStore::connect(db.url()).await.unwrap());
    let b = Arc::new(PostgresStore::connect(db.url()).await.unwrap());
    for round in 0..20 {
        let key = format!("key-{round}");
        let claim = |store: Arc<PostgresStore>, inv: String| {
            let commit = Commit {
                invocations: vec![pending(
                    inv.as_str(),
                    Target::Class("k.C".into()),
                    "f",
                    json!({}),
                )],
                idempotency: Some((key.clone(), inv.as_str().into())),
                ..Default::default()
            };
            tokio::spawn(async move { store.commit(commit).await.unwrap() })
        };
        let (ia, ib) = (format!("a-{round}"), format!("b-{round}"));
        let (ra, rb) = (claim(a.clone(), ia.clone()), claim(b.clone(), ib.clone()));
        let (ra, rb) = (ra.await.unwrap(), rb.await.unwrap());
        let holder = a.idempotent(&key).await.unwrap().unwrap();
        let (won, lost) = if holder.as_str() == ia {
            (ra, rb)
        } else {
            (rb, ra)
        };
        assert_eq!(won, CommitOutcome::Committed);
        assert_eq!(lost, CommitOutcome::KeyTaken(holder.clone()));
        let other = InvocationId::from(if holder.as_str() == ia { ib } else { ia });
        assert_eq!(b.invocation(&other).await.unwrap(), None);
    }
    drop((a, b));
    db.drop_database().await.unwrap();
}

#[tokio::test]
async fn a_database_that_goes_away_is_a_store_error() {
    let Some(db) = scratch().await else { return };
    let store = PostgresStore::connect(db.url()).await.unwrap();
    assert_eq!(store.object(&"x".into(), None).await.unwrap(), None);
    // Dropping the database ends the pool's open connections.
    db.drop_database().await.unwrap();
    let read = store.object(&"x".into(), None).await;
    assert!(matches!(read, Err(StoreError::Database(_))), "{read:?}");
    let commit = Commit {
        versions: vec![version("x", 1, "a")],
        ..Default::default()
    };
    let write = store.commit(commit).await;
    assert!(matches!(write, Err(StoreError::Database(_))), "{write:?}");
}

#[tokio::test]
async fn a_malformed_or_unreachable_url_is_a_store_error() {
    let bad = PostgresStore::connect("postgres://u@127.0.0.1:notaport/db").await;
    match bad {
        Err(StoreError::Database(m)) => assert!(m.contains("malformed PostgreSQL URL"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
    // Port 1 on loopback: nothing listens there.
    let away = PostgresStore::connect("postgres://u@127.0.0.1:1/db").await;
    match away {
        Err(StoreError::Database(m)) => assert!(m.contains("127.0.0.1:1/db"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scratch_database_its_test_did_not_drop_goes_with_its_value() {
    let Some(db) = scratch().await else { return };
    let url = db.url().to_string();
    assert!(PostgresStore::connect(&url).await.is_ok());
    drop(db);
    let gone = PostgresStore::connect(&url).await;
    match gone {
        Err(StoreError::Database(m)) => assert!(m.contains("does not exist"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
}

/// A plain connection to the test's database, to set rows up behind the store's back.
async fn raw(db: &ScratchDatabase) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_runtime_is_refused() {
    let Some(db) = scratch().await else { return };
    drop(PostgresStore::connect(db.url()).await.unwrap());
    let newer = MIGRATIONS.len() as i64 + 1;
    raw(&db)
        .await
        .execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&newer],
        )
        .await
        .unwrap();
    match PostgresStore::connect(db.url()).await {
        Err(StoreError::Database(m)) => assert!(m.contains("newer than this runtime"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
    db.drop_database().await.unwrap();
}

#[tokio::test]
async fn a_record_that_does_not_decode_is_corrupt_not_a_default() {
    let Some(db) = scratch().await else { return };
    let store = PostgresStore::connect(db.url()).await.unwrap();
    raw(&db)
        .await
        .batch_execute(
            "INSERT INTO invocations (id, request, status, nodes, created_at, updated_at)
             VALUES ('bad', '{\"no\": \"request\"}', 'pending', '{}', 0, 0);
             INSERT INTO objects (id, version, class, package_version, state, refs, files, deleted, created_at)
             VALUES ('o', -1, 'k.C', 'p', '{}', '{}', '{}', false, 0)",
        )
        .await
        .unwrap();
    let inv = store.invocation(&"bad".into()).await;
    assert!(matches!(inv, Err(StoreError::Corrupt(_))), "{inv:?}");
    let pending = store.pending_invocations().await;
    assert!(
        matches!(pending, Err(StoreError::Corrupt(_))),
        "{pending:?}"
    );
    let object = store.object(&"o".into(), None).await;
    assert!(matches!(object, Err(StoreError::Corrupt(_))), "{object:?}");
    db.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_commits_go_on_when_the_server_ends_every_connection() {
    let Some(db) = scratch().await else { return };
    let store = Arc::new(PostgresStore::connect(db.url()).await.unwrap());
    writes(&store, vec![version("x", 1, "a")]).await;
    // Fill the pool with open connections, then have the server end them all, as a restart
    // would.
    many_reads(&store, 8).await;
    let ended: i64 = raw(&db)
        .await
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ended >= 1, "{ended}");
    for _ in 0..20 {
        let x = store.object(&"x".into(), None).await.unwrap().unwrap();
        assert_eq!(x.version, 1);
    }
    // And commits: a commit whose connection is found gone before its COMMIT is sent has
    // written nothing, and is tried again.
    raw(&db)
        .await
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    for n in 2..=10 {
        writes(&store, vec![version("x", n, "a")]).await;
    }
    drop(store);
    db.drop_database().await.unwrap();
}

/// Connections the store has open to `db` (all but the one asking).
async fn connections(db: &ScratchDatabase) -> i64 {
    raw(db)
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// `n` reads at once of the object `x` (one version), each on a connection of the store's
/// pool (64 with the default of 16 open all 16).
async fn many_reads(store: &Arc<PostgresStore>, n: usize) {
    let reads: Vec<_> = (0..n)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.history(&"x".into()).await.unwrap().len() })
        })
        .collect();
    for r in reads {
        assert_eq!(r.await.unwrap(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_opens_no_more_connections_than_it_is_given() {
    let Some(db) = scratch().await else { return };
    let small = Arc::new(PostgresStore::connect_with(db.url(), 3).await.unwrap());
    writes(&small, vec![version("x", 1, "a")]).await;
    many_reads(&small, 64).await;
    let opened = connections(&db).await;
    assert!((1..=3).contains(&opened), "{opened} connections");
    drop(small);
    db.drop_database().await.unwrap();
}

#[tokio::test]
async fn a_commit_the_database_refuses_writes_nothing_and_the_store_goes_on() {
    let Some(db) = scratch().await else { return };
    let store = PostgresStore::connect(db.url()).await.unwrap();
    // PostgreSQL's text cannot hold U+0000: the version's insert fails mid-pipeline.
    let mut bad = (*version("x", 1, "a")).clone();
    bad.class = "k.\u{0}C".into();
    let refused = Commit {
        task_id: Some("t".into()),
        versions: vec![Arc::new(bad)],
        invocations: vec![pending("inv", Target::Class("k.C".into()), "f", json!({}))],
        ..Default::default()
    };
    for _ in 0..3 {
        let r = store.commit(refused.clone()).await;
        assert!(matches!(r, Err(StoreError::Database(_))), "{r:?}");
    }
    assert_eq!(store.task_result(&"t".into()).await.unwrap(), None);
    assert_eq!(store.invocation(&"inv".into()).await.unwrap(), None);
    // The pooled connections are not left in an aborted transaction.
    for n in 1..=20 {
        writes(&store, vec![version("x", n, "a")]).await;
    }
    drop(store);
    db.drop_database().await.unwrap();
}

/// A commit `COMMIT` itself refuses (here a check deferred to it) wrote nothing, which is
/// known: it fails at once, neither tried again as an unknown outcome nor on a new
/// connection, and the store goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_refused_at_commit_is_refused_not_unknown() {
    let Some(db) = scratch().await else { return };
    let store = PostgresStore::connect(db.url()).await.unwrap();
    // A sequence counts the tries: it is not rolled back with them.
    raw(&db)
        .await
        .batch_execute(
            "CREATE SEQUENCE tries;
             CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN PERFORM nextval('tries'); RAISE EXCEPTION 'refused at commit'; END $$;
             CREATE CONSTRAINT TRIGGER refuse AFTER INSERT ON objects
               DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.id = 'refused')
               EXECUTE FUNCTION refuse();",
        )
        .await
        .unwrap();
    let refused = Commit {
        task_id: Some("t".into()),
        versions: vec![version("refused", 1, "a")],
        ..Default::default()
    };
    let r = store.commit(refused).await;
    assert!(
        matches!(&r, Err(StoreError::Database(m)) if m.contains("refused at commit")),
        "{r:?}"
    );
    let tries = raw(&db)
        .await
        .query_one("SELECT last_value FROM tries", &[])
        .await
        .unwrap();
    assert_eq!(tries.get::<_, i64>(0), 1, "tried once");
    assert_eq!(store.task_result(&"t".into()).await.unwrap(), None);
    writes(&store, vec![version("x", 1, "a")]).await;
    drop(store);
    db.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_lock_holds_off_other_runtimes_until_it_is_let_go() {
    let Some(db) = scratch().await else { return };
    let first = PostgresStore::connect(db.url()).await.unwrap();
    let second = std::sync::Arc::new(PostgresStore::connect(db.url()).await.unwrap());
    assert!(first.shared());
    let held = first.lock_object(&"x".into()).await.unwrap().unwrap();
    // Another object's lock is free; the same object's waits.
    drop(second.lock_object(&"y".into()).await.unwrap());
    let waiter = {
        let second = second.clone();
        tokio::spawn(async move { second.lock_object(&"x".into()).await.map(|l| l.is_some()) })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "the second runtime took a held lock");
    drop(held);
    let taken = tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await;
    assert!(matches!(taken, Ok(Ok(Ok(true)))), "{taken:?}");
    drop((first, second));
    db.drop_database().await.unwrap();
}

/// The next notice, within 2 s.
async fn next(changes: &mut tokio::sync::broadcast::Receiver<Change>) -> Change {
    tokio::time::timeout(std::time::Duration::from_secs(2), changes.recv())
        .await
        .expect("no notice within 2 s")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_a_token_and_a_signal_are_noticed_by_the_other_runtimes() {
    let Some(db) = scratch().await else { return };
    let first = PostgresStore::connect(db.url()).await.unwrap();
    let second = PostgresStore::connect(db.url()).await.unwrap();
    let mut changes = second.changes().unwrap();
    // Listening begins with "read it all again".
    assert_eq!(next(&mut changes).await, Change::All);
    first.put_package(package("v1", &["p"])).await.unwrap();
    assert_eq!(next(&mut changes).await, Change::Packages);
    first.put_token(token("t1")).await.unwrap();
    assert_eq!(next(&mut changes).await, Change::Tokens);
    assert!(first.revoke_token("t1").await.unwrap());
    assert_eq!(next(&mut changes).await, Change::Tokens);
    // A signal stored through one runtime wakes the waits of the others.
    let inv = pending(
        "inv-signalled",
        Target::Object("obj".into()),
        "place",
        json!({}),
    );
    first
        .commit(Commit {
            invocations: vec![inv],
            ..Default::default()
        })
        .await
        .unwrap();
    let stored = first
        .put_signal(&"inv-signalled".into(), "approval", &json!(true), 8)
        .await
        .unwrap();
    assert_eq!(stored, SignalOutcome::Stored);
    assert_eq!(next(&mut changes).await, Change::Signals);
    drop((first, second));
    db.drop_database().await.unwrap();
}

/// A runtime names the objects it commits to the others (so they forget their hints) only
/// once it has seen another runtime write the same objects: a conflict, or another's notice
/// naming an object it committed. Notices on one listening connection come in commit order,
/// so the first one heard tells which commits named nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_are_named_to_the_others_once_they_share_them() {
    let Some(db) = scratch().await else { return };
    let first = PostgresStore::connect(db.url()).await.unwrap();
    let second = PostgresStore::connect(db.url()).await.unwrap();
    let (mut mine, mut theirs) = (first.changes().unwrap(), second.changes().unwrap());
    assert_eq!(next(&mut mine).await, Change::All);
    assert_eq!(next(&mut theirs).await, Change::All);
    // Nothing is shared yet: this commit names nothing.
    writes(&first, vec![version("x", 1, "a"), version("y", 1, "a")]).await;
    // The second finds a version of x taken: from now on it names what it writes.
    let again = Commit {
        versions: vec![version("x", 1, "b")],
        ..Default::default()
    };
    let refused = second.commit(again).await.unwrap();
    assert!(matches!(refused, CommitOutcome::Conflict(_)), "{refused:?}");
    writes(&second, vec![version("x", 2, "b")]).await;
    assert_eq!(next(&mut mine).await, Change::Objects(vec!["x".into()]));
    // That notice named x, which the first committed: the first names what it writes now,
    // and this is the first notice the second hears (the first commit named nothing).
    writes(&first, vec![version("y", 2, "c")]).await;
    assert_eq!(next(&mut theirs).await, Change::Objects(vec!["y".into()]));
    // A writer is not told of its own commits.
    assert!(mine.try_recv().is_err(), "the first heard its own notice");
    assert!(
        theirs.try_recv().is_err(),
        "the second heard its own notice"
    );
    drop((first, second));
    db.drop_database().await.unwrap();
}

/// A version is the hint a `mut` call may start from ([`Objects::hint`], taken without the
/// object's turn) only once its commit went in. Were a version in flight a hint and then
/// refused, a call started from it would take its free number and count a change that never
/// happened: 600 increments through three replicas once ended at 601.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_is_a_hint_only_once_its_commit_went_in() {
    let Some(db) = scratch().await else { return };
    let store = Arc::new(PostgresStore::connect(db.url()).await.unwrap());
    let folder = tempfile::tempdir().unwrap();
    let blobs = Blobs::new(folder.path().into(), b"secret".to_vec(), "http://x".into());
    let objects = Arc::new(Objects::new(store, Arc::new(blobs)));
    let id = ObjectId::from("o");
    let hint = |objects: &Objects| objects.hint(&id).map(|v| v.version);
    let commit = |n| Commit {
        versions: vec![version("o", n, "mine")],
        ..Default::default()
    };
    objects.commit(commit(1)).await.unwrap();
    assert_eq!(hint(&objects), Some(1));
    // Another runtime's transaction holds the table: the commit of version 2 waits.
    let mut other = raw(&db).await;
    let blocker = other.transaction().await.unwrap();
    blocker
        .batch_execute("LOCK TABLE objects IN EXCLUSIVE MODE")
        .await
        .unwrap();
    let in_flight = tokio::spawn({
        let objects = objects.clone();
        async move { objects.commit(commit(2)).await }
    });
    waits_for_a_lock(&db).await;
    assert_eq!(hint(&objects), Some(1), "a version in flight is no hint");
    // That runtime writes version 2 first: the one in flight is refused, and never a hint.
    blocker.batch_execute(&object_row("o", 2)).await.unwrap();
    blocker.commit().await.unwrap();
    let refused = in_flight.await.unwrap().unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Conflict, "{refused}");
    assert_eq!(hint(&objects), None, "what it knew is old: read again");
    objects.commit(commit(3)).await.unwrap();
    assert_eq!(hint(&objects), Some(3));
    db.drop_database().await.unwrap();
}

/// While one group of commits is held at the server, enough commits queued behind it go as
/// a second group beside it instead of waiting (one group at a time left a busy replica's
/// machine idle a fifth of the time); the held one is written once it is let go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_group_goes_while_the_first_is_held_at_the_server() {
    let Some(db) = scratch().await else { return };
    let store = Arc::new(PostgresStore::connect(db.url()).await.unwrap());
    let commit = |id: &str| Commit {
        versions: vec![version(id, 1, "mine")],
        ..Default::default()
    };
    // Another runtime's transaction writes `held` at version 1 and does not end yet: the
    // store's commit of the same version waits for it.
    let mut other = raw(&db).await;
    let blocker = other.transaction().await.unwrap();
    blocker.batch_execute(&object_row("held", 1)).await.unwrap();
    let held = tokio::spawn({
        let (store, c) = (store.clone(), commit("held"));
        async move { store.commit(c).await }
    });
    waits_for_a_lock(&db).await;
    let queued: Vec<_> = (0..16)
        .map(|i| {
            let (store, c) = (store.clone(), commit(&format!("free-{i}")));
            tokio::spawn(async move { store.commit(c).await })
        })
        .collect();
    for q in queued {
        let outcome = tokio::time::timeout(std::time::Duration::from_secs(30), q)
            .await
            .expect("the queued commits waited for the held group");
        assert_eq!(outcome.unwrap().unwrap(), CommitOutcome::Committed);
    }
    blocker.rollback().await.unwrap();
    assert_eq!(held.await.unwrap().unwrap(), CommitOutcome::Committed);
    drop(store);
    db.drop_database().await.unwrap();
}

/// Waits until some statement on `db` waits for a lock.
async fn waits_for_a_lock(db: &ScratchDatabase) {
    let client = raw(db).await;
    for _ in 0..500 {
        let row = client
            .query_one("SELECT count(*) FROM pg_locks WHERE NOT granted", &[])
            .await
            .unwrap();
        if row.get::<_, i64>(0) > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no statement came to wait for the lock");
}

/// A database made by the runtime before migration 2 (leases), holding an object and a
/// pending invocation, is migrated when a newer runtime opens it: both are still there, and
/// the invocation, which has no lease yet, can be claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_previous_schema_is_migrated_with_its_data() {
    let Some(db) = scratch().await else { return };
    let store = PostgresStore::connect(db.url()).await.unwrap();
    let pending = pending(
        "inv-old",
        Target::Object("obj-old".into()),
        "resize",
        json!({"w": 10}),
    );
    let commit = Commit {
        versions: vec![version("obj-old", 1, "before")],
        invocations: vec![pending],
        ..Default::default()
    };
    assert_eq!(
        store.commit(commit).await.unwrap(),
        CommitOutcome::Committed
    );
    drop(store);
    // Back to migration 1: what a database of the previous runtime looks like (the later
    // migrations undone, newest first).
    let (client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(
            "DROP FUNCTION oaas_lock_for_commit;
             ALTER TABLE objects ALTER COLUMN state TYPE JSONB, ALTER COLUMN refs TYPE JSONB,
               ALTER COLUMN files TYPE JSONB;
             ALTER TABLE tasks ALTER COLUMN result TYPE JSONB;
             ALTER TABLE invocations ALTER COLUMN request TYPE JSONB,
               ALTER COLUMN result TYPE JSONB, ALTER COLUMN error TYPE JSONB,
               ALTER COLUMN nodes TYPE JSONB;
             DROP TABLE memos; DROP TABLE signals; DROP TABLE waits;
             DROP INDEX invocations_leases; DROP INDEX invocations_owners;
             ALTER TABLE invocations DROP COLUMN owner, DROP COLUMN lease_until;
             DELETE FROM schema_migrations WHERE version > 1;",
        )
        .await
        .unwrap();
    let store = PostgresStore::connect(db.url()).await.unwrap();
    assert_eq!(store.applied_migrations().await.unwrap(), every_migration());
    let object = store
        .object(&"obj-old".into(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(object.state["writer"], "before");
    let lease = Lease {
        owner: "new-runtime".into(),
        duration: std::time::Duration::from_secs(10),
    };
    let claimed = store.claim_expired(&lease, 10).await.unwrap();
    let ids: Vec<&str> = claimed.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["inv-old"]);
    drop((store, client));
    db.drop_database().await.unwrap();
}

/// Commits handed in together go in groups: of many at once on one version exactly one
/// wins and the others are told of the conflict; a bad one among good ones fails alone;
/// and every other commit of the burst is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_in_one_group_are_answered_each_on_its_own() {
    let Some(db) = scratch().await else { return };
    let store = Arc::new(PostgresStore::connect(db.url()).await.unwrap());
    let mut bad = (*version("bad", 1, "a")).clone();
    bad.class = "k.\u{0}C".into();
    let mut commits: Vec<Commit> = (0..40)
        .map(|i| Commit {
            task_id: Some(format!("race-{i}").as_str().into()),
            versions: vec![version("raced", 1, &format!("w{i}"))],
            ..Default::default()
        })
        .collect();
    commits.extend((0..40).map(|i| Commit {
        versions: vec![version(&format!("own-{i}"), 1, "a")],
        ..Default::default()
    }));
    commits.push(Commit {
        versions: vec![Arc::new(bad)],
        ..Default::default()
    });
    let answers = futures_util::future::join_all(commits.into_iter().map(|c| {
        let store = store.clone();
        async move { store.commit(c).await }
    }))
    .await;
    let (raced, rest) = answers.split_at(40);
    let won = raced
        .iter()
        .filter(|a| matches!(a, Ok(CommitOutcome::Committed)))
        .count();
    let lost = raced
        .iter()
        .filter(|a| matches!(a, Ok(CommitOutcome::Conflict(_))))
        .count();
    assert_eq!((won, lost), (1, 39), "{raced:?}");
    let (own, bad) = rest.split_at(40);
    assert!(
        own.iter()
            .all(|a| matches!(a, Ok(CommitOutcome::Committed))),
        "{own:?}"
    );
    assert!(matches!(bad[0], Err(StoreError::Database(_))), "{bad:?}");
    for i in 0..40 {
        let o = store
            .object(&format!("own-{i}").as_str().into(), None)
            .await
            .unwrap();
        assert_eq!(o.map(|o| o.version), Some(1), "own-{i}");
    }
    // The winner's task is the only one recorded.
    let mut tasks = 0;
    for i in 0..40 {
        let t = store
            .task_result(&format!("race-{i}").as_str().into())
            .await
            .unwrap();
        tasks += usize::from(t.is_some());
    }
    assert_eq!(tasks, 1);
    drop(store);
    db.drop_database().await.unwrap();
}

/// Commits that go in together (in one pipelined transaction per round) are each answered
/// as they would be alone: a task committed before, a version taken, a key held by another
/// invocation or by its own, a lock another runtime holds, and two commits of one task in
/// the same burst; the good commits around them are all written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_refusal_in_a_burst_is_answered_on_its_own() {
    let Some(db) = scratch().await else { return };
    let store = Arc::new(PostgresStore::connect(db.url()).await.unwrap());
    let other = PostgresStore::connect(db.url()).await.unwrap();
    let inv = |id: &str| pending(id, Target::Class("k.C".into()), "f", json!({}));
    let before = Commit {
        task_id: Some("done".into()),
        task_result: Some(json!({"r": 1})),
        versions: vec![version("pre", 1, "before")],
        invocations: vec![inv("inv-a")],
        idempotency: Some(("key-a".into(), "inv-a".into())),
        ..Default::default()
    };
    assert_eq!(
        store.commit(before).await.unwrap(),
        CommitOutcome::Committed
    );
    let held = other.lock_object(&"held".into()).await.unwrap().unwrap();
    let mut burst: Vec<Commit> = (0..30)
        .map(|i| Commit {
            versions: vec![version(&format!("good-{i}"), 1, "a")],
            ..Default::default()
        })
        .collect();
    burst.extend([
        // 30: the task committed before.
        Commit {
            task_id: Some("done".into()),
            versions: vec![version("pre2", 1, "a")],
            ..Default::default()
        },
        // 31: a version taken.
        Commit {
            task_id: Some("b".into()),
            versions: vec![version("pre", 1, "b")],
            ..Default::default()
        },
        // 32: a key another invocation holds.
        Commit {
            invocations: vec![inv("inv-c")],
            idempotency: Some(("key-a".into(), "inv-c".into())),
            ..Default::default()
        },
        // 33: the key's own invocation again.
        Commit {
            versions: vec![version("pre", 2, "a")],
            idempotency: Some(("key-a".into(), "inv-a".into())),
            ..Default::default()
        },
        // 34: a lock another runtime holds.
        Commit {
            versions: vec![version("held", 1, "a")],
            unlocked: vec!["held".into()],
            ..Default::default()
        },
    ]);
    // 35 and 36: one task twice.
    for writer in ["dup-1", "dup-2"] {
        burst.push(Commit {
            task_id: Some("dup".into()),
            task_result: Some(json!(writer)),
            versions: vec![version(writer, 1, writer)],
            ..Default::default()
        });
    }
    let answers = futures_util::future::join_all(burst.into_iter().map(|c| {
        let store = store.clone();
        async move { store.commit(c).await.unwrap() }
    }))
    .await;
    assert!(
        answers[..30].iter().all(|a| *a == CommitOutcome::Committed),
        "{answers:?}"
    );
    assert_eq!(
        answers[30],
        CommitOutcome::AlreadyCommitted(Some(json!({"r": 1})))
    );
    assert!(
        matches!(answers[31], CommitOutcome::Conflict(_)),
        "{:?}",
        answers[31]
    );
    assert_eq!(answers[32], CommitOutcome::KeyTaken("inv-a".into()));
    assert_eq!(answers[33], CommitOutcome::Committed);
    assert!(
        matches!(answers[34], CommitOutcome::Conflict(_)),
        "{:?}",
        answers[34]
    );
    let (won, lost) = match (&answers[35], &answers[36]) {
        (CommitOutcome::Committed, lost) => ("dup-1", lost),
        (lost, CommitOutcome::Committed) => ("dup-2", lost),
        other => panic!("neither commit of the task went in: {other:?}"),
    };
    assert_eq!(*lost, CommitOutcome::AlreadyCommitted(Some(json!(won))));
    // What the refused commits carried is not written; the rest is.
    for (id, newest) in [
        ("pre2", None),
        ("pre", Some(2)),
        ("held", None),
        ("good-29", Some(1)),
    ] {
        let o = store.object(&id.into(), None).await.unwrap();
        assert_eq!(o.map(|o| o.version), newest, "{id}");
    }
    assert_eq!(store.task_result(&"b".into()).await.unwrap(), None);
    assert_eq!(store.invocation(&"inv-c".into()).await.unwrap(), None);
    drop((held, store, other));
    db.drop_database().await.unwrap();
}

/// A commit that must find an object's lock free (an optimistic call's) is a conflict while
/// another runtime holds that lock, and goes in once it is let go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_needing_a_free_lock_conflicts_while_another_runtime_holds_it() {
    let Some(db) = scratch().await else { return };
    let first = PostgresStore::connect(db.url()).await.unwrap();
    let second = PostgresStore::connect(db.url()).await.unwrap();
    let commit = Commit {
        versions: vec![version("x", 1, "second")],
        unlocked: vec!["x".into()],
        ..Default::default()
    };
    let held = first.lock_object(&"x".into()).await.unwrap().unwrap();
    let r = second.commit(commit.clone()).await.unwrap();
    assert!(matches!(r, CommitOutcome::Conflict(_)), "{r:?}");
    assert_eq!(second.object(&"x".into(), None).await.unwrap(), None);
    drop(held);
    // The lock is let go by a task of its own: wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match second.commit(commit.clone()).await.unwrap() {
            CommitOutcome::Committed => break,
            other => assert!(std::time::Instant::now() < deadline, "{other:?}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop((first, second));
    db.drop_database().await.unwrap();
}

/// A finished invocation's signals and waits are deleted by the commit that records its end;
/// a pending one's stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_invocation_keeps_no_signals_nor_waits() {
    let Some(db) = scratch().await else { return };
    let store = PostgresStore::connect(db.url()).await.unwrap();
    let pending = |id: &str| pending(id, Target::Object("obj".into()), "approve", json!({}));
    let commit = |invocations| Commit {
        invocations,
        ..Default::default()
    };
    let mut first = pending("i1");
    store
        .commit(commit(vec![first.clone(), pending("i2")]))
        .await
        .unwrap();
    for id in ["i1", "i2"] {
        let id = InvocationId::from(id);
        store.put_signal(&id, "go", &json!(1), 8).await.unwrap();
        store.put_signal(&id, "later", &json!(2), 8).await.unwrap();
        let wait = WaitRequest {
            task: format!("{id}.n1").as_str().into(),
            invocation: id.clone(),
            signal: Some("go".into()),
            ms: 60_000,
        };
        store.wait(&wait).await.unwrap();
    }
    let client = raw(&db).await;
    let rows = |id: &'static str| {
        let client = &client;
        async move {
            let mut counts = Vec::new();
            for table in ["signals", "waits"] {
                let sql = format!("SELECT count(*) FROM {table} WHERE invocation_id = $1");
                let row = client.query_one(&sql, &[&id]).await.unwrap();
                counts.push(row.get::<_, i64>(0));
            }
            counts
        }
    };
    assert_eq!(rows("i1").await, vec![2, 1]);
    first.status = InvocationStatus::Succeeded;
    store.commit(commit(vec![first])).await.unwrap();
    assert_eq!(rows("i1").await, vec![0, 0]);
    assert_eq!(rows("i2").await, vec![2, 1], "a pending invocation's stay");
    drop((store, client));
    db.drop_database().await.unwrap();
}
