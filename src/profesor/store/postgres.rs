//! The count in PostgreSQL (`profesor --database-url postgres://...`), so
//! that several Profesors, on several hosts, keep one exact count.
//!
//! The schema is created and upgraded at start by `refinery` from the
//! versioned files in `migrations/postgres/` (embedded in the binary), under
//! an advisory lock so that two Profesors starting together do not race.
//! Connections come from a `deadpool-postgres` pool: a PostgreSQL that went
//! away costs the requests made meanwhile a 503 naming the database, and
//! the pool connects again by itself once it is back.
//!
//! Counts are written by one task, in batches: one transaction takes the
//! total's row lock, inserts each key (`ON CONFLICT DO NOTHING`) with the
//! total it makes, moves the total only for new keys, and commits before
//! any count of the batch is acknowledged. A second Profesor's batch waits
//! for the lock, then sees the first one's keys.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::NoTls;
use tracing::info;

use super::count::{CountStore, Counted, REMEMBERED_KEYS};
use super::error::StoreError;
use super::roster::{clave, Estudiante, RosterStore, MAX_ESTUDIANTES};

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

/// Connections to PostgreSQL at most per Profesor.
const POOL_SIZE: usize = 16;

/// How long a request waits for a connection or for PostgreSQL.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest a count or a read waits for the database once connected (a
/// lock held elsewhere, a network that went silent): then 503, and the
/// client retries (with its Idempotency-Key, so a late commit is not
/// counted twice).
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// Keys are reaped once every this many batches.
const REAP_EVERY: u64 = 1_000;

/// Counts waiting for the writer; past this, handlers wait to enqueue.
const QUEUE_CAPACITY: usize = 4096;

/// Counts in one transaction at most.
const MAX_BATCH: usize = 1024;

/// An arbitrary, fixed key for `pg_advisory_lock`: the migrations of every
/// Profesor on one database run one at a time.
const MIGRATION_LOCK: i64 = 0x6175_6c61; // "aula"

/// The count kept in PostgreSQL.
pub struct PostgresCount {
    pool: Pool,
    /// Where it connects, for the connection that listens for events.
    config: Box<tokio_postgres::Config>,
    /// `host:port/database`, for errors and the panel (never the password).
    target: String,
    /// The writer's last batch failed.
    failing: Arc<AtomicBool>,
    requests: mpsc::Sender<Request>,
}

impl std::fmt::Debug for PostgresCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresCount")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl PostgresCount {
    /// Connects to the database at `url`, and brings its schema up to date.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = url.parse().map_err(|err| StoreError::Database {
            target: "(URL)".to_owned(),
            detail: format!("URL de PostgreSQL inválida: {err}"),
        })?;
        let target = describe_target(&config);
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(DATABASE_TIMEOUT))
            .create_timeout(Some(DATABASE_TIMEOUT))
            .recycle_timeout(Some(DATABASE_TIMEOUT))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|err| StoreError::Database {
                target: target.clone(),
                detail: err.to_string(),
            })?;
        let failing = Arc::new(AtomicBool::new(false));
        let (requests, receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(write_loop(
            pool.clone(),
            target.clone(),
            receiver,
            failing.clone(),
        ));
        let store = PostgresCount {
            pool,
            config: Box::new(config),
            target,
            failing,
            requests,
        };
        store.migrate().await?;
        let total = store.total().await?;
        info!(
            "Conteo recuperado de PostgreSQL en {}: {total} preguntas respondidas",
            store.target
        );
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await.map_err(|err| self.down(err))?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(|err| self.down(err))?;
        let migrated = embedded::migrations::runner()
            .run_async(&mut **client)
            .await
            .map_err(|err| StoreError::Database {
                target: self.target.clone(),
                detail: format!("no se pudo poner al día el esquema: {err}"),
            });
        let unlocked = client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await;
        migrated?;
        unlocked.map_err(|err| self.down(err))?;
        Ok(())
    }

    fn down(&self, err: impl std::fmt::Display) -> StoreError {
        StoreError::Database {
            target: self.target.clone(),
            detail: err.to_string(),
        }
    }
}

impl PostgresCount {
    /// What the class's events need to share this database: its pool,
    /// its connection settings (for a connection that listens) and its
    /// name for messages (`host:port/database`).
    pub fn events_connection(&self) -> (Pool, tokio_postgres::Config, String) {
        (
            self.pool.clone(),
            (*self.config).clone(),
            self.target.clone(),
        )
    }

    /// A pooled connection, or 503 naming the database.
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|err| self.down(err))
    }

    /// `query` within [`OPERATION_TIMEOUT`], its errors naming the database.
    async fn timed<T>(
        &self,
        query: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(OPERATION_TIMEOUT, query)
            .await
            .map_err(|_| self.down(format!("sin respuesta en {OPERATION_TIMEOUT:?}")))?
            .map_err(|err| self.down(err))
    }
}

fn estudiante_from(row: &tokio_postgres::Row) -> Estudiante {
    Estudiante {
        nombre: row.get(0),
        correo: row.get(1),
        seccion: row.get(2),
    }
}

impl RosterStore for PostgresCount {
    async fn list(&self) -> Result<Vec<Estudiante>, StoreError> {
        let client = self.client().await?;
        let rows = self
            .timed(client.query(
                "SELECT nombre, correo, seccion FROM estudiantes ORDER BY clave",
                &[],
            ))
            .await?;
        Ok(rows.iter().map(estudiante_from).collect())
    }

    async fn get(&self, nombre: &str) -> Result<Option<Estudiante>, StoreError> {
        let client = self.client().await?;
        let key = clave(nombre.trim());
        let row = self
            .timed(client.query_opt(
                "SELECT nombre, correo, seccion FROM estudiantes WHERE clave = $1",
                &[&key],
            ))
            .await?;
        Ok(row.as_ref().map(estudiante_from))
    }

    async fn create(&self, estudiante: &Estudiante) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let (count,): (i64,) = {
            let row = self
                .timed(client.query_one("SELECT count(*) FROM estudiantes", &[]))
                .await?;
            (row.get(0),)
        };
        if u64::try_from(count).unwrap_or(0) >= MAX_ESTUDIANTES {
            return Err(StoreError::ListFull);
        }
        let added = self
            .timed(client.execute(
                "INSERT INTO estudiantes (clave, nombre, correo, seccion) VALUES ($1, $2, $3, $4) ON CONFLICT (clave) DO NOTHING",
                &[&clave(&estudiante.nombre), &estudiante.nombre, &estudiante.correo, &estudiante.seccion],
            ))
            .await?;
        Ok(added == 1)
    }

    async fn put(&self, estudiante: &Estudiante) -> Result<bool, StoreError> {
        let client = self.client().await?;
        // One statement: added or replaced, and which (xmax is 0 for a row
        // this statement inserted).
        let row = self
            .timed(client.query_one(
                "INSERT INTO estudiantes (clave, nombre, correo, seccion) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (clave) DO UPDATE SET nombre = EXCLUDED.nombre, correo = EXCLUDED.correo, seccion = EXCLUDED.seccion
                 RETURNING (xmax = 0)",
                &[&clave(&estudiante.nombre), &estudiante.nombre, &estudiante.correo, &estudiante.seccion],
            ))
            .await?;
        Ok(row.get(0))
    }

    async fn delete(&self, nombre: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let key = clave(nombre.trim());
        let removed = self
            .timed(client.execute("DELETE FROM estudiantes WHERE clave = $1", &[&key]))
            .await?;
        Ok(removed == 1)
    }
}

/// A count waiting for the writer.
struct Request {
    cantidad: u64,
    key: Option<String>,
    reply: oneshot::Sender<Result<Counted, StoreError>>,
}

/// The writer task: whatever counts are waiting go in one transaction
/// (group commit: one commit, so one wait for the disk, for many counts),
/// as SQLite's writer does. The transaction takes the total's row lock
/// first, so the batches of several Profesors take turns instead of
/// deadlocking on each other's keys.
async fn write_loop(
    pool: Pool,
    target: String,
    mut requests: mpsc::Receiver<Request>,
    failing: Arc<AtomicBool>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut batches = 0u64;
    while let Some(first) = requests.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        batches += 1;
        let reap = batches.is_multiple_of(REAP_EVERY);
        let added = add_batch(&pool, &batch, reap).await;
        failing.store(added.is_err(), Ordering::Relaxed);
        match added {
            Ok(results) => {
                for (request, result) in batch.drain(..).zip(results) {
                    let _ = request.reply.send(result);
                }
            }
            Err(err) => {
                for request in batch.drain(..) {
                    let _ = request.reply.send(Err(StoreError::Database {
                        target: target.clone(),
                        detail: err.clone(),
                    }));
                }
            }
        }
    }
}

/// Counts a batch in one transaction; nothing of it counts unless all of
/// it is committed.
async fn add_batch(
    pool: &Pool,
    batch: &[Request],
    reap: bool,
) -> Result<Vec<Result<Counted, StoreError>>, String> {
    let mut client = pool.get().await.map_err(|err| err.to_string())?;
    let transaction = client.transaction().await.map_err(|err| err.to_string())?;
    let row = transaction
        .query_one("SELECT total FROM conteo WHERE id = 1 FOR UPDATE", &[])
        .await
        .map_err(|err| err.to_string())?;
    let before: i64 = row.get(0);
    let mut total =
        u64::try_from(before).map_err(|_| format!("el conteo guardado es negativo ({before})"))?;
    let mut results = Vec::with_capacity(batch.len());
    for request in batch {
        let after = total.saturating_add(request.cantidad).min(i64::MAX as u64);
        if let Some(key) = &request.key {
            let amount = i64::try_from(request.cantidad).unwrap_or(i64::MAX);
            let inserted = transaction
                .query_opt(
                    "INSERT INTO claves (clave, total, cantidad) VALUES ($1, $2, $3) \
                     ON CONFLICT (clave) DO NOTHING RETURNING orden",
                    &[key, &(after as i64), &amount],
                )
                .await
                .map_err(|err| err.to_string())?;
            if inserted.is_none() {
                let first = transaction
                    .query_one(
                        "SELECT total, cantidad FROM claves WHERE clave = $1",
                        &[key],
                    )
                    .await
                    .map_err(|err| err.to_string())?;
                let (first_total, counted): (i64, i64) = (first.get(0), first.get(1));
                let counted = u64::try_from(counted).unwrap_or(0);
                results.push(if counted != request.cantidad {
                    Err(StoreError::KeyReused {
                        counted,
                        asked: request.cantidad,
                    })
                } else {
                    Ok(Counted {
                        total: u64::try_from(first_total).unwrap_or(0),
                        replayed: true,
                    })
                });
                continue;
            }
        }
        total = after;
        results.push(Ok(Counted {
            total,
            replayed: false,
        }));
    }
    transaction
        .execute(
            "UPDATE conteo SET total = $1 WHERE id = 1",
            &[&(total as i64)],
        )
        .await
        .map_err(|err| err.to_string())?;
    if reap {
        transaction
            .execute(
                "DELETE FROM claves WHERE orden <= (SELECT max(orden) FROM claves) - $1",
                &[&(REMEMBERED_KEYS as i64)],
            )
            .await
            .map_err(|err| err.to_string())?;
    }
    transaction.commit().await.map_err(|err| err.to_string())?;
    Ok(results)
}

impl CountStore for PostgresCount {
    async fn count(&self, cantidad: u64, key: Option<&str>) -> Result<Counted, StoreError> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            cantidad,
            key: key.map(str::to_owned),
            reply,
        };
        let silent = || {
            self.failing.store(true, Ordering::Relaxed);
            StoreError::Database {
                target: self.target.clone(),
                detail: format!("sin respuesta en {OPERATION_TIMEOUT:?}"),
            }
        };
        let queued = tokio::time::timeout(OPERATION_TIMEOUT, self.requests.send(request)).await;
        queued
            .map_err(|_| silent())?
            .map_err(|_| StoreError::Closed)?;
        match tokio::time::timeout(OPERATION_TIMEOUT, answer).await {
            Ok(answer) => answer.map_err(|_| StoreError::Closed)?,
            Err(_) => Err(silent()),
        }
    }

    async fn total(&self) -> Result<u64, StoreError> {
        let client = self.pool.get().await.map_err(|err| self.down(err))?;
        let read = client.query_one("SELECT total FROM conteo WHERE id = 1", &[]);
        let row = tokio::time::timeout(OPERATION_TIMEOUT, read)
            .await
            .map_err(|_| StoreError::Database {
                target: self.target.clone(),
                detail: format!("sin respuesta en {OPERATION_TIMEOUT:?}"),
            })?
            .map_err(|err| self.down(err))?;
        let total: i64 = row.get(0);
        u64::try_from(total).map_err(|_| {
            StoreError::Read(format!(
                "el conteo guardado en {} es negativo ({total}): ¿base de datos dañada o editada?",
                self.target
            ))
        })
    }

    fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    fn describe(&self) -> String {
        format!("PostgreSQL en {}", self.target)
    }
}

/// `host:port/database` of a connection's settings, without credentials.
fn describe_target(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config.get_dbname().unwrap_or("postgres");
    format!("{host}:{port}/{database}")
}
