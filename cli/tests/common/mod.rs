//! What the tests that start `oaasc serve` share: the admin token, a client that sends it,
//! the fixture package, starting a server, and JSON requests that give status and body.
#![allow(dead_code)] // each test file uses its part

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The admin token the servers of these tests are started with.
pub const TOKEN: &str = "cli-test-admin-token";

/// The lease length the servers of these tests hold invocations for: short, so that a
/// server restarted on PostgreSQL (a new replica) takes over its predecessor's soon.
pub const LEASE_SECONDS: u64 = 2;

/// A client that sends the admin token (and gives up on an answer after 60 s).
pub fn client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {TOKEN}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// The runtime's test package: a counter with a Python container.
pub fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../runtime/tests/fixtures/testpkg")
}

/// Starts `oaasc serve` on a port the system picks, and returns it with its URL once it
/// listens. (A port picked beforehand could be taken by a parallel test's server in between,
/// whose kill would then reset this test's connections.) `store`: a PostgreSQL URL, or
/// `None` for the SQLite file in `data`.
pub fn serve(data: &Path, store: Option<&str>) -> (Child, String) {
    let mut cmd = serve_command(data);
    cmd.args(store.map(|url| ["--store", url]).into_iter().flatten());
    start(cmd)
}

/// `oaasc serve` on a port the system picks, with its data in `data`, in the fixture's
/// folder, with the admin token: add arguments, then [`start`] it.
pub fn serve_command(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oaasc"));
    cmd.args(["serve", "--data", data.to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0"])
        .args(["--lease-seconds", &LEASE_SECONDS.to_string()])
        .current_dir(fixture())
        .env("OAAS_TOKEN", TOKEN)
        .env_remove("OAAS_STORE");
    cmd
}

/// Starts a server command; returns it with its URL once it listens.
pub fn start(mut cmd: Command) -> (Child, String) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("oaasc serve ended before it listened")
            .unwrap();
        if let Some(rest) = line.strip_prefix("oaas runtime listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Keep reading its log, so that the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, url)
}

/// POSTs `body` as JSON; the status and the JSON answer (null when it is not JSON).
pub async fn post(client: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let r = client.post(url).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// GETs `url`; the status and the JSON answer (null when it is not JSON).
pub async fn get(client: &reqwest::Client, url: String) -> (u16, Value) {
    let r = client.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The `count` of every version of the counter `id`, oldest first, as `base` answers.
pub async fn counts(client: &reqwest::Client, base: &str, id: &str) -> Vec<i64> {
    let (status, history) = get(client, format!("{base}/api/objects/{id}/versions")).await;
    assert_eq!(status, 200, "{history}");
    history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["state"]["count"].as_i64().unwrap())
        .collect()
}

/// `oaasc ARGS` against the runtime at `base` with the admin token: exit code, stdout,
/// stderr.
pub fn oaasc_at(base: &str, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oaasc"))
        .args(args)
        .args(["--cluster", base, "--token", TOKEN])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Deploys the test package ([`fixture`]) through `base`.
pub async fn deploy_fixture(client: &reqwest::Client, base: &str) {
    let source = std::fs::read_to_string(fixture().join("testpkg.oaas")).unwrap();
    let body = serde_json::json!({"sources": {"testpkg.oaas": source}, "workdir": fixture()});
    let (status, r) = post(client, format!("{base}/api/packages"), body).await;
    assert_eq!(status, 201, "{r}");
}

/// Polls `/healthz` until it answers `status`; the last answer.
pub async fn health_becomes(base: &str, status: u16) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = reqwest::get(format!("{base}/healthz")).await.unwrap();
        let got = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        if got == status || std::time::Instant::now() > deadline {
            assert_eq!(got, status, "{body}");
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// An `oaasc serve` with a data folder of its own, killed when dropped.
pub struct Server {
    /// The process.
    pub child: Child,
    /// Its URL.
    pub url: String,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `oaasc serve` on a fresh data folder (and `store`, as [`serve`] takes it).
pub fn server(store: Option<&str>) -> Server {
    let data = tempfile::tempdir().unwrap();
    let (child, url) = serve(data.path(), store);
    Server {
        child,
        url,
        _data: data,
    }
}
