//! Profesor's event stream (`GET /eventos`, Server-Sent Events): what
//! every Docencio follows to push announcements and other Docencios' chat
//! to its students.
//!
//! Events are kept in a ring of the last 8,192; a Docencio that lost the
//! stream for a moment reconnects with `Last-Event-ID` and gets what it
//! missed, so a short break costs nothing. Event ids are the clock in
//! microseconds, so they grow across restarts and replicas, and a Docencio
//! never mistakes a new event for one it has seen. One that asks for events
//! older than the ring keeps is told (`event: perdidos`).
//!
//! With `--database-url`, events are published through PostgreSQL
//! ([`super::postgres_events`]): every Profesor on that database appends
//! the same events, with the same ids, in the same order, so a Docencio
//! can follow any of them and switch from one to another without losing
//! or repeating anything. Without it, this Profesor numbers them itself.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use futures::stream::{self, Stream, StreamExt};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::count_store::CountError;
use super::postgres_events::PostgresEvents;
pub use crate::api::EventKind;
use crate::api::{Anuncio, ErrorBody};

/// Events kept for a Docencio that reconnects (or falls behind).
pub const RECENT: usize = 8192;

/// Announcements kept for `GET /anuncios` (the newest).
pub const ANNOUNCEMENTS_KEPT: usize = 100;

/// Event streams open at once; past that, 503.
const MAX_FOLLOWERS: usize = 256;

/// Event streams open at once from one address (a host's Docencios and
/// panels); past that, 503 for that address only.
const MAX_FOLLOWERS_PER_IP: usize = 32;

/// A comment line this often keeps idle streams (and proxies) alive.
const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// How long a publisher on a shared database waits to see its own events
/// come back (so that `GET /anuncios` right after a `POST` lists it).
const OWN_EVENTS_WAIT: Duration = Duration::from_secs(2);

/// One event, ready to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: u64,
    pub kind: EventKind,
    /// JSON, one line.
    pub data: String,
}

impl Event {
    fn to_sse(&self) -> Bytes {
        Bytes::from(format!(
            "id: {}\nevent: {}\ndata: {}\n\n",
            self.id,
            self.kind.as_str(),
            self.data
        ))
    }
}

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
    followers: Arc<Mutex<Followers>>,
    /// Streams end when Profesor stops, so that it can.
    stopping: CancellationToken,
    /// Where events are published when several Profesors share them.
    shared: Option<PostgresEvents>,
}

impl EventLog {
    /// A log whose events this Profesor numbers and keeps alone.
    pub fn new(stopping: CancellationToken) -> Self {
        Self::with_store(stopping, None)
    }

    /// A log whose events go through `shared` (the database every Profesor
    /// of the class uses): they are kept here once they come back from it
    /// (see [`EventLog::append`]).
    pub fn with_store(stopping: CancellationToken, shared: Option<PostgresEvents>) -> Self {
        EventLog {
            kept: Mutex::default(),
            live: broadcast::channel(RECENT).0,
            newest: watch::channel(0).0,
            followers: Arc::default(),
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
    ) -> Result<Vec<(u64, u64)>, CountError>
    where
        F: FnOnce(u64, u64) -> String,
    {
        let Some(shared) = &self.shared else {
            return Ok(self.publish_here(kind, items));
        };
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

    /// Starts the log from what the shared database kept: `events` are its
    /// newest, in id order, and `complete` says whether they are all it
    /// has (else a follower asking for older ones is told it lost some);
    /// `older_anuncios` are announcements before those, for
    /// `GET /anuncios` only.
    pub fn restore(&self, older_anuncios: Vec<Event>, events: Vec<Event>, complete: bool) {
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

    /// What a follower that saw up to `last` missed, and the live events
    /// from now on.
    fn follow(&self, last: Option<u64>) -> (Vec<Event>, broadcast::Receiver<Event>) {
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

/// The id of an event published at `clock_us` after the one numbered
/// `last`: the clock, unless that would not grow.
pub fn next_id(clock_us: u64, last: Option<u64>) -> u64 {
    last.map_or(clock_us, |last| clock_us.max(last + 1))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::routes::get_only("/eventos", eventos));
}

/// Los eventos de la clase como Server-Sent Events: `event: anuncio` (un
/// anuncio del Profesor) y `event: chat` (un mensaje de chat de algún
/// Docencio), con `id` y `data` en JSON; con `Last-Event-ID`, primero los
/// que faltan.
#[utoipa::path(get, path = "/eventos",
    responses((status = 200, content_type = "text/event-stream"), (status = 503, body = ErrorBody)))]
pub async fn eventos(request: HttpRequest, log: web::Data<EventLog>) -> HttpResponse {
    let ip = request
        .peer_addr()
        .map_or(IpAddr::from([0, 0, 0, 0]), |peer| peer.ip());
    let follower = match Follower::new(&log.followers, ip) {
        Ok(follower) => follower,
        Err(error) => return HttpResponse::ServiceUnavailable().json(ErrorBody { error }),
    };
    let last = request
        .headers()
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    let (missed, live) = log.follow(last);
    let stream = event_stream(missed, live, log.stopping.clone(), follower);
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .streaming(stream)
}

/// Streams open at once, in all and by address.
#[derive(Debug, Default)]
struct Followers {
    by_ip: HashMap<IpAddr, usize>,
    all: usize,
}

/// One open stream, counted while it lives.
struct Follower {
    followers: Arc<Mutex<Followers>>,
    ip: IpAddr,
}

impl Follower {
    /// A place for a stream from `ip`, or why there is none: one address
    /// (one script) can't take every place and keep the Docencios out.
    fn new(followers: &Arc<Mutex<Followers>>, ip: IpAddr) -> Result<Self, String> {
        let mut counts = followers.lock().unwrap_or_else(|p| p.into_inner());
        if counts.all >= MAX_FOLLOWERS {
            return Err(format!("ya hay {MAX_FOLLOWERS} flujos de eventos abiertos"));
        }
        let mine = counts.by_ip.entry(ip).or_default();
        if *mine >= MAX_FOLLOWERS_PER_IP {
            return Err(format!(
                "ya hay {MAX_FOLLOWERS_PER_IP} flujos de eventos abiertos desde {ip}"
            ));
        }
        *mine += 1;
        counts.all += 1;
        Ok(Follower {
            followers: followers.clone(),
            ip,
        })
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let mut counts = self.followers.lock().unwrap_or_else(|p| p.into_inner());
        counts.all = counts.all.saturating_sub(1);
        if let Some(mine) = counts.by_ip.get_mut(&self.ip) {
            *mine -= 1;
            if *mine == 0 {
                counts.by_ip.remove(&self.ip);
            }
        }
    }
}

/// The missed events, then the live ones and a comment every
/// [`KEEP_ALIVE`]; ends when Profesor stops, or when this follower fell so
/// far behind that the live channel dropped events for it (it reconnects
/// with `Last-Event-ID` and gets them from the recent ones).
fn event_stream(
    missed: Vec<Event>,
    live: broadcast::Receiver<Event>,
    stopping: CancellationToken,
    follower: Follower,
) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
    let opening = stream::iter(
        std::iter::once(Bytes::from_static(b": eventos de Profesor\n\n"))
            .chain(missed.iter().map(Event::to_sse))
            .collect::<Vec<_>>(),
    );
    let seen = missed.last().map(|event| event.id);
    let live = stream::unfold(
        (live, stopping, seen, follower),
        |(mut live, stopping, seen, follower)| async move {
            loop {
                tokio::select! {
                    () = stopping.cancelled() => return None,
                    () = tokio::time::sleep(KEEP_ALIVE) => {
                        return Some((Bytes::from_static(b": sigo aqui\n\n"), (live, stopping, seen, follower)));
                    }
                    received = live.recv() => match received {
                        // Already sent in the replay.
                        Ok(event) if seen.is_some_and(|seen| event.id <= seen) => continue,
                        Ok(event) => return Some((event.to_sse(), (live, stopping, seen, follower))),
                        Err(_) => return None,
                    },
                }
            }
        },
    );
    opening.chain(live).map(Ok)
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

    #[tokio::test]
    async fn an_event_is_written_as_server_sent_events() {
        let log = EventLog::new(CancellationToken::new());
        let published = log
            .publish(
                EventKind::Anuncio,
                vec![|id: u64, _: u64| format!("{{\"id\":{id}}}")],
            )
            .await
            .unwrap();
        let id = published[0].0;
        let (missed, _) = log.follow(Some(0));
        let text = String::from_utf8(missed[0].to_sse().to_vec()).unwrap();
        assert_eq!(
            text,
            format!("id: {id}\nevent: anuncio\ndata: {{\"id\":{id}}}\n\n")
        );
    }

    #[test]
    fn events_from_the_database_are_kept_once_and_in_order() {
        let log = EventLog::new(CancellationToken::new());
        let event = |id: u64| Event {
            id,
            kind: EventKind::Chat,
            data: id.to_string(),
        };
        log.restore(Vec::new(), vec![event(10), event(20)], false);
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
