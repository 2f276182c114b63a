//! The TCP side shared by Tareo and Docencio: an accept loop that never dies
//! on a transient error, and a per-connection loop that reads questions,
//! answers them in the order they were asked, and enforces the contract's
//! limits. A role only supplies a [`Responder`]: how to answer one frame.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::FuturesOrdered;
use futures::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{sleep, timeout, Instant};
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::instrument::Instrumented;
use tracing::{debug, info, warn, Instrument, Span};

use crate::retry;
use crate::stats::RoleStats;
use crate::telemetry::{self, question_span, QuestionId};
use crate::wire::codec::{frame_codec, is_frame_too_large, CONNECTION_BUFFER, WRITE_BURST};
use crate::wire::texts::LISTENING;
use crate::wire::{preview, Answer, Question, Refusal};

/// An answer being worked out; boxed because each role mixes ready answers
/// with ones that wait on a peer.
pub type PendingAnswer = Pin<Box<dyn Future<Output = Answer> + Send>>;

/// How a role answers. One value is shared by all connections of a server.
pub trait Responder: Send + Sync + 'static {
    /// The answer to one question, named `id`. Frames that are not a
    /// question (empty, not UTF-8, unknown) are refused by the server before
    /// this is called. The future runs inside the question's span, so what
    /// it logs carries the id.
    fn answer(&self, id: QuestionId, question: Question) -> PendingAnswer;

    /// Called once answers have been written to the client, with the ids of
    /// those that were [`Answer::Relayed`], so that whatever must follow an
    /// answer (telling Profesor) never delays it.
    fn delivered(&self, _relayed: &[QuestionId]) {}

    /// The role's counters, kept by the server as questions come and go.
    fn stats(&self) -> &RoleStats;
}

/// Connections the kernel may hold completed but not yet accepted. The
/// usual default (128) makes a class of thousands connecting at once see
/// dropped SYNs and 1 s retransmits; Linux caps this at `net.core.somaxconn`.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` (HOST:PORT, resolved; the first address that binds wins)
/// with [`LISTEN_BACKLOG`], for every role's listening socket.
pub async fn listen(addr: &str) -> io::Result<TcpListener> {
    let mut last_error = None;
    for candidate in tokio::net::lookup_host(addr).await? {
        let socket = if candidate.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        // A restarted role gets its port back while old connections linger.
        socket.set_reuseaddr(true)?;
        match socket.bind(candidate) {
            Ok(()) => return socket.listen(LISTEN_BACKLOG),
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr} no corresponde a ninguna dirección"),
        )
    }))
}

/// Limits of one TCP server.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Largest frame body accepted.
    pub max_frame: usize,
    /// Idle (or stuck mid-frame, or not reading its answers) for this long,
    /// and the connection is closed.
    pub idle_timeout: Duration,
    /// Connections served at once; past it, new clients wait in the backlog.
    pub max_connections: usize,
    /// Questions of one connection answered at once. Bounds what one client
    /// can make the server hold, however fast it writes.
    pub max_in_flight: usize,
    /// On shutdown, how long connections get to answer what they were asked.
    pub drain_timeout: Duration,
}

impl ServerLimits {
    /// Enough for a 10,000-student class through one Docencio, with room.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_frame: crate::wire::codec::DEFAULT_MAX_FRAME,
            idle_timeout: Duration::from_secs(60),
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            max_in_flight: Self::DEFAULT_MAX_IN_FLIGHT,
            drain_timeout: Duration::from_secs(6),
        }
    }
}

/// Accepts clients on `listener` until `shutdown` is cancelled, serving each
/// on its own task; then waits (at most `drain_timeout`) for them to finish.
pub async fn serve<R: Responder>(
    listener: TcpListener,
    responder: Arc<R>,
    limits: ServerLimits,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    info!("{LISTENING} {local}");
    let limits = Arc::new(limits);
    let connections = TaskTracker::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut accept_backoff = retry::backoff();
    loop {
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // Full: new clients wait in the listen backlog (their
                // connect succeeds, their questions wait) until one leaves.
                warn!(
                    "Límite de {} conexiones alcanzado; los nuevos clientes esperan a que se libere una",
                    limits.max_connections
                );
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => break,
                    permit = permits.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_closed) => break,
                    },
                }
            }
        };
        let accepted = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                accept_backoff = retry::backoff();
                let responder = responder.clone();
                let limits = limits.clone();
                let shutdown = shutdown.clone();
                connections.spawn(async move {
                    serve_connection(stream, peer, responder, &limits, shutdown).await;
                    drop(permit);
                });
            }
            Err(err) => {
                // Typically EMFILE: the process is out of descriptors. Dying
                // here would drop every connected client; wait and retry.
                let delay = accept_backoff.next().unwrap_or(retry::MAX_RETRY_DELAY);
                warn!("no se pudo aceptar una conexión ({err}); reintento en {delay:?}");
                sleep(delay).await;
            }
        }
    }
    drop(listener);
    connections.close();
    if timeout(limits.drain_timeout, connections.wait())
        .await
        .is_err()
    {
        warn!(
            "{} conexiones no terminaron en {:?}; se cierran",
            connections.len(),
            limits.drain_timeout
        );
    }
    info!("Servidor detenido ({local})");
    Ok(())
}

/// Serves one client: questions in, answers out in the same order.
///
/// Reading and answering run in one `select!` loop, so a client may send
/// many questions before reading (up to `max_in_flight` are worked on at
/// once; past that its socket is simply not read) and answers that are ready
/// together go out in one write.
///
/// Every question is named by the client's address and its number on this
/// connection ([`QuestionId`]) and answered inside its own span, so each
/// line about it carries that id.
async fn serve_connection<R: Responder>(
    stream: TcpStream,
    peer: SocketAddr,
    responder: Arc<R>,
    limits: &ServerLimits,
    shutdown: CancellationToken,
) {
    if let Err(err) = stream.set_nodelay(true) {
        debug!("{peer}: TCP_NODELAY no disponible: {err}");
    }
    debug!("Servidor conectado a un nuevo cliente: {peer}");
    let stats = responder.stats();
    stats.connected(peer);
    let (read_half, write_half) = stream.into_split();
    let mut questions =
        FramedRead::with_capacity(read_half, frame_codec(limits.max_frame), CONNECTION_BUFFER);
    // Answers are ours, short, and never refused by our own encoder.
    let mut answers = FramedWrite::with_capacity(
        write_half,
        frame_codec(u32::MAX as usize),
        CONNECTION_BUFFER,
    );
    // A burst of answers still goes out in one write, however small the
    // buffer started.
    answers.set_backpressure_boundary(WRITE_BURST);
    let mut in_flight: FuturesOrdered<Instrumented<PendingAnswer>> = FuturesOrdered::new();
    // What each question in flight was (`None`: not a question), in order.
    let mut kinds: VecDeque<Option<Question>> = VecDeque::new();
    // Questions read and answers written on this connection; the next
    // answer out is for question `answered + 1`.
    let mut received = 0u64;
    let mut answered = 0u64;
    let mut relayed_ids: Vec<QuestionId> = Vec::new();
    let mut reading = true;
    let idle = sleep(limits.idle_timeout);
    tokio::pin!(idle);

    loop {
        if !reading && in_flight.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            Some(first) = in_flight.next(), if !in_flight.is_empty() => {
                let mut ready = vec![first];
                while let Some(Some(answer)) = in_flight.next().now_or_never() {
                    ready.push(answer);
                }
                let batch_start = answered;
                relayed_ids.clear();
                for (offset, answer) in (1..).zip(&ready) {
                    let id = QuestionId { client: peer, number: batch_start + offset };
                    stats.answered(kinds.pop_front().flatten(), answer);
                    if matches!(answer, Answer::Relayed(_)) {
                        relayed_ids.push(id);
                    }
                    if telemetry::budget().allow() {
                        question_span(id).in_scope(|| info!("Respondemos: {answer}"));
                    }
                }
                let count = ready.len() as u64;
                let write = async {
                    for answer in ready {
                        answers.feed(answer.into_frame()).await?;
                    }
                    SinkExt::<Bytes>::flush(&mut answers).await
                };
                let written = timeout(limits.idle_timeout, write).await;
                answered += count;
                match written {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => {
                        debug!("{peer}: no se pudo enviar la respuesta ({err}); conexión cerrada");
                        break;
                    }
                    Err(_) => {
                        if telemetry::budget().allow() {
                            info!("{peer}: no lee sus respuestas hace {:?}; se cierra la conexión", limits.idle_timeout);
                        }
                        break;
                    }
                }
                if !relayed_ids.is_empty() {
                    responder.delivered(&relayed_ids);
                }
                idle.as_mut().reset(Instant::now() + limits.idle_timeout);
            }
            frame = questions.next(), if reading && in_flight.len() < limits.max_in_flight => {
                match frame {
                    Some(Ok(body)) => {
                        received += 1;
                        let id = QuestionId { client: peer, number: received };
                        // A question whose arrival is logged is answered in
                        // its span, so every line about it carries its id.
                        // Past the line allowance no span is made: making
                        // one per question cost 13% of a busy class.
                        let followed = telemetry::budget().allow();
                        let span = if followed { question_span(id) } else { Span::none() };
                        let question = Question::parse(&body);
                        if followed {
                            span.in_scope(|| info!("Recibimos una pregunta: {}", preview(&body)));
                        }
                        let kind = question.as_ref().ok().copied();
                        stats.asked(kind);
                        kinds.push_back(kind);
                        let pending = match question {
                            Ok(question) => span.in_scope(|| responder.answer(id, question)),
                            Err(refusal) => Box::pin(std::future::ready(refusal.into())),
                        };
                        in_flight.push_back(pending.instrument(span));
                        idle.as_mut().reset(Instant::now() + limits.idle_timeout);
                    }
                    Some(Err(err)) if is_frame_too_large(&err) => {
                        if telemetry::budget().allow() {
                            warn!("{peer}: mensaje de más de {} bytes; se responde con error y se cierra", limits.max_frame);
                        }
                        received += 1;
                        let span = question_span(QuestionId { client: peer, number: received });
                        stats.asked(None);
                        kinds.push_back(None);
                        let refusal = Refusal::FrameTooLarge { limit: limits.max_frame };
                        let pending: PendingAnswer = Box::pin(std::future::ready(Answer::from(refusal)));
                        in_flight.push_back(pending.instrument(span));
                        reading = false;
                    }
                    Some(Err(err)) => {
                        if telemetry::budget().allow() {
                            info!("{peer}: conexión cortada a mitad de un mensaje ({err}); se cierra");
                        }
                        break;
                    }
                    None => {
                        debug!("Conexión con el cliente cerrada: {peer}");
                        reading = false;
                    }
                }
            }
            () = &mut idle, if reading && in_flight.is_empty() => {
                if telemetry::budget().allow() {
                    info!("{peer}: sin actividad por {:?}; se cierra la conexión", limits.idle_timeout);
                }
                break;
            }
            () = shutdown.cancelled(), if reading => {
                // Stop reading; what was asked is still answered above.
                reading = false;
            }
        }
    }
    stats.abandoned(received - answered);
    stats.disconnected(peer);
}
