//! What a place that keeps the count promises: the [`CountStore`] trait,
//! and the tests ([`suite`]) every backend passes.
//!
//! What every backend promises: a count is on disk before it is acknowledged; a
//! repeated `Idempotency-Key` adds nothing and gets the first result; a key
//! reused for another amount is refused; the keys are bounded; a negative
//! or unreadable count is an error, never a silent 0.

use std::future::Future;

use super::error::StoreError;

/// The result of counting answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// The total right after this count (for a repeated key: right after
    /// the first one).
    pub total: u64,
    /// True when the key had been seen: nothing was counted this time.
    pub replayed: bool,
}

/// How many idempotency keys are remembered; the oldest is forgotten first.
/// A retry comes seconds after its first try, and Docencio sends at most
/// 100 notices a second, so this covers many minutes of retries.
pub const REMEMBERED_KEYS: u64 = 100_000;

/// A place the count is kept.
pub trait CountStore: Send + Sync {
    /// Counts `cantidad` answered questions, unless `key` was already used
    /// (then: the first result, or [`StoreError::KeyReused`] for another
    /// amount), and returns the total once it is durable.
    fn count(
        &self,
        cantidad: u64,
        key: Option<&str>,
    ) -> impl Future<Output = Result<Counted, StoreError>> + Send;

    /// The total as last committed, by this or any other Profesor sharing
    /// the store.
    fn total(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// True while writes fail (since the last one failed).
    fn is_failing(&self) -> bool;

    /// What the store is, for log lines and the panel.
    fn describe(&self) -> String;
}

/// The tests every store must pass, run on each backend: SQLite in its
/// unit tests, PostgreSQL in the integration tests (which need a
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
            Err(StoreError::KeyReused {
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
