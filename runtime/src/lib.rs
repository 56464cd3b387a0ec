//! The OaaS runtime: objects whose state it owns, functions it calls over HTTP, and the object
//! access interface users call.
//!
//! Layers, each depending only on those below it (`engine` builds and wires them):
//!
//! ```text
//! api          HTTP: routes, authentication of signed URLs, errors to statuses
//!  -> invocations   idempotency, accept, run, finish, resume
//!   -> calls        admission (access, target, arguments), builtins, tasks, commits
//!    -> executor    macros as dataflows, over a `NodeCaller` trait
//!    -> objects     registry, versions and their cache, per-object locks, views
//!    -> invoker     the container protocol over an `Invoker` trait (HTTP)
//!     -> store      SQLite (group commits) + blobs (signed URLs)
//! ```
//!
//! The runtime reads package artifacts (`oaas_compiler::artifact`), never compiler internals.

pub mod access;
pub mod api;
pub mod blobs;
pub mod calls;
pub mod engine;
pub mod error;
pub mod executor;
pub mod ids;
pub mod invocations;
pub mod invoker;
pub mod metrics;
pub mod oal;
pub mod objects;
pub mod store;
pub mod values;

#[cfg(test)]
mod testing;

use engine::{Engine, Parts};
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
        self.engine.invoker.containers.shutdown().await;
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
    let engine = Arc::new(Engine::new(Parts {
        store: Arc::new(store),
        blobs,
        logs: config.data.join("logs"),
        default_workdir: config.workdir.clone(),
        image_url: config.image_url.clone(),
    }));
    if let Ok(mut u) = engine.invoker.containers.runtime_url.write() {
        *u = format!("http://{addr}");
    }
    engine
        .objects
        .load_packages()
        .await
        .map_err(|e| e.to_string())?;
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
    if let Err(e) = engine.invocations.resume().await {
        tracing::error!(error = %e, "cannot read pending invocations");
    }
    Ok(Running {
        addr,
        engine,
        shutdown: tx,
        server,
    })
}
