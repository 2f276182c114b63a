//! The one way aula opens an SQLite file: under a data folder created on
//! first run, locked for this process alone, and with every commit on disk
//! before it returns (WAL, `synchronous = FULL`).
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
    #[error("la base de datos {path} está en uso por otro proceso (¿otro {role} con la misma --data-dir?)")]
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

/// Opens `data_dir/file` for `role` alone, creating both on first run, and
/// runs `schema` (idempotent `CREATE ... IF NOT EXISTS`) in a transaction.
///
/// Exclusive locking makes a second process on the same file fail here, at
/// start, instead of both writing into it.
pub fn open(
    data_dir: &Path,
    file: &str,
    role: &'static str,
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
    connection
        .busy_timeout(Duration::from_millis(500))
        .map_err(open_error)?;
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
    connection
        .execute_batch(
            "PRAGMA locking_mode = EXCLUSIVE;
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;",
        )
        .map_err(busy_or)?;
    connection
        .execute_batch(&format!("BEGIN IMMEDIATE; {schema} COMMIT;"))
        .map_err(busy_or)?;
    Ok((connection, path))
}
