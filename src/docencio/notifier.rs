//! Telling Profesor, off the student's critical path, how many forwarded
//! questions got a real answer.
//!
//! Answers are recorded in the [`Ledger`] (a counter, kept on disk with a
//! data folder); one task sends notices (`POST /preguntas`) while it is
//! above zero, by the rules of [`Delivery`](super::delivery): bodyless
//! first, batched `{"cantidad": k}` for an aula Profesor, one per answer for
//! the notebook's, each with an `Idempotency-Key` reused on retry, retried
//! with backoff while Profesor is down.
//!
//! The queue is a number, so its memory is constant; it is still bounded
//! (`--max-pending-notifications`) so that what a long Profesor outage can
//! owe is a choice. Answers past the bound are not counted: each overflow
//! is logged and the running total of dropped notifications is kept.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::delivery::{Delivery, Failed, Replied};
use super::ledger::{Ledger, Notice};
use crate::api::{CountReply, ProfesorClient, ProfesorError};
use crate::question_line;
use crate::telemetry::{self, for_log, LogBudget, QuestionId};

/// Answers not yet reported to Profesor.
#[derive(Debug)]
pub struct Notifier {
    ledger: Arc<Ledger>,
    /// Most answers owed to Profesor at once.
    limit: u64,
    /// Answers that found the queue full and will never be counted.
    dropped: AtomicU64,
    wake: Notify,
    /// The ids of the oldest answers owed, to name them to Profesor.
    names: Mutex<NoticeNames>,
    /// Overflow warnings have their own allowance, so that busy
    /// per-question lines never hide the running total of lost answers.
    overflow_log: LogBudget,
}

impl Notifier {
    /// Starts the sending task on `tasks`, reporting what `ledger` holds
    /// (perhaps left by a previous run). After `shutdown` it keeps trying
    /// for `flush_timeout`, then saves what it could not deliver.
    pub fn start(
        profesor: ProfesorClient,
        ledger: Arc<Ledger>,
        limit: u64,
        flush_timeout: Duration,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> Arc<Self> {
        let notifier = Arc::new(Notifier::new(ledger, limit));
        tasks.spawn(
            notifier
                .clone()
                .send_loop(profesor, flush_timeout, shutdown),
        );
        notifier
    }

    fn new(ledger: Arc<Ledger>, limit: u64) -> Self {
        // Left by a previous run: counted, but nobody knows their ids.
        let ledger_pending = ledger.pending();
        Notifier {
            ledger,
            limit: limit.max(1),
            dropped: AtomicU64::new(0),
            wake: Notify::new(),
            names: Mutex::new(NoticeNames::new(ledger_pending)),
            overflow_log: LogBudget::new(telemetry::LINES_PER_SECOND),
        }
    }

    /// Records the questions `answered` (with a real answer), as far as
    /// the queue has room; the rest are dropped, counted and logged.
    pub fn record<I>(&self, answered: I)
    where
        I: Iterator<Item = QuestionId> + Clone,
    {
        let answered_count = answered.clone().count() as u64;
        if answered_count == 0 {
            return;
        }
        let mut names = self.lock_names();
        let queued = self.ledger.add(answered_count, self.limit);
        names.push(answered.take(queued as usize));
        drop(names);
        if queued > 0 {
            // Stores a permit if the task is busy, so no record is missed.
            self.wake.notify_one();
        }
        let overflow = answered_count - queued;
        if overflow > 0 {
            let before = self.dropped.fetch_add(overflow, Ordering::AcqRel);
            // Always the first; later ones within the log budget, each
            // with the running total, so the last line seen is current.
            if before == 0 || self.overflow_log.allow() {
                warn!(
                    "Cola de avisos a Profesor llena ({} pendientes): {} respuesta(s) no se contarán ({} en total)",
                    self.limit,
                    overflow,
                    before + overflow
                );
            }
        }
    }

    fn lock_names(&self) -> std::sync::MutexGuard<'_, NoticeNames> {
        // Names are labels for log lines; a poisoned lock still holds usable ones.
        self.names.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers that found the queue full: Profesor will never count them.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Acquire)
    }

    /// Answers recorded but not yet acknowledged by Profesor.
    pub fn pending(&self) -> u64 {
        self.ledger.pending()
    }

    async fn send_loop(
        self: Arc<Self>,
        profesor: ProfesorClient,
        flush_timeout: Duration,
        shutdown: CancellationToken,
    ) {
        self.deliver(&profesor, flush_timeout, &shutdown).await;
        // Whatever is still owed is on disk (with a data folder) for the
        // next run.
        self.ledger.close().await;
    }

    /// Sends notices while answers are owed, by the rules of [`Delivery`],
    /// until `shutdown`; then keeps at it for `flush_timeout` at most, a
    /// notice in flight included.
    async fn deliver(
        &self,
        profesor: &ProfesorClient,
        flush_timeout: Duration,
        shutdown: &CancellationToken,
    ) {
        let mut rules = Delivery::new();
        let mut clock = StopClock::new(shutdown, flush_timeout);
        // What the notice in flight is called in `X-Request-Id`.
        let mut in_flight_names: Option<String> = None;
        loop {
            let pending = self.pending();
            if pending == 0 {
                if clock.stopping() {
                    return;
                }
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = shutdown.cancelled() => {}
                }
                continue;
            }
            if clock.passed() {
                return self.say_what_is_left();
            }
            if let Some(pace) = rules.take_pace() {
                // Answers keep adding up meanwhile and go in the next notice.
                if !clock.stopping() {
                    tokio::select! {
                        () = sleep_until(pace) => {}
                        () = shutdown.cancelled() => {}
                    }
                    continue;
                }
            }
            let (notice, request_id) = self
                .notice_to_send(&mut rules, pending, &mut in_flight_names)
                .await;
            let sent_at = Instant::now();
            let sent = tokio::select! {
                sent = profesor.count(notice.cantidad, Some(&notice.key), Some(&request_id)) => sent,
                // Still unanswered when a stopping Docencio must go: the
                // notice stays in the ledger, retried under its key.
                () = clock.expired() => return self.say_what_is_left(),
            };
            match sent {
                Ok(reply) => {
                    in_flight_names = None;
                    let replied = rules.replied(&notice, reply.total.is_some(), sent_at);
                    self.counted(profesor, &notice, &replied, &reply);
                }
                Err(err) => match rules.failed(&notice, &err) {
                    Failed::Abandon => {
                        warn!(
                            "Profesor rechazó un aviso con cantidad {} ({err}); se avisa de a una respuesta",
                            notice.cantidad
                        );
                        in_flight_names = None;
                        self.abandon();
                    }
                    Failed::Retry { delay, log } => {
                        let stopping = clock.stopping();
                        if log {
                            self.say_failed(profesor, &err, stopping);
                        }
                        tokio::select! {
                            () = tokio::time::sleep(delay) => {}
                            () = clock.expired() => return self.say_what_is_left(),
                            // Stopping now: try at once, within the flush time.
                            () = shutdown.cancelled(), if !stopping => {}
                        }
                    }
                },
            }
        }
    }

    /// Profesor took `notice` and counted `replied.counted` of it.
    fn counted(
        &self,
        profesor: &ProfesorClient,
        notice: &Notice,
        replied: &Replied,
        reply: &CountReply,
    ) {
        self.ledger.acknowledged(replied.counted);
        if replied.counted < notice.cantidad {
            // The rest are owed again, ahead of the named ones.
            self.lock_names().forget(self.pending());
        }
        if replied.recovered {
            info!("Profesor vuelve a responder en {}", profesor.base_url());
        }
        question_line!(
            info,
            "Contador de preguntas actualizado: {}",
            for_log(&reply.texto)
        );
    }

    /// Says that a notice failed with `err` and will be tried again.
    fn say_failed(&self, profesor: &ProfesorClient, err: &ProfesorError, stopping: bool) {
        if matches!(err, ProfesorError::Status(401 | 403)) {
            warn!(
                "Profesor en {} rechaza los avisos ({err}): pide un token y este Docencio no tiene el suyo (--token / AULA_TOKEN); {} avisos pendientes esperan",
                profesor.base_url(),
                self.pending()
            );
        } else if !stopping {
            warn!(
                "Error al conectar con el profesor en {} ({err}); {} avisos pendientes, reintentando",
                profesor.base_url(),
                self.pending()
            );
        } else {
            // The line at the end says what was left.
            info!(
                "Profesor no responde en {} ({err}); se reintenta mientras Docencio se detiene",
                profesor.base_url()
            );
        }
    }

    /// The notice to send now: the one in flight (retried as it was, with
    /// the names it was given), or a new one, saved before it is sent.
    async fn notice_to_send(
        &self,
        rules: &mut Delivery,
        pending: u64,
        in_flight_names: &mut Option<String>,
    ) -> (Notice, String) {
        if let Some(notice) = self.ledger.notice() {
            let request_id = in_flight_names
                .clone()
                .unwrap_or_else(|| notice.key.clone());
            return (notice, request_id);
        }
        let notice = rules.next_notice(pending);
        let request_id = self.lock_names().take(notice.cantidad, &notice.key);
        *in_flight_names = Some(request_id.clone());
        self.ledger.begin(notice.clone()).await;
        (notice, request_id)
    }

    /// A stopping Docencio's last word on what Profesor was not told.
    fn say_what_is_left(&self) {
        let pending = self.pending();
        if self.ledger.is_on_disk() {
            warn!("Docencio se detiene con {pending} respuestas sin avisar a Profesor: quedan guardadas y se avisan cuando Docencio vuelva a arrancar con la misma carpeta de datos");
        } else {
            warn!("Docencio se detiene con {pending} respuestas sin avisar a Profesor, que no las contará (sin --data-dir no se guardan)");
        }
    }

    /// Profesor counted nothing of the notice in flight: its answers are
    /// owed again, without names.
    fn abandon(&self) {
        self.ledger.abandon();
        self.lock_names().forget(self.pending());
    }
}

/// When a stopping Docencio gives up telling Profesor: `flush_timeout`
/// after `shutdown`.
struct StopClock<'a> {
    shutdown: &'a CancellationToken,
    flush_timeout: Duration,
    deadline: Option<Instant>,
}

impl<'a> StopClock<'a> {
    fn new(shutdown: &'a CancellationToken, flush_timeout: Duration) -> Self {
        StopClock {
            shutdown,
            flush_timeout,
            deadline: None,
        }
    }

    fn stopping(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// The deadline, once Docencio is stopping; set the first time it is asked.
    fn deadline(&mut self) -> Option<Instant> {
        if self.deadline.is_none() && self.stopping() {
            self.deadline = Some(Instant::now() + self.flush_timeout);
        }
        self.deadline
    }

    fn passed(&mut self) -> bool {
        self.deadline()
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// Resolves when the deadline has passed (never, unless stopping).
    async fn expired(&mut self) {
        self.shutdown.cancelled().await;
        if let Some(deadline) = self.deadline() {
            sleep_until(deadline).await;
        }
    }
}

/// Ids named in one notice's `X-Request-Id`; a bigger notice names these
/// and says how many more it covers.
pub const NAMES_PER_NOTICE: usize = 16;

/// The ids of the oldest answers owed to Profesor, so that a notice names
/// the questions it counts and `grep` finds them in Profesor's log.
///
/// Invariant: the answers owed and not yet in a notice are `named` (oldest
/// first) followed by `unnamed` answers without a known id. Only
/// [`NAMES_PER_NOTICE`] are kept; once one is left out, later answers are
/// not named either until everything owed has been reported, so a name is
/// never given to the wrong answer.
#[derive(Debug)]
struct NoticeNames {
    named: VecDeque<QuestionId>,
    unnamed: u64,
}

impl NoticeNames {
    fn new(unnamed: u64) -> Self {
        NoticeNames {
            named: VecDeque::new(),
            unnamed,
        }
    }

    fn push(&mut self, answered: impl Iterator<Item = QuestionId>) {
        for id in answered {
            if self.unnamed == 0 && self.named.len() < NAMES_PER_NOTICE {
                self.named.push_back(id);
            } else {
                self.unnamed += 1;
            }
        }
    }

    /// The `X-Request-Id` of a notice of the `cantidad` oldest answers:
    /// their ids, with `+N` for those without one, or `key` alone.
    fn take(&mut self, cantidad: u64, key: &str) -> String {
        let named = (cantidad as usize).min(self.named.len());
        let ids: Vec<String> = self.named.drain(..named).map(|id| id.to_string()).collect();
        let rest = cantidad - named as u64;
        self.unnamed = self.unnamed.saturating_sub(rest);
        match (ids.is_empty(), rest) {
            (true, _) => key.to_owned(),
            (false, 0) => ids.join(", "),
            (false, rest) => format!("{} +{rest}", ids.join(", ")),
        }
    }

    /// After a notice counted less than it covered, the rest is owed again
    /// ahead of the named answers: the names no longer line up.
    fn forget(&mut self, owed: u64) {
        self.named.clear();
        self.unnamed = owed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(numbers: std::ops::RangeInclusive<u64>) -> impl Iterator<Item = QuestionId> + Clone {
        let client = "127.0.0.1:5000".parse().unwrap();
        numbers.map(move |number| QuestionId { client, number })
    }

    #[test]
    fn a_notice_names_the_answers_it_counts() {
        let mut names = NoticeNames::new(0);
        names.push(ids(1..=3));
        assert_eq!(names.take(1, "k1"), "127.0.0.1:5000#1");
        assert_eq!(names.take(2, "k2"), "127.0.0.1:5000#2, 127.0.0.1:5000#3");
        assert_eq!(names.take(1, "k3"), "k3", "nothing named is owed");
    }

    #[test]
    fn past_the_cap_names_stop_until_everything_is_reported() {
        let cap = NAMES_PER_NOTICE as u64;
        let mut names = NoticeNames::new(0);
        names.push(ids(1..=cap + 4));
        // One by one (the notebook's Profesor): named, then unnamed.
        for n in 1..=cap {
            assert_eq!(names.take(1, "k"), format!("127.0.0.1:5000#{n}"));
        }
        // Answer cap+5 comes while 4 unnamed ones are still owed.
        names.push(ids(cap + 5..=cap + 5));
        for _ in 0..5 {
            assert_eq!(names.take(1, "k"), "k");
        }
        // All reported: naming resumes; a big batch names its first ids.
        names.push(ids(101..=100 + cap + 3));
        let named = names.take(cap + 3, "k");
        assert!(named.starts_with("127.0.0.1:5000#101, "), "{named}");
        assert!(
            named.ends_with(&format!("127.0.0.1:5000#{} +3", 100 + cap)),
            "{named}"
        );
    }

    #[test]
    fn answers_left_by_a_previous_run_are_never_named() {
        let mut names = NoticeNames::new(2);
        names.push(ids(1..=1));
        assert_eq!(names.take(2, "k"), "k");
        assert_eq!(names.take(1, "k"), "k");
        names.push(ids(2..=2));
        assert_eq!(names.take(1, "k"), "127.0.0.1:5000#2");
    }

    #[test]
    fn answers_past_the_bound_are_dropped_and_counted_never_silently() {
        let notifier = Notifier::new(Ledger::in_memory(), 5);
        notifier.record(ids(1..=3));
        notifier.record(ids(4..=7));
        assert_eq!(notifier.pending(), 5);
        assert_eq!(notifier.dropped(), 2);
        notifier.ledger.acknowledged(2);
        notifier.record(ids(8..=8));
        assert_eq!((notifier.pending(), notifier.dropped()), (4, 2));
    }
}
