//! The Rust SDK over real HTTP: the record example and a test container with files, served
//! on ephemeral ports, called with protocol documents, with a blob server for signed URLs.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use oaas_sdk::{json, Ctx, FnError, Functions, Reply, Value};

#[allow(dead_code)]
#[path = "../examples/record.rs"]
mod record;

// ---- a blob store with signed URLs, as the runtime serves them ---------------------------

/// Blobs in memory behind `/blobs/{key}?method=GET&sig=good`; another signature or method
/// answers 403. `POST /alloc/{task}?sig=good` allocates one output, like `allocate_url`.
#[derive(Clone, Default)]
struct Blobs {
    inner: Arc<Mutex<BlobsInner>>,
    port: u16,
}

#[derive(Default)]
struct BlobsInner {
    blobs: HashMap<String, (Bytes, String)>,
    allocated: usize,
}

impl Blobs {
    async fn start() -> Blobs {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let blobs = Blobs {
            port: listener.local_addr().unwrap().port(),
            ..Blobs::default()
        };
        let app = Router::new()
            .route("/blobs/{*key}", get(blob_get).put(blob_put))
            .route("/alloc/{task}", post(alloc))
            .with_state(blobs.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        blobs
    }

    fn url(&self, method: &str, key: &str) -> String {
        format!(
            "http://127.0.0.1:{}/blobs/{key}?method={method}&exp=9999999999&sig=good",
            self.port
        )
    }

    fn allocate_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/alloc/t?exp=9999999999&sig=good",
            self.port
        )
    }

    fn put(&self, key: &str, data: &[u8]) {
        self.inner.lock().unwrap().blobs.insert(
            key.to_string(),
            (Bytes::copy_from_slice(data), String::new()),
        );
    }

    fn get(&self, key: &str) -> Option<(Bytes, String)> {
        self.inner.lock().unwrap().blobs.get(key).cloned()
    }

    fn allocated(&self) -> usize {
        self.inner.lock().unwrap().allocated
    }
}

fn signed(q: &HashMap<String, String>, method: &str) -> bool {
    q.get("sig").map(String::as_str) == Some("good")
        && q.get("method").map(String::as_str) == Some(method)
}

async fn blob_get(
    State(b): State<Blobs>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, Bytes) {
    if !signed(&q, "GET") {
        return (StatusCode::FORBIDDEN, Bytes::from_static(b"bad signature"));
    }
    match b.get(&key) {
        Some((data, _)) => (StatusCode::OK, data),
        None => (StatusCode::NOT_FOUND, Bytes::from_static(b"no blob")),
    }
}

async fn blob_put(
    State(b): State<Blobs>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if !signed(&q, "PUT") {
        return StatusCode::FORBIDDEN;
    }
    let ctype = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    b.inner.lock().unwrap().blobs.insert(key, (body, ctype));
    StatusCode::OK
}

async fn alloc(
    State(b): State<Blobs>,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, String) {
    if q.get("sig").map(String::as_str) != Some("good") {
        return (StatusCode::FORBIDDEN, String::new());
    }
    let n = {
        let mut inner = b.inner.lock().unwrap();
        inner.allocated += 1;
        inner.allocated - 1
    };
    let id = format!("alloc-{n}");
    let body = json!({"id": id, "upload": {"body": b.url("PUT", &format!("objects/{id}/body"))}});
    (StatusCode::OK, body.to_string())
}

// ---- containers --------------------------------------------------------------------------

async fn start(functions: Functions) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { functions.serve(listener).await.unwrap() });
    addr
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn call(client: &reqwest::Client, addr: SocketAddr, task: &Value) -> (u16, Value) {
    let mut req = client
        .post(format!("http://{addr}/"))
        .header("content-type", "application/json")
        .header("ce-specversion", "1.0")
        .header("ce-type", "dev.oaas.task.v1");
    if let Some(id) = task["task_id"].as_str() {
        req = req.header("ce-id", id);
    }
    let resp = req.body(task.to_string()).send().await.unwrap();
    let status = resp.status().as_u16();
    assert_eq!(resp.headers()["content-type"], "application/json");
    (status, resp.json().await.unwrap())
}

fn task(class: &str, function: &str, args: Value, object: Value) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    json!({
        "protocol": "oaas-task/1",
        "task_id": "01JD6T0000000000000000000B.n0",
        "invocation_id": "01JD6T0000000000000000000B",
        "package": class.split('.').next().unwrap(),
        "class": class,
        "function": function,
        "args": args,
        "self": object,
        "output": null,
        "outputs": null,
        "deadline_ms": now + 30_000,
    })
}

fn object(id: &str, class: &str, state: Value) -> Value {
    json!({"id": id, "class": class, "version": 1, "state": state, "refs": {}, "files": {}, "upload": {}})
}

// ---- examples/record.rs ------------------------------------------------------------------

#[tokio::test]
async fn record_protocol_md_exchange() {
    let addr = start(record::functions()).await;
    // The complete exchange of docs/protocol.md.
    let doc = json!({"protocol":"oaas-task/1","task_id":"01JD6T0000000000000000000A.n0","invocation_id":"01JD6T0000000000000000000A",
        "package":"record","class":"record.Record","function":"increment","args":{"by":1},
        "self":{"id":"0193a1c2-0000-7000-8000-000000000001","class":"record.Record","version":7,
                "state":{"data":{},"count":41},"refs":{},"files":{},"upload":{}},
        "output":null,"outputs":null,"deadline_ms":1764170400000u64});
    assert_eq!(
        call(&client(), addr, &doc).await,
        (200, json!({"state": {"count": 42}, "value": 42}))
    );
}

#[tokio::test]
async fn record_put_increment_read() {
    let addr = start(record::functions()).await;
    let c = client();
    let t = task(
        "record.Record",
        "put",
        json!({"key": "k1", "value": "v1"}),
        object(
            "o1",
            "record.Record",
            json!({"data": {"a": "b"}, "count": 3}),
        ),
    );
    assert_eq!(
        call(&c, addr, &t).await,
        (200, json!({"state": {"data": {"a": "b", "k1": "v1"}}}))
    );
    // No data yet.
    let t = task(
        "record.Record",
        "put",
        json!({"key": "k", "value": "v"}),
        object("o2", "record.Record", json!({})),
    );
    assert_eq!(
        call(&c, addr, &t).await,
        (200, json!({"state": {"data": {"k": "v"}}}))
    );
    // `by` missing: the default applies.
    let t = task(
        "record.Record",
        "increment",
        json!({}),
        object("o3", "record.Record", json!({"count": 1})),
    );
    assert_eq!(
        call(&c, addr, &t).await,
        (200, json!({"state": {"count": 2}, "value": 2}))
    );
    let t = task(
        "record.Record",
        "read_count",
        json!({}),
        object("o3", "record.Record", json!({"count": 9})),
    );
    assert_eq!(call(&c, addr, &t).await, (200, json!({"value": 9})));
}

#[tokio::test]
async fn record_errors() {
    let addr = start(record::functions()).await;
    let c = client();
    let t = task(
        "record.Record",
        "put",
        json!({"key": "k"}),
        object("o", "record.Record", json!({})),
    );
    assert_eq!(
        call(&c, addr, &t).await,
        (
            422,
            json!({"error": {"message": "missing argument `value`", "retryable": false}})
        )
    );
    let t = task(
        "record.Record",
        "put",
        json!({"value": "v"}),
        object("o", "record.Record", json!({})),
    );
    assert_eq!(
        call(&c, addr, &t).await,
        (
            422,
            json!({"error": {"message": "missing argument `key`", "retryable": false}})
        )
    );
    let t = task(
        "record.Record",
        "increment",
        json!({"by": "two"}),
        object("o", "record.Record", json!({})),
    );
    let (status, body) = call(&c, addr, &t).await;
    assert_eq!(status, 422);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("argument `by`"),
        "{body}"
    );
    let t = task(
        "record.Record",
        "nope",
        json!({}),
        object("o", "record.Record", json!({})),
    );
    assert_eq!(
        call(&c, addr, &t).await,
        (
            404,
            json!({"error": {"message": "no handler for record.Record.nope in this container", "retryable": false}})
        )
    );
    let mut t = task(
        "record.Record",
        "read_count",
        json!({}),
        object("o", "record.Record", json!({})),
    );
    t["protocol"] = json!("oaas-task/9");
    assert_eq!(call(&c, addr, &t).await.0, 400);
    let resp = c
        .post(format!("http://{addr}/"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not a task document"));
}

#[tokio::test]
async fn health() {
    let addr = start(record::functions()).await;
    let c = client();
    for path in ["/", "/healthz"] {
        assert_eq!(
            c.get(format!("http://{addr}{path}"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    assert_eq!(
        c.get(format!("http://{addr}/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_on_kept_alive_connections() {
    let addr = start(record::functions()).await;
    let c = client();
    let mut joins = Vec::new();
    for i in 0..64i64 {
        let c = c.clone();
        joins.push(tokio::spawn(async move {
            for j in 0..5i64 {
                let t = task(
                    "record.Record",
                    "increment",
                    json!({"by": i}),
                    object("o", "record.Record", json!({"count": j})),
                );
                assert_eq!(
                    call(&c, addr, &t).await,
                    (200, json!({"state": {"count": i + j}, "value": i + j}))
                );
            }
        }));
    }
    for j in joins {
        j.await.unwrap();
    }
}

// ---- files, outputs, errors --------------------------------------------------------------

async fn shout(ctx: Ctx) -> Result<Reply, FnError> {
    let suffix: String = ctx.arg_or("suffix", "!".to_string())?;
    let body = ctx.read_file("body").await?;
    let text = String::from_utf8_lossy(&body).to_uppercase() + &suffix;
    ctx.write_file_as("body", text, "text/plain").await?;
    let shouts = ctx.state_field::<i64>("shouts")?.unwrap_or(0) + 1;
    Ok(Reply::value(body.len()).set("shouts", shouts))
}

async fn split(ctx: Ctx) -> Result<Reply, FnError> {
    let min_len: usize = ctx.arg_or("min_len", 4)?;
    let body = ctx.read_file("body").await?;
    let mut outs = Vec::new();
    for word in String::from_utf8_lossy(&body).split_whitespace() {
        let mut out = ctx.new_output()?.with("word", word);
        if word.len() >= min_len {
            out.write_file("body", word.to_string()).await?;
        }
        out.set_ref("parent", ctx.self_id().unwrap_or_default());
        outs.push(out);
    }
    Ok(Reply::outputs(outs))
}

async fn make(ctx: Ctx) -> Result<Reply, FnError> {
    assert!(ctx.self_id().is_none() && ctx.state().is_empty());
    let title: String = ctx.arg("title")?;
    let mut out = ctx.output()?.with("title", title.clone());
    out.write_file_as("body", title, "text/plain").await?;
    out.set_ref("origin", json!(["a", "b"]));
    Ok(Reply::output(out))
}

async fn boom(_ctx: Ctx) -> Result<Reply, FnError> {
    let n: i64 = "kaput".parse()?;
    Ok(Reply::value(n))
}

async fn panics(_ctx: Ctx) -> Result<Reply, FnError> {
    panic!("no way")
}

async fn flaky(_ctx: Ctx) -> Result<Reply, FnError> {
    Err(FnError::retryable("storage is busy"))
}

async fn refuse(ctx: Ctx) -> Result<Reply, FnError> {
    Err(FnError::new(format!(
        "refused: {}",
        ctx.arg::<String>("why")?
    )))
}

async fn word_count(ctx: Ctx) -> Result<Reply, FnError> {
    let body = ctx.read_file("body").await?;
    Ok(Reply::value(
        String::from_utf8_lossy(&body).split_whitespace().count(),
    ))
}

async fn forgets_output(_ctx: Ctx) -> Result<Reply, FnError> {
    Ok(Reply::new())
}

async fn echo(ctx: Ctx) -> Result<Reply, FnError> {
    Reply::json(
        &json!({"class": ctx.class(), "function": ctx.function(), "args": ctx.args(), "version": ctx.version()}),
    )
}

fn fixture() -> Functions {
    Functions::new()
        .function("test.Doc", "shout", shout)
        .function("test.Doc", "split", split)
        .function("test.Doc", "make", make)
        .function("test.Doc", "boom", boom)
        .function("test.Doc", "panics", panics)
        .function("test.Doc", "flaky", flaky)
        .function("test.Doc", "refuse", refuse)
        .function("test.Doc", "word_count", word_count)
        .function("test.Doc", "forgets_output", forgets_output)
        .fallback("echo", echo)
}

fn doc(blobs: &Blobs, id: &str, body: &[u8]) -> Value {
    blobs.put(&format!("objects/{id}/v1/body"), body);
    json!({"id": id, "class": "test.Doc", "version": 1, "state": {"shouts": 0}, "refs": {},
           "files": {"body": {"url": blobs.url("GET", &format!("objects/{id}/v1/body")), "media_type": "text/plain"}},
           "upload": {"body": blobs.url("PUT", &format!("objects/{id}/v2/body"))}})
}

#[tokio::test]
async fn mut_function_reads_and_writes_files() {
    let blobs = Blobs::start().await;
    let addr = start(fixture()).await;
    let t = task(
        "test.Doc",
        "shout",
        json!({"suffix": "?"}),
        doc(&blobs, "d1", b"hey"),
    );
    assert_eq!(
        call(&client(), addr, &t).await,
        (
            200,
            json!({"state": {"shouts": 1}, "files": ["body"], "value": 3})
        )
    );
    assert_eq!(
        blobs.get("objects/d1/v2/body").unwrap(),
        (Bytes::from_static(b"HEY?"), "text/plain".to_string())
    );
    assert_eq!(
        blobs.get("objects/d1/v1/body").unwrap().0,
        Bytes::from_static(b"hey")
    );
}

#[tokio::test]
async fn list_outputs_allocate_only_when_files_are_written() {
    let blobs = Blobs::start().await;
    let addr = start(fixture()).await;
    let mut t = task(
        "test.Doc",
        "split",
        json!({"min_len": 4}),
        doc(&blobs, "d2", b"a quick fox jumps"),
    );
    t["outputs"] = json!({"class": "test.Doc", "allocate_url": blobs.allocate_url()});
    let (status, body) = call(&client(), addr, &t).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"outputs": [
            {"state": {"word": "a"}, "refs": {"parent": "d2"}},
            {"id": "alloc-0", "state": {"word": "quick"}, "refs": {"parent": "d2"}, "files": ["body"]},
            {"state": {"word": "fox"}, "refs": {"parent": "d2"}},
            {"id": "alloc-1", "state": {"word": "jumps"}, "refs": {"parent": "d2"}, "files": ["body"]},
        ]})
    );
    assert_eq!(blobs.allocated(), 2);
    assert_eq!(
        blobs.get("objects/alloc-0/body").unwrap().0,
        Bytes::from_static(b"quick")
    );
    assert_eq!(
        blobs.get("objects/alloc-1/body").unwrap().0,
        Bytes::from_static(b"jumps")
    );
}

#[tokio::test]
async fn static_function_with_an_output_file() {
    let blobs = Blobs::start().await;
    let addr = start(fixture()).await;
    let mut t = task("test.Doc", "make", json!({"title": "new"}), Value::Null);
    t["output"] = json!({"id": "m1", "class": "test.Doc", "upload": {"body": blobs.url("PUT", "objects/m1/v1/body")}});
    assert_eq!(
        call(&client(), addr, &t).await,
        (
            200,
            json!({"output": {"state": {"title": "new"}, "refs": {"origin": ["a", "b"]}, "files": ["body"]}})
        )
    );
    assert_eq!(
        blobs.get("objects/m1/v1/body").unwrap().0,
        Bytes::from_static(b"new")
    );
    // A `-> Class` function answering no output still answers one (defaults apply).
    let mut t = task("test.Doc", "forgets_output", json!({}), Value::Null);
    t["output"] = json!({"id": "m2", "class": "test.Doc", "upload": {}});
    assert_eq!(
        call(&client(), addr, &t).await,
        (200, json!({"output": {"state": {}}}))
    );
}

#[tokio::test]
async fn failures_become_error_documents() {
    let blobs = Blobs::start().await;
    let addr = start(fixture()).await;
    let c = client();
    let t = task("test.Doc", "boom", json!({}), doc(&blobs, "d3", b""));
    assert_eq!(
        call(&c, addr, &t).await,
        (
            500,
            json!({"error": {"message": "invalid digit found in string", "retryable": false}})
        )
    );
    let t = task("test.Doc", "panics", json!({}), doc(&blobs, "d3", b""));
    assert_eq!(
        call(&c, addr, &t).await,
        (
            500,
            json!({"error": {"message": "the function panicked: no way", "retryable": false}})
        )
    );
    let t = task("test.Doc", "flaky", json!({}), doc(&blobs, "d3", b""));
    assert_eq!(
        call(&c, addr, &t).await,
        (
            503,
            json!({"error": {"message": "storage is busy", "retryable": true}})
        )
    );
    let t = task(
        "test.Doc",
        "refuse",
        json!({"why": "policy"}),
        doc(&blobs, "d3", b""),
    );
    assert_eq!(
        call(&c, addr, &t).await,
        (
            422,
            json!({"error": {"message": "refused: policy", "retryable": false}})
        )
    );
    // The container keeps serving.
    assert_eq!(
        c.get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn signed_url_failures() {
    let blobs = Blobs::start().await;
    let addr = start(fixture()).await;
    let c = client();
    let mut t = task(
        "test.Doc",
        "word_count",
        json!({}),
        doc(&blobs, "d4", b"one two"),
    );
    assert_eq!(call(&c, addr, &t).await, (200, json!({"value": 2})));
    t["self"]["files"]["body"]["url"] = json!(blobs
        .url("GET", "objects/d4/v1/body")
        .replace("sig=good", "sig=forged"));
    let (status, body) = call(&c, addr, &t).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["retryable"], json!(false));
    assert!(
        body["error"]["message"].as_str().unwrap().contains("403"),
        "{body}"
    );
    t["self"]["files"]["body"]["url"] = json!("http://127.0.0.1:9/blobs/x?method=GET&sig=good");
    let (status, body) = call(&c, addr, &t).await;
    assert_eq!(
        (status, &body["error"]["retryable"]),
        (503, &json!(true)),
        "{body}"
    );
    // Writing without upload URLs (not a mut function).
    let mut t = task("test.Doc", "shout", json!({}), doc(&blobs, "d5", b"x"));
    t["self"]["upload"] = json!({});
    let (status, body) = call(&c, addr, &t).await;
    assert_eq!(status, 422);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("only a mut function"),
        "{body}"
    );
}

#[tokio::test]
async fn fallback_on_the_function_name_and_ce_source() {
    let addr = start(fixture()).await;
    let c = client();
    let mut t = task(
        "other.Thing",
        "echo",
        json!({"x": [1, 2]}),
        object("e1", "other.Thing", json!({})),
    );
    t["self"]["version"] = json!(4);
    assert_eq!(
        call(&c, addr, &t).await,
        (
            200,
            json!({"value": {"class": "other.Thing", "function": "echo", "args": {"x": [1, 2]}, "version": 4}})
        )
    );
    // An inherited function: dispatched on `declared_in`.
    let mut t = task(
        "test.SubDoc",
        "flaky",
        json!({}),
        object("s1", "test.SubDoc", json!({})),
    );
    assert_eq!(call(&c, addr, &t).await.0, 404);
    t["declared_in"] = json!("test.Doc");
    assert_eq!(call(&c, addr, &t).await.0, 503);
    // No class in the body: taken from ce-source.
    let mut t = task(
        "test.Doc",
        "flaky",
        json!({}),
        object("e2", "test.Doc", json!({})),
    );
    t.as_object_mut().unwrap().remove("class");
    let resp = c
        .post(format!("http://{addr}/"))
        .header("ce-source", "/classes/test.Doc/functions/flaky")
        .body(t.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
}

// ---- the example as a real process -------------------------------------------------------

/// `target/debug/examples/record`, which `cargo test` builds beside the tests (absent when
/// only one test target is built, e.g. `cargo test --test container`).
fn example_binary() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe
        .parent()?
        .parent()?
        .join("examples")
        .join(format!("record{}", std::env::consts::EXE_SUFFIX));
    bin.exists().then_some(bin)
}

#[tokio::test]
async fn record_example_as_a_process() {
    use std::io::BufRead;
    let Some(bin) = example_binary() else {
        eprintln!("skipped: the record example is not built (run `cargo test -p oaas-sdk`)");
        return;
    };
    let mut child = std::process::Command::new(bin)
        .env("PORT", "0")
        .env("HOST", "127.0.0.1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("oaas-sdk: listening on http://")
        .unwrap()
        .parse()
        .unwrap();
    let c = client();
    assert_eq!(
        c.get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let t = task(
        "record.Record",
        "put",
        json!({"key": "k", "value": "v"}),
        object("o", "record.Record", json!({"data": {}, "count": 0})),
    );
    assert_eq!(
        call(&c, addr, &t).await,
        (200, json!({"state": {"data": {"k": "v"}}}))
    );
    // SIGTERM: a graceful stop.
    #[cfg(unix)]
    {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let status = child.wait().unwrap();
        assert!(status.success(), "{status}");
    }
    #[cfg(not(unix))]
    {
        let _ = child.kill();
        let _ = child.wait();
    }
}
