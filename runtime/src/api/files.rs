//! Files over HTTP: signed reads (`GET /blobs/...`, with `Range`) and signed uploads
//! (`PUT /blobs/...`) of the blob folder, and the same reads relayed for `?relay=true`, from
//! the folder or from the bucket.

use super::auth::Guard;
use super::error::ApiError;
use crate::blobs::{Signed, DEFAULT_MEDIA_TYPE};
use crate::engine::Engine;
use crate::error::{Error, ErrorKind};
use crate::ids::ObjectId;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::StreamExt;
use std::collections::HashMap;
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

/// What `/blobs/` answers when the blobs are in a bucket.
const IN_BUCKET: &str =
    "this runtime keeps its files in a bucket: use the bucket's URLs that it hands out";

fn problem(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// `GET /blobs/{key}`: a signed read, with `Range: bytes=a-b`.
pub async fn get(
    State(engine): State<Arc<Engine>>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let blobs = &engine.objects.blobs;
    let Some(q) = Signed::from_query(&q) else {
        return problem(StatusCode::FORBIDDEN, "forbidden", "a signed URL is needed");
    };
    if let Err(why) = blobs.verify("GET", &key, &q) {
        return problem(StatusCode::FORBIDDEN, "forbidden", why);
    }
    if blobs.in_bucket() {
        return problem(StatusCode::NOT_FOUND, "not_found", IN_BUCKET);
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

/// Relays a read of a blob from the bucket's presigned `url`: the bucket's answer (`200`, or
/// `206`/`416` for one `Range`) streamed through, with the declared `Content-Type`, as
/// [`serve`] answers for the folder.
pub async fn relay(
    client: &reqwest::Client,
    url: &str,
    headers: &HeaderMap,
    media_type: &str,
) -> Response {
    let media_type = match header::HeaderValue::from_str(media_type) {
        Ok(v) => v,
        Err(_) => header::HeaderValue::from_static(DEFAULT_MEDIA_TYPE),
    };
    let mut request = client.get(url);
    if let Some(range) = headers.get(header::RANGE) {
        request = request.header(header::RANGE, range.clone());
    }
    let answer = match request.send().await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "cannot reach the bucket for a relayed read");
            return problem(
                StatusCode::BAD_GATEWAY,
                "internal",
                "cannot reach the bucket that holds the file",
            );
        }
    };
    let status = answer.status();
    if status == StatusCode::NOT_FOUND {
        return problem(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such file has been uploaded",
        );
    }
    if !(status.is_success() || status == StatusCode::RANGE_NOT_SATISFIABLE) {
        tracing::warn!(%status, "the bucket refused a relayed read");
        return problem(
            StatusCode::BAD_GATEWAY,
            "internal",
            "the bucket that holds the file refused to read it",
        );
    }
    let mut built = Response::builder().status(status);
    for name in [header::CONTENT_LENGTH, header::CONTENT_RANGE] {
        if let Some(v) = answer.headers().get(&name) {
            built = built.header(name, v.clone());
        }
    }
    if status.is_success() {
        built = built
            .header(header::CONTENT_TYPE, media_type)
            .header(header::ACCEPT_RANGES, "bytes");
    }
    built
        .body(Body::from_stream(answer.bytes_stream()))
        .unwrap_or_else(|_| {
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

/// `PUT /blobs/{key}`: a signed upload, written once. The file is written to a temporary
/// name and linked into place only if nothing is there yet, so a reader never sees half a
/// file, and a committed file (which copies of its object may share) never changes: a second
/// upload, or one to an object deleted since, is refused with `409`.
pub async fn put(
    State(engine): State<Arc<Engine>>,
    Extension(guard): Extension<Arc<Guard>>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let blobs = &engine.objects.blobs;
    let q = Signed::from_query(&q).ok_or_else(|| Error::forbidden("a signed URL is needed"))?;
    blobs.verify("PUT", &key, &q).map_err(Error::forbidden)?;
    if blobs.in_bucket() {
        return Err(Error::not_found(IN_BUCKET).into());
    }
    let path = blobs
        .path(&key)
        .ok_or_else(|| Error::bad_request("bad blob key"))?;
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Err(already_uploaded().into());
    }
    if let Some(id) = key
        .strip_prefix("objects/")
        .and_then(|k| k.split('/').next())
    {
        let newest = engine
            .objects
            .store()
            .object(&ObjectId::from(id), None)
            .await?;
        if newest.is_some_and(|o| o.deleted) {
            return Err(
                Error::conflict("the object was deleted: its files take no more uploads").into(),
            );
        }
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > guard.max_file_size) {
        return Err(too_large(guard.max_file_size).into());
    }
    let dir = path
        .parent()
        .ok_or_else(|| Error::bad_request("bad blob key"))?;
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| Error::internal(format!("cannot create the blob folder: {e}")))?;
    let tmp = path.with_extension(format!("part-{}", uuid::Uuid::new_v4()));
    let written = write_within(&tmp, body, guard.max_file_size).await;
    let linked = match written {
        Ok(()) => tokio::fs::hard_link(&tmp, &path).await,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e.into());
        }
    };
    let _ = tokio::fs::remove_file(&tmp).await;
    match linked {
        Ok(()) => Ok(StatusCode::CREATED.into_response()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(already_uploaded().into()),
        Err(e) => Err(Error::internal(format!("cannot store the blob: {e}")).into()),
    }
}

fn already_uploaded() -> Error {
    Error::conflict("this file of this object version was uploaded already, and files do not change: upload to a new version")
}

fn too_large(max: u64) -> Error {
    Error::new(
        ErrorKind::TooLarge,
        format!("a file may have at most {max} bytes (--max-file-size)"),
    )
}

/// Writes a body to a new file of the owner's only, at most `max` bytes, synced to disk.
async fn write_within(path: &std::path::Path, body: Body, max: u64) -> Result<(), Error> {
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .await
        .map_err(|e| Error::internal(format!("cannot write the blob: {e}")))?;
    let mut stream = body.into_data_stream();
    let mut total: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let bytes = chunk.map_err(|_| Error::bad_request("the upload was interrupted"))?;
        total += bytes.len() as u64;
        if total > max {
            return Err(too_large(max));
        }
        file.write_all(&bytes)
            .await
            .map_err(|e| Error::internal(format!("cannot write the blob: {e}")))?;
    }
    file.sync_all()
        .await
        .map_err(|e| Error::internal(format!("cannot store the blob: {e}")))
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
}
