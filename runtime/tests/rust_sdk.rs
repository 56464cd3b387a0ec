//! The runtime with a function container written with the Rust SDK: the SDK's record example
//! (`sdk/rust/examples/record.rs`) served in-process on an ephemeral port and named by
//! `@url`; a real runtime with real SQLite, called over real HTTP.
#![allow(clippy::unwrap_used)]

use oaas_sdk::{Ctx, FnError, Reply};
use serde_json::{json, Value};

#[allow(dead_code)]
#[path = "../../sdk/rust/examples/record.rs"]
mod record;

/// `public fn fail(retryable: bool = false) -> int`: always fails, as containers do.
async fn fail(ctx: Ctx) -> Result<Reply, FnError> {
    let retryable: bool = ctx.arg_or("retryable", false)?;
    Err(if retryable {
        FnError::retryable("the backend is busy")
    } else {
        FnError::new("the record is read-only today")
    })
}

/// Starts the record container on an ephemeral port; returns its base URL.
async fn container() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let functions = record::functions().function("record.Record", "fail", fail);
    tokio::spawn(async move { functions.serve(listener).await.unwrap() });
    url
}

fn package(url: &str) -> String {
    format!(
        r#"package record

@url("{url}")
class Record {{
  public state data: json = {{}}
  public state count: int = 0

  public mut fn put(key: string, value: string)
  public mut fn increment(by: int = 1) -> int
  public fn read_count() -> int
  public fn fail(retryable: bool = false) -> int  @retry(attempts: 2, backoff: 10ms)
}}
"#
    )
}

mod common;
use common::{get, invoke, post};

/// Creates a `record.Record` with default state; returns its id.
async fn new_record(client: &reqwest::Client, base: &str) -> String {
    let (status, body) = post(
        client,
        format!("{base}/api/classes/record.Record/objects"),
        json!({}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["result"]["id"].as_str().unwrap().to_string()
}

/// A runtime with the package deployed, and a client.
async fn runtime(data: &std::path::Path) -> (oaas_runtime::Running, reqwest::Client) {
    let url = container().await;
    common::start(data, data, json!({"record.oaas": package(&url)})).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_and_increment_write_new_versions() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, client) = runtime(dir.path()).await;
    let base = rt.url();

    let (status, body) = post(
        &client,
        format!("{base}/api/classes/record.Record/objects"),
        json!({}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["result"]["id"].as_str().unwrap().to_string();
    assert_eq!(body["result"]["version"], 1);
    assert_eq!(body["result"]["state"], json!({"data": {}, "count": 0}));

    // `put` is `mut` and returns nothing: the answer is the object's new version.
    let (status, body) = invoke(
        &client,
        &base,
        &id,
        "put",
        json!({"key": "colour", "value": "teal"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["version"], 2, "{body}");
    assert_eq!(body["result"]["state"]["data"], json!({"colour": "teal"}));
    let (status, body) = invoke(
        &client,
        &base,
        &id,
        "put",
        json!({"key": "size", "value": "XL"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["version"], 3);

    // `increment` answers its value; the state patch (`count` only) is merged, `data` stays.
    let (status, body) = invoke(&client, &base, &id, "increment", json!({"by": 5})).await;
    assert_eq!((status, body["result"].clone()), (200, json!(5)), "{body}");
    let (status, body) = invoke(&client, &base, &id, "increment", json!({})).await;
    assert_eq!((status, body["result"].clone()), (200, json!(6)), "{body}");

    let obj = get(&client, format!("{base}/api/objects/{id}")).await;
    assert_eq!(obj["version"], 5, "{obj}");
    assert_eq!(
        obj["state"],
        json!({"data": {"colour": "teal", "size": "XL"}, "count": 6})
    );

    // A function that is not `mut` reads the newest version and writes none.
    let (status, body) = invoke(&client, &base, &id, "read_count", json!({})).await;
    assert_eq!((status, body["result"].clone()), (200, json!(6)), "{body}");
    assert_eq!(
        get(&client, format!("{base}/api/objects/{id}")).await["version"],
        5
    );

    // Every version is kept, each with the state that call left.
    let v2 = get(&client, format!("{base}/api/objects/{id}?version=2")).await;
    assert_eq!(
        v2["state"],
        json!({"data": {"colour": "teal"}, "count": 0}),
        "{v2}"
    );
    let history = get(&client, format!("{base}/api/objects/{id}/versions")).await;
    let counts: Vec<Value> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["state"]["count"].clone())
        .collect();
    assert_eq!(
        counts,
        vec![json!(0), json!(0), json!(0), json!(5), json!(6)]
    );
    let sizes: Vec<usize> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["state"]["data"].as_object().unwrap().len())
        .collect();
    assert_eq!(sizes, vec![0, 1, 2, 2, 2]);

    // Wrong arguments never reach the container.
    let (status, body) = invoke(&client, &base, &id, "put", json!({"key": "k", "value": 3})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`value` expects `string`"),
        "{body}"
    );
    assert_eq!(
        get(&client, format!("{base}/api/objects/{id}")).await["version"],
        5
    );
    rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_puts_and_increments_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, client) = runtime(dir.path()).await;
    let base = rt.url();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(new_record(&client, &base).await);
    }
    // 40 increments and 40 puts of distinct keys on each object, all at once.
    let mut calls = Vec::new();
    for id in &ids {
        for i in 0..40 {
            let (client, base, id) = (client.clone(), base.clone(), id.clone());
            calls.push(tokio::spawn(async move {
                let inc = invoke(&client, &base, &id, "increment", json!({"by": 1})).await;
                let put = invoke(
                    &client,
                    &base,
                    &id,
                    "put",
                    json!({"key": format!("k{i}"), "value": format!("v{i}")}),
                )
                .await;
                (id, inc, put)
            }));
        }
    }
    let mut seen: std::collections::HashMap<String, Vec<i64>> = Default::default();
    for c in calls {
        let (id, (s1, b1), (s2, b2)) = c.await.unwrap();
        assert_eq!(s1, 200, "{b1}");
        assert_eq!(s2, 200, "{b2}");
        seen.entry(id)
            .or_default()
            .push(b1["result"].as_i64().unwrap());
    }
    for id in &ids {
        let mut counts = seen.remove(id).unwrap();
        counts.sort();
        // Each increment saw a distinct count: one order per object, no lost update.
        assert_eq!(counts, (1..=40).collect::<Vec<i64>>());
        let obj = get(&client, format!("{base}/api/objects/{id}")).await;
        assert_eq!(obj["version"], 81, "{obj}");
        assert_eq!(obj["state"]["count"], 40);
        assert_eq!(obj["state"]["data"].as_object().unwrap().len(), 40, "{obj}");
    }
    rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_errors_become_502_with_their_message() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, client) = runtime(dir.path()).await;
    let base = rt.url();
    let id = new_record(&client, &base).await;
    // `FnError::new`: a 422 from the container, not retried.
    let (status, body) = invoke(&client, &base, &id, "fail", json!({})).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the record is read-only today"),
        "{body}"
    );
    assert_eq!(body["error"]["attempts"], 1, "{body}");
    // `FnError::retryable`: a 503, retried as `@retry` says, then a 502.
    let (status, body) = invoke(&client, &base, &id, "fail", json!({"retryable": true})).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the backend is busy"),
        "{body}"
    );
    assert_eq!(body["error"]["attempts"], 3, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("(after 3 attempts, all that @retry allows)"),
        "{body}"
    );
    rt.stop().await;
}

/// With `image_url`, a function whose class names an `@image` runs at that address, before
/// the class's `@local` (here a command that cannot start).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_functions_run_where_image_url_says() {
    let dir = tempfile::tempdir().unwrap();
    let url = container().await;
    let source = package(&url).replace(
        &format!("@url(\"{url}\")"),
        "@image(\"ghcr.io/acme/record:1\") @local(\"exit 1\")",
    );
    assert!(source.contains("@image"), "{source}");
    let (rt, client) = common::start_with_images(
        dir.path(),
        dir.path(),
        json!({"record.oaas": source}),
        Some(url),
    )
    .await;
    let base = rt.url();
    let id = new_record(&client, &base).await;
    let (status, body) = invoke(&client, &base, &id, "increment", json!({"by": 4})).await;
    assert_eq!((status, body["result"].clone()), (200, json!(4)), "{body}");
    rt.stop().await;
}
