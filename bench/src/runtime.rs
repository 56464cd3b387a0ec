//! What the runtime benchmarks share: a pooled HTTP client, deploying `.oaas` sources and
//! creating objects over the runtime's API. Errors are strings, as the benches print them.

use serde_json::{json, Value};

/// A pooled client with `TCP_NODELAY`, keeping up to `idle` connections per host, sending
/// `token` as its bearer token.
pub fn client(idle: usize, token: &str) -> Result<reqwest::Client, String> {
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {token}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    headers.insert(reqwest::header::AUTHORIZATION, bearer);
    reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(idle)
        .tcp_nodelay(true)
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())
}

/// Deploys one `.oaas` file, `path` with `source`, to the runtime at `base`.
pub async fn deploy(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    source: &str,
) -> Result<(), String> {
    let r = client
        .post(format!("{base}/api/packages"))
        .json(&json!({"sources": {path: source}}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status().is_success() {
        return Ok(());
    }
    Err(format!(
        "deploy failed: {}",
        r.text().await.unwrap_or_default()
    ))
}

/// Creates an object of `class` (`package.Class`) with default state; returns the
/// answer's `result` (the object, with `id` and, for classes with files, `upload` URLs).
pub async fn create_object(
    client: &reqwest::Client,
    base: &str,
    class: &str,
) -> Result<Value, String> {
    let body: Value = client
        .post(format!("{base}/api/classes/{class}/objects"))
        .json(&json!({}))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    match body.get("result") {
        Some(result) if result.get("id").is_some_and(Value::is_string) => Ok(result.clone()),
        _ => Err(format!("create failed: {body}")),
    }
}
