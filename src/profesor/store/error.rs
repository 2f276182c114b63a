//! Why Profesor's store (the count, the class list, the shared events)
//! could not do what it was asked: one error for every backend, whose
//! variants callers branch on (never on its text).

use std::io;

use crate::sqlite_file::OpenError;

/// Entries the class list may hold.
pub const MAX_ESTUDIANTES: u64 = 100_000;

/// Why the store could not be opened, read or changed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The SQLite file could not be opened (at start).
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("no se pudo guardar el conteo: {0}")]
    Write(String),
    #[error("no se pudo leer el conteo: {0}")]
    Read(String),
    #[error("la base de datos {target} no está disponible: {detail}")]
    Database { target: String, detail: String },
    #[error("el contador se está cerrando")]
    Closed,
    /// A client's mistake, not the store's: the key already counted
    /// another amount.
    #[error("esa Idempotency-Key ya contó {counted}; no se puede usar para contar {asked}")]
    KeyReused { counted: u64, asked: u64 },
    /// A client's request the store refuses: the list holds
    /// [`MAX_ESTUDIANTES`] already.
    #[error("lista llena: {MAX_ESTUDIANTES} estudiantes")]
    ListFull,
}

impl From<StoreError> for io::Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Open(open) => open.into(),
            other => io::Error::other(other.to_string()),
        }
    }
}
