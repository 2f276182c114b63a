//! Docencio's long-lived connections to Tareo, shared by all students.
//!
//! The wire has no request ids: on one connection, answers come back in the
//! order questions were sent. So each connection ("lane") is owned by one
//! task that writes questions and keeps, in a FIFO, who is waiting for each;
//! every answer read goes to the oldest waiter. Many questions may be on the
//! wire at once (pipelining), which is what lets one connection serve
//! hundreds of students.
//!
//! Every question gets a reply within the answer timeout: a real answer, or
//! an `Error: ...` naming Tareo when it is down, cut off, or silent. When the
//! oldest question on a connection times out, the FIFO can no longer be
//! trusted to match answers (the notebook's Tareo simply never answers some
//! inputs), so the connection is dropped and opened again. Questions still
//! within their time when a connection is lost are asked once more on the
//! next one: questions are pure reads, so asking twice is harmless.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep, sleep_until, timeout, timeout_at, Instant};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::retry;
use crate::stats::RoleStats;
use crate::telemetry::{self, QuestionId};
use crate::wire::codec::DEFAULT_MAX_FRAME;
use crate::wire::{describe_io_error, frame_codec, Peer, Question, Refusal};

/// Questions on the wire at once on one connection. Kept below Tareo's
/// default per-connection limit (256) so Tareo never stops reading us while
/// we write, and small enough that a write never waits on a full socket.
const MAX_PIPELINE: usize = 128;

/// Questions waiting for a lane before students feel backpressure.
const LANE_QUEUE: usize = 4096;

/// Longest wait between two tries to reach Tareo. A lane is one connection,
/// so trying twice a second costs nothing, and answers resume within half a
/// second of Tareo being back (with the students' 2 s cap it took up to 2 s).
const LINK_RETRY_CAP: Duration = Duration::from_millis(500);

/// A handle on the connections to Tareo.
#[derive(Debug)]
pub struct TareoLink {
    lanes: Vec<mpsc::Sender<Request>>,
    next_lane: AtomicUsize,
    answer_timeout: Duration,
}

struct Request {
    question: Question,
    /// The asking student's question span: lines about it carry its id.
    span: tracing::Span,
    /// By then the asker gets an error, whatever the state of the link.
    deadline: Instant,
    /// Already asked once on a connection that was lost before answering.
    retried: bool,
    reply: oneshot::Sender<Result<String, Refusal>>,
}

impl Request {
    fn answer(self, result: Result<String, Refusal>) {
        // The student may have left meanwhile; nobody to tell then.
        let _ = self.reply.send(result);
    }
}

fn unavailable(detail: impl Into<String>) -> Refusal {
    Refusal::Unavailable {
        peer: Peer::Tareo,
        detail: detail.into(),
    }
}

impl TareoLink {
    /// Starts `connections` lane tasks on `tasks`, each connecting to
    /// `addr` and reconnecting with backoff, until `shutdown`.
    pub fn start(
        addr: &str,
        connections: usize,
        answer_timeout: Duration,
        max_frame: usize,
        stats: Arc<RoleStats>,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> Arc<Self> {
        let lanes = (0..connections.max(1))
            .map(|lane| {
                let (sender, receiver) = mpsc::channel(LANE_QUEUE);
                let lane = Lane {
                    carried: Vec::new(),
                    number: lane + 1,
                    addr: addr.to_owned(),
                    answer_timeout,
                    max_frame,
                    requests: receiver,
                    stats: stats.clone(),
                    shutdown: shutdown.clone(),
                };
                tasks.spawn(lane.run());
                sender
            })
            .collect();
        Arc::new(TareoLink {
            lanes,
            next_lane: AtomicUsize::new(0),
            answer_timeout,
        })
    }

    /// Asks Tareo `question`; returns its answer text as sent, or the reason
    /// there is none. Never waits longer than the answer timeout.
    pub async fn ask(&self, question: Question) -> Result<String, Refusal> {
        let deadline = Instant::now() + self.answer_timeout;
        let (reply, answer) = oneshot::channel();
        let lane = self.next_lane.fetch_add(1, Ordering::Relaxed) % self.lanes.len();
        let request = Request {
            question,
            span: tracing::Span::current(),
            deadline,
            retried: false,
            reply,
        };
        let timed_out = || unavailable(format!("sin respuesta en {:?}", self.answer_timeout));
        match timeout_at(deadline, self.lanes[lane].send(request)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(unavailable("Docencio se está deteniendo")),
            Err(_) => return Err(timed_out()),
        }
        // The lane answers by the deadline; the margin only covers scheduling.
        match timeout_at(deadline + Duration::from_millis(250), answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(unavailable("Docencio se está deteniendo")),
            Err(_) => Err(timed_out()),
        }
    }
}

/// One connection to Tareo and the questions queued for it.
struct Lane {
    /// Questions whose connection was lost before their answer came, asked
    /// again (once) on the next connection. Questions are pure reads, so
    /// asking twice is harmless, and a link that Tareo closed just as a
    /// question crossed it (say, after its idle timeout) costs no student
    /// an error.
    carried: Vec<Request>,
    number: usize,
    addr: String,
    answer_timeout: Duration,
    max_frame: usize,
    requests: mpsc::Receiver<Request>,
    stats: Arc<RoleStats>,
    shutdown: CancellationToken,
}

/// Where a question goes on one connection to Tareo: Docencio's end of it
/// and the number of questions written so far. Tareo names the questions it
/// reads the same way, so `local#n` is the same question in both logs.
struct LinkIds {
    local: SocketAddr,
    sent: u64,
}

impl LinkIds {
    fn next(&mut self) -> QuestionId {
        self.sent += 1;
        QuestionId {
            client: self.local,
            number: self.sent,
        }
    }
}

impl Lane {
    async fn run(mut self) {
        let mut backoff = retry::backoff_up_to(LINK_RETRY_CAP);
        let mut failures = 0u64;
        let mut connected_before = false;
        loop {
            // Questions asked meanwhile wait in the queue: on loopback a
            // connection takes microseconds, and the first students of a
            // class must not get an error just for being quick. Connecting
            // is bounded by the answer timeout, so nobody waits longer.
            let connected = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return,
                result = timeout(self.answer_timeout, TcpStream::connect(&self.addr)) => result,
            };
            let error = match connected {
                Ok(Ok(stream)) => {
                    backoff = retry::backoff_up_to(LINK_RETRY_CAP);
                    failures = 0;
                    if connected_before {
                        self.stats.reconnected();
                    }
                    connected_before = true;
                    info!(
                        "Cliente conectado exitosamente a Tareo en {} (conexión {}, desde {})",
                        self.addr,
                        self.number,
                        stream
                            .local_addr()
                            .map_or_else(|_| "?".to_owned(), |addr| addr.to_string())
                    );
                    match self.session(stream).await {
                        SessionEnd::Shutdown => return,
                        SessionEnd::Lost(reason) => {
                            warn!("Conexión con Tareo perdida ({reason}); reconectando");
                            continue;
                        }
                    }
                }
                Ok(Err(err)) => describe_io_error(&err),
                Err(_) => format!("sin respuesta en {:?}", self.answer_timeout),
            };
            for request in self.carried.drain(..) {
                request.answer(Err(unavailable(format!("{}: {error}", self.addr))));
            }
            failures += 1;
            let delay = backoff.next().unwrap_or(retry::MAX_RETRY_DELAY);
            if retry::worth_reporting(failures) {
                warn!(
                    "Esperando a Tareo en {} ({error}); reintentando cada {:?} como máximo",
                    self.addr, LINK_RETRY_CAP
                );
            } else {
                debug!(
                    "Tareo sigue sin responder en {} ({error}); reintento en {delay:?}",
                    self.addr
                );
            }
            let pause = sleep(delay);
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    biased;
                    () = self.shutdown.cancelled() => return,
                    () = &mut pause => break,
                    Some(request) = self.requests.recv() => {
                        request.answer(Err(unavailable(format!("{}: {error}; reintentando", self.addr))));
                    }
                }
            }
        }
    }

    /// Serves requests over one connection until it fails or shutdown.
    async fn session(&mut self, stream: TcpStream) -> SessionEnd {
        let _ = stream.set_nodelay(true);
        let mut link = LinkIds {
            local: match stream.local_addr() {
                Ok(local) => local,
                Err(err) => return SessionEnd::Lost(describe_io_error(&err)),
            },
            sent: 0,
        };
        let (read_half, write_half) = stream.into_split();
        // The students' limit bounds questions; Tareo's answers (errors echo
        // part of the question) get at least the contract's default.
        let answer_limit = self.max_frame.max(DEFAULT_MAX_FRAME);
        let mut answers = FramedRead::new(read_half, frame_codec(answer_limit));
        let mut questions = FramedWrite::new(write_half, frame_codec(answer_limit));
        let mut waiting: VecDeque<Request> = VecDeque::with_capacity(MAX_PIPELINE);
        // What the last connection left unanswered goes first.
        let mut batch = std::mem::take(&mut self.carried);
        if !batch.is_empty() {
            debug!("se vuelven a preguntar {} pregunta(s) a Tareo", batch.len());
        }

        let end = loop {
            if !batch.is_empty() {
                let ask = std::mem::take(&mut batch);
                match self
                    .write_batch(&mut questions, &mut waiting, &mut link, ask)
                    .await
                {
                    Ok(()) => continue,
                    Err(end) => break end,
                }
            }
            let oldest = waiting.front().map(|request| request.deadline);
            tokio::select! {
                biased;
                frame = answers.next() => match frame {
                    Some(Ok(body)) => match waiting.pop_front() {
                        Some(request) => request.answer(decode(body.freeze())),
                        None => break SessionEnd::Lost("Tareo respondió algo que nadie preguntó".into()),
                    },
                    Some(Err(err)) => break SessionEnd::Lost(format!("error al leer: {}", describe_io_error(&err))),
                    None => break SessionEnd::Lost("Tareo cerró la conexión".into()),
                },
                () = sleep_until(oldest.unwrap_or_else(Instant::now)), if oldest.is_some() => {
                    break SessionEnd::Lost(format!("sin respuesta en {:?}", self.answer_timeout));
                }
                request = self.requests.recv(), if waiting.len() < MAX_PIPELINE => {
                    let Some(first) = request else { break SessionEnd::Shutdown };
                    // Everything already queued goes in one write.
                    batch.push(first);
                    while batch.len() + waiting.len() < MAX_PIPELINE {
                        match self.requests.try_recv() {
                            Ok(request) => batch.push(request),
                            Err(_) => break,
                        }
                    }
                }
                () = self.shutdown.cancelled(), if waiting.is_empty() => break SessionEnd::Shutdown,
            }
        };
        if let SessionEnd::Lost(reason) = &end {
            let now = Instant::now();
            for mut request in waiting.drain(..) {
                if request.retried || request.deadline <= now || request.reply.is_closed() {
                    request.answer(Err(unavailable(reason.clone())));
                } else {
                    request.retried = true;
                    self.carried.push(request);
                }
            }
        }
        end
    }

    /// Writes `batch` in one flush, adding each question to `waiting` in
    /// write order. Skips questions nobody waits for any more, and answers
    /// those already past their deadline.
    async fn write_batch(
        &self,
        questions: &mut FramedWrite<OwnedWriteHalf, LengthDelimitedCodec>,
        waiting: &mut VecDeque<Request>,
        link: &mut LinkIds,
        batch: Vec<Request>,
    ) -> Result<(), SessionEnd> {
        let now = Instant::now();
        let oldest = waiting.front().map(|request| request.deadline);
        let mut frames = Vec::with_capacity(batch.len());
        let mut write_by = oldest;
        for request in batch {
            if request.reply.is_closed() {
                continue; // the student left; don't ask for nothing
            }
            if request.deadline <= now {
                let late = format!("sin respuesta en {:?}", self.answer_timeout);
                request.answer(Err(unavailable(late)));
                continue;
            }
            write_by = Some(write_by.map_or(request.deadline, |by| by.min(request.deadline)));
            frames.push(Bytes::from_static(request.question.as_str().as_bytes()));
            let link_id = link.next();
            if telemetry::budget().allow() {
                request
                    .span
                    .in_scope(|| info!("Preguntamos a Tareo: {link_id}"));
            }
            // Waiters go in as written: the FIFO order is the write order.
            waiting.push_back(request);
        }
        let Some(write_by) = write_by else {
            return Ok(());
        };
        let write = async {
            for frame in frames {
                questions.feed(frame).await?;
            }
            SinkExt::<Bytes>::flush(questions).await
        };
        match timeout_at(write_by, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(SessionEnd::Lost(format!(
                "error al escribir: {}",
                describe_io_error(&err)
            ))),
            Err(_) => Err(SessionEnd::Lost("Tareo no lee sus preguntas".into())),
        }
    }
}

enum SessionEnd {
    Shutdown,
    Lost(String),
}

fn decode(body: Bytes) -> Result<String, Refusal> {
    String::from_utf8(body.to_vec())
        .map_err(|_| unavailable("Tareo respondió algo que no es texto UTF-8"))
}
