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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{sleep, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::ledger::{Ledger, Report};
use crate::profesor::client::ProfesorError;
use crate::profesor::routes::MAX_CANTIDAD;
use crate::profesor::ProfesorClient;
use crate::retry;
use crate::telemetry;

/// Answers not yet reported to Profesor.
#[derive(Debug)]
pub struct Notifier {
    ledger: Arc<Ledger>,
    /// Most answers owed to Profesor at once.
    limit: u64,
    /// Answers that found the queue full and will never be counted.
    dropped: AtomicU64,
    wake: Notify,
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
        Notifier {
            ledger,
            limit: limit.max(1),
            dropped: AtomicU64::new(0),
            wake: Notify::new(),
        }
    }

    /// Records `answered` more questions that got a real answer, as far as
    /// the queue has room; the rest are dropped, counted and logged.
    pub fn record(&self, answered: u64) {
        let queued = self.ledger.add(answered, self.limit);
        if queued > 0 {
            // Stores a permit if the task is busy, so no record is missed.
            self.wake.notify_one();
        }
        let overflow = answered - queued;
        if overflow > 0 {
            let before = self.dropped.fetch_add(overflow, Ordering::AcqRel);
            // Always the first; later ones within the log budget, each
            // with the running total, so the last line seen is current.
            if before == 0 || telemetry::budget().allow() {
                warn!(
                    "Cola de avisos a Profesor llena ({} pendientes): {} respuesta(s) no se contarán ({} en total)",
                    self.limit,
                    overflow,
                    before + overflow
                );
            }
        }
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
            let report = match self.ledger.report() {
                Some(report) => report,
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
                    self.ledger.begin(report.clone()).await;
                    report
                }
            };
            match profesor.contar(report.cantidad, Some(&report.key)).await {
                Ok(conteo) => {
                    // A Profesor without `total` ignores the body and counted
                    // one, whatever we asked (it may have been swapped for the
                    // notebook's since the last reply).
                    batching = conteo.total.is_some() && !refuses_batches;
                    let counted = if batching { report.cantidad } else { 1 };
                    self.ledger.acknowledged(counted);
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

/// A 4xx that says "this request will never be accepted" (not a timeout or
/// rate limit, which are worth retrying as they are).
fn is_refusal(status: u16) -> bool {
    (400..500).contains(&status) && status != 408 && status != 429
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_past_the_bound_are_dropped_and_counted_never_silently() {
        let notifier = Notifier::new(Ledger::in_memory(), 5);
        notifier.record(3);
        notifier.record(4);
        assert_eq!(notifier.pending(), 5);
        assert_eq!(notifier.dropped(), 2);
        notifier.ledger.acknowledged(2);
        notifier.record(1);
        assert_eq!((notifier.pending(), notifier.dropped()), (4, 2));
    }
}
