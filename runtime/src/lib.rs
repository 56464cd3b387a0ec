//! The OaaS runtime: objects whose state it owns, functions it calls over HTTP, and the object
//! access interface users call.
//!
//! ```text
//! HTTP (api) --> Engine --> builtins (in-process)
//!                      \--> tasks --> containers (@local processes, @url endpoints)
//!                      \--> Store (SQLite, group commits) + Blobs (signed URLs)
//! ```
//!
//! The runtime reads package artifacts (`oaas_compiler::artifact`), never compiler internals.

pub mod api;
pub mod blobs;
pub mod builtins;
pub mod containers;
pub mod engine;
pub mod error;
pub mod executor;
pub mod metrics;
pub mod oal;
pub mod openapi;
pub mod ports;
pub mod registry;
pub mod store;
pub mod tasks;
pub mod values;

use engine::{Caller, Engine, Target};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Where the runtime keeps its data and where it listens.
#[derive(Clone, Debug)]
pub struct Config {
    /// Data folder: `oaas.db`, `blobs/`, `logs/`, `secret.key`.
    pub data: PathBuf,
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Folder `@local` commands run in when a deploy names none.
    pub workdir: PathBuf,
    /// Where `@image` functions run, `{service}` standing for the name
    /// `oaasc deploy --emit knative` gives the image's service (on a cluster:
    /// `http://{service}.NAMESPACE.svc.cluster.local`). Without it they cannot run here.
    pub image_url: Option<String>,
}

/// A started runtime.
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The engine, for in-process callers such as `oaasc run`.
    pub engine: Arc<Engine>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and stops the function containers.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = self.server.await;
        self.engine.containers.shutdown().await;
    }
}

fn secret(data: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let path = data.join("secret.key");
    if let Ok(s) = std::fs::read(&path) {
        if s.len() >= 32 {
            return Ok(s);
        }
    }
    let s: Vec<u8> = (0..4)
        .flat_map(|_| *uuid::Uuid::new_v4().as_bytes())
        .collect();
    std::fs::write(&path, &s)?;
    Ok(s)
}

/// Opens the data folder, loads deployed packages, starts serving, and resumes unfinished
/// invocations.
pub async fn start(config: Config) -> Result<Running, String> {
    std::fs::create_dir_all(config.data.join("blobs"))
        .map_err(|e| format!("cannot create {}: {e}", config.data.display()))?;
    std::fs::create_dir_all(config.data.join("logs"))
        .map_err(|e| format!("cannot create logs: {e}"))?;
    let secret = secret(&config.data).map_err(|e| format!("cannot write the signing key: {e}"))?;
    let store = store::sqlite::SqliteStore::open(&config.data.join("oaas.db"))
        .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let blobs = Arc::new(blobs::Blobs::new(
        config.data.join("blobs"),
        secret,
        format!("http://{addr}"),
    ));
    let mut engine = Engine::new(
        Arc::new(store),
        blobs,
        config.data.join("logs"),
        config.workdir.clone(),
    );
    engine.image_url = config.image_url.clone();
    let engine = Arc::new(engine);
    if let Ok(mut u) = engine.containers.runtime_url.write() {
        *u = format!("http://{addr}");
    }
    engine.load_packages().await.map_err(|e| e.to_string())?;
    let app = api::router(engine.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    // Without TCP_NODELAY a response written in pieces (a file's headers, then its body)
    // waits on the client's delayed ACK: 40 ms per file read on Linux (see blob-bench).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    resume(engine.clone()).await;
    Ok(Running {
        addr,
        engine,
        shutdown: tx,
        server,
    })
}

/// Runs every invocation that was accepted but not finished when the runtime stopped. Task
/// ids are deterministic, so work already committed is not done twice.
async fn resume(engine: Arc<Engine>) {
    let pending = match engine.store.pending_invocations().await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot read pending invocations");
            return;
        }
    };
    for inv in pending {
        let engine = engine.clone();
        tokio::spawn(async move {
            let req = &inv.request;
            let target = match (req.pointer("/target/object"), req.pointer("/target/class")) {
                (Some(o), _) => Target::Object(o.as_str().unwrap_or("").to_string()),
                (_, Some(c)) => Target::Class(c.as_str().unwrap_or("").to_string()),
                _ => return,
            };
            let func = req
                .get("function")
                .and_then(|f| f.as_str())
                .unwrap_or("")
                .to_string();
            let args = req.get("args").cloned().unwrap_or(serde_json::Value::Null);
            let outcome = engine
                .call(target, &func, args, Caller::External, Some(inv.id.clone()))
                .await;
            let _ = engine.finish_invocation(&inv.id, &outcome).await;
        });
    }
}
