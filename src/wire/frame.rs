//! The one place where a frame a client sent becomes what it is: a
//! question, a mensaje request, or a frame refused with an `Error: ...`.

use super::answer::QuestionError;
use super::mensaje::{is_mensaje, Pedido, PedidoRefused};
use super::question::Question;

/// A frame read from a client, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    Question(Question),
    /// A mensaje (a JSON object), read as a request or refused as one.
    Pedido(Result<Pedido, PedidoRefused>),
    /// Neither: empty, not UTF-8, or not one of the three questions.
    Refused(QuestionError),
}

impl ClientFrame {
    /// What `body` is. A server whose clients may not send mensajes
    /// (`takes_mensajes` false, Tareo) reads every frame as a question, as
    /// the notebook does.
    pub fn classify(body: &[u8], takes_mensajes: bool) -> ClientFrame {
        if takes_mensajes && is_mensaje(body) {
            return ClientFrame::Pedido(Pedido::parse(body));
        }
        match Question::parse(body) {
            Ok(question) => ClientFrame::Question(question),
            Err(refusal) => ClientFrame::Refused(refusal),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_brace_is_a_mensaje_only_where_mensajes_are_taken() {
        let quien = br#"{"operacion":"quien"}"#;
        assert_eq!(
            ClientFrame::classify(quien, true),
            ClientFrame::Pedido(Ok(Pedido::Quien))
        );
        assert!(matches!(
            ClientFrame::classify(quien, false),
            ClientFrame::Refused(QuestionError::UnknownQuestion(_))
        ));
        assert_eq!(
            ClientFrame::classify(b" tarea ", true),
            ClientFrame::Question(Question::Tarea)
        );
        assert_eq!(
            ClientFrame::classify(b"", true),
            ClientFrame::Refused(QuestionError::EmptyFrame)
        );
    }
}
