//! Talking to a runtime over HTTP: the embedded one that `oaasc run` starts, or a cluster's.
//! Also: parsing `name=value` arguments by their declared types, and printing results.

use oaas_compiler::artifact::{Artifact, ParamArtifact, TypeRef};
use oaas_runtime::api::types::{DeployRequest, ErrorBody, ErrorResponse};
use oaas_runtime::executor::NodeFailure;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use std::time::Duration;

/// The runtime address used when `--cluster` is not given to the cluster commands.
pub fn default_cluster() -> String {
    std::env::var("OAAS_CLUSTER").unwrap_or_else(|_| "http://127.0.0.1:6000".to_string())
}

/// An error from the runtime, with its body when there is one.
#[derive(Debug)]
pub struct ClientError {
    /// HTTP status (0 when the runtime could not be reached or the CLI refused first).
    pub status: u16,
    /// The message for people.
    pub message: String,
    /// The runtime's `error` object, when it answered one.
    pub body: Option<ErrorBody>,
    /// Whether the CLI found it itself (a bad argument, a file it cannot write): `status`
    /// then only picks the exit code, and is not shown as the runtime's.
    pub local: bool,
}

impl ClientError {
    /// An error the runtime answered with `status` (0: the request got no answer), with
    /// its `error` object when it sent one.
    pub fn answered(status: u16, message: String, body: Option<ErrorBody>) -> ClientError {
        ClientError {
            status,
            message,
            body,
            local: false,
        }
    }

    /// An error the CLI finds itself, before or instead of asking the runtime.
    pub fn usage(message: impl Into<String>) -> ClientError {
        ClientError {
            status: 400,
            message: message.into(),
            body: None,
            local: true,
        }
    }

    /// The exit code this error ends a command with: 2 when the request was wrong (a bad
    /// argument, an unknown target, a missing token or role), 1 when the call failed.
    pub fn exit_code(&self) -> u8 {
        match self.status {
            400 | 401 | 403 | 404 | 413 | 415 | 422 => crate::exit::USAGE,
            _ => crate::exit::FAILED,
        }
    }

    /// What a failed macro's calls made before it failed, when the error lists it.
    pub fn partial_outputs(&self) -> Vec<oaas_runtime::executor::PartialOutput> {
        self.body
            .as_ref()
            .map(ErrorBody::partial_outputs)
            .unwrap_or_default()
    }

    /// The failures of a macro, when the error lists them.
    pub fn failures(&self) -> Vec<NodeFailure> {
        self.body
            .as_ref()
            .map(ErrorBody::failures)
            .unwrap_or_default()
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.status == 0 || self.local {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{} ({})", self.message, self.status)
        }
    }
}

/// What stays as it is in a path segment or a query value: letters, digits and `-._~`.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a path segment or a query value.
pub fn encode(s: &str) -> String {
    match s {
        // A URL's `.` and `..` segments would be resolved away: the path would change.
        "." | ".." => s.replace('.', "%2E"),
        _ => percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string(),
    }
}

/// Which runtime a cluster command talks to, and with what token: the options every
/// such command takes (global, so they go before or after its subcommand).
#[derive(clap::Args)]
pub struct Remote {
    /// The runtime's URL (default: $OAAS_CLUSTER, else http://127.0.0.1:6000).
    #[arg(long, global = true)]
    cluster: Option<String>,
    /// The API token (default: $OAAS_TOKEN, else the file `.oaas/token` that `oaasc serve`
    /// writes in its data folder, when run from the same directory).
    #[arg(long, global = true, env = "OAAS_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

impl Remote {
    /// A client for that runtime.
    pub fn client(&self) -> Client {
        let base = self.cluster.clone().unwrap_or_else(default_cluster);
        Client::new(&base, self.token.clone())
    }
}

/// A body on its way ([`Client::open`]).
pub struct Download {
    url: String,
    response: reqwest::Response,
}

impl Download {
    /// Writes the body to `sink` as it comes; the bytes written.
    pub async fn write_to(mut self, sink: &mut dyn std::io::Write) -> Result<u64, ClientError> {
        let mut written = 0;
        while let Some(chunk) = self
            .response
            .chunk()
            .await
            .map_err(|e| unreadable(&self.url, e))?
        {
            sink.write_all(&chunk)
                .map_err(|e| ClientError::usage(format!("cannot write the file: {e}")))?;
            written += chunk.len() as u64;
        }
        Ok(written)
    }
}

fn unreadable(url: &str, e: reqwest::Error) -> ClientError {
    ClientError::answered(0, format!("cannot read {url}: {e}"), None)
}

/// A small JSON-over-HTTP client for one runtime.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// For signed URLs, which may be a bucket's: no token goes to them.
    unauthenticated: reqwest::Client,
    /// `http://host:port`.
    pub base: String,
    /// Ask for fresh calls: `@memo` functions run their containers (`Cache-Control:
    /// no-cache` on every POST).
    fresh: bool,
}

impl Client {
    /// A client for the runtime at `base`, sending `token` (or, without one, the token that
    /// an `oaasc serve` started from this directory keeps in `.oaas/token`).
    pub fn new(base: &str, token: Option<String>) -> Client {
        let token = token.or_else(|| {
            let t = std::fs::read_to_string(".oaas/token").ok()?;
            Some(t.trim().to_string()).filter(|t| !t.is_empty())
        });
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(value) = token.and_then(|t| format!("Bearer {t}").parse().ok()) {
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap_or_default();
        Client {
            http,
            unauthenticated: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_string(),
            fresh: false,
        }
    }

    /// The same client, asking for fresh calls when `fresh` (`--fresh`): `@memo` functions
    /// then run their containers rather than answer with recorded results.
    pub fn fresh_calls(self, fresh: bool) -> Client {
        Client { fresh, ..self }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let r = req
            .timeout(Duration::from_secs(3600))
            .send()
            .await
            .map_err(|e| {
                let message = format!("cannot reach the runtime at {}: {e}", self.base);
                ClientError::answered(0, message, None)
            })?;
        self.answer(r).await
    }

    /// A response read as `T`, or the error it carries.
    async fn answer<T: DeserializeOwned>(&self, r: reqwest::Response) -> Result<T, ClientError> {
        let status = r.status().as_u16();
        let bytes = r.bytes().await.unwrap_or_default();
        if (200..300).contains(&status) {
            let empty = bytes.iter().all(u8::is_ascii_whitespace);
            let parsed = if empty {
                serde_json::from_slice(b"null")
            } else {
                serde_json::from_slice(&bytes)
            };
            return parsed.map_err(|e| {
                let message = format!(
                    "the runtime at {} answered something this oaasc cannot read: {e}",
                    self.base
                );
                ClientError::answered(status, message, None)
            });
        }
        let body = serde_json::from_slice::<ErrorResponse>(&bytes)
            .ok()
            .map(|r| r.error);
        let message = match &body {
            Some(b) => b.message.clone(),
            None => String::from_utf8_lossy(&bytes).into_owned(),
        };
        Err(ClientError::answered(status, message, body))
    }

    /// `GET path`, its answer read as `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// `POST path` with a JSON body, its answer read as `T`.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(body);
        if self.fresh {
            req = req.header(reqwest::header::CACHE_CONTROL, "no-cache");
        }
        self.send(req).await
    }

    /// `DELETE path`: the runtime's answer (`null` when it sent no body).
    pub async fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.send::<Value>(self.http.delete(format!("{}{path}", self.base)))
            .await
    }

    /// `GET url` (a signed URL, of the runtime when it starts with `/`, else of its
    /// bucket) without the token: the response, once it says the body follows.
    pub async fn open(&self, url: &str) -> Result<Download, ClientError> {
        let url = match url.starts_with('/') {
            true => format!("{}{url}", self.base),
            false => url.to_string(),
        };
        let r = self
            .unauthenticated
            .get(&url)
            .send()
            .await
            .map_err(|e| unreadable(&url, e))?;
        if !r.status().is_success() {
            return Err(self
                .answer::<Value>(r)
                .await
                .err()
                .unwrap_or_else(|| ClientError::usage(format!("{url} answered no body"))));
        }
        Ok(Download { url, response: r })
    }

    /// `PUT url` with bytes (signed upload URLs, of the runtime or of its bucket), without
    /// the token, and with `If-None-Match: *`: uploads only create (a bucket's upload URLs
    /// are signed with that header).
    pub async fn put_bytes(&self, url: &str, bytes: Vec<u8>) -> Result<(), ClientError> {
        let put = self
            .unauthenticated
            .put(url)
            .header(reqwest::header::IF_NONE_MATCH, "*")
            .body(bytes);
        self.send::<Value>(put).await.map(|_| ())
    }
}

/// Parses one `name=value` pair.
pub fn split_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{text}` is not `name=value`"))
}

/// A command-line value read as a value of a declared type: `720` for `int`, `clip` or
/// `"clip"` for `string`, JSON for lists, records and `json`.
pub fn parse_value(raw: &str, ty: &TypeRef) -> Result<Value, String> {
    let as_json = || serde_json::from_str::<Value>(raw);
    match ty {
        TypeRef::Int => raw
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("`{raw}` is not an `int`")),
        TypeRef::Float => raw
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::from)
            .ok_or_else(|| format!("`{raw}` is not a `float`")),
        TypeRef::Bool => match raw.trim() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("`{raw}` is not a `bool` (true or false)")),
        },
        TypeRef::String | TypeRef::Class(_) => Ok(match as_json() {
            Ok(Value::String(s)) => Value::String(s),
            _ => Value::String(raw.to_string()),
        }),
        TypeRef::Optional(inner) => {
            if raw.trim() == "null" {
                Ok(Value::Null)
            } else {
                parse_value(raw, inner)
            }
        }
        TypeRef::Json | TypeRef::List(_) | TypeRef::Record(_) => {
            as_json().map_err(|e| format!("`{raw}` is not JSON: {e}"))
        }
    }
}

/// Reads `name=value` arguments by the parameters' declared types.
pub fn parse_args(
    pairs: &[String],
    params: &[ParamArtifact],
    what: &str,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for pair in pairs {
        let (name, raw) = split_pair(pair)?;
        let Some(p) = params.iter().find(|p| p.name == name) else {
            let names: Vec<String> = params.iter().map(|p| format!("`{}`", p.name)).collect();
            return Err(format!(
                "{what} has no parameter `{name}`; {}",
                if names.is_empty() {
                    "it takes none".to_string()
                } else {
                    format!("its parameters are {}", names.join(", "))
                }
            ));
        };
        let v = parse_value(&raw, &p.ty).map_err(|e| format!("bad value for `{name}`: {e}"))?;
        out.insert(name, v);
    }
    Ok(out)
}

/// The parameters of a function or macro of a class.
pub fn params_of(artifact: &Artifact, class: &str, function: &str) -> Option<Vec<ParamArtifact>> {
    let c = artifact.find_class(class)?;
    c.function(function)
        .map(|f| f.params.clone())
        .or_else(|| c.macro_named(function).map(|m| m.params.clone()))
}

fn is_object_view(v: &Value) -> bool {
    v.get("id").is_some() && v.get("class").is_some() && v.get("version").is_some()
}

/// A result for people: objects with id, class, version and state; values as JSON.
pub fn render_result(v: &Value) -> String {
    let object = |o: &Value| -> String {
        let mut s = format!(
            "object {}  ({} v{})\n",
            o["id"].as_str().unwrap_or("?"),
            o["class"].as_str().unwrap_or("?"),
            o["version"].as_u64().unwrap_or(0)
        );
        if let Some(state) = o.get("state").and_then(Value::as_object) {
            for (k, val) in state {
                s.push_str(&format!("  {k}: {}\n", val));
            }
        }
        if let Some(files) = o.get("files").and_then(Value::as_object) {
            for (k, f) in files {
                let up = if f.get("uploaded").and_then(Value::as_bool).unwrap_or(false) {
                    "uploaded"
                } else {
                    "not uploaded"
                };
                s.push_str(&format!("  file {k}: {up}\n"));
            }
        }
        s
    };
    match v {
        o if is_object_view(o) => object(o),
        Value::Array(items) if items.iter().all(is_object_view) && !items.is_empty() => {
            let mut s = format!("{} objects\n", items.len());
            for i in items {
                s.push_str(&object(i));
            }
            s
        }
        other => format!(
            "{}\n",
            serde_json::to_string_pretty(other).unwrap_or_default()
        ),
    }
}

/// The body for deploying sources.
pub fn sources_body(
    workspace: &oaas_compiler::Workspace,
    workdir: &std::path::Path,
) -> DeployRequest {
    let sources = workspace
        .sources
        .iter()
        .filter(|(id, _)| *id != workspace.stdlib_file())
        .map(|(_, f)| (f.path.clone(), f.text.clone()))
        .collect();
    DeployRequest {
        sources,
        workdir: Some(workdir.to_path_buf()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_values_keep_only_unreserved_characters() {
        assert_eq!(encode("record.Record-1_~"), "record.Record-1_~");
        assert_eq!(encode("a b/c?d=é&"), "a%20b%2Fc%3Fd%3D%C3%A9%26");
        assert_eq!(encode(".."), "%2E%2E");
        assert_eq!(encode("."), "%2E");
        assert_eq!(encode("a..b"), "a..b");
    }
}
