//! The limits of one TCP server (Tareo's, Docencio's), and the flags that
//! set them.

use std::time::Duration;

use clap::Args;

use crate::wire::codec::DEFAULT_MAX_FRAME;

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
    /// The contract's idle timeout.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_frame: DEFAULT_MAX_FRAME,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            max_in_flight: Self::DEFAULT_MAX_IN_FLIGHT,
            drain_timeout: Duration::from_secs(6),
        }
    }
}

/// The flags of the limits, shared by the two TCP servers.
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Mensaje más largo aceptado, en bytes; una longitud declarada mayor
    /// recibe un `Error: ...` y se cierra la conexión
    #[arg(long, env = "AULA_MAX_FRAME_BYTES", default_value_t = DEFAULT_MAX_FRAME)]
    pub max_frame_bytes: usize,
    /// Segundos que una conexión puede estar inactiva (o detenida a mitad de
    /// un mensaje) antes de cerrarla
    #[arg(long, env = "AULA_IDLE_TIMEOUT_SECS", default_value_t = ServerLimits::DEFAULT_IDLE_TIMEOUT.as_secs())]
    pub idle_timeout_secs: u64,
    /// Conexiones atendidas a la vez; los clientes siguientes esperan a ser
    /// aceptados
    #[arg(long, env = "AULA_MAX_CONNECTIONS", default_value_t = ServerLimits::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Preguntas de una conexión respondiéndose a la vez; pasado ese número
    /// no se lee más de ese cliente hasta que salgan respuestas
    #[arg(long, env = "AULA_MAX_IN_FLIGHT", default_value_t = ServerLimits::DEFAULT_MAX_IN_FLIGHT)]
    pub max_in_flight: usize,
}

impl LimitArgs {
    pub fn limits(&self) -> ServerLimits {
        ServerLimits {
            max_frame: self.max_frame_bytes,
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            max_connections: self.max_connections.max(1),
            max_in_flight: self.max_in_flight.max(1),
            ..ServerLimits::default()
        }
    }
}
