//! `GET /eventos`: the class's events as Server-Sent Events, for every
//! Docencio (and panel) that follows them; how many may follow at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use futures::stream::{self, Stream, StreamExt};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::api::ErrorBody;
use crate::profesor::eventos::{Event, EventLog};
use crate::profesor::http::ApiError;

/// Event streams open at once; past that, 503.
const MAX_FOLLOWERS: usize = 256;

/// Event streams open at once from one address (a host's Docencios and
/// panels); past that, 503 for that address only.
const MAX_FOLLOWERS_PER_IP: usize = 32;

/// A comment line this often keeps idle streams (and proxies) alive.
const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// Los eventos de la clase como Server-Sent Events: `event: anuncio` (un
/// anuncio del Profesor) y `event: chat` (un mensaje de chat de algún
/// Docencio), con `id` y `data` en JSON; con `Last-Event-ID`, primero los
/// que faltan.
#[utoipa::path(get, path = "/eventos",
    responses((status = 200, content_type = "text/event-stream"), (status = 503, body = ErrorBody)))]
pub async fn eventos(
    request: HttpRequest,
    log: web::Data<EventLog>,
    followers: web::Data<Followers>,
) -> Result<HttpResponse, ApiError> {
    let ip = request
        .peer_addr()
        .map_or(IpAddr::from([0, 0, 0, 0]), |peer| peer.ip());
    let follower = Follower::new(followers.into_inner(), ip).map_err(ApiError::Unavailable)?;
    let last = request
        .headers()
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    let (missed, live) = log.follow(last);
    let stream = event_stream(missed, live, log.stopping().clone(), follower);
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .streaming(stream))
}

/// Streams open at once, in all and by address.
#[derive(Debug, Default)]
pub struct Followers(Mutex<FollowerCounts>);

#[derive(Debug, Default)]
struct FollowerCounts {
    by_ip: HashMap<IpAddr, usize>,
    all: usize,
}

/// One open stream, counted while it lives.
struct Follower {
    followers: Arc<Followers>,
    ip: IpAddr,
}

impl Follower {
    /// A place for a stream from `ip`, or why there is none: one address
    /// (one script) can't take every place and keep the Docencios out.
    fn new(followers: Arc<Followers>, ip: IpAddr) -> Result<Self, String> {
        let mut counts = followers.0.lock().unwrap_or_else(|p| p.into_inner());
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
        drop(counts);
        Ok(Follower { followers, ip })
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let mut counts = self.followers.0.lock().unwrap_or_else(|p| p.into_inner());
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
