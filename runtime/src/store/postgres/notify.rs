//! Notices of deploys, token changes and signals between the runtimes on one database: a
//! commit of a package, a token or a signal sends `NOTIFY` on a channel in its own transaction (so the notice
//! goes out exactly when the row is visible), and each runtime `LISTEN`s on a connection of
//! its own. When that connection ends it is made again, and the runtime is told to read
//! everything again ([`Change::All`]), since notices sent meanwhile are lost. A group of
//! commits that writes objects names them on [`OBJECTS`], with the writer's tag so that it
//! skips its own notices, while the writer sees other runtimes write the same objects
//! ([`super::sharing`]).

use super::sharing::Sharing;
use super::{chain, Change};
use crate::ids::ObjectId;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_postgres::{AsyncMessage, NoTls};

/// The channel a deploy notifies.
pub(super) const PACKAGES: &str = "oaas_packages";
/// The channel a minted or revoked token notifies.
pub(super) const TOKENS: &str = "oaas_tokens";
/// The channel a signal sent to an invocation notifies.
pub(super) const SIGNALS: &str = "oaas_signals";
/// The channel a group of commits that wrote objects notifies, naming them.
pub(super) const OBJECTS: &str = "oaas_objects";
/// Most bytes of a notice's payload (PostgreSQL takes fewer than 8000).
const MOST_PAYLOAD: usize = 7000;
/// How long to wait before connecting again after the listening connection failed.
const RECONNECT: Duration = Duration::from_millis(500);

/// The payload of an [`OBJECTS`] notice: who wrote, and what (`None`: too many to name).
#[derive(Serialize, Deserialize)]
struct Written<'a> {
    by: &'a str,
    ids: Option<Vec<&'a str>>,
}

/// The [`OBJECTS`] notice of a commit by `by` that wrote `ids`.
pub(super) fn objects_notice<'a>(by: &str, ids: impl Iterator<Item = &'a ObjectId>) -> String {
    let ids: Vec<&str> = ids.map(|i| i.as_str()).collect();
    let text = serde_json::to_string(&Written { by, ids: Some(ids) }).unwrap_or_default();
    if !text.is_empty() && text.len() < MOST_PAYLOAD {
        text
    } else {
        serde_json::to_string(&Written { by, ids: None }).unwrap_or_default()
    }
}

/// What an [`OBJECTS`] notice tells the runtime tagged `me`: nothing for its own; for
/// another's, the objects it wrote (or everything, when they were not named or the notice
/// cannot be read).
fn objects_change(payload: &str, me: &str) -> Option<Change> {
    match serde_json::from_str::<Written<'_>>(payload) {
        Ok(w) if w.by == me => None,
        Ok(Written { ids: Some(ids), .. }) => Some(Change::Objects(
            ids.into_iter().map(ObjectId::from).collect(),
        )),
        _ => Some(Change::All),
    }
}

/// Listens for notices for as long as the task runs, passing them to `tx`; `sharing` has
/// this runtime's tag in [`OBJECTS`] notices and hears which objects the others name.
pub(super) async fn listen(
    config: tokio_postgres::Config,
    tx: broadcast::Sender<Change>,
    sharing: Arc<Sharing>,
) {
    loop {
        if let Err(e) = listen_once(&config, &tx, &sharing).await {
            tracing::warn!(error = %e, "listening for deploys on PostgreSQL failed; connecting again");
        }
        tokio::time::sleep(RECONNECT).await;
    }
}

/// One listening connection, until it ends.
async fn listen_once(
    config: &tokio_postgres::Config,
    tx: &broadcast::Sender<Change>,
    sharing: &Sharing,
) -> Result<(), String> {
    let (client, mut connection) = config.connect(NoTls).await.map_err(chain)?;
    let (notices, mut received) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    let notice = (n.channel().to_string(), n.payload().to_string());
                    if notices.send(notice).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(chain(e)),
            }
        }
        Ok(())
    });
    client
        .batch_execute(&format!(
            "LISTEN {PACKAGES}; LISTEN {TOKENS}; LISTEN {SIGNALS}; LISTEN {OBJECTS}"
        ))
        .await
        .map_err(chain)?;
    // Whatever was committed before listening began is read again now.
    let _ = tx.send(Change::All);
    while let Some((channel, payload)) = received.recv().await {
        let change = match channel.as_str() {
            PACKAGES => Change::Packages,
            TOKENS => Change::Tokens,
            SIGNALS => Change::Signals,
            OBJECTS => match objects_change(&payload, sharing.by()) {
                Some(Change::Objects(ids)) => {
                    sharing.noticed(&ids);
                    Change::Objects(ids)
                }
                Some(c) => c,
                None => continue,
            },
            _ => continue,
        };
        let _ = tx.send(change);
    }
    drop(client);
    match driver.await {
        Ok(result) => result,
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_names_the_objects_to_others_and_nothing_to_its_writer() {
        let ids = [ObjectId::from("a"), ObjectId::from("b")];
        let notice = objects_notice("r1", ids.iter());
        assert_eq!(objects_change(&notice, "r1"), None);
        assert_eq!(
            objects_change(&notice, "r2"),
            Some(Change::Objects(ids.to_vec()))
        );
    }

    #[test]
    fn too_many_objects_or_an_unreadable_notice_mean_everything() {
        let ids: Vec<ObjectId> = (0..1000)
            .map(|i| ObjectId::from(format!("object-{i}")))
            .collect();
        let notice = objects_notice("r1", ids.iter());
        assert!(notice.len() < MOST_PAYLOAD, "{}", notice.len());
        assert_eq!(objects_change(&notice, "r2"), Some(Change::All));
        assert_eq!(objects_change("not json", "r2"), Some(Change::All));
    }
}
