//! The rules of telling Profesor how many answers to count, without any
//! I/O, so that each is tested on its own: the [`notifier`](super::notifier)
//! asks [`Delivery`] what to send and tells it what came back.
//!
//! - **Probing, then batching.** The first notice counts one answer and
//!   carries no body, as the notebook's does. A reply with a numeric
//!   `total` shows an aula Profesor, which counts `{"cantidad": k}`: from
//!   then on a notice carries everything owed (up to [`MAX_CANTIDAD`]). A
//!   reply without `total` (a Profesor written from the notebook, perhaps
//!   swapped in since the last reply) counted exactly one, whatever was
//!   asked.
//! - **Idempotency.** Every notice has a key unique to this process and
//!   notice; a notice not acknowledged is retried as it was (same key, same
//!   cantidad; the ledger keeps it across restarts), so one that reached
//!   Profesor but whose reply was lost is not counted twice.
//! - **Fallback.** A Profesor that has `total` but refuses a batch outright
//!   (a 4xx other than 408/429) counted nothing: the notice is abandoned and
//!   answers go one per notice from then on.
//! - **Retry.** Any other failure is retried with capped backoff; the first
//!   failure and every 30th are worth a log line.
//! - **Pacing.** Batched notices start at least [`NOTICE_PACE`] apart.

use std::time::Duration;

use tokio::time::Instant;

use super::ledger::Notice;
use crate::api::{ProfesorError, MAX_CANTIDAD};
use crate::retry;

/// Least time between the starts of two batched notices. Sent as soon as
/// the last was acknowledged, notices came hundreds of times a second in a
/// busy class (each a committed transaction at Profesor and two in the
/// ledger), for a count nobody reads that often; paced, a busy class sends
/// at most 100 a second, and the count trails the answers by about 10 ms
/// more. A Profesor written from the notebook (one POST per answer)
/// is never paced.
pub const NOTICE_PACE: Duration = Duration::from_millis(10);

/// What Profesor is known to understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not known yet, or the notebook's: one answer per bodyless notice.
    OneAtATime,
    /// An aula Profesor: everything owed in one notice.
    Batching,
    /// Refused a batch once: one answer per notice for good.
    RefusesBatches,
}

/// What a reply to a notice means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replied {
    /// Answers Profesor counted with it.
    pub counted: u64,
    /// The first reply after one or more failures.
    pub recovered: bool,
}

/// What to do after a notice failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// Profesor refused the batch and counted nothing: drop the notice (its
    /// answers stay owed) and go on one answer at a time.
    Abandon,
    /// Try the same notice again after `delay`; `log` when this failure is
    /// worth a line.
    Retry { delay: Duration, log: bool },
}

/// The state of delivering notices to one Profesor.
pub struct Delivery {
    /// Unique to this process: keys of two Docencio runs never collide.
    instance: String,
    notices: u64,
    mode: Mode,
    failures: u64,
    backoff: Box<dyn Iterator<Item = Duration> + Send>,
    /// When the next batched notice may start.
    paced_until: Option<Instant>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("instance", &self.instance)
            .field("notices", &self.notices)
            .field("mode", &self.mode)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

impl Default for Delivery {
    fn default() -> Self {
        Self::new()
    }
}

impl Delivery {
    pub fn new() -> Self {
        Delivery {
            instance: format!("{:016x}", rand::random::<u64>()),
            notices: 0,
            mode: Mode::OneAtATime,
            failures: 0,
            backoff: Box::new(retry::backoff()),
            paced_until: None,
        }
    }

    /// The next notice for `pending` answers owed (at least one).
    pub fn next_notice(&mut self, pending: u64) -> Notice {
        self.notices += 1;
        let cantidad = match self.mode {
            Mode::Batching => pending.clamp(1, MAX_CANTIDAD),
            Mode::OneAtATime | Mode::RefusesBatches => 1,
        };
        Notice {
            key: format!("docencio-{}-{}", self.instance, self.notices),
            cantidad,
        }
    }

    /// When the next notice may start, if pacing holds it back; taken, so
    /// it holds back one notice only.
    pub fn take_pace(&mut self) -> Option<Instant> {
        self.paced_until.take()
    }

    /// Profesor acknowledged `notice`, sent at `sent_at`; `total_known`:
    /// its reply carried the numeric `total`.
    pub fn replied(&mut self, notice: &Notice, total_known: bool, sent_at: Instant) -> Replied {
        self.mode = match (self.mode, total_known) {
            (Mode::RefusesBatches, _) => Mode::RefusesBatches,
            (_, true) => Mode::Batching,
            (_, false) => Mode::OneAtATime,
        };
        let counted = if self.mode == Mode::Batching {
            self.paced_until = Some(sent_at + NOTICE_PACE);
            notice.cantidad
        } else {
            1
        };
        let recovered = self.failures > 0;
        self.failures = 0;
        self.backoff = Box::new(retry::backoff());
        Replied { counted, recovered }
    }

    /// Sending `notice` failed with `error`.
    pub fn failed(&mut self, notice: &Notice, error: &ProfesorError) -> Failed {
        let refused = matches!(error, ProfesorError::Status(status) if is_refusal(*status));
        if refused && self.mode == Mode::Batching && notice.cantidad > 1 {
            self.mode = Mode::RefusesBatches;
            return Failed::Abandon;
        }
        self.failures += 1;
        Failed::Retry {
            delay: self.backoff.next().unwrap_or(retry::MAX_RETRY_DELAY),
            log: retry::worth_reporting(self.failures),
        }
    }
}

/// A 4xx that says "this request will never be accepted" (not a timeout or
/// rate limit, which are worth retrying as they are).
fn is_refusal(status: u16) -> bool {
    // 401/403: a token missing or wrong, not a batch Profesor cannot take;
    // the notice waits, as it is, for the token to be fixed.
    (400..500).contains(&status) && !matches!(status, 401 | 403 | 408 | 429)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Instant {
        Instant::now()
    }

    #[test]
    fn starts_with_one_bodyless_answer_then_batches_for_a_profesor_with_total() {
        let mut delivery = Delivery::new();
        let first = delivery.next_notice(40);
        assert_eq!(first.cantidad, 1);
        assert_eq!(delivery.replied(&first, true, now()).counted, 1);
        let batch = delivery.next_notice(39);
        assert_eq!(batch.cantidad, 39);
        assert_eq!(delivery.replied(&batch, true, now()).counted, 39);
        assert_eq!(delivery.next_notice(5_000_000).cantidad, MAX_CANTIDAD);
    }

    #[test]
    fn a_reply_without_total_counted_one_whatever_was_asked() {
        let mut delivery = Delivery::new();
        let first = delivery.next_notice(3);
        delivery.replied(&first, true, now());
        let batch = delivery.next_notice(3);
        assert!(delivery.take_pace().is_some());
        // Profesor was swapped for the notebook's meanwhile.
        let replied = delivery.replied(&batch, false, now());
        assert_eq!(replied.counted, 1);
        assert_eq!(delivery.next_notice(2).cantidad, 1);
        assert_eq!(delivery.take_pace(), None, "one at a time is never paced");
    }

    #[test]
    fn every_notice_has_its_own_key_and_two_runs_never_share_one() {
        let mut delivery = Delivery::new();
        let keys: Vec<String> = (0..3).map(|_| delivery.next_notice(1).key).collect();
        assert_eq!(keys.len(), 3);
        assert!(keys[0] != keys[1] && keys[1] != keys[2]);
        assert!(keys.iter().all(|key| key.starts_with("docencio-")));
        assert_ne!(Delivery::new().next_notice(1).key, keys[0]);
    }

    #[test]
    fn a_refused_batch_is_abandoned_and_answers_go_one_by_one_for_good() {
        let mut delivery = Delivery::new();
        let first = delivery.next_notice(10);
        delivery.replied(&first, true, now());
        let batch = delivery.next_notice(9);
        assert_eq!(
            delivery.failed(&batch, &ProfesorError::Status(400)),
            Failed::Abandon
        );
        let single = delivery.next_notice(9);
        assert_eq!(single.cantidad, 1);
        delivery.replied(&single, true, now());
        assert_eq!(delivery.next_notice(8).cantidad, 1);
    }

    #[test]
    fn a_refused_single_answer_and_other_failures_are_retried_as_they_are() {
        let mut delivery = Delivery::new();
        let single = delivery.next_notice(1);
        for error in [
            ProfesorError::Status(400),
            ProfesorError::Status(503),
            ProfesorError::Status(429),
            ProfesorError::Status(401),
            ProfesorError::Unreachable,
            ProfesorError::Timeout(Duration::from_secs(1)),
        ] {
            assert!(
                matches!(delivery.failed(&single, &error), Failed::Retry { .. }),
                "{error}"
            );
        }
        // Timeouts and rate limits are retried even when batching.
        let mut batching = Delivery::new();
        let first = batching.next_notice(5);
        batching.replied(&first, true, now());
        let batch = batching.next_notice(5);
        assert!(matches!(
            batching.failed(&batch, &ProfesorError::Status(408)),
            Failed::Retry { .. }
        ));
    }

    #[test]
    fn retries_back_off_up_to_the_cap_and_log_the_first_and_every_thirtieth() {
        let mut delivery = Delivery::new();
        let notice = delivery.next_notice(1);
        let mut logged = Vec::new();
        for failure in 1..=60u64 {
            let Failed::Retry { delay, log } =
                delivery.failed(&notice, &ProfesorError::Unreachable)
            else {
                panic!("retried");
            };
            assert!(delay <= retry::MAX_RETRY_DELAY);
            if log {
                logged.push(failure);
            }
        }
        assert_eq!(logged, [1, 30, 60]);
        let replied = delivery.replied(&notice, true, now());
        assert!(replied.recovered);
        assert!(!delivery.replied(&notice, true, now()).recovered);
    }

    #[test]
    fn batched_notices_are_paced_from_the_start_of_the_last() {
        let mut delivery = Delivery::new();
        let sent_at = now();
        let first = delivery.next_notice(2);
        delivery.replied(&first, true, sent_at);
        assert_eq!(delivery.take_pace(), Some(sent_at + NOTICE_PACE));
        assert_eq!(delivery.take_pace(), None, "holds back one notice only");
    }
}
