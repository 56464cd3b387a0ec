//! Durable waits of macro nodes (`signal`, `sleep`): the wait is a row in the store, taken
//! up again by whoever runs the macro after a restart or on another replica; while it waits
//! it holds no container slot, only a timer. A signal sent through this process wakes its
//! waits at once; on a store shared by replicas (PostgreSQL), one sent through another
//! replica wakes them through the store's notices ([`crate::store::Change::Signals`]), and
//! should a notice be lost, polling the store every [`POLL`] finds it. A store of one process (SQLite,
//! whose data folder is locked) gets signals only through it, so its waits look again only
//! when woken or due.

use crate::error::{Error, Result};
use crate::store::{Store, WaitRequest, WaitState};
use serde_json::Value;
use std::time::Duration;
use tokio::sync::Notify;

/// How often a signal wait on a shared store looks for a signal another replica received
/// without a notice reaching this one.
pub const POLL: Duration = Duration::from_secs(2);

/// The longest a wait goes without looking at the store (whose clock decides when it is
/// due).
const SLEEP_CHECK: Duration = Duration::from_secs(60);

/// Most signals an invocation holds that no wait has taken yet.
pub const MAX_WAITING_SIGNALS: usize = 64;

/// Store errors in a row a wait rides out (one [`POLL`] apart) before it fails.
const STORE_RETRIES: u32 = 20;

/// The waits of this process, and what wakes them.
#[derive(Default)]
pub struct Waits {
    signalled: Notify,
}

impl Waits {
    /// A signal was stored through this process: its waits look again now.
    pub fn signalled(&self) {
        self.signalled.notify_waiters();
    }

    /// Waits until `request` is over: the signal's value (null after a sleep), or a
    /// timeout error ([`Error::timeout`]) when a signal's timeout struck first.
    pub async fn run(&self, store: &dyn Store, request: &WaitRequest) -> Result<Value> {
        let mut errors = 0;
        let poll = if request.signal.is_some() && store.shared() {
            POLL
        } else {
            SLEEP_CHECK
        };
        loop {
            // Listening before looking, so a signal stored in between is not missed.
            let woken = self.signalled.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let pause = match store.wait(request).await {
                Ok(WaitState::Done(v)) => return Ok(v),
                Ok(WaitState::TimedOut) => return Err(timed_out(request)),
                Ok(WaitState::Waiting { due_in_ms }) => {
                    errors = 0;
                    Duration::from_millis(due_in_ms).min(poll)
                }
                Err(e) if errors < STORE_RETRIES => {
                    errors += 1;
                    tracing::warn!(task = %request.task, error = %e, "a wait cannot reach the store; trying again");
                    POLL
                }
                Err(e) => return Err(e.into()),
            };
            tokio::select! {
                _ = &mut woken => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }
}

/// The error of a signal wait whose timeout struck.
fn timed_out(request: &WaitRequest) -> Error {
    let name = request.signal.as_deref().unwrap_or_default();
    Error::timeout(format!(
        "no signal `{name}` came within {}",
        human_duration(request.ms)
    ))
}

/// `90000` as `90s`, `3600000` as `1h`: the largest unit that divides it.
pub fn human_duration(ms: u64) -> String {
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms >= size && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn durations_read_as_written() {
        assert_eq!(human_duration(3_600_000), "1h");
        assert_eq!(human_duration(90_000), "90s");
        assert_eq!(human_duration(120_000), "2m");
        assert_eq!(human_duration(1_500), "1500ms");
    }
}
