//! The second hop alone: a bare HTTP server that forwards each request to the container, on
//! the runtime's own HTTP stacks (hyper's HTTP/1 server, hyper-util's pooled client with
//! `TCP_NODELAY`) and with nothing else: no store, no authentication, no access checks, no
//! routing table, no versions. Whatever per-call work the bench gives it (building the task
//! document, merging the answer into a state kept in memory) is the work the direct path's
//! load generator does itself.
//!
//! Its throughput against calling the container directly, on the same cores in the same
//! run, is an upper bound for any runtime that forwards every call over HTTP: the runtime
//! does all of this and more.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The answer of a forwarded call: the body to send back, or why it failed (sent as 500).
pub type Answer = Pin<Box<dyn Future<Output = Result<Bytes, String>> + Send>>;

/// Turns a request's path and body into the answer's body.
pub type Handler = Arc<dyn Fn(String, Bytes) -> Answer + Send + Sync>;

/// hyper-util's pooled client, built as the runtime builds its task client.
#[derive(Clone)]
pub struct Hop {
    client: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
}

impl Default for Hop {
    fn default() -> Self {
        Hop::new()
    }
}

impl Hop {
    /// A client keeping up to 256 idle connections per host, with `TCP_NODELAY`.
    pub fn new() -> Hop {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(256)
            .build(connector);
        Hop { client }
    }

    /// POSTs `body` (JSON) to `url` with the CloudEvents headers of a task, `ce-id` being
    /// `id`; the answer's body, or why there is none (a status other than 200 included).
    pub async fn post_task(
        &self,
        url: &http::Uri,
        id: &str,
        body: Vec<u8>,
    ) -> Result<Bytes, String> {
        let request = http::Request::post(url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("ce-specversion", "1.0")
            .header("ce-id", id)
            .header("ce-type", "dev.oaas.task.v1")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        match status {
            http::StatusCode::OK => Ok(body),
            other => Err(format!(
                "container answered {other}: {}",
                String::from_utf8_lossy(&body)
            )),
        }
    }
}

/// Serves `handler` on an ephemeral port of 127.0.0.1 until the process ends; its base URL.
pub async fn start(handler: Handler) -> Result<String, String> {
    let (listener, url) = crate::runtime::ephemeral().await?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            let service =
                hyper::service::service_fn(move |request| answer(handler.clone(), request));
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(url)
}

/// Reads a request whole and answers it with `handler`.
async fn answer(
    handler: Handler,
    request: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<Full<Bytes>>, std::convert::Infallible> {
    let path = request.uri().path().to_string();
    let body = match request.into_body().collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) => Err(e.to_string()),
    };
    let answered = match body {
        Ok(body) => handler(path, body).await,
        Err(e) => Err(e),
    };
    let (status, body) = match answered {
        Ok(body) => (http::StatusCode::OK, body),
        Err(e) => (http::StatusCode::INTERNAL_SERVER_ERROR, Bytes::from(e)),
    };
    let mut response = http::Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A forwarder whose handler answers the path and body it was given, or fails on `/fail`.
    async fn echo() -> String {
        start(Arc::new(|path: String, body: Bytes| {
            Box::pin(async move {
                match path.as_str() {
                    "/fail" => Err("asked to fail".to_string()),
                    _ => Ok(Bytes::from(format!(
                        "{path} {}",
                        String::from_utf8_lossy(&body)
                    ))),
                }
            }) as Answer
        }))
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_request_reaches_the_handler_and_its_answer_comes_back() {
        let base = echo().await;
        let hop = Hop::new();
        let url: http::Uri = format!("{base}/3/7").parse().unwrap();
        let answer = hop
            .post_task(&url, "t1", b"{\"x\":1}".to_vec())
            .await
            .unwrap();
        assert_eq!(answer, Bytes::from("/3/7 {\"x\":1}"));
    }

    #[tokio::test]
    async fn a_failed_answer_is_an_error_with_its_status_and_body() {
        let base = echo().await;
        let url: http::Uri = format!("{base}/fail").parse().unwrap();
        let error = Hop::new()
            .post_task(&url, "t1", Vec::new())
            .await
            .unwrap_err();
        assert_eq!(
            error,
            "container answered 500 Internal Server Error: asked to fail"
        );
    }
}
