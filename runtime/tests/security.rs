//! Security, tried as an attacker would: tokens and roles on every route, the `@local`
//! reproduction (a deploy that names a command, then a call) in every variant, browser
//! requests, private files and node outputs, files written once, and bounded uploads.
#![allow(clippy::unwrap_used)]

mod common;

use common::{authed, fixture, invoke, post};
use oaas_runtime::blobs::s3_testing::S3Server;
use serde_json::{json, Value};
use std::path::Path;

/// Starts a runtime with the counter package deployed (by the admin, on loopback).
async fn runtime(data: &Path) -> (oaas_runtime::Running, reqwest::Client) {
    common::start_fixture(data, "testpkg", "testpkg.oaas").await
}

/// A client sending `token`, or none.
fn client(token: Option<&str>) -> reqwest::Client {
    match token {
        Some(t) => authed(reqwest::Client::builder(), t),
        None => reqwest::Client::new(),
    }
}

async fn mint(admin: &reqwest::Client, base: &str, role: &str) -> String {
    let (status, body) = post(admin, format!("{base}/api/tokens"), json!({"role": role})).await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_string()
}

/// The package of the reproduction: a `@local` command that leaves a file behind.
fn evil(marker: &Path) -> Value {
    let source = format!(
        "package evil\n@local(\"touch {}\")\nclass Evil {{\n  public static fn ping() -> int\n}}\n",
        marker.display()
    );
    json!({"sources": {"e.oaas": source}, "workdir": "/tmp"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_cannot_make_the_server_run_a_command() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, admin) = runtime(dir.path()).await;
    let base = rt.url();
    let marker = dir.path().join("pwned");
    let deployer = mint(&admin, &base, "deploy").await;
    // Plain, with no token, an invoke token and a deploy token: refused before anything runs.
    for (token, expected) in [
        (None, 401),
        (Some(mint(&admin, &base, "invoke").await), 403),
        (Some(deployer.clone()), 403),
    ] {
        let c = client(token.as_deref());
        let r = c
            .post(format!("{base}/api/packages"))
            .json(&evil(&marker))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), expected, "{}", r.text().await.unwrap());
        let r = c
            .get(format!("{base}/oal/evil.Evil.ping()"))
            .send()
            .await
            .unwrap();
        assert!(
            matches!(r.status().as_u16(), 401 | 403 | 404),
            "{}",
            r.status()
        );
    }
    // As a web page would send it: text/plain, a foreign Origin, a rebound Host.
    let page = reqwest::Client::new();
    let body = serde_json::to_string(&evil(&marker)).unwrap();
    for (header, value) in [
        ("origin", "http://attacker.example"),
        ("host", "attacker.example:6000"),
        ("content-type", "text/plain"),
    ] {
        let r = page
            .post(format!("{base}/api/packages"))
            .bearer_auth(&rt.token)
            .header(header, value)
            .header(
                "content-type",
                if header == "content-type" {
                    value
                } else {
                    "application/json"
                },
            )
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert!(
            matches!(r.status().as_u16(), 403 | 415),
            "{header}: {}",
            r.status()
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!marker.exists(), "a refused request ran its command");
    // The error says what to do.
    let r = client(Some(&deployer))
        .post(format!("{base}/api/packages"))
        .json(&evil(&marker))
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(text.contains("--allow-local"), "{text}");
    // @url endpoints are HTTP(S) only.
    let file_url = json!({"sources": {"f.oaas": "package f\n@url(\"file:///etc/passwd\")\nclass F {\n  public static fn ping() -> int\n}\n"}});
    let (status, body) = post(&admin, format!("{base}/api/packages"), file_url).await;
    assert_eq!(status, 400, "{body}");
    rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_role_reaches_what_it_may_and_no_more() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, admin) = runtime(dir.path()).await;
    let base = rt.url();
    let (status, created) = post(
        &admin,
        format!("{base}/api/classes/testpkg.Counter/objects"),
        json!({}),
    )
    .await;
    assert_eq!(status, 201);
    let id = created["result"]["id"].as_str().unwrap().to_string();
    let mut tokens = vec![("none", None), ("admin", Some(rt.token.clone()))];
    for role in ["read", "invoke", "deploy"] {
        tokens.push((role, Some(mint(&admin, &base, role).await)));
    }
    // A package whose functions run at a URL (a deploy token may not name @local commands).
    let remote = "package remote\n@url(\"http://127.0.0.1:9\")\nclass R {\n  public static fn ping() -> int\n}\n";
    let redeploy = json!({"sources": {"r.oaas": remote}});
    // (method, path, body, the least role that may)
    let routes: Vec<(&str, String, Value, &str)> = vec![
        ("GET", "/api/packages".into(), Value::Null, "read"),
        ("GET", format!("/api/objects/{id}"), Value::Null, "read"),
        (
            "GET",
            "/api/classes/testpkg.Counter/objects".into(),
            Value::Null,
            "read",
        ),
        ("GET", "/metrics".into(), Value::Null, "read"),
        (
            "POST",
            format!("/api/objects/{id}/invoke/read"),
            json!({}),
            "invoke",
        ),
        (
            "POST",
            "/api/classes/testpkg.Counter/objects".into(),
            json!({}),
            "invoke",
        ),
        ("POST", "/api/packages".into(), redeploy, "deploy"),
        ("GET", "/api/tokens".into(), Value::Null, "admin"),
    ];
    let rank = |r: &str| {
        ["none", "read", "invoke", "deploy", "admin"]
            .iter()
            .position(|x| *x == r)
            .unwrap()
    };
    for (who, token) in &tokens {
        let c = client(token.as_deref());
        for (method, path, body, least) in &routes {
            let req = match *method {
                "GET" => c.get(format!("{base}{path}")),
                _ => c.post(format!("{base}{path}")).json(body),
            };
            let status = req.send().await.unwrap().status().as_u16();
            let expected = if rank(who) >= rank(least) {
                "2xx"
            } else if *who == "none" {
                "401"
            } else {
                "403"
            };
            let got = if (200..300).contains(&status) {
                "2xx".to_string()
            } else {
                status.to_string()
            };
            assert_eq!(got, expected, "{who} {method} {path}");
        }
    }
    // /healthz needs nothing; a revoked token nothing more.
    assert_eq!(
        client(None)
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let list: Value = admin
        .get(format!("{base}/api/tokens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let read_id = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["role"] == "read")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let read_token = tokens
        .iter()
        .find(|(w, _)| *w == "read")
        .unwrap()
        .1
        .clone()
        .unwrap();
    assert_eq!(
        admin
            .delete(format!("{base}/api/tokens/{read_id}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let r = client(Some(&read_token))
        .get(format!("{base}/api/packages"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn private_data_stays_private() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, admin) = runtime(dir.path()).await;
    let base = rt.url();
    let invoker = client(Some(&mint(&admin, &base, "invoke").await));
    // `new` hands out upload URLs for public files only.
    let (status, doc) = post(
        &invoker,
        format!("{base}/api/classes/testpkg.Doc/objects"),
        json!({}),
    )
    .await;
    assert_eq!(status, 201, "{doc}");
    let upload = doc["result"]["upload"].as_object().unwrap();
    assert!(
        upload.contains_key("body") && !upload.contains_key("draft"),
        "{upload:?}"
    );
    // A macro's node that calls a private function: its output only for the admin.
    let (_, created) = post(
        &invoker,
        format!("{base}/api/classes/testpkg.Counter/objects"),
        json!({}),
    )
    .await;
    let id = created["result"]["id"].as_str().unwrap();
    let (status, accepted) = post(
        &invoker,
        format!("{base}/api/objects/{id}/invoke/peek?async=true"),
        json!({}),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let inv = accepted["invocation_id"].as_str().unwrap();
    let read = |c: reqwest::Client| {
        let url = format!("{base}/api/invocations/{inv}");
        async move {
            for _ in 0..200 {
                let v: Value = c.get(&url).send().await.unwrap().json().await.unwrap();
                if v["status"] == "succeeded" {
                    return v;
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            panic!("the macro did not finish");
        }
    };
    let as_invoker = read(invoker.clone()).await;
    let as_admin = read(admin.clone()).await;
    let hidden = |v: &Value| {
        v["nodes"]
            .as_object()
            .unwrap()
            .values()
            .find(|n| n["label"].as_str().unwrap().contains("hidden"))
            .unwrap()
            .clone()
    };
    assert!(hidden(&as_invoker).get("output").is_none(), "{as_invoker}");
    assert!(hidden(&as_admin).get("output").is_some(), "{as_admin}");
    rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_committed_file_is_never_written_again() {
    a_committed_file_is_never_written_again_in(common::Files::Folder).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_committed_file_in_a_bucket_is_never_written_again() {
    let Some(s3) = S3Server::start() else {
        return;
    };
    a_committed_file_is_never_written_again_in(common::Files::Bucket(&s3)).await;
}

/// A second upload to a file is refused (the folder: `409`; a bucket: `412`, by the
/// `If-None-Match: *` its upload URLs are signed with, or `403` without that header) and
/// changes nothing; a deleted object's files take nothing the runtime would show.
async fn a_committed_file_is_never_written_again_in(files: common::Files<'_>) {
    let dir = tempfile::tempdir().unwrap();
    let (rt, admin) = common::start_fixture_in(dir.path(), "testpkg", "testpkg.oaas", files).await;
    let base = rt.url();
    let (_, doc) = post(
        &admin,
        format!("{base}/api/classes/testpkg.Doc/objects"),
        json!({}),
    )
    .await;
    let id = doc["result"]["id"].as_str().unwrap().to_string();
    let url = doc["result"]["upload"]["body"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(common::upload(&url, "first").await.status().is_success());
    // A copy shares the blob; a second upload to the same URL must not change it.
    let (status, copy) = invoke(&admin, &base, &id, "copy", json!({})).await;
    assert_eq!(status, 200, "{copy}");
    let copy_id = copy["result"]["id"].as_str().unwrap().to_string();
    let r = common::upload(&url, "second").await;
    let refused = match files {
        common::Files::Folder => 409,
        common::Files::Bucket(_) => 412,
    };
    assert_eq!(r.status(), refused, "{}", r.text().await.unwrap());
    if let common::Files::Bucket(_) = files {
        // Without the header the signature does not hold.
        let r = reqwest::Client::new()
            .put(&url)
            .body("third")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{}", r.text().await.unwrap());
    }
    for object in [&id, &copy_id] {
        for relay in ["false", "true"] {
            let text = admin
                .get(format!(
                    "{base}/api/objects/{object}/files/body?relay={relay}"
                ))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert_eq!(text, "first", "{object}");
        }
    }
    // After a delete, the object's upload URLs take nothing: the folder refuses them; a
    // bucket cannot ask the runtime, but the runtime does not count what lands there.
    let (_, other) = post(
        &admin,
        format!("{base}/api/classes/testpkg.Doc/objects"),
        json!({}),
    )
    .await;
    let other_id = other["result"]["id"].as_str().unwrap().to_string();
    let other_url = other["result"]["upload"]["body"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        admin
            .delete(format!("{base}/api/objects/{other_id}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let late = common::upload(&other_url, "late").await;
    match files {
        common::Files::Folder => assert_eq!(late.status(), 409),
        common::Files::Bucket(_) => assert!(late.status().is_success()),
    }
    let r = admin
        .get(format!(
            "{base}/api/objects/{other_id}/files/body?version=1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "{}", r.text().await.unwrap());
    rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_past_the_limit_in_a_bucket_is_not_taken() {
    let Some(s3) = S3Server::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let package = fixture("testpkg");
    let source = std::fs::read_to_string(package.join("testpkg.oaas")).unwrap();
    let sources = json!({"testpkg.oaas": source});
    let (rt, admin) = common::start_configured(dir.path(), &package, sources, |c| {
        common::Files::Bucket(&s3).configure(c);
        c.max_file_size = 8;
    })
    .await;
    let base = rt.url();
    for (bytes, taken) in [("nine bytes", false), ("eight by", true)] {
        let (_, doc) = post(
            &admin,
            format!("{base}/api/classes/testpkg.Doc/objects"),
            json!({}),
        )
        .await;
        let id = doc["result"]["id"].as_str().unwrap().to_string();
        let url = doc["result"]["upload"]["body"].as_str().unwrap();
        // A presigned PUT cannot bound the size: the bucket takes it, the runtime does not.
        assert!(common::upload(url, bytes).await.status().is_success());
        let r = admin
            .get(format!("{base}/api/objects/{id}/files/body?relay=true"))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        match taken {
            true => assert_eq!((status, text.as_str()), (200, bytes)),
            false => assert_eq!(status, 404, "{text}"),
        }
    }
    rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_past_the_limit_are_refused_and_a_second_server_on_the_folder_too() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = fixture("testpkg");
    let config = oaas_runtime::Config {
        max_file_size: 1024,
        ..oaas_runtime::Config::new(
            dir.path().to_path_buf(),
            "127.0.0.1:0".parse().unwrap(),
            pkg.clone(),
        )
    };
    let rt = oaas_runtime::start(config.clone()).await.unwrap();
    let admin = authed(reqwest::Client::builder(), &rt.token);
    let base = rt.url();
    let source = std::fs::read_to_string(pkg.join("testpkg.oaas")).unwrap();
    let (status, _) = post(
        &admin,
        format!("{base}/api/packages"),
        json!({"sources": {"testpkg.oaas": source}, "workdir": pkg}),
    )
    .await;
    assert_eq!(status, 201);
    let (_, doc) = post(
        &admin,
        format!("{base}/api/classes/testpkg.Doc/objects"),
        json!({}),
    )
    .await;
    let url = doc["result"]["upload"]["body"]
        .as_str()
        .unwrap()
        .to_string();
    let r = admin.put(&url).body(vec![b'x'; 1025]).send().await.unwrap();
    assert_eq!(r.status(), 413);
    // Streamed without a length, it is cut off at the limit too.
    let chunks =
        futures_util::stream::iter((0..4).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 512])));
    let r = admin
        .put(&url)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    // The server answers 413 as soon as the limit is passed, and may close before the
    // client has sent the rest.
    assert!(r.as_ref().map_or(true, |r| r.status() == 413), "{r:?}");
    // On a new connection: the server may have closed the last one mid-body, and a pooled
    // connection can look alive when the next request goes out (a reset, seen under load).
    assert_eq!(
        reqwest::Client::new()
            .put(&url)
            .body(vec![b'z'; 1024])
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    // The data folder is this runtime's: a second one is refused with a message.
    let second = oaas_runtime::start(config).await.err().unwrap();
    assert!(second.contains("another oaas runtime"), "{second}");
    rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_and_cannot_crowd_out_healthz() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().unwrap();
    let config = oaas_runtime::Config {
        limits: oaas_runtime::api::serve::Limits {
            max_connections: 64,
            header_timeout: std::time::Duration::from_millis(300),
        },
        ..oaas_runtime::Config::new(
            dir.path().to_path_buf(),
            "127.0.0.1:0".parse().unwrap(),
            dir.path().to_path_buf(),
        )
    };
    let rt = oaas_runtime::start(config).await.unwrap();
    // More half-open connections than the server keeps: they send nothing.
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(tokio::net::TcpStream::connect(rt.addr).await.unwrap());
    }
    let started = std::time::Instant::now();
    let r = reqwest::Client::new()
        .get(format!("{}/healthz", rt.url()))
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // The server closed the first idle connection: it reads the end of the stream.
    let mut byte = [0u8; 1];
    let read =
        tokio::time::timeout(std::time::Duration::from_secs(5), idle[0].read(&mut byte)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "an idle connection stayed open: {read:?}"
    );
    rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_deploys_compile_without_holding_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, admin) = runtime(dir.path()).await;
    let base = rt.url();
    let mut source = String::from("package big\n");
    for i in 0..3000 {
        source.push_str(&format!("@url(\"http://127.0.0.1:9\")\nclass C{i} {{\n  public state n: int = 0\n  public fn f{i}(x: int) -> int\n}}\n"));
    }
    let deploys: Vec<_> = (0..2)
        .map(|_| {
            let (admin, url, body) = (
                admin.clone(),
                format!("{base}/api/packages"),
                json!({"sources": {"big.oaas": source}}),
            );
            tokio::spawn(async move { admin.post(url).json(&body).send().await.unwrap().status() })
        })
        .collect();
    // While they compile, the server answers at once.
    for _ in 0..10 {
        let started = std::time::Instant::now();
        let r = reqwest::Client::new()
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "healthz took {:?}",
            started.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for d in deploys {
        assert_eq!(d.await.unwrap(), 201);
    }
    rt.stop().await;
}

/// Resident memory of this process, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_huge_container_answer_is_cut_off_not_buffered() {
    // A container that answers 100 MB, made as it is sent (it holds one 1 MB chunk).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let container = format!("http://{}", listener.local_addr().unwrap());
    let chunk = bytes::Bytes::from(vec![b'a'; 1 << 20]);
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move || {
            let chunk = chunk.clone();
            async move {
                let head = futures_util::stream::once(async {
                    Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"{\"value\": \""))
                });
                let body = futures_util::stream::iter((0..100).map(move |_| Ok(chunk.clone())));
                axum::body::Body::from_stream(futures_util::StreamExt::chain(head, body))
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let source = format!(
        "package big\n@url(\"{container}\")\nclass B {{\n  public static fn huge() -> string\n}}\n"
    );
    let (rt, admin) = common::start(dir.path(), dir.path(), json!({"big.oaas": source})).await;
    let before = rss();
    let (status, body) = post(
        &admin,
        format!("{}/api/classes/big.B/invoke/huge", rt.url()),
        json!({}),
    )
    .await;
    let grown = rss().saturating_sub(before);
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--max-result-size"),
        "{body}"
    );
    assert!(grown < 100 << 20, "memory grew by {} MB", grown >> 20);
    rt.stop().await;
}

/// Runtimes behind one address share the key that signs their own URLs, and build them on
/// the address clients use: a URL one signed is taken by another with the same key, and
/// refused by one with another key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_with_one_signing_key_take_each_others_urls_built_on_the_public_url() {
    let pkg = fixture("testpkg");
    let start = |dir: &Path, key: &str| {
        let config = oaas_runtime::Config {
            public_url: Some("http://files.example.test:6000/".into()),
            signing_key: Some(key.into()),
            ..oaas_runtime::Config::new(
                dir.to_path_buf(),
                "127.0.0.1:0".parse().unwrap(),
                pkg.clone(),
            )
        };
        oaas_runtime::start(config)
    };
    let shared = "k".repeat(40);
    let (a_dir, b_dir, c_dir) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let a = start(a_dir.path(), &shared).await.unwrap();
    let b = start(b_dir.path(), &shared).await.unwrap();
    let c = start(c_dir.path(), &"o".repeat(40)).await.unwrap();
    let admin = authed(reqwest::Client::builder(), &a.token);
    let source = std::fs::read_to_string(pkg.join("testpkg.oaas")).unwrap();
    let (status, _) = post(
        &admin,
        format!("{}/api/packages", a.url()),
        json!({"sources": {"testpkg.oaas": source}, "workdir": pkg}),
    )
    .await;
    assert_eq!(status, 201);
    let (_, doc) = post(
        &admin,
        format!("{}/api/classes/testpkg.Doc/objects", a.url()),
        json!({}),
    )
    .await;
    let url = doc["result"]["upload"]["body"].as_str().unwrap();
    let path = url
        .strip_prefix("http://files.example.test:6000/")
        .unwrap_or_else(|| panic!("not on the public URL: {url}"));
    let put = |rt: &oaas_runtime::Running| {
        reqwest::Client::new()
            .put(format!("{}/{path}", rt.url()))
            .body("hello")
            .send()
    };
    assert_eq!(put(&c).await.unwrap().status(), 403, "another key's URL");
    assert_eq!(put(&b).await.unwrap().status(), 201, "the same key's URL");

    let short = tempfile::tempdir().unwrap();
    let refused = start(short.path(), "short").await.err().unwrap();
    assert!(refused.contains("at least 32 characters"), "{refused}");
    for rt in [a, b, c] {
        rt.stop().await;
    }
}
