//! `oaasc serve --blobs s3://...`: files in a bucket of a real S3 server (`s3s-fs`, started
//! by the test; skipped loudly when it is not installed, failed with `OAAS_REQUIRE_S3=1`),
//! and the errors of a bad `--blobs` or an unreachable bucket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{deploy_fixture, post, start, TOKEN};
use oaas_runtime::blobs::s3_testing::{S3Server, BUCKET};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The `AWS_*` variables, removed from what the tests inherit.
const AWS_VARS: [&str; 6] = [
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_SESSION_TOKEN",
];

/// `oaasc serve` with `args` and the `AWS_*` variables `vars` only.
fn oaasc_serve(data: &Path, args: &[&str], vars: &[(&str, String)]) -> Command {
    let mut cmd = common::serve_command(data);
    cmd.args(args);
    for v in AWS_VARS {
        cmd.env_remove(v);
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

/// A client with the admin token that does not follow redirects.
fn client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {TOKEN}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_keeps_files_in_the_bucket_and_redirects_to_it() {
    let Some(s3) = S3Server::start() else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let blobs = format!("s3://{BUCKET}/cli");
    let (mut server, base) = start(oaasc_serve(data.path(), &["--blobs", &blobs], &s3.vars()));
    let client = client();
    deploy_fixture(&client, &base).await;
    let (status, created) = post(
        &client,
        format!("{base}/api/classes/testpkg.Doc/objects"),
        json!({"title": "cli"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["result"]["id"].as_str().unwrap().to_string();
    let upload = created["result"]["upload"]["body"].as_str().unwrap();
    assert!(upload.starts_with(&s3.endpoint), "{upload}");
    let plain = reqwest::Client::new();
    let r = plain
        .put(upload)
        .header("If-None-Match", "*")
        .body("bytes in a bucket")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    // The bytes are in the bucket's folder, under the prefix; none in the data folder.
    let stored = s3
        .root()
        .join(BUCKET)
        .join(format!("cli/objects/{id}/v1/body"));
    assert_eq!(
        std::fs::read_to_string(&stored).unwrap(),
        "bytes in a bucket"
    );
    assert!(!data.path().join("blobs/objects").exists());
    let r = client
        .get(format!("{base}/api/objects/{id}/files/body"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&s3.endpoint), "{location}");
    let got = plain.get(&location).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.text().await.unwrap(), "bytes in a bucket");
    // `oaasc objects file` reads it from the bucket by the URL the runtime signs.
    let (code, stdout, stderr) =
        common::oaasc_at(&base, &["objects", "file", &id, "body", "-o", "-"]);
    assert_eq!(
        (code, stdout.as_str()),
        (0, "bytes in a bucket"),
        "{stderr}"
    );
    let relayed = client
        .get(format!("{base}/api/objects/{id}/files/body?relay=true"))
        .header("Range", "bytes=9-")
        .send()
        .await
        .unwrap();
    assert_eq!(relayed.status(), 206);
    assert_eq!(relayed.text().await.unwrap(), "a bucket");
    server.kill().unwrap();
    server.wait().unwrap();
}

/// Runs `oaasc serve` that must fail at start: its stderr, after checking exit code 2.
fn fails_with_2(args: &[&str], vars: &[(&str, String)]) -> String {
    let data = tempfile::tempdir().unwrap();
    let out = oaasc_serve(data.path(), args, vars).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn a_bad_blobs_value_or_an_unreachable_bucket_stops_serve_with_exit_2() {
    for bad in ["/var/blobs", "s3://", "s3://No_Such", "http://bucket"] {
        let stderr = fails_with_2(&["--blobs", bad], &[]);
        assert!(stderr.contains("s3://BUCKET"), "{bad}: {stderr}");
    }
    let keys = [
        ("AWS_ACCESS_KEY_ID", "k".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "s".to_string()),
    ];
    let stderr = fails_with_2(&["--blobs", "s3://oaas-files"], &keys[..1]);
    assert!(stderr.contains("AWS_SECRET_ACCESS_KEY"), "{stderr}");
    // Nothing listens on port 1.
    let mut vars = keys.to_vec();
    vars.push(("AWS_ENDPOINT_URL", "http://127.0.0.1:1".into()));
    let stderr = fails_with_2(&["--blobs", "s3://oaas-files"], &vars);
    assert!(
        stderr.contains("cannot reach the S3 endpoint http://127.0.0.1:1"),
        "{stderr}"
    );
    vars.pop();
    vars.push(("AWS_ENDPOINT_URL", "not a url".into()));
    let stderr = fails_with_2(&["--blobs", "s3://oaas-files"], &vars);
    assert!(stderr.contains("is not a URL"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_missing_bucket_and_wrong_keys() {
    let Some(s3) = S3Server::start() else {
        return;
    };
    let stderr = fails_with_2(&["--blobs", "s3://no-such-bucket"], &s3.vars());
    assert!(
        stderr.contains("there is no bucket 'no-such-bucket'"),
        "{stderr}"
    );
    let mut vars = s3.vars();
    for (k, v) in vars.iter_mut() {
        if *k == "AWS_SECRET_ACCESS_KEY" {
            *v = "wrong".into();
        }
    }
    let stderr = fails_with_2(&["--blobs", &format!("s3://{BUCKET}")], &vars);
    assert!(stderr.contains("refused the credentials"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_video_example_reads_and_writes_its_files_in_the_bucket() {
    // A clip of scikit-image's astronaut photograph (needs examples/video/requirements.txt).
    let Some(s3) = S3Server::start() else {
        return;
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    let made = Command::new("python3")
        .arg(root.join("examples/video/tools/make_clip.py"))
        .arg(&clip)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&made.stderr);
    assert!(made.status.success(), "make_clip.py failed: {stderr}");
    let data = dir.path().join("data");
    let blobs = format!("s3://{BUCKET}/video");
    let (mut server, base) = start(oaasc_serve(&data, &["--blobs", &blobs], &s3.vars()));
    // `oaasc run --cluster` deploys, uploads the clip by the bucket's URL, and runs the
    // function, whose container reads the clip and writes its frame from and to the bucket.
    let out = Command::new(env!("CARGO_BIN_EXE_oaasc"))
        .args([
            "run",
            "examples/video",
            "Video.detect_faces",
            "--cluster",
            &base,
        ])
        .args([
            "--token",
            TOKEN,
            "--new",
            "title=clip",
            "--arg",
            "every_s=1",
        ])
        .args([
            "--file",
            &format!("src={}", clip.display()),
            "--output",
            "json",
        ])
        .current_dir(&root)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let detection = &v["result"];
    assert_eq!(detection["class"], "video.Detection", "{v}");
    let frames = detection["state"]["frames_scanned"].as_i64().unwrap();
    let faces = detection["state"]["faces"].as_array().unwrap();
    assert!(
        frames >= 5 && faces.len() as i64 >= frames - 1,
        "{detection}"
    );
    // The clip (and the parts and frames the functions wrote) went to the bucket, not to
    // the data folder.
    let size = std::fs::metadata(&clip).unwrap().len();
    let stored = walk(&s3.root().join(BUCKET).join("video/objects"));
    assert!(
        stored
            .iter()
            .any(|p| p.ends_with("src") && std::fs::metadata(p).unwrap().len() == size),
        "{stored:?}"
    );
    assert!(stored.iter().any(|p| p.ends_with("data")), "{stored:?}");
    assert!(!data.join("blobs/objects").exists());
    server.kill().unwrap();
    server.wait().unwrap();
}

/// Every file below `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_one_database_share_the_files_of_one_bucket() {
    let Some(db) = oaas_runtime::store::postgres::ScratchDatabase::create()
        .await
        .expect("PostgreSQL required")
    else {
        return;
    };
    let Some(s3) = S3Server::start() else {
        return;
    };
    let blobs = format!("s3://{BUCKET}/shared");
    let args = ["--store", db.url(), "--blobs", &blobs];
    let (a_data, b_data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut a, a_url) = start(oaasc_serve(a_data.path(), &args, &s3.vars()));
    let (mut b, b_url) = start(oaasc_serve(b_data.path(), &args, &s3.vars()));
    let client = client();
    deploy_fixture(&client, &a_url).await;
    // Made and uploaded through one replica...
    let (status, created) = post(
        &client,
        format!("{a_url}/api/classes/testpkg.Doc/objects"),
        json!({"title": "shared"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["result"]["id"].as_str().unwrap().to_string();
    let upload = created["result"]["upload"]["body"].as_str().unwrap();
    let r = reqwest::Client::new()
        .put(upload)
        .header("If-None-Match", "*")
        .body("hello ")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    // ...changed by a function through the other, whose container reads and writes the
    // bucket...
    let (status, r) = post(
        &client,
        format!("{b_url}/api/objects/{id}/invoke/append"),
        json!({"text": "replicas"}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    // ...and read through both, by redirect and relayed.
    let plain = reqwest::Client::new();
    for base in [&a_url, &b_url] {
        let r = client
            .get(format!("{base}/api/objects/{id}/files/body"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 307);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let text = plain
            .get(&location)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(text, "hello replicas");
        let relayed = client
            .get(format!("{base}/api/objects/{id}/files/body?relay=true"))
            .send()
            .await
            .unwrap();
        assert_eq!(relayed.text().await.unwrap(), "hello replicas");
    }
    for server in [&mut a, &mut b] {
        server.kill().unwrap();
        server.wait().unwrap();
    }
}
