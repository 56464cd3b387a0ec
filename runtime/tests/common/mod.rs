//! What the runtime's end-to-end tests share: starting a runtime with a package deployed,
//! and small JSON-over-HTTP helpers.
#![allow(dead_code, clippy::unwrap_used)]

use oaas_runtime::blobs::s3_testing::{S3Server, BUCKET};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Where a test runtime keeps its files: the data folder, or a bucket of a real S3 server.
#[derive(Clone, Copy)]
pub enum Files<'a> {
    /// The folder `blobs/` in the data folder.
    Folder,
    /// The test bucket of this server.
    Bucket(&'a S3Server),
}

impl Files<'_> {
    /// Points `config` at these files.
    pub fn configure(self, config: &mut oaas_runtime::Config) {
        if let Files::Bucket(server) = self {
            config.blobs = oaas_runtime::BlobsLocation::parse(&format!("s3://{BUCKET}/t")).unwrap();
            config.s3 = Some(server.settings());
        }
    }
}

/// A fixture package directory under `runtime/tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A client that sends `token` with every request.
pub fn authed(builder: reqwest::ClientBuilder, token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    builder.default_headers(headers).build().unwrap()
}

/// Starts a runtime on an ephemeral port with its data in `data`, and deploys `sources`
/// (`{path: text}`) with `workdir` as the folder `@local` commands run in.
pub async fn start(
    data: &Path,
    workdir: &Path,
    sources: Value,
) -> (oaas_runtime::Running, reqwest::Client) {
    start_with_images(data, workdir, sources, None).await
}

/// Like [`start`], with `@image` functions run at `image_url` (see `Config::image_url`).
pub async fn start_with_images(
    data: &Path,
    workdir: &Path,
    sources: Value,
    image_url: Option<String>,
) -> (oaas_runtime::Running, reqwest::Client) {
    start_in(data, workdir, sources, image_url, Files::Folder).await
}

/// Like [`start_with_images`], with the files kept where `files` says.
pub async fn start_in(
    data: &Path,
    workdir: &Path,
    sources: Value,
    image_url: Option<String>,
    files: Files<'_>,
) -> (oaas_runtime::Running, reqwest::Client) {
    start_configured(data, workdir, sources, |config| {
        config.image_url = image_url;
        files.configure(config);
    })
    .await
}

/// Like [`start`], with the configuration changed by `configure` first.
pub async fn start_configured(
    data: &Path,
    workdir: &Path,
    sources: Value,
    configure: impl FnOnce(&mut oaas_runtime::Config),
) -> (oaas_runtime::Running, reqwest::Client) {
    let mut config = oaas_runtime::Config::new(
        data.to_path_buf(),
        "127.0.0.1:0".parse().unwrap(),
        workdir.to_path_buf(),
    );
    configure(&mut config);
    let running = oaas_runtime::start(config).await.unwrap();
    let client = authed(reqwest::Client::builder(), &running.token);
    let r = client
        .post(format!("{}/api/packages", running.url()))
        .json(&json!({"sources": sources, "workdir": workdir}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    (running, client)
}

/// Starts a runtime with the fixture package `name` (its file `file`) deployed.
pub async fn start_fixture(
    data: &Path,
    name: &str,
    file: &str,
) -> (oaas_runtime::Running, reqwest::Client) {
    start_fixture_in(data, name, file, Files::Folder).await
}

/// Like [`start_fixture`], with the files kept where `files` says.
pub async fn start_fixture_in(
    data: &Path,
    name: &str,
    file: &str,
    files: Files<'_>,
) -> (oaas_runtime::Running, reqwest::Client) {
    let dir = fixture(name);
    let source = std::fs::read_to_string(dir.join(file)).unwrap();
    start_in(data, &dir, json!({ file: source }), None, files).await
}

/// `PUT url` as an uploader does: no token (the URL may be a bucket's), and
/// `If-None-Match: *`, which a bucket's upload URLs are signed with.
pub async fn upload(url: &str, bytes: &'static str) -> reqwest::Response {
    reqwest::Client::new()
        .put(url)
        .header("If-None-Match", "*")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

/// A signed URL with one hex digit of its signature changed.
pub fn tampered(url: &str) -> String {
    let at = ["X-Amz-Signature=", "sig="]
        .iter()
        .find_map(|p| url.find(p).map(|i| i + p.len()))
        .unwrap_or_else(|| panic!("{url} has no signature"));
    let digit = if url[at..].starts_with('0') { "1" } else { "0" };
    format!("{}{digit}{}", &url[..at], &url[at + 1..])
}

/// `POST url` with a JSON body: the status and the JSON answer (null if none).
pub async fn post(client: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let r = client.post(url).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `POST {base}/api/objects/{id}/invoke/{function}` with the arguments: the status and the
/// JSON answer.
pub async fn invoke(
    client: &reqwest::Client,
    base: &str,
    id: &str,
    function: &str,
    args: Value,
) -> (u16, Value) {
    post(
        client,
        format!("{base}/api/objects/{id}/invoke/{function}"),
        args,
    )
    .await
}

/// `GET url` as JSON.
pub async fn get(client: &reqwest::Client, url: String) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}
