//! Estudiante: simulated students asking Docencio random questions.
//!
//! Like the notebook's student, each one picks `Contenido`, `Tarea` or
//! `Pregunta Dificil` at random, waits 1–6 s, and prints each answer as it
//! arrives. Beyond it: many students in one process (one connection each),
//! a fixed number of questions, no pause, pipelining, a seed for
//! reproducible runs, reconnection with backoff when Docencio goes away, and
//! a [`Summary`] with throughput and latency percentiles at the end.

mod progress;
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
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, info_span, warn, Instrument};

pub use summary::{StudentReport, Summary, SummaryRecord};

use progress::{Progress, ProgressDisplay};

use crate::retry;
use crate::telemetry::{self, question_span, QuestionId};
use crate::wire::codec::{CONNECTION_BUFFER, WRITE_BURST};
use crate::wire::texts::ERROR_PREFIX;
use crate::wire::{describe_io_error, frame_codec, Question};

/// The simulation's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Docencio's address (HOST:PORT).
    pub docencio_addr: String,
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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            docencio_addr: crate::config::DEFAULT_DOCENCIO_BIND.to_owned(),
            students: 1,
            questions: None,
            pause: true,
            seed: None,
            in_flight: 1,
            only: None,
            answer_timeout: Duration::from_secs(30),
            connect_first: false,
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
        config.students, config.docencio_addr
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
        };
        let span = info_span!("estudiante", n = number);
        students.spawn(student.run().instrument(span));
    }
    let display = ProgressDisplay::start(&config, progress.clone(), started);

    let mut summary = Summary::new(config.students);
    while let Some(joined) = students.join_next().await {
        match joined {
            Ok(report) => summary.add(report),
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
}

impl Student {
    fn has_more(&self, report: &StudentReport) -> bool {
        self.config
            .questions
            .is_none_or(|limit| report.sent < limit)
    }

    fn pick(&mut self) -> Question {
        self.config
            .only
            .unwrap_or_else(|| Question::ALL[self.rng.random_range(0..Question::ALL.len())])
    }

    async fn run(mut self) -> StudentReport {
        let mut report = StudentReport::new();
        let mut backoff = retry::backoff();
        let mut failures = 0u64;
        while self.has_more(&report) && !self.shutdown.is_cancelled() {
            let connected = tokio::select! {
                () = self.shutdown.cancelled() => break,
                connected = TcpStream::connect(&self.config.docencio_addr) => connected,
            };
            match connected {
                Ok(stream) => {
                    if failures > 0 || report.connections > 0 {
                        if telemetry::budget().allow() {
                            info!("Reconectado a Docencio en {}", self.config.docencio_addr);
                        }
                    } else {
                        debug!("Cliente conectado exitosamente al servidor.");
                    }
                    failures = 0;
                    backoff = retry::backoff();
                    report.connections += 1;
                    let _ = stream.set_nodelay(true);
                    if report.connections == 1 {
                        if let Some(all_connected) = self.all_connected.take() {
                            tokio::select! {
                                () = self.shutdown.cancelled() => break,
                                waited = all_connected.wait() => if waited.is_leader() {
                                    info!("Los {} estudiantes están conectados; empiezan a preguntar", self.config.students);
                                },
                            }
                        }
                    }
                    self.converse(stream, &mut report).await;
                }
                Err(err) => {
                    failures += 1;
                    let delay = backoff.next().unwrap_or(retry::MAX_RETRY_DELAY);
                    if retry::worth_reporting(failures) && telemetry::budget().allow() {
                        warn!(
                            "Esperando a Docencio en {} ({}); reintentando",
                            self.config.docencio_addr,
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
        report
    }

    /// Asks and reads on one connection until done, shutdown, or the
    /// connection is lost (questions then unanswered count as lost). On
    /// shutdown it stops asking and waits up to [`STOP_GRACE`] for the
    /// answers to what it already asked, so a stopped class still reports
    /// every question it sent as answered or not.
    async fn converse(&mut self, stream: TcpStream, report: &mut StudentReport) {
        let mut framed =
            Framed::with_capacity(stream, frame_codec(ANSWER_LIMIT), CONNECTION_BUFFER);
        framed.set_backpressure_boundary(WRITE_BURST);
        // The client's end of the connection and the questions sent on it
        // name each question the way Docencio names it (see QuestionId).
        let local = match framed.get_ref().local_addr() {
            Ok(local) => local,
            Err(err) => return self.lost(report, &mut VecDeque::new(), &describe_io_error(&err)),
        };
        let mut sent_here = 0u64;
        let mut outstanding: VecDeque<(Question, Instant, QuestionId)> = VecDeque::new();
        let mut stop_by: Option<Instant> = None;
        loop {
            while stop_by.is_none()
                && outstanding.len() < self.config.in_flight
                && self.has_more(report)
            {
                let question = self.pick();
                sent_here += 1;
                let id = QuestionId {
                    client: local,
                    number: sent_here,
                };
                if telemetry::budget().allow() {
                    question_span(id).in_scope(|| info!("Alumno pregunta: {question}"));
                }
                if let Err(err) = framed
                    .feed(Bytes::from_static(question.as_str().as_bytes()))
                    .await
                {
                    return self.lost(report, &mut outstanding, &describe_io_error(&err));
                }
                outstanding.push_back((question, Instant::now(), id));
                report.sent += 1;
            }
            if let Err(err) = SinkExt::<Bytes>::flush(&mut framed).await {
                return self.lost(report, &mut outstanding, &describe_io_error(&err));
            }
            if outstanding.is_empty() {
                return;
            }
            let wait = match stop_by {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => self.config.answer_timeout,
            };
            let frame = tokio::select! {
                () = self.shutdown.cancelled(), if stop_by.is_none() => {
                    stop_by = Some(Instant::now() + STOP_GRACE);
                    continue;
                }
                frame = timeout(wait, framed.next()) => frame,
            };
            let body = match frame {
                Ok(Some(Ok(body))) => body,
                Ok(Some(Err(err))) => {
                    return self.lost(report, &mut outstanding, &describe_io_error(&err))
                }
                Ok(None) => {
                    return self.lost(report, &mut outstanding, "Docencio cerró la conexión")
                }
                Err(_) if stop_by.is_some() => {
                    report.unanswered += outstanding.len() as u64;
                    return;
                }
                Err(_) => {
                    let why = format!("sin respuesta en {:?}", self.config.answer_timeout);
                    return self.lost(report, &mut outstanding, &why);
                }
            };
            let Some((question, sent_at, id)) = outstanding.pop_front() else {
                return self.lost(report, &mut outstanding, "respuesta sin pregunta");
            };
            let text = String::from_utf8_lossy(&body);
            report.record(sent_at.elapsed());
            self.progress.answered.fetch_add(1, Ordering::Relaxed);
            if text.starts_with(ERROR_PREFIX) {
                report.errors += 1;
                self.progress.errors.fetch_add(1, Ordering::Relaxed);
            } else if !question.is_answered_by(&text) {
                report.wrong += 1;
                if telemetry::budget().allow() {
                    question_span(id)
                        .in_scope(|| warn!("Respuesta inesperada a '{question}': {text}"));
                }
            } else if question != Question::Contenido {
                report.relayed += 1;
            }
            if telemetry::budget().allow() {
                question_span(id).in_scope(|| info!("Respuesta recibida: {text}"));
            }
            if self.config.pause && stop_by.is_none() && self.has_more(report) {
                let pause = Duration::from_secs_f64(1.0 + self.rng.random::<f64>() * 5.0);
                tokio::select! {
                    () = self.shutdown.cancelled() => {
                        stop_by = Some(Instant::now() + STOP_GRACE);
                    }
                    () = sleep(pause) => {}
                }
            }
        }
    }

    fn lost(
        &self,
        report: &mut StudentReport,
        outstanding: &mut VecDeque<(Question, Instant, QuestionId)>,
        why: &str,
    ) {
        let lost = outstanding.len() as u64;
        report.lost += lost;
        self.progress.errors.fetch_add(lost, Ordering::Relaxed);
        outstanding.clear();
        if telemetry::budget().allow() {
            warn!(
                "Conexión con Docencio perdida ({why}); {lost} pregunta(s) sin respuesta; reconectando"
            );
        }
    }
}
