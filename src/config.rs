//! Command-line flags of the four binaries, each also read from the
//! environment variable named in the contract, and turned into the typed
//! configuration of its role. Nothing else in the crate reads the
//! environment.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser};

use crate::server::ServerLimits;
use crate::telemetry::LogFormat;
use crate::wire::codec::DEFAULT_MAX_FRAME;
use crate::wire::Question;
use crate::{docencio, estudiante, profesor, tareo};

pub const DEFAULT_PROFESOR_BIND: &str = "127.0.0.1:4444";
pub const DEFAULT_TAREO_BIND: &str = "127.0.0.1:4445";
pub const DEFAULT_DOCENCIO_BIND: &str = "127.0.0.1:4446";
pub const DEFAULT_PROFESOR_URL: &str = "http://127.0.0.1:4444";
pub const DEFAULT_DATA_DIR: &str = "./aula-datos";

/// How every role logs.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log lines as readable text or as one JSON object per line (for
    /// machines); verbosity and modules follow RUST_LOG
    #[arg(long, env = "AULA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Texto)]
    pub log_format: LogFormat,
}

/// Limits shared by the two TCP servers.
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Largest question accepted, in bytes; a longer declared length gets an
    /// `Error: ...` and the connection is closed
    #[arg(long, env = "AULA_MAX_FRAME_BYTES", default_value_t = DEFAULT_MAX_FRAME)]
    pub max_frame_bytes: usize,
    /// Seconds a connection may stay idle (or stuck mid-message) before it is closed
    #[arg(long, env = "AULA_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,
    /// Connections served at once; further clients wait to be accepted
    #[arg(long, env = "AULA_MAX_CONNECTIONS", default_value_t = ServerLimits::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Questions of one connection being answered at once; past it, the
    /// server reads no more from that client until answers go out
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

/// Profesor: the HTTP JSON API that answers hard questions and keeps the count.
#[derive(Debug, Parser)]
#[command(name = "profesor", version, about)]
pub struct ProfesorArgs {
    /// Address to listen on (HOST:PORT; port 0 picks a free one)
    #[arg(long, env = "AULA_PROFESOR_BIND", default_value = DEFAULT_PROFESOR_BIND)]
    pub bind: String,
    /// Folder where the count of answered questions is kept (created on first run)
    #[arg(long, env = "AULA_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// HTTP worker threads
    #[arg(long, env = "AULA_PROFESOR_WORKERS", default_value_t = 2)]
    pub workers: usize,
    #[command(flatten)]
    pub log: LogArgs,
}

impl ProfesorArgs {
    pub fn config(&self) -> profesor::Config {
        profesor::Config {
            data_dir: self.data_dir.clone(),
            workers: self.workers.max(1),
        }
    }
}

/// Tareo: TCP server for Docencio(s); answers "Tarea", asks Profesor about
/// "Pregunta Dificil".
#[derive(Debug, Parser)]
#[command(name = "tareo", version, about)]
pub struct TareoArgs {
    /// Address to listen on (HOST:PORT; port 0 picks a free one)
    #[arg(long, env = "AULA_TAREO_BIND", default_value = DEFAULT_TAREO_BIND)]
    pub bind: String,
    /// Profesor's base URL
    #[arg(long, env = "AULA_PROFESOR_URL", default_value = DEFAULT_PROFESOR_URL, value_parser = parse_profesor_url)]
    pub profesor_url: String,
    /// Milliseconds to wait for Profesor before answering `Error: ...`; below
    /// Docencio's timeout so the error that reaches the student names Profesor
    #[arg(long, env = "AULA_PROFESOR_TIMEOUT_MS", default_value_t = 4000)]
    pub profesor_timeout_ms: u64,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

impl TareoArgs {
    pub fn config(&self) -> tareo::Config {
        tareo::Config {
            profesor_url: self.profesor_url.clone(),
            profesor_timeout: Duration::from_millis(self.profesor_timeout_ms),
            limits: self.limits.limits(),
        }
    }
}

/// Docencio: TCP server for students and, peer to peer, TCP client of Tareo;
/// answers "Contenido" itself.
#[derive(Debug, Parser)]
#[command(name = "docencio", version, about)]
pub struct DocencioArgs {
    /// Address to listen on for students (HOST:PORT; port 0 picks a free one)
    #[arg(long, env = "AULA_DOCENCIO_BIND", default_value = DEFAULT_DOCENCIO_BIND)]
    pub bind: String,
    /// Tareo's address (HOST:PORT)
    #[arg(long, env = "AULA_TAREO_ADDR", default_value = DEFAULT_TAREO_BIND)]
    pub tareo_addr: String,
    /// Profesor's base URL, told of every answered question
    #[arg(long, env = "AULA_PROFESOR_URL", default_value = DEFAULT_PROFESOR_URL, value_parser = parse_profesor_url)]
    pub profesor_url: String,
    /// Long-lived connections to Tareo shared by all students
    #[arg(long, env = "AULA_TAREO_CONNECTIONS", default_value_t = 1)]
    pub tareo_connections: usize,
    /// Milliseconds a question may wait on Tareo before it is answered `Error: ...`
    #[arg(long, env = "AULA_ANSWER_TIMEOUT_MS", default_value_t = 5000)]
    pub answer_timeout_ms: u64,
    /// Answers owed to Profesor at most while it is down; past it, answers
    /// are not counted and a warning says how many
    #[arg(long, env = "AULA_MAX_PENDING_NOTIFICATIONS", default_value_t = docencio::DEFAULT_MAX_PENDING_NOTIFICATIONS)]
    pub max_pending_notifications: u64,
    /// Folder where what is owed to Profesor is kept, so that a restart on
    /// the same port (even after kill -9) still delivers it (created on
    /// first run; file docencio-PORT.sqlite3). Without it, only in memory
    #[arg(long, env = "AULA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

impl DocencioArgs {
    pub fn config(&self) -> docencio::Config {
        docencio::Config {
            tareo_addr: self.tareo_addr.clone(),
            profesor_url: self.profesor_url.clone(),
            tareo_connections: self.tareo_connections.max(1),
            answer_timeout: Duration::from_millis(self.answer_timeout_ms),
            max_pending_notifications: self.max_pending_notifications.max(1),
            data_dir: self.data_dir.clone(),
            limits: self.limits.limits(),
        }
    }
}

/// Estudiante: N simulated students asking random questions to Docencio.
///
/// Prints a summary when done (or on Ctrl-C); exits 1 if any answer was
/// neither an `Error: ...` nor right for its question.
#[derive(Debug, Parser)]
#[command(name = "estudiante", version, about, long_about)]
pub struct EstudianteArgs {
    /// Docencio's address (HOST:PORT)
    #[arg(long, env = "AULA_DOCENCIO_ADDR", default_value = DEFAULT_DOCENCIO_BIND)]
    pub docencio_addr: String,
    /// Simulated students, one connection each, in this process
    #[arg(long, default_value_t = 1)]
    pub students: usize,
    /// Questions per student; without it, ask forever like the notebook
    #[arg(long)]
    pub questions: Option<u64>,
    /// Ask the next question as soon as the answer arrives (no 1-6 s pause)
    #[arg(long)]
    pub no_pause: bool,
    /// Seed for reproducible choices of questions and pauses
    #[arg(long)]
    pub seed: Option<u64>,
    /// Questions each student sends before reading answers (pipelining)
    #[arg(long, default_value_t = 1)]
    pub in_flight: usize,
    /// Ask only this question (Contenido, Tarea or "Pregunta Dificil")
    #[arg(long, value_parser = parse_question)]
    pub only: Option<Question>,
    /// Milliseconds to wait for an answer before the connection is given up
    /// and opened again
    #[arg(long, default_value_t = 30_000)]
    pub answer_timeout_ms: u64,
    /// Every student connects before any asks: a class of N connected at
    /// once (for measuring many connections, not only fast ones)
    #[arg(long)]
    pub connect_first: bool,
    /// The summary as readable text or as one JSON object (for scripts)
    #[arg(long, value_enum, default_value_t = SummaryFormat::Texto)]
    pub summary_format: SummaryFormat,
    #[command(flatten)]
    pub log: LogArgs,
}

/// How `estudiante` prints its summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SummaryFormat {
    /// A few readable lines.
    Texto,
    /// One JSON object on one line.
    Json,
}

impl EstudianteArgs {
    pub fn config(&self) -> estudiante::Config {
        estudiante::Config {
            docencio_addr: self.docencio_addr.clone(),
            students: self.students,
            questions: self.questions,
            pause: !self.no_pause,
            seed: self.seed,
            in_flight: self.in_flight.max(1),
            only: self.only,
            answer_timeout: Duration::from_millis(self.answer_timeout_ms),
            connect_first: self.connect_first,
        }
    }
}

/// Refuses a bad URL when flags are read, before anything binds a port.
fn parse_profesor_url(text: &str) -> Result<String, String> {
    profesor::client::normalize_base_url(text).map_err(|err| err.to_string())
}

fn parse_question(text: &str) -> Result<Question, String> {
    Question::parse(text.as_bytes()).map_err(|refusal| refusal.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flag_definitions_are_consistent() {
        ProfesorArgs::command().debug_assert();
        TareoArgs::command().debug_assert();
        DocencioArgs::command().debug_assert();
        EstudianteArgs::command().debug_assert();
    }

    #[test]
    fn defaults_are_the_contracts() {
        let docencio = DocencioArgs::parse_from(["docencio"]);
        assert_eq!(docencio.tareo_connections, 1);
        let config = docencio.config();
        assert_eq!(config.answer_timeout, Duration::from_secs(5));
        assert_eq!(config.limits.idle_timeout, Duration::from_secs(60));
        assert_eq!(config.limits.max_frame, 64 * 1024);
    }

    #[test]
    fn a_bad_profesor_url_is_refused_with_the_flags() {
        let err = TareoArgs::try_parse_from(["tareo", "--profesor-url", "localhost:4444"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("URL de Profesor inválida"), "{err}");
        assert!(DocencioArgs::try_parse_from(["docencio", "--profesor-url", "nada"]).is_err());
    }

    #[test]
    fn only_accepts_the_three_questions() {
        let args = EstudianteArgs::parse_from(["estudiante", "--only", "pregunta difícil"]);
        assert_eq!(args.only, Some(Question::PreguntaDificil));
        assert!(EstudianteArgs::try_parse_from(["estudiante", "--only", "Hola"]).is_err());
    }
}
