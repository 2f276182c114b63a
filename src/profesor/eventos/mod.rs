//! The class's events: what every Docencio follows on Profesor's stream
//! (`GET /eventos`, Server-Sent Events) to push announcements, other
//! Docencios' chat and material sent to everyone to its students.
//!
//! Events are kept in a ring of the last 8,192 ([`log`]); a Docencio that
//! lost the stream for a moment reconnects with `Last-Event-ID` and gets
//! what it missed, so a short break costs nothing. Event ids are the clock
//! in microseconds, so they grow across restarts and replicas, and a
//! Docencio never mistakes a new event for one it has seen. One that asks
//! for events older than the ring keeps is told (`event: perdidos`).
//!
//! With `--database-url`, events are published through PostgreSQL
//! ([`postgres`]): every Profesor on that database appends the same events,
//! with the same ids, in the same order, so a Docencio can follow any of
//! them and switch from one to another without losing or repeating
//! anything. Without it, this Profesor numbers them itself. The log and
//! the database meet only in [`event`] (below both): the log publishes
//! through [`SharedEvents`], and the database feeds the log through a
//! channel ([`shared`]).

pub mod event;
pub mod log;
pub mod postgres;

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use event::{Event, EventKind, SharedEvents, ANNOUNCEMENTS_KEPT, RECENT};
pub use log::EventLog;
pub use postgres::PostgresEvents;

use super::store::StoreError;

/// Batches of events read from the database and not yet kept by the log.
const FEED_BATCHES: usize = 64;

/// A log whose events go through `shared`: filled with what the database
/// keeps, then fed what any Profesor on it publishes, until `stop`.
pub async fn shared(
    shared: PostgresEvents,
    stop: CancellationToken,
) -> Result<Arc<EventLog>, StoreError> {
    let restored = shared.restore().await?;
    let log = Arc::new(EventLog::with_store(
        stop.clone(),
        Some(Arc::new(shared.clone())),
    ));
    log.restore(restored);
    let after = log.last_id().unwrap_or(0);
    let (feed, mut fed) = mpsc::channel(FEED_BATCHES);
    tokio::spawn(shared.follow(after, feed, stop));
    let keeper = log.clone();
    tokio::spawn(async move {
        while let Some(events) = fed.recv().await {
            keeper.append(events);
        }
    });
    Ok(log)
}
