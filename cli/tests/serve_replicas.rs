//! Several `oaasc serve --store postgres://...` on one database form one runtime: three
//! real processes, each with its own data folder and `@local` containers, the same admin
//! token, and clients spread across them. Each test uses a fresh database on
//! `$OAAS_TEST_POSTGRES` and skips loudly when no server is reachable (fails with
//! `OAAS_REQUIRE_POSTGRES=1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use oaas_runtime::store::postgres::ScratchDatabase;
mod common;

use common::{client, deploy_fixture, fixture, get, post, serve_command, start};
use serde_json::{json, Value};
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The tests of this file take turns: three replicas open up to 33 PostgreSQL connections
/// each, and a server takes 100 by default, so two tests at once could run out.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A fresh database, or `None` when no PostgreSQL is reachable (the test then skips; it
/// fails instead with `OAAS_REQUIRE_POSTGRES=1`).
async fn scratch() -> Option<ScratchDatabase> {
    ScratchDatabase::create()
        .await
        .expect("PostgreSQL required")
}

/// One `oaasc serve` replica, killed when dropped.
struct Replica {
    child: Child,
    url: String,
    _data: tempfile::TempDir,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `oaasc serve --store URL` with a data folder of its own, on a port the system
/// picks, with 5 connections to the database (about 16 shared by three, as docs/cluster.md
/// advises).
fn replica(store: &str) -> Replica {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = serve_command(data.path());
    cmd.args(["--store", store, "--store-connections", "5"]);
    let (child, url) = start(cmd);
    Replica {
        child,
        url,
        _data: data,
    }
}

/// Three replicas on the database at `store`.
fn three(store: &str) -> Vec<Replica> {
    (0..3).map(|_| replica(store)).collect()
}

/// Three replicas on `store` with the test package deployed through the first and known by
/// each (one counter made through each as a check); their URLs.
async fn three_with_package(store: &str, client: &reqwest::Client) -> (Vec<Replica>, Vec<String>) {
    let replicas = three(store);
    let bases: Vec<String> = replicas.iter().map(|r| r.url.clone()).collect();
    deploy_fixture(client, &bases[0]).await;
    for base in &bases {
        create_when_known(client, base, 0).await;
    }
    (replicas, bases)
}

/// Makes a counter through `base` as soon as that replica knows the class; how long it
/// took to know it.
async fn create_when_known(client: &reqwest::Client, base: &str, count: i64) -> (String, Duration) {
    let started = Instant::now();
    loop {
        let url = format!("{base}/api/classes/testpkg.Counter/objects");
        let (status, r) = post(client, url, json!({"count": count})).await;
        match status {
            201 => {
                let id = r["result"]["id"].as_str().unwrap().to_string();
                return (id, started.elapsed());
            }
            404 if started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            _ => panic!("{status}: {r}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_and_writes_through_one_replica_are_seen_by_the_others_at_once() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(db) = scratch().await else {
        return;
    };
    let replicas = three(db.url());
    let client = client();
    let base = |i: usize| replicas[i % 3].url.clone();
    deploy_fixture(&client, &base(0)).await;
    // Callable through B at once after the deploy through A: B reads the packages again
    // when it does not know the class yet.
    let url = format!("{}/api/classes/testpkg.Counter/objects", base(1));
    let (status, r) = post(&client, url, json!({"count": 0})).await;
    assert_eq!(status, 201, "{r}");
    let id = r["result"]["id"].as_str().unwrap().to_string();
    // Each write through one replica is read at its version through the other two at once.
    for i in 0..12usize {
        let url = format!("{}/api/objects/{id}/invoke/increment", base(i));
        let (status, r) = post(&client, url, json!({"by": 1})).await;
        assert_eq!(
            (status, r["result"].as_u64()),
            (200, Some(i as u64 + 1)),
            "{r}"
        );
        for other in [i + 1, i + 2] {
            let (status, seen) = get(&client, format!("{}/api/objects/{id}", base(other))).await;
            assert_eq!(status, 200, "{seen}");
            assert_eq!(
                seen["version"],
                i as u64 + 2,
                "through replica {}: {seen}",
                other % 3
            );
            assert_eq!(seen["state"]["count"], i as u64 + 1, "{seen}");
        }
    }
    // An object of a new package version, made through A the moment it is deployed there,
    // reads through C at once.
    let source = std::fs::read_to_string(fixture().join("testpkg.oaas")).unwrap();
    let source = format!("{source}\nclass Extra {{\n  public state n: int = 0\n}}\n");
    let body = json!({"sources": {"testpkg.oaas": source}, "workdir": fixture()});
    let (status, r) = post(&client, format!("{}/api/packages", base(0)), body).await;
    assert_eq!(status, 201, "{r}");
    let url = format!("{}/api/classes/testpkg.Extra/objects", base(0));
    let (status, r) = post(&client, url, json!({"n": 5})).await;
    assert_eq!(status, 201, "{r}");
    let extra = r["result"]["id"].as_str().unwrap();
    let (status, seen) = get(&client, format!("{}/api/objects/{extra}", base(2))).await;
    assert_eq!((status, &seen["state"]["n"]), (200, &json!(5)), "{seen}");
    drop(replicas);
    db.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_hundred_concurrent_increments_through_three_replicas_add_exactly_six_hundred() {
    let _turn = ONE_AT_A_TIME.lock().await;
    const CALLS: usize = 600;
    const AT_ONCE: usize = 64;
    let Some(db) = scratch().await else {
        return;
    };
    let client = client();
    let (replicas, bases) = three_with_package(db.url(), &client).await;
    let (id, _) = create_when_known(&client, &bases[1], 0).await;
    let calls = (0..CALLS)
        .map(|i| {
            let url = format!("{}/api/objects/{id}/invoke/increment", bases[i % 3]);
            (url, json!({"by": 1}))
        })
        .collect();
    let started = Instant::now();
    let mut results = Vec::new();
    for (status, r) in post_all(&client, calls, AT_ONCE).await {
        assert_eq!(status, 200, "{r}");
        results.push(r["result"].as_u64().unwrap());
    }
    let took = started.elapsed();
    eprintln!(
        "{CALLS} increments, {AT_ONCE} at a time through 3 replicas: {took:?} ({:.0} calls/s)",
        CALLS as f64 / took.as_secs_f64()
    );
    // Each call saw its own state: the answers are 1..=600, each once.
    results.sort_unstable();
    assert_eq!(results, (1..=CALLS as u64).collect::<Vec<_>>());
    // Every replica reads the end at once, and the history is one unbroken order.
    for base in &bases {
        let (_, seen) = get(&client, format!("{base}/api/objects/{id}")).await;
        assert_eq!(seen["state"]["count"], CALLS as u64, "{seen}");
        assert_eq!(seen["version"], CALLS as u64 + 1, "{seen}");
    }
    let (_, history) = get(&client, format!("{}/api/objects/{id}/versions", bases[2])).await;
    let counts: Vec<u64> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["state"]["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, (0..=CALLS as u64).collect::<Vec<_>>());
    drop(replicas);
    db.drop_database().await.unwrap();
}

/// An `@memo` function's result recorded through one replica answers through the others,
/// and the same call sent through all three at once runs its container once: the key's
/// turn and its record are PostgreSQL's, not a replica's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memo_result_is_shared_by_the_replicas_and_identical_calls_at_once_run_once() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(db) = scratch().await else {
        return;
    };
    let client = client();
    let (replicas, bases) = three_with_package(db.url(), &client).await;
    let (id, _) = create_when_known(&client, &bases[0], 0).await;
    let stamp = |base: &String, salt: &str| {
        let url = format!("{base}/api/objects/{id}/invoke/stamp");
        (url, json!({ "salt": salt }))
    };
    // One call, then the same through each replica: one container run in all.
    let first = post_all(&client, vec![stamp(&bases[0], "a")], 1).await;
    let again = post_all(&client, bases.iter().map(|b| stamp(b, "a")).collect(), 3).await;
    let answers: Vec<&Value> = first
        .iter()
        .chain(&again)
        .map(|(_, r)| &r["result"])
        .collect();
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    // A new salt sent through all three at once: they wait for one run and share it.
    let at_once = post_all(&client, bases.iter().map(|b| stamp(b, "b")).collect(), 3).await;
    let answers: Vec<&Value> = at_once.iter().map(|(_, r)| &r["result"]).collect();
    assert!(
        answers[0].as_str().unwrap().starts_with("b-"),
        "{answers:?}"
    );
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    // Asking for a fresh call runs the container again.
    let (status, fresh) = client
        .post(format!("{}/api/objects/{id}/invoke/stamp", bases[2]))
        .header("Cache-Control", "no-cache")
        .json(&json!({"salt": "b"}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    let fresh: Value = fresh.json().await.unwrap();
    assert_eq!(status, 200, "{fresh}");
    assert_ne!(&fresh["result"], answers[0]);
    drop(replicas);
    db.drop_database().await.unwrap();
}

/// The status of `GET /api/packages` through `base` with `token`.
async fn packages_status(base: &str, token: &str) -> u16 {
    let r = reqwest::Client::new()
        .get(format!("{base}/api/packages"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

/// Waits until `GET /api/packages` through `base` with `token` answers `status`; how long
/// that took.
async fn until_status(base: &str, token: &str, status: u16) -> Duration {
    let started = Instant::now();
    while packages_status(base, token).await != status {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never {status}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_minted_or_revoked_through_one_replica_holds_on_all_within_a_second() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(db) = scratch().await else {
        return;
    };
    let replicas = three(db.url());
    let client = client();
    let url = format!("{}/api/tokens", replicas[0].url);
    let (status, minted) = post(&client, url, json!({"role": "read"})).await;
    assert_eq!(status, 201, "{minted}");
    let (id, token) = (
        minted["id"].as_str().unwrap(),
        minted["token"].as_str().unwrap(),
    );
    for r in &replicas[1..] {
        let waited = until_status(&r.url, token, 200).await;
        assert!(waited < Duration::from_secs(1), "{waited:?}");
    }
    let revoked = client
        .delete(format!("{}/api/tokens/{id}", replicas[0].url))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status().as_u16(), 204);
    for r in &replicas {
        let waited = until_status(&r.url, token, 401).await;
        eprintln!("a revoked token was refused after {waited:?}");
        assert!(waited < Duration::from_secs(1), "{waited:?}");
    }
    drop(replicas);
    db.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_idempotency_key_sent_through_three_replicas_at_once_runs_once() {
    let _turn = ONE_AT_A_TIME.lock().await;
    const KEYS: u64 = 30;
    let Some(db) = scratch().await else {
        return;
    };
    let client = client();
    let (replicas, bases) = three_with_package(db.url(), &client).await;
    let (id, _) = create_when_known(&client, &bases[0], 0).await;
    let send = |base: &String, key: u64| {
        let request = client
            .post(format!("{base}/api/objects/{id}/invoke/increment"))
            .header("Idempotency-Key", format!("key-{key}"))
            .json(&json!({"by": 1}));
        async move {
            let r = request.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for key in 0..KEYS {
        let answers = futures_join(bases.iter().map(|b| send(b, key))).await;
        for (status, r) in &answers {
            // The first claim runs; the others replay it, or hear it is still running.
            assert!(*status == 200 || *status == 409, "{status}: {r}");
        }
        assert!(answers.iter().any(|(s, _)| *s == 200), "{answers:?}");
    }
    // Each key ran exactly once, and asking again through any replica gives its result.
    let (_, seen) = get(&client, format!("{}/api/objects/{id}", bases[1])).await;
    assert_eq!(seen["state"]["count"], KEYS, "{seen}");
    assert_eq!(seen["version"], KEYS + 1, "{seen}");
    let mut results = Vec::new();
    for key in 0..KEYS {
        let (status, r) = send(&bases[(key % 3) as usize], key).await;
        assert_eq!(status, 200, "{r}");
        results.push(r["result"].as_u64().unwrap());
    }
    results.sort_unstable();
    assert_eq!(results, (1..=KEYS).collect::<Vec<_>>());
    drop(replicas);
    db.drop_database().await.unwrap();
}

/// Runs futures at once; their outputs in order.
async fn futures_join<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Runs `calls` (each a POST of `body` to a URL) `at_once` at a time; the answers, in the
/// order of the calls.
async fn post_all(
    client: &reqwest::Client,
    calls: Vec<(String, Value)>,
    at_once: usize,
) -> Vec<(u16, Value)> {
    let gate = Arc::new(tokio::sync::Semaphore::new(at_once));
    let mut running = tokio::task::JoinSet::new();
    for (n, (url, body)) in calls.into_iter().enumerate() {
        let permit = gate.clone().acquire_owned().await.unwrap();
        let client = client.clone();
        running.spawn(async move {
            let answer = post(&client, url, body).await;
            drop(permit);
            (n, answer)
        });
    }
    let mut answers = Vec::new();
    while let Some(joined) = running.join_next().await {
        answers.push(joined.unwrap());
    }
    answers.sort_by_key(|(n, _)| *n);
    answers.into_iter().map(|(_, answer)| answer).collect()
}

/// 1,000 objects, each created through one replica and incremented through the other two,
/// all at once: every object ends at exactly +2, read through any replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_objects_updated_through_three_replicas_at_once_lose_nothing() {
    let _turn = ONE_AT_A_TIME.lock().await;
    const OBJECTS: usize = 1000;
    let Some(db) = scratch().await else {
        return;
    };
    let client = client();
    let (replicas, bases) = three_with_package(db.url(), &client).await;
    let creates = (0..OBJECTS)
        .map(|i| {
            let url = format!("{}/api/classes/testpkg.Counter/objects", bases[i % 3]);
            (url, json!({"count": i}))
        })
        .collect();
    let ids: Vec<(String, u64)> = post_all(&client, creates, 64)
        .await
        .into_iter()
        .map(|(status, r)| {
            assert_eq!(status, 201, "{r}");
            let id = r["result"]["id"].as_str().unwrap().to_string();
            (id, r["result"]["state"]["count"].as_u64().unwrap())
        })
        .collect();
    let increments = (0..2 * OBJECTS)
        .map(|n| {
            // Object i was made through replica i % 3; its increments go to the other two.
            let (id, _) = &ids[n % OBJECTS];
            let base = &bases[(n % OBJECTS + 1 + n / OBJECTS) % 3];
            (
                format!("{base}/api/objects/{id}/invoke/increment"),
                json!({"by": 1}),
            )
        })
        .collect();
    let started = Instant::now();
    for (status, r) in post_all(&client, increments, 64).await {
        assert_eq!(status, 200, "{r}");
    }
    eprintln!(
        "{} increments of {OBJECTS} objects: {:?}",
        2 * OBJECTS,
        started.elapsed()
    );
    for (n, (id, first)) in ids.iter().enumerate() {
        let (_, seen) = get(&client, format!("{}/api/objects/{id}", bases[n % 3])).await;
        assert_eq!(seen["state"]["count"], first + 2, "{seen}");
        assert_eq!(seen["version"], 3, "{seen}");
    }
    drop(replicas);
    db.drop_database().await.unwrap();
}

/// The status of each invocation, as `base` answers.
async fn statuses(client: &reqwest::Client, base: &str, ids: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(ids.len());
    for inv in ids {
        let (status, v) = get(client, format!("{base}/api/invocations/{inv}")).await;
        assert_eq!(status, 200, "{v}");
        if v["status"] == "succeeded" {
            assert_eq!(v["result"]["state"]["value"], 3, "{v}");
        }
        assert_ne!(v["status"], "failed", "{v}");
        out.push(v["status"].as_str().unwrap_or_default().to_string());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_replica_takes_over_the_macros_of_one_killed_mid_way_each_output_once() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(db) = scratch().await else {
        return;
    };
    let (mut a, b) = (replica(db.url()), replica(db.url()));
    let client = client();
    let flow = fixture().join("../flow");
    let source = std::fs::read_to_string(flow.join("flow.oaas")).unwrap();
    let body = json!({"sources": {"flow.oaas": source}, "workdir": flow});
    let (status, r) = post(&client, format!("{}/api/packages", a.url), body).await;
    assert_eq!(status, 201, "{r}");
    let url = format!("{}/api/classes/flow.Num/objects", a.url);
    let (status, r) = post(&client, url, json!({"value": 0})).await;
    assert_eq!(status, 201, "{r}");
    let id = r["result"]["id"].as_str().unwrap().to_string();
    // 100 macros of three slow steps, accepted by A, which dies while they run.
    let mut invocations = Vec::new();
    for _ in 0..100 {
        let url = format!("{}/api/objects/{id}/invoke/slow_chain?async=true", a.url);
        let (status, r) = post(&client, url, json!({"ms": 500})).await;
        assert_eq!(status, 202, "{r}");
        invocations.push(r["invocation_id"].as_str().unwrap().to_string());
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let killed = Instant::now();
    let left = statuses(&client, &b.url, &invocations).await;
    let unfinished = left.iter().filter(|s| *s == "pending").count();
    assert!(unfinished > 0, "every macro finished before the kill");
    // B, running all along, claims them once A's leases expire, and finishes each.
    let limit = Duration::from_secs(common::LEASE_SECONDS + 8);
    loop {
        let now = statuses(&client, &b.url, &invocations).await;
        if now.iter().all(|s| s == "succeeded") {
            break;
        }
        assert!(
            killed.elapsed() < limit,
            "{} of {unfinished} not finished through B {:?} after the kill",
            now.iter().filter(|s| *s != "succeeded").count(),
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "{unfinished} of 100 macros unfinished at the kill; all done through B {:?} after it",
        killed.elapsed()
    );
    // Every node's output object exists exactly once: the input, and three per macro.
    let url = format!("{}/api/classes/flow.Num/objects?limit=1000", b.url);
    let (status, list) = get(&client, url).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), 1 + 3 * 100);
    drop((a, b));
    db.drop_database().await.unwrap();
}
