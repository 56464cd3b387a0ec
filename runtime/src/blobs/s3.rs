//! Blobs in an S3-compatible bucket, reached by SigV4 presigned URLs in path-style addressing
//! (`ENDPOINT/BUCKET/KEY`), so that bytes go between clients and the bucket without passing
//! through the runtime.
//!
//! Files are create-only: every upload URL is signed with the header `If-None-Match: *`, so
//! the uploader must send that header, and the bucket refuses (`412`) a `PUT` to a key that
//! already holds a blob. The runtime learns that a file was uploaded by asking the bucket
//! (`HEAD`); since a blob never changes once written, what it learned is kept in memory.

use rusty_s3::actions::S3Action;
use rusty_s3::{Bucket, Credentials, UrlStyle};
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

/// How long the runtime waits for the bucket on one request of its own.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the blobs are: a bucket and a key prefix, from `s3://BUCKET[/PREFIX]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket's name.
    pub bucket: String,
    /// Prepended to every blob key (empty, or ending with `/`).
    pub prefix: String,
}

impl S3Location {
    /// Reads `s3://BUCKET[/PREFIX]`.
    pub fn parse(spec: &str) -> Result<S3Location, String> {
        let rest = spec
            .strip_prefix("s3://")
            .ok_or_else(|| format!("'{spec}' is not an S3 location: give s3://BUCKET[/PREFIX]"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(format!(
                "'{bucket}' is not a bucket name: 3 to 63 lowercase letters, digits, '-' or '.' (in s3://BUCKET[/PREFIX])"
            ));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|s| s == "." || s == "..") {
            return Err(format!("the prefix of '{spec}' may not hold '.' or '..'"));
        }
        Ok(S3Location {
            bucket: bucket.to_string(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        })
    }
}

/// How to reach the bucket's server, from the standard AWS variables.
#[derive(Clone)]
pub struct S3Settings {
    /// `AWS_ENDPOINT_URL`, else AWS's regional endpoint.
    pub endpoint: String,
    /// `AWS_REGION` (or `AWS_DEFAULT_REGION`), default `us-east-1`.
    pub region: String,
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_key: String,
    /// `AWS_SESSION_TOKEN`, for temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

impl S3Settings {
    /// From variables looked up by `var` (the process environment in `oaasc serve`).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<S3Settings, String> {
        let var = |name: &str| var(name).filter(|v| !v.is_empty());
        let region = var("AWS_REGION")
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".into());
        let missing = |name: &str| {
            format!("files in a bucket need {name}: set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, for a server other than AWS, AWS_ENDPOINT_URL")
        };
        Ok(S3Settings {
            endpoint: var("AWS_ENDPOINT_URL")
                .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com")),
            access_key: var("AWS_ACCESS_KEY_ID").ok_or_else(|| missing("AWS_ACCESS_KEY_ID"))?,
            secret_key: var("AWS_SECRET_ACCESS_KEY")
                .ok_or_else(|| missing("AWS_SECRET_ACCESS_KEY"))?,
            session_token: var("AWS_SESSION_TOKEN"),
            region,
        })
    }

    /// From the process environment.
    pub fn from_env() -> Result<S3Settings, String> {
        S3Settings::from_vars(|name| std::env::var(name).ok())
    }
}

/// A bucket holding the runtime's blobs.
pub struct S3Store {
    bucket: Bucket,
    credentials: Credentials,
    prefix: String,
    http: reqwest::Client,
    /// Largest blob that counts as uploaded (`--max-file-size`).
    max_size: u64,
    /// Keys known to hold a blob: they never change, so this never goes stale.
    uploaded: Mutex<HashSet<String>>,
}

impl S3Store {
    /// Connects to the bucket, checking that it is there and the credentials reach it.
    pub async fn connect(
        location: &S3Location,
        settings: &S3Settings,
        max_size: u64,
    ) -> Result<S3Store, String> {
        let endpoint = reqwest::Url::parse(&settings.endpoint)
            .map_err(|e| format!("AWS_ENDPOINT_URL '{}' is not a URL: {e}", settings.endpoint))?;
        let bucket = Bucket::new(
            endpoint,
            UrlStyle::Path,
            location.bucket.clone(),
            settings.region.clone(),
        )
        .map_err(|e| format!("cannot address the bucket at '{}': {e}", settings.endpoint))?;
        let credentials = match &settings.session_token {
            Some(t) => Credentials::new_with_token(
                settings.access_key.clone(),
                settings.secret_key.clone(),
                t.clone(),
            ),
            None => Credentials::new(settings.access_key.clone(), settings.secret_key.clone()),
        };
        // No overall timeout on the client: relayed reads stream for as long as they take.
        // Without TCP_NODELAY a small relayed read waits ~40 ms for a delayed ACK (blob-bench).
        let http = reqwest::Client::builder()
            .connect_timeout(REQUEST_TIMEOUT)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("cannot build the S3 client: {e}"))?;
        let store = S3Store {
            bucket,
            credentials,
            prefix: location.prefix.clone(),
            http,
            max_size,
            uploaded: Mutex::new(HashSet::new()),
        };
        store.check_bucket(&settings.endpoint).await?;
        Ok(store)
    }

    /// Whether the bucket answers now (`/healthz`).
    pub async fn health(&self) -> Result<(), String> {
        let endpoint = self.bucket.base_url().to_string();
        self.check_bucket(&endpoint).await
    }

    /// `HEAD` on the bucket: there, and reachable with these credentials.
    async fn check_bucket(&self, endpoint: &str) -> Result<(), String> {
        let url = self
            .bucket
            .head_bucket(Some(&self.credentials))
            .sign(Duration::from_secs(60));
        let name = self.bucket.name();
        let r = self
            .http
            .head(url)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot reach the S3 endpoint {endpoint} (bucket '{name}'): {}",
                    causes(e)
                )
            })?;
        match r.status().as_u16() {
            200..=299 => Ok(()),
            404 => Err(format!("there is no bucket '{name}' at {endpoint}")),
            401 | 403 => Err(format!(
                "the S3 endpoint {endpoint} refused the credentials for bucket '{name}' (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
            )),
            s => Err(format!(
                "the S3 endpoint {endpoint} answered {s} for bucket '{name}'"
            )),
        }
    }

    fn object(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// A presigned `GET` of a blob, answered with `Content-Type: media_type` when given.
    pub fn read_url(&self, key: &str, ttl_s: u64, media_type: Option<&str>) -> String {
        let object = self.object(key);
        let mut action = self.bucket.get_object(Some(&self.credentials), &object);
        if let Some(t) = media_type {
            action
                .query_mut()
                .insert("response-content-type", t.to_string());
        }
        action.sign(Duration::from_secs(ttl_s)).to_string()
    }

    /// A presigned `PUT` of a blob that only creates it: signed with `If-None-Match: *`,
    /// which the uploader must send.
    pub fn upload_url(&self, key: &str, ttl_s: u64) -> String {
        let object = self.object(key);
        let mut action = self.bucket.put_object(Some(&self.credentials), &object);
        action.headers_mut().insert("if-none-match", "*");
        action.sign(Duration::from_secs(ttl_s)).to_string()
    }

    /// Whether the runtime already knows that `key` holds a blob (no request).
    pub fn known(&self, key: &str) -> bool {
        self.uploaded.lock().is_ok_and(|s| s.contains(key))
    }

    /// Whether `key` holds a blob no larger than the largest upload, asking the bucket when
    /// the runtime does not know yet. An error of the bucket reads as "not uploaded".
    pub async fn exists(&self, key: &str) -> bool {
        if self.known(key) {
            return true;
        }
        let object = self.object(key);
        let url = self
            .bucket
            .head_object(Some(&self.credentials), &object)
            .sign(Duration::from_secs(60));
        let size = match self.http.head(url).timeout(REQUEST_TIMEOUT).send().await {
            // The header itself: reqwest's `content_length()` is the body's, none for `HEAD`.
            Ok(r) if r.status().is_success() => r
                .headers()
                .get(reqwest::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok()),
            Ok(_) => return false,
            Err(e) => {
                tracing::warn!(key, error = causes(e), "cannot ask the bucket for a blob");
                return false;
            }
        };
        if size.is_some_and(|n| n > self.max_size) {
            tracing::warn!(key, size, "a blob larger than --max-file-size is not taken");
            return false;
        }
        if let Ok(mut s) = self.uploaded.lock() {
            s.insert(key.to_string());
        }
        true
    }

    /// Reads a whole blob.
    pub async fn read(&self, key: &str) -> std::io::Result<Vec<u8>> {
        let url = self.read_url(key, 60, None);
        let r = self
            .http
            .get(url)
            .send()
            .await
            .map_err(std::io::Error::other)?;
        if !r.status().is_success() {
            return Err(std::io::Error::other(format!(
                "the bucket answered {} for {key}",
                r.status()
            )));
        }
        Ok(r.bytes().await.map_err(std::io::Error::other)?.to_vec())
    }

    /// The client the runtime reaches the bucket with (for relayed reads).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

/// An error of a request and its causes, without the URL (its signature says nothing).
fn causes(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        let l = S3Location::parse("s3://my-bucket/some/prefix/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (l.bucket.as_str(), l.prefix.as_str()),
            ("my-bucket", "some/prefix/")
        );
        let l = S3Location::parse("s3://b12").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(l.prefix, "");
        for bad in [
            "b12",
            "s3://",
            "s3://B",
            "s3://ab",
            "s3://a_b/x",
            "s3://abc/../x",
            "http://abc",
        ] {
            assert!(S3Location::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_need_credentials() {
        let vars = |set: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                set.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let Err(err) = S3Settings::from_vars(vars(&[("AWS_ACCESS_KEY_ID", "k")])) else {
            panic!("settings without a secret")
        };
        assert!(err.contains("AWS_SECRET_ACCESS_KEY"), "{err}");
        let s = S3Settings::from_vars(vars(&[
            ("AWS_ACCESS_KEY_ID", "k"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_REGION", "eu-west-1"),
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.endpoint, "https://s3.eu-west-1.amazonaws.com");
        assert!(
            !format!("{s:?}").contains("\"s\""),
            "the secret is not printed"
        );
    }
}
