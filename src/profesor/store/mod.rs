//! Where Profesor keeps what must outlive it (the count of answered
//! questions and the class list): one trait per thing kept, in files that
//! never name a backend ([`count`], [`roster`]), one error
//! ([`StoreError`]), and two backends that pass the same tests: SQLite under
//! `--data-dir` (the embedded default for a class on one machine,
//! [`sqlite`]) and PostgreSQL with `--database-url` (several Profesors on
//! several hosts with one exact count, [`postgres`]). Handlers see
//! [`Store`], the one chosen at start.

pub mod count;
pub mod error;
pub mod postgres;
pub mod roster;
pub mod sqlite;

use std::path::Path;

pub use count::{CountStore, Counted, REMEMBERED_KEYS};
pub use error::StoreError;
pub use postgres::PostgresCount;
pub use roster::{Estudiante, RosterStore};
pub use sqlite::{SqliteCount, DATABASE_FILE};

/// The store Profesor uses, chosen at start.
#[derive(Debug)]
pub enum Store {
    Sqlite(SqliteCount),
    Postgres(PostgresCount),
}

impl Store {
    /// PostgreSQL at `database_url` when one is given, else SQLite under
    /// `data_dir`.
    pub async fn open(database_url: Option<&str>, data_dir: &Path) -> Result<Self, StoreError> {
        Ok(match database_url {
            Some(url) => Store::Postgres(PostgresCount::connect(url).await?),
            None => Store::Sqlite(SqliteCount::open(data_dir)?),
        })
    }
}

impl CountStore for Store {
    async fn count(&self, cantidad: u64, key: Option<&str>) -> Result<Counted, StoreError> {
        match self {
            Store::Sqlite(store) => store.count(cantidad, key).await,
            Store::Postgres(store) => store.count(cantidad, key).await,
        }
    }

    async fn total(&self) -> Result<u64, StoreError> {
        match self {
            Store::Sqlite(store) => store.total().await,
            Store::Postgres(store) => store.total().await,
        }
    }

    fn is_failing(&self) -> bool {
        match self {
            Store::Sqlite(store) => store.is_failing(),
            Store::Postgres(store) => store.is_failing(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Store::Sqlite(store) => store.describe(),
            Store::Postgres(store) => store.describe(),
        }
    }
}

impl RosterStore for Store {
    async fn list(&self) -> Result<Vec<Estudiante>, StoreError> {
        match self {
            Store::Sqlite(store) => store.list().await,
            Store::Postgres(store) => store.list().await,
        }
    }

    async fn get(&self, nombre: &str) -> Result<Option<Estudiante>, StoreError> {
        match self {
            Store::Sqlite(store) => store.get(nombre).await,
            Store::Postgres(store) => store.get(nombre).await,
        }
    }

    async fn create(&self, estudiante: &Estudiante) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(store) => store.create(estudiante).await,
            Store::Postgres(store) => store.create(estudiante).await,
        }
    }

    async fn put(&self, estudiante: &Estudiante) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(store) => store.put(estudiante).await,
            Store::Postgres(store) => store.put(estudiante).await,
        }
    }

    async fn delete(&self, nombre: &str) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(store) => store.delete(nombre).await,
            Store::Postgres(store) => store.delete(nombre).await,
        }
    }
}
