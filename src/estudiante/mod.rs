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
mod progress;
pub mod sesion;
mod summary;

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::TcpStream;
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
use crate::wire::mensaje::{is_mensaje, Estado, Mensaje};
use crate::wire::texts::{ANNOUNCEMENT_PREFIX, ERROR_PREFIX};
use crate::wire::{describe_io_error, split_framed, Buffers, Question, DEFAULT_DOCENCIO_ADDR};

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

/// Largest answer read. Docencio's answers are a few dozen bytes; the
/// bound only keeps a misbehaving peer from making a student allocate much.
const ANSWER_LIMIT: usize = 1 << 20;

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
                connected = TcpStream::connect(self.docencio()) => connected,
            };
            match connected {
                Ok(stream) => {
                    if failures > 0 || tally.connections > 0 {
                        question_line!(info, "Reconectado a Docencio en {}", self.docencio());
                    } else {
                        debug!("Cliente conectado exitosamente al servidor.");
                    }
                    failures = 0;
                    backoff = retry::backoff();
                    tally.connections += 1;
                    if tally.connections == 1 {
                        if let Some(all_connected) = self.all_connected.take() {
                            tokio::select! {
                                () = self.shutdown.cancelled() => break,
                                waited = all_connected.wait() => if waited.is_leader() {
                                    info!("Los {} estudiantes están conectados; empiezan a preguntar", self.config.students);
                                },
                            }
                        }
                    }
                    self.converse(stream, &mut tally).await;
                    // Lost before it was done: go on at the next Docencio
                    // (the same one, when there is only one).
                    self.next_docencio();
                }
                Err(err) => {
                    failures += 1;
                    self.next_docencio();
                    // Every Docencio tried once in a row: wait before the
                    // next round; else try the next one at once.
                    let round_failed =
                        failures.is_multiple_of(self.config.docencio_addrs.len() as u64);
                    if !round_failed {
                        continue;
                    }
                    let delay = backoff.next().unwrap_or(retry::MAX_RETRY_DELAY);
                    let rounds = failures / self.config.docencio_addrs.len() as u64;
                    if retry::worth_reporting(rounds) {
                        question_line!(
                            warn,
                            "Esperando a Docencio en {} ({}); reintentando",
                            self.config.docencio_addrs.join(", "),
                            describe_io_error(&err)
                        );
                    }
                    tokio::select! {
                        () = self.shutdown.cancelled() => break,
                        () = sleep(delay) => {}
                    }
                }
            }
        }
        tally
    }

    /// Asks and reads on one connection until done, shutdown, or the
    /// connection is lost (questions then unanswered count as lost). On
    /// shutdown it stops asking and waits up to [`STOP_GRACE`] for the
    /// answers to what it already asked, so a stopped class still reports
    /// every question it sent as answered or not.
    async fn converse(&mut self, stream: TcpStream, tally: &mut StudentTally) {
        // The client's end of the connection and the questions sent on it
        // name each question the way Docencio names it (see QuestionId).
        let local = match stream.local_addr() {
            Ok(local) => local,
            Err(err) => return self.lost(tally, &mut VecDeque::new(), &describe_io_error(&err)),
        };
        let (mut answers, mut questions) = split_framed(stream, ANSWER_LIMIT, Buffers::Small);
        if let Some(nombre) = &self.nombre {
            let hola = Mensaje {
                operacion: "hola".into(),
                data: serde_json::json!({ "nombre": nombre }),
                estado: None,
            };
            if let Err(err) = questions.send(hola.to_frame()).await {
                return self.lost(tally, &mut VecDeque::new(), &describe_io_error(&err));
            }
        }
        let mut sent_here = 0u64;
        let mut outstanding: VecDeque<(Question, Instant, QuestionId)> = VecDeque::new();
        let mut stop_by: Option<Instant> = None;
        // The notebook's pause between questions: frames that come meanwhile
        // (announcements, the sala) are still read and shown at once.
        let mut resume_at: Option<Instant> = None;
        loop {
            if resume_at.is_some_and(|at| Instant::now() >= at) {
                resume_at = None;
            }
            while stop_by.is_none()
                && resume_at.is_none()
                && outstanding.len() < self.config.in_flight
                && self.has_more(tally)
            {
                let question = self.pick();
                sent_here += 1;
                let id = QuestionId {
                    client: local,
                    number: sent_here,
                };
                question_line!(info, id = id, "Alumno pregunta: {question}");
                if let Err(err) = questions
                    .feed(Bytes::from_static(question.as_str().as_bytes()))
                    .await
                {
                    return self.lost(tally, &mut outstanding, &describe_io_error(&err));
                }
                outstanding.push_back((question, Instant::now(), id));
                tally.sent += 1;
            }
            if let Err(err) = SinkExt::<Bytes>::flush(&mut questions).await {
                return self.lost(tally, &mut outstanding, &describe_io_error(&err));
            }
            let pausing = outstanding.is_empty() && resume_at.is_some();
            if outstanding.is_empty() && (!pausing || stop_by.is_some()) {
                return;
            }
            // Waiting for answers, a pause that ends meanwhile refills the
            // free slots (with --in-flight over 1) without waiting for
            // every answer.
            let wait = match (stop_by, resume_at) {
                (Some(deadline), _) => deadline.saturating_duration_since(Instant::now()),
                (None, Some(at)) if pausing => at.saturating_duration_since(Instant::now()),
                (None, Some(at)) => at
                    .saturating_duration_since(Instant::now())
                    .min(self.config.answer_timeout),
                (None, None) => self.config.answer_timeout,
            };
            let frame = tokio::select! {
                () = self.shutdown.cancelled(), if stop_by.is_none() => {
                    stop_by = Some(Instant::now() + STOP_GRACE);
                    continue;
                }
                frame = timeout(wait, answers.next()) => frame,
            };
            let body = match frame {
                Ok(Some(Ok(body))) => body,
                Ok(Some(Err(err))) => {
                    return self.lost(tally, &mut outstanding, &describe_io_error(&err))
                }
                Ok(None) => {
                    return self.lost(tally, &mut outstanding, "Docencio cerró la conexión")
                }
                // The pause is over: the next question(s).
                Err(_) if stop_by.is_none() && resume_at.is_some_and(|at| Instant::now() >= at) => {
                    continue
                }
                // Nothing was awaited but the pause.
                Err(_) if pausing && stop_by.is_none() => continue,
                Err(_) if stop_by.is_some() => {
                    tally.unanswered += outstanding.len() as u64;
                    return;
                }
                Err(_) => {
                    let why = format!("sin respuesta en {:?}", self.config.answer_timeout);
                    return self.lost(tally, &mut outstanding, &why);
                }
            };
            if self.took_unasked(&body, tally) {
                continue;
            }
            let Some((question, sent_at, id)) = outstanding.pop_front() else {
                return self.lost(tally, &mut outstanding, "respuesta sin pregunta");
            };
            let text = String::from_utf8_lossy(&body);
            tally.record(sent_at.elapsed());
            self.progress.answered.fetch_add(1, Ordering::Relaxed);
            if text.starts_with(ERROR_PREFIX) {
                tally.errors += 1;
                self.progress.errors.fetch_add(1, Ordering::Relaxed);
            } else if !question.is_answered_by(&text) {
                tally.wrong += 1;
                question_line!(
                    warn,
                    id = id,
                    "Respuesta inesperada a '{question}': {}",
                    for_log(&text)
                );
            } else if question != Question::Contenido {
                tally.relayed += 1;
            }
            question_line!(info, id = id, "Respuesta recibida: {}", for_log(&text));
            if self.config.pause && stop_by.is_none() && self.has_more(tally) {
                let pause = Duration::from_secs_f64(1.0 + self.rng.random::<f64>() * 5.0);
                // A pause already running is not made longer by the next
                // answer.
                resume_at.get_or_insert(Instant::now() + pause);
            }
        }
    }

    /// Takes a frame that is no answer to a question: an announcement
    /// (as text, or as a push to a named student), another's chat, the
    /// answer to its `hola`. Returns false for an answer to a question.
    fn took_unasked(&self, body: &[u8], tally: &mut StudentTally) -> bool {
        if let Some(texto) = body.strip_prefix(ANNOUNCEMENT_PREFIX.as_bytes()) {
            tally.announcements += 1;
            info!(
                "{ANNOUNCEMENT_PREFIX}{}",
                for_log(&String::from_utf8_lossy(texto))
            );
            return true;
        }
        if !is_mensaje(body) {
            return false;
        }
        let Ok(mensaje) = serde_json::from_slice::<Mensaje>(body) else {
            warn!(
                "Docencio envió un mensaje ilegible: {}",
                crate::wire::preview(body)
            );
            return true;
        };
        let data = &mensaje.data;
        match (mensaje.operacion.as_str(), mensaje.estado) {
            ("hola", Some(Estado::Ok)) => debug!("En la sala como {}", data["nombre"]),
            ("hola", Some(Estado::Error)) => warn!(
                "No se pudo tomar el nombre {:?}: {}; se sigue sin nombre",
                self.nombre.as_deref().unwrap_or(""),
                for_log(data.as_str().unwrap_or(""))
            ),
            ("anuncio", None) => {
                tally.announcements += 1;
                info!(
                    "{ANNOUNCEMENT_PREFIX}{}",
                    for_log(data["texto"].as_str().unwrap_or(""))
                );
            }
            ("chat", None) => {
                tally.chat_heard += 1;
                debug!(
                    "{}: {}",
                    for_log(data["de"].as_str().unwrap_or("?")),
                    for_log(data["texto"].as_str().unwrap_or(""))
                );
            }
            ("perdidos", None) => warn!(
                "No se leyó a tiempo: se perdieron {} mensajes de la sala",
                data["cantidad"]
            ),
            _ => debug!("Mensaje de la sala: {}", crate::wire::preview(body)),
        }
        true
    }

    fn lost(
        &self,
        tally: &mut StudentTally,
        outstanding: &mut VecDeque<(Question, Instant, QuestionId)>,
        why: &str,
    ) {
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
