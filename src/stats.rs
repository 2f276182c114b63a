//! What a TCP role (Tareo, Docencio) counts as questions come and go, and
//! how it tells Profesor: once a second, a [`RoleReport`] snapshot sent
//! with `POST /informes`. Profesor turns the reports of every role into its
//! Prometheus `/metrics`, the live `/panel` and `/reporte.csv`, so one
//! place shows the whole class.
//!
//! Reporting to Profesor was chosen over a metrics port on each role: the
//! panel needs Docencio's numbers (who is connected, `Contenido`, errors)
//! anyway, and one scrape target is simpler for a classroom. A report is a
//! snapshot of counters since the role started, tagged with a random run
//! id, so a lost or repeated report changes nothing and a restarted role is
//! recognised (its counters start again from 0).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::profesor::client::ProfesorError;
use crate::profesor::ProfesorClient;
use crate::wire::{Answer, Question};

/// Clients listed by name in a report; past it, only counted.
pub const CLIENTS_LISTED: usize = 50;

/// How often a role reports to Profesor.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// A role's live counters. Cheap to update from every connection task.
#[derive(Debug)]
pub struct RoleStats {
    role: &'static str,
    run: u64,
    questions: [AtomicU64; 3],
    answered: [AtomicU64; 3],
    errors: AtomicU64,
    in_flight: AtomicU64,
    reconnects: AtomicU64,
    clients: Mutex<BTreeSet<SocketAddr>>,
}

impl RoleStats {
    pub fn new(role: &'static str) -> Self {
        RoleStats {
            role,
            run: rand::random(),
            questions: Default::default(),
            answered: Default::default(),
            errors: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            clients: Mutex::new(BTreeSet::new()),
        }
    }

    pub fn connected(&self, client: SocketAddr) {
        self.lock_clients().insert(client);
    }

    pub fn disconnected(&self, client: SocketAddr) {
        self.lock_clients().remove(&client);
    }

    /// A question was read (it is now being answered).
    pub fn asked(&self, question: Option<Question>) {
        if let Some(question) = question {
            self.questions[question_index(question)].fetch_add(1, Ordering::Relaxed);
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// `answer` to `question` (`None`: a frame that was not a question) is
    /// going out.
    pub fn answered(&self, question: Option<Question>, answer: &Answer) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        match (question, answer) {
            (_, Answer::Refused(_)) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
            }
            (Some(question), _) => {
                self.answered[question_index(question)].fetch_add(1, Ordering::Relaxed);
            }
            (None, _) => {}
        }
    }

    /// A connection closed with `unanswered` questions it will never get.
    pub fn abandoned(&self, unanswered: u64) {
        self.in_flight.fetch_sub(unanswered, Ordering::Relaxed);
    }

    /// A link to a peer downstream was opened again after it was lost.
    pub fn reconnected(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    fn lock_clients(&self) -> std::sync::MutexGuard<'_, BTreeSet<SocketAddr>> {
        // The set stays consistent even if a holder panicked: insert and
        // remove are single steps.
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The counters now, as sent to Profesor by the role listening on `instance`.
    pub fn report(&self, instance: SocketAddr) -> RoleReport {
        let clients = self.lock_clients();
        let by_type = |counters: &[AtomicU64; 3]| PorTipo {
            contenido: counters[0].load(Ordering::Relaxed),
            tarea: counters[1].load(Ordering::Relaxed),
            pregunta_dificil: counters[2].load(Ordering::Relaxed),
        };
        RoleReport {
            rol: self.role.to_owned(),
            instancia: instance.to_string(),
            ejecucion: format!("{:016x}", self.run),
            conexiones: clients.len() as u64,
            clientes: clients
                .iter()
                .take(CLIENTS_LISTED)
                .map(ToString::to_string)
                .collect(),
            preguntas: by_type(&self.questions),
            respondidas: by_type(&self.answered),
            errores: self.errors.load(Ordering::Relaxed),
            en_vuelo: self.in_flight.load(Ordering::Relaxed),
            reconexiones: self.reconnects.load(Ordering::Relaxed),
        }
    }
}

fn question_index(question: Question) -> usize {
    match question {
        Question::Contenido => 0,
        Question::Tarea => 1,
        Question::PreguntaDificil => 2,
    }
}

/// Questions by type, with the contract's names as JSON keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PorTipo {
    #[serde(rename = "Contenido")]
    pub contenido: u64,
    #[serde(rename = "Tarea")]
    pub tarea: u64,
    #[serde(rename = "Pregunta Dificil")]
    pub pregunta_dificil: u64,
}

impl PorTipo {
    /// What was counted since `before`, a snapshot of the same counters.
    pub fn since(&self, before: &PorTipo) -> PorTipo {
        PorTipo {
            contenido: self.contenido.saturating_sub(before.contenido),
            tarea: self.tarea.saturating_sub(before.tarea),
            pregunta_dificil: self
                .pregunta_dificil
                .saturating_sub(before.pregunta_dificil),
        }
    }

    pub fn add(&mut self, more: &PorTipo) {
        self.contenido += more.contenido;
        self.tarea += more.tarea;
        self.pregunta_dificil += more.pregunta_dificil;
    }

    /// `(name, count)` for each type, in the contract's order.
    pub fn entries(&self) -> [(&'static str, u64); 3] {
        [
            ("Contenido", self.contenido),
            ("Tarea", self.tarea),
            ("Pregunta Dificil", self.pregunta_dificil),
        ]
    }
}

/// One role's counters since it started, as sent in `POST /informes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoleReport {
    /// `tareo` or `docencio`.
    pub rol: String,
    /// The address the role listens on: tells two Docencios apart.
    pub instancia: String,
    /// Random per process start: a new value means the counters restarted.
    pub ejecucion: String,
    /// Clients connected now (students for Docencio, Docencio's links for Tareo).
    pub conexiones: u64,
    /// Up to 50 of them, by address.
    pub clientes: Vec<String>,
    /// Questions read since the role started, by type.
    pub preguntas: PorTipo,
    /// Of those, answered with a real answer (not `Error: ...`).
    pub respondidas: PorTipo,
    /// Answers that were `Error: ...` since the role started.
    pub errores: u64,
    /// Questions being answered now.
    pub en_vuelo: u64,
    /// Times the link to the peer downstream was opened again.
    pub reconexiones: u64,
}

/// Sends `stats` to Profesor every [`REPORT_INTERVAL`] until `shutdown`.
/// A Profesor that does not know `/informes` (the notebook's) is asked
/// again only every 30 s, and that is logged once.
pub async fn report_to_profesor(
    profesor: ProfesorClient,
    stats: std::sync::Arc<RoleStats>,
    instance: SocketAddr,
    shutdown: CancellationToken,
) {
    let mut refused_logged = false;
    loop {
        let wait = match profesor.informar(&stats.report(instance)).await {
            Ok(()) => REPORT_INTERVAL,
            Err(ProfesorError::Status(404 | 405)) => {
                if !refused_logged {
                    info!(
                        "Profesor en {} no recibe informes (/informes): sus métricas y su panel no mostrarán a {}",
                        profesor.base_url(),
                        stats.role
                    );
                    refused_logged = true;
                }
                Duration::from_secs(30)
            }
            Err(err) => {
                debug!("informe a Profesor no enviado: {err}");
                REPORT_INTERVAL
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_what_was_counted() {
        let stats = RoleStats::new("docencio");
        let a: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        stats.connected(a);
        stats.connected(b);
        stats.asked(Some(Question::Tarea));
        stats.asked(Some(Question::Tarea));
        stats.asked(None);
        stats.answered(Some(Question::Tarea), &Answer::Relayed("x".into()));
        stats.answered(None, &Answer::Refused(crate::wire::Refusal::EmptyFrame));
        stats.disconnected(a);
        let report = stats.report("127.0.0.1:4446".parse().unwrap());
        assert_eq!(report.conexiones, 1);
        assert_eq!(report.clientes, vec!["127.0.0.1:5001".to_owned()]);
        assert_eq!(report.preguntas.tarea, 2);
        assert_eq!(report.preguntas.contenido, 0);
        assert_eq!(report.respondidas.tarea, 1);
        assert_eq!((report.errores, report.en_vuelo), (1, 1));
    }
}
