//! The TCP side shared by Tareo and Docencio: an accept loop that never dies
//! on a transient error ([`serve`]), and one [`connection`] per client that
//! reads questions, answers them in the order they were asked, and enforces
//! the contract's [`limits`]. A role only supplies a [`Responder`]: how to
//! answer one question, and what to do once answers are delivered.

mod connection;
pub mod limits;
pub mod push;
mod silent;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{sleep, timeout};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use limits::{LimitArgs, ServerLimits};
pub use push::PushQueue;

use crate::retry;
use crate::role_counters::RoleCounters;
use crate::telemetry::QuestionId;
use crate::wire::mensaje::{Pedido, PedidoRefused, Respuesta};
use crate::wire::texts::LISTENING;
use crate::wire::{Answer, Question};
use connection::Connection;

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

    /// Called once answers have been written to the client, with every one
    /// of them, so that whatever must follow an answer (Docencio telling
    /// Profesor) never delays it. The role decides what it counts.
    fn delivered(&self, _answers: &[Delivered]) {}

    /// The role's counters, kept by the server as questions come and go.
    fn counters(&self) -> &RoleCounters;

    /// What a client may do besides asking (Docencio's sala), opened when
    /// it connects; `None` (the default) for a role that only answers.
    fn open_session(&self, _peer: std::net::SocketAddr) -> Option<Box<dyn ClientSession>> {
        None
    }
}

/// The answer to a mensaje request: known at once, or worked out
/// meanwhile (a list fetched from Profesor, a chunk written); either way
/// it goes out in order with the other answers.
pub enum FrameAnswer {
    Now(Respuesta),
    Later(Pin<Box<dyn Future<Output = Respuesta> + Send>>),
}

/// Frames of a transfer a client asked for (a file in chunks): unlike
/// pushes, none is ever dropped, so the producer waits for room, and room
/// comes only as fast as the client reads. A few frames per client at most.
pub type BulkLane = tokio::sync::mpsc::Receiver<bytes::Bytes>;

/// One client's state for a role that offers more than questions. Dropped
/// when the client goes, which is how the role learns it left.
pub trait ClientSession: Send + 'static {
    /// Answers a mensaje request, already classified by the server (the
    /// answer goes out in order with the others). A client with a session
    /// may send mensajes; one without is only ever asked questions.
    fn answer(&mut self, pedido: Result<Pedido, PedidoRefused>) -> FrameAnswer;

    /// The lane of transfer frames for this client, taken once when it
    /// connects; written only when no answer or push is waiting, so a
    /// transfer never holds up the client's questions or chat.
    fn take_bulk(&mut self) -> Option<BulkLane> {
        None
    }

    /// Where frames pushed to this client wait for its connection.
    fn pushes(&self) -> &Arc<PushQueue>;

    /// True while the client may stay connected without sending anything
    /// (a named member of a chat only listens); the idle timeout does not
    /// apply then.
    fn stays_while_idle(&self) -> bool {
        false
    }
}

/// An answer that reached the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub id: QuestionId,
    /// The question answered; `None` for a frame that was not one.
    pub question: Option<Question>,
    /// A real answer (true) or an `Error: ...` (false).
    pub real: bool,
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

/// Says so when a role listens beyond loopback: the course's TCP protocol
/// has no authentication, so anyone who reaches the port may ask.
pub fn warn_if_reachable(role: &str, local: std::net::SocketAddr) {
    if !local.ip().is_loopback() {
        warn!(
            "{role} escucha en {local}, accesible desde la red: cualquiera que llegue a ese puerto puede preguntar (el protocolo del curso no tiene autenticación); usa 127.0.0.1 si la clase es de una sola máquina"
        );
    }
}

/// What a role says when it cannot listen on `addr`: the usual cause is
/// another copy of the same role.
pub fn busy_port_hint(role: &str, addr: &str) -> String {
    format!("no se pudo escuchar en {addr} (¿otro {role} ya usa ese puerto?)")
}

/// A connection permit for `peer`; `None` when the server stops first.
/// When full, the oldest connection that never sent anything makes room
/// (one process holding thousands of idle connections must not lock the
/// class out); without one, this client waits, and the next ones wait in
/// the listen backlog, until a connection ends.
async fn room_for(
    peer: std::net::SocketAddr,
    permits: &Arc<Semaphore>,
    silent: &silent::Silent,
    limits: &ServerLimits,
    shutdown: &CancellationToken,
) -> Option<OwnedSemaphorePermit> {
    if let Ok(permit) = permits.clone().try_acquire_owned() {
        return Some(permit);
    }
    match silent.evict_oldest() {
        Some(evicted) => warn!(
            "Límite de {} conexiones alcanzado: se cierra la más antigua que no ha enviado nada ({evicted}) para atender a {peer}",
            limits.max_connections
        ),
        None => warn!(
            "Límite de {} conexiones alcanzado; los nuevos clientes esperan a que se libere una",
            limits.max_connections
        ),
    }
    tokio::select! {
        biased;
        () = shutdown.cancelled() => None,
        permit = permits.clone().acquire_owned() => permit.ok(),
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
    let silent = Arc::new(silent::Silent::default());
    let mut accept_backoff = retry::backoff();
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Typically EMFILE: the process is out of descriptors. Dying
                // here would drop every connected client; wait and retry.
                let delay = accept_backoff.next().unwrap_or(retry::MAX_RETRY_DELAY);
                warn!("no se pudo aceptar una conexión ({err}); reintento en {delay:?}");
                sleep(delay).await;
                continue;
            }
        };
        accept_backoff = retry::backoff();
        let Some(permit) = room_for(peer, &permits, &silent, &limits, &shutdown).await else {
            break;
        };
        let responder = responder.clone();
        let limits = limits.clone();
        let shutdown = shutdown.clone();
        let silence = silent.register(peer);
        connections.spawn(async move {
            Connection::new(stream, peer, responder, &limits)
                .serve(shutdown, silence)
                .await;
            drop(permit);
        });
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
