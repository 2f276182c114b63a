//! Telling Profesor, off the student's critical path, how many forwarded
//! questions got a real answer.
//!
//! Answers are recorded in the [`Ledger`] (a counter, kept on disk with a
//! data folder); one task sends `POST /preguntas` while it is above zero,
//! retrying with backoff while Profesor is down.
//! The first POST carries no body, as the notebook's does; when Profesor's
//! reply shows it is aula's (it has `total`), later POSTs send everything
//! pending at once as `{"cantidad": k}`. A Profesor written from the
//! notebook gets one POST per answer, so its count is right too. Each report
//! carries an `Idempotency-Key`, reused when the report is retried.
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
use tokio::time::{sleep, sleep_until, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::ledger::{Ledger, Report};
use crate::profesor::client::ProfesorError;
use crate::profesor::routes::MAX_CANTIDAD;
use crate::profesor::ProfesorClient;
use crate::retry;
use crate::telemetry::{self, LogBudget, QuestionId};

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
    names: Mutex<ReportNames>,
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
            names: Mutex::new(ReportNames::new(ledger_pending)),
            overflow_log: LogBudget::new(telemetry::LINES_PER_SECOND),
        }
    }

    /// Records the questions `answered` (with a real answer), as far as
    /// the queue has room; the rest are dropped, counted and logged.
    pub fn record(&self, answered: &[QuestionId]) {
        let mut names = self.lock_names();
        let queued = self.ledger.add(answered.len() as u64, self.limit);
        names.push(&answered[..queued as usize]);
        drop(names);
        let answered = answered.len() as u64;
        if queued > 0 {
            // Stores a permit if the task is busy, so no record is missed.
            self.wake.notify_one();
        }
        let overflow = answered - queued;
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

    fn lock_names(&self) -> std::sync::MutexGuard<'_, ReportNames> {
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

    async fn deliver(
        &self,
        profesor: &ProfesorClient,
        flush_timeout: Duration,
        shutdown: &CancellationToken,
    ) {
        let mut batching = false;
        // Set once Profesor refused a batch: from then on, one per POST.
        let mut refuses_batches = false;
        // Every report carries a key unique to this process and report; a
        // report not acknowledged is retried as it was (same key, same
        // cantidad, even after a restart: the ledger keeps it), so a report
        // that reached Profesor but whose reply was lost is not counted
        // twice.
        let instance = format!("{:016x}", rand::random::<u64>());
        let mut reports = 0u64;
        let mut backoff = retry::backoff();
        let mut failures = 0u64;
        let mut flush_deadline: Option<Instant> = None;
        // What the report being sent is called in `X-Request-Id`.
        let mut in_flight_names: Option<String> = None;
        // When the next batched report may go (see REPORT_PACE).
        let mut next_report_at: Option<Instant> = None;
        loop {
            if flush_deadline.is_none() && shutdown.is_cancelled() {
                flush_deadline = Some(Instant::now() + flush_timeout);
            }
            let pending = self.pending();
            if pending == 0 {
                if flush_deadline.is_some() {
                    return;
                }
                tokio::select! {
                    () = self.wake.notified() => continue,
                    () = shutdown.cancelled() => continue,
                }
            }
            if flush_deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                warn!("Docencio se detiene con {pending} avisos a Profesor sin entregar");
                return;
            }
            if let Some(pace) = next_report_at.take() {
                // Answers keep adding up meanwhile and go in the next report.
                if flush_deadline.is_none() {
                    tokio::select! {
                        () = sleep_until(pace) => {}
                        () = shutdown.cancelled() => {}
                    }
                    continue;
                }
            }
            let (report, request_id) = match self.ledger.report() {
                // A report in flight: retried with the names it was given.
                Some(report) => {
                    let request_id = in_flight_names
                        .clone()
                        .unwrap_or_else(|| report.key.clone());
                    (report, request_id)
                }
                None => {
                    reports += 1;
                    let report = Report {
                        key: format!("docencio-{instance}-{reports}"),
                        cantidad: if batching {
                            pending.min(MAX_CANTIDAD)
                        } else {
                            1
                        },
                    };
                    let request_id = self.lock_names().take(report.cantidad, &report.key);
                    in_flight_names = Some(request_id.clone());
                    self.ledger.begin(report.clone()).await;
                    (report, request_id)
                }
            };
            let sent_at = Instant::now();
            match profesor
                .contar(report.cantidad, Some(&report.key), Some(&request_id))
                .await
            {
                Ok(conteo) => {
                    // A Profesor without `total` ignores the body and counted
                    // one, whatever we asked (it may have been swapped for the
                    // notebook's since the last reply).
                    batching = conteo.total.is_some() && !refuses_batches;
                    let counted = if batching { report.cantidad } else { 1 };
                    if batching {
                        next_report_at = Some(sent_at + REPORT_PACE);
                    }
                    self.ledger.acknowledged(counted);
                    in_flight_names = None;
                    if counted < report.cantidad {
                        // The rest are owed again, ahead of the named ones.
                        self.lock_names().forget(self.pending());
                    }
                    if failures > 0 {
                        info!("Profesor vuelve a responder en {}", profesor.base_url());
                    }
                    failures = 0;
                    backoff = retry::backoff();
                    if telemetry::budget().allow() {
                        info!("Contador de preguntas actualizado: {}", conteo.texto);
                    }
                }
                Err(ProfesorError::Status(status))
                    if batching && report.cantidad > 1 && is_refusal(status) =>
                {
                    // A Profesor that has `total` but refuses bodies: it
                    // counted nothing, so the answers are sent one by one
                    // (bodyless, as the notebook does) under new keys.
                    warn!(
                        "Profesor rechazó un aviso con cantidad {} (HTTP {status}); se avisa de a una respuesta",
                        report.cantidad
                    );
                    self.ledger.abandon();
                    in_flight_names = None;
                    self.lock_names().forget(self.pending());
                    batching = false;
                    refuses_batches = true;
                }
                Err(err) => {
                    failures += 1;
                    let delay = backoff.next().unwrap_or(retry::MAX_RETRY_DELAY);
                    if retry::worth_reporting(failures) {
                        warn!(
                            "Error al conectar con el profesor en {} ({err}); {pending} avisos pendientes, reintentando",
                            profesor.base_url()
                        );
                    }
                    let until = match flush_deadline {
                        Some(deadline) => deadline.min(Instant::now() + delay),
                        None => Instant::now() + delay,
                    };
                    tokio::select! {
                        () = sleep(until.saturating_duration_since(Instant::now())) => {}
                        () = shutdown.cancelled(), if flush_deadline.is_none() => {}
                    }
                }
            }
        }
    }
}

/// Least time between the starts of two batched reports. Sending the next
/// report as soon as the last was acknowledged made about 640 POSTs a
/// second in a busy class (each a committed transaction at Profesor and
/// two in the ledger), for a count nobody reads that often; paced, a busy
/// class sends at most 100 a second, and the count trails the answers by
/// about 10 ms more. A Profesor written from the notebook (one POST per
/// answer) is never paced.
pub const REPORT_PACE: Duration = Duration::from_millis(10);

/// Ids named in one report's `X-Request-Id`; a bigger report names these
/// and says how many more it covers.
pub const NAMES_PER_REPORT: usize = 16;

/// The ids of the oldest answers owed to Profesor, so that a report names
/// the questions it counts and `grep` finds them in Profesor's log.
///
/// Invariant: the answers owed and not yet in a report are `named` (oldest
/// first) followed by `unnamed` answers without a known id. Only
/// [`NAMES_PER_REPORT`] are kept; once one is left out, later answers are
/// not named either until everything owed has been reported, so a name is
/// never given to the wrong answer.
#[derive(Debug)]
struct ReportNames {
    named: VecDeque<QuestionId>,
    unnamed: u64,
}

impl ReportNames {
    fn new(unnamed: u64) -> Self {
        ReportNames {
            named: VecDeque::new(),
            unnamed,
        }
    }

    fn push(&mut self, answered: &[QuestionId]) {
        for &id in answered {
            if self.unnamed == 0 && self.named.len() < NAMES_PER_REPORT {
                self.named.push_back(id);
            } else {
                self.unnamed += 1;
            }
        }
    }

    /// The `X-Request-Id` of a report of the `cantidad` oldest answers:
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

    /// After a report counted less than it covered, the rest is owed again
    /// ahead of the named answers: the names no longer line up.
    fn forget(&mut self, owed: u64) {
        self.named.clear();
        self.unnamed = owed;
    }
}

/// A 4xx that says "this request will never be accepted" (not a timeout or
/// rate limit, which are worth retrying as they are).
fn is_refusal(status: u16) -> bool {
    (400..500).contains(&status) && status != 408 && status != 429
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(numbers: std::ops::RangeInclusive<u64>) -> Vec<QuestionId> {
        let client = "127.0.0.1:5000".parse().unwrap();
        numbers
            .map(|number| QuestionId { client, number })
            .collect()
    }

    #[test]
    fn a_report_names_the_answers_it_counts() {
        let mut names = ReportNames::new(0);
        names.push(&ids(1..=3));
        assert_eq!(names.take(1, "k1"), "127.0.0.1:5000#1");
        assert_eq!(names.take(2, "k2"), "127.0.0.1:5000#2, 127.0.0.1:5000#3");
        assert_eq!(names.take(1, "k3"), "k3", "nothing named is owed");
    }

    #[test]
    fn past_the_cap_names_stop_until_everything_is_reported() {
        let cap = NAMES_PER_REPORT as u64;
        let mut names = ReportNames::new(0);
        names.push(&ids(1..=cap + 4));
        // One by one (the notebook's Profesor): named, then unnamed.
        for n in 1..=cap {
            assert_eq!(names.take(1, "k"), format!("127.0.0.1:5000#{n}"));
        }
        // Answer cap+5 comes while 4 unnamed ones are still owed.
        names.push(&ids(cap + 5..=cap + 5));
        for _ in 0..5 {
            assert_eq!(names.take(1, "k"), "k");
        }
        // All reported: naming resumes; a big batch names its first ids.
        names.push(&ids(101..=100 + cap + 3));
        let named = names.take(cap + 3, "k");
        assert!(named.starts_with("127.0.0.1:5000#101, "), "{named}");
        assert!(
            named.ends_with(&format!("127.0.0.1:5000#{} +3", 100 + cap)),
            "{named}"
        );
    }

    #[test]
    fn answers_left_by_a_previous_run_are_never_named() {
        let mut names = ReportNames::new(2);
        names.push(&ids(1..=1));
        assert_eq!(names.take(2, "k"), "k");
        assert_eq!(names.take(1, "k"), "k");
        names.push(&ids(2..=2));
        assert_eq!(names.take(1, "k"), "127.0.0.1:5000#2");
    }

    #[test]
    fn answers_past_the_bound_are_dropped_and_counted_never_silently() {
        let notifier = Notifier::new(Ledger::in_memory(), 5);
        notifier.record(&ids(1..=3));
        notifier.record(&ids(4..=7));
        assert_eq!(notifier.pending(), 5);
        assert_eq!(notifier.dropped(), 2);
        notifier.ledger.acknowledged(2);
        notifier.record(&ids(8..=8));
        assert_eq!((notifier.pending(), notifier.dropped()), (4, 2));
    }
}
