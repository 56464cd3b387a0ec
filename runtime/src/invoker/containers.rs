//! Function containers: `@local` commands started as child processes with `PORT` set,
//! awaited until they answer, restarted with backoff when they die, stopped on shutdown, with
//! their output logged under the data folder; `@url` endpoints called as they are. One pooled
//! keep-alive HTTP/1.1 client (hyper's) serves all calls.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::sync::watch;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The HTTP client tasks are sent with.
pub type TaskClient =
    hyper_util::client::legacy::Client<HttpConnector, http_body_util::Full<bytes::Bytes>>;

/// Starts in a row that fail before a container is ready, after which calls fail at once
/// (the supervisor keeps trying in the background).
const FAILED_STARTS: u32 = 3;
/// How long a starting container may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Every container the runtime knows.
pub struct Containers {
    /// The pooled client for all task calls.
    pub client: TaskClient,
    /// The runtime's own address, given to containers as `OAAS_RUNTIME_URL`.
    pub runtime_url: RwLock<String>,
    logs: PathBuf,
    local: Mutex<HashMap<String, Arc<LocalContainer>>>,
    /// Task URLs parsed once per container address, not once per call.
    task_urls: Mutex<HashMap<String, TaskTarget>>,
    shutdown: watch::Sender<bool>,
}

/// Where tasks for one container address go: the URL they are POSTed to and its `Host`
/// header, both made once (the HTTP client would otherwise format the header for every task).
#[derive(Clone, Debug)]
pub struct TaskTarget {
    /// `{base}/`.
    pub url: http::Uri,
    /// The URL's host and port.
    pub host: http::HeaderValue,
}

/// A `@local` container: its command, where it runs, and its current address.
pub struct LocalContainer {
    command: String,
    workdir: PathBuf,
    log: PathBuf,
    url: RwLock<Option<String>>,
    ready: watch::Sender<u64>,
    child: tokio::sync::Mutex<Option<Child>>,
    /// Starts in a row that ended before the container accepted connections.
    failed_starts: std::sync::atomic::AtomicU32,
}

/// The key of a `@local` container: the same command in two folders is two containers.
fn container_key(command: &str, workdir: &Path) -> String {
    format!("{}\u{0}{}", workdir.display(), command)
}

/// Why a container could not be reached.
#[derive(Debug, Clone)]
pub struct StartError(pub String);

impl Containers {
    /// Containers logging under `logs`.
    pub fn new(logs: PathBuf) -> Containers {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(256)
            .build(connector);
        let (shutdown, _) = watch::channel(false);
        Containers {
            client,
            runtime_url: RwLock::new(String::new()),
            logs,
            local: Mutex::new(HashMap::new()),
            task_urls: Mutex::new(HashMap::new()),
            shutdown,
        }
    }

    /// Where tasks are POSTed for a container's base address (`{base}/`).
    pub fn task_target(&self, base: &str) -> Result<TaskTarget, String> {
        if let Some(url) = self
            .task_urls
            .lock()
            .ok()
            .and_then(|m| m.get(base).cloned())
        {
            return Ok(url);
        }
        let url: http::Uri = format!("{base}/")
            .parse()
            .map_err(|e| format!("`{base}` is not a URL a task can be sent to: {e}"))?;
        let authority = match url.authority() {
            Some(a) if url.scheme_str() == Some("http") && !a.host().is_empty() => a.as_str(),
            _ => {
                return Err(format!(
                    "`{base}` is not a URL a task can be sent to: functions are called over http://"
                ))
            }
        };
        // The authority without user info, as the HTTP client would write it.
        let host = authority.rsplit('@').next().unwrap_or(authority);
        let host = http::HeaderValue::from_str(host)
            .map_err(|e| format!("`{base}` is not a URL a task can be sent to: {e}"))?;
        let target = TaskTarget { url, host };
        if let Ok(mut m) = self.task_urls.lock() {
            if m.len() >= 10_000 {
                m.clear();
            }
            m.insert(base.to_string(), target.clone());
        }
        Ok(target)
    }

    /// The base URL of a `@local` container, starting it if needed.
    pub async fn local_url(&self, command: &str, workdir: &Path) -> Result<String, StartError> {
        let key = container_key(command, workdir);
        let container = {
            let mut map = self
                .local
                .lock()
                .map_err(|_| StartError("container table poisoned".into()))?;
            match map.get(&key) {
                Some(c) => c.clone(),
                None => {
                    let name: String = command
                        .chars()
                        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                        .take(60)
                        .collect();
                    // The same command in two packages gets two logs.
                    let dir = {
                        use std::hash::{Hash, Hasher};
                        let mut h = std::collections::hash_map::DefaultHasher::new();
                        workdir.hash(&mut h);
                        h.finish() & 0xffff_ffff
                    };
                    let c = Arc::new(LocalContainer {
                        command: command.to_string(),
                        workdir: workdir.to_path_buf(),
                        log: self.logs.join(format!("{name}-{dir:08x}.log")),
                        url: RwLock::new(None),
                        ready: watch::channel(0).0,
                        child: tokio::sync::Mutex::new(None),
                        failed_starts: std::sync::atomic::AtomicU32::new(0),
                    });
                    map.insert(key, c.clone());
                    let supervised = c.clone();
                    let shutdown = self.shutdown.subscribe();
                    let runtime_url = self
                        .runtime_url
                        .read()
                        .map(|u| u.clone())
                        .unwrap_or_default();
                    tokio::spawn(async move { supervise(supervised, shutdown, runtime_url).await });
                    c
                }
            }
        };
        container.wait_ready().await
    }

    /// Stops every local container.
    pub async fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        let all: Vec<Arc<LocalContainer>> = self
            .local
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        for c in all {
            if let Some(mut child) = c.child.lock().await.take() {
                let _ = child.kill().await;
            }
        }
    }

    /// Marks the `@local` container at `url` as down (its process is gone though it has not
    /// been reaped yet, or its port refused a connection): calls wait for its restart.
    pub fn mark_down(&self, command: &str, workdir: &Path, url: &str) {
        let key = container_key(command, workdir);
        let container = self.local.lock().ok().and_then(|m| m.get(&key).cloned());
        if let Some(c) = container {
            if let Ok(mut u) = c.url.write() {
                if u.as_deref() == Some(url) {
                    *u = None;
                }
            }
        }
    }

    /// How many local containers are known.
    pub fn local_count(&self) -> usize {
        self.local.lock().map(|m| m.len()).unwrap_or(0)
    }
}

impl LocalContainer {
    async fn wait_ready(&self) -> Result<String, StartError> {
        if let Some(url) = self.url.read().ok().and_then(|u| u.clone()) {
            return Ok(url);
        }
        let mut rx = self.ready.subscribe();
        let wait = async {
            loop {
                if let Some(url) = self.url.read().ok().and_then(|u| u.clone()) {
                    return Ok(url);
                }
                let failed = self.failed_starts.load(std::sync::atomic::Ordering::SeqCst);
                if failed >= FAILED_STARTS {
                    return Err(StartError(format!(
                        "the container `{}` exited while starting, {failed} times in a row{}; see its log {}",
                        self.command,
                        last_words(&self.log),
                        self.log.display()
                    )));
                }
                if rx.changed().await.is_err() {
                    return Err(StartError("the container supervisor stopped".into()));
                }
            }
        };
        tokio::time::timeout(START_TIMEOUT, wait)
            .await
            .map_err(|_| {
                StartError(format!(
                    "the container `{}` did not start within {}s; see its log {}",
                    self.command,
                    START_TIMEOUT.as_secs(),
                    self.log.display()
                ))
            })?
    }
}

/// Starts the container, waits for it to accept connections, and restarts it with backoff
/// whenever it exits, until shutdown.
async fn supervise(
    c: Arc<LocalContainer>,
    mut shutdown: watch::Receiver<bool>,
    runtime_url: String,
) {
    let mut backoff = Duration::from_millis(100);
    let mut generation = 0u64;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let Some(port) = super::ports::free_port() else {
            tokio::time::sleep(backoff).await;
            continue;
        };
        let child = match spawn(&c, port, &runtime_url) {
            Ok(ch) => ch,
            Err(e) => {
                tracing::warn!(command = %c.command, error = %e, "cannot start container");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        *c.child.lock().await = Some(child);
        let up = listening(&c, port, &shutdown).await;
        let url = format!("http://127.0.0.1:{port}");
        generation += 1;
        if up {
            tracing::info!(command = %c.command, %url, "container ready");
            if let Ok(mut u) = c.url.write() {
                *u = Some(url);
            }
            c.failed_starts
                .store(0, std::sync::atomic::Ordering::SeqCst);
            backoff = Duration::from_millis(100);
        } else {
            c.failed_starts
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        // Wake callers waiting for it, up or not.
        let _ = c.ready.send(generation);
        // Wait for it to exit (noticed at once, so no call is sent to its dead port
        // afterwards), or for shutdown.
        let running = c.child.lock().await.take();
        if let Some(mut child) = running {
            tokio::select! {
                _ = child.wait() => {}
                _ = shutdown.changed() => {
                    let _ = child.kill().await;
                    return;
                }
            }
        }
        if let Ok(mut u) = c.url.write() {
            *u = None;
        }
        tracing::warn!(command = %c.command, "container exited; restarting");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// The most of a container's log that a start error quotes.
const LAST_WORDS: usize = 300;

/// `: it said `...``: the last line a container that would not start wrote to its log (a
/// `SyntaxError`, a command not found), at most [`LAST_WORDS`] bytes; empty without one.
fn last_words(log: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(log) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut tail = Vec::new();
    let read = f
        .seek(SeekFrom::Start(len.saturating_sub(4096)))
        .and_then(|_| f.take(4096).read_to_end(&mut tail));
    if read.is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&tail);
    let Some(line) = text.lines().map(str::trim).rfind(|l| !l.is_empty()) else {
        return String::new();
    };
    let mut end = line.len().min(LAST_WORDS);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!(": it said `{}`", &line[..end])
}

/// Starts the container's command on `port`, its output appended to its log, which only the
/// runtime's user may read (a container may log what its objects hold).
fn spawn(c: &LocalContainer, port: u16, runtime_url: &str) -> std::io::Result<Child> {
    use std::os::unix::fs::OpenOptionsExt;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&c.log);
    // A log made by an older runtime keeps its mode unless told.
    crate::datadir::make_private(&c.log);
    let (out, err) = match log.and_then(|f| Ok((f.try_clone()?, f))) {
        Ok((a, b)) => (std::process::Stdio::from(a), std::process::Stdio::from(b)),
        Err(_) => (std::process::Stdio::null(), std::process::Stdio::null()),
    };
    Command::new("sh")
        .arg("-c")
        .arg(format!("exec {}", c.command))
        .current_dir(&c.workdir)
        .env("PORT", port.to_string())
        // Reachable from this machine only: the runtime calls it on loopback.
        .env("HOST", "127.0.0.1")
        // SDK containers exit when the runtime dies, even by SIGKILL.
        .env("OAAS_EXIT_WITH_PARENT", "1")
        // Where containers can read other objects (`GET /api/objects/{id}`).
        .env("OAAS_RUNTIME_URL", runtime_url)
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
}

/// Waits until the container just started accepts connections on `port` (true), or dies,
/// or does not within [`START_TIMEOUT`], or shutdown comes (false). A port some other
/// process took between its pick and the container's bind counts as not up, and the
/// container is killed so that it starts again on another.
async fn listening(c: &LocalContainer, port: u16, shutdown: &watch::Receiver<bool>) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < START_TIMEOUT {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            let mut child = c.child.lock().await;
            let pid = child.as_ref().and_then(|ch| ch.id());
            let stolen =
                pid.and_then(|pid| super::ports::listener_owned_by(pid, port)) == Some(false);
            if !stolen {
                return true;
            }
            tracing::warn!(command = %c.command, port, "another process listens on the container's port; restarting it on another");
            if let Some(ch) = child.as_mut() {
                let _ = ch.start_kill();
            }
            return false;
        }
        let exited = matches!(
            c.child.lock().await.as_mut().map(|ch| ch.try_wait()),
            Some(Ok(Some(_)))
        );
        if exited || *shutdown.borrow() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
