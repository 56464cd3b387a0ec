//! File state: blobs reached only through signed, expiring URLs that grant one method on one
//! blob. They live in one of two stores ([`BlobStore`]):
//!
//! - a local folder (the default): URLs signed by the runtime (HMAC-SHA256 over method, path
//!   and expiry), which the HTTP layer serves under `/blobs/...` (`api::files`);
//! - an S3-compatible bucket ([`s3`]): the bucket's own SigV4 presigned URLs, so the bytes
//!   never pass through the runtime.
//!
//! This module signs, checks and locates them; it uses no other part of the runtime but ids.

use crate::ids::{ObjectId, TaskId};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use std::collections::HashMap;
use std::path::PathBuf;

pub mod s3;
pub mod s3_testing;

/// How long signed file URLs live.
pub const URL_TTL_S: u64 = 3600;

/// Where a file of an object version is stored.
pub fn file_key(id: &ObjectId, version: u64, name: &str) -> String {
    format!("objects/{id}/v{version}/{name}")
}

/// The blob key that signs a task's allocation URL for outputs of a class.
pub fn allocation_key(task: &TaskId, class: &str) -> String {
    format!("alloc/{task}/{class}")
}

type HmacSha256 = Hmac<Sha256>;

/// Where blobs are stored.
pub enum BlobStore {
    /// A local folder, served by the runtime under `/blobs/`.
    Folder(PathBuf),
    /// An S3-compatible bucket, reached by its presigned URLs.
    S3(Box<s3::S3Store>),
}

/// Where to read a blob from, for a read relayed through the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    /// A file of the blob folder.
    File(PathBuf),
    /// A presigned `GET` URL of the bucket.
    Url(String),
}

/// The blob store and the key that signs the runtime's own URLs.
pub struct Blobs {
    store: BlobStore,
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
    pub media_type: Option<String>,
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
    /// Whether the blobs can be reached now (`/healthz`): the folder is there, or the
    /// bucket answers.
    pub async fn health(&self) -> Result<(), String> {
        match &self.store {
            BlobStore::Folder(root) => match tokio::fs::metadata(root).await {
                Ok(m) if m.is_dir() => Ok(()),
                Ok(_) => Err(format!("{} is not a folder", root.display())),
                Err(e) => Err(format!(
                    "cannot read the blob folder {}: {e}",
                    root.display()
                )),
            },
            BlobStore::S3(s3) => s3.health().await,
        }
    }

    /// Blobs under the folder `root`, URLs signed with `secret` on `base_url`.
    pub fn new(root: PathBuf, secret: Vec<u8>, base_url: String) -> Blobs {
        Blobs::with_store(BlobStore::Folder(root), secret, base_url)
    }

    /// Blobs in `store`; the runtime's own URLs signed with `secret` on `base_url`.
    pub fn with_store(store: BlobStore, secret: Vec<u8>, base_url: String) -> Blobs {
        Blobs {
            store,
            secret,
            base_url,
        }
    }

    /// Whether the blobs are in a bucket (the runtime's `/blobs/` then serves nothing).
    pub fn in_bucket(&self) -> bool {
        matches!(self.store, BlobStore::S3(_))
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

    /// A URL of the runtime's own granting `method` on `key` for `ttl_s` seconds (blobs of
    /// the folder, and other grants such as a task's output allocation).
    pub fn sign(&self, method: &str, key: &str, ttl_s: u64) -> String {
        self.signed_url(method, key, ttl_s, None)
    }

    /// A URL to read the blob `key` for `ttl_s` seconds, answered with
    /// `Content-Type: media_type` when given.
    pub fn sign_read(&self, key: &str, ttl_s: u64, media_type: Option<&str>) -> String {
        match &self.store {
            BlobStore::Folder(_) => self.signed_url("GET", key, ttl_s, media_type),
            BlobStore::S3(s3) => s3.read_url(key, ttl_s, media_type),
        }
    }

    /// A URL to upload the blob `key` once, for `ttl_s` seconds. For a bucket the upload
    /// must carry `If-None-Match: *` (see [`s3`]).
    pub fn sign_upload(&self, key: &str, ttl_s: u64) -> String {
        match &self.store {
            BlobStore::Folder(_) => self.signed_url("PUT", key, ttl_s, None),
            BlobStore::S3(s3) => s3.upload_url(key, ttl_s),
        }
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

    /// The file behind a key, refusing keys that climb out of the folder; none for a bucket.
    pub fn path(&self, key: &str) -> Option<PathBuf> {
        let BlobStore::Folder(root) = &self.store else {
            return None;
        };
        if key.is_empty()
            || key
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == ".." || s.contains('\\'))
        {
            return None;
        }
        Some(root.join(key))
    }

    /// Where a relayed read of `key` comes from.
    pub fn locate(&self, key: &str) -> Option<Located> {
        match &self.store {
            BlobStore::Folder(_) => self.path(key).map(Located::File),
            BlobStore::S3(s3) => Some(Located::Url(s3.read_url(key, 60, None))),
        }
    }

    /// Whether `key` is known to hold a blob, without waiting: the folder is asked, a
    /// bucket's blobs are known once [`Blobs::refresh`] or [`Blobs::exists`] saw them.
    pub fn is_uploaded(&self, key: &str) -> bool {
        match &self.store {
            BlobStore::Folder(_) => self.path(key).is_some_and(|p| p.exists()),
            BlobStore::S3(s3) => s3.known(key),
        }
    }

    /// Asks the bucket about the keys not known to hold a blob yet, so that
    /// [`Blobs::is_uploaded`] answers for them (nothing to do for a folder).
    pub async fn refresh(&self, keys: impl IntoIterator<Item = String>) {
        if let BlobStore::S3(s3) = &self.store {
            for key in keys {
                s3.exists(&key).await;
            }
        }
    }

    /// Whether a blob exists.
    pub async fn exists(&self, key: &str) -> bool {
        match &self.store {
            BlobStore::Folder(_) => match self.path(key) {
                Some(p) => tokio::fs::metadata(p).await.is_ok(),
                None => false,
            },
            BlobStore::S3(s3) => s3.exists(key).await,
        }
    }

    /// Reads a whole blob.
    pub async fn read(&self, key: &str) -> std::io::Result<Vec<u8>> {
        if let BlobStore::S3(s3) = &self.store {
            return s3.read(key).await;
        }
        let path = self
            .path(key)
            .ok_or_else(|| std::io::Error::other("bad key"))?;
        tokio::fs::read(path).await
    }

    /// The client that reaches the bucket, for relayed reads (none for a folder).
    pub fn bucket_client(&self) -> Option<&reqwest::Client> {
        match &self.store {
            BlobStore::Folder(_) => None,
            BlobStore::S3(s3) => Some(s3.http()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
