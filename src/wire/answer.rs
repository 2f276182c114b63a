//! Answers, and the one place where a failure becomes an `Error: ...` text.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;

use super::texts::ERROR_PREFIX;

/// A downstream peer, named in the errors that concern it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Tareo,
    Profesor,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Peer::Tareo => "Tareo",
            Peer::Profesor => "Profesor",
        })
    }
}

/// Why a question got an `Error: ...` answer instead of a real one.
///
/// `Display` gives the exact wire text, in Spanish, for a person to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not one of the three questions (the text is echoed, bounded).
    UnknownQuestion(String),
    /// A frame with no text (N = 0, or only whitespace).
    EmptyFrame,
    /// The body is not UTF-8; the position of the first bad byte.
    InvalidUtf8 { valid_up_to: usize },
    /// `Contenido` asked straight to Tareo, which only Docencio answers.
    NotForTareo,
    /// A declared length over the limit; the connection closes after this.
    FrameTooLarge { limit: usize },
    /// A peer downstream could not be reached, failed, or did not answer in time.
    Unavailable { peer: Peer, detail: String },
    /// An `Error: ...` answer that came from downstream, passed on as it was.
    Relayed(String),
}

const VALID: &str = "válidas: Contenido, Tarea, Pregunta Dificil";

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::UnknownQuestion(text) => {
                write!(f, "{ERROR_PREFIX}pregunta desconocida: '{text}' ({VALID})")
            }
            Refusal::EmptyFrame => write!(f, "{ERROR_PREFIX}mensaje vacío ({VALID})"),
            Refusal::InvalidUtf8 { valid_up_to } => write!(
                f,
                "{ERROR_PREFIX}el mensaje no es texto UTF-8 válido (byte inválido en la posición {valid_up_to})"
            ),
            Refusal::NotForTareo => write!(
                f,
                "{ERROR_PREFIX}Tareo no responde preguntas de Contenido: pregúntale a Docencio"
            ),
            Refusal::FrameTooLarge { limit } => write!(
                f,
                "{ERROR_PREFIX}mensaje demasiado largo (máximo {limit} bytes); se cierra la conexión"
            ),
            Refusal::Unavailable { peer, detail } => {
                write!(f, "{ERROR_PREFIX}{peer} no está disponible ({detail})")
            }
            Refusal::Relayed(text) => f.write_str(text),
        }
    }
}

/// What a server sends back for one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A real answer given by this role itself; the fixed texts are
    /// borrowed, so answering them allocates nothing.
    Local(Cow<'static, str>),
    /// A real answer obtained from downstream: the kind Profesor counts.
    Relayed(String),
    /// An `Error: ...` answer; never counted.
    Refused(Refusal),
}

impl Answer {
    /// The exact text that goes on the wire, as a frame body (a fixed
    /// text is not copied).
    pub fn into_frame(self) -> Bytes {
        match self {
            Answer::Local(Cow::Borrowed(text)) => Bytes::from_static(text.as_bytes()),
            Answer::Local(Cow::Owned(text)) | Answer::Relayed(text) => Bytes::from(text),
            Answer::Refused(refusal) => Bytes::from(refusal.to_string()),
        }
    }
}

/// The text that goes on the wire, for log lines.
impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Local(text) => f.write_str(text),
            Answer::Relayed(text) => f.write_str(text),
            Answer::Refused(refusal) => refusal.fmt(f),
        }
    }
}

impl From<Refusal> for Answer {
    fn from(refusal: Refusal) -> Self {
        Answer::Refused(refusal)
    }
}
