//! Tasks over HTTP: the function's container found (an `@url`, an `@image` at the cluster's
//! address, or a `@local` process started on demand), the task POSTed as a CloudEvent in
//! binary mode, and the answer read within the deadline.

use super::containers::Containers;
use super::protocol::{FailureBody, FailureDetail, TaskRequest, TaskResponse};
use super::{Attempt, FunctionRef, Invoker};
use crate::error::Error;
use crate::store::now_ms;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// Sends tasks over HTTP to `@url`, `@image` and `@local` containers.
pub struct HttpInvoker {
    /// The containers and the pooled client.
    pub containers: Containers,
    /// Where `@image` functions run (see `Config::image_url`).
    image_url: Option<String>,
    /// Folder `@local` commands run in when a deploy names none.
    default_workdir: PathBuf,
    /// Most bytes read of a container's answer.
    max_result_size: usize,
}

impl HttpInvoker {
    /// An invoker whose `@local` containers log under `logs`.
    pub fn new(
        logs: PathBuf,
        default_workdir: PathBuf,
        image_url: Option<String>,
        max_result_size: usize,
    ) -> HttpInvoker {
        HttpInvoker {
            containers: Containers::new(logs),
            image_url,
            default_workdir,
            max_result_size,
        }
    }

    /// Where a function's container is, starting a `@local` one if needed.
    async fn endpoint(&self, function: &FunctionRef<'_>) -> Result<Endpoint, Error> {
        let func = function.func;
        if let Some(url) = &func.run.url {
            return Ok(Endpoint::Remote(url.trim_end_matches('/').to_string()));
        }
        // On a cluster the images are the containers; a `@local` beside them is for one
        // machine.
        if let (Some(template), Some(image)) = (&self.image_url, &func.run.image) {
            return Ok(Endpoint::Remote(image_endpoint(template, image)));
        }
        if let Some(command) = &func.run.local {
            let dir = function
                .workdir
                .clone()
                .unwrap_or_else(|| self.default_workdir.clone());
            let url = self
                .containers
                .local_url(command, &dir)
                .await
                .map_err(|e| Error::function_failed(e.0).with(json!({"function": func.name})))?;
            return Ok(Endpoint::Local {
                url,
                command: command.clone(),
                dir,
            });
        }
        Err(Error::function_failed(format!(
            "`{}` has no way to run here: it needs `@local(...)` or `@url(...)` (an `@image` runs only where the runtime was started with `--image-url`)",
            func.name
        )))
    }
}

/// Where a task is sent.
enum Endpoint {
    /// An `@url`, or an `@image` at the cluster's address.
    Remote(String),
    /// A `@local` container this runtime supervises.
    Local {
        url: String,
        command: String,
        dir: PathBuf,
    },
}

impl Endpoint {
    fn url(&self) -> &str {
        match self {
            Endpoint::Remote(url) | Endpoint::Local { url, .. } => url,
        }
    }
}

#[async_trait::async_trait]
impl Invoker for HttpInvoker {
    async fn attempt(
        &self,
        function: &FunctionRef<'_>,
        request: &TaskRequest,
        timeout: Duration,
    ) -> Result<TaskResponse, Attempt> {
        let endpoint = self.endpoint(function).await.map_err(Attempt::Final)?;
        let sent = send_once(self, endpoint.url(), request, timeout).await;
        match (sent, &endpoint) {
            // A local container that refuses connections is down (it died a moment ago):
            // wait for its restart, then send.
            (Err(Attempt::Unreachable(_)), Endpoint::Local { url, command, dir }) => {
                self.containers.mark_down(command, dir, url);
                let endpoint = self.endpoint(function).await.map_err(Attempt::Final)?;
                send_once(self, endpoint.url(), request, timeout).await
            }
            (sent, _) => sent,
        }
    }

    async fn shutdown(&self) {
        self.containers.shutdown().await;
    }
}

/// Where an `@image` function runs: `template` with `{service}` replaced by the image's
/// service name (as `oaasc deploy --emit knative` names it).
fn image_endpoint(template: &str, image: &str) -> String {
    let service = oaas_compiler::artifact::knative::service_name(image);
    template
        .replace("{service}", &service)
        .trim_end_matches('/')
        .to_string()
}

/// Sends one attempt to the container at `base`: the task POSTed, the answer read within
/// `timeout`, a failure told apart as retryable or final.
async fn send_once(
    invoker: &HttpInvoker,
    base: &str,
    request: &TaskRequest,
    timeout: Duration,
) -> Result<TaskResponse, Attempt> {
    let name = request.function.as_str();
    let req = task_request(&invoker.containers, base, request).map_err(|why| {
        Attempt::Final(Error::function_failed(format!(
            "cannot call `{name}`: {why}"
        )))
    })?;
    let deadline = tokio::time::Instant::now() + timeout;
    let response =
        match tokio::time::timeout_at(deadline, invoker.containers.client.request(req)).await {
            Ok(Ok(r)) => r,
            Err(_) => {
                return Err(Attempt::Retryable(Error::timeout(format!(
                    "`{name}` did not answer within {} ms",
                    timeout.as_millis()
                ))))
            }
            Ok(Err(e)) => return Err(unreachable(name, &e)),
        };
    let status = response.status();
    let body = read_answer(invoker, response, name, deadline).await?;
    if !status.is_success() {
        return Err(failure(name, status, &body));
    }
    serde_json::from_slice::<TaskResponse>(&body).map_err(|e| {
        Attempt::Final(Error::function_failed(format!(
            "`{name}` answered with a body that is not a task response: {e}"
        )))
    })
}

/// The task as a CloudEvent in binary mode: the document as the body, its attributes as
/// `ce-` headers (their names made once, not parsed for every task).
fn task_request(
    containers: &Containers,
    base: &str,
    request: &TaskRequest,
) -> Result<http::Request<http_body_util::Full<bytes::Bytes>>, String> {
    use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
    const SPECVERSION: HeaderName = HeaderName::from_static("ce-specversion");
    const ID: HeaderName = HeaderName::from_static("ce-id");
    const TYPE: HeaderName = HeaderName::from_static("ce-type");
    const SOURCE: HeaderName = HeaderName::from_static("ce-source");
    const TIME: HeaderName = HeaderName::from_static("ce-time");
    const SUBJECT: HeaderName = HeaderName::from_static("ce-subject");
    let value = |v: &str| HeaderValue::from_str(v).map_err(|e| e.to_string());
    let target = containers.task_target(base)?;
    let body = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    let mut req = http::Request::new(http_body_util::Full::new(bytes::Bytes::from(body)));
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = target.url;
    let source = [
        "/classes/",
        &request.class,
        "/functions/",
        &request.function,
    ]
    .concat();
    let h = req.headers_mut();
    h.insert(http::header::HOST, target.host);
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(SPECVERSION, HeaderValue::from_static("1.0"));
    h.insert(ID, value(request.task_id.as_str())?);
    h.insert(TYPE, HeaderValue::from_static("dev.oaas.task.v1"));
    h.insert(SOURCE, value(&source)?);
    h.insert(TIME, value(&httpdate_now())?);
    if let Some(s) = &request.self_ {
        h.insert(SUBJECT, value(s.object.id.as_str())?);
    }
    Ok(req)
}

/// A request that did not get an answer: a refused connection means the container is down
/// (a `@local` one is restarted), anything else is worth another try.
fn unreachable(name: &str, e: &hyper_util::client::legacy::Error) -> Attempt {
    let failed = if e.is_connect() {
        Attempt::Unreachable
    } else {
        Attempt::Retryable
    };
    failed(Error::function_failed(format!(
        "cannot reach the container of `{name}`: {}",
        error_chain(e)
    )))
}

/// The container's answer, read whole within `deadline` and at most `--max-result-size`.
async fn read_answer(
    invoker: &HttpInvoker,
    response: http::Response<hyper::body::Incoming>,
    name: &str,
    deadline: tokio::time::Instant,
) -> Result<bytes::Bytes, Attempt> {
    use http_body_util::BodyExt;
    let limited = http_body_util::Limited::new(response.into_body(), invoker.max_result_size);
    match tokio::time::timeout_at(deadline, limited.collect()).await {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err(Attempt::Final(Error::function_failed(format!(
                "`{name}` answered more than {} bytes, the most this runtime reads (--max-result-size)",
                invoker.max_result_size
            ))))
        }
        Err(_) => Err(Attempt::Retryable(Error::timeout(format!(
            "`{name}` did not finish its answer in time"
        )))),
        Ok(Err(e)) => Err(Attempt::Retryable(Error::function_failed(format!(
            "the answer of `{name}` broke off: {}",
            error_chain(e.as_ref())
        )))),
    }
}

/// A non-2xx answer as an error: the container's message as a short excerpt (never its whole
/// answer), retried when it says so or, when it does not, on `5xx` and `429`.
fn failure(name: &str, status: http::StatusCode, body: &[u8]) -> Attempt {
    let detail = serde_json::from_slice::<FailureBody>(body)
        .unwrap_or_default()
        .error;
    let (message, retryable) = match detail {
        Some(FailureDetail { message, retryable }) => (message, retryable),
        None => (None, None),
    };
    let message = match message {
        Some(m) => excerpt(&m),
        None => excerpt(&String::from_utf8_lossy(body)),
    };
    let retryable = retryable.unwrap_or(status.is_server_error() || status.as_u16() == 429);
    let e = Error::function_failed(format!("`{name}` failed ({}): {message}", status.as_u16()));
    if retryable {
        Attempt::Retryable(e)
    } else {
        Attempt::Final(e)
    }
}

/// Most characters of a container's message passed on in an error.
const EXCERPT: usize = 500;

/// The start of a container's message, marked when cut.
fn excerpt(text: &str) -> String {
    let mut out: String = text.chars().take(EXCERPT).collect();
    if text.chars().nth(EXCERPT).is_some() {
        out.push_str(" [...]");
    }
    out
}

/// An error with its causes, as one line (`connection refused` is usually a cause).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

fn httpdate_now() -> String {
    rfc3339(now_ms())
}

/// RFC 3339 in UTC, to the second, from Unix milliseconds; empty past the year 9999.
fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_second(ms.div_euclid(1000))
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_task_is_a_binary_cloudevent_posted_to_its_container() {
        let containers = Containers::new(std::env::temp_dir());
        let object = crate::store::ObjectVersion::new("obj-1", "demo.Counter", "v1", 3, json!({}));
        let request = TaskRequest {
            protocol: super::super::protocol::PROTOCOL,
            task_id: "inv-1.n2".into(),
            invocation_id: "inv-1".into(),
            package: "demo".into(),
            class: "demo.Counter".into(),
            function: "increment".into(),
            declared_in: "demo.Counter".into(),
            args: serde_json::Map::new(),
            self_: Some(super::super::protocol::SelfDocument {
                object: std::sync::Arc::new(object),
                files: serde_json::Map::new(),
                upload: serde_json::Map::new(),
            }),
            output: None,
            outputs: None,
            objects: serde_json::Map::new(),
            deadline_ms: 0,
            next_version: 4,
        };
        let req = task_request(&containers, "http://127.0.0.1:9", &request).unwrap();
        assert_eq!(req.method(), http::Method::POST);
        assert_eq!(req.uri().to_string(), "http://127.0.0.1:9/");
        let header = |name: &str| req.headers().get(name).unwrap().to_str().unwrap();
        assert_eq!(header("host"), "127.0.0.1:9");
        assert_eq!(header("content-type"), "application/json");
        assert_eq!(header("ce-specversion"), "1.0");
        assert_eq!(header("ce-id"), "inv-1.n2");
        assert_eq!(header("ce-type"), "dev.oaas.task.v1");
        assert_eq!(
            header("ce-source"),
            "/classes/demo.Counter/functions/increment"
        );
        assert_eq!(header("ce-subject"), "obj-1");
        assert!(header("ce-time").ends_with('Z'), "{}", header("ce-time"));
        for refused in ["ftp://host", "http://:8080", "127.0.0.1:9"] {
            assert!(
                task_request(&containers, refused, &request).is_err(),
                "{refused}"
            );
        }
    }

    #[test]
    fn task_times_are_rfc3339_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_764_992_096_789), "2025-12-06T03:34:56Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1000), "1969-12-31T23:59:59Z");
    }

    /// Whether a failure is retried, and the message it carries.
    fn told(status: u16, body: &str) -> (bool, String) {
        let status = http::StatusCode::from_u16(status).unwrap();
        match failure("f", status, body.as_bytes()) {
            Attempt::Retryable(e) => (true, e.to_string()),
            Attempt::Final(e) => (false, e.to_string()),
            Attempt::Unreachable(e) => panic!("a failure with an answer is not unreachable: {e}"),
        }
    }

    #[test]
    fn a_failure_is_retried_as_the_container_says_or_by_its_status() {
        let marked = r#"{"error": {"message": "try later", "retryable": true}}"#;
        let (retry, text) = told(422, marked);
        assert!(retry);
        assert!(text.contains("`f` failed (422): try later"), "{text}");
        assert!(
            !told(
                503,
                r#"{"error": {"message": "bad input", "retryable": false}}"#
            )
            .0
        );
        assert!(told(503, r#"{"error": {"message": "busy"}}"#).0);
        assert!(told(429, "slow down").0);
        assert!(!told(400, r#"{"error": {}}"#).0);
    }

    #[test]
    fn a_failure_without_a_message_shows_the_start_of_its_body() {
        let (_, text) = told(500, "Traceback: boom");
        assert!(text.ends_with("(500): Traceback: boom"), "{text}");
        let (_, text) = told(500, &"x".repeat(2 * EXCERPT));
        assert!(text.ends_with(" [...]"), "{text}");
        assert!(text.len() < EXCERPT + 100, "{}", text.len());
    }

    #[test]
    fn image_functions_run_at_their_service_in_the_template() {
        let image = "ghcr.io/acme/video-image:1";
        let service = oaas_compiler::artifact::knative::service_name(image);
        assert_eq!(
            image_endpoint("http://{service}.media.svc.cluster.local/", image),
            format!("http://{service}.media.svc.cluster.local")
        );
        assert_eq!(
            image_endpoint("http://10.0.0.9:8080", image),
            "http://10.0.0.9:8080"
        );
    }
}
