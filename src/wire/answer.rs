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
pub enum QuestionError {
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
    Downstream(String),
}

const VALID: &str = "válidas: Contenido, Tarea, Pregunta Dificil";

impl fmt::Display for QuestionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuestionError::UnknownQuestion(text) => {
                write!(f, "{ERROR_PREFIX}pregunta desconocida: '{text}' ({VALID})")
            }
            QuestionError::EmptyFrame => write!(f, "{ERROR_PREFIX}mensaje vacío ({VALID})"),
            QuestionError::InvalidUtf8 { valid_up_to } => write!(
                f,
                "{ERROR_PREFIX}el mensaje no es texto UTF-8 válido (byte inválido en la posición {valid_up_to})"
            ),
            QuestionError::NotForTareo => write!(
                f,
                "{ERROR_PREFIX}Tareo no responde preguntas de Contenido: pregúntale a Docencio"
            ),
            QuestionError::FrameTooLarge { limit } => write!(
                f,
                "{ERROR_PREFIX}mensaje demasiado largo (máximo {limit} bytes); se cierra la conexión"
            ),
            QuestionError::Unavailable { peer, detail } => {
                write!(f, "{ERROR_PREFIX}{peer} no está disponible ({detail})")
            }
            QuestionError::Downstream(text) => f.write_str(text),
        }
    }
}

/// What a server sends back for one question. Which answers Profesor
/// counts is the role's business (Docencio's rule), not the answer's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A real answer; the fixed texts are borrowed, so answering them
    /// allocates nothing.
    Real(Cow<'static, str>),
    /// An `Error: ...` answer.
    Refused(QuestionError),
    /// The answer to a mensaje (a JSON frame, [`super::mensaje`]), not to
    /// a question: it goes out in order with the others.
    Mensaje(Bytes),
}

impl Answer {
    /// The exact text that goes on the wire, as a frame body (a fixed
    /// text is not copied).
    pub fn into_frame(self) -> Bytes {
        match self {
            Answer::Real(Cow::Borrowed(text)) => Bytes::from_static(text.as_bytes()),
            Answer::Real(Cow::Owned(text)) => Bytes::from(text),
            Answer::Refused(refusal) => Bytes::from(refusal.to_string()),
            Answer::Mensaje(frame) => frame,
        }
    }

    /// True for a real answer (or a mensaje's), false for an `Error: ...`.
    pub fn is_real(&self) -> bool {
        !matches!(self, Answer::Refused(_))
    }
}

/// The text that goes on the wire, for log lines.
impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Real(text) => f.write_str(text),
            Answer::Refused(refusal) => refusal.fmt(f),
            Answer::Mensaje(frame) => f.write_str(&String::from_utf8_lossy(frame)),
        }
    }
}

impl From<QuestionError> for Answer {
    fn from(refusal: QuestionError) -> Self {
        Answer::Refused(refusal)
    }
}
