//! What travels on the TCP links: frames, questions, answers.
//!
//! The framing is configured in exactly one place ([`codec`]); the texts of
//! the contract live in [`texts`]; [`ClientFrame::classify`] is the only
//! place where a client's frame becomes a question or a mensaje request
//! ([`mensaje`], whose answers and pushes are typed there too), and
//! [`Answer`] the only place where a failure becomes an `Error: ...` text.

mod answer;
pub mod codec;
mod frame;
pub mod mensaje;
mod question;
pub mod texts;

pub use answer::{Answer, Peer, QuestionError};

pub use codec::{frame_codec, split_framed, Buffers, FrameReader, FrameWriter};
pub use frame::ClientFrame;
pub use question::Question;

/// Tareo's address when none is given: where Tareo listens and where
/// Docencio looks for it.
pub const DEFAULT_TAREO_ADDR: &str = "127.0.0.1:4445";

/// Docencio's address when none is given: where Docencio listens and where
/// students look for it.
pub const DEFAULT_DOCENCIO_ADDR: &str = "127.0.0.1:4446";

/// A network error in the course's language: the common cases a student
/// sees when a peer is down, in Spanish; anything else as the system says it.
pub fn describe_io_error(err: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match err.kind() {
        ErrorKind::ConnectionRefused => "conexión rechazada: nadie escucha en ese puerto".into(),
        ErrorKind::ConnectionReset => "el otro lado reinició la conexión".into(),
        ErrorKind::ConnectionAborted => "conexión abortada".into(),
        ErrorKind::BrokenPipe => "el otro lado cerró la conexión".into(),
        ErrorKind::TimedOut => "tiempo de espera agotado".into(),
        ErrorKind::UnexpectedEof => "la conexión se cortó a mitad de un mensaje".into(),
        ErrorKind::AddrNotAvailable => "dirección no disponible".into(),
        _ => err.to_string(),
    }
}

/// A frame body as a log line shows it: lossy UTF-8, control characters
/// escaped, at most 80 chars, so a 64 KiB question or binary noise never
/// floods a terminal or forges a line.
pub fn preview(body: &[u8]) -> String {
    const LIMIT: usize = 80;
    let text = String::from_utf8_lossy(&body[..body.len().min(LIMIT * 4)]);
    // Control characters escaped: a question with a `\n` must not forge a
    // log line of its own.
    let shown = |text: &str| crate::telemetry::for_log(text);
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", shown(&text[..cut])),
        None if body.len() > LIMIT * 4 => format!("{}…", shown(&text)),
        None => shown(&text),
    }
}
