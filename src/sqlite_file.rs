//! The one way aula opens an SQLite file: under a data folder created on
//! first run, shared or locked for this process alone, and with every
//! commit on disk before it returns (WAL, `synchronous = FULL`). Docencio's
//! ledger then relaxes that to surviving a crash of Docencio only (see
//! `docencio::ledger`).
//!
//! Profesor keeps its count and class list this way (its SQLite store) and
//! Docencio what it still owes Profesor (its ledger).

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

/// Why an SQLite file could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("no se pudo crear la carpeta de datos {path}: {cause}")]
    Folder { path: PathBuf, cause: io::Error },
    #[error("no se pudo abrir la base de datos {path}: {cause}")]
    Open {
        path: PathBuf,
        cause: rusqlite::Error,
    },
    #[error("la base de datos {path} es de una versión más nueva de aula (esquema {version}; esta conoce hasta el {known}): usa esa versión, o otra carpeta de datos")]
    TooNew {
        path: PathBuf,
        version: usize,
        known: usize,
    },
    #[error(
        "la base de datos {path} está en uso por otro proceso (¿otro {role} usa el mismo archivo?)"
    )]
    Busy { path: PathBuf, role: &'static str },
}

impl From<OpenError> for io::Error {
    fn from(err: OpenError) -> Self {
        let kind = match &err {
            OpenError::Folder { cause, .. } => cause.kind(),
            OpenError::Busy { .. } => io::ErrorKind::ResourceBusy,
            OpenError::Open { .. } | OpenError::TooNew { .. } => io::ErrorKind::Other,
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

/// Opens `data_dir/file` for `role`, creating both on first run, and
/// brings its schema up to date with `migrations` (see [`migrate`]; none,
/// for a connection that only reads).
pub fn open(
    data_dir: &Path,
    file: &str,
    role: &'static str,
    sharing: Sharing,
    migrations: &[&str],
) -> Result<(Connection, PathBuf), OpenError> {
    std::fs::create_dir_all(data_dir).map_err(|cause| OpenError::Folder {
        path: data_dir.to_owned(),
        cause,
    })?;
    let path = data_dir.join(file);
    let open_error = |cause| OpenError::Open {
        path: path.clone(),
        cause,
    };
    let connection = Connection::open(&path).map_err(open_error)?;
    // Long enough for another process's commit; short enough that an
    // exclusive holder is reported at once.
    let busy_timeout = match sharing {
        Sharing::Shared => Duration::from_secs(5),
        Sharing::Exclusive => Duration::from_millis(500),
    };
    connection.busy_timeout(busy_timeout).map_err(open_error)?;
    let busy_or = |cause: rusqlite::Error| match cause.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            OpenError::Busy {
                path: path.clone(),
                role,
            }
        }
        _ => OpenError::Open {
            path: path.clone(),
            cause,
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
    let mut connection = connection;
    let version = migrate(&mut connection, migrations).map_err(busy_or)?;
    if version > migrations.len() && !migrations.is_empty() {
        return Err(OpenError::TooNew {
            path: path.clone(),
            version,
            known: migrations.len(),
        });
    }
    Ok((connection, path))
}

/// Brings the file's schema up to date: `migrations[i]` takes it from
/// version `i` to `i + 1` (SQLite's `PRAGMA user_version`), all pending
/// steps in one transaction, so a crash leaves the old version or the new
/// one. Returns the version found (a file made by a newer aula is left as
/// it is). A file made before versions were kept says 0: the first step
/// only creates what is missing, so it is safe on such a file too.
fn migrate(connection: &mut Connection, migrations: &[&str]) -> rusqlite::Result<usize> {
    if migrations.is_empty() {
        return Ok(0);
    }
    let transaction =
        connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let found: i64 = transaction.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let found = usize::try_from(found).unwrap_or(0);
    for step in migrations.iter().skip(found) {
        transaction.execute_batch(step)?;
    }
    if found < migrations.len() {
        transaction.pragma_update(None, "user_version", migrations.len() as i64)?;
    }
    transaction.commit()?;
    Ok(found)
}
