//! `oaasc serve --store postgres://...`: the runtime on a PostgreSQL database, which then
//! holds what a restart with an empty data folder still finds. Each test uses a fresh
//! database on `$OAAS_TEST_POSTGRES` and skips loudly when no server is reachable (fails
//! with `OAAS_REQUIRE_POSTGRES=1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use oaas_runtime::store::postgres::ScratchDatabase;
mod common;

use common::{client, counts, deploy_fixture, fixture, health_becomes, post, serve, TOKEN};
use serde_json::{json, Value};
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_postgres_deploys_creates_and_invokes_and_keeps_it_all_there() {
    let Some(db) = ScratchDatabase::create()
        .await
        .expect("PostgreSQL required")
    else {
        return;
    };
    let first_data = tempfile::tempdir().unwrap();
    let (mut server, base) = serve(first_data.path(), Some(db.url()));
    let client = client();
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    deploy_fixture(&client, &base).await;
    let (status, created) = post(
        &client,
        format!("{base}/api/classes/testpkg.Counter/objects"),
        json!({"count": 40}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["result"]["id"].as_str().unwrap().to_string();
    let increment = format!("{base}/api/objects/{id}/invoke/increment");
    let (status, r) = post(&client, increment.clone(), json!({"by": 2})).await;
    assert_eq!((status, r["result"].as_i64()), (200, Some(42)), "{r}");
    // A second server on the same database serves it too, while the first runs.
    let other_data = tempfile::tempdir().unwrap();
    let (mut other, other_base) = serve(other_data.path(), Some(db.url()));
    let seen: Value = client
        .get(format!("{other_base}/api/objects/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["state"]["count"], 42, "{seen}");
    other.kill().unwrap();
    other.wait().unwrap();
    server.kill().unwrap();
    server.wait().unwrap();

    // Another server on the same database with an empty data folder, once the first is
    // gone: the package, the object and its versions are in PostgreSQL.
    let second_data = tempfile::tempdir().unwrap();
    let (mut server, base) = serve(second_data.path(), Some(db.url()));
    let increment = format!("{base}/api/objects/{id}/invoke/increment");
    let (status, r) = post(&client, increment, json!({"by": 1})).await;
    assert_eq!((status, r["result"].as_i64()), (200, Some(43)), "{r}");
    let counts = counts(&client, &base, &id).await;
    assert_eq!(counts, vec![40, 42, 43]);
    server.kill().unwrap();
    server.wait().unwrap();
    db.drop_database().await.unwrap();
}

#[test]
fn an_unreachable_or_malformed_store_is_a_usage_error() {
    let data = tempfile::tempdir().unwrap();
    for (url, said) in [
        ("postgres://postgres@127.0.0.1:1/db", "127.0.0.1:1/db"),
        (
            "postgres://postgres@127.0.0.1:nope/db",
            "malformed PostgreSQL URL",
        ),
        ("mysql://x", "not a store"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_oaasc"))
            .args(["serve", "--data", data.path().to_str().unwrap()])
            .args(["--listen", "127.0.0.1:0", "--store", url])
            .env("OAAS_TOKEN", TOKEN)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains(said), "{url}: {stderr}");
        assert!(!stderr.contains("panicked"), "{url}: {stderr}");
    }
}

/// Runs SQL as the test server's admin (`psql` on the scratch database's server).
fn admin_sql(db: &ScratchDatabase, sql: &str) {
    let (server, _) = db.url().rsplit_once('/').unwrap();
    let out = Command::new("psql")
        .args([
            &format!("{server}/postgres"),
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            sql,
        ])
        .output()
        .expect("psql, PostgreSQL's client, is needed by this test");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "psql {sql}: {stderr}");
}

/// The database goes away under a running runtime (its connections ended, new ones
/// refused, as while PostgreSQL restarts): `/healthz` and requests answer 503, and once the
/// database is back the runtime serves again by itself, with every acknowledged write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_gives_503_and_the_runtime_recovers_by_itself() {
    let Some(db) = ScratchDatabase::create()
        .await
        .expect("PostgreSQL required")
    else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let (mut server, base) = serve(data.path(), Some(db.url()));
    let client = client();
    let source = std::fs::read_to_string(fixture().join("testpkg.oaas")).unwrap();
    let sources = json!({"sources": {"testpkg.oaas": source}, "workdir": fixture()});
    assert_eq!(
        post(&client, format!("{base}/api/packages"), sources)
            .await
            .0,
        201
    );
    let objects = format!("{base}/api/classes/testpkg.Counter/objects");
    let (_, created) = post(&client, objects, json!({"count": 0})).await;
    let id = created["result"]["id"].as_str().unwrap().to_string();
    let increment = format!("{base}/api/objects/{id}/invoke/increment");
    for _ in 0..5 {
        let (status, r) = post(&client, increment.clone(), json!({"by": 1})).await;
        assert_eq!(status, 200, "{r}");
    }
    let health = health_becomes(&base, 200).await;
    assert_eq!(health["store"]["ok"], true, "{health}");

    let name = db.name().to_string();
    admin_sql(
        &db,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
    );
    admin_sql(
        &db,
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"),
    );
    let health = health_becomes(&base, 503).await;
    assert_eq!(health["store"]["ok"], false, "{health}");
    let (status, r) = post(&client, increment.clone(), json!({"by": 1})).await;
    assert_eq!(
        (status, r["error"]["code"].as_str()),
        (503, Some("unavailable")),
        "{r}"
    );

    admin_sql(
        &db,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"),
    );
    health_becomes(&base, 200).await;
    let (status, r) = post(&client, increment, json!({"by": 1})).await;
    assert_eq!((status, r["result"].as_i64()), (200, Some(6)), "{r}");
    server.kill().unwrap();
    server.wait().unwrap();
}
