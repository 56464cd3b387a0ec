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
//!     -> store      SQLite (group commits) or PostgreSQL + blobs (signed URLs)
//! ```
//!
//! The runtime reads package artifacts (`oaas_compiler::artifact`), never compiler internals.

pub mod access;
pub mod api;
pub mod blobs;
pub mod calls;
pub mod datadir;
pub mod engine;
pub mod error;
pub mod executor;
pub mod ids;
pub mod invocations;
pub mod invoker;
pub mod metrics;
pub mod oal;
pub mod objects;
pub mod role;
pub mod store;
pub mod tokens;
pub mod values;

#[cfg(test)]
mod calls_tests;
#[cfg(test)]
mod memo_tests;
#[cfg(test)]
mod testing;

use engine::{Engine, Parts};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Where the runtime keeps its data, where it listens, and what it lets requests do.
#[derive(Clone, Debug)]
pub struct Config {
    /// Data folder: `oaas.db`, `blobs/`, `logs/`, `secret.key`, `token`.
    pub data: PathBuf,
    /// Where objects, invocations, packages and tokens are kept.
    pub store: StoreLocation,
    /// Most connections to a PostgreSQL store for reads and commits (not used by SQLite).
    pub store_connections: usize,
    /// Where file blobs are kept.
    pub blobs: BlobsLocation,
    /// How to reach the bucket of `BlobsLocation::S3`; `None` reads the `AWS_*` variables.
    pub s3: Option<blobs::s3::S3Settings>,
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Folder `@local` commands run in when a deploy names none.
    pub workdir: PathBuf,
    /// Where `@image` functions run, `{service}` standing for the name
    /// `oaasc deploy --emit knative` gives the image's service (on a cluster:
    /// `http://{service}.NAMESPACE.svc.cluster.local`). Without it they cannot run here.
    pub image_url: Option<String>,
    /// The admin token; `None` reads (or makes) the file `token` in the data folder.
    pub admin_token: Option<String>,
    /// Whether packages deployed over HTTP may name `@local` commands, which the runtime
    /// then runs. Without it, only the admin of a server listening on loopback may.
    pub allow_local: bool,
    /// Host names requests may be addressed to, besides loopback names (`--public-url`).
    pub public_hosts: Vec<String>,
    /// The URL clients reach the runtime by, on which its own signed URLs are built; `None`
    /// builds them on the address it listens on.
    pub public_url: Option<String>,
    /// The key that signs the runtime's own file URLs; `None` reads (or makes) the file
    /// `secret.key` in the data folder. Replicas behind one address must share one, so that
    /// a URL one signed is taken by the others.
    pub signing_key: Option<String>,
    /// Browser origins allowed to call the API, besides the server's own.
    pub allowed_origins: Vec<String>,
    /// Most bytes of one uploaded file.
    pub max_file_size: u64,
    /// Most bytes of a container's answer.
    pub max_result_size: usize,
    /// Open connections and the header-read timeout.
    pub limits: api::serve::Limits,
    /// How long this replica holds each invocation it runs without renewing: after a crash,
    /// another replica on the same database takes them over within about this long.
    pub lease: std::time::Duration,
}

/// Fewest characters of a signing key given in the configuration.
pub const MIN_SIGNING_KEY: usize = 32;

/// Most bytes of one uploaded file by default: 1 GiB.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 1 << 30;
/// Most bytes of a container's answer by default: 32 MiB.
pub const DEFAULT_MAX_RESULT_SIZE: usize = 32 << 20;

impl Config {
    /// A runtime with its data in `data`, listening on `listen`, running `@local` commands in
    /// `workdir`, with the defaults: a token from the data folder, no `@local` command from a
    /// request (but the loopback admin's), 1 GiB files, 32 MiB answers.
    pub fn new(data: PathBuf, listen: SocketAddr, workdir: PathBuf) -> Config {
        Config {
            data,
            store: StoreLocation::Sqlite,
            store_connections: store::postgres::DEFAULT_CONNECTIONS,
            blobs: BlobsLocation::Folder,
            s3: None,
            listen,
            workdir,
            image_url: None,
            admin_token: None,
            allow_local: false,
            public_hosts: Vec::new(),
            public_url: None,
            signing_key: None,
            allowed_origins: Vec::new(),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            max_result_size: DEFAULT_MAX_RESULT_SIZE,
            limits: api::serve::Limits::default(),
            lease: invocations::DEFAULT_LEASE,
        }
    }
}

/// Where the runtime keeps its records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// The SQLite file `oaas.db` in the data folder.
    Sqlite,
    /// A PostgreSQL database, by its URL (`postgres://USER@HOST:PORT/DB`).
    Postgres(String),
}

impl StoreLocation {
    /// From the command line: a `postgres://` (or `postgresql://`) URL.
    pub fn parse(s: &str) -> Result<StoreLocation, String> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(StoreLocation::Postgres(s.to_string()))
        } else {
            Err(format!(
                "'{s}' is not a store: give postgres://USER@HOST:PORT/DB, or no --store for the SQLite file in the data folder"
            ))
        }
    }
}

/// Where the runtime keeps file blobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobsLocation {
    /// The folder `blobs/` in the data folder.
    Folder,
    /// An S3-compatible bucket (`s3://BUCKET[/PREFIX]`).
    S3(blobs::s3::S3Location),
}

impl BlobsLocation {
    /// From the command line: `s3://BUCKET[/PREFIX]`.
    pub fn parse(s: &str) -> Result<BlobsLocation, String> {
        if !s.starts_with("s3://") {
            return Err(format!(
                "'{s}' is not a blob store: give s3://BUCKET[/PREFIX], or no --blobs for the folder blobs/ in the data folder"
            ));
        }
        blobs::s3::S3Location::parse(s).map(BlobsLocation::S3)
    }
}

/// Opens the blob store the configuration names, with the runtime's URLs on `base_url`.
async fn open_blobs(
    config: &Config,
    secret: Vec<u8>,
    base_url: String,
) -> Result<blobs::Blobs, String> {
    let store = match &config.blobs {
        BlobsLocation::Folder => blobs::BlobStore::Folder(config.data.join("blobs")),
        BlobsLocation::S3(location) => {
            let settings = match &config.s3 {
                Some(s) => s.clone(),
                None => blobs::s3::S3Settings::from_env()?,
            };
            let s3 = blobs::s3::S3Store::connect(location, &settings, config.max_file_size).await?;
            blobs::BlobStore::S3(Box::new(s3))
        }
    };
    Ok(blobs::Blobs::with_store(store, secret, base_url))
}

/// Opens the store the configuration names (the SQLite file readable by its owner only).
async fn open_store(config: &Config) -> Result<Arc<dyn store::Store>, String> {
    match &config.store {
        StoreLocation::Sqlite => {
            let db = config.data.join("oaas.db");
            let store = store::sqlite::SqliteStore::open(&db).map_err(|e| e.to_string())?;
            for f in ["oaas.db", "oaas.db-wal", "oaas.db-shm"] {
                datadir::make_private(&config.data.join(f));
            }
            Ok(Arc::new(store))
        }
        StoreLocation::Postgres(url) => {
            let message = |e| match e {
                store::StoreError::Database(m) => format!("cannot open the PostgreSQL store: {m}"),
                other => other.to_string(),
            };
            let store = store::postgres::PostgresStore::connect_with(url, config.store_connections)
                .await
                .map_err(message)?;
            Ok(Arc::new(store))
        }
    }
}

/// Follows what other runtimes on a shared store change: reloads the packages after a
/// deploy and the tokens after a mint or revocation, wakes waits after a signal, and drops
/// what it knew of objects written elsewhere, until the runtime is gone.
async fn follow_changes(
    mut changes: tokio::sync::broadcast::Receiver<store::Change>,
    engine: std::sync::Weak<Engine>,
    tokens: std::sync::Weak<tokens::Tokens>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let change = match changes.recv().await {
            Ok(c) => c,
            // Notices were dropped for want of room: read it all again.
            Err(RecvError::Lagged(_)) => store::Change::All,
            Err(RecvError::Closed) => return,
        };
        let (Some(engine), Some(tokens)) = (engine.upgrade(), tokens.upgrade()) else {
            return;
        };
        if matches!(change, store::Change::Packages | store::Change::All) {
            if let Err(e) = engine.objects.load_packages().await {
                tracing::error!(error = %e, "cannot reload the deployed packages");
            }
        }
        if matches!(change, store::Change::Tokens | store::Change::All) {
            if let Err(e) = tokens.reload().await {
                tracing::error!(error = %e, "cannot reload the tokens");
            }
        }
        if matches!(change, store::Change::Signals | store::Change::All) {
            engine.calls.waits.signalled();
        }
        match &change {
            store::Change::Objects(ids) => engine.objects.written_elsewhere(ids),
            store::Change::All => engine.objects.written_elsewhere_all(),
            _ => {}
        }
    }
}

/// A started runtime.
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The engine, for in-process callers such as `oaasc run`.
    pub engine: Arc<Engine>,
    /// The admin token.
    pub token: String,
    /// Where the admin token is kept, when it is in the data folder.
    pub token_file: Option<PathBuf>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
    leases: tokio::task::JoinHandle<()>,
    _data: datadir::DataDir,
}

impl Running {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and stops the function containers.
    pub async fn stop(self) {
        self.leases.abort();
        let _ = self.shutdown.send(());
        let _ = self.server.await;
        self.engine.invoker.containers.shutdown().await;
    }
}

/// Sends a signal to an invocation of the runtime whose data folder `config` names, while
/// no runtime runs on it (the folder is locked, as `start` locks it): checked as the API
/// checks it and kept in its store, it is taken when a runtime next runs there and resumes
/// the invocation.
pub async fn signal_offline(
    config: &Config,
    invocation: &str,
    name: &str,
    value: serde_json::Value,
) -> Result<(), String> {
    let data = datadir::DataDir::open(&config.data)?;
    let secret = data.secret()?;
    let (token, _) = data.admin_token(config.admin_token.as_deref())?;
    let store = open_store(config).await?;
    let blobs = Arc::new(open_blobs(config, secret, "http://127.0.0.1:1".into()).await?);
    let tokens = Arc::new(
        tokens::Tokens::load(store.clone(), &token)
            .await
            .map_err(|e| e.to_string())?,
    );
    let engine = Engine::new(Parts {
        store,
        blobs,
        logs: config.data.join("logs"),
        default_workdir: config.workdir.clone(),
        image_url: None,
        tokens,
        max_result_size: config.max_result_size,
        lease: config.lease,
    });
    engine
        .objects
        .load_packages()
        .await
        .map_err(|e| e.to_string())?;
    let id = ids::InvocationId::from(invocation);
    engine
        .invocations
        .signal(&id, name, value)
        .await
        .map_err(|e| e.message)
}

/// Opens the data folder, loads deployed packages, starts serving, resumes the unfinished
/// invocations no live replica holds, and keeps leases: renews its own, takes over expired
/// ones.
pub async fn start(config: Config) -> Result<Running, String> {
    let data = datadir::DataDir::open(&config.data)?;
    let secret = match &config.signing_key {
        Some(key) if key.len() >= MIN_SIGNING_KEY => key.as_bytes().to_vec(),
        Some(_) => {
            return Err(format!(
                "the signing key must be at least {MIN_SIGNING_KEY} characters long"
            ))
        }
        None => data.secret()?,
    };
    let (token, token_file) = data.admin_token(config.admin_token.as_deref())?;
    let store = open_store(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let base_url = match &config.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => format!("http://{addr}"),
    };
    let blobs = Arc::new(open_blobs(&config, secret, base_url).await?);
    let tokens = Arc::new(
        tokens::Tokens::load(store.clone(), &token)
            .await
            .map_err(|e| e.to_string())?,
    );
    let engine = Arc::new(Engine::new(Parts {
        store,
        blobs,
        logs: config.data.join("logs"),
        default_workdir: config.workdir.clone(),
        image_url: config.image_url.clone(),
        tokens: tokens.clone(),
        max_result_size: config.max_result_size,
        lease: config.lease,
    }));
    if let Ok(mut u) = engine.invoker.containers.runtime_url.write() {
        *u = format!("http://{addr}");
    }
    engine
        .objects
        .load_packages()
        .await
        .map_err(|e| e.to_string())?;
    if let Some(changes) = engine.objects.store().changes() {
        tokio::spawn(follow_changes(
            changes,
            Arc::downgrade(&engine),
            Arc::downgrade(&tokens),
        ));
    }
    let guard = Arc::new(api::auth::Guard {
        tokens,
        hosts: config.public_hosts.clone(),
        origins: config.allowed_origins.clone(),
        allow_local: config.allow_local,
        listen: addr,
        max_file_size: config.max_file_size,
    });
    let app = api::router(engine.clone(), guard);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(api::serve::serve(listener, app, config.limits, rx));
    if let Err(e) = engine.invocations.resume().await {
        tracing::error!(error = %e, "cannot read pending invocations");
    }
    let leases = engine.invocations.keep_leases();
    Ok(Running {
        addr,
        engine,
        token,
        token_file,
        shutdown: tx,
        server,
        leases,
        _data: data,
    })
}
