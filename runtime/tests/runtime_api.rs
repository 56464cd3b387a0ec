//! The runtime end to end: a real server on an ephemeral port, real SQLite, real function
//! containers (Python SDK) started as child processes, real HTTP.
#![allow(clippy::unwrap_used)]

use oaas_runtime::blobs::s3_testing::{self, S3Server};
use serde_json::{json, Value};

mod common;
use common::{get, invoke, post};

/// A runtime with the test package deployed.
async fn runtime(data: &std::path::Path) -> (oaas_runtime::Running, reqwest::Client) {
    common::start_fixture(data, "testpkg", "testpkg.oaas").await
}

async fn new_counter(client: &reqwest::Client, base: &str) -> String {
    let (status, body) = post(
        client,
        format!("{base}/api/classes/testpkg.Counter/objects"),
        json!({"label": "t"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["result"]["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_mut_increments_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, client) = runtime(dir.path()).await;
    let base = rt.url();
    let id = new_counter(&client, &base).await;
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (client, url) = (
            client.clone(),
            format!("{base}/api/objects/{id}/invoke/increment"),
        );
        tasks.push(tokio::spawn(async move {
            post(&client, url, json!({"by": 1})).await
        }));
    }
    let mut seen = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200, "{body}");
        seen.push(body["result"].as_i64().unwrap());
    }
    seen.sort();
    // Each increment saw a distinct count: applied one at a time, in one order.
    assert_eq!(seen, (1..=200).collect::<Vec<i64>>());
    let obj: Value = get(&client, format!("{base}/api/objects/{id}")).await;
    assert_eq!(obj["state"]["count"], 200);
    assert_eq!(obj["version"], 201);
    let history: Value = get(&client, format!("{base}/api/objects/{id}/versions")).await;
    let versions = history["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 201);
    // Each version names the task that wrote it: one per increment, each a call's root task.
    let tasks: std::collections::BTreeSet<&str> = versions[1..]
        .iter()
        .map(|v| v["task_id"].as_str().unwrap())
        .collect();
    assert_eq!(tasks.len(), 200);
    assert!(tasks.iter().all(|t| t.ends_with(".n0")), "{tasks:?}");
    rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_failures_and_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, client) = runtime(dir.path()).await;
    let base = rt.url();
    let id = new_counter(&client, &base).await;
    // Fails twice with a retryable error, then succeeds on the third try (@retry attempts: 3).
    let (status, body) = invoke(&client, &base, &id, "flaky", json!({"key": "a"})).await;
    assert_eq!((status, body["result"].clone()), (200, json!(3)), "{body}");
    // More failures than retries: a 502 that carries the container's message.
    let (status, body) = invoke(
        &client,
        &base,
        &id,
        "flaky",
        json!({"key": "b", "fail_times": 9}),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("transient failure 4 of 9"),
        "{body}"
    );
    assert_eq!(body["error"]["attempts"], 4);
    // The message says how many attempts were made.
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("(after 4 attempts, all that @retry allows)"),
        "{body}"
    );
    // A permanent failure is not retried.
    let (status, body) = invoke(&client, &base, &id, "broken", json!({})).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the frobnicator is out of order"),
        "{body}"
    );
    assert_eq!(body["error"]["attempts"], 1);
    // A hung container: 504 after its @timeout(300ms).
    let started = std::time::Instant::now();
    let (status, body) = invoke(&client, &base, &id, "hang", json!({})).await;
    assert_eq!(status, 504, "{body}");
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    // The object is untouched by all of that.
    let obj: Value = get(&client, format!("{base}/api/objects/{id}")).await;
    assert_eq!(obj["version"], 1);
    rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, client) = runtime(dir.path()).await;
    let base = rt.url();
    let id = new_counter(&client, &base).await;
    let r = client
        .post(format!("{base}/api/objects/{id}/invoke/increment"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{body}"
    );
    let (status, body) = invoke(&client, &base, "nope", "increment", json!({})).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        body["error"]["message"].as_str().unwrap(),
        "there is no object `nope`"
    );
    // A class's name where an object id goes (`Counter:increment(...)`) is told how to call it.
    let (status, body) = invoke(&client, &base, "Counter", "increment", json!({})).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains(
            "(`Counter` is the class `testpkg.Counter`: a class's functions are called as `Counter.fn(...)`"
        ),
        "{body}"
    );
    let (status, body) = invoke(&client, &base, &id, "incremnt", json!({})).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no function `incremnt` in package version `sha256:"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("(did you mean `increment`?); its functions and macros are: "),
        "{body}"
    );
    let (status, body) = invoke(&client, &base, &id, "increment", json!({"by": "two"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mismatched types: `by` expects `int`"),
        "{body}"
    );
    let (status, body) = invoke(&client, &base, &id, "increment", json!({"bye": 2})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no parameter `bye`"),
        "{body}"
    );
    let (status, body) = invoke(&client, &base, &id, "hidden", json!({})).await;
    assert_eq!(status, 403, "{body}");
    for (class, near) in [
        ("testpkg.Countr", "testpkg.Counter"),
        ("counter", "testpkg.Counter"),
    ] {
        let (status, body) = post(
            &client,
            format!("{base}/api/classes/{class}/objects"),
            json!({}),
        )
        .await;
        assert_eq!(status, 404, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("(did you mean `{near}`?)")),
            "{message}"
        );
    }
    let (status, body) = post(
        &client,
        format!("{base}/api/packages"),
        json!({"sources": {}}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("bad_request")),
        "{body}"
    );
    // Requests that axum itself refuses get the same JSON errors: a query or path that does
    // not decode, a method the path does not take.
    for (method, url, status, code) in [
        (
            "GET",
            format!("{base}/api/objects/{id}?version=two"),
            400,
            "bad_request",
        ),
        (
            "GET",
            format!("{base}/api/objects/{id}/files/f?relay=maybe"),
            400,
            "bad_request",
        ),
        ("GET", format!("{base}/api/objects/%FF"), 400, "bad_request"),
        // `?async=` takes `true` or `false`; a misspelt value or name is refused rather than
        // run as a synchronous call (found by schemathesis).
        (
            "POST",
            format!("{base}/api/objects/{id}/invoke/increment?async=ture"),
            400,
            "bad_request",
        ),
        (
            "POST",
            format!("{base}/api/objects/{id}/invoke/increment?asynch=true"),
            400,
            "bad_request",
        ),
        (
            "DELETE",
            format!("{base}/api/packages"),
            405,
            "method_not_allowed",
        ),
    ] {
        let r = client
            .request(method.parse().unwrap(), &url)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{method} {url}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{method} {url}: {body}");
        assert!(
            !body["error"]["message"].as_str().unwrap().is_empty(),
            "{body}"
        );
    }
    let (status, body) = post(
        &client,
        format!("{base}/api/classes/testpkg.Counter/objects"),
        json!({"count": 1.5}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // A page size outside 1 to 1000 is refused, not quietly changed (found by schemathesis).
    // So is one of invocations outside 1 to 100.
    for (path, limit, most) in [
        ("classes/testpkg.Counter/objects", "0", 1000),
        ("classes/testpkg.Counter/objects", "1001", 1000),
        ("invocations", "0", 100),
        ("invocations", "101", 100),
    ] {
        let r = client
            .get(format!("{base}/api/{path}?limit={limit}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path}?limit={limit}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["error"]["message"],
            format!("`limit` must be between 1 and {most}"),
            "{body}"
        );
    }
    // Private and internal state is not readable from outside.
    let obj: Value = get(&client, format!("{base}/api/objects/{id}")).await;
    assert!(
        obj["state"].get("secret").is_none() && obj["state"].get("note").is_none(),
        "{obj}"
    );
    let r = client
        .get(format!(
            "{base}/api/classes/testpkg.Counter/objects?secret=hidden"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Nor can `new` from outside set it.
    for field in ["secret", "note"] {
        let (status, body) = post(
            &client,
            format!("{base}/api/classes/testpkg.Counter/objects"),
            json!({ field: "forged" }),
        )
        .await;
        assert_eq!(status, 403, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(field),
            "{body}"
        );
    }
    rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_move_by_signed_urls() {
    files_move_by_signed_urls_in(common::Files::Folder).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_move_by_presigned_urls_of_a_bucket() {
    let Some(s3) = S3Server::start() else {
        return;
    };
    files_move_by_signed_urls_in(common::Files::Bucket(&s3)).await;
}

/// The life of a file: upload by signed URL, a function that reads it and writes the next
/// version, reads by redirect (with ranges) and relayed, older versions, private files.
async fn files_move_by_signed_urls_in(files: common::Files<'_>) {
    let dir = tempfile::tempdir().unwrap();
    let (rt, client) = common::start_fixture_in(dir.path(), "testpkg", "testpkg.oaas", files).await;
    let base = rt.url();
    let (status, body) = post(
        &client,
        format!("{base}/api/classes/testpkg.Doc/objects"),
        json!({"title": "t"}),
    )
    .await;
    assert_eq!(status, 201);
    let id = body["result"]["id"].as_str().unwrap().to_string();
    let upload = body["result"]["upload"]["body"]
        .as_str()
        .unwrap()
        .to_string();
    if let common::Files::Bucket(s3) = files {
        // The bucket's own URL, path-style, under the prefix.
        let prefix = format!(
            "{}/{}/t/objects/{id}/v1/body?",
            s3.endpoint,
            s3_testing::BUCKET
        );
        assert!(upload.starts_with(&prefix), "{upload}");
    }
    let r = common::upload(&upload, "hello ").await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    // A tampered signature, and a URL used for another method, are refused.
    let tampered = common::upload(&common::tampered(&upload), "x").await;
    assert_eq!(tampered.status(), 403);
    let plain = reqwest::Client::new();
    let wrong_method = plain.get(&upload).send().await.unwrap().status();
    match files {
        common::Files::Folder => assert_eq!(wrong_method, 403),
        // s3s-fs answers 400 (the signed `If-None-Match` is missing), AWS 403.
        common::Files::Bucket(_) => assert!(wrong_method.is_client_error(), "{wrong_method}"),
    }
    if let common::Files::Folder = files {
        let expired = {
            let (head, _) = upload.split_once("exp=").unwrap();
            let sig = upload.split_once("&sig=").unwrap().1;
            format!("{head}exp=1&sig={sig}")
        };
        assert_eq!(common::upload(&expired, "x").await.status(), 403);
    }
    // A mut function reads the file and writes the next version of it.
    let (status, body) = invoke(&client, &base, &id, "append", json!({"text": "world"})).await;
    assert_eq!(status, 200, "{body}");
    // Reads answer with a redirect to a signed URL...
    let no_redirect = common::authed(
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()),
        &rt.token,
    );
    let r = no_redirect
        .get(format!("{base}/api/objects/{id}/files/body"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    if let common::Files::Bucket(s3) = files {
        assert!(location.starts_with(&s3.endpoint), "{location}");
    }
    // The signed URL answers with the media type the class declares (`text/plain`).
    let r = plain.get(&location).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.text().await.unwrap(), "hello world");
    let r = plain
        .get(&location)
        .header("Range", "bytes=6-10")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.text().await.unwrap(), "world");
    // The media type is part of what is signed.
    let swapped = location
        .replace("type=text/plain", "type=text/html")
        .replace("type=text%2Fplain", "type=text%2Fhtml");
    assert_ne!(swapped, location);
    assert_eq!(plain.get(&swapped).send().await.unwrap().status(), 403);
    // ...or stream through the runtime on request, with the same type and ranges; older
    // versions keep their file.
    let relay = format!("{base}/api/objects/{id}/files/body?relay=true");
    let r = client.get(&relay).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.text().await.unwrap(), "hello world");
    let r = client
        .get(&relay)
        .header("Range", "bytes=6-10")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 6-10/11");
    assert_eq!(r.text().await.unwrap(), "world");
    let r = client
        .get(&relay)
        .header("Range", "bytes=50-60")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    let v1 = client
        .get(format!("{base}/api/objects/{id}/files/body?version=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(v1, "hello ");
    // A private file is not reachable.
    assert_eq!(
        client
            .get(format!("{base}/api/objects/{id}/files/draft"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_calls_idempotency_outputs_and_queries() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, client) = runtime(dir.path()).await;
    let base = rt.url();
    let id = new_counter(&client, &base).await;
    // Async: 202 at once, then the invocation reports the result.
    let (status, body) = post(
        &client,
        format!("{base}/api/objects/{id}/invoke/increment?async=true"),
        json!({"by": 5}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let inv = body["invocation_id"].as_str().unwrap().to_string();
    let mut result = Value::Null;
    for _ in 0..200 {
        let v: Value = get(&client, format!("{base}/api/invocations/{inv}")).await;
        if v["status"] == "succeeded" {
            result = v["result"].clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(result, json!(5));
    // The same Idempotency-Key twice: one increment, the same answer.
    let call = || {
        client
            .post(format!("{base}/api/objects/{id}/invoke/increment"))
            .header("Idempotency-Key", "k-1")
            .json(&json!({"by": 1}))
            .send()
    };
    let first: Value = call().await.unwrap().json().await.unwrap();
    let second: Value = call().await.unwrap().json().await.unwrap();
    assert_eq!(first["result"], json!(6));
    assert_eq!(second["result"], json!(6));
    assert_eq!(first["invocation_id"], second["invocation_id"]);
    // The same key with other arguments is refused, not answered with the first result.
    let r = client
        .post(format!("{base}/api/objects/{id}/invoke/increment"))
        .header("Idempotency-Key", "k-1")
        .json(&json!({"by": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    // Functions returning objects: one output, and a list of outputs.
    let (status, body) = invoke(&client, &base, &id, "spawn", json!({"start": 40})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["state"]["count"], 40);
    let (status, body) = invoke(&client, &base, &id, "split", json!({"n": 3})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"].as_array().unwrap().len(), 3);
    // Query objects of the class by a state field, with paging.
    let list: Value = get(
        &client,
        format!("{base}/api/classes/testpkg.Counter/objects?count=40"),
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    let page: Value = get(
        &client,
        format!("{base}/api/classes/Counter/objects?limit=2"),
    )
    .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let after = page["next_after"].as_str().unwrap();
    let rest: Value = get(
        &client,
        format!("{base}/api/classes/Counter/objects?limit=10&after={after}"),
    )
    .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 3, "{rest}");
    // An object access expression.
    let r: Value = get(&client, format!("{base}/oal/{id}:read()")).await;
    assert_eq!(r["result"], json!(6));
    // Old versions stay readable.
    let v2: Value = get(&client, format!("{base}/api/objects/{id}?version=2")).await;
    assert_eq!(v2["state"]["count"], 5);
    let health: Value = get(&client, format!("{base}/healthz")).await;
    assert_eq!(health["status"], "ok");
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains("oaas_invocations_total{class=\"testpkg.Counter\",function=\"increment\"}"),
        "{metrics}"
    );
    let openapi: Value = get(&client, format!("{base}/openapi.json")).await;
    assert!(openapi["paths"]["/api/objects/{id}/invoke/{func}"].is_object());
    rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_cannot_change_state_and_async_outputs_are_known() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, client) = runtime(dir.path()).await;
    let base = rt.url();
    let id = new_counter(&client, &base).await;
    // GET runs only calls that change nothing.
    let r = client
        .get(format!("{base}/oal/{id}:increment(by=1)"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains("POST"),
        "{body}"
    );
    let r = client
        .post(format!("{base}/oal/{id}:increment(by=1)"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let read: Value = get(&client, format!("{base}/oal/{id}:read()")).await;
    assert_eq!(read["result"], json!(1));
    // An asynchronous call of an object function that makes one object names it at once.
    let (status, body) = post(
        &client,
        format!("{base}/api/objects/{id}/invoke/spawn?async=true"),
        json!({"start": 3}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let planned = body["output_id"].as_str().unwrap().to_string();
    let inv = body["invocation_id"].as_str().unwrap().to_string();
    for _ in 0..200 {
        let v: Value = get(&client, format!("{base}/api/invocations/{inv}")).await;
        if v["status"] == "succeeded" {
            assert_eq!(v["result"]["id"], json!(planned));
            rt.stop().await;
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the asynchronous call did not finish");
}

/// A container (a real HTTP server) that answers each task with the reply set last.
async fn scripted_container() -> (String, std::sync::Arc<std::sync::Mutex<String>>) {
    let reply = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let next = reply.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move || {
            let body = next.lock().unwrap().clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, reply)
}

/// Every answer a container may not give is a `502` naming the function and what is wrong,
/// and stores nothing: the object stays at its version, no output object appears. An
/// allowed answer afterwards goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_answer_its_declaration_does_not_allow_stores_nothing() {
    let (url, reply) = scripted_container().await;
    let dir = tempfile::tempdir().unwrap();
    let source = format!(
        "package liar\n@url(\"{url}\")\nclass L {{\n  public state n: int = 0\n  public mut fn bump() -> int\n  public fn peek() -> int\n  public fn make() -> L\n  public fn many() -> [L]\n}}\n"
    );
    let (rt, client) = common::start(dir.path(), dir.path(), json!({"l.oaas": source})).await;
    let base = rt.url();
    let (status, made) = post(
        &client,
        format!("{base}/api/classes/liar.L/objects"),
        json!({}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let id = made["result"]["id"].as_str().unwrap().to_string();
    let refused = [
        (
            "bump",
            r#"{"state": {"n": "two"}, "value": 1}"#,
            "state field `n`",
        ),
        (
            "bump",
            r#"{"state": {"nope": 1}, "value": 1}"#,
            "has no state field `nope`",
        ),
        (
            "bump",
            r#"{"state": {"n": 1}, "value": "one"}"#,
            "its value:",
        ),
        ("bump", r#"{"state": [1, 2]}"#, "not a task response"),
        ("bump", "this is not JSON", "not a task response"),
        (
            "peek",
            r#"{"state": {"n": 5}, "value": 1}"#,
            "it is not `mut`",
        ),
        ("make", r#"{"value": 1}"#, "must return an output object"),
        (
            "many",
            r#"{"outputs": [{"id": "not-allocated", "state": {}}]}"#,
            "was not allocated",
        ),
    ];
    for (function, answer, why) in refused {
        *reply.lock().unwrap() = answer.to_string();
        let (status, body) = invoke(&client, &base, &id, function, json!({})).await;
        assert_eq!(status, 502, "{function} answering {answer}: {body}");
        assert_eq!(body["error"]["code"], "function_failed", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("`{function}`")), "{message}");
        assert!(
            message.contains(why),
            "{function} answering {answer}: {message}"
        );
    }
    let versions = get(&client, format!("{base}/api/objects/{id}/versions")).await;
    assert_eq!(
        versions["versions"].as_array().map(Vec::len),
        Some(1),
        "{versions}"
    );
    let listed = get(&client, format!("{base}/api/classes/liar.L/objects")).await;
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    *reply.lock().unwrap() = r#"{"state": {"n": 7}, "value": 7}"#.to_string();
    let (status, body) = invoke(&client, &base, &id, "bump", json!({})).await;
    assert_eq!((status, body["result"].clone()), (200, json!(7)), "{body}");
    let object = get(&client, format!("{base}/api/objects/{id}")).await;
    assert_eq!(
        (object["version"].clone(), object["state"]["n"].clone()),
        (json!(2), json!(7))
    );
    rt.stop().await;
}

/// A state field whose default is `null` stays optional when the runtime reads its package
/// back from the store after a restart (it became required: the default was lost in JSON).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_null_default_outlives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let source = "package nulls\n@url(\"http://127.0.0.1:9\")\nclass Box {\n  public state j: json = null\n  public state n: int = 0\n}\n";
    let (rt, _) = common::start(dir.path(), dir.path(), json!({"box.oaas": source})).await;
    rt.stop().await;
    let config = oaas_runtime::Config::new(
        dir.path().to_path_buf(),
        "127.0.0.1:0".parse().unwrap(),
        dir.path().to_path_buf(),
    );
    let rt = oaas_runtime::start(config).await.unwrap();
    let client = common::authed(reqwest::Client::builder(), &rt.token);
    let (status, body) = post(
        &client,
        format!("{}/api/classes/nulls.Box/objects", rt.url()),
        json!({"n": 1}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["result"]["state"],
        json!({"j": null, "n": 1}),
        "{body}"
    );
    rt.stop().await;
}

/// A container that dies while starting fails calls with the last line it logged (why it
/// died), and its log, which may hold what its objects hold, is its owner's only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_that_cannot_start_says_why_in_its_private_log() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let source = "package broken\n@local(\"sh -c 'echo starting >&2; echo cannot load libfoo.so >&2; exit 3'\")\nclass B {\n  public static fn ping() -> int\n}\n";
    let (rt, client) = common::start(dir.path(), dir.path(), json!({"b.oaas": source})).await;
    let (status, body) = post(
        &client,
        format!("{}/api/classes/broken.B/invoke/ping", rt.url()),
        json!({}),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("3 times in a row: it said `cannot load libfoo.so`; see its log"),
        "{message}"
    );
    let logs: Vec<_> = std::fs::read_dir(dir.path().join("logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    let mode = std::fs::metadata(&logs[0]).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", logs[0].display());
    rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn containers_restart_and_concurrency_limits_hold() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, client) = runtime(dir.path()).await;
    let base = rt.url();
    let id = new_counter(&client, &base).await;
    // @concurrency(1): eight calls at once never overlap in the container.
    let mut calls = Vec::new();
    for _ in 0..8 {
        let (client, url) = (
            client.clone(),
            format!("{base}/api/objects/{id}/invoke/probe"),
        );
        calls.push(tokio::spawn(
            async move { post(&client, url, json!({})).await },
        ));
    }
    for c in calls {
        let (status, body) = c.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"], json!(1), "calls overlapped: {body}");
    }
    // A container that dies is started again; calls work once it is back.
    let (_, first) = invoke(&client, &base, &id, "pid", json!({})).await;
    let (status, _) = invoke(&client, &base, &id, "die", json!({})).await;
    assert_eq!(status, 502);
    let mut second = Value::Null;
    for _ in 0..100 {
        let (status, body) = invoke(&client, &base, &id, "pid", json!({})).await;
        if status == 200 {
            second = body["result"].clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(second.is_i64(), "the container did not come back");
    assert_ne!(
        first["result"], second,
        "the same process answered after dying"
    );
    rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_right_after_a_container_dies_waits_for_its_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, client) = runtime(dir.path()).await;
    let base = rt.url();
    let id = new_counter(&client, &base).await;
    for round in 0..3 {
        let (status, body) = invoke(&client, &base, &id, "increment", json!({"by": 1})).await;
        assert_eq!(status, 200, "{body}");
        let (status, _) = invoke(&client, &base, &id, "die", json!({})).await;
        assert_eq!(status, 502);
        // Sent while the container is down: it waits for the restart instead of failing.
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let (status, body) = invoke(&client, &base, &id, "increment", json!({"by": 1})).await;
        assert_eq!(status, 200, "round {round}: {body}");
        assert_eq!(body["result"], json!(2 * round + 2), "{body}");
    }
    rt.stop().await;
}

/// After a redeploy, an object of the older version called with a function only the newer
/// one has: the error names the object's version, the current one, and what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_of_a_newer_version_on_an_older_object_says_how_to_move_on() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, client) = runtime(dir.path()).await;
    let base = rt.url();
    let deploy = |text: &'static str| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let (status, body) = post(
                &client,
                format!("{base}/api/packages"),
                json!({"sources": {"shelf.oaas": text}}),
            )
            .await;
            assert_eq!(status, 201, "{body}");
            body["version"].as_str().unwrap().to_string()
        }
    };
    let first = deploy("package shelf\nclass Box {\n  public state n: int = 0\n}\n").await;
    let (status, body) = post(
        &client,
        format!("{base}/api/classes/shelf.Box/objects"),
        json!({"n": 1}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let old = body["result"]["id"].as_str().unwrap().to_string();
    let second = deploy(
        "package shelf\nclass Box {\n  public state n: int = 0\n  public macro again() -> Box {\n    return self.copy()\n  }\n}\n",
    )
    .await;
    let (status, body) = invoke(&client, &base, &old, "again", json!({})).await;
    assert_eq!(status, 404, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    for part in [
        format!("class `Box` has no function `again` in package version `{first}`"),
        "its functions and macros are: ".to_string(),
        format!("belongs to package version `{first}`"),
        format!("The current version `{second}` has `again`"),
        "--new FIELD=VALUE".to_string(),
    ] {
        assert!(message.contains(&part), "{part} not in: {message}");
    }
    assert!(!message.contains("more)"), "{message}");
    // A function neither version has gets no such advice.
    let (status, body) = invoke(&client, &base, &old, "nowhere", json!({})).await;
    assert_eq!(status, 404, "{body}");
    assert!(!body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("current version"));
    rt.stop().await;
}
