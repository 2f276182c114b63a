//! The class list (`/estudiantes`): a REST resource kept in Profesor's
//! store ([`crate::profesor::store::roster`]), SQLite or PostgreSQL, beside
//! the count. Names follow the sala's
//! rules and are unique without regard to case; each entry says whether
//! that student is in the sala now, and at which Docencio (from the
//! Docencios' informes).

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::api::ErrorBody;
use crate::profesor::class_state::ClassState;
use crate::profesor::http::ApiError;
use crate::profesor::store::roster::{clave, Estudiante, RosterStore};
use crate::profesor::store::Store;
use crate::wire::mensaje::check_nombre;

/// Longest `correo` and `seccion`, in characters.
const MAX_CORREO: usize = 254;
const MAX_SECCION: usize = 64;

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

fn not_found(nombre: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no hay ningún estudiante {} en la lista",
        crate::telemetry::for_log(nombre)
    ))
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

/// La lista de la clase, con quién está conectado y dónde.
#[utoipa::path(get, path = "/estudiantes", responses((status = 200, body = Estudiantes), (status = 503, body = ErrorBody)))]
pub async fn list(
    store: web::Data<Store>,
    class: web::Data<ClassState>,
) -> Result<HttpResponse, ApiError> {
    let all = store.list().await?;
    let where_ = class.who_is_where();
    Ok(HttpResponse::Ok().json(Estudiantes {
        estudiantes: all.into_iter().map(|e| in_class(e, &where_)).collect(),
    }))
}

/// Agrega un estudiante a la lista.
#[utoipa::path(post, path = "/estudiantes", request_body = Estudiante,
    responses((status = 201, body = EstudianteEnClase), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn create(
    body: web::Json<Estudiante>,
    store: web::Data<Store>,
    class: web::Data<ClassState>,
) -> Result<HttpResponse, ApiError> {
    let estudiante = checked(body.into_inner()).map_err(ApiError::Unprocessable)?;
    if !store.create(&estudiante).await? {
        return Err(ApiError::Conflict(format!(
            "{} ya está en la lista",
            estudiante.nombre
        )));
    }
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location(&estudiante.nombre)))
        .json(in_class(estudiante, &class.who_is_where())))
}

/// Un estudiante de la lista.
#[utoipa::path(get, path = "/estudiantes/{nombre}",
    responses((status = 200, body = EstudianteEnClase), (status = 404, body = ErrorBody)))]
pub async fn get(
    nombre: web::Path<String>,
    store: web::Data<Store>,
    class: web::Data<ClassState>,
) -> Result<HttpResponse, ApiError> {
    let estudiante = store
        .get(&nombre)
        .await?
        .ok_or_else(|| not_found(&nombre))?;
    Ok(HttpResponse::Ok().json(in_class(estudiante, &class.who_is_where())))
}

/// Crea o reemplaza un estudiante (idempotente): 201 si no estaba, 200 si sí.
#[utoipa::path(put, path = "/estudiantes/{nombre}", request_body = Estudiante,
    responses((status = 200, body = EstudianteEnClase), (status = 201, body = EstudianteEnClase),
              (status = 422, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn put(
    nombre: web::Path<String>,
    body: web::Json<serde_json::Value>,
    store: web::Data<Store>,
    class: web::Data<ClassState>,
) -> Result<HttpResponse, ApiError> {
    let mut body = body.into_inner();
    // The name is the path's; one in the body must say the same.
    match body.get("nombre").and_then(|n| n.as_str()) {
        Some(other) if clave(other.trim()) != clave(nombre.trim()) => {
            return Err(ApiError::Unprocessable(
                "el nombre del cuerpo no es el de la ruta".into(),
            ))
        }
        _ => {}
    }
    if let Some(object) = body.as_object_mut() {
        object.insert("nombre".into(), serde_json::Value::String(nombre.clone()));
    }
    let estudiante = serde_json::from_value::<Estudiante>(body)
        .map_err(|err| err.to_string())
        .and_then(checked)
        .map_err(ApiError::Unprocessable)?;
    let added = store.put(&estudiante).await?;
    let entry = in_class(estudiante, &class.who_is_where());
    Ok(if added {
        HttpResponse::Created()
            .insert_header((header::LOCATION, location(&entry.estudiante.nombre)))
            .json(entry)
    } else {
        HttpResponse::Ok().json(entry)
    })
}

/// Quita a un estudiante de la lista.
#[utoipa::path(delete, path = "/estudiantes/{nombre}",
    responses((status = 204), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn delete(
    nombre: web::Path<String>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    if !store.delete(&nombre).await? {
        return Err(not_found(&nombre));
    }
    Ok(HttpResponse::NoContent().finish())
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
