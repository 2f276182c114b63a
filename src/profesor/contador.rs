//! The count of answered questions, kept in SQLite under `--data-dir` so
//! that it survives any restart, kill -9 included.
//!
//! One thread owns the writing connection (a `rusqlite::Connection` is
//! not shareable, and SQLite has one writer at a time anyway). HTTP handlers send it
//! requests over a bounded channel; it takes every request waiting, adds
//! them in one transaction and commits before any of them is answered. An
//! acknowledged `POST` is therefore on disk, and a burst of concurrent
//! POSTs costs one commit, not one each (group commit).
//!
//! Idempotency keys live in the same transaction as the total they
//! produced, so "counted" and "key remembered" can never disagree after a
//! crash. The newest [`REMEMBERED_KEYS`] keys are kept.
//!
//! Several Profesors may share a folder: each batch reads the total inside
//! its write transaction, and reads go to the file, so they share one exact
//! count.

use std::io;
use std::path::Path;
use std::sync::Mutex;
use std::thread::JoinHandle;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info};

use crate::store::{self, Sharing, StoreError};

/// How many idempotency keys are remembered; the oldest is forgotten first.
/// A retry comes seconds after its first try, and Docencio sends at most a
/// few reports per second, so this covers days of retries in a few MiB.
pub const REMEMBERED_KEYS: u64 = 100_000;

/// The database file inside the data folder.
pub const DATABASE_FILE: &str = "aula.sqlite3";

/// Requests waiting for the writer; past this, handlers wait to enqueue.
const QUEUE_CAPACITY: usize = 4096;

/// Requests added in one transaction at most.
const MAX_BATCH: usize = 1024;

/// The result of adding to the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suma {
    /// The total right after this addition (for a repeated key: right after
    /// the first one).
    pub total: u64,
    /// True when the key had been seen: nothing was added this time.
    pub repetida: bool,
}

/// Why the count could not be opened or changed.
#[derive(Debug, thiserror::Error)]
pub enum ContadorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no se pudo guardar el conteo: {0}")]
    Write(String),
    #[error("no se pudo leer el conteo: {0}")]
    Read(String),
    #[error("el contador se está cerrando")]
    Closed,
}

impl From<ContadorError> for io::Error {
    fn from(err: ContadorError) -> Self {
        match err {
            ContadorError::Store(store) => store.into(),
            other => io::Error::other(other.to_string()),
        }
    }
}

struct Request {
    cantidad: u64,
    key: Option<String>,
    reply: oneshot::Sender<Result<Suma, ContadorError>>,
}

/// How many forwarded questions got a real answer, as Docencio reports them.
#[derive(Debug)]
pub struct Contador {
    requests: Option<mpsc::Sender<Request>>,
    /// For reads, which in WAL mode never wait for the writer. Read from
    /// the file, not from memory: another Profesor may share the folder.
    reader: Mutex<Connection>,
    writer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("cantidad", &self.cantidad)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Contador {
    /// Opens the count kept under `data_dir`, creating the folder and the
    /// database on first run.
    pub fn open(data_dir: &Path) -> Result<Self, ContadorError> {
        let (connection, path) =
            store::open(data_dir, DATABASE_FILE, "profesor", Sharing::Shared, SCHEMA)?;
        let (reader, _) = store::open(data_dir, DATABASE_FILE, "profesor", Sharing::Shared, "")?;
        let total = read_total(&connection).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        info!(
            "Conteo recuperado de {}: {total} preguntas respondidas",
            path.display()
        );
        let (requests, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let writer = std::thread::Builder::new()
            .name("profesor-contador".into())
            .spawn(move || write_loop(connection, receiver))
            .map_err(|err| {
                ContadorError::Write(format!("no se pudo iniciar el hilo del contador: {err}"))
            })?;
        Ok(Contador {
            requests: Some(requests),
            reader: Mutex::new(reader),
            writer: Some(writer),
        })
    }

    /// Adds `cantidad` answered questions, unless `key` was already used, and
    /// returns the total once it is on disk. Exact under any number of
    /// concurrent callers.
    pub async fn sumar(&self, cantidad: u64, key: Option<&str>) -> Result<Suma, ContadorError> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            cantidad,
            key: key.map(str::to_owned),
            reply,
        };
        let requests = self.requests.as_ref().ok_or(ContadorError::Closed)?;
        requests
            .send(request)
            .await
            .map_err(|_| ContadorError::Closed)?;
        answer.await.map_err(|_| ContadorError::Closed)?
    }

    /// The total as last committed, by this or any other Profesor sharing
    /// the folder.
    pub fn total(&self) -> Result<u64, ContadorError> {
        let reader = self
            .reader
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        read_total(&reader).map_err(|err| ContadorError::Read(err.to_string()))
    }
}

impl Drop for Contador {
    /// Lets the writer finish what it was given and close the database.
    fn drop(&mut self) {
        self.requests.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS conteo (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        total INTEGER NOT NULL
    );
    INSERT OR IGNORE INTO conteo (id, total) VALUES (1, 0);
    CREATE TABLE IF NOT EXISTS claves (
        orden INTEGER PRIMARY KEY,
        clave TEXT NOT NULL UNIQUE,
        total INTEGER NOT NULL
    );";

fn read_total(connection: &Connection) -> rusqlite::Result<u64> {
    let total: i64 = connection.query_row("SELECT total FROM conteo WHERE id = 1", [], |row| {
        row.get(0)
    })?;
    Ok(u64::try_from(total).unwrap_or(0))
}

/// The writer thread: batches whatever is waiting into one transaction.
fn write_loop(mut connection: Connection, mut requests: mpsc::Receiver<Request>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = requests.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        match add_batch(&mut connection, &batch) {
            Ok(results) => {
                for (request, suma) in batch.drain(..).zip(results) {
                    let _ = request.reply.send(Ok(suma));
                }
            }
            Err(err) => {
                error!("No se pudo guardar el conteo: {err}");
                for request in batch.drain(..) {
                    let _ = request
                        .reply
                        .send(Err(ContadorError::Write(err.to_string())));
                }
            }
        }
    }
}

/// Adds a batch in one transaction; nothing of it counts unless all of it
/// is committed.
fn add_batch(connection: &mut Connection, batch: &[Request]) -> rusqlite::Result<Vec<Suma>> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut total = read_total(&transaction)?;
    let mut results = Vec::with_capacity(batch.len());
    {
        let mut find = transaction.prepare_cached("SELECT total FROM claves WHERE clave = ?1")?;
        let mut remember =
            transaction.prepare_cached("INSERT INTO claves (clave, total) VALUES (?1, ?2)")?;
        for request in batch {
            if let Some(key) = &request.key {
                let first: Option<i64> = find.query_row([key], |row| row.get(0)).optional()?;
                if let Some(first) = first {
                    results.push(Suma {
                        total: u64::try_from(first).unwrap_or(0),
                        repetida: true,
                    });
                    continue;
                }
            }
            total = total.saturating_add(request.cantidad).min(i64::MAX as u64);
            if let Some(key) = &request.key {
                remember.execute(params![key, total as i64])?;
            }
            results.push(Suma {
                total,
                repetida: false,
            });
        }
    }
    transaction.execute("UPDATE conteo SET total = ?1 WHERE id = 1", [total as i64])?;
    transaction.execute(
        "DELETE FROM claves WHERE orden <= (SELECT max(orden) FROM claves) - ?1",
        [REMEMBERED_KEYS as i64],
    )?;
    transaction.commit()?;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn a_repeated_key_gets_the_first_total_and_adds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let contador = Contador::open(dir.path()).unwrap();
        runtime().block_on(async {
            assert_eq!(contador.sumar(3, Some("a")).await.unwrap().total, 3);
            assert_eq!(contador.sumar(1, None).await.unwrap().total, 4);
            let again = contador.sumar(3, Some("a")).await.unwrap();
            assert_eq!(
                again,
                Suma {
                    total: 3,
                    repetida: true
                }
            );
        });
        assert_eq!(contador.total().unwrap(), 4);
    }

    #[test]
    fn the_count_and_keys_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        runtime().block_on(async {
            let contador = Contador::open(dir.path()).unwrap();
            contador.sumar(5, Some("k")).await.unwrap();
            drop(contador);
            let contador = Contador::open(dir.path()).unwrap();
            assert_eq!(contador.total().unwrap(), 5);
            let again = contador.sumar(5, Some("k")).await.unwrap();
            assert!(again.repetida);
            assert_eq!(contador.total().unwrap(), 5);
        });
    }

    #[test]
    fn two_contadores_on_one_folder_share_one_exact_count() {
        let dir = tempfile::tempdir().unwrap();
        let first = Contador::open(dir.path()).unwrap();
        let second = Contador::open(dir.path()).unwrap();
        runtime().block_on(async {
            let adds = (0..200u64).map(|i| {
                let contador = if i % 2 == 0 { &first } else { &second };
                contador.sumar(
                    1,
                    Some(if i % 50 == 0 { "shared" } else { "" }).filter(|k| !k.is_empty()),
                )
            });
            futures::future::try_join_all(adds).await.unwrap();
        });
        // 196 without a key, and the shared key counted once of its 4 uses.
        assert_eq!(first.total().unwrap(), 197);
        assert_eq!(second.total().unwrap(), 197);
    }

    #[test]
    fn remembers_a_bounded_number_of_keys_forgetting_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let contador = Contador::open(dir.path()).unwrap();
        // Concurrent, so that they are committed in batches as in a busy
        // class, not with one fsync each.
        let keys: Vec<String> = (0..=REMEMBERED_KEYS).map(|i| i.to_string()).collect();
        runtime()
            .block_on(futures::future::try_join_all(
                keys.iter().map(|key| contador.sumar(1, Some(key))),
            ))
            .unwrap();
        drop(contador);
        let connection = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        let (kept, oldest): (i64, String) = connection
            .query_row(
                "SELECT count(*), (SELECT clave FROM claves ORDER BY orden LIMIT 1) FROM claves",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!(kept as u64, REMEMBERED_KEYS);
        assert_eq!(oldest, "1");
    }
}
