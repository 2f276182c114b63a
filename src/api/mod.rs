//! Profesor's HTTP API as both sides see it: the JSON bodies, the header
//! names and the limits that the server ([`crate::profesor`]) enforces and
//! its clients (Tareo, Docencio, through [`client`]) respect.
//!
//! It lives below the roles so that no role imports another: Profesor
//! serves these types, Tareo and Docencio send and read them.

pub mod client;
pub mod eventos;
pub mod material_client;

use serde::{Deserialize, Serialize};

pub use client::{parse_profesor_url, CountReply, ProfesorClient, ProfesorError};
pub use eventos::EventKind;
pub use material_client::{Descarga, MaterialClient};

/// Profesor's address when none is given (the notebook's port).
pub const DEFAULT_PROFESOR_BIND: &str = "127.0.0.1:4444";

/// Profesor's base URL when none is given.
pub const DEFAULT_PROFESOR_URL: &str = "http://127.0.0.1:4444";

/// Names the question(s) a request is about, so Profesor's log line carries
/// the id the other roles logged; echoed in every response, and made up
/// (`profesor-N`) when a client sends none.
pub const REQUEST_ID: &str = "X-Request-Id";

/// Lets a client retry a `POST /preguntas` safely: a repeated key is
/// answered with the first result and counts nothing again.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// Set on the answer to a repeated key, which counted nothing.
pub const IDEMPOTENT_REPLAYED: &str = "Idempotent-Replayed";

/// Longest idempotency key accepted.
pub const MAX_KEY_LEN: usize = 200;

/// Largest `POST /preguntas` body read; `{"cantidad": k}` needs far less.
pub const MAX_BODY_BYTES: usize = 4 * 1024;

/// Largest `cantidad` accepted in one `POST /preguntas`.
pub const MAX_CANTIDAD: u64 = 1_000_000;

/// Largest informe accepted: 50 client addresses and the counters fit many
/// times over.
pub const MAX_INFORME_BYTES: usize = 128 * 1024;

/// Clients listed by address in an informe; past it, only counted.
pub const CLIENTS_LISTED: usize = 50;

/// El cuerpo del cuaderno para `/respuesta` y `/preguntas`, más `total`.
/// (Doc comments of the API's types are in Spanish: they are the
/// descriptions of `/openapi.json`.)
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct Texto {
    /// La respuesta, o «Llevamos: N preguntas respondidas».
    pub texto: String,
    /// El método de la petición, como en el cuaderno.
    #[serde(rename = "método")]
    pub metodo: String,
    /// Solo en `/preguntas`: la cuenta como número.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total: Option<u64>,
}

/// El cuerpo opcional de `POST /preguntas`.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
pub struct Cantidad {
    /// Respuestas que contar de una vez (de 1 a 1.000.000; por defecto 1).
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub cantidad: Option<u64>,
}

/// El cuerpo de todo error.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Qué pasó, para una persona.
    pub error: String,
}

/// Preguntas por tipo, con los nombres del contrato como claves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PorTipo {
    #[serde(rename = "Contenido")]
    pub contenido: u64,
    #[serde(rename = "Tarea")]
    pub tarea: u64,
    #[serde(rename = "Pregunta Dificil")]
    pub pregunta_dificil: u64,
}

impl PorTipo {
    /// What was counted since `before`, a snapshot of the same counters.
    pub fn since(&self, before: &PorTipo) -> PorTipo {
        PorTipo {
            contenido: self.contenido.saturating_sub(before.contenido),
            tarea: self.tarea.saturating_sub(before.tarea),
            pregunta_dificil: self
                .pregunta_dificil
                .saturating_sub(before.pregunta_dificil),
        }
    }

    /// Adds `more`, saturating: the counters come from the network
    /// (`POST /informes`), where anybody may send `u64::MAX`.
    pub fn add(&mut self, more: &PorTipo) {
        self.contenido = self.contenido.saturating_add(more.contenido);
        self.tarea = self.tarea.saturating_add(more.tarea);
        self.pregunta_dificil = self.pregunta_dificil.saturating_add(more.pregunta_dificil);
    }

    /// `(name, count)` for each type, in the contract's order.
    pub fn entries(&self) -> [(&'static str, u64); 3] {
        [
            ("Contenido", self.contenido),
            ("Tarea", self.tarea),
            ("Pregunta Dificil", self.pregunta_dificil),
        ]
    }
}

/// Los contadores de un rol desde que arrancó, como se envían en
/// `POST /informes` (the role side is `crate::role_counters`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Informe {
    /// `tareo` o `docencio`.
    pub rol: String,
    /// La dirección donde escucha el rol: distingue a dos Docencio.
    pub instancia: String,
    /// El nombre de la máquina donde corre ("" si no se sabe).
    #[serde(default)]
    pub maquina: String,
    /// Al azar en cada arranque del proceso: un valor nuevo significa que
    /// los contadores volvieron a 0.
    pub ejecucion: String,
    /// Cuándo arrancó el rol (ms desde la época Unix; 0: no se dice). Un
    /// Profesor que arrancó después cuenta solo lo que el rol cuente desde
    /// entonces.
    #[serde(default)]
    pub inicio_ms: u64,
    /// Clientes conectados ahora (estudiantes para Docencio, conexiones de
    /// Docencio para Tareo).
    pub conexiones: u64,
    /// Hasta 50 de ellos, por dirección.
    pub clientes: Vec<String>,
    /// Docencio: los nombres de quienes dijeron `hola` (hasta 2000).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nombres: Vec<String>,
    /// Preguntas leídas desde que arrancó el rol, por tipo.
    pub preguntas: PorTipo,
    /// De ellas, las que tuvieron una respuesta real (no `Error: ...`).
    pub respondidas: PorTipo,
    /// Respuestas `Error: ...` desde que arrancó el rol.
    pub errores: u64,
    /// Preguntas respondiéndose ahora.
    pub en_vuelo: u64,
    /// Veces que se volvió a abrir la conexión con el rol siguiente.
    pub reconexiones: u64,
}

/// `at` in ms since the Unix epoch, as the API's `*_ms` fields carry
/// times (0 for a time before it).
pub fn millis_since_epoch(at: std::time::SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    })
}

/// Now, in ms since the Unix epoch.
pub fn now_ms() -> u64 {
    millis_since_epoch(std::time::SystemTime::now())
}

/// Names an informe carries at most.
pub const NAMES_LISTED: usize = 2000;

/// The longest announcement Profesor takes, in characters.
pub const MAX_ANUNCIO: usize = 2000;

/// The path of Profesor's event stream, which every Docencio follows.
pub const EVENTOS_PATH: &str = "/eventos";

/// Un anuncio del Profesor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Anuncio {
    /// Crece siempre, también entre reinicios de Profesor.
    pub id: u64,
    pub texto: String,
    /// Cuándo se anunció (ms desde la época Unix).
    pub momento_ms: u64,
}

/// El cuerpo de `POST /anuncios`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NuevoAnuncio {
    /// De 1 a 2000 caracteres, sin caracteres de control salvo saltos de línea.
    pub texto: String,
}

/// Chat lines Docencio passes to Profesor (`POST /sala/chat`) for the
/// students of the other Docencios.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChatRelay {
    /// Quién los envía (la ejecución de ese Docencio): no se los devuelve.
    pub docencio: String,
    /// En el orden en que se escribieron; hasta 100.
    pub mensajes: Vec<ChatLine>,
}

/// One chat line, as it goes between Docencio and Profesor and on the
/// event stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChatLine {
    pub de: String,
    pub texto: String,
    pub momento_ms: u64,
    /// En el flujo de eventos: el Docencio de donde vino.
    #[serde(default)]
    pub docencio: String,
}

/// Lines in one `POST /sala/chat`.
pub const MAX_CHAT_RELAY: usize = 100;

/// Un archivo del material del curso o de una entrega.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Archivo {
    pub nombre: String,
    /// Bytes.
    pub tamano: u64,
    /// SHA-256 del archivo completo, en hexadecimal (minúsculas).
    pub sha256: String,
    /// Última modificación (ms desde la época Unix).
    pub modificado_ms: u64,
}

/// La lista de `GET /material`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListaMaterial {
    pub archivos: Vec<Archivo>,
}

/// Una entrega de un estudiante.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entrega {
    pub estudiante: String,
    #[serde(flatten)]
    pub archivo: Archivo,
}

/// La lista de `GET /entregas`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListaEntregas {
    pub entregas: Vec<Entrega>,
}

/// Largest file of material.
pub const MAX_MATERIAL_BYTES: u64 = 1024 * 1024 * 1024;

/// Largest file a student hands in.
pub const MAX_ENTREGA_BYTES: u64 = 128 * 1024 * 1024;

/// What one student may hand in, in all.
pub const MAX_ENTREGAS_POR_ESTUDIANTE: u64 = 512 * 1024 * 1024;

/// The header with a file's SHA-256 (hex) on `POST /material` and
/// `PUT /entregas/{estudiante}/{nombre}`: the receiver checks it before the
/// file is put in place.
pub const SHA256_HEADER: &str = "X-Sha256";

/// Where Docencio hands in a student's file.
pub fn entrega_path(estudiante: &str, nombre: &str) -> String {
    format!("/entregas/{estudiante}/{nombre}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn por_tipo_adds_up_without_overflowing() {
        let mut total = PorTipo {
            tarea: u64::MAX - 1,
            ..PorTipo::default()
        };
        total.add(&PorTipo {
            contenido: 2,
            tarea: 5,
            pregunta_dificil: 0,
        });
        assert_eq!((total.contenido, total.tarea), (2, u64::MAX));
    }

    #[test]
    fn texto_uses_the_accented_key() {
        let json = serde_json::to_value(Texto {
            texto: "x".into(),
            metodo: "GET".into(),
            total: None,
        })
        .unwrap();
        assert_eq!(json, serde_json::json!({"texto": "x", "método": "GET"}));
    }
}
