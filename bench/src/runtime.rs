//! What the runtime benchmarks share: a pooled HTTP client, deploying `.oaas` sources and
//! creating objects over the runtime's API. Errors are strings, as the benches print them.

use serde_json::{json, Value};

/// A listener on an ephemeral port of 127.0.0.1, and its base URL (`http://127.0.0.1:PORT`).
pub async fn ephemeral() -> Result<(tokio::net::TcpListener, String), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    Ok((listener, url))
}

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

/// Sends `request` and reads its answer as JSON.
pub async fn json_of(request: reqwest::RequestBuilder) -> Result<Value, String> {
    request
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())
}

/// Creates an object of `class` (`package.Class`) with default state; returns the
/// answer's `result` (the object, with `id` and, for classes with files, `upload` URLs).
pub async fn create_object(
    client: &reqwest::Client,
    base: &str,
    class: &str,
) -> Result<Value, String> {
    let body = json_of(
        client
            .post(format!("{base}/api/classes/{class}/objects"))
            .json(&json!({})),
    )
    .await?;
    match body.get("result") {
        Some(result) if result.get("id").is_some_and(Value::is_string) => Ok(result.clone()),
        _ => Err(format!("create failed: {body}")),
    }
}

/// The data folder of replica `n`: the given one for the first, beside it for the others.
pub fn replica_data(data: &std::path::Path, n: usize) -> std::path::PathBuf {
    match n {
        0 => data.to_path_buf(),
        n => std::path::PathBuf::from(format!("{}-{n}", data.display())),
    }
}

/// Starts `replicas` runtimes on `store`, each with a fresh data folder of its own beside
/// `data` and at most `connections` to a PostgreSQL store; the first makes the admin
/// token, the others take it.
pub async fn start_replicas(
    store: &oaas_runtime::StoreLocation,
    replicas: usize,
    connections: usize,
    data: &std::path::Path,
) -> Result<Vec<oaas_runtime::Running>, String> {
    if replicas > 1 && *store == oaas_runtime::StoreLocation::Sqlite {
        return Err("--replicas needs --store postgres://...".into());
    }
    let mut started: Vec<oaas_runtime::Running> = Vec::new();
    for n in 0..replicas {
        let folder = replica_data(data, n);
        let _ = std::fs::remove_dir_all(&folder);
        let listen = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
        let config = oaas_runtime::Config {
            store: store.clone(),
            store_connections: connections,
            admin_token: started.first().map(|r| r.token.clone()),
            ..oaas_runtime::Config::new(folder, listen, std::env::temp_dir())
        };
        started.push(oaas_runtime::start(config).await?);
    }
    Ok(started)
}
