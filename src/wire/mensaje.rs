//! Mensajes: the course's `Mensaje` (operacion, data, estado) as a JSON
//! object in one frame, on Docencio's student port beside the questions.
//!
//! A frame whose first non-blank byte is `{` is a mensaje; anything else is
//! a question, exactly as before. A request gets exactly one answer, in
//! order with everything else on the connection; an answer always carries
//! `estado` (`"ok"` or `"error"`). Pushes (chat from others, Profesor's
//! announcements, how many pushes were lost) never carry `estado`: that is
//! how a client tells them apart, by the frame alone.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest name a student may take with `hola`, in characters.
pub const MAX_NOMBRE: usize = 32;

/// Longest chat text, in characters.
pub const MAX_TEXTO: usize = 500;

/// One mensaje as it travels: a request (no `estado`), an answer (with
/// `estado`) or a push (no `estado`, sent unasked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mensaje {
    pub operacion: String,
    #[serde(default)]
    pub data: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estado: Option<Estado>,
}

/// How a request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Estado {
    Ok,
    Error,
}

/// The operations a student may ask for, with what each carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pedido {
    /// Take a name: from now on, pushes come to this connection.
    Hola { nombre: String },
    /// Say something to the whole class.
    Chat { texto: String },
    /// Who is connected (named), on every Docencio.
    Quien,
    /// The course's material: what files there are.
    Archivos,
    /// A file of the material, from byte `desde` (to resume).
    Bajar { nombre: String, desde: u64 },
    /// Hand in a file of `tamano` bytes whose SHA-256 is `sha256`; its
    /// chunks follow as [`Pedido::Trozo`].
    Subir {
        nombre: String,
        tamano: u64,
        sha256: String,
    },
    /// One chunk of the file being handed in.
    Trozo(crate::archivos::trozos::Trozo),
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

impl Pedido {
    /// The request in `body` (a frame for which [`is_mensaje`] holds).
    /// Returns the operation's name with the error, to answer under it.
    pub fn parse(body: &[u8]) -> Result<Pedido, (String, MensajeError)> {
        let mensaje: Mensaje = serde_json::from_slice(body).map_err(|err| {
            (
                "error".to_owned(),
                MensajeError::NotJson(crate::telemetry::for_log(&err.to_string())),
            )
        })?;
        let operacion = mensaje.operacion;
        let refused = |err| Err((operacion.clone(), err));
        match operacion.as_str() {
            "hola" => match mensaje.data.get("nombre").and_then(Value::as_str) {
                Some(nombre) => match check_nombre(nombre) {
                    Ok(nombre) => Ok(Pedido::Hola { nombre }),
                    Err(err) => refused(err),
                },
                None => refused(MensajeError::MissingName),
            },
            "chat" => {
                let texto = match &mensaje.data {
                    Value::String(texto) => texto.as_str(),
                    other => match other.get("texto").and_then(Value::as_str) {
                        Some(texto) => texto,
                        None => return refused(MensajeError::MissingText),
                    },
                };
                match check_texto(texto) {
                    Ok(texto) => Ok(Pedido::Chat { texto }),
                    Err(err) => refused(err),
                }
            }
            "quien" => Ok(Pedido::Quien),
            "archivos" => Ok(Pedido::Archivos),
            "bajar" => {
                #[derive(serde::Deserialize)]
                struct Bajar {
                    nombre: String,
                    #[serde(default)]
                    desde: u64,
                }
                match serde_json::from_value::<Bajar>(mensaje.data) {
                    Ok(Bajar { nombre, desde }) => Ok(Pedido::Bajar { nombre, desde }),
                    Err(err) => refused(MensajeError::Archivo(format!(
                        "bajar necesita data: {{\"nombre\": ..., \"desde\": bytes ya recibidos}} ({err})"
                    ))),
                }
            }
            "subir" => {
                #[derive(serde::Deserialize)]
                struct Subir {
                    nombre: String,
                    tamano: u64,
                    sha256: String,
                }
                match serde_json::from_value::<Subir>(mensaje.data) {
                    Ok(Subir {
                        nombre,
                        tamano,
                        sha256,
                    }) => Ok(Pedido::Subir {
                        nombre,
                        tamano,
                        sha256,
                    }),
                    Err(err) => refused(MensajeError::Archivo(format!(
                        "subir necesita data: {{\"nombre\", \"tamano\", \"sha256\"}} ({err})"
                    ))),
                }
            }
            "trozo" => match serde_json::from_value(mensaje.data) {
                Ok(trozo) => Ok(Pedido::Trozo(trozo)),
                Err(err) => refused(MensajeError::Archivo(format!(
                    "trozo necesita data: {{\"nombre\", \"desde\", \"datos\"}} ({err})"
                ))),
            },
            _ => {
                let shown = crate::telemetry::for_log(&operacion);
                let shown: String = shown.chars().take(40).collect();
                refused(MensajeError::UnknownOperation(shown))
            }
        }
    }
}

/// A name as kept: trimmed, 1 to [`MAX_NOMBRE`] characters, letters,
/// digits, spaces and `._-` only (nothing that could pass for another
/// student's name through invisible or control characters).
pub fn check_nombre(nombre: &str) -> Result<String, MensajeError> {
    let nombre = nombre.trim();
    if nombre.is_empty() {
        return Err(MensajeError::EmptyName);
    }
    if nombre.chars().count() > MAX_NOMBRE {
        return Err(MensajeError::NameTooLong);
    }
    if !nombre
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-'))
        || !nombre.chars().any(char::is_alphanumeric)
    {
        return Err(MensajeError::NameNotPrintable);
    }
    Ok(nombre.to_owned())
}

/// A chat text as kept: trimmed, 1 to [`MAX_TEXTO`] characters, control
/// characters (but none of the text) refused.
pub fn check_texto(texto: &str) -> Result<String, MensajeError> {
    let texto = texto.trim();
    if texto.is_empty() {
        return Err(MensajeError::EmptyText);
    }
    // Measured as kept (escaped): Docencio and Profesor then agree on
    // every line, and escaping it again changes nothing.
    let texto = crate::telemetry::escape_controls(texto);
    if texto.chars().count() > MAX_TEXTO {
        return Err(MensajeError::TextTooLong);
    }
    Ok(texto)
}

impl Mensaje {
    /// An answer that went well.
    pub fn ok(operacion: &str, data: Value) -> Mensaje {
        Mensaje {
            operacion: operacion.to_owned(),
            data,
            estado: Some(Estado::Ok),
        }
    }

    /// A refusal, said in `data`.
    pub fn error(operacion: &str, err: &MensajeError) -> Mensaje {
        Mensaje {
            operacion: operacion.to_owned(),
            data: Value::String(err.to_string()),
            estado: Some(Estado::Error),
        }
    }

    /// A push: no `estado`.
    pub fn push(operacion: &str, data: Value) -> Mensaje {
        Mensaje {
            operacion: operacion.to_owned(),
            data,
            estado: None,
        }
    }

    /// True for a push (sent unasked), false for an answer.
    pub fn is_push(&self) -> bool {
        self.estado.is_none()
    }

    /// The frame body.
    pub fn to_frame(&self) -> bytes::Bytes {
        // A `Mensaje` always serialises: its fields are strings and JSON values.
        bytes::Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let hola = br#"{"operacion":"hola","data":{"nombre":" Ana "}}"#;
        assert_eq!(
            Pedido::parse(hola).unwrap(),
            Pedido::Hola {
                nombre: "Ana".into()
            }
        );
        let chat = br#"{"operacion":"chat","data":"hola a todos"}"#;
        assert_eq!(
            Pedido::parse(chat).unwrap(),
            Pedido::Chat {
                texto: "hola a todos".into()
            }
        );
        assert_eq!(
            Pedido::parse(br#"{"operacion":"quien"}"#).unwrap(),
            Pedido::Quien
        );
        let long = format!(
            r#"{{"operacion":"hola","data":{{"nombre":"{}"}}}}"#,
            "a".repeat(MAX_NOMBRE + 1)
        );
        assert_eq!(
            Pedido::parse(long.as_bytes()).unwrap_err().1,
            MensajeError::NameTooLong
        );
        for bad in ["Ana\u{202e}", "Ana\nB", "\u{200b}Ana", "a/b", "..", ". -"] {
            let body = serde_json::json!({"operacion": "hola", "data": {"nombre": bad}});
            assert_eq!(
                Pedido::parse(body.to_string().as_bytes()).unwrap_err().1,
                MensajeError::NameNotPrintable,
                "{bad:?}"
            );
        }
        assert!(matches!(
            Pedido::parse(b"{not json").unwrap_err().1,
            MensajeError::NotJson(_)
        ));
        assert_eq!(
            Pedido::parse(br#"{"operacion":"borrar"}"#).unwrap_err(),
            (
                "borrar".to_owned(),
                MensajeError::UnknownOperation("borrar".into())
            )
        );
        let text = format!(
            r#"{{"operacion":"chat","data":"{}"}}"#,
            "x".repeat(MAX_TEXTO + 1)
        );
        assert_eq!(
            Pedido::parse(text.as_bytes()).unwrap_err().1,
            MensajeError::TextTooLong
        );
    }

    #[test]
    fn answers_carry_estado_and_pushes_do_not() {
        let answer = Mensaje::ok("quien", serde_json::json!(["Ana"]));
        let push = Mensaje::push("chat", serde_json::json!({"de": "Ana", "texto": "hola"}));
        let answer: Value = serde_json::from_slice(&answer.to_frame()).unwrap();
        let push: Value = serde_json::from_slice(&push.to_frame()).unwrap();
        assert_eq!(answer["estado"], "ok");
        assert!(push.get("estado").is_none());
    }
}
