//! The requests a student sends on Docencio's port: parsed by Docencio,
//! encoded by the student, one type for both ends. A new operation is a
//! variant here (serde encodes it), its arm in [`Pedido::parse`], and its
//! arm in Docencio's session.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::nombre::{Nombre, TextoChat};
use super::{Mensaje, MensajeError};
use crate::archivos::trozos::Trozo;

/// The operations a student may ask for, with what each carries (the
/// variant is `operacion`, what it holds is `data`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "operacion", content = "data", rename_all = "lowercase")]
pub enum Pedido {
    /// Take a name: from now on, pushes come to this connection.
    Hola { nombre: Nombre },
    /// Say something to the whole class (`data` is the text itself).
    Chat(TextoChat),
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
    Trozo(Trozo),
}

/// A request that could not be read: answered with an `estado: "error"`
/// under `operacion` (`"error"` when not even that could be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PedidoRefused {
    pub operacion: String,
    pub error: MensajeError,
}

#[derive(Deserialize)]
struct BajarData {
    nombre: String,
    #[serde(default)]
    desde: u64,
}

#[derive(Deserialize)]
struct SubirData {
    nombre: String,
    tamano: u64,
    sha256: String,
}

impl Pedido {
    /// The request in `body` (a frame for which [`super::is_mensaje`] holds).
    pub fn parse(body: &[u8]) -> Result<Pedido, PedidoRefused> {
        let mensaje: Mensaje = serde_json::from_slice(body).map_err(|err| PedidoRefused {
            operacion: "error".to_owned(),
            error: MensajeError::NotJson(crate::telemetry::for_log(&err.to_string())),
        })?;
        Pedido::from_data(&mensaje.operacion, mensaje.data).map_err(|error| PedidoRefused {
            operacion: mensaje.operacion,
            error,
        })
    }

    fn from_data(operacion: &str, data: Value) -> Result<Pedido, MensajeError> {
        match operacion {
            "hola" => match data.get("nombre").and_then(Value::as_str) {
                Some(nombre) => Ok(Pedido::Hola {
                    nombre: Nombre::parse(nombre)?,
                }),
                None => Err(MensajeError::MissingName),
            },
            "chat" => {
                let texto = match &data {
                    Value::String(texto) => Some(texto.as_str()),
                    other => other.get("texto").and_then(Value::as_str),
                };
                let texto = texto.ok_or(MensajeError::MissingText)?;
                Ok(Pedido::Chat(TextoChat::parse(texto)?))
            }
            "quien" => Ok(Pedido::Quien),
            "archivos" => Ok(Pedido::Archivos),
            "bajar" => {
                let BajarData { nombre, desde } = data_of(data, "bajar", BAJAR_NEEDS)?;
                Ok(Pedido::Bajar { nombre, desde })
            }
            "subir" => {
                let SubirData {
                    nombre,
                    tamano,
                    sha256,
                } = data_of(data, "subir", SUBIR_NEEDS)?;
                Ok(Pedido::Subir {
                    nombre,
                    tamano,
                    sha256,
                })
            }
            "trozo" => Ok(Pedido::Trozo(data_of(data, "trozo", TROZO_NEEDS)?)),
            _ => {
                let shown = crate::telemetry::for_log(operacion);
                Err(MensajeError::UnknownOperation(
                    shown.chars().take(40).collect(),
                ))
            }
        }
    }

    /// The frame body a student sends (no `estado`).
    pub fn to_frame(&self) -> Bytes {
        super::envelope(self, None)
    }
}

const BAJAR_NEEDS: &str = "{\"nombre\": ..., \"desde\": bytes ya recibidos}";
const SUBIR_NEEDS: &str = "{\"nombre\", \"tamano\", \"sha256\"}";
const TROZO_NEEDS: &str = "{\"nombre\", \"desde\", \"datos\"}";

/// A file operation's `data`, or the refusal that says what it needs.
fn data_of<T: DeserializeOwned>(
    data: Value,
    operacion: &str,
    needs: &str,
) -> Result<T, MensajeError> {
    serde_json::from_value(data)
        .map_err(|err| MensajeError::Archivo(format!("{operacion} necesita data: {needs} ({err})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_student_encodes_docencio_parses_back() {
        let pedidos = [
            Pedido::Hola {
                nombre: Nombre::parse("Ana").unwrap(),
            },
            Pedido::Chat(TextoChat::parse("hola").unwrap()),
            Pedido::Quien,
            Pedido::Archivos,
            Pedido::Bajar {
                nombre: "guia.pdf".into(),
                desde: 7,
            },
            Pedido::Subir {
                nombre: "t.py".into(),
                tamano: 3,
                sha256: "ab".into(),
            },
            Pedido::Trozo(Trozo::new("t.py", 0, b"abc")),
        ];
        for pedido in pedidos {
            assert_eq!(Pedido::parse(&pedido.to_frame()).unwrap(), pedido);
        }
    }

    #[test]
    fn requests_go_as_students_have_always_sent_them() {
        let chat = Pedido::Chat(TextoChat::parse("hola").unwrap());
        assert_eq!(chat.to_frame(), r#"{"operacion":"chat","data":"hola"}"#);
        assert_eq!(
            Pedido::Quien.to_frame(),
            r#"{"operacion":"quien","data":null}"#
        );
        let bajar = Pedido::Bajar {
            nombre: "a".into(),
            desde: 3,
        };
        assert_eq!(
            bajar.to_frame(),
            r#"{"operacion":"bajar","data":{"desde":3,"nombre":"a"}}"#
        );
    }
}
