//! File state: blobs in a local folder, reached only through signed, expiring URLs that grant
//! one method on one blob (HMAC-SHA256 over method, path and expiry). The runtime serves
//! them itself under `/blobs/...`, with `Range` support for reads.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Bytes read from a blob file per step of a response. Each read of a `tokio::fs::File` is
/// a trip to the blocking thread pool, so small steps (tokio's default is 4 KiB) make large
/// files slow: 16 MiB read at 270 MB/s with 4 KiB steps (blob-bench).
const READ_CHUNK: usize = 256 * 1024;

/// The read step for `len` bytes: no larger than what there is to read.
fn chunk_for(len: u64) -> usize {
    usize::try_from(len)
        .unwrap_or(READ_CHUNK)
        .clamp(1, READ_CHUNK)
}

type HmacSha256 = Hmac<Sha256>;

/// The blob folder and the key that signs URLs to it.
pub struct Blobs {
    root: PathBuf,
    secret: Vec<u8>,
    /// `http://host:port` the URLs are built on.
    pub base_url: String,
}

/// Query of a signed URL.
#[derive(Deserialize, Debug, Clone)]
pub struct Signed {
    method: String,
    exp: u64,
    sig: String,
    /// The media type a read answers with (`Content-Type`), signed with the rest.
    media_type: Option<String>,
}

impl Signed {
    /// Reads `method`, `exp`, `sig` and the optional `type` from a query.
    pub fn from_query(q: &HashMap<String, String>) -> Option<Signed> {
        Some(Signed {
            method: q.get("method")?.clone(),
            exp: q.get("exp")?.parse().ok()?,
            sig: q.get("sig")?.clone(),
            media_type: q.get("type").cloned(),
        })
    }
}

/// The media type of a file whose declaration names none.
pub const DEFAULT_MEDIA_TYPE: &str = "application/octet-stream";

/// Percent-encodes a query value (media types may hold `+`, which a query reads as a space).
fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'-' | b'_') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Blobs {
    /// Blobs under `root`, URLs signed with `secret` on `base_url`.
    pub fn new(root: PathBuf, secret: Vec<u8>, base_url: String) -> Blobs {
        Blobs {
            root,
            secret,
            base_url,
        }
    }

    /// The MAC of what a URL grants: method, blob, expiry and, for typed reads, media type.
    fn mac(
        &self,
        method: &str,
        key: &str,
        exp: u64,
        media_type: Option<&str>,
    ) -> Option<HmacSha256> {
        let mut mac = HmacSha256::new_from_slice(&self.secret).ok()?;
        mac.update(format!("{method}\n/blobs/{key}\n{exp}").as_bytes());
        if let Some(t) = media_type {
            mac.update(format!("\n{t}").as_bytes());
        }
        Some(mac)
    }

    fn signed_url(&self, method: &str, key: &str, ttl_s: u64, media_type: Option<&str>) -> String {
        let exp = now_s() + ttl_s;
        let sig = self
            .mac(method, key, exp, media_type)
            .map(|m| hex::encode(m.finalize().into_bytes()))
            .unwrap_or_default();
        let mut url = format!(
            "{}/blobs/{key}?method={method}&exp={exp}&sig={sig}",
            self.base_url
        );
        if let Some(t) = media_type {
            url.push_str("&type=");
            url.push_str(&query_escape(t));
        }
        url
    }

    /// A URL granting `method` (`GET` or `PUT`) on `key` for `ttl_s` seconds.
    pub fn sign(&self, method: &str, key: &str, ttl_s: u64) -> String {
        self.signed_url(method, key, ttl_s, None)
    }

    /// A URL to read `key` for `ttl_s` seconds, answered with `Content-Type: media_type`.
    pub fn sign_read(&self, key: &str, ttl_s: u64, media_type: Option<&str>) -> String {
        self.signed_url("GET", key, ttl_s, media_type)
    }

    /// Checks a signed request; the error is what to tell the caller.
    pub fn verify(&self, method: &str, key: &str, q: &Signed) -> Result<(), &'static str> {
        if q.method != method {
            return Err("this URL is signed for another method");
        }
        if q.exp < now_s() {
            return Err("this URL has expired");
        }
        let mac = self
            .mac(method, key, q.exp, q.media_type.as_deref())
            .ok_or("bad key")?;
        let given = hex::decode(&q.sig).map_err(|_| "the signature is malformed")?;
        mac.verify_slice(&given)
            .map_err(|_| "the signature does not match")
    }

    /// The file behind a key, refusing keys that climb out of the folder.
    pub fn path(&self, key: &str) -> Option<PathBuf> {
        if key.is_empty()
            || key
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == ".." || s.contains('\\'))
        {
            return None;
        }
        Some(self.root.join(key))
    }

    /// Whether a blob exists.
    pub async fn exists(&self, key: &str) -> bool {
        match self.path(key) {
            Some(p) => tokio::fs::metadata(p).await.is_ok(),
            None => false,
        }
    }

    /// Reads a whole blob.
    pub async fn read(&self, key: &str) -> std::io::Result<Vec<u8>> {
        let path = self
            .path(key)
            .ok_or_else(|| std::io::Error::other("bad key"))?;
        tokio::fs::read(path).await
    }
}

fn problem(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// `GET /blobs/{key}`: a signed read, with `Range: bytes=a-b`.
pub async fn get(
    State(blobs): State<Arc<Blobs>>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(q) = Signed::from_query(&q) else {
        return problem(StatusCode::FORBIDDEN, "forbidden", "a signed URL is needed");
    };
    if let Err(why) = blobs.verify("GET", &key, &q) {
        return problem(StatusCode::FORBIDDEN, "forbidden", why);
    }
    let Some(path) = blobs.path(&key) else {
        return problem(StatusCode::BAD_REQUEST, "bad_request", "bad blob key");
    };
    serve(
        &path,
        &headers,
        q.media_type.as_deref().unwrap_or(DEFAULT_MEDIA_TYPE),
    )
    .await
}

/// Answers a read of a blob file: whole (`200`), or one `Range: bytes=a-b` of it (`206`,
/// `416` when it lies outside the file), with its `Content-Type`. Used by signed reads and by
/// `?relay=true`, so both behave alike.
pub async fn serve(path: &std::path::Path, headers: &HeaderMap, media_type: &str) -> Response {
    // A declared media type that cannot be a header value is served as plain bytes.
    let media_type = match header::HeaderValue::from_str(media_type) {
        Ok(_) => media_type,
        Err(_) => DEFAULT_MEDIA_TYPE,
    };
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(_) => {
            return problem(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such file has been uploaded",
            )
        }
    };
    let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| parse_range(r, len));
    let built = match range {
        Some((start, end)) => {
            if file.seek(std::io::SeekFrom::Start(start)).await.is_err() {
                return problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "cannot read the file",
                );
            }
            let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
                file.take(end - start + 1),
                chunk_for(end - start + 1),
            ));
            Response::builder()
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_TYPE, media_type)
                .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"))
                .header(header::CONTENT_LENGTH, end - start + 1)
                .header(header::ACCEPT_RANGES, "bytes")
                .body(body)
        }
        None if headers.contains_key(header::RANGE) && len > 0 => Response::builder()
            .status(StatusCode::RANGE_NOT_SATISFIABLE)
            .header(header::CONTENT_RANGE, format!("bytes */{len}"))
            .body(Body::empty()),
        None => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, media_type)
            .header(header::CONTENT_LENGTH, len)
            .header(header::ACCEPT_RANGES, "bytes")
            .body(Body::from_stream(
                tokio_util::io::ReaderStream::with_capacity(file, chunk_for(len)),
            )),
    };
    built.unwrap_or_else(|_| {
        problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "cannot build the response",
        )
    })
}

/// Parses one `bytes=a-b`, `bytes=a-` or `bytes=-n` range into inclusive offsets.
fn parse_range(value: &str, len: u64) -> Option<(u64, u64)> {
    let spec = value.strip_prefix("bytes=")?;
    if spec.contains(',') || len == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (len.saturating_sub(n), len - 1)
        }
        (a, "") => (a.parse().ok()?, len - 1),
        (a, b) => (a.parse().ok()?, b.parse::<u64>().ok()?.min(len - 1)),
    };
    (start <= end && start < len).then_some((start, end))
}

/// `PUT /blobs/{key}`: a signed upload, written to a temporary file and renamed into place,
/// so a reader never sees half a file.
pub async fn put(
    State(blobs): State<Arc<Blobs>>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Body,
) -> Response {
    let Some(q) = Signed::from_query(&q) else {
        return problem(StatusCode::FORBIDDEN, "forbidden", "a signed URL is needed");
    };
    if let Err(why) = blobs.verify("PUT", &key, &q) {
        return problem(StatusCode::FORBIDDEN, "forbidden", why);
    }
    let Some(path) = blobs.path(&key) else {
        return problem(StatusCode::BAD_REQUEST, "bad_request", "bad blob key");
    };
    if let Some(dir) = path.parent() {
        if tokio::fs::create_dir_all(dir).await.is_err() {
            return problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "cannot create the blob folder",
            );
        }
    }
    let tmp = path.with_extension(format!("part-{}", uuid::Uuid::new_v4()));
    let mut file = match tokio::fs::File::create(&tmp).await {
        Ok(f) => f,
        Err(_) => {
            return problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "cannot write the blob",
            )
        }
    };
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let ok = match chunk {
            Ok(bytes) => file.write_all(&bytes).await.is_ok(),
            Err(_) => false,
        };
        if !ok {
            let _ = tokio::fs::remove_file(&tmp).await;
            return problem(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the upload was interrupted",
            );
        }
    }
    if file.sync_all().await.is_err() || tokio::fs::rename(&tmp, &path).await.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
        return problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "cannot store the blob",
        );
    }
    StatusCode::CREATED.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=95-200", 100), Some((95, 99)));
        assert_eq!(parse_range("bytes=200-300", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
    }

    /// The signed query of a URL, decoded as the server decodes it.
    fn signed(url: &str) -> Signed {
        let url = reqwest::Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        Signed::from_query(&query).unwrap_or_else(|| panic!("{url} is not signed"))
    }

    #[test]
    fn signatures_bind_method_key_and_expiry() {
        let b = Blobs::new(
            PathBuf::from("/tmp/x"),
            b"secret".to_vec(),
            "http://h".into(),
        );
        let q = signed(&b.sign("GET", "objects/a/v1/src", 60));
        assert!(b.verify("GET", "objects/a/v1/src", &q).is_ok());
        assert!(b.verify("PUT", "objects/a/v1/src", &q).is_err());
        assert!(b.verify("GET", "objects/b/v1/src", &q).is_err());
        let expired = Signed { exp: 1, ..q };
        assert!(b.verify("GET", "objects/a/v1/src", &expired).is_err());
        // The media type of a typed read is signed too: it cannot be swapped or dropped.
        let typed = b.sign_read("objects/a/v1/src", 60, Some("image/svg+xml"));
        assert!(typed.ends_with("&type=image/svg%2Bxml"), "{typed}");
        let mut q = signed(&typed);
        assert_eq!(q.media_type.as_deref(), Some("image/svg+xml"));
        assert!(b.verify("GET", "objects/a/v1/src", &q).is_ok());
        q.media_type = Some("text/html".into());
        assert!(b.verify("GET", "objects/a/v1/src", &q).is_err());
        q.media_type = None;
        assert!(b.verify("GET", "objects/a/v1/src", &q).is_err());
        assert!(b.path("../etc/passwd").is_none());
    }
}
