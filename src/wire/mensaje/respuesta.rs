//! The answers Docencio gives to a [`super::Pedido`] and the pushes it sends
//! unasked: built by Docencio, read by the student and by `verificar`, one
//! type for both ends.
//!
//! The variants name the operation (`operacion`) and hold its `data`, so
//! serde writes and reads both; a key missing or renamed is an error where
//! the frame is read, never a default.

use serde::{Deserialize, Serialize};

use super::nombre::{Nombre, TextoChat};
use crate::api::Archivo;
use crate::archivos::trozos::Trozo;

/// What went well, per operation (`"estado": "ok"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "operacion", content = "data", rename_all = "lowercase")]
pub enum Resultado {
    /// The name taken.
    Hola {
        nombre: Nombre,
    },
    /// How many students here got the line.
    Chat {
        entregado_a: u64,
    },
    /// The names in use, sorted.
    Quien(Vec<Nombre>),
    Archivos {
        archivos: Vec<Archivo>,
    },
    /// What the file is; its chunks follow as [`Empuje::Trozo`], then
    /// [`Empuje::Fin`].
    Bajar(Bajando),
    /// A hand-in started (or, when empty, already complete).
    Subir(Recibido),
    /// A chunk of the hand-in taken (or the whole hand-in, with the last).
    Trozo(Recibido),
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Respuesta {
    Ok(Resultado),
    /// Refused, saying why (`"estado": "error"`, `data` the reason).
    Error {
        operacion: String,
        motivo: String,
    },
}

/// The `data` of a `bajar` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bajando {
    pub nombre: String,
    pub tamano: u64,
    pub sha256: String,
    /// Where the chunks start (what the student already had).
    pub desde: u64,
}

/// How far a hand-in got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Recibido {
    Completo(Completo),
    EnCurso(EnCurso),
}

/// Profesor has the whole file, and checked its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completo {
    /// Always true: how a reader tells this from [`EnCurso`].
    pub completo: bool,
    pub nombre: String,
    pub recibido: u64,
    pub sha256: String,
}

/// Bytes taken so far; `nombre` in the answer to `subir`. Any other key
/// makes it unreadable, so a complete answer with a key renamed is an
/// error, not a hand-in under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnCurso {
    pub recibido: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nombre: Option<String>,
}

impl Recibido {
    pub fn completo(nombre: String, recibido: u64, sha256: String) -> Recibido {
        Recibido::Completo(Completo {
            completo: true,
            nombre,
            recibido,
            sha256,
        })
    }

    pub fn en_curso(recibido: u64, nombre: Option<String>) -> Recibido {
        Recibido::EnCurso(EnCurso { recibido, nombre })
    }
}

/// What Docencio sends unasked (no `estado`: that is how a client tells a
/// push from an answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "operacion", content = "data", rename_all = "lowercase")]
pub enum Empuje {
    /// Another student's line.
    Chat(LineaChat),
    /// Profesor's announcement, to a named student.
    Anuncio(crate::api::Anuncio),
    /// A file Profesor sends to everyone.
    Material(Archivo),
    /// Pushes this client lost by not reading them in time.
    Perdidos { cantidad: u64 },
    /// A chunk of a file being downloaded.
    Trozo(Trozo),
    /// A download ended.
    Fin(Fin),
    /// A push of a kind this client does not know (from a newer Docencio):
    /// read and left alone, never sent.
    #[serde(other, skip_serializing)]
    Desconocido,
}

/// A chat line as students get it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineaChat {
    pub de: Nombre,
    pub texto: TextoChat,
    pub momento_ms: u64,
}

/// The end of a download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Fin {
    /// Cut short: `recibido` bytes went out; the student resumes from there.
    Cortado {
        nombre: String,
        error: String,
        recibido: u64,
    },
    /// Every byte went out.
    Entero {
        nombre: String,
        tamano: u64,
        sha256: String,
    },
}

impl Fin {
    pub fn nombre(&self) -> &str {
        match self {
            Fin::Cortado { nombre, .. } | Fin::Entero { nombre, .. } => nombre,
        }
    }
}
