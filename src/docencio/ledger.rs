//! What Docencio owes Profesor: answers not yet acknowledged, and the report
//! in flight (its idempotency key and `cantidad`).
//!
//! With a data folder, a thread keeps this on disk (SQLite, see
//! [`crate::store`]), so a Docencio killed with -9 while Profesor is down
//! still delivers what it owed once it is started again, and retries the
//! report it had in flight with the same key, which Profesor then does not
//! count twice. Writes are coalesced: however many answers arrive while one
//! commit is under way, the next commit saves them all. What a crash of
//! Docencio can lose is the answers delivered during the last commit (well
//! under a millisecond), against everything owed without a data folder.
//! Commits do not wait for the disk (`synchronous = NORMAL`): a power cut
//! may lose the last ones, as it may everything of a class in memory.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{params, Connection};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::retry;
use crate::store::{self, Sharing, StoreError};

/// The database file inside the data folder for the Docencio listening on
/// `port`: one per Docencio, so that several can share a folder, and a
/// Docencio restarted on its port finds what it owed.
pub fn ledger_file(port: u16) -> String {
    format!("docencio-{port}.sqlite3")
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS avisos (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        pendientes INTEGER NOT NULL,
        clave TEXT,
        cantidad INTEGER
    );
    INSERT OR IGNORE INTO avisos (id, pendientes) VALUES (1, 0);";

/// A report to Profesor: sent, and until acknowledged retried, as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub key: String,
    pub cantidad: u64,
}

/// The live state, shared by the connections (which add answers), the
/// notifier (which reports them) and the writer thread (which saves them).
#[derive(Debug)]
pub struct Ledger {
    /// False for a ledger in memory: nothing to wake or wait for.
    persisted: bool,
    pending: AtomicU64,
    report: Mutex<Option<Report>>,
    changes: Mutex<Changes>,
    changed: Condvar,
    saved: watch::Sender<u64>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct Changes {
    generation: u64,
    closed: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Ledger {
    /// A ledger kept in memory only.
    pub fn in_memory() -> Arc<Ledger> {
        Arc::new(Ledger::new(0, None, false))
    }

    /// The ledger kept under `data_dir` for the Docencio on `port`, with
    /// what a previous run left.
    pub fn open(data_dir: &Path, port: u16) -> Result<Arc<Ledger>, StoreError> {
        let (connection, path) = store::open(
            data_dir,
            &ledger_file(port),
            "docencio",
            Sharing::Exclusive,
            SCHEMA,
        )?;
        let open_error = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        // Committed without waiting for the disk: the ledger is rewritten
        // about a thousand times a second in a busy class, and fsync on
        // each cost 10% of the class's throughput. A commit still survives
        // Docencio being killed (it is in the kernel's cache); what a power
        // cut may lose is the last commits, where Profesor's own count
        // (synchronous = FULL) stays the truth.
        connection
            .execute_batch("PRAGMA synchronous = NORMAL;")
            .map_err(open_error)?;
        let (pending, report) = load(&connection).map_err(open_error)?;
        if pending > 0 || report.is_some() {
            info!(
                "Avisos a Profesor recuperados de {}: {pending} respuestas pendientes",
                path.display()
            );
        }
        let ledger = Arc::new(Ledger::new(pending, report, true));
        let writer = std::thread::Builder::new()
            .name("docencio-avisos".into())
            .spawn({
                let ledger = ledger.clone();
                move || ledger.write_loop(connection)
            })
            .map_err(|source| StoreError::Folder {
                path: data_dir.to_owned(),
                source,
            })?;
        *lock(&ledger.writer) = Some(writer);
        Ok(ledger)
    }

    fn new(pending: u64, report: Option<Report>, persisted: bool) -> Ledger {
        Ledger {
            persisted,
            pending: AtomicU64::new(pending),
            report: Mutex::new(report),
            changes: Mutex::new(Changes::default()),
            changed: Condvar::new(),
            saved: watch::Sender::new(0),
            writer: Mutex::new(None),
        }
    }

    /// Answers owed and not yet acknowledged.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Acquire)
    }

    /// Adds up to `answered` to what is owed without going past `limit`;
    /// returns how many were added.
    pub fn add(&self, answered: u64, limit: u64) -> u64 {
        let mut added = 0;
        let _ = self
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |pending| {
                added = answered.min(limit.saturating_sub(pending));
                (added > 0).then_some(pending + added)
            });
        if added > 0 {
            self.touch();
        }
        added
    }

    /// The report in flight, if one was not acknowledged yet.
    pub fn report(&self) -> Option<Report> {
        lock(&self.report).clone()
    }

    /// Records `report` as in flight and waits until that is saved, so that
    /// after a crash it is retried with the same key, never under a new one.
    pub async fn begin(&self, report: Report) {
        *lock(&self.report) = Some(report);
        let generation = self.touch();
        self.until_saved(generation).await;
    }

    /// Profesor acknowledged the report in flight, which counted `counted`.
    pub fn acknowledged(&self, counted: u64) {
        *lock(&self.report) = None;
        let _ = self
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |pending| {
                Some(pending.saturating_sub(counted))
            });
        self.touch();
    }

    /// Profesor refused the report in flight outright (a 4xx): it counted
    /// nothing, so the report is dropped and its answers stay owed.
    pub fn abandon(&self) {
        *lock(&self.report) = None;
        self.touch();
    }

    /// Saves what is left and stops the writer thread.
    pub async fn close(&self) {
        {
            let mut changes = lock(&self.changes);
            changes.generation += 1;
            changes.closed = true;
        }
        self.changed.notify_one();
        let writer = lock(&self.writer).take();
        if let Some(writer) = writer {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
    }

    /// Tells the writer there is something new to save (called for every
    /// answer delivered, so a ledger in memory skips it).
    fn touch(&self) -> u64 {
        if !self.persisted {
            return 0;
        }
        let generation = {
            let mut changes = lock(&self.changes);
            changes.generation += 1;
            changes.generation
        };
        self.changed.notify_one();
        generation
    }

    async fn until_saved(&self, generation: u64) {
        if !self.persisted {
            return;
        }
        let mut saved = self.saved.subscribe();
        let waited = tokio::time::timeout(
            Duration::from_secs(2),
            saved.wait_for(|saved| *saved >= generation),
        )
        .await;
        if waited.is_err() {
            warn!("los avisos pendientes no se pudieron guardar en 2 s; se envían igual");
        }
    }

    fn write_loop(&self, mut connection: Connection) {
        let mut saved = 0;
        let mut failures = 0u64;
        loop {
            let (generation, closed) = {
                let mut changes = lock(&self.changes);
                while changes.generation == saved && !changes.closed {
                    changes = self
                        .changed
                        .wait(changes)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
                (changes.generation, changes.closed)
            };
            if generation != saved {
                let pending = self.pending();
                let report = self.report();
                match save(&mut connection, pending, report.as_ref()) {
                    Ok(()) => {
                        debug!("Avisos pendientes guardados: {pending}");
                        saved = generation;
                        failures = 0;
                        self.saved.send_replace(saved);
                    }
                    Err(err) => {
                        failures += 1;
                        if retry::worth_reporting(failures) {
                            warn!("No se pudieron guardar los avisos pendientes ({err}); reintentando");
                        }
                        if closed {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                }
            }
            if closed {
                return;
            }
        }
    }
}

fn load(connection: &Connection) -> rusqlite::Result<(u64, Option<Report>)> {
    let (pending, key, cantidad): (i64, Option<String>, Option<i64>) = connection.query_row(
        "SELECT pendientes, clave, cantidad FROM avisos WHERE id = 1",
        [],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    let report = key.zip(cantidad).map(|(key, cantidad)| Report {
        key,
        cantidad: u64::try_from(cantidad).unwrap_or(1),
    });
    Ok((u64::try_from(pending).unwrap_or(0), report))
}

fn save(
    connection: &mut Connection,
    pending: u64,
    report: Option<&Report>,
) -> rusqlite::Result<()> {
    let pending = i64::try_from(pending).unwrap_or(i64::MAX);
    let (key, cantidad) = match report {
        Some(report) => (
            Some(report.key.as_str()),
            Some(i64::try_from(report.cantidad).unwrap_or(i64::MAX)),
        ),
        None => (None, None),
    };
    connection
        .prepare_cached(
            "UPDATE avisos SET pendientes = ?1, clave = ?2, cantidad = ?3 WHERE id = 1",
        )?
        .execute(params![pending, key, cantidad])?;
    Ok(())
}

/// Only for tests of this module: what is on disk.
#[cfg(test)]
fn read_back(data_dir: &Path) -> (u64, Option<Report>) {
    let connection = Connection::open(data_dir.join(ledger_file(PORT))).unwrap();
    load(&connection).unwrap()
}

#[cfg(test)]
const PORT: u16 = 4446;

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn what_is_owed_and_the_report_in_flight_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        runtime().block_on(async {
            let ledger = Ledger::open(dir.path(), PORT).unwrap();
            assert_eq!(ledger.add(7, 100), 7);
            ledger
                .begin(Report {
                    key: "docencio-x-1".into(),
                    cantidad: 7,
                })
                .await;
            assert_eq!(ledger.add(2, 100), 2);
            ledger.close().await;
        });
        assert_eq!(
            read_back(dir.path()),
            (
                9,
                Some(Report {
                    key: "docencio-x-1".into(),
                    cantidad: 7
                })
            )
        );
        runtime().block_on(async {
            let ledger = Ledger::open(dir.path(), PORT).unwrap();
            assert_eq!(ledger.pending(), 9);
            assert_eq!(ledger.report().unwrap().key, "docencio-x-1");
            ledger.acknowledged(7);
            ledger.close().await;
        });
        assert_eq!(read_back(dir.path()), (2, None));
    }

    #[test]
    fn adds_only_up_to_the_limit() {
        let ledger = Ledger::in_memory();
        assert_eq!(ledger.add(3, 5), 3);
        assert_eq!(ledger.add(4, 5), 2);
        assert_eq!(ledger.add(1, 5), 0);
        ledger.acknowledged(2);
        assert_eq!(ledger.add(1, 5), 1);
        assert_eq!(ledger.pending(), 4);
    }

    #[test]
    fn docencios_on_other_ports_share_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Ledger::open(dir.path(), 4446).unwrap();
        let _second = Ledger::open(dir.path(), 4447).unwrap();
    }

    #[test]
    fn a_second_docencio_on_the_same_folder_and_port_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Ledger::open(dir.path(), PORT).unwrap();
        let second = Ledger::open(dir.path(), PORT);
        assert!(
            matches!(
                second,
                Err(StoreError::Busy {
                    role: "docencio",
                    ..
                })
            ),
            "{second:?}"
        );
    }
}
