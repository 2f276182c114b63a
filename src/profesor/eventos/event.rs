//! What the event log and the database it may be shared through both speak
//! of: one [`Event`], how it is written on the stream, how ids grow, and
//! the [`SharedEvents`] a log publishes through.

use bytes::Bytes;
use futures::future::BoxFuture;

pub use crate::api::EventKind;

use crate::profesor::store::StoreError;

/// Events kept for a Docencio that reconnects (or falls behind).
pub const RECENT: usize = 8192;

/// Announcements kept for `GET /anuncios` (the newest).
pub const ANNOUNCEMENTS_KEPT: usize = 100;

/// One event, ready to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: u64,
    pub kind: EventKind,
    /// JSON, one line.
    pub data: String,
}

impl Event {
    /// The event as Server-Sent Events write it.
    pub fn to_sse(&self) -> Bytes {
        Bytes::from(format!(
            "id: {}\nevent: {}\ndata: {}\n\n",
            self.id,
            self.kind.as_str(),
            self.data
        ))
    }
}

/// The id of an event published at `clock_us` after the one numbered
/// `last`: the clock, unless that would not grow.
pub fn next_id(clock_us: u64, last: Option<u64>) -> u64 {
    last.map_or(clock_us, |last| clock_us.max(last + 1))
}

/// Makes an event's JSON from its id and time (ms since the Unix epoch),
/// known only once it is published.
pub type EventData<'a> = Box<dyn FnOnce(u64, u64) -> String + Send + 'a>;

/// Where events are published when several Profesors share them.
pub trait SharedEvents: Send + Sync + std::fmt::Debug {
    /// Publishes one event of `kind` per item, in order, for every
    /// Profesor sharing them; returns their ids and times.
    fn publish<'a>(
        &'a self,
        kind: EventKind,
        items: Vec<EventData<'a>>,
    ) -> BoxFuture<'a, Result<Vec<(u64, u64)>, StoreError>>;
}

/// What a shared store keeps, to start a log from.
#[derive(Debug, Default)]
pub struct Restored {
    /// Announcements older than `events`, for `GET /anuncios` only.
    pub older_anuncios: Vec<Event>,
    /// The newest events, in id order.
    pub events: Vec<Event>,
    /// Whether `events` is all the store has (else a follower asking for
    /// older ones is told it lost some).
    pub complete: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_written_as_server_sent_events() {
        let event = Event {
            id: 7,
            kind: EventKind::Anuncio,
            data: "{\"id\":7}".into(),
        };
        assert_eq!(
            String::from_utf8(event.to_sse().to_vec()).unwrap(),
            "id: 7\nevent: anuncio\ndata: {\"id\":7}\n\n"
        );
    }

    #[test]
    fn ids_follow_the_clock_but_always_grow() {
        assert_eq!(next_id(100, None), 100);
        assert_eq!(next_id(100, Some(50)), 100);
        assert_eq!(next_id(100, Some(100)), 101);
    }
}
