//! Mensajes: the course's `Mensaje` (operacion, data, estado) as a JSON
//! object in one frame, on Docencio's student port beside the questions.
//!
//! A frame whose first non-blank byte is `{` is a mensaje; anything else is
//! a question, exactly as before. A request gets exactly one answer, in
//! order with everything else on the connection; an answer always carries
//! `estado` (`"ok"` or `"error"`). Pushes (chat from others, Profesor's
//! announcements, how many pushes were lost) never carry `estado`: that is
//! how a client tells them apart, by the frame alone.

mod nombre;
mod pedido;
mod respuesta;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use nombre::{Nombre, TextoChat};
pub use pedido::{Pedido, PedidoRefused};
pub use respuesta::{
    Bajando, Completo, Empuje, EnCurso, Fin, LineaChat, Recibido, Respuesta, Resultado,
};

/// Longest name a student may take with `hola`, in characters.
pub const MAX_NOMBRE: usize = 32;

/// Longest chat text, in characters.
pub const MAX_TEXTO: usize = 500;

/// The envelope of every mensaje as it travels: a request (no `estado`), an
/// answer (with `estado`) or a push (no `estado`, sent unasked). What goes in
/// `data` is typed by [`Pedido`], [`Resultado`] and [`Empuje`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mensaje {
    pub operacion: String,
    #[serde(default)]
    pub data: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estado: Option<EstadoRespuesta>,
}

/// How a request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EstadoRespuesta {
    Ok,
    Error,
}

/// Why a mensaje is refused: said back in an `estado: "error"` answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MensajeError {
    #[error("el mensaje no es JSON válido: {0}")]
    NotJson(String),
    #[error(
        "operación desconocida: {0} (se aceptan hola, chat, quien, archivos, bajar, subir y trozo)"
    )]
    UnknownOperation(String),
    #[error("hola necesita data: {{\"nombre\": \"...\"}}")]
    MissingName,
    #[error("el nombre no puede estar vacío")]
    EmptyName,
    #[error("el nombre tiene más de {MAX_NOMBRE} caracteres")]
    NameTooLong,
    #[error(
        "el nombre solo puede tener letras, cifras, espacios y . _ -, y al menos una letra o cifra"
    )]
    NameNotPrintable,
    #[error("el nombre {0} ya está en uso en la clase")]
    NameTaken(String),
    #[error("chat necesita un texto en data")]
    MissingText,
    #[error("el texto no puede estar vacío")]
    EmptyText,
    #[error("el texto tiene más de {MAX_TEXTO} caracteres")]
    TextTooLong,
    #[error("primero di hola con tu nombre")]
    NotNamed,
    #[error("ya te llamas {0}")]
    AlreadyNamed(String),
    #[error("demasiados mensajes: espera {0} ms")]
    TooFast(u64),
    #[error("{0}")]
    Archivo(String),
}

/// True when `body` is a mensaje rather than a question.
pub fn is_mensaje(body: &[u8]) -> bool {
    body.iter()
        .find(|byte| !byte.is_ascii_whitespace())
        .is_some_and(|&byte| byte == b'{')
}

/// A name as kept (see [`Nombre`]); for callers that keep it as text.
pub fn check_nombre(nombre: &str) -> Result<String, MensajeError> {
    Nombre::parse(nombre).map(String::from)
}

/// A chat text as kept (see [`TextoChat`]); for callers that keep it as
/// text.
pub fn check_texto(texto: &str) -> Result<String, MensajeError> {
    TextoChat::parse(texto).map(String::from)
}

impl Mensaje {
    /// The frame body.
    pub fn to_frame(&self) -> Bytes {
        // A `Mensaje` always serialises: its fields are strings and JSON values.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }
}

/// `tagged` (`{"operacion", "data"}`, as serde writes the typed answers and
/// pushes) in the envelope, with `estado`. `data` goes through a JSON value,
/// whose keys are sorted: the bytes are the ones clients have always got.
fn envelope(tagged: &impl Serialize, estado: Option<EstadoRespuesta>) -> Bytes {
    // The typed answers and pushes always serialise: strings and numbers.
    let mut tagged = match serde_json::to_value(tagged) {
        Ok(Value::Object(tagged)) => tagged,
        _ => serde_json::Map::new(),
    };
    let operacion = match tagged.remove("operacion") {
        Some(Value::String(operacion)) => operacion,
        _ => String::new(),
    };
    Mensaje {
        operacion,
        data: tagged.remove("data").unwrap_or(Value::Null),
        estado,
    }
    .to_frame()
}

impl Respuesta {
    /// A refusal of `operacion`, saying why.
    pub fn error(operacion: &str, err: &MensajeError) -> Respuesta {
        Respuesta::Error {
            operacion: operacion.to_owned(),
            motivo: err.to_string(),
        }
    }

    /// The frame body (with `estado`).
    pub fn to_frame(&self) -> Bytes {
        match self {
            Respuesta::Ok(resultado) => envelope(resultado, Some(EstadoRespuesta::Ok)),
            Respuesta::Error { operacion, motivo } => Mensaje {
                operacion: operacion.clone(),
                data: Value::String(motivo.clone()),
                estado: Some(EstadoRespuesta::Error),
            }
            .to_frame(),
        }
    }
}

impl From<Resultado> for Respuesta {
    fn from(resultado: Resultado) -> Self {
        Respuesta::Ok(resultado)
    }
}

impl From<PedidoRefused> for Respuesta {
    fn from(refused: PedidoRefused) -> Self {
        Respuesta::error(&refused.operacion, &refused.error)
    }
}

impl Empuje {
    /// The frame body (no `estado`).
    pub fn to_frame(&self) -> Bytes {
        envelope(self, None)
    }
}

/// A frame from Docencio, as a client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// Not a mensaje: the answer to a question, or an announcement to a
    /// client that never sent a mensaje (plain text).
    Text(Bytes),
    Respuesta(Respuesta),
    Empuje(Empuje),
}

/// A mensaje from Docencio that does not say what the contract says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mensaje ilegible ({0})")]
pub struct ReadError(String);

impl Incoming {
    /// What `body` is: a push (no `estado`), an answer (with it), or text.
    pub fn read(body: Bytes) -> Result<Incoming, ReadError> {
        if !is_mensaje(&body) {
            return Ok(Incoming::Text(body));
        }
        #[derive(Deserialize)]
        struct Head {
            #[serde(default)]
            estado: Option<EstadoRespuesta>,
        }
        #[derive(Deserialize)]
        struct Refused {
            operacion: String,
            data: String,
        }
        let unreadable =
            |err: serde_json::Error| ReadError(crate::telemetry::for_log(&err.to_string()));
        let head: Head = serde_json::from_slice(&body).map_err(unreadable)?;
        Ok(match head.estado {
            None => Incoming::Empuje(read_push(&body).map_err(unreadable)?),
            Some(EstadoRespuesta::Ok) => Incoming::Respuesta(Respuesta::Ok(
                serde_json::from_slice(&body).map_err(unreadable)?,
            )),
            Some(EstadoRespuesta::Error) => {
                let Refused { operacion, data } =
                    serde_json::from_slice(&body).map_err(unreadable)?;
                Incoming::Respuesta(Respuesta::Error {
                    operacion,
                    motivo: data,
                })
            }
        })
    }
}

/// A push in `body`. One of a kind this client does not know (a newer
/// Docencio's) is [`Empuje::Desconocido`], left alone as before; a known
/// kind with the wrong `data` is still an error.
fn read_push(body: &[u8]) -> Result<Empuje, serde_json::Error> {
    serde_json::from_slice(body).or_else(|err| {
        #[derive(Deserialize)]
        struct Kind {
            operacion: String,
        }
        let Kind { operacion } = serde_json::from_slice(body)?;
        // Its kind alone: only an unknown one reads (as `Desconocido`),
        // since every known kind needs its `data`.
        match serde_json::from_value(serde_json::json!({ "operacion": operacion })) {
            Ok(Empuje::Desconocido) => Ok(Empuje::Desconocido),
            _ => Err(err),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_push_of_an_unknown_kind_is_read_and_left_alone() {
        let newer = Bytes::from_static(br#"{"operacion":"encuesta","data":{"pregunta":"?"}}"#);
        assert_eq!(
            Incoming::read(newer).unwrap(),
            Incoming::Empuje(Empuje::Desconocido)
        );
        let bare = Bytes::from_static(br#"{"operacion":"encuesta"}"#);
        assert_eq!(
            Incoming::read(bare).unwrap(),
            Incoming::Empuje(Empuje::Desconocido)
        );
        // A known kind with the wrong data is still an error.
        let broken = Bytes::from_static(br#"{"operacion":"perdidos","data":{}}"#);
        assert!(Incoming::read(broken).is_err());
    }

    #[test]
    fn a_frame_is_a_mensaje_when_it_starts_with_a_brace() {
        assert!(is_mensaje(b"{\"operacion\":\"quien\"}"));
        assert!(is_mensaje(b" \n {}"));
        assert!(!is_mensaje(b"Tarea"));
        assert!(!is_mensaje(b""));
        assert!(!is_mensaje(b"  "));
    }

    #[test]
    fn requests_are_parsed_with_their_limits() {
        let refused = |body: &[u8]| Pedido::parse(body).unwrap_err().error;
        let hola = br#"{"operacion":"hola","data":{"nombre":" Ana "}}"#;
        assert_eq!(
            Pedido::parse(hola).unwrap(),
            Pedido::Hola {
                nombre: Nombre::parse("Ana").unwrap()
            }
        );
        let chat = br#"{"operacion":"chat","data":"hola a todos"}"#;
        assert_eq!(
            Pedido::parse(chat).unwrap(),
            Pedido::Chat(TextoChat::parse("hola a todos").unwrap())
        );
        assert_eq!(
            Pedido::parse(br#"{"operacion":"quien"}"#).unwrap(),
            Pedido::Quien
        );
        let long = format!(
            r#"{{"operacion":"hola","data":{{"nombre":"{}"}}}}"#,
            "a".repeat(MAX_NOMBRE + 1)
        );
        assert_eq!(refused(long.as_bytes()), MensajeError::NameTooLong);
        for bad in ["Ana\u{202e}", "Ana\nB", "\u{200b}Ana", "a/b", "..", ". -"] {
            let body = json!({"operacion": "hola", "data": {"nombre": bad}});
            assert_eq!(
                refused(body.to_string().as_bytes()),
                MensajeError::NameNotPrintable,
                "{bad:?}"
            );
        }
        assert!(matches!(refused(b"{not json"), MensajeError::NotJson(_)));
        assert_eq!(
            Pedido::parse(br#"{"operacion":"borrar"}"#).unwrap_err(),
            PedidoRefused {
                operacion: "borrar".to_owned(),
                error: MensajeError::UnknownOperation("borrar".into())
            }
        );
        let text = format!(
            r#"{{"operacion":"chat","data":"{}"}}"#,
            "x".repeat(MAX_TEXTO + 1)
        );
        assert_eq!(refused(text.as_bytes()), MensajeError::TextTooLong);
    }

    #[test]
    fn answers_carry_estado_and_pushes_do_not() {
        let ana = Nombre::parse("Ana").unwrap();
        let answer = Respuesta::Ok(Resultado::Quien(vec![ana.clone()]));
        let push = Empuje::Chat(LineaChat {
            de: ana,
            texto: TextoChat::parse("hola").unwrap(),
            momento_ms: 5,
        });
        let answer: Value = serde_json::from_slice(&answer.to_frame()).unwrap();
        let push: Value = serde_json::from_slice(&push.to_frame()).unwrap();
        assert_eq!(answer["estado"], "ok");
        assert!(push.get("estado").is_none());
    }

    /// The bytes clients have always got: envelope keys in this order,
    /// `data`'s keys sorted.
    #[test]
    fn frames_are_byte_for_byte_the_contract_s() {
        let cases: [(Bytes, &str); 5] = [
            (
                Respuesta::Ok(Resultado::Chat { entregado_a: 2 }).to_frame(),
                r#"{"operacion":"chat","data":{"entregado_a":2},"estado":"ok"}"#,
            ),
            (
                Respuesta::error("hola", &MensajeError::NotNamed).to_frame(),
                r#"{"operacion":"hola","data":"primero di hola con tu nombre","estado":"error"}"#,
            ),
            (
                Empuje::Anuncio(crate::api::Anuncio {
                    id: 7,
                    texto: "examen".into(),
                    momento_ms: 9,
                })
                .to_frame(),
                r#"{"operacion":"anuncio","data":{"id":7,"momento_ms":9,"texto":"examen"}}"#,
            ),
            (
                Empuje::Perdidos { cantidad: 3 }.to_frame(),
                r#"{"operacion":"perdidos","data":{"cantidad":3}}"#,
            ),
            (
                Respuesta::Ok(Resultado::Trozo(Recibido::completo(
                    "t.py".into(),
                    3,
                    "ab".into(),
                )))
                .to_frame(),
                r#"{"operacion":"trozo","data":{"completo":true,"nombre":"t.py","recibido":3,"sha256":"ab"},"estado":"ok"}"#,
            ),
        ];
        for (frame, expected) in cases {
            assert_eq!(String::from_utf8_lossy(&frame), expected);
            let read = Incoming::read(frame.clone()).unwrap();
            let again = match read {
                Incoming::Respuesta(respuesta) => respuesta.to_frame(),
                Incoming::Empuje(empuje) => empuje.to_frame(),
                Incoming::Text(_) => panic!("{expected} is a mensaje"),
            };
            assert_eq!(again, frame, "read back as itself");
        }
    }

    #[test]
    fn a_renamed_key_is_an_error_at_the_reader() {
        for body in [
            r#"{"operacion":"chat","data":{"de":"Ana","text":"hola","momento_ms":0}}"#,
            r#"{"operacion":"chat","data":{"entregado":2},"estado":"ok"}"#,
            r#"{"operacion":"perdidos","data":{}}"#,
            r#"{"operacion":"fin","data":{"nombre":"a","error":"x"}}"#,
            r#"{"operacion":"trozo","data":{"completo":true,"recibido":3},"estado":"ok"}"#,
            r#"{"operacion":"hola","data":{"nombre":"Ana"},"estado":"bien"}"#,
        ] {
            assert!(
                Incoming::read(Bytes::from(body)).is_err(),
                "{body} must not be read"
            );
        }
    }
}
