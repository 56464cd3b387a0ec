//! The registry of handlers and the HTTP server around it.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;

use crate::ctx::Ctx;
use crate::error::FnError;
use crate::protocol::{ErrorBody, Task, TaskResult, PROTOCOL};
use crate::reply::Reply;

type BoxFuture = Pin<Box<dyn Future<Output = Result<Reply, FnError>> + Send + 'static>>;
type Handler = Arc<dyn Fn(Ctx) -> BoxFuture + Send + Sync + 'static>;

/// Handlers by (class, function), with handlers by function name alone as the fallback.
///
/// ```no_run
/// use oaas_sdk::{Ctx, FnError, Functions, Reply};
///
/// async fn read_count(ctx: Ctx) -> Result<Reply, FnError> {
///     Ok(Reply::value(ctx.state_field::<i64>("count")?.unwrap_or(0)))
/// }
///
/// #[tokio::main]
/// async fn main() -> std::io::Result<()> {
///     Functions::new().function("record.Record", "read_count", read_count).serve_from_env().await
/// }
/// ```
#[derive(Clone)]
pub struct Functions {
    by_class: HashMap<String, HashMap<String, Handler>>,
    by_name: HashMap<String, Handler>,
    client: reqwest::Client,
}

impl Default for Functions {
    fn default() -> Self {
        Functions::new()
    }
}

fn boxed<F, Fut>(handler: F) -> Handler
where
    F: Fn(Ctx) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply, FnError>> + Send + 'static,
{
    Arc::new(move |ctx| Box::pin(handler(ctx)) as BoxFuture)
}

impl Functions {
    /// No handlers yet. Signed URLs are fetched directly (no proxy from the environment).
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Functions {
            by_class: HashMap::new(),
            by_name: HashMap::new(),
            client,
        }
    }

    /// Run `handler` for function `name` of class `class` (`package.Class`).
    pub fn function<F, Fut>(mut self, class: &str, name: &str, handler: F) -> Self
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Reply, FnError>> + Send + 'static,
    {
        self.by_class
            .entry(class.to_string())
            .or_default()
            .insert(name.to_string(), boxed(handler));
        self
    }

    /// Run `handler` for function `name` of any class that has no handler of its own.
    pub fn fallback<F, Fut>(mut self, name: &str, handler: F) -> Self
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Reply, FnError>> + Send + 'static,
    {
        self.by_name.insert(name.to_string(), boxed(handler));
        self
    }

    /// Use this HTTP client for files and allocations (TLS, proxies, pool settings).
    pub fn with_http_client(mut self, client: reqwest::Client) -> Self {
        self.client = client;
        self
    }

    /// (class, function), then (declared_in, function), then the function name alone.
    fn lookup(&self, task: &Task) -> Option<&Handler> {
        let name = task.function.as_str();
        let in_class = |class: &str| self.by_class.get(class).and_then(|m| m.get(name));
        in_class(&task.class)
            .or_else(|| task.declared_in.as_deref().and_then(in_class))
            .or_else(|| self.by_name.get(name))
    }

    /// Run one task, without HTTP in front: the answer or the error.
    pub async fn run(&self, task: Task) -> Result<TaskResult, FnError> {
        if task.protocol != PROTOCOL {
            return Err(FnError::new(format!(
                "unsupported protocol `{}`: this SDK speaks {PROTOCOL}",
                task.protocol
            ))
            .with_status(400));
        }
        let Some(handler) = self.lookup(&task) else {
            return Err(FnError::new(format!(
                "no handler for {}.{} in this container",
                task.class, task.function
            ))
            .with_status(404));
        };
        let wants_output = task.output.is_some();
        let wants_outputs = task.outputs.is_some();
        let self_files = Arc::new(Mutex::new(Vec::new()));
        let ctx = Ctx::new(task, self.client.clone(), self_files.clone());
        // A task of its own, so that a panic becomes a 500 instead of a dropped connection.
        let reply = match tokio::spawn(handler(ctx)).await {
            Ok(reply) => reply?,
            Err(e) if e.is_panic() => {
                let panic = e.into_panic();
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_string());
                return Err(FnError::internal(format!(
                    "the function panicked: {message}"
                )));
            }
            Err(e) => {
                return Err(FnError::internal(format!(
                    "the function was cancelled: {e}"
                )))
            }
        };
        let files = std::mem::take(&mut *self_files.lock().unwrap_or_else(|e| e.into_inner()));
        let output = match reply.output {
            Some(o) => Some(o.into_result(false)),
            None if wants_output => Some(Default::default()),
            None => None,
        };
        let outputs = match reply.outputs {
            Some(list) => Some(list.into_iter().map(|o| o.into_result(true)).collect()),
            None if wants_outputs => Some(Vec::new()),
            None => None,
        };
        Ok(TaskResult {
            state: if reply.state.is_empty() {
                None
            } else {
                Some(reply.state)
            },
            files,
            output,
            outputs,
            value: reply.value,
        })
    }

    /// Answer one HTTP request body: (status, JSON body).
    pub async fn handle(&self, headers: &HeaderMap, body: &[u8]) -> (StatusCode, Vec<u8>) {
        let result = match serde_json::from_slice::<Task>(body) {
            Err(e) => Err(
                FnError::new(format!("the request body is not a task document: {e}"))
                    .with_status(400),
            ),
            Ok(mut task) => {
                if task.class.is_empty() {
                    fill_from_ce_source(&mut task, headers);
                }
                self.run(task).await
            }
        };
        match result.and_then(|r| serde_json::to_vec(&r).map_err(FnError::from)) {
            Ok(bytes) => (StatusCode::OK, bytes),
            Err(e) => {
                let status =
                    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let body = ErrorBody::new(e.message(), e.is_retryable());
                (status, serde_json::to_vec(&body).unwrap_or_default())
            }
        }
    }

    /// The axum router: `POST /` runs tasks, `GET /` and `GET /healthz` answer `200`.
    pub fn router(self) -> Router {
        Router::new()
            .route("/", post(task).get(health))
            .route("/healthz", get(health))
            .fallback(other)
            .layer(DefaultBodyLimit::disable())
            .with_state(Arc::new(self))
    }

    /// Serve on `listener` until the process is told to stop.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown())
            .await
    }

    /// Serve on `$HOST:$PORT` (defaults `127.0.0.1` and `8080`), printing
    /// `oaas-sdk: listening on http://ADDR` to stderr once bound (with `PORT=0`, ADDR has
    /// the port the system chose).
    pub async fn serve_from_env(self) -> std::io::Result<()> {
        let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".to_string());
        let port: u16 = match std::env::var("PORT") {
            Err(_) => 8080,
            Ok(p) => p.trim().parse().map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("PORT is not a port number: {p:?}"),
                )
            })?,
        };
        let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
        let addr: SocketAddr = listener.local_addr()?;
        eprintln!("oaas-sdk: listening on http://{addr}");
        if std::env::var("OAAS_EXIT_WITH_PARENT").as_deref() == Ok("1") {
            exit_with_parent();
        }
        self.serve(listener).await
    }
}

/// Exits when the process that started this container dies (even by SIGKILL): the runtime
/// sets `OAAS_EXIT_WITH_PARENT=1`, so that no orphaned container keeps running (as the Python
/// SDK does).
fn exit_with_parent() {
    #[cfg(unix)]
    {
        let parent = std::os::unix::process::parent_id();
        let watch = move || loop {
            std::thread::sleep(std::time::Duration::from_millis(500));
            if std::os::unix::process::parent_id() != parent {
                std::process::exit(0);
            }
        };
        let _ = std::thread::Builder::new()
            .name("oaas-parent-watch".into())
            .spawn(watch);
    }
}

/// [`Functions::serve_from_env`].
pub async fn serve_from_env(functions: Functions) -> std::io::Result<()> {
    functions.serve_from_env().await
}

fn fill_from_ce_source(task: &mut Task, headers: &HeaderMap) {
    let Some(source) = headers.get("ce-source").and_then(|v| v.to_str().ok()) else {
        return;
    };
    let parts: Vec<&str> = source.trim_matches('/').split('/').collect();
    if let ["classes", class, "functions", function] = parts.as_slice() {
        task.class = class.to_string();
        if task.function.is_empty() {
            task.function = function.to_string();
        }
    }
}

fn json(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn task(
    State(functions): State<Arc<Functions>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (status, body) = functions.handle(&headers, &body).await;
    json(status, body)
}

async fn health() -> Response {
    json(StatusCode::OK, br#"{"status":"ok"}"#.to_vec())
}

async fn other(
    State(functions): State<Arc<Functions>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // A base address with a path (`@url("http://host/fns")`) posts there: run the task.
    if method == Method::POST {
        let (status, body) = functions.handle(&headers, &body).await;
        return json(status, body);
    }
    let body = ErrorBody::new(format!("no such path {}", uri.path()), false);
    json(
        StatusCode::NOT_FOUND,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
