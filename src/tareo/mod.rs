//! Tareo: a multi-client TCP server. Answers `Tarea` from its list, asks
//! Profesor (`GET /respuesta`) about `Pregunta Dificil`, and answers every
//! other input with an `Error: ...` (the notebook's Tareo leaves the client
//! hanging on `Contenido`).

pub mod args;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand::seq::IndexedRandom;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use args::Args;

use crate::api::{ProfesorClient, ProfesorError, DEFAULT_PROFESOR_URL};
use crate::question_line;
use crate::role_counters::{send_informes, RoleCounters};
use crate::server::{serve, PendingAnswer, Responder, ServerLimits};
use crate::telemetry::{for_log, QuestionId};
use crate::wire::texts::ANSWERS;
use crate::wire::{Answer, Peer, Question, QuestionError};

/// Why Tareo could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Profesor(#[from] ProfesorError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Tareo's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Profesor's base URL, or several replicas' separated by commas.
    pub profesor_url: String,
    /// How long to wait for Profesor; shorter than Docencio's wait on Tareo,
    /// so the error a student sees names Profesor, the peer actually down.
    pub profesor_timeout: Duration,
    /// Sent to Profesor as `Authorization: Bearer`, when it asks for one.
    pub token: Option<String>,
    pub limits: ServerLimits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            profesor_url: DEFAULT_PROFESOR_URL.to_owned(),
            profesor_timeout: Duration::from_secs(4),
            token: None,
            limits: ServerLimits::default(),
        }
    }
}

/// Serves Docencio(s) on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let profesor = ProfesorClient::new(
        &config.profesor_url,
        config.profesor_timeout,
        config.token.as_deref(),
    )?;
    info!("Tareo consulta a Profesor en {}", profesor.base_url());
    crate::server::warn_if_reachable("Tareo", listener.local_addr()?);
    let shutdown = crate::shutdown::token_from(shutdown);
    let tareo = Arc::new(Tareo {
        profesor: Arc::new(profesor.clone()),
        counters: Arc::new(RoleCounters::new("tareo")),
    });
    // Informes go on while the connections drain, and the last one counts
    // every answer given.
    let stop_informes = CancellationToken::new();
    let informes = tokio::spawn(send_informes(
        profesor,
        tareo.counters.clone(),
        listener.local_addr()?,
        stop_informes.clone(),
    ));
    let served = serve(listener, tareo, config.limits, shutdown).await;
    stop_informes.cancel();
    let _ = informes.await;
    Ok(served?)
}

struct Tareo {
    profesor: Arc<ProfesorClient>,
    counters: Arc<RoleCounters>,
}

impl Responder for Tareo {
    fn counters(&self) -> &RoleCounters {
        &self.counters
    }

    fn answer(&self, id: QuestionId, question: Question) -> PendingAnswer {
        match question {
            Question::Tarea => {
                let texto = ANSWERS
                    .choose(&mut rand::rng())
                    .copied()
                    .unwrap_or(ANSWERS[0]);
                Box::pin(std::future::ready(Answer::Real(texto.into())))
            }
            Question::PreguntaDificil => {
                let profesor = self.profesor.clone();
                Box::pin(async move {
                    match profesor.respuesta(&id.to_string()).await {
                        Ok(texto) => {
                            question_line!(info, "CONSULTA AL PROFESOR: {}", for_log(&texto));
                            Answer::Real(texto.into())
                        }
                        Err(err) => {
                            question_line!(warn, "Profesor no respondió: {err}");
                            Answer::Refused(QuestionError::Unavailable {
                                peer: Peer::Profesor,
                                detail: format!("{}: {err}", profesor.base_url()),
                            })
                        }
                    }
                })
            }
            Question::Contenido => Box::pin(std::future::ready(QuestionError::NotForTareo.into())),
        }
    }
}
