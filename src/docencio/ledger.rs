//! What Docencio owes Profesor: answers not yet acknowledged, and the notice
//! in flight (its idempotency key and `cantidad`).
//!
//! With a data folder, a thread keeps this on disk (SQLite, see
//! [`crate::sqlite_file`]), so a Docencio killed with -9 while Profesor is down
//! still delivers what it owed once it is started again, and retries the
//! notice it had in flight with the same key, which Profesor then does not
//! count twice. Writes are coalesced: however many answers arrive while one
//! commit is under way, the next commit saves them all. What a crash of
//! Docencio can lose is the answers delivered during the last commit (well
//! under a millisecond), against everything owed without a data folder.
//! Commits do not wait for the disk (`synchronous = NORMAL`): a power cut
//! may lose the last ones, as it may everything of a class in memory.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{params, Connection};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::retry;
use crate::sqlite_file::{self, OpenError, Sharing};

/// The database file inside the data folder for the Docencio listening on
/// `port`: one per Docencio, so that several can share a folder, and a
/// Docencio restarted on its port finds what it owed.
pub fn ledger_file(port: u16) -> String {
    format!("docencio-{port}.sqlite3")
}

/// One row: what is owed (`pendientes`) and the notice in flight (`clave`,
/// `cantidad`). The table's name is the Spanish word the logs use for
/// notices ("avisos pendientes a Profesor").
/// The ledger's schema, one step per version (see `sqlite_file::open`).
const MIGRATIONS: &[&str] = &[SCHEMA_V1];

const SCHEMA_V1: &str = "
    CREATE TABLE IF NOT EXISTS avisos (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        pendientes INTEGER NOT NULL,
        clave TEXT,
        cantidad INTEGER
    );
    INSERT OR IGNORE INTO avisos (id, pendientes) VALUES (1, 0);";

/// A notice to Profesor (`POST /preguntas` with `{"cantidad": k}` and an
/// `Idempotency-Key`): sent, and until acknowledged retried, as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub key: String,
    pub cantidad: u64,
}

/// What is saved: answers owed, and the notice in flight.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Owed {
    pending: u64,
    notice: Option<Notice>,
}

/// The live state, shared by the connections (which add answers), the
/// notifier (which reports them) and the writer thread (which saves them).
///
/// One lock holds what is owed and a generation number bumped by every
/// change; the writer thread is woken through a channel of one slot (a wake
/// already waiting covers every later change, so commits coalesce) and
/// publishes the last generation it saved on a `watch`, which is what
/// [`Ledger::begin`] waits for.
#[derive(Debug)]
pub struct Ledger {
    state: Mutex<State>,
    saved: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct State {
    owed: Owed,
    generation: u64,
    /// Wakes the writer; `None` for a ledger in memory, and once closed.
    wake: Option<mpsc::Sender<()>>,
    writer: Option<JoinHandle<()>>,
}

impl Ledger {
    /// A ledger kept in memory only.
    pub fn in_memory() -> Arc<Ledger> {
        Arc::new(Ledger::new(Owed::default()))
    }

    /// The ledger kept under `data_dir` for the Docencio on `port`, with
    /// what a previous run left.
    pub fn open(data_dir: &Path, port: u16) -> Result<Arc<Ledger>, OpenError> {
        let (connection, path) = sqlite_file::open(
            data_dir,
            &ledger_file(port),
            "docencio",
            Sharing::Exclusive,
            MIGRATIONS,
        )?;
        let open_error = |cause| OpenError::Open {
            path: path.clone(),
            cause,
        };
        // Committed without waiting for the disk: the ledger is rewritten
        // about a thousand times a second in a busy class. A commit still
        // survives Docencio being killed (it is in the kernel's cache);
        // what a power cut may lose is the last commits, where Profesor's
        // own count (synchronous = FULL) stays the truth.
        connection
            .execute_batch("PRAGMA synchronous = NORMAL;")
            .map_err(open_error)?;
        let owed = load(&connection).map_err(open_error)?;
        if owed.pending > 0 || owed.notice.is_some() {
            info!(
                "Avisos a Profesor recuperados de {}: {} respuestas pendientes",
                path.display(),
                owed.pending
            );
        }
        let ledger = Arc::new(Ledger::new(owed));
        let (wake, woken) = mpsc::channel(1);
        let writer = std::thread::Builder::new()
            .name("docencio-avisos".into())
            .spawn({
                let ledger = ledger.clone();
                move || ledger.write_loop(connection, woken)
            })
            .map_err(|cause| OpenError::Folder {
                path: data_dir.to_owned(),
                cause,
            })?;
        {
            let mut state = ledger.lock();
            state.wake = Some(wake);
            state.writer = Some(writer);
        }
        Ok(ledger)
    }

    fn new(owed: Owed) -> Ledger {
        Ledger {
            state: Mutex::new(State {
                owed,
                ..State::default()
            }),
            saved: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change is one assignment: a holder that panicked left it whole.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether what is owed is kept on disk (with a data folder) rather
    /// than in memory only.
    pub fn is_on_disk(&self) -> bool {
        self.lock().writer.is_some()
    }

    /// Answers owed and not yet acknowledged.
    pub fn pending(&self) -> u64 {
        self.lock().owed.pending
    }

    /// Adds up to `answered` to what is owed without going past `limit`;
    /// returns how many were added.
    pub fn add(&self, answered: u64, limit: u64) -> u64 {
        let mut state = self.lock();
        let added = answered.min(limit.saturating_sub(state.owed.pending));
        if added > 0 {
            state.owed.pending += added;
            state.changed();
        }
        added
    }

    /// The notice in flight, if one was not acknowledged yet.
    pub fn notice(&self) -> Option<Notice> {
        self.lock().owed.notice.clone()
    }

    /// Records `notice` as in flight and waits until that is saved, so that
    /// after a crash it is retried with the same key, never under a new one.
    pub async fn begin(&self, notice: Notice) {
        let generation = {
            let mut state = self.lock();
            state.owed.notice = Some(notice);
            state.changed()
        };
        self.until_saved(generation).await;
    }

    /// Profesor acknowledged the notice in flight, which counted `counted`.
    pub fn acknowledged(&self, counted: u64) {
        let mut state = self.lock();
        state.owed.notice = None;
        state.owed.pending = state.owed.pending.saturating_sub(counted);
        state.changed();
    }

    /// Profesor refused the notice in flight outright (a 4xx): it counted
    /// nothing, so the notice is dropped and its answers stay owed.
    pub fn abandon(&self) {
        let mut state = self.lock();
        state.owed.notice = None;
        state.changed();
    }

    /// Saves what is left and stops the writer thread.
    pub async fn close(&self) {
        let writer = {
            let mut state = self.lock();
            state.changed();
            // Dropping the sender lets the writer end after this last save.
            state.wake = None;
            state.writer.take()
        };
        if let Some(writer) = writer {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
    }

    /// Waits (at most 2 s) until `generation` is on disk; at once for a
    /// ledger in memory.
    async fn until_saved(&self, generation: u64) {
        if self.lock().wake.is_none() {
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

    /// The writer thread: one commit of the latest state per wake-up.
    fn write_loop(&self, mut connection: Connection, mut woken: mpsc::Receiver<()>) {
        let mut failures = 0u64;
        while woken.blocking_recv().is_some() {
            loop {
                let (owed, generation, closing) = {
                    let state = self.lock();
                    (state.owed.clone(), state.generation, state.wake.is_none())
                };
                match save(&mut connection, &owed) {
                    Ok(()) => {
                        debug!("Avisos pendientes guardados: {}", owed.pending);
                        failures = 0;
                        self.saved.send_replace(generation);
                        break;
                    }
                    Err(err) => {
                        failures += 1;
                        if retry::worth_reporting(failures) {
                            warn!("No se pudieron guardar los avisos pendientes ({err}); reintentando");
                        }
                        if closing {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        }
    }
}

impl State {
    /// Marks a change to be saved and wakes the writer; returns the
    /// change's generation.
    fn changed(&mut self) -> u64 {
        self.generation += 1;
        if let Some(wake) = &self.wake {
            // Full: a wake-up is already waiting, and it will save this too.
            let _ = wake.try_send(());
        }
        self.generation
    }
}

fn load(connection: &Connection) -> rusqlite::Result<Owed> {
    let (pending, key, cantidad): (i64, Option<String>, Option<i64>) = connection.query_row(
        "SELECT pendientes, clave, cantidad FROM avisos WHERE id = 1",
        [],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    let notice = key.zip(cantidad).map(|(key, cantidad)| Notice {
        key,
        cantidad: u64::try_from(cantidad).unwrap_or(1),
    });
    Ok(Owed {
        pending: u64::try_from(pending).unwrap_or(0),
        notice,
    })
}

fn save(connection: &mut Connection, owed: &Owed) -> rusqlite::Result<()> {
    let pending = i64::try_from(owed.pending).unwrap_or(i64::MAX);
    let (key, cantidad) = match &owed.notice {
        Some(notice) => (
            Some(notice.key.as_str()),
            Some(i64::try_from(notice.cantidad).unwrap_or(i64::MAX)),
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
fn read_back(data_dir: &Path) -> (u64, Option<Notice>) {
    let connection = Connection::open(data_dir.join(ledger_file(PORT))).unwrap();
    let owed = load(&connection).unwrap();
    (owed.pending, owed.notice)
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
    fn what_is_owed_and_the_notice_in_flight_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        runtime().block_on(async {
            let ledger = Ledger::open(dir.path(), PORT).unwrap();
            assert_eq!(ledger.add(7, 100), 7);
            ledger
                .begin(Notice {
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
                Some(Notice {
                    key: "docencio-x-1".into(),
                    cantidad: 7
                })
            )
        );
        runtime().block_on(async {
            let ledger = Ledger::open(dir.path(), PORT).unwrap();
            assert_eq!(ledger.pending(), 9);
            assert_eq!(ledger.notice().unwrap().key, "docencio-x-1");
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
                Err(OpenError::Busy {
                    role: "docencio",
                    ..
                })
            ),
            "{second:?}"
        );
    }
}
