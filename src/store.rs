//! The one way aula opens an SQLite file: under a data folder created on
//! first run, shared or locked for this process alone, and with every
//! commit on disk before it returns (WAL, `synchronous = FULL`). Docencio's
//! ledger then relaxes that to surviving a crash of Docencio only (see
//! `docencio::ledger`).
//!
//! Profesor keeps its count this way ([`crate::profesor::Contador`]) and
//! Docencio what it still owes Profesor (`docencio::outbox`).

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no se pudo crear la carpeta de datos {path}: {source}")]
    Folder { path: PathBuf, source: io::Error },
    #[error("no se pudo abrir la base de datos {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "la base de datos {path} está en uso por otro proceso (¿otro {role} usa el mismo archivo?)"
    )]
    Busy { path: PathBuf, role: &'static str },
}

impl From<StoreError> for io::Error {
    fn from(err: StoreError) -> Self {
        let kind = match &err {
            StoreError::Folder { source, .. } => source.kind(),
            StoreError::Busy { .. } => io::ErrorKind::ResourceBusy,
            StoreError::Open { .. } => io::ErrorKind::Other,
        };
        io::Error::new(kind, err.to_string())
    }
}

/// Whether other processes may use the same file at the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Several processes may read and write it; SQLite serialises their
    /// transactions (Profesor: two on one folder share one exact count).
    Shared,
    /// This process alone: a second one fails here, at start, instead of
    /// overwriting the first one's state (Docencio's ledger).
    Exclusive,
}

/// Opens `data_dir/file` for `role`, creating both on first run, and runs
/// `schema` (idempotent `CREATE ... IF NOT EXISTS`) in a transaction.
pub fn open(
    data_dir: &Path,
    file: &str,
    role: &'static str,
    sharing: Sharing,
    schema: &str,
) -> Result<(Connection, PathBuf), StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Folder {
        path: data_dir.to_owned(),
        source,
    })?;
    let path = data_dir.join(file);
    let open_error = |source| StoreError::Open {
        path: path.clone(),
        source,
    };
    let connection = Connection::open(&path).map_err(open_error)?;
    // Long enough for another process's commit; short enough that an
    // exclusive holder is reported at once.
    let busy_timeout = match sharing {
        Sharing::Shared => Duration::from_secs(5),
        Sharing::Exclusive => Duration::from_millis(500),
    };
    connection.busy_timeout(busy_timeout).map_err(open_error)?;
    let busy_or = |source: rusqlite::Error| match source.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Busy {
                path: path.clone(),
                role,
            }
        }
        _ => StoreError::Open {
            path: path.clone(),
            source,
        },
    };
    if sharing == Sharing::Exclusive {
        connection
            .execute_batch("PRAGMA locking_mode = EXCLUSIVE;")
            .map_err(busy_or)?;
    }
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;",
        )
        .map_err(busy_or)?;
    connection
        .execute_batch(&format!("BEGIN IMMEDIATE; {schema} COMMIT;"))
        .map_err(busy_or)?;
    Ok((connection, path))
}
