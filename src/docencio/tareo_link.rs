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
//! within their time when a connection is lost are asked once more:
//! questions are pure reads, so asking twice is harmless.
//!
//! With several Tareos (`--tareo-addr A,B`), each has its lanes, and a
//! question goes to the lane with the fewest questions in flight among
//! those connected. When a Tareo goes away, the questions on its lanes are
//! asked again on another Tareo's, and new ones go there too; a student
//! hears `Error: Tareo no está disponible` only when no Tareo is up. A
//! Tareo that comes back is connected again by its lanes and, being the
//! least busy, used again at once.
//!
//! Head of line: Tareo answers in order, so on a shared connection a `Tarea`
//! (answered from a list at once) would wait behind a `Pregunta Dificil`
//! while Profesor is slow. Each Tareo therefore also has a side lane, used
//! only for `Tarea` and only while its shared lane is stalled (questions in
//! flight and no answer for [`STALLED_AFTER`]): it connects on demand and
//! closes after [`SIDE_LANE_IDLE`] without questions. With Profesor
//! answering, Docencio keeps one connection per Tareo, as in the notebook.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep, sleep_until, timeout, timeout_at, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::question_line;
use crate::retry;
use crate::role_counters::RoleCounters;
use crate::telemetry::QuestionId;
use crate::wire::codec::DEFAULT_MAX_FRAME;
use crate::wire::{
    describe_io_error, split_framed, Buffers, FrameWriter, Peer, Question, QuestionError,
};

/// Questions on the wire at once on one connection. Kept below Tareo's
/// default per-connection limit (256) so Tareo never stops reading us while
/// we write, and small enough that a write never waits on a full socket.
const MAX_PIPELINE: usize = 128;

/// Questions waiting for a lane before students feel backpressure.
const LANE_QUEUE: usize = 4096;

/// A shared lane with questions in flight and no answer for this long is
/// stalled (Profesor is slow to answer a hard question, most likely): new
/// `Tarea` questions take its Tareo's side lane. Far above an answer's time
/// on a LAN (about 1 ms) and on the tests' 20 ms links.
const STALLED_AFTER: Duration = Duration::from_millis(200);

/// A side lane without questions for this long closes its connection.
const SIDE_LANE_IDLE: Duration = Duration::from_secs(30);

/// Longest wait between two tries to reach Tareo. A lane is one connection,
/// so trying twice a second costs nothing, and answers resume within half a
/// second of Tareo being back (with the students' 2 s cap it took up to 2 s).
const LINK_RETRY_CAP: Duration = Duration::from_millis(500);

/// When the links stop, and when Docencio stops serving students.
#[derive(Debug, Clone)]
pub struct Stopping {
    /// Docencio is shutting down: students are no longer read and get what
    /// they asked answered. A link lost now (Tareo is most likely stopping
    /// too, as on a Ctrl-C of the whole class) is not opened again, and
    /// that is no cause for alarm in the log.
    pub serving: CancellationToken,
    /// The links themselves stop (after the students are answered).
    pub links: CancellationToken,
}

/// How a link lost to a Tareo that stopped answering is described.
const SILENT: &str = "sin respuesta en";

/// How long a lost link waits to learn whether Docencio is stopping too.
const STOP_GRACE: Duration = Duration::from_millis(100);

/// A handle on the connections to Tareo.
#[derive(Debug)]
pub struct TareoLink {
    lanes: Arc<Lanes>,
    answer_timeout: Duration,
}

/// Every lane, as `ask` and the lanes themselves see them: to choose where
/// a question goes, and to pass one on when its Tareo goes away.
#[derive(Debug)]
struct Lanes {
    /// The shared lanes first (`shared` of them), then one side lane per
    /// Tareo.
    handles: Vec<LaneHandle>,
    shared: usize,
    /// Where the search for the least busy lane starts, turning, so that
    /// lanes equally busy take turns.
    next: AtomicUsize,
    /// The clock's start for [`LaneHandle::progress_ms`].
    epoch: Instant,
}

#[derive(Debug)]
struct LaneHandle {
    /// The Tareo this lane talks to.
    target: String,
    sender: mpsc::Sender<Request>,
    /// Connected now.
    up: AtomicBool,
    /// Questions given to this lane and not answered yet.
    in_flight: Arc<AtomicUsize>,
    /// When this lane last moved (ms since [`Lanes::epoch`]): an answer
    /// read, or questions written to an idle connection.
    progress_ms: Arc<AtomicU64>,
    /// For a shared lane, its Tareo's side lane.
    side: Option<usize>,
}

impl Lanes {
    /// The lane for a question: among the lanes that are up (preferring
    /// another Tareo than `avoid`'s), the one with the fewest questions in
    /// flight; `None` when no lane (but `avoid`) is up.
    fn least_busy_up(&self, avoid: Option<usize>) -> Option<usize> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.shared;
        let avoided_target = avoid.map(|index| self.handles[index].target.as_str());
        (0..count)
            .map(|offset| (start + offset) % count)
            .filter(|&index| Some(index) != avoid && self.handles[index].up.load(Ordering::Relaxed))
            .min_by_key(|&index| {
                let handle = &self.handles[index];
                let same_tareo = avoided_target == Some(handle.target.as_str());
                (same_tareo, handle.in_flight.load(Ordering::Relaxed))
            })
    }

    /// The lane for a new question: the least busy that is up, or (none
    /// up, as while the class starts) the next in turn, which waits for
    /// its connection or says why there is none.
    fn for_new_question(&self, question: Question) -> usize {
        let shared = self
            .least_busy_up(None)
            .unwrap_or_else(|| self.next.fetch_add(1, Ordering::Relaxed) % self.shared);
        match self.handles[shared].side {
            Some(side) if question == Question::Tarea && self.is_stalled(shared) => side,
            _ => shared,
        }
    }

    /// Questions in flight on lane `index` and no answer for
    /// [`STALLED_AFTER`].
    fn is_stalled(&self, index: usize) -> bool {
        let handle = &self.handles[index];
        handle.in_flight.load(Ordering::Relaxed) > 0
            && self
                .now_ms()
                .saturating_sub(handle.progress_ms.load(Ordering::Relaxed))
                > STALLED_AFTER.as_millis() as u64
    }

    fn now_ms(&self) -> u64 {
        millis_since(self.epoch)
    }
}

fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// One question counted in its lane's `in_flight` while it exists.
#[derive(Debug)]
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        InFlight(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Request {
    question: Question,
    /// The asking student's question span: lines about it carry its id.
    span: tracing::Span,
    /// By then the asker gets an error, whatever the state of the link.
    deadline: Instant,
    /// Already asked once on a connection that was lost before answering.
    retried: bool,
    reply: oneshot::Sender<Result<String, QuestionError>>,
    /// Counts it in the lane that has it.
    in_flight: InFlight,
}

impl Request {
    fn answer(self, result: Result<String, QuestionError>) {
        // The student may have left meanwhile; nobody to tell then.
        let _ = self.reply.send(result);
    }
}

fn unavailable(detail: impl Into<String>) -> QuestionError {
    QuestionError::Unavailable {
        peer: Peer::Tareo,
        detail: detail.into(),
    }
}

impl TareoLink {
    /// Starts `connections` lane tasks per Tareo on `tasks` (`addrs`: one
    /// address, or several separated by commas), each connecting and
    /// reconnecting with backoff, until `stopping.links`.
    pub fn start(
        addrs: &str,
        connections: usize,
        answer_timeout: Duration,
        max_frame: usize,
        counters: Arc<RoleCounters>,
        stopping: Stopping,
        tasks: &TaskTracker,
    ) -> Arc<Self> {
        let mut targets: Vec<String> = addrs
            .split(',')
            .map(str::trim)
            .filter(|addr| !addr.is_empty())
            .map(str::to_owned)
            .collect();
        if targets.is_empty() {
            targets.push(addrs.to_owned());
        }
        let mut receivers = Vec::new();
        let mut handles = Vec::new();
        let per_tareo = connections.max(1);
        let shared = targets.len() * per_tareo;
        let handle = |target: &str, sender, side| LaneHandle {
            target: target.to_owned(),
            sender,
            up: AtomicBool::new(false),
            in_flight: Arc::new(AtomicUsize::new(0)),
            progress_ms: Arc::new(AtomicU64::new(0)),
            side,
        };
        for (number, target) in targets.iter().enumerate() {
            for _ in 0..per_tareo {
                let (sender, receiver) = mpsc::channel(LANE_QUEUE);
                receivers.push((target.clone(), receiver));
                handles.push(handle(target, sender, Some(shared + number)));
            }
        }
        for target in &targets {
            let (sender, receiver) = mpsc::channel(LANE_QUEUE);
            receivers.push((target.clone(), receiver));
            handles.push(handle(target, sender, None));
        }
        let epoch = Instant::now();
        let progress: Vec<Arc<AtomicU64>> = handles
            .iter()
            .map(|handle| handle.progress_ms.clone())
            .collect();
        let lanes = Arc::new(Lanes {
            handles,
            shared,
            next: AtomicUsize::new(0),
            epoch,
        });
        for (index, ((target, receiver), progress)) in
            receivers.into_iter().zip(progress).enumerate()
        {
            let lane = Lane {
                carried: Vec::new(),
                progress,
                epoch,
                index,
                on_demand: index >= shared,
                number: index + 1,
                addr: target,
                lanes: Arc::downgrade(&lanes),
                answer_timeout,
                max_frame,
                requests: receiver,
                counters: counters.clone(),
                shutdown: stopping.links.clone(),
                serving_stopped: stopping.serving.clone(),
            };
            tasks.spawn(lane.run());
        }
        Arc::new(TareoLink {
            lanes,
            answer_timeout,
        })
    }

    /// Asks Tareo `question`; returns its answer text as sent, or the reason
    /// there is none. Never waits longer than the answer timeout.
    pub async fn ask(&self, question: Question) -> Result<String, QuestionError> {
        let deadline = Instant::now() + self.answer_timeout;
        let (reply, answer) = oneshot::channel();
        let lane = &self.lanes.handles[self.lanes.for_new_question(question)];
        let request = Request {
            question,
            span: tracing::Span::current(),
            deadline,
            retried: false,
            reply,
            in_flight: InFlight::new(&lane.in_flight),
        };
        let timed_out = || unavailable(format!("sin respuesta en {:?}", self.answer_timeout));
        match timeout_at(deadline, lane.sender.send(request)).await {
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
    /// This lane's place in [`Lanes`].
    index: usize,
    /// A side lane: connects when given a question, closes when idle.
    on_demand: bool,
    /// This lane's [`LaneHandle::progress_ms`], and the clock it counts on.
    progress: Arc<AtomicU64>,
    epoch: Instant,
    number: usize,
    addr: String,
    /// The other lanes, to pass questions on to; weak, so that the lanes
    /// and their channels go away with the link.
    lanes: std::sync::Weak<Lanes>,
    answer_timeout: Duration,
    max_frame: usize,
    requests: mpsc::Receiver<Request>,
    counters: Arc<RoleCounters>,
    shutdown: CancellationToken,
    /// See [`Stopping::serving`].
    serving_stopped: CancellationToken,
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
            // A side lane connects only when it has something to ask.
            if self.on_demand && self.carried.is_empty() && !self.wait_for_a_question().await {
                return;
            }
            let error = match self.connect().await {
                None => return,
                Some(Ok(stream)) => {
                    backoff = retry::backoff_up_to(LINK_RETRY_CAP);
                    failures = 0;
                    if connected_before && !self.on_demand {
                        self.counters.reconnected();
                    }
                    connected_before = true;
                    if self.serve(stream).await {
                        continue;
                    }
                    return;
                }
                Some(Err(error)) => error,
            };
            failures += 1;
            if !self
                .wait_after_failure(&error, failures, &mut backoff)
                .await
            {
                return;
            }
        }
    }

    /// A side lane's wait for a question to connect for; false when the
    /// lane stops instead.
    async fn wait_for_a_question(&mut self) -> bool {
        tokio::select! {
            biased;
            () = self.shutdown.cancelled() => false,
            request = self.requests.recv() => match request {
                Some(request) => {
                    self.carried.push(request);
                    true
                }
                None => false,
            },
        }
    }

    /// A connection to Tareo, or why there is none; `None` on shutdown.
    async fn connect(&self) -> Option<Result<TcpStream, String>> {
        // Questions asked meanwhile wait in the queue: on loopback a
        // connection takes microseconds, and the first students of a
        // class must not get an error just for being quick. Connecting is
        // bounded by the answer timeout, so nobody waits longer.
        let connected = tokio::select! {
            biased;
            () = self.shutdown.cancelled() => return None,
            result = timeout(self.answer_timeout, TcpStream::connect(&self.addr)) => result,
        };
        Some(match connected {
            // Connecting to a port of this host nobody listens on can, once
            // in many thousand tries, connect the socket to itself (TCP
            // simultaneous open): every question would come back as its
            // own answer. That is no Tareo.
            Ok(Ok(stream)) if is_self_connected(&stream) => {
                Err(describe_io_error(&std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    "conexión consigo misma: nadie escucha en ese puerto",
                )))
            }
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(err)) => Err(describe_io_error(&err)),
            Err(_) => Err(format!("sin respuesta en {:?}", self.answer_timeout)),
        })
    }

    /// Serves questions on `stream` until it ends; false when the lane
    /// stops with it.
    async fn serve(&mut self, stream: TcpStream) -> bool {
        let local = stream
            .local_addr()
            .map_or_else(|_| "?".to_owned(), |addr| addr.to_string());
        if self.on_demand {
            info!(
                "Conexión aparte con Tareo en {} para las preguntas de Tarea mientras la compartida espera (desde {local})",
                self.addr
            );
        } else {
            info!(
                "Cliente conectado exitosamente a Tareo en {} (conexión {}, desde {local})",
                self.addr, self.number
            );
        }
        self.set_up(true);
        let end = self.session(stream).await;
        self.set_up(false);
        match end {
            SessionEnd::Shutdown => false,
            SessionEnd::Idle => {
                debug!(
                    "Conexión aparte con Tareo en {} cerrada: sin preguntas en {SIDE_LANE_IDLE:?}",
                    self.addr
                );
                true
            }
            SessionEnd::Lost(reason) if self.stopping_with_the_class().await => {
                if reason.starts_with(SILENT) {
                    warn!("Tareo dejó de responder mientras Docencio se detiene ({reason})");
                } else {
                    info!("Conexión con Tareo cerrada mientras Docencio se detiene ({reason})");
                }
                self.refuse_until_shutdown("Docencio se está deteniendo")
                    .await;
                false
            }
            SessionEnd::Lost(reason) => {
                warn!("Conexión con Tareo perdida ({reason}); reconectando");
                true
            }
        }
    }

    /// After a failed connection (`error`, the `failures`th in a row):
    /// what was carried goes to another Tareo or is refused, and the lane
    /// waits (refusing or passing on what comes meanwhile) before trying
    /// again; false when the lane stops instead.
    async fn wait_after_failure(
        &mut self,
        error: &str,
        failures: u64,
        backoff: &mut impl Iterator<Item = Duration>,
    ) -> bool {
        for request in std::mem::take(&mut self.carried) {
            if let Err(request) = self.pass_on(request) {
                request.answer(Err(unavailable(format!("{}: {error}", self.addr))));
            }
        }
        if self.serving_stopped.is_cancelled() {
            debug!(
                "Tareo no responde en {} mientras Docencio se detiene ({error})",
                self.addr
            );
            self.refuse_until_shutdown("Docencio se está deteniendo")
                .await;
            return false;
        }
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
                () = self.shutdown.cancelled() => return false,
                () = &mut pause => return true,
                Some(request) = self.requests.recv() => {
                    // Another Tareo may answer it; else the student is told.
                    if let Err(request) = self.pass_on(request) {
                        request.answer(Err(unavailable(format!("{}: {error}; reintentando", self.addr))));
                    }
                }
            }
        }
    }

    /// Whether another Tareo than this lane's is configured.
    fn has_other_tareos(&self) -> bool {
        self.lanes
            .upgrade()
            .is_some_and(|lanes| lanes.handles.iter().any(|lane| lane.target != self.addr))
    }

    fn set_up(&self, up: bool) {
        if let Some(lanes) = self.lanes.upgrade() {
            lanes.handles[self.index].up.store(up, Ordering::Relaxed);
        }
        self.progressed();
    }

    /// This lane moved: an answer came, or an idle connection was given
    /// questions.
    fn progressed(&self) {
        self.progress
            .store(millis_since(self.epoch), Ordering::Relaxed);
    }

    /// Gives `request` to the least busy lane of another Tareo that is up
    /// (or another lane to the same one); gives it back when there is none.
    fn pass_on(&self, mut request: Request) -> Result<(), Request> {
        let Some(lanes) = self.lanes.upgrade() else {
            return Err(request);
        };
        let Some(other) = lanes.least_busy_up(Some(self.index)) else {
            return Err(request);
        };
        let handle = &lanes.handles[other];
        request.in_flight = InFlight::new(&handle.in_flight);
        handle
            .sender
            .try_send(request)
            .map_err(|full_or_closed| full_or_closed.into_inner())
    }

    /// Whether a link just lost is part of Docencio stopping. A Ctrl-C in
    /// the class's terminal reaches every role at once, and Tareo may close
    /// the link a moment before Docencio has seen its own signal: a short
    /// grace tells the two apart, and only delays the reconnection after a
    /// real fault by as much.
    async fn stopping_with_the_class(&self) -> bool {
        timeout(STOP_GRACE, self.serving_stopped.cancelled())
            .await
            .is_ok()
    }

    /// While Docencio stops without a link: answers whatever is still
    /// asked (questions carried from the lost link, new ones from students
    /// being drained) with an error, until the links stop.
    async fn refuse_until_shutdown(&mut self, why: &str) {
        for request in self.carried.drain(..) {
            request.answer(Err(unavailable(why)));
        }
        loop {
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return,
                request = self.requests.recv() => match request {
                    Some(request) => request.answer(Err(unavailable(why))),
                    None => return,
                },
            }
        }
    }

    /// Serves requests over one connection until it fails or shutdown.
    async fn session(&mut self, stream: TcpStream) -> SessionEnd {
        let mut link = LinkIds {
            local: match stream.local_addr() {
                Ok(local) => local,
                Err(err) => return SessionEnd::Lost(describe_io_error(&err)),
            },
            sent: 0,
        };
        // The students' limit bounds questions; Tareo's answers (errors echo
        // part of the question) get at least the contract's default.
        let answer_limit = self.max_frame.max(DEFAULT_MAX_FRAME);
        let (mut answers, mut questions) = split_framed(stream, answer_limit, Buffers::Link);
        let mut waiting: VecDeque<Request> = VecDeque::with_capacity(MAX_PIPELINE);
        // What the last connection left unanswered goes first.
        let mut batch = std::mem::take(&mut self.carried);
        if !batch.is_empty() {
            debug!("se vuelven a preguntar {} pregunta(s) a Tareo", batch.len());
        }

        let end = loop {
            if !batch.is_empty() {
                if waiting.is_empty() {
                    self.progressed();
                }
                let ask = std::mem::take(&mut batch);
                match self
                    .write_batch(&mut questions, &mut waiting, &mut link, ask)
                    .await
                {
                    Ok(()) => continue,
                    Err(end) => break end,
                }
            }
            let (oldest, patience) = self.give_up_at(&waiting);
            tokio::select! {
                biased;
                frame = answers.next() => match frame {
                    Some(Ok(body)) => match waiting.pop_front() {
                        Some(request) => {
                            self.progressed();
                            request.answer(decode(body.freeze()));
                        }
                        None => break SessionEnd::Lost("Tareo respondió algo que nadie preguntó".into()),
                    },
                    Some(Err(err)) => break SessionEnd::Lost(format!("error al leer: {}", describe_io_error(&err))),
                    None => break SessionEnd::Lost("Tareo cerró la conexión".into()),
                },
                () = sleep_until(oldest.unwrap_or_else(Instant::now)), if oldest.is_some() => {
                    break SessionEnd::Lost(format!("{SILENT} {:?}", self.answer_timeout - patience));
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
                () = sleep(SIDE_LANE_IDLE), if self.on_demand && waiting.is_empty() => break SessionEnd::Idle,
            }
        };
        if let SessionEnd::Lost(reason) = &end {
            self.ask_again(waiting, reason);
        }
        end
    }

    /// The questions a lost connection left unanswered: each asked again
    /// (once) on another Tareo that is up, or else on this lane's next
    /// connection; one already asked twice, out of time, or that nobody
    /// waits for any more is answered with `reason`.
    fn ask_again(&mut self, waiting: VecDeque<Request>, reason: &str) {
        let now = Instant::now();
        for mut request in waiting {
            if request.retried || request.deadline <= now || request.reply.is_closed() {
                request.answer(Err(unavailable(reason)));
            } else {
                request.retried = true;
                if let Err(request) = self.pass_on(request) {
                    self.carried.push(request);
                }
            }
        }
    }

    /// When the oldest question waiting is given up on. With other Tareos
    /// to ask, a silent one is given up at half the answer time, so its
    /// questions still have time elsewhere (a question already asked again
    /// has no time left to spare). Returns that instant and the patience
    /// taken off its deadline.
    fn give_up_at(&self, waiting: &VecDeque<Request>) -> (Option<Instant>, Duration) {
        let patience = match waiting.front() {
            Some(request) if !request.retried && self.has_other_tareos() => self.answer_timeout / 2,
            _ => Duration::ZERO,
        };
        let oldest = waiting.front().map(|request| request.deadline - patience);
        (oldest, patience)
    }

    /// Writes `batch` in one flush, adding each question to `waiting` in
    /// write order. Skips questions nobody waits for any more, and answers
    /// those already past their deadline.
    async fn write_batch(
        &self,
        questions: &mut FrameWriter,
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
            question_line!(info, span = request.span, "Preguntamos a Tareo: {link_id}");
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

fn is_self_connected(stream: &TcpStream) -> bool {
    matches!((stream.local_addr(), stream.peer_addr()), (Ok(local), Ok(peer)) if local == peer)
}

enum SessionEnd {
    Shutdown,
    Lost(String),
    /// A side lane without questions for [`SIDE_LANE_IDLE`].
    Idle,
}

fn decode(body: Bytes) -> Result<String, QuestionError> {
    String::from_utf8(body.to_vec())
        .map_err(|_| unavailable("Tareo respondió algo que no es texto UTF-8"))
}
