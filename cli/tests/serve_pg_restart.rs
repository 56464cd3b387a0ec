//! PostgreSQL itself restarted under a loaded runtime: a PostgreSQL server of this test's
//! own (initdb in a temporary folder, started with `pg_ctl` on a free port), so the
//! machine's shared server, which other tests use at the same time, is never stopped. While
//! the server is down, requests and `/healthz` answer 503; once it is back they succeed
//! again without a restart of the runtime, and no acknowledged write is lost. Skips loudly
//! where PostgreSQL's server programs are not installed (fails with
//! `OAAS_REQUIRE_POSTGRES=1`, as CI sets).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{client, deploy_fixture, get, health_becomes, post, serve};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A PostgreSQL server of the test's own, stopped when dropped.
struct PrivateServer {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    /// Run as `postgres` (PostgreSQL refuses to run as root).
    as_postgres: bool,
    _dir: tempfile::TempDir,
}

impl PrivateServer {
    /// Makes and starts one; `None` (after saying why) where PostgreSQL's server programs
    /// are missing and CI did not require them.
    fn start() -> Option<PrivateServer> {
        let Some(bin) = server_programs() else {
            let why = "PostgreSQL's server programs (initdb, pg_ctl) are not installed";
            assert!(std::env::var("OAAS_REQUIRE_POSTGRES").is_err(), "{why}");
            eprintln!("SKIPPED: {why}");
            return None;
        };
        let as_postgres = is_root();
        let dir = tempfile::tempdir().unwrap();
        if as_postgres {
            give_to_postgres(dir.path());
        }
        let data = dir.path().join("data");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = PrivateServer {
            bin,
            data,
            port,
            as_postgres,
            _dir: dir,
        };
        server.run(
            "initdb",
            &["-A", "trust", "-U", "postgres", "--no-sync", "-D"],
        );
        server.pg_ctl("start");
        Some(server)
    }

    /// Its URL for `--store`.
    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl start` or `pg_ctl stop` (fast: sessions are ended, as on a restart), waiting
    /// until it is done.
    fn pg_ctl(&self, what: &str) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''",
            self.port
        );
        let log = self.data.with_file_name("server.log");
        match what {
            "start" => self.run(
                "pg_ctl",
                &[
                    "-w",
                    "-o",
                    &options,
                    "-l",
                    log.to_str().unwrap(),
                    "start",
                    "-D",
                ],
            ),
            _ => self.run("pg_ctl", &["-w", "-m", "fast", "stop", "-D"]),
        }
    }

    /// Runs one of the server's programs with `args` and then the data folder.
    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .arg(&self.data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// One of the server's programs, run as the user that owns its data.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        match self.as_postgres {
            true => {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(program);
                c
            }
            false => Command::new(program),
        }
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-m", "immediate", "stop", "-D"])
            .arg(&self.data)
            .output();
    }
}

/// The newest installed PostgreSQL's server programs (Debian keeps them out of `PATH`).
fn server_programs() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
    });
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Hands a folder to the `postgres` user, whose server then keeps its data in it.
fn give_to_postgres(dir: &Path) {
    let out = Command::new("chown")
        .args(["postgres:postgres"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What the load saw.
#[derive(Default)]
struct Seen {
    acknowledged: u64,
    unavailable: u64,
    other: Vec<String>,
}

/// Increments by 1 through `url` until `stop`, counting the answers.
async fn load(url: String, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) {
    let client = client();
    while !stop.load(Ordering::Relaxed) {
        let (status, body) = post(&client, url.clone(), json!({"by": 1})).await;
        let mut seen = seen.lock().unwrap();
        match (status, body["error"]["code"].as_str()) {
            (200, _) => seen.acknowledged += 1,
            (503, Some("unavailable")) => seen.unavailable += 1,
            _ => seen.other.push(format!("{status} {body}")),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_restarted_under_load_gives_503s_then_serves_with_no_acknowledged_write_lost() {
    let Some(pg) = PrivateServer::start() else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let (mut server, base) = serve(data.path(), Some(&pg.url()));
    let client = client();
    deploy_fixture(&client, &base).await;
    let objects = format!("{base}/api/classes/testpkg.Counter/objects");
    let (status, created) = post(&client, objects, json!({"count": 0})).await;
    assert_eq!(status, 201, "{created}");
    let id = created["result"]["id"].as_str().unwrap().to_string();
    let increment = format!("{base}/api/objects/{id}/invoke/increment");

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let loads: Vec<_> = (0..4)
        .map(|_| tokio::spawn(load(increment.clone(), stop.clone(), seen.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    pg.pg_ctl("stop");
    health_becomes(&base, 503).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let down = seen.lock().unwrap().unavailable;
    pg.pg_ctl("start");
    health_becomes(&base, 200).await;
    let acknowledged_before_back = seen.lock().unwrap().acknowledged;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for l in loads {
        l.await.unwrap();
    }

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        seen.other.is_empty(),
        "answers other than 200 or 503: {:?}",
        seen.other
    );
    assert!(
        down > 0,
        "no request was answered 503 while PostgreSQL was down"
    );
    assert!(
        seen.acknowledged > acknowledged_before_back,
        "no request succeeded after PostgreSQL came back"
    );
    let (_, object) = get(&client, format!("{base}/api/objects/{id}")).await;
    let count = object["state"]["count"].as_u64().unwrap();
    // Every acknowledged increment is there; one that failed may have committed as its
    // connection broke, never more than were sent.
    assert!(
        count >= seen.acknowledged && count <= seen.acknowledged + seen.unavailable,
        "count {count}, acknowledged {}, answered 503 {}",
        seen.acknowledged,
        seen.unavailable
    );
    server.kill().unwrap();
    server.wait().unwrap();
}
