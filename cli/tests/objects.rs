//! `oaasc objects` and `oaasc packages` against a real `oaasc serve`: versions, a file
//! downloaded through its signed URL, delete, what is deployed, and the exit codes of what
//! the runtime refuses (docs/running.md).
#![allow(clippy::unwrap_used)]

mod common;

use serde_json::{json, Value};

/// `oaasc objects` with `args` against `base`: exit code, stdout, stderr.
fn objects(base: &str, args: &[&str]) -> (i32, String, String) {
    oaasc(base, "objects", args)
}

/// `oaasc COMMAND` with `args` against `base`: exit code, stdout, stderr.
fn oaasc(base: &str, command: &str, args: &[&str]) -> (i32, String, String) {
    common::oaasc_at(base, &[&[command], args].concat())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_versions_file_and_delete() {
    let data = tempfile::tempdir().unwrap();
    let (mut server, base) = common::serve(data.path(), None);
    let client = common::client();
    common::deploy_fixture(&client, &base).await;
    let (status, created) = common::post(
        &client,
        format!("{base}/api/classes/testpkg.Doc/objects"),
        json!({"title": "t"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["result"]["id"].as_str().unwrap().to_string();
    let upload = created["result"]["upload"]["body"].as_str().unwrap();
    let upload = match upload.starts_with('/') {
        true => format!("{base}{upload}"),
        false => upload.to_string(),
    };
    let r = reqwest::Client::new()
        .put(&upload)
        .header("If-None-Match", "*")
        .body("hello, file")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    // The file, to a path and to standard output.
    let out = data.path().join("body.txt");
    let (code, _, stderr) = objects(&base, &["file", &id, "body", "-o", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "hello, file");
    assert!(stderr.contains("wrote 11 bytes"), "{stderr}");
    let (code, stdout, stderr) =
        objects(&base, &["file", &id, "body", "-o", "-", "--version", "1"]);
    assert_eq!((code, stdout.as_str()), (0, "hello, file"), "{stderr}");
    // The CLI's own refusals exit 2 and show no HTTP status: no runtime answered them.
    let (code, _, stderr) = objects(&base, &["list", "testpkg.Doc", "--filter", "no-equals"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("no-equals") && !stderr.contains("(400)"),
        "{stderr}"
    );
    let nowhere = data.path().join("no-such-dir").join("body.txt");
    let (code, _, stderr) = objects(
        &base,
        &["file", &id, "body", "-o", nowhere.to_str().unwrap()],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("cannot write") && !stderr.contains("(400)"),
        "{stderr}"
    );
    // A file the class keeps private, or does not have: refused, exit 2, nothing written.
    for name in ["draft", "nothing"] {
        let out = data.path().join(name);
        let (code, _, stderr) = objects(&base, &["file", &id, name, "-o", out.to_str().unwrap()]);
        assert_eq!(code, 2, "{name}: {stderr}");
        assert!(!out.exists(), "{name}");
    }
    // A file declared but never uploaded: refused, and no empty file left behind.
    let (status, bare) = common::post(
        &client,
        format!("{base}/api/classes/testpkg.Doc/objects"),
        json!({"title": "bare"}),
    )
    .await;
    assert_eq!(status, 201, "{bare}");
    let bare = bare["result"]["id"].as_str().unwrap();
    let out = data.path().join("never.txt");
    let (code, _, stderr) = objects(&base, &["file", bare, "body", "-o", out.to_str().unwrap()]);
    assert_ne!(code, 0, "{stderr}");
    assert!(!out.exists(), "{stderr}");
    // Deleted: one more version, the object gone, its versions still there.
    let (code, stdout, stderr) = objects(&base, &["delete", &id]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), format!("deleted {id}"));
    // `--json` prints the runtime's answer: deleting again is refused, so use another object.
    let (status, other) = common::post(
        &client,
        format!("{base}/api/classes/testpkg.Doc/objects"),
        json!({"title": "other"}),
    )
    .await;
    assert_eq!(status, 201, "{other}");
    let other = other["result"]["id"].as_str().unwrap();
    let (code, stdout, stderr) = objects(&base, &["delete", other, "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let answer: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(answer["result"]["id"], other, "{answer}");
    assert_eq!(answer["result"]["deleted"], true, "{answer}");
    let (code, _, stderr) = objects(&base, &["get", &id]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("was deleted"), "{stderr}");
    let (code, stdout, stderr) = objects(&base, &["versions", &id, "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let versions: Value = serde_json::from_str(&stdout).unwrap();
    let numbers: Vec<u64> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2], "{versions}");
    let (code, stdout, _) = objects(&base, &["versions", &id]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("2 versions\nobject "), "{stdout}");
    assert!(stdout.contains(" v2)"), "{stdout}");
    let (code, _, stderr) = objects(&base, &["versions", "no-such-object"]);
    assert_eq!(code, 2, "{stderr}");
    server.kill().unwrap();
    server.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packages_list_and_get_show_what_is_deployed() {
    let data = tempfile::tempdir().unwrap();
    let (mut server, base) = common::serve(data.path(), None);
    let (code, stdout, stderr) = oaasc(&base, "packages", &["list"]);
    assert_eq!((code, stdout.trim()), (0, "no packages"), "{stderr}");
    let client = common::client();
    common::deploy_fixture(&client, &base).await;
    let (code, stdout, stderr) = oaasc(&base, "packages", &["list"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("testpkg  sha256:"), "{stdout}");
    let (code, stdout, stderr) = oaasc(&base, "packages", &["get", "testpkg"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("  class testpkg.Counter\n"), "{stdout}");
    assert!(stdout.contains("  source testpkg.oaas ("), "{stdout}");
    let (code, stdout, _) = oaasc(&base, "packages", &["get", "testpkg", "--json"]);
    assert_eq!(code, 0);
    let package: Value = serde_json::from_str(&stdout).unwrap();
    let text = package["sources"][0]["text"].as_str().unwrap();
    assert!(text.contains("class Counter"), "{package}");
    let (code, _, stderr) = oaasc(&base, "packages", &["get", "nothing"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("there is no package `nothing`"), "{stderr}");
    server.kill().unwrap();
    server.wait().unwrap();
}
