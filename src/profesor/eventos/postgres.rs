//! The class's events shared by every Profesor on one PostgreSQL (with
//! `--database-url`): an announcement posted to one Profesor, or a chat
//! line a Docencio relayed to it, reaches the Docencios that follow any
//! other, with the same id, in the same order.
//!
//! Publishing inserts the events into `sala_eventos` and signals the
//! channel `aula_eventos` (`pg_notify`) in one transaction. The ids are
//! taken under a transaction-level advisory lock, so they grow in the order
//! the transactions commit: whoever has seen an id has seen every smaller
//! one. Each Profesor keeps one connection that `LISTEN`s: a notification
//! only wakes it, and it reads every row after the last id it kept, so a
//! notification lost with a broken connection costs nothing (it also reads
//! every few seconds, and at once after connecting again). The table is
//! the truth; notifications are only a doorbell. No broker of our own.
//!
//! The table is pruned to the newest [`RECENT`] chat lines and the newest
//! [`ANNOUNCEMENTS_ROWS`] announcements, so it never grows without bound.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::{debug, info, warn};

use super::event::{
    next_id, Event, EventData, EventKind, Restored, SharedEvents, ANNOUNCEMENTS_KEPT, RECENT,
};
use crate::profesor::store::StoreError;
use crate::retry;

/// The channel every Profesor of the class listens on.
const CHANNEL: &str = "aula_eventos";

/// An arbitrary, fixed key for `pg_advisory_xact_lock`: events get their
/// ids one transaction at a time.
const EVENTS_LOCK: i64 = 0x6175_6c65; // "aule"

/// Announcements kept in the table (they are few, and the class's record).
const ANNOUNCEMENTS_ROWS: i64 = 1_000;

/// The table is pruned once every this many publications of one Profesor.
const PRUNE_EVERY: u64 = 256;

/// Rows read at a time when catching up.
const CATCH_UP_ROWS: i64 = 1_000;

/// Read anyway this often, in case a notification was lost.
const POLL_EVERY: Duration = Duration::from_secs(5);

/// How long connecting, or any one statement, may take.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(5);

/// The events table of one database.
#[derive(Clone)]
pub struct PostgresEvents {
    pool: Pool,
    /// For the listening connection (the pool's are recycled).
    config: tokio_postgres::Config,
    /// `host:port/database`, for errors (never the password).
    target: String,
    published: Arc<AtomicU64>,
}

impl std::fmt::Debug for PostgresEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresEvents")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl PostgresEvents {
    pub fn new(pool: Pool, config: tokio_postgres::Config, target: String) -> Self {
        PostgresEvents {
            pool,
            config,
            target,
            published: Arc::default(),
        }
    }

    fn down(&self, err: impl std::fmt::Display) -> StoreError {
        StoreError::Database {
            target: self.target.clone(),
            detail: err.to_string(),
        }
    }

    async fn publish_now(
        &self,
        kind: EventKind,
        items: Vec<EventData<'_>>,
        prune: bool,
    ) -> Result<Vec<(u64, u64)>, StoreError> {
        let mut client = self.pool.get().await.map_err(|err| self.down(err))?;
        let tx = client.transaction().await.map_err(|err| self.down(err))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&EVENTS_LOCK])
            .await
            .map_err(|err| self.down(err))?;
        let row = tx
            .query_one(
                "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint, (SELECT max(id) FROM sala_eventos)",
                &[],
            )
            .await
            .map_err(|err| self.down(err))?;
        let clock_us = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
        let mut last = row
            .get::<_, Option<i64>>(1)
            .and_then(|id| u64::try_from(id).ok());
        let now_ms = clock_us / 1000;
        let mut ids = Vec::with_capacity(items.len());
        let mut datas = Vec::with_capacity(items.len());
        let mut published = Vec::with_capacity(items.len());
        for item in items {
            let id = next_id(clock_us, last);
            last = Some(id);
            ids.push(i64::try_from(id).unwrap_or(i64::MAX));
            datas.push(item(id, now_ms));
            published.push((id, now_ms));
        }
        let kinds = vec![kind.as_str(); ids.len()];
        tx.execute(
            "INSERT INTO sala_eventos (id, tipo, datos) SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[])",
            &[&ids, &kinds, &datas],
        )
        .await
        .map_err(|err| self.down(err))?;
        // Delivered when (and only if) the transaction commits.
        tx.execute("SELECT pg_notify($1, '')", &[&CHANNEL])
            .await
            .map_err(|err| self.down(err))?;
        if prune {
            for (tipo, keep) in [("chat", RECENT as i64), ("anuncio", ANNOUNCEMENTS_ROWS)] {
                tx.execute(
                    "DELETE FROM sala_eventos WHERE tipo = $1 AND id < (SELECT id FROM sala_eventos WHERE tipo = $1 ORDER BY id DESC OFFSET $2 LIMIT 1)",
                    &[&tipo, &keep],
                )
                .await
                .map_err(|err| self.down(err))?;
            }
        }
        tx.commit().await.map_err(|err| self.down(err))?;
        Ok(published)
    }

    /// What the database keeps: the newest [`RECENT`] events, and
    /// announcements older than those for `GET /anuncios`.
    pub async fn restore(&self) -> Result<Restored, StoreError> {
        let client = self.pool.get().await.map_err(|err| self.down(err))?;
        let rows = tokio::time::timeout(
            DATABASE_TIMEOUT,
            client.query(
                "SELECT id, tipo, datos FROM sala_eventos ORDER BY id DESC LIMIT $1",
                &[&(RECENT as i64 + 1)],
            ),
        )
        .await
        .map_err(|_| self.down("sin respuesta"))?
        .map_err(|err| self.down(err))?;
        let complete = rows.len() <= RECENT;
        let mut events: Vec<Event> = rows.iter().take(RECENT).filter_map(event_from).collect();
        events.reverse();
        let oldest = events.first().map_or(i64::MAX, |event| event.id as i64);
        let rows = client
            .query(
                "SELECT id, tipo, datos FROM sala_eventos WHERE tipo = 'anuncio' AND id < $1 ORDER BY id DESC LIMIT $2",
                &[&oldest, &(ANNOUNCEMENTS_KEPT as i64)],
            )
            .await
            .map_err(|err| self.down(err))?;
        let mut older: Vec<Event> = rows.iter().filter_map(event_from).collect();
        older.reverse();
        info!(
            "Eventos de la sala recuperados de PostgreSQL en {}: {}",
            self.target,
            events.len()
        );
        Ok(Restored {
            older_anuncios: older,
            events,
            complete,
        })
    }

    /// Sends to `feed`, in id order, every event the database gets after
    /// the one numbered `after`, until `stop` (or until nobody reads
    /// `feed`): listens on the channel, and connects again whenever the
    /// connection is lost.
    pub async fn follow(self, after: u64, feed: mpsc::Sender<Vec<Event>>, stop: CancellationToken) {
        let mut after = i64::try_from(after).unwrap_or(i64::MAX);
        let mut backoff = retry::backoff_up_to(Duration::from_secs(5));
        let mut failures = 0u64;
        loop {
            let followed = tokio::select! {
                () = stop.cancelled() => return,
                followed = self.listen(&mut after, &feed, &mut failures) => followed,
            };
            failures += 1;
            if retry::worth_reporting(failures) {
                warn!(
                    "Se perdió la escucha de eventos en PostgreSQL ({}): {followed}; se reintenta",
                    self.target
                );
            }
            let wait = backoff.next().unwrap_or(POLL_EVERY);
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One listening connection: returns why it ended.
    async fn listen(
        &self,
        after: &mut i64,
        feed: &mpsc::Sender<Vec<Event>>,
        failures: &mut u64,
    ) -> String {
        let connected = tokio::time::timeout(DATABASE_TIMEOUT, self.config.connect(NoTls)).await;
        let (client, mut connection) = match connected {
            Ok(Ok(pair)) => pair,
            Ok(Err(err)) => return err.to_string(),
            Err(_) => return format!("sin respuesta en {DATABASE_TIMEOUT:?}"),
        };
        let (doorbell, mut rung) = mpsc::channel::<()>(1);
        // The connection delivers notifications only while it is polled.
        let mut driver = AbortOnDropHandle::new(tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(_)) => {
                        let _ = doorbell.try_send(());
                    }
                    Ok(_) => {}
                    Err(err) => return err.to_string(),
                }
            }
            "la conexión se cerró".to_owned()
        }));
        if let Err(err) = client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
            return err.to_string();
        }
        if *failures > 0 {
            info!(
                "Escuchando de nuevo los eventos en PostgreSQL ({})",
                self.target
            );
            *failures = 0;
        }
        loop {
            // Read first: whatever was committed while not listening.
            if let Err(err) = self.catch_up(&client, after, feed).await {
                return err;
            }
            tokio::select! {
                _ = rung.recv() => {}
                () = tokio::time::sleep(POLL_EVERY) => {}
                ended = &mut driver => {
                    return ended.unwrap_or_else(|err| err.to_string());
                }
            }
        }
    }

    /// Sends to `feed` every event after `after`, and moves `after` past
    /// the rows it read.
    async fn catch_up(
        &self,
        client: &tokio_postgres::Client,
        after: &mut i64,
        feed: &mpsc::Sender<Vec<Event>>,
    ) -> Result<(), String> {
        loop {
            let rows = tokio::time::timeout(
                DATABASE_TIMEOUT,
                client.query(
                    "SELECT id, tipo, datos FROM sala_eventos WHERE id > $1 ORDER BY id LIMIT $2",
                    &[&*after, &CATCH_UP_ROWS],
                ),
            )
            .await
            .map_err(|_| format!("sin respuesta en {DATABASE_TIMEOUT:?}"))?
            .map_err(|err| err.to_string())?;
            let full = rows.len() as i64 == CATCH_UP_ROWS;
            // Past rows of a kind this Profesor skips, too.
            *after = rows.last().map_or(*after, |row| row.get(0));
            let events: Vec<Event> = rows.iter().filter_map(event_from).collect();
            debug!("{} eventos nuevos de PostgreSQL", events.len());
            if !events.is_empty() && feed.send(events).await.is_err() {
                return Err("el registro de eventos se cerró".to_owned());
            }
            if !full {
                return Ok(());
            }
        }
    }
}

impl SharedEvents for PostgresEvents {
    /// Publishes for every Profesor on the database; the times are the
    /// database's clock.
    fn publish<'a>(
        &'a self,
        kind: EventKind,
        items: Vec<EventData<'a>>,
    ) -> BoxFuture<'a, Result<Vec<(u64, u64)>, StoreError>> {
        let prune = self.published.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1;
        async move {
            tokio::time::timeout(DATABASE_TIMEOUT, self.publish_now(kind, items, prune))
                .await
                .map_err(|_| self.down(format!("sin respuesta en {DATABASE_TIMEOUT:?}")))?
        }
        .boxed()
    }
}

/// An event as the table keeps it; `None` for a kind this Profesor does
/// not know (written by a newer one).
fn event_from(row: &tokio_postgres::Row) -> Option<Event> {
    Some(Event {
        id: u64::try_from(row.get::<_, i64>(0)).ok()?,
        kind: EventKind::parse(row.get(1))?,
        data: row.get(2),
    })
}
