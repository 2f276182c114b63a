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

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info};

use super::count::{CountStore, Counted, REMEMBERED_KEYS};
use super::error::StoreError;
use super::roster::{clave, Estudiante, RosterStore, MAX_ESTUDIANTES};
use crate::sqlite_file::{self, OpenError, Sharing};

/// The database file inside the data folder.
pub const DATABASE_FILE: &str = "aula.sqlite3";

/// Requests waiting for the writer; past this, handlers wait to enqueue.
const QUEUE_CAPACITY: usize = 4096;

/// Requests added in one transaction at most.
const MAX_BATCH: usize = 1024;

struct Request {
    cantidad: u64,
    key: Option<String>,
    reply: oneshot::Sender<Result<Counted, StoreError>>,
}

/// How many forwarded questions got a real answer, as Docencio reports them.
#[derive(Debug)]
pub struct SqliteCount {
    requests: Option<mpsc::Sender<Request>>,
    /// The last write failed (a full disk, a folder gone): `/salud` says
    /// "degradado" until one succeeds again.
    failing: Arc<AtomicBool>,
    /// For reads, which in WAL mode never wait for the writer. Read from
    /// the file, not from memory: another Profesor may share the folder.
    /// Shared with the blocking pool, where reads run (a read may wait on
    /// the disk, and the HTTP workers must not).
    reader: Arc<Mutex<Connection>>,
    writer: Option<JoinHandle<()>>,
    /// The database file, for log lines and the panel.
    path: std::path::PathBuf,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("cantidad", &self.cantidad)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl SqliteCount {
    /// Opens the count kept under `data_dir`, creating the folder and the
    /// database on first run.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        // SQLite takes an empty file for a new database: a count truncated
        // to 0 bytes (a full disk, a copy gone wrong) would start from 0
        // without a word. A file another Profesor on this folder has just
        // created is empty for a moment too: it gets a second to fill.
        let file = data_dir.join(DATABASE_FILE);
        let is_empty = || std::fs::metadata(&file).is_ok_and(|meta| meta.len() == 0);
        let mut waited = 0;
        while is_empty() && waited < 20 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            waited += 1;
        }
        if is_empty() {
            return Err(StoreError::Read(format!(
                "{} está vacío (0 bytes): la cuenta que tenía se perdió. Restaura una copia, o bórralo para empezar de 0 a sabiendas",
                file.display()
            )));
        }
        let (connection, path) = sqlite_file::open(
            data_dir,
            DATABASE_FILE,
            "profesor",
            Sharing::Shared,
            MIGRATIONS,
        )?;
        let (reader, _) =
            sqlite_file::open(data_dir, DATABASE_FILE, "profesor", Sharing::Shared, &[])?;
        let total = read_total(&connection).map_err(|cause| {
            StoreError::Open(OpenError::Open {
                path: path.clone(),
                cause,
            })
        })?;
        info!(
            "Conteo recuperado de {}: {total} preguntas respondidas",
            path.display()
        );
        let failing = Arc::new(AtomicBool::new(false));
        let file = DatabaseFile::now(&path)?;
        let (requests, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let writer = std::thread::Builder::new()
            .name("profesor-contador".into())
            .spawn({
                let failing = failing.clone();
                move || write_loop(connection, file, receiver, &failing)
            })
            .map_err(|err| {
                StoreError::Write(format!("no se pudo iniciar el hilo del contador: {err}"))
            })?;
        Ok(SqliteCount {
            requests: Some(requests),
            failing,
            reader: Arc::new(Mutex::new(reader)),
            writer: Some(writer),
            path,
        })
    }

    /// [`CountStore::total`] from outside any runtime (tests, tools).
    pub fn total_blocking(&self) -> Result<u64, StoreError> {
        read_total_from(&self.reader)
    }
}

impl CountStore for SqliteCount {
    /// Exact under any number of concurrent callers: one writer thread
    /// commits whatever is waiting in one transaction (group commit).
    async fn count(&self, cantidad: u64, key: Option<&str>) -> Result<Counted, StoreError> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            cantidad,
            key: key.map(str::to_owned),
            reply,
        };
        let requests = self.requests.as_ref().ok_or(StoreError::Closed)?;
        requests
            .send(request)
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Read on the blocking pool: never on an HTTP worker.
    async fn total(&self) -> Result<u64, StoreError> {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || read_total_from(&reader))
            .await
            .map_err(|err| StoreError::Read(err.to_string()))?
    }

    fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    fn describe(&self) -> String {
        format!("SQLite en {}", self.path.display())
    }
}

fn read_total_from(reader: &Mutex<Connection>) -> Result<u64, StoreError> {
    let reader = reader
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    read_total(&reader).map_err(|err| StoreError::Read(err.to_string()))
}

impl SqliteCount {
    /// Runs `work` on the reader connection, off the async workers.
    async fn with_connection<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, ListError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let connection = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let connection = connection
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&connection)
        })
        .await
        .map_err(|err| StoreError::Read(err.to_string()))?
        .map_err(|refused| match refused {
            ListError::Sql(err) => StoreError::Write(err.to_string()),
            ListError::ListFull => StoreError::ListFull,
        })
    }
}

fn estudiante_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<Estudiante> {
    Ok(Estudiante {
        nombre: row.get(0)?,
        correo: row.get(1)?,
        seccion: row.get(2)?,
    })
}

/// Refuses a new entry past [`MAX_ESTUDIANTES`].
fn room_for_one(connection: &Connection) -> rusqlite::Result<bool> {
    let count: i64 =
        connection.query_row("SELECT count(*) FROM estudiantes", [], |row| row.get(0))?;
    Ok(u64::try_from(count).unwrap_or(0) < MAX_ESTUDIANTES)
}

/// Why work on the class list failed.
enum ListError {
    Sql(rusqlite::Error),
    /// The list holds [`MAX_ESTUDIANTES`] already.
    ListFull,
}

impl From<rusqlite::Error> for ListError {
    fn from(err: rusqlite::Error) -> Self {
        ListError::Sql(err)
    }
}

impl RosterStore for SqliteCount {
    async fn list(&self) -> Result<Vec<Estudiante>, StoreError> {
        self.with_connection(|connection| {
            let mut query = connection
                .prepare_cached("SELECT nombre, correo, seccion FROM estudiantes ORDER BY clave")?;
            let rows = query.query_map([], estudiante_from)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn get(&self, nombre: &str) -> Result<Option<Estudiante>, StoreError> {
        let key = clave(nombre.trim());
        self.with_connection(move |connection| {
            connection
                .query_row(
                    "SELECT nombre, correo, seccion FROM estudiantes WHERE clave = ?1",
                    [key],
                    estudiante_from,
                )
                .optional()
                .map_err(ListError::from)
        })
        .await
    }

    async fn create(&self, estudiante: &Estudiante) -> Result<bool, StoreError> {
        let estudiante = estudiante.clone();
        self.with_connection(move |connection| {
            if !room_for_one(connection)? {
                return Err(ListError::ListFull);
            }
            let added = connection.execute(
                "INSERT INTO estudiantes (clave, nombre, correo, seccion) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (clave) DO NOTHING",
                params![clave(&estudiante.nombre), estudiante.nombre, estudiante.correo, estudiante.seccion],
            )?;
            Ok(added == 1)
        })
        .await
    }

    async fn put(&self, estudiante: &Estudiante) -> Result<bool, StoreError> {
        let estudiante = estudiante.clone();
        self.with_connection(move |connection| {
            let key = clave(&estudiante.nombre);
            let updated = connection.execute(
                "UPDATE estudiantes SET nombre = ?2, correo = ?3, seccion = ?4 WHERE clave = ?1",
                params![
                    key,
                    estudiante.nombre,
                    estudiante.correo,
                    estudiante.seccion
                ],
            )?;
            if updated == 1 {
                return Ok(false);
            }
            if !room_for_one(connection)? {
                return Err(ListError::ListFull);
            }
            connection.execute(
                "INSERT INTO estudiantes (clave, nombre, correo, seccion) VALUES (?1, ?2, ?3, ?4)",
                params![
                    key,
                    estudiante.nombre,
                    estudiante.correo,
                    estudiante.seccion
                ],
            )?;
            Ok(true)
        })
        .await
    }

    async fn delete(&self, nombre: &str) -> Result<bool, StoreError> {
        let key = clave(nombre.trim());
        self.with_connection(move |connection| {
            Ok(connection.execute("DELETE FROM estudiantes WHERE clave = ?1", [key])? == 1)
        })
        .await
    }
}

impl Drop for SqliteCount {
    /// Lets the writer finish what it was given and close the database.
    fn drop(&mut self) {
        self.requests.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The count's schema, one step per version (see `sqlite_file::open`).
const MIGRATIONS: &[&str] = &[
    SCHEMA_V1,
    // What each key counted, so that a key reused for another amount is
    // refused (422) instead of answered as if it had counted that amount.
    "ALTER TABLE claves ADD COLUMN cantidad INTEGER;",
    // The class list (`/estudiantes`); `clave` is the name in lower case.
    "CREATE TABLE estudiantes (clave TEXT PRIMARY KEY, nombre TEXT NOT NULL, correo TEXT, seccion TEXT);",
];

const SCHEMA_V1: &str = "
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

/// The count as stored. A negative one is an error, never a silent 0: the
/// file was damaged or edited, and the class must not start over unawares.
fn read_total(connection: &Connection) -> rusqlite::Result<u64> {
    let total: i64 = connection.query_row("SELECT total FROM conteo WHERE id = 1", [], |row| {
        row.get(0)
    })?;
    u64::try_from(total).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(0, total))
}

/// The database file as it was opened: which file it is on the disk.
///
/// A file deleted (or replaced) while Profesor runs still takes writes
/// through the open connection, but nobody will ever read them: the next
/// start would find no file and count from 0. So the writer checks, before
/// every batch, that the path still names the file it writes to.
struct DatabaseFile {
    path: std::path::PathBuf,
    identity: (u64, u64),
}

impl DatabaseFile {
    fn now(path: &Path) -> Result<Self, StoreError> {
        Ok(DatabaseFile {
            path: path.to_owned(),
            identity: Self::identity_of(path).map_err(|err| {
                StoreError::Write(format!("no se pudo leer {}: {err}", path.display()))
            })?,
        })
    }

    /// (device, inode): what stays the same for one file whatever its name.
    fn identity_of(path: &Path) -> std::io::Result<(u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path)?;
        Ok((meta.dev(), meta.ino()))
    }

    /// `Err` with what happened when the path no longer names the file.
    fn still_there(&self) -> Result<(), String> {
        match Self::identity_of(&self.path) {
            Ok(identity) if identity == self.identity => Ok(()),
            Ok(_) => Err(format!(
                "{} fue reemplazado por otro archivo mientras Profesor corría: la cuenta no se \
                 guarda en él; reinicia Profesor para usar el nuevo, o restaura el anterior",
                self.path.display()
            )),
            Err(err) => Err(format!(
                "{} ya no está ({err}): fue borrado mientras Profesor corría y la cuenta ya no se \
                 guardaría; restaura el archivo y reinicia Profesor",
                self.path.display()
            )),
        }
    }
}

/// The writer thread: batches whatever is waiting into one transaction.
fn write_loop(
    mut connection: Connection,
    file: DatabaseFile,
    mut requests: mpsc::Receiver<Request>,
    failing: &AtomicBool,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = requests.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let added = file
            .still_there()
            .and_then(|()| add_batch(&mut connection, &batch).map_err(|err| err.to_string()));
        failing.store(added.is_err(), Ordering::Relaxed);
        match added {
            Ok(results) => {
                for (request, result) in batch.drain(..).zip(results) {
                    let _ = request.reply.send(result);
                }
            }
            Err(err) => {
                error!("No se pudo guardar el conteo: {err}");
                for request in batch.drain(..) {
                    let _ = request.reply.send(Err(StoreError::Write(err.clone())));
                }
            }
        }
    }
}

/// Adds a batch in one transaction; nothing of it counts unless all of it
/// is committed.
fn add_batch(
    connection: &mut Connection,
    batch: &[Request],
) -> rusqlite::Result<Vec<Result<Counted, StoreError>>> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut total = read_total(&transaction)?;
    let mut results = Vec::with_capacity(batch.len());
    {
        let mut find =
            transaction.prepare_cached("SELECT total, cantidad FROM claves WHERE clave = ?1")?;
        let mut remember = transaction
            .prepare_cached("INSERT INTO claves (clave, total, cantidad) VALUES (?1, ?2, ?3)")?;
        for request in batch {
            if let Some(key) = &request.key {
                let first: Option<(i64, Option<i64>)> = find
                    .query_row([key], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()?;
                if let Some((first_total, first_cantidad)) = first {
                    // Keys remembered before amounts were kept match any.
                    let first_cantidad = first_cantidad.and_then(|c| u64::try_from(c).ok());
                    results.push(match first_cantidad {
                        Some(counted) if counted != request.cantidad => {
                            Err(StoreError::KeyReused {
                                counted,
                                asked: request.cantidad,
                            })
                        }
                        _ => Ok(Counted {
                            total: u64::try_from(first_total).unwrap_or(0),
                            replayed: true,
                        }),
                    });
                    continue;
                }
            }
            total = total.saturating_add(request.cantidad).min(i64::MAX as u64);
            if let Some(key) = &request.key {
                remember.execute(params![key, total as i64, request.cantidad as i64])?;
            }
            results.push(Ok(Counted {
                total,
                replayed: false,
            }));
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
    fn passes_the_stores_suite() {
        use super::super::count::suite;
        for test in 0..4 {
            let dir = tempfile::tempdir().unwrap();
            let count = SqliteCount::open(dir.path()).unwrap();
            runtime().block_on(async {
                match test {
                    0 => suite::a_repeated_key_gets_the_first_total_and_adds_nothing(&count).await,
                    1 => suite::a_key_reused_for_another_amount_is_refused(&count).await,
                    2 => {
                        super::super::roster::suite::the_list_is_a_resource_with_case_blind_names(
                            &count,
                        )
                        .await
                    }
                    _ => {
                        let second = SqliteCount::open(dir.path()).unwrap();
                        suite::two_stores_on_one_count_are_exact_under_concurrency(&count, &second)
                            .await
                    }
                }
            });
        }
    }

    #[test]
    fn a_count_made_before_versions_is_upgraded_and_a_negative_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            // A file as the first aula wrote it: no version, no amounts.
            let old = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
            old.execute_batch(SCHEMA_V1).unwrap();
            old.execute_batch("UPDATE conteo SET total = 7; INSERT INTO claves (clave, total) VALUES ('viejo', 7);")
                .unwrap();
        }
        let count = SqliteCount::open(dir.path()).unwrap();
        assert_eq!(count.total_blocking().unwrap(), 7);
        runtime().block_on(async {
            // An old key matches any amount: it predates them.
            assert!(count.count(2, Some("viejo")).await.unwrap().replayed);
            assert_eq!(count.count(2, Some("nuevo")).await.unwrap().total, 9);
        });
        drop(count);
        let damaged = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        damaged
            .execute_batch("UPDATE conteo SET total = -5;")
            .unwrap();
        drop(damaged);
        let refused = SqliteCount::open(dir.path()).unwrap_err().to_string();
        assert!(refused.contains("aula.sqlite3"), "{refused}");
    }

    #[test]
    fn writes_that_fail_are_refused_and_reported_until_one_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let count = SqliteCount::open(dir.path()).unwrap();
        // Another process holds the write lock past the busy timeout.
        let holder = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        holder.execute_batch("BEGIN EXCLUSIVE;").unwrap();
        runtime().block_on(async {
            assert!(matches!(
                count.count(1, None).await,
                Err(StoreError::Write(_))
            ));
            assert!(count.is_failing());
            holder.execute_batch("COMMIT;").unwrap();
            assert_eq!(count.count(1, None).await.unwrap().total, 1);
            assert!(!count.is_failing());
        });
    }

    #[test]
    fn the_count_and_keys_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        runtime().block_on(async {
            let count = SqliteCount::open(dir.path()).unwrap();
            count.count(5, Some("k")).await.unwrap();
            drop(count);
            let count = SqliteCount::open(dir.path()).unwrap();
            assert_eq!(count.total_blocking().unwrap(), 5);
            let again = count.count(5, Some("k")).await.unwrap();
            assert!(again.replayed);
            assert_eq!(count.total_blocking().unwrap(), 5);
        });
    }

    #[test]
    fn remembers_a_bounded_number_of_keys_forgetting_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let count = SqliteCount::open(dir.path()).unwrap();
        // Concurrent, so that they are committed in batches as in a busy
        // class, not with one fsync each.
        let keys: Vec<String> = (0..=REMEMBERED_KEYS).map(|i| i.to_string()).collect();
        runtime()
            .block_on(futures::future::try_join_all(
                keys.iter().map(|key| count.count(1, Some(key))),
            ))
            .unwrap();
        drop(count);
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

    #[test]
    fn a_database_deleted_while_running_refuses_counts_instead_of_losing_them() {
        let dir = tempfile::tempdir().unwrap();
        let count = SqliteCount::open(dir.path()).unwrap();
        runtime().block_on(async {
            count.count(2, None).await.unwrap();
            std::fs::remove_file(dir.path().join(DATABASE_FILE)).unwrap();
            let refused = count.count(1, None).await.unwrap_err().to_string();
            assert!(refused.contains("ya no está"), "{refused}");
            assert!(count.is_failing());
        });
    }

    #[test]
    fn an_emptied_count_file_is_refused_not_taken_for_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteCount::open(dir.path()).unwrap());
        std::fs::write(dir.path().join(DATABASE_FILE), b"").unwrap();
        let refused = SqliteCount::open(dir.path()).unwrap_err().to_string();
        assert!(refused.contains("vacío"), "{refused}");
    }
}
