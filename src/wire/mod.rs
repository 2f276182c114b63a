//! What travels on the TCP links: frames, questions, answers.
//!
//! The framing is configured in exactly one place ([`codec`]); the texts of
//! the contract live in [`texts`]; [`Question::parse`] is the only place where
//! bytes become a question, and [`Answer`] the only place where a failure
//! becomes an `Error: ...` text.

mod answer;
pub mod codec;
mod question;
pub mod texts;

pub use answer::{Answer, Peer, Refusal};
pub use codec::frame_codec;
pub use question::Question;

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

/// A frame body as a log line shows it: lossy UTF-8, at most 80 chars, so a
/// 64 KiB question or binary noise never floods a terminal.
pub fn preview(body: &[u8]) -> String {
    const LIMIT: usize = 80;
    let text = String::from_utf8_lossy(&body[..body.len().min(LIMIT * 4)]);
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None if body.len() > LIMIT * 4 => format!("{text}…"),
        None => text.into_owned(),
    }
}
