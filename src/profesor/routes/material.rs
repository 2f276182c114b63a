//! The course's material and the students' hand-ins, over HTTP, from
//! Profesor's two folders ([`Carpetas`]).
//!
//! Profesor's folders are the source: `--material-dir` (default
//! `<data-dir>/material`) and `<data-dir>/entregas/<estudiante>/`. Every
//! Docencio lists and fetches the material from here, and hands in here
//! what its students upload, so a student on any Docencio sees the same
//! list. Several Profesors share the material only if their folders are
//! the same (a shared disk); the README says so.
//!
//! Downloads are served by `actix-files` (`Range`, `ETag`,
//! `If-None-Match`, `Last-Modified`, `Content-Disposition`) from a file
//! opened through the folder's capability ([`crate::archivos::Carpeta`]):
//! nothing outside the folder can be reached. Uploads stream to a hidden
//! temporary file, are hashed on the way, checked against `X-Sha256` when
//! given, synced and renamed into place.

use actix_files::NamedFile;
use actix_web::http::header::{
    self, Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue,
};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures::StreamExt;
use serde::Deserialize;
use tracing::info;

use crate::api::{
    Archivo, Entrega, ErrorBody, ListaEntregas, ListaMaterial, MAX_ENTREGAS_POR_ESTUDIANTE,
    MAX_ENTREGA_BYTES, MAX_MATERIAL_BYTES, SHA256_HEADER,
};
use crate::archivos::{Carpeta, CarpetaError, Recibiendo};
use crate::profesor::carpetas::Carpetas;
use crate::profesor::eventos::{EventKind, EventLog};
use crate::profesor::http::ApiError;
use crate::telemetry::for_log;

/// Bytes gathered before a write to disk.
const WRITE_BUFFER: usize = 256 * 1024;

/// Runs blocking folder work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, CarpetaError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => Ok(result?),
        Err(err) => Err(CarpetaError::Io(std::io::Error::other(err.to_string())).into()),
    }
}

/// El material del curso: nombre, tamaño, SHA-256 y fecha de cada archivo.
#[utoipa::path(get, path = "/material", responses((status = 200, body = ListaMaterial)))]
pub async fn list(material: web::Data<Carpetas>) -> Result<HttpResponse, ApiError> {
    let carpeta = material.material.clone();
    let archivos = blocking(move || Ok(carpeta.list()?)).await?;
    Ok(HttpResponse::Ok().json(ListaMaterial { archivos }))
}

/// Un archivo del material (con `Range`, `ETag` y `Content-Disposition`).
#[utoipa::path(get, path = "/material/{nombre}",
    params(("nombre" = String, Path, description = "Nombre plano: letras, dígitos, espacios y . _ - + ( ) ,")),
    responses((status = 200, content_type = "application/octet-stream"),
              (status = 206, description = "Un rango del archivo"),
              (status = 304), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn download(
    request: HttpRequest,
    nombre: web::Path<String>,
    material: web::Data<Carpetas>,
) -> Result<HttpResponse, ApiError> {
    serve(&request, material.material.clone(), nombre.into_inner()).await
}

async fn serve(
    request: &HttpRequest,
    carpeta: Carpeta,
    nombre: String,
) -> Result<HttpResponse, ApiError> {
    let (file, archivo) = blocking(move || carpeta.open_file(&nombre)).await?;
    if archivo.tamano == 0 && request.headers().contains_key(header::RANGE) {
        // No range of nothing is satisfiable (and actix-files would
        // compute one's end as 0 - 1).
        return Ok(HttpResponse::RangeNotSatisfiable()
            .insert_header((header::CONTENT_RANGE, "bytes */0"))
            .json(ErrorBody {
                error: format!("{} está vacío: no tiene rangos", for_log(&archivo.nombre)),
            }));
    }
    let named = NamedFile::from_file(file, &archivo.nombre)
        .map_err(CarpetaError::from)?
        .set_content_disposition(attachment(&archivo.nombre));
    let mut response = named.into_response(request);
    if let Ok(value) = header::HeaderValue::from_str(&archivo.sha256) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("x-sha256"), value);
    }
    Ok(response)
}

/// `Content-Disposition: attachment` naming `nombre`: as it is when
/// ASCII, else an ASCII stand-in plus the UTF-8 name (RFC 6266 `filename*`),
/// so that a header never carries raw non-ASCII bytes.
fn attachment(nombre: &str) -> ContentDisposition {
    let mut parameters = vec![DispositionParam::Filename(
        nombre
            .chars()
            .map(|c| if c.is_ascii() { c } else { '_' })
            .collect(),
    )];
    if !nombre.is_ascii() {
        parameters.push(DispositionParam::FilenameExt(ExtendedValue {
            charset: Charset::Ext("UTF-8".into()),
            language_tag: None,
            value: nombre.as_bytes().to_vec(),
        }));
    }
    ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters,
    }
}

/// `POST /material?nombre=...`: the body is the file.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct Subida {
    /// El nombre que tendrá (plano).
    pub nombre: String,
}

/// Sube un archivo al material (el cuerpo es el archivo; `X-Sha256`
/// opcional se comprueba). 201 si es nuevo, 200 si reemplazó a otro.
#[utoipa::path(post, path = "/material", params(Subida),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Archivo), (status = 200, body = Archivo),
              (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn upload(
    request: HttpRequest,
    subida: web::Query<Subida>,
    body: web::Payload,
    material: web::Data<Carpetas>,
) -> Result<HttpResponse, ApiError> {
    let carpeta = material.material.clone();
    let nombre = subida.into_inner().nombre;
    let existed = {
        let (carpeta, nombre) = (carpeta.clone(), nombre.clone());
        blocking(move || match carpeta.describe(&nombre) {
            Ok(_) => Ok(true),
            Err(CarpetaError::NotFound(_)) => Ok(false),
            Err(err) => Err(err),
        })
        .await?
    };
    let archivo = receive(&request, body, carpeta, nombre, MAX_MATERIAL_BYTES).await?;
    info!(
        "Material {}: {} ({} bytes, sha256 {})",
        if existed { "reemplazado" } else { "nuevo" },
        for_log(&archivo.nombre),
        archivo.tamano,
        archivo.sha256
    );
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(HttpResponse::build(status)
        .insert_header((
            header::LOCATION,
            format!("/material/{}", encode_segment(&archivo.nombre)),
        ))
        .json(archivo))
}

/// Streams `body` into `nombre` in `carpeta`, at most `max` bytes,
/// checked against the request's `X-Sha256` if it has one.
async fn receive(
    request: &HttpRequest,
    mut body: web::Payload,
    carpeta: Carpeta,
    nombre: String,
    max: u64,
) -> Result<Archivo, ApiError> {
    let declared_len = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared_len.is_some_and(|len| len > max) {
        return Err(ApiError::from(CarpetaError::TooLarge { max }));
    }
    let expected = match request.headers().get(SHA256_HEADER) {
        Some(value) => Some(crate::archivos::carpeta::check_sha256(
            value.to_str().unwrap_or_default().trim(),
        )?),
        None => None,
    };
    let mut receiving: Recibiendo = blocking(move || carpeta.receive(&nombre, max)).await?;
    let mut buffer = Vec::with_capacity(WRITE_BUFFER);
    loop {
        let chunk = body.next().await;
        let last = chunk.is_none();
        match chunk {
            Some(Ok(bytes)) => buffer.extend_from_slice(&bytes),
            Some(Err(err)) => {
                return Err(ApiError::from(CarpetaError::Io(std::io::Error::other(
                    format!("el cuerpo se cortó: {err}"),
                ))))
            }
            None => {}
        }
        if buffer.len() >= WRITE_BUFFER || (last && !buffer.is_empty()) {
            let bytes = std::mem::replace(&mut buffer, Vec::with_capacity(WRITE_BUFFER));
            receiving = blocking(move || {
                receiving.write(&bytes)?;
                Ok(receiving)
            })
            .await?;
        }
        if last {
            break;
        }
    }
    blocking(move || receiving.finish(expected.as_deref())).await
}

/// A file name as one path segment of a URL.
fn encode_segment(nombre: &str) -> String {
    let mut url =
        reqwest::Url::parse("http://x/").unwrap_or_else(|_| unreachable!("a constant URL"));
    url.path_segments_mut()
        .map(|mut segments| {
            segments.push(nombre);
        })
        .unwrap_or_else(|()| unreachable!("an http URL has segments"));
    url.path().trim_start_matches('/').to_owned()
}

/// Borra un archivo del material.
#[utoipa::path(delete, path = "/material/{nombre}",
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn remove(
    nombre: web::Path<String>,
    material: web::Data<Carpetas>,
) -> Result<HttpResponse, ApiError> {
    let carpeta = material.material.clone();
    let nombre = nombre.into_inner();
    let shown = for_log(&nombre).to_string();
    let removed = blocking(move || carpeta.remove(&nombre)).await?;
    if removed {
        info!("Material borrado: {shown}");
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::from(CarpetaError::NotFound(shown)))
    }
}

/// Envía un archivo del material a todos los estudiantes conectados (con
/// nombre) de todos los Docencio: les llega un aviso `material` y lo bajan.
#[utoipa::path(post, path = "/material/{nombre}/enviar",
    responses((status = 202, body = Archivo), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn send_to_everyone(
    nombre: web::Path<String>,
    material: web::Data<Carpetas>,
    events: web::Data<EventLog>,
) -> Result<HttpResponse, ApiError> {
    let carpeta = material.material.clone();
    let nombre = nombre.into_inner();
    let archivo = blocking(move || carpeta.describe(&nombre)).await?;
    let data = serde_json::to_string(&archivo).unwrap_or_default();
    events
        .publish(EventKind::Material, vec![move |_, _| data])
        .await?;
    info!("Material enviado a todos: {}", for_log(&archivo.nombre));
    Ok(HttpResponse::Accepted().json(archivo))
}

/// Lo que entregaron los estudiantes.
#[utoipa::path(get, path = "/entregas", responses((status = 200, body = ListaEntregas)))]
pub async fn list_entregas(material: web::Data<Carpetas>) -> Result<HttpResponse, ApiError> {
    let entregas = material.entregas.clone();
    let listed = blocking(move || {
        let mut listed = Vec::new();
        for estudiante in entregas.subcarpetas()? {
            for archivo in entregas.subcarpeta(&estudiante)?.list()? {
                listed.push(Entrega {
                    estudiante: estudiante.clone(),
                    archivo,
                });
            }
        }
        Ok(listed)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ListaEntregas { entregas: listed }))
}

/// Un archivo entregado.
#[utoipa::path(get, path = "/entregas/{estudiante}/{nombre}",
    responses((status = 200, content_type = "application/octet-stream"), (status = 404, body = ErrorBody)))]
pub async fn download_entrega(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    material: web::Data<Carpetas>,
) -> Result<HttpResponse, ApiError> {
    let (estudiante, nombre) = path.into_inner();
    crate::archivos::check_nombre_archivo(&estudiante).map_err(CarpetaError::from)?;
    let entregas = material.entregas.clone();
    let carpeta = blocking(move || {
        // Reading never creates a student's folder.
        if !entregas.subcarpetas()?.contains(&estudiante) {
            return Err(CarpetaError::NotFound(estudiante));
        }
        entregas.subcarpeta(&estudiante)
    })
    .await?;
    serve(&request, carpeta, nombre).await
}

/// La entrega de un estudiante (la usa Docencio; el cuerpo es el archivo,
/// `X-Sha256` se comprueba). 201 nueva, 200 reemplazó a otra.
#[utoipa::path(put, path = "/entregas/{estudiante}/{nombre}",
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Entrega), (status = 200, body = Entrega),
              (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn hand_in(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Payload,
    material: web::Data<Carpetas>,
) -> Result<HttpResponse, ApiError> {
    let (estudiante, nombre) = path.into_inner();
    let entregas = material.entregas.clone();
    let (carpeta, room, existed) = {
        let (estudiante, nombre) = (estudiante.clone(), nombre.clone());
        blocking(move || {
            let carpeta = entregas.subcarpeta(&estudiante)?;
            let previous = match carpeta.describe(&nombre) {
                Ok(archivo) => Some(archivo.tamano),
                Err(CarpetaError::NotFound(_)) => None,
                Err(err) => return Err(err),
            };
            // What a replaced file took is freed by replacing it.
            let used = carpeta.total_bytes()?.saturating_sub(previous.unwrap_or(0));
            let room = MAX_ENTREGAS_POR_ESTUDIANTE.saturating_sub(used);
            Ok((carpeta, room, previous.is_some()))
        })
        .await?
    };
    let archivo = receive(&request, body, carpeta, nombre, room.min(MAX_ENTREGA_BYTES)).await?;
    info!(
        "Entrega de {}: {} ({} bytes)",
        for_log(&estudiante),
        for_log(&archivo.nombre),
        archivo.tamano
    );
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(HttpResponse::build(status).json(Entrega {
        estudiante,
        archivo,
    }))
}
