//! Tareo: a multi-client TCP server. Answers `Tarea` from its list, asks
//! Profesor (`GET /respuesta`) about `Pregunta Dificil`, and answers every
//! other input with an `Error: ...` (the notebook's Tareo leaves the client
//! hanging on `Contenido`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand::seq::IndexedRandom;
use tokio::net::TcpListener;
use tracing::info;

use crate::profesor::ProfesorClient;
use crate::server::{serve, PendingAnswer, Responder, ServerLimits};
use crate::stats::{report_to_profesor, RoleStats};
use crate::telemetry::{self, QuestionId};
use crate::wire::texts::ANSWERS;
use crate::wire::{Answer, Peer, Question, Refusal};

/// Tareo's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Profesor's base URL.
    pub profesor_url: String,
    /// How long to wait for Profesor; shorter than Docencio's wait on Tareo,
    /// so the error a student sees names Profesor, the peer actually down.
    pub profesor_timeout: Duration,
    pub limits: ServerLimits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            profesor_url: crate::config::DEFAULT_PROFESOR_URL.to_owned(),
            profesor_timeout: Duration::from_secs(4),
            limits: ServerLimits::default(),
        }
    }
}

/// Serves Docencio(s) on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let profesor = ProfesorClient::new(&config.profesor_url, config.profesor_timeout)?;
    info!("Tareo consulta a Profesor en {}", profesor.base_url());
    let shutdown = crate::shutdown::token_from(shutdown);
    let tareo = Arc::new(Tareo {
        profesor: Arc::new(profesor.clone()),
        stats: Arc::new(RoleStats::new("tareo")),
    });
    let reporter = tokio::spawn(report_to_profesor(
        profesor,
        tareo.stats.clone(),
        listener.local_addr()?,
        shutdown.clone(),
    ));
    serve(listener, tareo, config.limits, shutdown).await?;
    // It watches the same token, so it is already on its way out.
    let _ = reporter.await;
    Ok(())
}

struct Tareo {
    profesor: Arc<ProfesorClient>,
    stats: Arc<RoleStats>,
}

impl Responder for Tareo {
    fn stats(&self) -> &RoleStats {
        &self.stats
    }

    fn answer(&self, id: QuestionId, question: Question) -> PendingAnswer {
        match question {
            Question::Tarea => {
                let texto = ANSWERS
                    .choose(&mut rand::rng())
                    .copied()
                    .unwrap_or(ANSWERS[0]);
                Box::pin(std::future::ready(Answer::Local(texto.into())))
            }
            Question::PreguntaDificil => {
                let profesor = self.profesor.clone();
                Box::pin(async move {
                    match profesor.respuesta(&id.to_string()).await {
                        Ok(texto) => {
                            if telemetry::budget().allow() {
                                info!("CONSULTA AL PROFESOR: {texto}");
                            }
                            Answer::Local(texto.into())
                        }
                        Err(err) => {
                            if telemetry::budget().allow() {
                                tracing::warn!("Profesor no respondió: {err}");
                            }
                            Answer::Refused(Refusal::Unavailable {
                                peer: Peer::Profesor,
                                detail: format!("{}: {err}", profesor.base_url()),
                            })
                        }
                    }
                })
            }
            Question::Contenido => Box::pin(std::future::ready(Refusal::NotForTareo.into())),
        }
    }
}
