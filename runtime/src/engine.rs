//! The engine: where the runtime's layers are built and wired. It holds no logic of its own.
//!
//! ```text
//! api (HTTP) -> invocations -> calls -> { executor, objects, invoker } -> store
//! ```

use crate::blobs::Blobs;
use crate::calls::Calls;
use crate::invocations::Invocations;
use crate::invoker::http::HttpInvoker;
use crate::objects::Objects;
use crate::store::Store;
use crate::tokens::Tokens;
use std::path::PathBuf;
use std::sync::Arc;

/// The running platform, layer by layer.
pub struct Engine {
    /// Objects and packages.
    pub objects: Arc<Objects>,
    /// Calls of functions and macros.
    pub calls: Arc<Calls>,
    /// Invocations: the requests, recorded and resumed.
    pub invocations: Arc<Invocations>,
    /// The HTTP invoker and its containers.
    pub invoker: Arc<HttpInvoker>,
    /// The tokens requests are authenticated with.
    pub tokens: Arc<Tokens>,
}

/// What an engine is built from.
pub struct Parts {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// File blobs.
    pub blobs: Arc<Blobs>,
    /// Folder the containers' logs go to.
    pub logs: PathBuf,
    /// Folder `@local` commands run in when a deploy names none.
    pub default_workdir: PathBuf,
    /// Where `@image` functions run (see `Config::image_url`).
    pub image_url: Option<String>,
    /// The tokens requests are authenticated with.
    pub tokens: Arc<Tokens>,
    /// Most bytes read of a container's answer.
    pub max_result_size: usize,
    /// How long this replica holds an invocation it runs before renewing its lease.
    pub lease: std::time::Duration,
}

impl Engine {
    /// Builds the layers over a store and blobs.
    pub fn new(parts: Parts) -> Engine {
        let objects = Arc::new(Objects::new(parts.store.clone(), parts.blobs));
        let invoker = Arc::new(HttpInvoker::new(
            parts.logs,
            parts.default_workdir,
            parts.image_url,
            parts.max_result_size,
        ));
        let calls = Arc::new(Calls::new(objects.clone(), invoker.clone()));
        let invocations = Arc::new(Invocations::new(calls.clone(), parts.store, parts.lease));
        Engine {
            objects,
            calls,
            invocations,
            invoker,
            tokens: parts.tokens,
        }
    }
}
