//! Docencio: TCP server for students and, peer to peer, TCP client of Tareo.
//!
//! It answers `Contenido` itself, forwards `Tarea` and `Pregunta Dificil`
//! over long-lived connections to Tareo shared by all students
//! ([`tareo_link`]), wraps what comes back, and after the student has its
//! answer tells Profesor that one more question was answered ([`notifier`],
//! whose rules are in [`delivery`]), keeping what it still owes Profesor on
//! disk ([`ledger`]).
//!
//! Every student is in the sala ([`sala`]: who is named, pushes), and what
//! it asks besides questions is answered by its [`session`]; chat goes out
//! to the other Docencios through the [`relay`], and theirs and Profesor's
//! announcements come in through the [`follower`] of Profesor's events.
//!
//! Docencio's counting rule lives here, in [`Docencio::delivered`]: a
//! forwarded question (`Tarea`, `Pregunta Dificil`) whose student got a real
//! answer is counted; `Contenido` and `Error: ...` answers are not.

pub mod args;
pub mod delivery;
pub mod follower;
pub mod ledger;
pub mod material;
pub mod notifier;
pub mod relay;
pub mod sala;
pub mod session;
pub mod tareo_link;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use args::Args;

use crate::api::{ProfesorClient, ProfesorError, DEFAULT_PROFESOR_URL};
use crate::role_counters::{send_informes, RoleCounters};
use crate::server::{serve, ClientSession, Delivered, PendingAnswer, Responder, ServerLimits};
use crate::sqlite_file::OpenError;
use crate::telemetry::QuestionId;
use crate::wire::texts::{CONTENIDO_ANSWER, ERROR_PREFIX, RELAYED_PREFIX};
use crate::wire::{Answer, Question, QuestionError, DEFAULT_TAREO_ADDR};
use ledger::Ledger;
use material::{MaterialDesk, MaterialSession};
use notifier::Notifier;
use sala::Sala;
use session::StudentSession;
use tareo_link::TareoLink;

/// Why Docencio could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Profesor(#[from] ProfesorError),
    #[error(transparent)]
    Ledger(#[from] OpenError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Docencio's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Tareo's address (HOST:PORT), or several Tareos' separated by commas;
    /// resolved at every connection attempt.
    pub tareo_addr: String,
    /// Profesor's base URL, told of every answered question; or several
    /// replicas', separated by commas.
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
    /// Sent to Profesor as `Authorization: Bearer`, when it asks for one.
    pub token: Option<String>,
    pub limits: ServerLimits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tareo_addr: DEFAULT_TAREO_ADDR.to_owned(),
            profesor_url: DEFAULT_PROFESOR_URL.to_owned(),
            tareo_connections: 1,
            answer_timeout: Duration::from_secs(5),
            max_pending_notifications: DEFAULT_MAX_PENDING_NOTIFICATIONS,
            data_dir: None,
            token: None,
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
) -> Result<(), Error> {
    let profesor = ProfesorClient::new(
        &config.profesor_url,
        config.answer_timeout,
        config.token.as_deref(),
    )?;
    crate::server::warn_if_reachable("Docencio", listener.local_addr()?);
    let ledger = open_ledger(&config, listener.local_addr()?.port())?;
    let stop_serving = crate::shutdown::token_from(shutdown);
    // Tareo links and the notifier outlive the student connections, which
    // still need them while they drain.
    let stop_background = CancellationToken::new();
    let background = TaskTracker::new();
    let counters = Arc::new(RoleCounters::new("docencio"));
    let tareo = TareoLink::start(
        &config.tareo_addr,
        config.tareo_connections,
        config.answer_timeout,
        config.limits.max_frame,
        counters.clone(),
        tareo_link::Stopping {
            serving: stop_serving.clone(),
            links: stop_background.clone(),
        },
        &background,
    );
    let sala = start_sala(&profesor, &config, &counters, &stop_background, &background);
    let desk = MaterialDesk::new(crate::api::MaterialClient::new(
        &config.profesor_url,
        config.token.as_deref(),
        config.answer_timeout,
    )?);
    background.spawn(send_informes(
        profesor.clone(),
        counters.clone(),
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
        counters,
        sala,
        desk,
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

/// Where what is owed to Profesor is kept: a file named by the listening
/// `port` under the data folder, or memory only.
fn open_ledger(config: &Config, port: u16) -> Result<Arc<Ledger>, Error> {
    Ok(match &config.data_dir {
        Some(data_dir) => Ledger::open(data_dir, port)?,
        None => {
            info!("Los avisos pendientes a Profesor se guardan solo en memoria (sin --data-dir)");
            Ledger::in_memory()
        }
    })
}

/// The room, with its relay out and the follower of Profesor's events
/// running as background tasks until `stop`.
fn start_sala(
    profesor: &ProfesorClient,
    config: &Config,
    counters: &Arc<RoleCounters>,
    stop: &CancellationToken,
    background: &TaskTracker,
) -> Arc<Sala> {
    let run = counters.run_label();
    let relay = relay::start(profesor.clone(), run.clone(), stop.clone(), background);
    let sala = Arc::new(Sala::new(relay, counters.clone()));
    background.spawn(follower::follow(
        profesor.replica_urls(),
        run,
        counters.started_ms(),
        config.answer_timeout,
        sala.clone(),
        stop.clone(),
    ));
    sala
}

struct Docencio {
    tareo: Arc<TareoLink>,
    notifier: Arc<Notifier>,
    counters: Arc<RoleCounters>,
    sala: Arc<Sala>,
    /// Where every session's material comes from.
    desk: MaterialDesk,
}

impl Responder for Docencio {
    fn counters(&self) -> &RoleCounters {
        &self.counters
    }

    /// Every student is in the sala: announcements reach it, and its
    /// mensajes (chat) are the sala's.
    fn open_session(&self, _peer: std::net::SocketAddr) -> Option<Box<dyn ClientSession>> {
        let material = MaterialSession::new(self.desk.clone());
        Some(Box::new(StudentSession::new(self.sala.join(), material)))
    }

    fn answer(&self, _id: QuestionId, question: Question) -> PendingAnswer {
        match question {
            Question::Contenido => {
                Box::pin(std::future::ready(Answer::Real(CONTENIDO_ANSWER.into())))
            }
            Question::Tarea | Question::PreguntaDificil => {
                let tareo = self.tareo.clone();
                Box::pin(async move { relay(tareo.ask(question).await) })
            }
        }
    }

    /// Tells Profesor about every answer it counts (see the module's doc).
    fn delivered(&self, answers: &[Delivered]) {
        let counted = answers.iter().filter(|a| is_counted(a)).map(|a| a.id);
        self.notifier.record(counted);
    }
}

/// Docencio's counting rule: a forwarded question that got a real answer.
fn is_counted(answer: &Delivered) -> bool {
    answer.real
        && matches!(
            answer.question,
            Some(Question::Tarea | Question::PreguntaDificil)
        )
}

/// Wraps Tareo's answer for the student. An `Error: ...` from Tareo (for
/// example Profesor down) is passed on as it is. The notebook's Tareo pads
/// its answers with a space; it is trimmed.
fn relay(from_tareo: Result<String, QuestionError>) -> Answer {
    match from_tareo {
        Ok(text) if text.starts_with(ERROR_PREFIX) => {
            Answer::Refused(QuestionError::Downstream(text))
        }
        Ok(text) => Answer::Real(format!("{RELAYED_PREFIX}{}", text.trim()).into()),
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
            Answer::Real("Respuesta del Tareo o Profesor: No puedes usar esa libreria".into())
        );
    }

    #[test]
    fn counts_forwarded_questions_with_a_real_answer_only() {
        let id = QuestionId {
            client: "127.0.0.1:5000".parse().unwrap(),
            number: 1,
        };
        let delivered = |question, real| Delivered { id, question, real };
        assert!(is_counted(&delivered(Some(Question::Tarea), true)));
        assert!(is_counted(&delivered(
            Some(Question::PreguntaDificil),
            true
        )));
        assert!(!is_counted(&delivered(Some(Question::Contenido), true)));
        assert!(!is_counted(&delivered(Some(Question::Tarea), false)));
        assert!(!is_counted(&delivered(None, false)));
    }

    #[test]
    fn passes_tareos_errors_on() {
        let text = "Error: Profesor no está disponible (x)".to_owned();
        assert_eq!(
            relay(Ok(text.clone())),
            Answer::Refused(QuestionError::Downstream(text))
        );
        let down = QuestionError::Unavailable {
            peer: Peer::Tareo,
            detail: "x".into(),
        };
        assert_eq!(relay(Err(down.clone())), Answer::Refused(down));
    }
}
