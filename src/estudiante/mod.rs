//! Estudiante: simulated students asking Docencio random questions.
//!
//! Like the notebook's student, each one picks `Contenido`, `Tarea` or
//! `Pregunta Dificil` at random, waits 1–6 s, and prints each answer as it
//! arrives. Beyond it: many students in one process (one connection each),
//! a fixed number of questions, no pause, pipelining, a seed for
//! reproducible runs, reconnection with backoff when Docencio goes away, and
//! a [`Summary`] with throughput and latency percentiles at the end.

pub mod archivos;
pub mod args;
pub mod chat;
pub mod commands;
pub mod conexion;
mod progress;
pub mod sesion;
mod summary;

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Barrier;
use tokio::time::{sleep, timeout, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, info_span, warn, Instrument};

pub use args::{Args, Command, SummaryFormat};
pub use progress::log_writer;
pub use summary::{StudentTally, Summary, SummaryRecord};

use progress::{Progress, ProgressDisplay};

use crate::question_line;
use crate::retry;
use crate::telemetry::{for_log, QuestionId};
use crate::wire::mensaje::{Empuje, Incoming, Nombre, Pedido, ReadError, Respuesta, Resultado};
use crate::wire::texts::{ANNOUNCEMENT_PREFIX, ERROR_PREFIX};
use crate::wire::{Buffers, Question, DEFAULT_DOCENCIO_ADDR};
use conexion::{Conexion, ConexionError};

/// The simulation's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Docencios' addresses (HOST:PORT): student i starts at address
    /// i mod n, and one whose Docencio goes away goes on at the next that
    /// accepts.
    pub docencio_addrs: Vec<String>,
    /// Students, one connection each.
    pub students: usize,
    /// Questions per student; `None` asks until shutdown.
    pub questions: Option<u64>,
    /// The notebook's 1–6 s pause after each answer.
    pub pause: bool,
    /// Makes every student's choices reproducible.
    pub seed: Option<u64>,
    /// Questions a student sends before reading an answer (1: ask, wait).
    pub in_flight: usize,
    /// Ask only this question instead of a random one.
    pub only: Option<Question>,
    /// Longest wait for an answer before the connection is given up and
    /// opened again. Docencio answers within its own timeout (5 s), so this
    /// only fires when Docencio itself is stuck.
    pub answer_timeout: Duration,
    /// Every student connects before any of them asks, so the whole class
    /// is connected at once (see `--connect-first`).
    pub connect_first: bool,
    /// The names the students take in the sala (`hola`) before asking.
    pub names: Naming,
}

/// How the simulated students are named in the sala.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Naming {
    /// Anonymous, as the notebook's students: announcements only, as text.
    #[default]
    None,
    /// The one student's name (`--nombre`).
    One(String),
    /// `PREFIX1`, `PREFIX2`, ... (`--nombre-prefijo`).
    Prefix(String),
}

impl Naming {
    /// Student `number`'s (from 1) name, if any.
    pub fn of(&self, number: usize) -> Option<String> {
        match self {
            Naming::None => None,
            Naming::One(name) => Some(name.clone()),
            Naming::Prefix(prefix) => Some(format!("{prefix}{number}")),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            docencio_addrs: vec![DEFAULT_DOCENCIO_ADDR.to_owned()],
            students: 1,
            questions: None,
            pause: true,
            seed: None,
            in_flight: 1,
            only: None,
            answer_timeout: Duration::from_secs(30),
            connect_first: false,
            names: Naming::None,
        }
    }
}

/// On shutdown, how long a student waits for the answers to questions it
/// already sent: longer than Docencio takes to answer anything (5 s).
pub const STOP_GRACE: Duration = Duration::from_secs(6);

/// Runs the class until every student has asked its questions, or until
/// `shutdown` resolves; returns the summary of the run.
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> Summary {
    let shutdown = crate::shutdown::token_from(shutdown);
    let config = Arc::new(config);
    let progress = Arc::new(Progress::default());
    let started = Instant::now();
    info!(
        "Inicializando {} estudiante(s) que preguntan a Docencio en {}",
        config.students,
        config.docencio_addrs.join(", ")
    );
    let mut students = tokio::task::JoinSet::new();
    let all_connected = config
        .connect_first
        .then(|| Arc::new(Barrier::new(config.students)));
    for number in 1..=config.students {
        let rng = match config.seed {
            // Distinct, reproducible streams per student.
            Some(seed) => {
                StdRng::seed_from_u64(seed ^ (number as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
            }
            None => StdRng::from_os_rng(),
        };
        let student = Student {
            config: config.clone(),
            rng,
            progress: progress.clone(),
            shutdown: shutdown.clone(),
            all_connected: all_connected.clone(),
            // Student i (from 0) starts at address i mod n.
            target: (number - 1) % config.docencio_addrs.len().max(1),
            nombre: config.names.of(number),
        };
        let span = info_span!("estudiante", n = number);
        students.spawn(student.run().instrument(span));
    }
    let display = ProgressDisplay::start(&config, progress.clone(), started);

    let mut summary = Summary::new(config.students);
    while let Some(joined) = students.join_next().await {
        match joined {
            Ok(tally) => summary.add(tally),
            Err(err) => warn!("un estudiante terminó con error: {err}"),
        }
    }
    display.finish();
    summary.finish(started.elapsed());
    // Nothing left to stop; also ends the signal watcher.
    shutdown.cancel();
    summary
}

struct Student {
    config: Arc<Config>,
    rng: StdRng,
    progress: Arc<Progress>,
    shutdown: CancellationToken,
    /// With `connect_first`: where each student waits, once connected, for
    /// the rest of the class.
    all_connected: Option<Arc<Barrier>>,
    /// Which of the Docencios this student asks now.
    target: usize,
    /// Its name in the sala, if it says `hola`.
    nombre: Option<String>,
}

impl Student {
    fn has_more(&self, tally: &StudentTally) -> bool {
        self.config.questions.is_none_or(|limit| tally.sent < limit)
    }

    fn pick(&mut self) -> Question {
        self.config
            .only
            .unwrap_or_else(|| Question::ALL[self.rng.random_range(0..Question::ALL.len())])
    }

    fn docencio(&self) -> &str {
        &self.config.docencio_addrs[self.target]
    }

    /// The next Docencio, after this one went away or refused.
    fn next_docencio(&mut self) {
        self.target = (self.target + 1) % self.config.docencio_addrs.len();
    }

    async fn run(mut self) -> StudentTally {
        let mut tally = StudentTally::new();
        let mut backoff = retry::backoff();
        let mut failures = 0u64;
        if self.config.docencio_addrs.is_empty() {
            warn!("Ninguna dirección de Docencio (--docencio-addr)");
            return tally;
        }
        while self.has_more(&tally) && !self.shutdown.is_cancelled() {
            let connected = tokio::select! {
                () = self.shutdown.cancelled() => break,
                connected = Conexion::open(self.docencio(), Buffers::Small) => connected,
            };
            let conexion = match connected {
                Ok(conexion) => conexion,
                Err(err) => {
                    failures += 1;
                    let round_failed = self.after_failed_connect(failures, &err);
                    if round_failed {
                        let delay = backoff.next().unwrap_or(retry::MAX_RETRY_DELAY);
                        tokio::select! {
                            () = self.shutdown.cancelled() => break,
                            () = sleep(delay) => {}
                        }
                    }
                    continue;
                }
            };
            if failures > 0 || tally.connections > 0 {
                question_line!(info, "Reconectado a Docencio en {}", self.docencio());
            } else {
                debug!("Cliente conectado exitosamente al servidor.");
            }
            failures = 0;
            backoff = retry::backoff();
            tally.connections += 1;
            if tally.connections == 1 && !self.wait_for_the_class().await {
                break;
            }
            Conversation::new(conexion).run(&mut self, &mut tally).await;
            // Lost before it was done: go on at the next Docencio (the
            // same one, when there is only one).
            self.next_docencio();
        }
        tally
    }

    /// Moves on to the next Docencio after `failures` failed connections
    /// in a row; true when every Docencio was tried once in a row (then
    /// the student waits before the next round, else it tries the next one
    /// at once).
    fn after_failed_connect(&mut self, failures: u64, err: &ConexionError) -> bool {
        self.next_docencio();
        let addrs = self.config.docencio_addrs.len() as u64;
        if !failures.is_multiple_of(addrs) {
            return false;
        }
        if retry::worth_reporting(failures / addrs) {
            question_line!(
                warn,
                "Esperando a Docencio en {} ({}); reintentando",
                self.config.docencio_addrs.join(", "),
                err.reason()
            );
        }
        true
    }

    /// With `connect_first`, waits until the whole class is connected;
    /// false when the run stopped meanwhile.
    async fn wait_for_the_class(&mut self) -> bool {
        let Some(all_connected) = self.all_connected.take() else {
            return true;
        };
        tokio::select! {
            () = self.shutdown.cancelled() => false,
            waited = all_connected.wait() => {
                if waited.is_leader() {
                    info!("Los {} estudiantes están conectados; empiezan a preguntar", self.config.students);
                }
                true
            }
        }
    }

    /// Takes the answer to `asked`: counted, checked, logged; and the
    /// notebook's pause begins.
    fn took_answer(
        &mut self,
        text: &str,
        asked: Asked,
        tally: &mut StudentTally,
        conversation: &mut Conversation,
    ) {
        let Asked {
            question,
            sent_at,
            id,
        } = asked;
        tally.record(sent_at.elapsed());
        self.progress.answered.fetch_add(1, Ordering::Relaxed);
        if text.starts_with(ERROR_PREFIX) {
            tally.errors += 1;
            self.progress.errors.fetch_add(1, Ordering::Relaxed);
        } else if !question.is_answered_by(text) {
            tally.wrong += 1;
            question_line!(
                warn,
                id = id,
                "Respuesta inesperada a '{question}': {}",
                for_log(text)
            );
        } else if question != Question::Contenido {
            tally.relayed += 1;
        }
        question_line!(info, id = id, "Respuesta recibida: {}", for_log(text));
        if self.config.pause && conversation.stop_by.is_none() && self.has_more(tally) {
            let pause = Duration::from_secs_f64(1.0 + self.rng.random::<f64>() * 5.0);
            // A pause already running is not made longer by the next
            // answer.
            conversation.resume_at.get_or_insert(Instant::now() + pause);
        }
    }

    /// Takes a frame that is no answer to a question: an announcement
    /// (as text, or as a push to a named student), another's chat, the
    /// answer to its `hola`. Returns the text of an answer to a question.
    fn took_unasked(
        &self,
        incoming: Result<Incoming, ReadError>,
        tally: &mut StudentTally,
    ) -> Option<String> {
        let incoming = match incoming {
            Ok(incoming) => incoming,
            Err(unreadable) => {
                warn!("Docencio envió un {unreadable}");
                return None;
            }
        };
        match incoming {
            Incoming::Text(body) => {
                let text = String::from_utf8_lossy(&body);
                let Some(texto) = text.strip_prefix(ANNOUNCEMENT_PREFIX) else {
                    return Some(text.into_owned());
                };
                tally.announcements += 1;
                info!("{ANNOUNCEMENT_PREFIX}{}", for_log(texto));
            }
            Incoming::Respuesta(Respuesta::Ok(Resultado::Hola { nombre })) => {
                debug!("En la sala como {nombre:?}")
            }
            Incoming::Respuesta(Respuesta::Error { operacion, motivo }) if operacion == "hola" => {
                warn!(
                    "No se pudo tomar el nombre {:?}: {}; se sigue sin nombre",
                    self.nombre.as_deref().unwrap_or(""),
                    for_log(&motivo)
                )
            }
            Incoming::Empuje(Empuje::Anuncio(anuncio)) => {
                tally.announcements += 1;
                info!("{ANNOUNCEMENT_PREFIX}{}", for_log(&anuncio.texto));
            }
            Incoming::Empuje(Empuje::Chat(linea)) => {
                tally.chat_heard += 1;
                debug!(
                    "{}: {}",
                    for_log(linea.de.as_str()),
                    for_log(linea.texto.as_str())
                );
            }
            Incoming::Empuje(Empuje::Perdidos { cantidad }) => {
                warn!("No se leyó a tiempo: se perdieron {cantidad} mensajes de la sala")
            }
            other => debug!("Mensaje de la sala: {other:?}"),
        }
        None
    }

    fn lost(&self, tally: &mut StudentTally, outstanding: &mut VecDeque<Asked>, why: &str) {
        let lost = outstanding.len() as u64;
        tally.lost += lost;
        self.progress.errors.fetch_add(lost, Ordering::Relaxed);
        outstanding.clear();
        question_line!(
            warn,
            "Conexión con Docencio perdida ({why}); {lost} pregunta(s) sin respuesta; reconectando"
        );
    }
}

/// A question sent and not yet answered.
struct Asked {
    question: Question,
    sent_at: Instant,
    /// The question as Docencio names it (see [`QuestionId`]).
    id: QuestionId,
}

/// What one connection waits for: an answer, the end of a pause, the
/// end of the grace after shutdown.
enum Waiting {
    /// An answer, at most this long.
    Answer(Duration),
    /// Nothing in flight: only the end of the notebook's pause.
    Pause(Duration),
}

/// A student's questions and answers on one connection.
struct Conversation {
    conexion: Conexion,
    /// Questions sent on this connection.
    sent: u64,
    outstanding: VecDeque<Asked>,
    /// Set on shutdown: until when the answers to what was asked are
    /// still awaited.
    stop_by: Option<Instant>,
    /// The notebook's pause between questions: frames that come meanwhile
    /// (announcements, the sala) are still read and shown at once.
    resume_at: Option<Instant>,
}

impl Conversation {
    fn new(conexion: Conexion) -> Self {
        Conversation {
            conexion,
            sent: 0,
            outstanding: VecDeque::new(),
            stop_by: None,
            resume_at: None,
        }
    }

    /// Asks and reads until done, shutdown, or the connection is lost
    /// (questions then unanswered count as lost). On shutdown it stops
    /// asking and waits up to [`STOP_GRACE`] for the answers to what it
    /// already asked, so a stopped class still reports every question it
    /// sent as answered or not.
    async fn run(mut self, student: &mut Student, tally: &mut StudentTally) {
        if let Some(nombre) = &student.nombre {
            // Validated with the flags; a name Docencio refuses is said
            // where its answer is read.
            if let Ok(nombre) = Nombre::parse(nombre) {
                if let Err(err) = self.conexion.send(&Pedido::Hola { nombre }).await {
                    return student.lost(tally, &mut self.outstanding, &err.reason());
                }
            }
        }
        loop {
            if let Err(err) = self.ask(student, tally).await {
                return student.lost(tally, &mut self.outstanding, &err.reason());
            }
            let Some(waiting) = self.waiting(student.config.answer_timeout) else {
                return;
            };
            let incoming = tokio::select! {
                () = student.shutdown.cancelled(), if self.stop_by.is_none() => {
                    self.stop_by = Some(Instant::now() + STOP_GRACE);
                    continue;
                }
                incoming = timeout(waiting.limit(), self.conexion.next()) => incoming,
            };
            let incoming = match incoming {
                Ok(Ok(incoming)) => incoming,
                Ok(Err(err)) => return student.lost(tally, &mut self.outstanding, &err.reason()),
                Err(_) => match self.timed_out(&waiting, student, tally) {
                    Some(why) => return student.lost(tally, &mut self.outstanding, &why),
                    None if self.stop_by.is_some() => return,
                    None => continue,
                },
            };
            let Some(text) = student.took_unasked(incoming, tally) else {
                continue;
            };
            let Some(asked) = self.outstanding.pop_front() else {
                return student.lost(tally, &mut self.outstanding, "respuesta sin pregunta");
            };
            student.took_answer(&text, asked, tally, &mut self);
        }
    }

    /// Sends questions while there is room in flight and no pause or
    /// shutdown holds them, in one write.
    async fn ask(
        &mut self,
        student: &mut Student,
        tally: &mut StudentTally,
    ) -> Result<(), ConexionError> {
        if self.resume_at.is_some_and(|at| Instant::now() >= at) {
            self.resume_at = None;
        }
        while self.stop_by.is_none()
            && self.resume_at.is_none()
            && self.outstanding.len() < student.config.in_flight
            && student.has_more(tally)
        {
            let question = student.pick();
            self.sent += 1;
            let id = QuestionId {
                client: self.conexion.local_addr(),
                number: self.sent,
            };
            question_line!(info, id = id, "Alumno pregunta: {question}");
            let frame = Bytes::from_static(question.as_str().as_bytes());
            self.conexion.feed(frame).await?;
            self.outstanding.push_back(Asked {
                question,
                sent_at: Instant::now(),
                id,
            });
            tally.sent += 1;
        }
        self.conexion.flush().await
    }

    /// What to wait for next; `None` when this connection is done.
    fn waiting(&self, answer_timeout: Duration) -> Option<Waiting> {
        let pausing = self.outstanding.is_empty() && self.resume_at.is_some();
        if self.outstanding.is_empty() && (!pausing || self.stop_by.is_some()) {
            return None;
        }
        let until = |at: Instant| at.saturating_duration_since(Instant::now());
        // Waiting for answers, a pause that ends meanwhile refills the
        // free slots (with --in-flight over 1) without waiting for every
        // answer.
        Some(match (self.stop_by, self.resume_at) {
            (Some(deadline), _) => Waiting::Answer(until(deadline)),
            (None, Some(at)) if pausing => Waiting::Pause(until(at)),
            (None, Some(at)) => Waiting::Answer(until(at).min(answer_timeout)),
            (None, None) => Waiting::Answer(answer_timeout),
        })
    }

    /// Nothing came in time: `Some(why)` when the connection is given up;
    /// else the loop goes on (a pause is over) or ends (after shutdown,
    /// counting what was not answered).
    fn timed_out(
        &self,
        waiting: &Waiting,
        student: &Student,
        tally: &mut StudentTally,
    ) -> Option<String> {
        if self.stop_by.is_some() {
            tally.unanswered += self.outstanding.len() as u64;
            return None;
        }
        let pause_over = self.resume_at.is_some_and(|at| Instant::now() >= at);
        if pause_over || matches!(waiting, Waiting::Pause(_)) {
            return None;
        }
        Some(format!(
            "sin respuesta en {:?}",
            student.config.answer_timeout
        ))
    }
}

impl Waiting {
    fn limit(&self) -> Duration {
        match self {
            Waiting::Answer(limit) | Waiting::Pause(limit) => *limit,
        }
    }
}
