//! What a TCP role (Tareo, Docencio) counts as questions come and go, and
//! how it tells Profesor: once a second, an [`Informe`] (a snapshot of the
//! counters) sent with `POST /informes`. Profesor turns the informes of
//! every role into its Prometheus `/metrics`, the live `/panel` and
//! `/reporte.csv`, so one place shows the whole class.
//!
//! Sending informes to Profesor was chosen over a metrics port on each
//! role: the panel needs Docencio's numbers (who is connected, `Contenido`,
//! errors) anyway, and one scrape target is simpler for a classroom. An
//! informe is a snapshot of counters since the role started, tagged with a
//! random run id, so a lost or repeated one changes nothing and a restarted
//! role is recognised (its counters start again from 0).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::api::{Informe, PorTipo, ProfesorClient, ProfesorError, CLIENTS_LISTED};
use crate::wire::{Answer, Question};

/// How often a role sends its informe to Profesor.
pub const INFORME_INTERVAL: Duration = Duration::from_secs(1);

/// A role's live counters. Cheap to update from every connection task.
#[derive(Debug)]
pub struct RoleCounters {
    role: &'static str,
    run: u64,
    /// When this role started, ms since the Unix epoch.
    started_ms: u64,
    /// This machine's name, read once.
    machine: String,
    questions: [AtomicU64; 3],
    answered: [AtomicU64; 3],
    errors: AtomicU64,
    in_flight: AtomicU64,
    reconnects: AtomicU64,
    clients: Mutex<BTreeSet<SocketAddr>>,
    /// Names taken in the sala here (Docencio).
    names: Mutex<BTreeSet<String>>,
}

impl RoleCounters {
    pub fn new(role: &'static str) -> Self {
        RoleCounters {
            role,
            run: rand::random(),
            started_ms: crate::api::now_ms(),
            machine: crate::machine::name().unwrap_or_default(),
            questions: Default::default(),
            answered: Default::default(),
            errors: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            clients: Mutex::new(BTreeSet::new()),
            names: Mutex::new(BTreeSet::new()),
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

    /// A student took `nombre` in the sala (`true`) or left it (`false`).
    pub fn named(&self, nombre: &str, present: bool) {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if present {
            names.insert(nombre.to_owned());
        } else {
            names.remove(nombre);
        }
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

    /// This run of the role, as its informes name it (`ejecucion`).
    pub fn run_label(&self) -> String {
        format!("{:016x}", self.run)
    }

    /// When this role started, in ms since the Unix epoch.
    pub fn started_ms(&self) -> u64 {
        self.started_ms
    }

    /// The counters now, as sent to Profesor by the role listening on `instance`.
    pub fn informe(&self, instance: SocketAddr) -> Informe {
        let clients = self.lock_clients();
        let by_type = |counters: &[AtomicU64; 3]| PorTipo {
            contenido: counters[0].load(Ordering::Relaxed),
            tarea: counters[1].load(Ordering::Relaxed),
            pregunta_dificil: counters[2].load(Ordering::Relaxed),
        };
        Informe {
            rol: self.role.to_owned(),
            instancia: instance.to_string(),
            maquina: self.machine.clone(),
            ejecucion: self.run_label(),
            inicio_ms: self.started_ms,
            conexiones: clients.len() as u64,
            clientes: clients
                .iter()
                .take(CLIENTS_LISTED)
                .map(ToString::to_string)
                .collect(),
            nombres: self
                .names
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .take(crate::api::NAMES_LISTED)
                .cloned()
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

/// Sends `counters` to Profesor every [`INFORME_INTERVAL`] until
/// `shutdown`, and once more then, so that Profesor sees everything the
/// role counted. A Profesor that does not know `/informes` (the notebook's)
/// is asked again only every 30 s, and that is logged once.
pub async fn send_informes(
    profesor: ProfesorClient,
    counters: std::sync::Arc<RoleCounters>,
    instance: SocketAddr,
    shutdown: CancellationToken,
) {
    let mut refused_logged = false;
    loop {
        let wait = match profesor.send_informe(&counters.informe(instance)).await {
            Ok(()) => INFORME_INTERVAL,
            Err(ProfesorError::Status(404 | 405)) => {
                if !refused_logged {
                    info!(
                        "Profesor en {} no recibe informes (/informes): sus métricas y su panel no mostrarán a {}",
                        profesor.base_url(),
                        counters.role
                    );
                    refused_logged = true;
                }
                Duration::from_secs(30)
            }
            Err(err) => {
                debug!("informe a Profesor no enviado: {err}");
                INFORME_INTERVAL
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
    }
    if let Err(err) = profesor.send_informe(&counters.informe(instance)).await {
        debug!("último informe a Profesor no enviado: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_informe_is_what_was_counted() {
        let counters = RoleCounters::new("docencio");
        let a: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        counters.connected(a);
        counters.connected(b);
        counters.asked(Some(Question::Tarea));
        counters.asked(Some(Question::Tarea));
        counters.asked(None);
        counters.answered(Some(Question::Tarea), &Answer::Real("x".into()));
        counters.answered(
            None,
            &Answer::Refused(crate::wire::QuestionError::EmptyFrame),
        );
        counters.disconnected(a);
        let informe = counters.informe("127.0.0.1:4446".parse().unwrap());
        assert_eq!(informe.conexiones, 1);
        assert_eq!(informe.clientes, vec!["127.0.0.1:5001".to_owned()]);
        assert_eq!(informe.preguntas.tarea, 2);
        assert_eq!(informe.preguntas.contenido, 0);
        assert_eq!(informe.respondidas.tarea, 1);
        assert_eq!((informe.errores, informe.en_vuelo), (1, 1));
    }
}
