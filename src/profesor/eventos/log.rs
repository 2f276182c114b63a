//! The events this Profesor keeps and streams: a ring of the newest, the
//! newest announcements for `GET /anuncios`, and a broadcast channel for
//! the streams that follow live.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::event::{
    next_id, Event, EventData, EventKind, Restored, SharedEvents, ANNOUNCEMENTS_KEPT, RECENT,
};
use crate::api::Anuncio;
use crate::profesor::store::StoreError;

/// How long a publisher on a shared database waits to see its own events
/// come back (so that `GET /anuncios` right after a `POST` lists it).
const OWN_EVENTS_WAIT: Duration = Duration::from_secs(2);

/// The events this Profesor keeps, in id order.
#[derive(Debug, Default)]
struct Kept {
    recent: VecDeque<Event>,
    /// The newest announcements, for `GET /anuncios`.
    anuncios: VecDeque<Anuncio>,
    /// Every event with an id above this one is in `recent` (or was never
    /// published); some at or below it may be missing.
    forgotten_up_to: Option<u64>,
}

impl Kept {
    fn last_id(&self) -> Option<u64> {
        self.recent.back().map(|event| event.id)
    }
}

/// The events and their stream; one per Profesor.
#[derive(Debug)]
pub struct EventLog {
    kept: Mutex<Kept>,
    live: broadcast::Sender<Event>,
    /// The id of the newest event kept, for a publisher waiting to see its
    /// own events come back from the database.
    newest: watch::Sender<u64>,
    /// Streams end when Profesor stops, so that it can.
    stopping: CancellationToken,
    /// Where events are published when several Profesors share them.
    shared: Option<Arc<dyn SharedEvents>>,
}

impl EventLog {
    /// A log whose events this Profesor numbers and keeps alone.
    pub fn new(stopping: CancellationToken) -> Self {
        Self::with_store(stopping, None)
    }

    /// A log whose events go through `shared` (the database every Profesor
    /// of the class uses): they are kept here once they come back from it
    /// (see [`EventLog::append`]).
    pub fn with_store(stopping: CancellationToken, shared: Option<Arc<dyn SharedEvents>>) -> Self {
        EventLog {
            kept: Mutex::default(),
            live: broadcast::channel(RECENT).0,
            newest: watch::channel(0).0,
            stopping,
            shared,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        // Every change is complete before the lock is released.
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes one event of `kind` per item, in order; each item makes
    /// the event's JSON from its id and time (ms since the Unix epoch).
    /// Returns those ids and times.
    pub async fn publish<F>(
        &self,
        kind: EventKind,
        items: Vec<F>,
    ) -> Result<Vec<(u64, u64)>, StoreError>
    where
        F: FnOnce(u64, u64) -> String + Send,
    {
        let Some(shared) = &self.shared else {
            return Ok(self.publish_here(kind, items));
        };
        let items = items
            .into_iter()
            .map(|item| Box::new(item) as EventData<'_>)
            .collect();
        let published = shared.publish(kind, items).await?;
        if let Some(&(newest, _)) = published.last() {
            // Ours come back through the database's notification like
            // everyone else's; wait for them (briefly: the count of the
            // class does not depend on it) so that what follows sees them.
            let mut seen = self.newest.subscribe();
            let _ = tokio::time::timeout(OWN_EVENTS_WAIT, seen.wait_for(|id| *id >= newest)).await;
        }
        Ok(published)
    }

    fn publish_here<F>(&self, kind: EventKind, items: Vec<F>) -> Vec<(u64, u64)>
    where
        F: FnOnce(u64, u64) -> String,
    {
        let now = crate::api::now_ms();
        let mut kept = self.lock();
        let mut published = Vec::with_capacity(items.len());
        for item in items {
            // Ids are the clock in µs: a burst of a million events a
            // second still keeps them at the clock, so the ids of a
            // restarted (or another) Profesor come after the ones its
            // followers saw.
            let id = next_id(now.saturating_mul(1000), kept.last_id());
            let event = Event {
                id,
                kind,
                data: item(id, now),
            };
            self.keep(&mut kept, event);
            published.push((id, now));
        }
        published
    }

    /// Keeps `events` (from the shared database, in id order) that are
    /// newer than every one kept, and sends them to the streams.
    pub fn append(&self, events: Vec<Event>) {
        let mut kept = self.lock();
        for event in events {
            if kept.last_id().is_some_and(|last| event.id <= last) {
                continue;
            }
            self.keep(&mut kept, event);
        }
    }

    /// Starts the log from what the shared database kept.
    pub fn restore(&self, restored: Restored) {
        let Restored {
            older_anuncios,
            events,
            complete,
        } = restored;
        let mut kept = self.lock();
        for event in older_anuncios {
            keep_anuncio(&mut kept, &event);
        }
        if !complete {
            kept.forgotten_up_to = events.first().map(|event| event.id.saturating_sub(1));
        }
        for event in events {
            self.keep(&mut kept, event);
        }
    }

    fn keep(&self, kept: &mut Kept, event: Event) {
        if kept.recent.len() == RECENT {
            if let Some(oldest) = kept.recent.pop_front() {
                kept.forgotten_up_to = Some(oldest.id);
            }
        }
        keep_anuncio(kept, &event);
        let id = event.id;
        kept.recent.push_back(event.clone());
        // Sent under the lock: a stream that subscribes meanwhile sees it
        // either in its replay or live, never both, never neither.
        let _ = self.live.send(event);
        self.newest.send_replace(id);
    }

    /// The newest announcements, oldest first.
    pub fn anuncios(&self) -> Vec<Anuncio> {
        self.lock().anuncios.iter().cloned().collect()
    }

    /// The id of the newest event kept.
    pub fn last_id(&self) -> Option<u64> {
        self.lock().last_id()
    }

    /// Cancelled when Profesor stops: every stream ends then.
    pub fn stopping(&self) -> &CancellationToken {
        &self.stopping
    }

    /// What a follower that saw up to `last` missed, and the live events
    /// from now on.
    pub fn follow(&self, last: Option<u64>) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let kept = self.lock();
        let mut missed = Vec::new();
        if let Some(last) = last {
            // Events after `last` were forgotten.
            if kept
                .forgotten_up_to
                .is_some_and(|forgotten| forgotten > last)
            {
                missed.push(Event {
                    id: last,
                    kind: EventKind::Perdidos,
                    data: format!("{{\"desde\":{last}}}"),
                });
            }
            missed.extend(kept.recent.iter().filter(|event| event.id > last).cloned());
        }
        (missed, self.live.subscribe())
    }
}

/// Keeps `event` for `GET /anuncios` if it is an announcement.
fn keep_anuncio(kept: &mut Kept, event: &Event) {
    if event.kind != EventKind::Anuncio {
        return;
    }
    if let Ok(anuncio) = serde_json::from_str::<Anuncio>(&event.data) {
        if kept.anuncios.len() == ANNOUNCEMENTS_KEPT {
            kept.anuncios.pop_front();
        }
        kept.anuncios.push_back(anuncio);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(data: &str) -> Vec<impl FnOnce(u64, u64) -> String + '_> {
        vec![move |_: u64, _: u64| data.to_owned()]
    }

    #[tokio::test]
    async fn ids_grow_and_a_follower_gets_what_it_missed() {
        let log = EventLog::new(CancellationToken::new());
        let first = log.publish(EventKind::Anuncio, one("1")).await.unwrap()[0].0;
        let second = log.publish(EventKind::Chat, one("2")).await.unwrap()[0].0;
        assert!(second > first);
        let (missed, _) = log.follow(Some(first));
        assert_eq!(missed.len(), 1);
        assert_eq!(missed[0].data, "2");
        let (missed, _) = log.follow(None);
        assert!(missed.is_empty(), "a new follower starts from now");
    }

    #[test]
    fn events_from_the_database_are_kept_once_and_in_order() {
        let log = EventLog::new(CancellationToken::new());
        let event = |id: u64| Event {
            id,
            kind: EventKind::Chat,
            data: id.to_string(),
        };
        log.restore(Restored {
            events: vec![event(10), event(20)],
            ..Restored::default()
        });
        // A catch-up that overlaps what was already kept.
        log.append(vec![event(20), event(30)]);
        let (missed, _) = log.follow(Some(10));
        let ids: Vec<u64> = missed.iter().map(|event| event.id).collect();
        assert_eq!(ids, [20, 30]);
        // Older than what the database still had: told, then the rest.
        let (missed, _) = log.follow(Some(5));
        assert_eq!(missed[0].kind, EventKind::Perdidos);
        assert_eq!(missed.len(), 4);
    }

    #[test]
    fn a_follower_behind_a_full_ring_is_told_it_lost_events() {
        let log = EventLog::new(CancellationToken::new());
        let events = (1..=RECENT as u64 + 1)
            .map(|id| Event {
                id,
                kind: EventKind::Chat,
                data: String::new(),
            })
            .collect();
        log.append(events);
        let (missed, _) = log.follow(Some(0));
        assert_eq!(missed[0].kind, EventKind::Perdidos);
        assert_eq!(missed.len(), RECENT + 1);
        let (missed, _) = log.follow(Some(1));
        assert_eq!(missed.len(), RECENT, "nothing after 1 was lost");
    }

    #[test]
    fn announcements_are_listed_oldest_first() {
        let log = EventLog::new(CancellationToken::new());
        let anuncio = |id: u64| Event {
            id,
            kind: EventKind::Anuncio,
            data: format!("{{\"id\":{id},\"texto\":\"t{id}\",\"momento_ms\":1}}"),
        };
        log.append((1..=ANNOUNCEMENTS_KEPT as u64 + 2).map(anuncio).collect());
        let listed = log.anuncios();
        assert_eq!(listed.len(), ANNOUNCEMENTS_KEPT);
        assert_eq!(listed[0].id, 3);
        assert_eq!(
            listed.last().unwrap().texto,
            format!("t{}", ANNOUNCEMENTS_KEPT + 2)
        );
    }
}
