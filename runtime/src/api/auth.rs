//! The gate every request passes before its route: the `Host` must be this server's (no DNS
//! rebinding), a cross-site browser request is refused (a foreign `Origin`, or a body that is
//! not JSON), and the bearer token must hold the role the route needs. Signed file URLs and
//! `/healthz` need no token: the signature is their authority.

use super::error::ApiError;
use crate::error::Error;
use crate::tokens::{Principal, Role, Tokens};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use std::net::SocketAddr;
use std::sync::Arc;

/// What a route needs of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Nothing (`/healthz`).
    Nothing,
    /// A signed URL, checked by the route itself.
    Signature,
    /// A token holding this role.
    Role(Role),
}

/// What each route needs: one table for the whole API.
pub fn need(method: &Method, path: &str) -> Need {
    let mutating = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    // The console's page, script and style hold no data: it reads the API with a token.
    let console = path == "/ui" || path.starts_with("/ui/");
    if path == "/healthz" || (console && !mutating) {
        return Need::Nothing;
    }
    if path.starts_with("/blobs/")
        || (path.starts_with("/api/tasks/") && path.contains("/outputs/"))
    {
        return Need::Signature;
    }
    if path == "/api/tokens" || path.starts_with("/api/tokens/") {
        return Need::Role(Role::Admin);
    }
    if path == "/api/packages" && mutating {
        return Need::Role(Role::Deploy);
    }
    if path.starts_with("/oal/") || mutating {
        return Need::Role(Role::Invoke);
    }
    Need::Role(Role::Read)
}

/// The gate's settings.
pub struct Guard {
    /// The tokens it accepts.
    pub tokens: Arc<Tokens>,
    /// Host names requests may be addressed to (besides loopback names).
    pub hosts: Vec<String>,
    /// Origins allowed to call from a browser (besides the server's own).
    pub origins: Vec<String>,
    /// Whether packages deployed over HTTP may name `@local` commands.
    pub allow_local: bool,
    /// The address the server listens on.
    pub listen: SocketAddr,
    /// Most bytes of one uploaded file.
    pub max_file_size: u64,
}

impl Guard {
    /// Whether a deploy by `who` may name `@local` commands: when the server allows it, or
    /// when it listens on loopback only and the deployer is its admin.
    pub fn may_run_local(&self, who: &Principal) -> bool {
        self.allow_local || (self.listen.ip().is_loopback() && who.has(Role::Admin))
    }

    fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host);
        matches!(name, "localhost" | "127.0.0.1" | "::1" | "[::1]")
            || name
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
            || self
                .hosts
                .iter()
                .any(|h| host_name(h).eq_ignore_ascii_case(name))
            || (!self.listen.ip().is_unspecified() && name == self.listen.ip().to_string())
    }

    /// Checks what a browser could forge: the `Host`, the `Origin`, and a body's type.
    fn check_browser(&self, method: &Method, headers: &HeaderMap, need: Need) -> Result<(), Error> {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !host.is_empty() && !self.host_allowed(host) {
            return Err(Error::forbidden(format!(
                "requests addressed to `{host}` are refused: this server answers to its own names (start it with --public-url to add one)"
            )));
        }
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
            let same = origin_host(origin).is_some_and(|h| h.eq_ignore_ascii_case(host));
            if !same && !self.origins.iter().any(|o| o == origin) {
                return Err(Error::forbidden(format!(
                    "cross-origin requests from `{origin}` are refused (start the server with --allow-origin to allow one)"
                )));
            }
        }
        let mutating = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if mutating && need != Need::Signature {
            if let Some(t) = headers
                .get(header::CONTENT_TYPE)
                .and_then(|t| t.to_str().ok())
            {
                let json = t
                    .split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
                if !json {
                    return Err(Error::new(
                        crate::error::ErrorKind::UnsupportedMediaType,
                        format!("request bodies are JSON: send `Content-Type: application/json`, not `{t}`"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The host part of a `Host` header or URL authority (`name:port` -> `name`).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
}

/// The `host:port` of an origin (`http://host:port`).
fn origin_host(origin: &str) -> Option<&str> {
    origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'))
}

/// The bearer token of a request.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The gate, as middleware: on success the request carries its [`Principal`].
pub async fn gate(
    State(guard): State<Arc<Guard>>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let need = need(req.method(), req.uri().path());
    guard.check_browser(req.method(), req.headers(), need)?;
    if let Need::Role(role) = need {
        let principal = match bearer(req.headers()) {
            Some(token) => guard.tokens.authenticate(token),
            None => None,
        };
        let Some(principal) = principal else {
            return Err(Error::new(
                crate::error::ErrorKind::Unauthenticated,
                "this needs a token: send `Authorization: Bearer TOKEN` (the admin token is in the server's data folder, file `token`, unless $OAAS_TOKEN set it)",
            )
            .into());
        };
        if !principal.has(role) {
            return Err(Error::forbidden(format!(
                "this token has the role `{}`; this needs `{}`",
                principal.role.as_str(),
                role.as_str()
            ))
            .into());
        }
        req.extensions_mut().insert(principal);
    }
    req.extensions_mut().insert(guard.clone());
    Ok(next.run(req).await)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_route_needs_what_the_table_says() {
        use Need::*;
        let table = [
            (Method::GET, "/healthz", Nothing),
            (Method::GET, "/blobs/objects/a/v1/src", Signature),
            (Method::GET, "/ui", Nothing),
            (Method::GET, "/ui/console.js", Nothing),
            (
                Method::POST,
                "/ui/console.js",
                Role(crate::tokens::Role::Invoke),
            ),
            (Method::GET, "/uix", Role(crate::tokens::Role::Read)),
            (
                Method::GET,
                "/api/invocations/i/events",
                Role(crate::tokens::Role::Read),
            ),
            (Method::PUT, "/blobs/objects/a/v1/src", Signature),
            (Method::POST, "/api/tasks/t.n0/outputs/p.C", Signature),
            (
                Method::GET,
                "/openapi.json",
                Role(crate::tokens::Role::Read),
            ),
            (Method::GET, "/metrics", Role(crate::tokens::Role::Read)),
            (
                Method::GET,
                "/api/packages",
                Role(crate::tokens::Role::Read),
            ),
            (
                Method::POST,
                "/api/packages",
                Role(crate::tokens::Role::Deploy),
            ),
            (
                Method::GET,
                "/api/classes/p.C/objects",
                Role(crate::tokens::Role::Read),
            ),
            (
                Method::POST,
                "/api/classes/p.C/objects",
                Role(crate::tokens::Role::Invoke),
            ),
            (
                Method::GET,
                "/api/objects/a",
                Role(crate::tokens::Role::Read),
            ),
            (
                Method::DELETE,
                "/api/objects/a",
                Role(crate::tokens::Role::Invoke),
            ),
            (
                Method::GET,
                "/api/objects/a/files/src",
                Role(crate::tokens::Role::Read),
            ),
            (
                Method::POST,
                "/api/objects/a/invoke/f",
                Role(crate::tokens::Role::Invoke),
            ),
            (
                Method::POST,
                "/api/classes/p.C/invoke/f",
                Role(crate::tokens::Role::Invoke),
            ),
            (
                Method::GET,
                "/api/invocations/i",
                Role(crate::tokens::Role::Read),
            ),
            (
                Method::POST,
                "/api/invocations/i/signals/approval",
                Role(crate::tokens::Role::Invoke),
            ),
            (Method::GET, "/oal/a:f()", Role(crate::tokens::Role::Invoke)),
            (
                Method::POST,
                "/oal/a:f()",
                Role(crate::tokens::Role::Invoke),
            ),
            (Method::GET, "/api/tokens", Role(crate::tokens::Role::Admin)),
            (
                Method::POST,
                "/api/tokens",
                Role(crate::tokens::Role::Admin),
            ),
            (
                Method::DELETE,
                "/api/tokens/x",
                Role(crate::tokens::Role::Admin),
            ),
            (
                Method::GET,
                "/nothing/here",
                Role(crate::tokens::Role::Read),
            ),
        ];
        for (method, path, expected) in table {
            assert_eq!(need(&method, path), expected, "{method} {path}");
        }
    }

    #[test]
    fn host_names_and_origins_are_read_with_their_ports() {
        assert_eq!(host_name("localhost:6000"), "localhost");
        assert_eq!(host_name("[::1]:6000"), "::1");
        assert_eq!(host_name("example.com"), "example.com");
        assert_eq!(origin_host("http://127.0.0.1:6000"), Some("127.0.0.1:6000"));
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
    }
}
