//! `GET /api/invocations/{id}/events`: one invocation's node status changes, pushed as
//! server-sent events (`text/event-stream`), then its outcome.
//!
//! The stream is read from the durable record, never from this replica's memory: it polls
//! the store's invocation record (which the replica running the macro writes every 100 ms
//! while it runs), so it follows an invocation running on any replica, or taken over by
//! another. Each node record carries the position of its last change (`seq`, strictly
//! increasing across the invocation's runs); an event's id is that position, so a client
//! that reconnects with `Last-Event-ID` gets every node that changed after what it saw, in
//! order, and nothing twice. A node that changed twice between two polls is sent once, in
//! its newest status.

use super::error::ApiError;
use super::types::InvocationResponse;
use super::Shared;
use crate::error::Error;
use crate::ids::InvocationId;
use crate::store::InvocationStatus;
use crate::tokens::{Principal, Role};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::{json, Value};
use std::convert::Infallible;
use std::time::Duration;

/// How often the store's record is read while the invocation runs.
pub const POLL: Duration = Duration::from_millis(200);
/// Longest one stream stays open; the client reconnects with `Last-Event-ID` to go on.
pub const MAX_STREAM: Duration = Duration::from_secs(600);
/// How often a comment keeps an idle stream open through proxies.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One event of the stream.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamEvent {
    /// Its id: the node's `seq`, or one past the greatest for `done`.
    pub id: u64,
    /// `node` or `done`.
    pub kind: &'static str,
    /// The node record with its `key`, or the outcome.
    pub data: Value,
}

/// What a record holds after a client's position.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// The events, oldest first.
    pub events: Vec<StreamEvent>,
    /// The position after them.
    pub cursor: u64,
    /// Whether the invocation has finished (the last event is then `done`).
    pub finished: bool,
}

/// The events of `inv` after position `after`: each node whose last change is later, in
/// the order of the changes, then `done` once the invocation is no longer pending.
pub fn events_after(inv: &InvocationResponse, after: u64) -> Batch {
    let mut nodes: Vec<(&String, &crate::store::NodeRecord)> = inv
        .nodes
        .iter()
        // Records written before `seq` existed carry 0: sent on a fresh stream only.
        .filter(|(_, n)| n.seq > after || (after == 0 && n.seq == 0))
        .collect();
    nodes.sort_by_key(|(key, n)| (n.seq, key.as_str()));
    let mut events: Vec<StreamEvent> = nodes
        .into_iter()
        .map(|(key, n)| {
            let mut data = serde_json::to_value(n).unwrap_or(Value::Null);
            data["key"] = Value::from(key.as_str());
            StreamEvent {
                id: n.seq,
                kind: "node",
                data,
            }
        })
        .collect();
    let last_node = inv.nodes.values().map(|n| n.seq).max().unwrap_or(0);
    let mut cursor = events.last().map_or(after, |e| e.id.max(after));
    let finished = inv.status != InvocationStatus::Pending;
    let done_id = last_node + 1;
    if finished && after < done_id {
        events.push(StreamEvent {
            id: done_id,
            kind: "done",
            data: json!({
                "status": inv.status,
                "result": inv.result,
                "error": inv.error,
                "updated_at": inv.updated_at,
            }),
        });
        cursor = done_id;
    }
    Batch {
        events,
        cursor,
        finished,
    }
}

/// The position in `Last-Event-ID` (0 when absent); anything but a whole number is a 400.
pub fn last_event_id(headers: &HeaderMap) -> Result<u64, Error> {
    match headers.get("last-event-id") {
        None => Ok(0),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| {
                Error::bad_request("`Last-Event-ID` must be the id of an event of this stream")
            }),
    }
}

/// The route: 404 for an unknown invocation, else the stream.
pub async fn stream(
    State(engine): State<Shared>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = InvocationId::from(id);
    let after = last_event_id(&headers)?;
    let admin = who.has(Role::Admin);
    // Refused now, with a JSON error, rather than as an empty stream.
    let first = engine.invocations.get(&id).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(64);
    tokio::spawn(follow(engine, id, first, after, admin, tx));
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

/// Sends the record's changes until it finishes, the client goes away or [`MAX_STREAM`]
/// passes. A store that fails for a moment is read again at the next poll.
async fn follow(
    engine: Shared,
    id: InvocationId,
    first: crate::store::Invocation,
    mut cursor: u64,
    admin: bool,
    tx: tokio::sync::mpsc::Sender<Event>,
) {
    let deadline = tokio::time::Instant::now() + MAX_STREAM;
    let mut record = Some(first);
    loop {
        if let Some(inv) = record.take() {
            let mut view = InvocationResponse::from(inv);
            if !admin {
                view.redact();
            }
            let batch = events_after(&view, cursor);
            for e in batch.events {
                let event = Event::default()
                    .id(e.id.to_string())
                    .event(e.kind)
                    .data(e.data.to_string());
                if tx.send(event).await.is_err() {
                    return;
                }
            }
            cursor = batch.cursor;
            if batch.finished {
                return;
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = tx.closed() => return,
        }
        match engine.invocations.get(&id).await {
            Ok(inv) => record = Some(inv),
            Err(e) => {
                tracing::debug!(invocation = %id, error = %e, "events: cannot read the record now")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ids::Target;
    use crate::store::{InvocationRequest, NodeRecord, NodeStatus};
    use std::collections::BTreeMap;

    fn node(status: NodeStatus, seq: u64) -> NodeRecord {
        NodeRecord {
            status,
            label: "self.f()".into(),
            output: None,
            error: None,
            cause: None,
            internal: false,
            seq,
            started_at: None,
            finished_at: None,
            reused: false,
        }
    }

    fn record(status: InvocationStatus, nodes: &[(&str, NodeStatus, u64)]) -> InvocationResponse {
        InvocationResponse {
            invocation_id: "inv".into(),
            status,
            request: InvocationRequest {
                target: Target::Class("p.C".into()),
                function: "m".into(),
                args: json!({}),
                fresh: false,
            },
            result: None,
            error: None,
            output_id: None,
            nodes: nodes
                .iter()
                .map(|(k, s, q)| (k.to_string(), node(*s, *q)))
                .collect::<BTreeMap<_, _>>(),
            created_at: 1,
            updated_at: 2,
        }
    }

    fn kv(key: &str, id: u64) -> (String, u64) {
        (key.to_string(), id)
    }

    fn keys(b: &Batch) -> Vec<(String, u64)> {
        b.events
            .iter()
            .map(|e| (e.data["key"].as_str().unwrap_or(e.kind).to_string(), e.id))
            .collect()
    }

    #[test]
    fn nodes_come_in_the_order_they_changed_and_done_comes_last() {
        use NodeStatus::*;
        let running = record(
            InvocationStatus::Pending,
            &[
                ("n2", Running, 30),
                ("n1", Succeeded, 20),
                ("n0", Succeeded, 10),
            ],
        );
        let b = events_after(&running, 0);
        assert_eq!(keys(&b), [kv("n0", 10), kv("n1", 20), kv("n2", 30)]);
        assert_eq!((b.cursor, b.finished), (30, false));
        // A client that saw up to 20 gets only n2.
        assert_eq!(keys(&events_after(&running, 20)), [kv("n2", 30)]);
        let done = record(
            InvocationStatus::Failed,
            &[
                ("n2", Failed, 40),
                ("n1", Succeeded, 20),
                ("n0", Succeeded, 10),
            ],
        );
        let b = events_after(&done, 30);
        assert_eq!(keys(&b), [kv("n2", 40), kv("done", 41)]);
        assert_eq!(b.events[0].data["status"], "failed");
        assert_eq!(b.events[1].data["status"], "failed");
        assert_eq!((b.cursor, b.finished), (41, true));
        // Resuming after `done` sends nothing more.
        let again = events_after(&done, 41);
        assert!(again.events.is_empty() && again.finished, "{again:?}");
    }

    #[test]
    fn a_call_without_nodes_ends_with_done() {
        let b = events_after(&record(InvocationStatus::Succeeded, &[]), 0);
        assert_eq!(keys(&b), [kv("done", 1)]);
    }

    #[test]
    fn last_event_id_is_a_whole_number_or_a_400() {
        let mut h = HeaderMap::new();
        assert_eq!(last_event_id(&h).unwrap(), 0);
        h.insert("last-event-id", "1795706819412001".parse().unwrap());
        assert_eq!(last_event_id(&h).unwrap(), 1_795_706_819_412_001);
        h.insert("last-event-id", "abc".parse().unwrap());
        let e = last_event_id(&h).unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::BadRequest);
    }
}
