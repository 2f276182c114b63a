//! Where Profesor keeps the count: one [`CountStore`] trait, two
//! implementations that pass the same tests: SQLite under `--data-dir` (the
//! embedded default for a class on one machine, [`SqliteCount`]) and
//! PostgreSQL with `--database-url` (several Profesors on several hosts
//! with one exact count, [`PostgresCount`]). Handlers see [`AnswerCount`],
//! which is one or the other.
//!
//! What both promise: a count is on disk before it is acknowledged; a
//! repeated `Idempotency-Key` adds nothing and gets the first result; a key
//! reused for another amount is refused; the keys are bounded; a negative
//! or unreadable count is an error, never a silent 0.

use std::future::Future;
use std::io;

use super::postgres_count::PostgresCount;
use super::sqlite_count::SqliteCount;
use crate::store::StoreError;

/// The result of counting answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// The total right after this count (for a repeated key: right after
    /// the first one).
    pub total: u64,
    /// True when the key had been seen: nothing was counted this time.
    pub replayed: bool,
}

/// Why the count could not be opened or changed.
#[derive(Debug, thiserror::Error)]
pub enum CountError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no se pudo guardar el conteo: {0}")]
    Write(String),
    #[error("no se pudo leer el conteo: {0}")]
    Read(String),
    #[error("la base de datos {target} no está disponible: {detail}")]
    Database { target: String, detail: String },
    #[error("el contador se está cerrando")]
    Closed,
    #[error("esa Idempotency-Key ya contó {counted}; no se puede usar para contar {asked}")]
    KeyReused { counted: u64, asked: u64 },
}

impl From<CountError> for io::Error {
    fn from(err: CountError) -> Self {
        match err {
            CountError::Store(store) => store.into(),
            other => io::Error::other(other.to_string()),
        }
    }
}

/// How many idempotency keys are remembered; the oldest is forgotten first.
/// A retry comes seconds after its first try, and Docencio sends at most
/// 100 notices a second, so this covers many minutes of retries.
pub const REMEMBERED_KEYS: u64 = 100_000;

/// A place the count is kept.
pub trait CountStore: Send + Sync {
    /// Counts `cantidad` answered questions, unless `key` was already used
    /// (then: the first result, or [`CountError::KeyReused`] for another
    /// amount), and returns the total once it is durable.
    fn count(
        &self,
        cantidad: u64,
        key: Option<&str>,
    ) -> impl Future<Output = Result<Counted, CountError>> + Send;

    /// The total as last committed, by this or any other Profesor sharing
    /// the store.
    fn total(&self) -> impl Future<Output = Result<u64, CountError>> + Send;

    /// True while writes fail (since the last one failed).
    fn is_failing(&self) -> bool;

    /// What the store is, for log lines and the panel.
    fn describe(&self) -> String;
}

/// The store Profesor uses, chosen at start.
#[derive(Debug)]
pub enum AnswerCount {
    Sqlite(SqliteCount),
    Postgres(PostgresCount),
}

impl CountStore for AnswerCount {
    async fn count(&self, cantidad: u64, key: Option<&str>) -> Result<Counted, CountError> {
        match self {
            AnswerCount::Sqlite(store) => store.count(cantidad, key).await,
            AnswerCount::Postgres(store) => store.count(cantidad, key).await,
        }
    }

    async fn total(&self) -> Result<u64, CountError> {
        match self {
            AnswerCount::Sqlite(store) => store.total().await,
            AnswerCount::Postgres(store) => store.total().await,
        }
    }

    fn is_failing(&self) -> bool {
        match self {
            AnswerCount::Sqlite(store) => store.is_failing(),
            AnswerCount::Postgres(store) => store.is_failing(),
        }
    }

    fn describe(&self) -> String {
        match self {
            AnswerCount::Sqlite(store) => store.describe(),
            AnswerCount::Postgres(store) => store.describe(),
        }
    }
}

/// The tests every store must pass, run on each: [`SqliteCount`] in its
/// unit tests, [`PostgresCount`] in `tests/almacen.rs` (which needs a
/// PostgreSQL server; hence public, and not test-only).
#[doc(hidden)]
pub mod suite {
    use super::*;

    /// `store` starts from 0.
    pub async fn a_repeated_key_gets_the_first_total_and_adds_nothing(store: &impl CountStore) {
        assert_eq!(store.count(3, Some("a")).await.unwrap().total, 3);
        assert_eq!(store.count(1, None).await.unwrap().total, 4);
        let again = store.count(3, Some("a")).await.unwrap();
        assert_eq!(
            again,
            Counted {
                total: 3,
                replayed: true
            }
        );
        assert_eq!(store.total().await.unwrap(), 4);
    }

    /// `store` starts from 0.
    pub async fn a_key_reused_for_another_amount_is_refused(store: &impl CountStore) {
        assert_eq!(store.count(3, Some("k")).await.unwrap().total, 3);
        assert!(matches!(
            store.count(5, Some("k")).await,
            Err(CountError::KeyReused {
                counted: 3,
                asked: 5
            })
        ));
        assert!(store.count(3, Some("k")).await.unwrap().replayed);
        assert_eq!(store.total().await.unwrap(), 3);
    }

    /// `first` and `second` share one count, from 0: 200 concurrent counts
    /// over both, four of them with one key, count 197.
    pub async fn two_stores_on_one_count_are_exact_under_concurrency(
        first: &impl CountStore,
        second: &impl CountStore,
    ) {
        let counts = (0..200u64).map(|i| async move {
            let key = (i % 50 == 0).then_some("shared");
            if i % 2 == 0 {
                first.count(1, key).await
            } else {
                second.count(1, key).await
            }
        });
        futures::future::try_join_all(counts).await.unwrap();
        assert_eq!(first.total().await.unwrap(), 197);
        assert_eq!(second.total().await.unwrap(), 197);
        assert!(!first.is_failing() && !second.is_failing());
    }
}
