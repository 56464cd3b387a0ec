//! The files of a package made by `oaasc new NAME --lang rust`: the container is a Cargo
//! crate in `functions/` on the Rust SDK (`sdk/rust`), run by the runtime with `cargo run`.

use std::path::Path;

/// What starts the container: cargo, from the package's folder.
const LOCAL: &str = "cargo run --quiet --manifest-path functions/Cargo.toml";

const CARGO_TOML: &str = r#"# The function container of `{{name}}.Counter` ({{name}}.oaas), on the OaaS Rust SDK.
[package]
name = "{{name}}-functions"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
oaas-sdk = { path = "{{sdk}}" }
tokio = { version = "1", features = ["full"] }
serde_json = "1"

# A crate of its own, also when the package sits inside another Cargo workspace.
[workspace]
"#;

const MAIN: &str = r#"//! The function container of `{{name}}.Counter` ({{name}}.oaas).
//!
//! The runtime starts it as `cargo run --quiet --manifest-path functions/Cargo.toml` with
//! PORT set; build it once first (`cargo test` does), so that it starts at once.

use oaas_sdk::{Ctx, FnError, Functions, Reply};

/// `public mut fn add(by: int = 1) -> int`: `count += by`; answers the new count.
async fn add(ctx: Ctx) -> Result<Reply, FnError> {
    let by: i64 = ctx.arg_or("by", 1)?;
    let count = ctx.state_field::<i64>("count")?.unwrap_or(0) + by;
    Ok(Reply::value(count).set("count", count))
}

/// The handlers, by class and function.
fn functions() -> Functions {
    Functions::new().function("{{name}}.Counter", "add", add)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    functions().serve_from_env().await
}

#[cfg(test)]
mod tests;
"#;

const TESTS: &str = r#"//! The container over HTTP, as the runtime calls it (oaas-task/1):
//! `cargo test --manifest-path functions/Cargo.toml`.

use oaas_sdk::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A task document for `function` on a counter with `state`.
fn task(function: &str, args: Value, state: Value) -> Value {
    json!({
        "protocol": "oaas-task/1", "task_id": "t1.n0", "invocation_id": "t1",
        "package": "{{name}}", "class": "{{name}}.Counter", "function": function, "args": args,
        "self": { "id": "c1", "class": "{{name}}.Counter", "version": 1, "state": state,
                  "refs": {}, "files": {}, "upload": {} },
        "output": null, "outputs": null
    })
}

/// Serves the container on a free port and posts one task: the status and the body.
async fn post(doc: Value) -> (u16, Value) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(super::functions().serve(listener));
    let body = doc.to_string();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn add_changes_the_count_and_answers_it() {
    let (status, body) = post(task("add", json!({ "by": 2 }), json!({ "count": 40 }))).await;
    assert_eq!((status, body["value"].clone()), (200, json!(42)));
    assert_eq!(body["state"], json!({ "count": 42 }));
}

#[tokio::test]
async fn an_unknown_function_is_a_404() {
    let (status, _) = post(task("nope", json!({}), json!({}))).await;
    assert_eq!(status, 404);
}
"#;

const README: &str = "# {{name}}

An OaaS package made by `oaasc new --lang rust`: a `Counter` class (`{{name}}.oaas`) whose
function runs in a Rust container (`functions/`, a Cargo crate on the OaaS Rust SDK at
`{{sdk}}`).

In this folder:

    oaasc check .                                          # the type checker
    cargo test --manifest-path functions/Cargo.toml        # the container's test (builds it)
    oaasc run . Counter.add_twice --arg by=2               # prints 4

`oaasc run` checks the package, starts an embedded runtime (state in `.oaas/`), starts the
container with `cargo run` (built by the test above, so it starts at once) and runs the
`add_twice` macro on a new `Counter`.
";

/// The files of a new Rust package, by path below its folder, with the SDK at `sdk` and the
/// lock file of the checkout it comes from, if any (so the versions are the tested ones).
pub fn files(name: &str, sdk: &str, lock: Option<String>) -> Vec<(String, String)> {
    let fill = |t: &str| {
        t.replace("{{local}}", LOCAL)
            .replace("{{name}}", name)
            .replace("{{sdk}}", sdk)
    };
    let mut files = vec![
        ("oaas.toml".into(), fill(super::MANIFEST)),
        (format!("{name}.oaas"), fill(super::SOURCE)),
        ("functions/Cargo.toml".into(), fill(CARGO_TOML)),
        ("functions/src/main.rs".into(), fill(MAIN)),
        ("functions/src/tests.rs".into(), fill(TESTS)),
        ("README.md".into(), fill(README)),
        (".gitignore".into(), ".oaas/\nfunctions/target/\n".into()),
    ];
    if let Some(lock) = lock {
        files.push(("functions/Cargo.lock".into(), lock));
    }
    files
}

/// The Rust SDK of this `oaasc`'s own checkout, when it still exists, with the checkout's
/// `Cargo.lock`; else a placeholder path.
pub fn sdk_hint() -> (String, Option<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match root.join("sdk/rust").canonicalize() {
        Ok(p) if p.join("Cargo.toml").is_file() => {
            let lock = std::fs::read_to_string(root.join("Cargo.lock")).ok();
            (p.to_string_lossy().into_owned(), lock)
        }
        _ => ("PATH/TO/oaas/sdk/rust".to_string(), None),
    }
}
