//! Verificar: grades any implementation of a role against the contract,
//! the way Autobahn grades a WebSocket server: numbered cases by section,
//! a verdict each, a report a person and a CI can read.
//!
//! - [`caso`]: a case's verdict and the report they make.
//! - [`sonda`]: a raw framed TCP client that shows bytes, with a deadline
//!   on every read, for targets that hang or send garbage.
//! - [`docencio`], [`tareo`], [`profesor`]: the cases of each server;
//!   [`sala`]: la sala and the material on a Docencio's student port.
//! - [`estudiante`]: a student program, started by aula (`programa`),
//!   with aula as its Docencio.
//! - [`formato`]: the report as a table, JSON or JUnit XML.
//! - [`cli`]: the grader's command line (`estudiante verificar`).
//!
//! Every case is bounded in time ([`CASE_TIMEOUT`]); the target may hang,
//! crash or send garbage and the run still ends with a report. Only the
//! address the user names is contacted, with bounded load.

pub mod caso;
pub mod cli;
mod comunes;
pub mod docencio;
pub mod estudiante;
pub mod formato;
pub mod profesor;
mod programa;
pub mod sala;
pub mod sonda;
pub mod tareo;

use std::time::Duration;

pub use caso::{Caso, Reporte, Veredicto};

/// Longest a case may take.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(15);

/// Longest a single answer is waited for (the contract's 5 s for a peer
/// downstream, plus room).
pub const ANSWER_WAIT: Duration = Duration::from_secs(7);

/// What to grade.
#[derive(Debug, Clone)]
pub enum Objetivo {
    Docencio(String),
    Tareo(String),
    Profesor {
        url: String,
        token: Option<String>,
    },
    /// A student program that aula starts and serves as its Docencio.
    Estudiante(estudiante::Programa),
}

impl Objetivo {
    /// The role graded, as the report names it.
    pub fn rol(&self) -> &'static str {
        match self {
            Objetivo::Docencio(_) => "docencio",
            Objetivo::Tareo(_) => "tareo",
            Objetivo::Profesor { .. } => "profesor",
            Objetivo::Estudiante(_) => "estudiante",
        }
    }

    /// Where (or what) it is, as the report names it.
    pub fn nombre(&self) -> String {
        match self {
            Objetivo::Docencio(addr) | Objetivo::Tareo(addr) => addr.clone(),
            Objetivo::Profesor { url, .. } => url.clone(),
            Objetivo::Estudiante(programa) => programa.comando.join(" "),
        }
    }
}

/// Checks what the user named before any case runs: a mistake of the
/// person grading (an address without a port, a URL without `http://`, a
/// program that is not there, a busy `--escuchar`) is theirs, not a
/// failure of the graded program, and gets no report.
pub fn preparar(objetivo: &Objetivo) -> Result<(), String> {
    match objetivo {
        Objetivo::Docencio(addr) | Objetivo::Tareo(addr) => host_and_port(addr),
        Objetivo::Profesor { url, .. } => {
            let parsed = reqwest::Url::parse(url).map_err(|err| {
                format!("{url:?} no es una URL ({err}); p. ej. http://127.0.0.1:4444")
            })?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(format!(
                    "{url:?}: se esperaba una URL http://HOST:PUERTO, p. ej. http://127.0.0.1:4444"
                ));
            }
            Ok(())
        }
        Objetivo::Estudiante(programa) => programa.preparar(),
    }
}

/// `HOST:PUERTO`, the port a number.
fn host_and_port(addr: &str) -> Result<(), String> {
    let usage = || format!("{addr:?}: se esperaba HOST:PUERTO, p. ej. 127.0.0.1:4446");
    if addr.contains("://") {
        return Err(usage());
    }
    let (host, port) = addr.rsplit_once(':').ok_or_else(usage)?;
    if host.trim_matches(['[', ']']).is_empty() || port.parse::<u16>().is_err() {
        return Err(usage());
    }
    Ok(())
}

/// Runs every case for `objetivo`.
pub async fn verificar(objetivo: &Objetivo) -> Reporte {
    verificar_esperando(objetivo, ANSWER_WAIT).await
}

/// The same, waiting `espera` for each answer (tests of targets that
/// never answer use a shorter one).
pub async fn verificar_esperando(objetivo: &Objetivo, espera: Duration) -> Reporte {
    let destino = |addr: &str| sonda::Destino {
        addr: addr.to_owned(),
        espera,
    };
    match objetivo {
        Objetivo::Docencio(addr) => docencio::casos(&destino(addr)).await,
        Objetivo::Tareo(addr) => tareo::casos(&destino(addr)).await,
        Objetivo::Profesor { url, token } => profesor::casos(url, token.as_deref()).await,
        Objetivo::Estudiante(programa) => estudiante::casos(programa).await,
    }
}
