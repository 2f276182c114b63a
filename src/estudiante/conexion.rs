//! One client of Docencio's student port, used by the simulated class
//! ([`super::run`]), the chat ([`super::chat`]) and the files
//! ([`super::archivos`]): it connects, sends questions and requests, and
//! reads each frame as what it is ([`Incoming`]).

use std::net::SocketAddr;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;

use crate::wire::mensaje::{Empuje, Incoming, Pedido, Respuesta, Resultado};
use crate::wire::{describe_io_error, split_framed, Buffers, FrameReader, FrameWriter};

/// Largest frame read. Docencio's frames are at most 64 KiB; the bound only
/// keeps a misbehaving peer from making a student allocate much.
const FRAME_LIMIT: usize = 1 << 20;

/// Why talking to Docencio failed.
#[derive(Debug, thiserror::Error)]
pub enum ConexionError {
    #[error("no se pudo conectar con Docencio en {addr}: {why}")]
    Connect { addr: String, why: String },
    #[error("se perdió la conexión con Docencio: {0}")]
    Lost(String),
    /// Docencio answered `estado: "error"`, or a frame it cannot have meant.
    #[error("Docencio respondió: {0}")]
    Refused(String),
}

/// A connection to Docencio.
pub struct Conexion {
    frames: FrameReader,
    sender: FrameWriter,
    local: SocketAddr,
}

fn lost(err: std::io::Error) -> ConexionError {
    ConexionError::Lost(describe_io_error(&err))
}

impl Conexion {
    /// Connects to Docencio at `addr`; `buffers` as the link is used.
    pub async fn open(addr: &str, buffers: Buffers) -> Result<Self, ConexionError> {
        let connect_error = |err: std::io::Error| ConexionError::Connect {
            addr: addr.to_owned(),
            why: describe_io_error(&err),
        };
        let stream = TcpStream::connect(addr).await.map_err(connect_error)?;
        let local = stream.local_addr().map_err(connect_error)?;
        let (frames, sender) = split_framed(stream, FRAME_LIMIT, buffers);
        Ok(Conexion {
            frames,
            sender,
            local,
        })
    }

    /// This end's address: with the number of a question on this
    /// connection, it names the question as Docencio names it.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Sends `pedido` at once.
    pub async fn send(&mut self, pedido: &Pedido) -> Result<(), ConexionError> {
        self.sender.send(pedido.to_frame()).await.map_err(lost)
    }

    /// Queues a frame (a question) to go with the next [`Conexion::flush`].
    pub async fn feed(&mut self, frame: Bytes) -> Result<(), ConexionError> {
        self.sender.feed(frame).await.map_err(lost)
    }

    pub async fn flush(&mut self) -> Result<(), ConexionError> {
        SinkExt::<Bytes>::flush(&mut self.sender)
            .await
            .map_err(lost)
    }

    /// The next frame, read as what it is; `Err` when the connection is
    /// gone. A mensaje that cannot be read is said as the inner `Err`.
    pub async fn next(
        &mut self,
    ) -> Result<Result<Incoming, crate::wire::mensaje::ReadError>, ConexionError> {
        match self.frames.next().await {
            Some(Ok(body)) => Ok(Incoming::read(body.freeze())),
            Some(Err(err)) => Err(lost(err)),
            None => Err(ConexionError::Lost("Docencio cerró la conexión".into())),
        }
    }

    /// Sends `pedido` and waits for its answer; pushes meanwhile go to
    /// `push`.
    pub async fn ask(
        &mut self,
        pedido: &Pedido,
        push: &mut (dyn FnMut(Empuje) -> Result<(), ConexionError> + Send),
    ) -> Result<Resultado, ConexionError> {
        self.send(pedido).await?;
        self.answer(push).await
    }

    /// The answer to the oldest request not yet answered; pushes meanwhile
    /// go to `push`, plain-text frames (an announcement to a client that
    /// never spoke) are skipped.
    pub async fn answer(
        &mut self,
        push: &mut (dyn FnMut(Empuje) -> Result<(), ConexionError> + Send),
    ) -> Result<Resultado, ConexionError> {
        loop {
            let incoming = self
                .next()
                .await?
                .map_err(|err| ConexionError::Refused(err.to_string()))?;
            match incoming {
                Incoming::Text(_) => {}
                Incoming::Empuje(empuje) => push(empuje)?,
                Incoming::Respuesta(Respuesta::Ok(resultado)) => return Ok(resultado),
                Incoming::Respuesta(Respuesta::Error { motivo, .. }) => {
                    return Err(ConexionError::Refused(motivo))
                }
            }
        }
    }
}

/// For [`Conexion::ask`] when no push matters.
pub fn ignore(_: Empuje) -> Result<(), ConexionError> {
    Ok(())
}

/// `resultado` when it answers what was asked; else the refusal that says
/// what came instead.
pub fn unexpected(asked: &str, resultado: &Resultado) -> ConexionError {
    ConexionError::Refused(format!(
        "una respuesta a {asked} que no es de {asked}: {resultado:?}"
    ))
}

impl ConexionError {
    /// Why, without saying it was Docencio (for lines that already do).
    pub fn reason(&self) -> String {
        match self {
            ConexionError::Connect { why, .. } | ConexionError::Lost(why) => why.clone(),
            ConexionError::Refused(why) => why.clone(),
        }
    }
}
