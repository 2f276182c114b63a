//! Docencio: TCP server for students and, peer to peer, TCP client of Tareo.
//!
//! It answers `Contenido` itself, forwards `Tarea` and `Pregunta Dificil`
//! over long-lived connections to Tareo shared by all students
//! ([`tareo_link`]), wraps what comes back, and after the student has its
//! answer tells Profesor that one more question was answered ([`notifier`]),
//! keeping what it still owes Profesor on disk ([`ledger`]).

pub mod ledger;
pub mod notifier;
pub mod tareo_link;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::profesor::ProfesorClient;
use crate::server::{serve, PendingAnswer, Responder, ServerLimits};
use crate::stats::{report_to_profesor, RoleStats};
use crate::telemetry::QuestionId;
use crate::wire::texts::{CONTENIDO_ANSWER, ERROR_PREFIX, RELAYED_PREFIX};
use crate::wire::{Answer, Question, Refusal};
use ledger::Ledger;
use notifier::Notifier;
use tareo_link::TareoLink;

/// Docencio's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Tareo's address (HOST:PORT), resolved at every connection attempt.
    pub tareo_addr: String,
    /// Profesor's base URL, told of every answered question.
    pub profesor_url: String,
    /// Long-lived connections to Tareo shared by all students.
    pub tareo_connections: usize,
    /// Longest a question waits on Tareo before it is answered `Error: ...`.
    pub answer_timeout: Duration,
    /// Most answers owed to Profesor while it is unreachable; past it,
    /// answers are not counted (and that is logged).
    pub max_pending_notifications: u64,
    /// Where what is owed to Profesor is kept across restarts (crashes
    /// included), in a file named by the listening port; `None` keeps it in
    /// memory only.
    pub data_dir: Option<PathBuf>,
    pub limits: ServerLimits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tareo_addr: crate::config::DEFAULT_TAREO_BIND.to_owned(),
            profesor_url: crate::config::DEFAULT_PROFESOR_URL.to_owned(),
            tareo_connections: 1,
            answer_timeout: Duration::from_secs(5),
            max_pending_notifications: DEFAULT_MAX_PENDING_NOTIFICATIONS,
            data_dir: None,
            limits: ServerLimits::default(),
        }
    }
}

/// Answers owed to Profesor at most: hours of a busy class with Profesor
/// down. The queue is a counter, so the bound costs no memory.
pub const DEFAULT_MAX_PENDING_NOTIFICATIONS: u64 = 100_000_000;

/// How long, after the last student connection closed, pending
/// notifications get to reach Profesor before Docencio exits anyway.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// Serves students on `listener` until `shutdown` resolves; then answers what
/// was asked, flushes notifications to Profesor (bounded) and returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let profesor = ProfesorClient::new(&config.profesor_url, config.answer_timeout)?;
    let ledger = match &config.data_dir {
        Some(data_dir) => Ledger::open(data_dir, listener.local_addr()?.port())?,
        None => {
            info!("Los avisos pendientes a Profesor se guardan solo en memoria (sin --data-dir)");
            Ledger::in_memory()
        }
    };
    let stop_serving = crate::shutdown::token_from(shutdown);
    // Tareo links and the notifier outlive the student connections, which
    // still need them while they drain.
    let stop_background = CancellationToken::new();
    let background = TaskTracker::new();
    let stats = Arc::new(RoleStats::new("docencio"));
    let tareo = TareoLink::start(
        &config.tareo_addr,
        config.tareo_connections,
        config.answer_timeout,
        config.limits.max_frame,
        stats.clone(),
        stop_background.clone(),
        &background,
    );
    background.spawn(report_to_profesor(
        profesor.clone(),
        stats.clone(),
        listener.local_addr()?,
        stop_background.clone(),
    ));
    let notifier = Notifier::start(
        profesor,
        ledger,
        config.max_pending_notifications,
        FLUSH_TIMEOUT,
        stop_background.clone(),
        &background,
    );
    info!(
        "Docencio reenvía a Tareo en {} ({} conexión/es) y avisa a Profesor en {}",
        config.tareo_addr, config.tareo_connections, config.profesor_url
    );
    let docencio = Arc::new(Docencio {
        tareo,
        notifier,
        stats,
    });
    let served = serve(listener, docencio, config.limits, stop_serving).await;
    stop_background.cancel();
    background.close();
    if tokio::time::timeout(FLUSH_TIMEOUT + Duration::from_secs(1), background.wait())
        .await
        .is_err()
    {
        warn!("las tareas de fondo no terminaron a tiempo");
    }
    served?;
    Ok(())
}

struct Docencio {
    tareo: Arc<TareoLink>,
    notifier: Arc<Notifier>,
    stats: Arc<RoleStats>,
}

impl Responder for Docencio {
    fn stats(&self) -> &RoleStats {
        &self.stats
    }

    fn answer(&self, _id: QuestionId, question: Question) -> PendingAnswer {
        match question {
            Question::Contenido => {
                Box::pin(std::future::ready(Answer::Local(CONTENIDO_ANSWER.into())))
            }
            Question::Tarea | Question::PreguntaDificil => {
                let tareo = self.tareo.clone();
                Box::pin(async move { relay(tareo.ask(question).await) })
            }
        }
    }

    fn delivered(&self, relayed: &[QuestionId]) {
        self.notifier.record(relayed);
    }
}

/// Wraps Tareo's answer for the student. An `Error: ...` from Tareo (for
/// example Profesor down) is passed on as it is, and is not counted. The
/// notebook's Tareo pads its answers with a space; it is trimmed.
fn relay(from_tareo: Result<String, Refusal>) -> Answer {
    match from_tareo {
        Ok(text) if text.starts_with(ERROR_PREFIX) => Answer::Refused(Refusal::Relayed(text)),
        Ok(text) => Answer::Relayed(format!("{RELAYED_PREFIX}{}", text.trim())),
        Err(refusal) => Answer::Refused(refusal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Peer;

    #[test]
    fn wraps_and_trims_tareos_answer() {
        assert_eq!(
            relay(Ok(" No puedes usar esa libreria".into())),
            Answer::Relayed("Respuesta del Tareo o Profesor: No puedes usar esa libreria".into())
        );
    }

    #[test]
    fn passes_tareos_errors_on_uncounted() {
        let text = "Error: Profesor no está disponible (x)".to_owned();
        assert_eq!(
            relay(Ok(text.clone())),
            Answer::Refused(Refusal::Relayed(text))
        );
        let down = Refusal::Unavailable {
            peer: Peer::Tareo,
            detail: "x".into(),
        };
        assert_eq!(relay(Err(down.clone())), Answer::Refused(down));
    }
}
