//! Notices of deploys, token changes and signals between the runtimes on one database: a
//! commit of a package, a token or a signal sends `NOTIFY` on a channel in its own transaction (so the notice
//! goes out exactly when the row is visible), and each runtime `LISTEN`s on a connection of
//! its own. When that connection ends it is made again, and the runtime is told to read
//! everything again ([`Change::All`]), since notices sent meanwhile are lost.

use super::{chain, Change};
use futures_util::StreamExt;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_postgres::{AsyncMessage, NoTls};

/// The channel a deploy notifies.
pub(super) const PACKAGES: &str = "oaas_packages";
/// The channel a minted or revoked token notifies.
pub(super) const TOKENS: &str = "oaas_tokens";
/// The channel a signal sent to an invocation notifies.
pub(super) const SIGNALS: &str = "oaas_signals";
/// How long to wait before connecting again after the listening connection failed.
const RECONNECT: Duration = Duration::from_millis(500);

/// Listens for notices for as long as the task runs, passing them to `tx`.
pub(super) async fn listen(config: tokio_postgres::Config, tx: broadcast::Sender<Change>) {
    loop {
        if let Err(e) = listen_once(&config, &tx).await {
            tracing::warn!(error = %e, "listening for deploys on PostgreSQL failed; connecting again");
        }
        tokio::time::sleep(RECONNECT).await;
    }
}

/// One listening connection, until it ends.
async fn listen_once(
    config: &tokio_postgres::Config,
    tx: &broadcast::Sender<Change>,
) -> Result<(), String> {
    let (client, mut connection) = config.connect(NoTls).await.map_err(chain)?;
    let (notices, mut received) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if notices.send(n.channel().to_string()).is_err() {
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
            "LISTEN {PACKAGES}; LISTEN {TOKENS}; LISTEN {SIGNALS}"
        ))
        .await
        .map_err(chain)?;
    // Whatever was committed before listening began is read again now.
    let _ = tx.send(Change::All);
    while let Some(channel) = received.recv().await {
        let change = match channel.as_str() {
            PACKAGES => Change::Packages,
            TOKENS => Change::Tokens,
            SIGNALS => Change::Signals,
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
