//! The class list (`/estudiantes`): a REST resource kept in Profesor's
//! store, SQLite or PostgreSQL, beside the count. Names follow the sala's
//! rules and are unique without regard to case; each entry says whether
//! that student is in the sala now, and at which Docencio (from the
//! Docencios' informes).

use std::future::Future;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::class_state::ClassState;
use super::count_store::{AnswerCount, CountError};
use crate::api::ErrorBody;
use crate::wire::mensaje::check_nombre;

/// Entries the list may hold.
pub const MAX_ESTUDIANTES: u64 = 100_000;

/// Longest `correo` and `seccion`, in characters.
const MAX_CORREO: usize = 254;
const MAX_SECCION: usize = 64;

/// Un estudiante de la lista de la clase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Estudiante {
    /// Único sin mirar mayúsculas; letras, cifras, espacios y `. _ -`, hasta 32.
    pub nombre: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccion: Option<String>,
}

/// Un estudiante con su estado en la sala.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EstudianteEnClase {
    #[serde(flatten)]
    pub estudiante: Estudiante,
    /// Dijo `hola` con este nombre en algún Docencio y sigue conectado.
    pub conectado: bool,
    /// Ese Docencio (`instancia`), si está conectado.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docencio: Option<String>,
}

/// La lista de `GET /estudiantes`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Estudiantes {
    pub estudiantes: Vec<EstudianteEnClase>,
}

/// Where the list is kept: the same store as the count.
pub trait RosterStore: Send + Sync {
    /// Every entry, by name.
    fn list(&self) -> impl Future<Output = Result<Vec<Estudiante>, CountError>> + Send;
    fn get(
        &self,
        nombre: &str,
    ) -> impl Future<Output = Result<Option<Estudiante>, CountError>> + Send;
    /// Adds `estudiante` unless its name is taken (then `false`).
    fn create(
        &self,
        estudiante: &Estudiante,
    ) -> impl Future<Output = Result<bool, CountError>> + Send;
    /// Adds or replaces; `true` when it was added.
    fn put(&self, estudiante: &Estudiante)
        -> impl Future<Output = Result<bool, CountError>> + Send;
    /// Removes; `false` when there was none.
    fn delete(&self, nombre: &str) -> impl Future<Output = Result<bool, CountError>> + Send;
}

impl RosterStore for AnswerCount {
    async fn list(&self) -> Result<Vec<Estudiante>, CountError> {
        match self {
            AnswerCount::Sqlite(store) => store.list().await,
            AnswerCount::Postgres(store) => store.list().await,
        }
    }

    async fn get(&self, nombre: &str) -> Result<Option<Estudiante>, CountError> {
        match self {
            AnswerCount::Sqlite(store) => store.get(nombre).await,
            AnswerCount::Postgres(store) => store.get(nombre).await,
        }
    }

    async fn create(&self, estudiante: &Estudiante) -> Result<bool, CountError> {
        match self {
            AnswerCount::Sqlite(store) => store.create(estudiante).await,
            AnswerCount::Postgres(store) => store.create(estudiante).await,
        }
    }

    async fn put(&self, estudiante: &Estudiante) -> Result<bool, CountError> {
        match self {
            AnswerCount::Sqlite(store) => store.put(estudiante).await,
            AnswerCount::Postgres(store) => store.put(estudiante).await,
        }
    }

    async fn delete(&self, nombre: &str) -> Result<bool, CountError> {
        match self {
            AnswerCount::Sqlite(store) => store.delete(nombre).await,
            AnswerCount::Postgres(store) => store.delete(nombre).await,
        }
    }
}

/// The key of a name: unique without regard to case.
pub fn clave(nombre: &str) -> String {
    nombre.to_lowercase()
}

/// `estudiante` as kept, or why not.
fn checked(estudiante: Estudiante) -> Result<Estudiante, String> {
    let nombre = check_nombre(&estudiante.nombre).map_err(|err| err.to_string())?;
    let text =
        |value: Option<String>, field: &str, limit: usize| -> Result<Option<String>, String> {
            let Some(value) = value.map(|value| value.trim().to_owned()) else {
                return Ok(None);
            };
            if value.is_empty() {
                return Ok(None);
            }
            if value.chars().count() > limit {
                return Err(format!("{field}: más de {limit} caracteres"));
            }
            if value.chars().any(char::is_control) {
                return Err(format!("{field}: tiene caracteres de control"));
            }
            Ok(Some(value))
        };
    let correo = text(estudiante.correo, "correo", MAX_CORREO)?;
    if correo.as_ref().is_some_and(|correo| !correo.contains('@')) {
        return Err("correo: no parece una dirección de correo".into());
    }
    Ok(Estudiante {
        nombre,
        correo,
        seccion: text(estudiante.seccion, "seccion", MAX_SECCION)?,
    })
}

fn error(status: actix_web::http::StatusCode, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(ErrorBody {
        error: message.into(),
    })
}

fn unavailable(err: CountError) -> HttpResponse {
    error(
        actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
        err.to_string(),
    )
}

fn unprocessable(message: impl Into<String>) -> HttpResponse {
    error(actix_web::http::StatusCode::UNPROCESSABLE_ENTITY, message)
}

fn not_found(nombre: &str) -> HttpResponse {
    error(
        actix_web::http::StatusCode::NOT_FOUND,
        format!(
            "no hay ningún estudiante {} en la lista",
            crate::telemetry::for_log(nombre)
        ),
    )
}

/// The entry with where it is now (`where_` from
/// [`ClassState::who_is_where`]).
fn in_class(
    estudiante: Estudiante,
    where_: &std::collections::HashMap<String, String>,
) -> EstudianteEnClase {
    let docencio = where_.get(&clave(&estudiante.nombre)).cloned();
    EstudianteEnClase {
        conectado: docencio.is_some(),
        docencio,
        estudiante,
    }
}

/// `/estudiantes/{nombre}`, percent-encoded.
fn location(nombre: &str) -> String {
    let mut path = String::from("/estudiantes/");
    for byte in nombre.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-') {
            path.push(byte as char);
        } else {
            path.push_str(&format!("%{byte:02X}"));
        }
    }
    path
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/estudiantes")
            .app_data(super::routes::json_body(4 * 1024, "un estudiante"))
            .route(web::get().to(list))
            .route(web::post().to(create))
            .default_service(web::to(|| super::routes::method_not_allowed("GET, POST"))),
    )
    .service(
        web::resource("/estudiantes/{nombre}")
            .app_data(super::routes::json_body(4 * 1024, "un estudiante"))
            .route(web::get().to(get))
            .route(web::put().to(put))
            .route(web::delete().to(delete))
            .default_service(web::to(|| {
                super::routes::method_not_allowed("GET, PUT, DELETE")
            })),
    );
}

/// La lista de la clase, con quién está conectado y dónde.
#[utoipa::path(get, path = "/estudiantes", responses((status = 200, body = Estudiantes), (status = 503, body = ErrorBody)))]
pub async fn list(store: web::Data<AnswerCount>, class: web::Data<ClassState>) -> HttpResponse {
    match store.list().await {
        Ok(all) => HttpResponse::Ok().json(Estudiantes {
            estudiantes: {
                let where_ = class.who_is_where();
                all.into_iter().map(|e| in_class(e, &where_)).collect()
            },
        }),
        Err(err) => unavailable(err),
    }
}

/// Agrega un estudiante a la lista.
#[utoipa::path(post, path = "/estudiantes", request_body = Estudiante,
    responses((status = 201, body = EstudianteEnClase), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn create(
    body: web::Json<Estudiante>,
    store: web::Data<AnswerCount>,
    class: web::Data<ClassState>,
) -> HttpResponse {
    let estudiante = match checked(body.into_inner()) {
        Ok(estudiante) => estudiante,
        Err(why) => return unprocessable(why),
    };
    match store.create(&estudiante).await {
        Ok(true) => HttpResponse::Created()
            .insert_header((header::LOCATION, location(&estudiante.nombre)))
            .json(in_class(estudiante, &class.who_is_where())),
        Ok(false) => error(
            actix_web::http::StatusCode::CONFLICT,
            format!("{} ya está en la lista", estudiante.nombre),
        ),
        Err(CountError::Write(why)) if why.contains("lista llena") => unprocessable(why),
        Err(err) => unavailable(err),
    }
}

/// Un estudiante de la lista.
#[utoipa::path(get, path = "/estudiantes/{nombre}",
    responses((status = 200, body = EstudianteEnClase), (status = 404, body = ErrorBody)))]
pub async fn get(
    nombre: web::Path<String>,
    store: web::Data<AnswerCount>,
    class: web::Data<ClassState>,
) -> HttpResponse {
    match store.get(&nombre).await {
        Ok(Some(estudiante)) => {
            HttpResponse::Ok().json(in_class(estudiante, &class.who_is_where()))
        }
        Ok(None) => not_found(&nombre),
        Err(err) => unavailable(err),
    }
}

/// Crea o reemplaza un estudiante (idempotente): 201 si no estaba, 200 si sí.
#[utoipa::path(put, path = "/estudiantes/{nombre}", request_body = Estudiante,
    responses((status = 200, body = EstudianteEnClase), (status = 201, body = EstudianteEnClase),
              (status = 422, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn put(
    nombre: web::Path<String>,
    body: web::Json<serde_json::Value>,
    store: web::Data<AnswerCount>,
    class: web::Data<ClassState>,
) -> HttpResponse {
    let mut body = body.into_inner();
    // The name is the path's; one in the body must say the same.
    match body.get("nombre").and_then(|n| n.as_str()) {
        Some(other) if clave(other.trim()) != clave(nombre.trim()) => {
            return unprocessable("el nombre del cuerpo no es el de la ruta")
        }
        _ => {}
    }
    if let Some(object) = body.as_object_mut() {
        object.insert("nombre".into(), serde_json::Value::String(nombre.clone()));
    }
    let estudiante = match serde_json::from_value::<Estudiante>(body)
        .map_err(|err| err.to_string())
        .and_then(checked)
    {
        Ok(estudiante) => estudiante,
        Err(why) => return unprocessable(why),
    };
    match store.put(&estudiante).await {
        Ok(true) => HttpResponse::Created()
            .insert_header((header::LOCATION, location(&estudiante.nombre)))
            .json(in_class(estudiante, &class.who_is_where())),
        Ok(false) => HttpResponse::Ok().json(in_class(estudiante, &class.who_is_where())),
        Err(CountError::Write(why)) if why.contains("lista llena") => unprocessable(why),
        Err(err) => unavailable(err),
    }
}

/// Quita a un estudiante de la lista.
#[utoipa::path(delete, path = "/estudiantes/{nombre}",
    responses((status = 204), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn delete(nombre: web::Path<String>, store: web::Data<AnswerCount>) -> HttpResponse {
    match store.delete(&nombre).await {
        Ok(true) => HttpResponse::NoContent().finish(),
        Ok(false) => not_found(&nombre),
        Err(err) => unavailable(err),
    }
}

/// The tests both stores pass (see [`super::count_store::suite`]).
#[doc(hidden)]
pub mod suite {
    use super::*;

    fn ana() -> Estudiante {
        Estudiante {
            nombre: "Ana".into(),
            correo: Some("ana@example.org".into()),
            seccion: None,
        }
    }

    /// `store` starts with an empty list.
    pub async fn the_list_is_a_resource_with_case_blind_names(store: &impl RosterStore) {
        assert!(store.list().await.unwrap().is_empty());
        assert!(store.create(&ana()).await.unwrap());
        let shouting = Estudiante {
            nombre: "ANA".into(),
            ..ana()
        };
        assert!(
            !store.create(&shouting).await.unwrap(),
            "taken, whatever the case"
        );
        assert_eq!(store.get("ana").await.unwrap(), Some(ana()));
        let moved = Estudiante {
            seccion: Some("2".into()),
            ..ana()
        };
        assert!(!store.put(&moved).await.unwrap(), "replaced, not added");
        assert!(
            store.put(&moved).await.is_ok_and(|added| !added),
            "idempotent"
        );
        assert_eq!(store.list().await.unwrap(), [moved]);
        assert!(store.delete("ANA").await.unwrap());
        assert!(!store.delete("Ana").await.unwrap());
        assert_eq!(store.get("Ana").await.unwrap(), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_checked_and_locations_encoded() {
        assert!(checked(Estudiante {
            nombre: "Ana/../x".into(),
            correo: None,
            seccion: None
        })
        .is_err());
        assert!(checked(Estudiante {
            nombre: "Ana".into(),
            correo: Some("no-es-correo".into()),
            seccion: None
        })
        .is_err());
        let kept = checked(Estudiante {
            nombre: " María José ".into(),
            correo: Some(" ".into()),
            seccion: Some("A".into()),
        })
        .unwrap();
        assert_eq!(kept.nombre, "María José");
        assert_eq!(kept.correo, None);
        assert_eq!(
            location(&kept.nombre),
            "/estudiantes/Mar%C3%ADa%20Jos%C3%A9"
        );
    }
}
