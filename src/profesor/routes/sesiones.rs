//! The sessions' HTTP API: the course's routes and JSON exactly, plus
//! `POST /api/stop` and `GET /api/sesiones`. Bodies are JSON whatever their
//! `Content-Type` says, as the course's `request.get_json(force=True)`
//! takes them (a page of another origin is still refused by the guard).

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::api::ErrorBody;
use crate::profesor::http::ApiError;
use crate::sesiones::{Limites, SesionVista, Sesiones, MAX_LINE};

/// The sessions, when Profesor offers them.
#[derive(Clone, Default)]
pub struct Oferta(pub Option<Arc<Sesiones>>);

impl Oferta {
    fn sesiones(&self) -> Result<&Arc<Sesiones>, ApiError> {
        self.0.as_ref().ok_or_else(|| {
            ApiError::NotFound("las sesiones de ejecución están apagadas: se encienden con profesor --sesiones (AULA_SESIONES)".into())
        })
    }
}

/// A body as JSON, whatever its content type.
fn json_of<T: for<'de> Deserialize<'de>>(body: &[u8], expected: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|err| {
        ApiError::BadRequest(format!(
            "cuerpo JSON inválido ({err}); se espera {expected}"
        ))
    })
}

fn check_len(text: &str, what: &str) -> Result<(), ApiError> {
    if text.len() > MAX_LINE {
        return Err(ApiError::TooLarge(format!(
            "{what} de más de {MAX_LINE} bytes"
        )));
    }
    Ok(())
}

/// `{"code": ...}`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Inicio {
    #[serde(default)]
    pub code: String,
}

/// Lo que responde `POST /api/start`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Iniciada {
    pub session_id: String,
    pub limites: Limites,
}

/// Inicia una sesión que ejecuta `code` (y después lo que se le escriba).
#[utoipa::path(post, path = "/api/start", request_body = Inicio,
    responses((status = 200, body = Iniciada), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody, description = "sesiones apagadas"),
              (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn start(body: web::Bytes, oferta: web::Data<Oferta>) -> Result<HttpResponse, ApiError> {
    let sesiones = oferta.sesiones()?;
    let inicio: Inicio = json_of(&body, r#"{"code": "..."}"#)?;
    check_len(&inicio.code, "code")?;
    let session_id = sesiones.start_session(&inicio.code).await?;
    Ok(HttpResponse::Ok().json(Iniciada {
        session_id,
        limites: sesiones.limites(),
    }))
}

/// `{"session_id": ..., "line": ...}`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Linea {
    #[serde(default)]
    pub session_id: String,
    #[serde(default)]
    pub line: String,
}

/// `{"ok": true}`
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Hecho {
    pub ok: bool,
}

/// Escribe una línea en la sesión.
#[utoipa::path(post, path = "/api/write", request_body = Linea,
    responses((status = 200, body = Hecho), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "la sesión ya terminó"),
              (status = 413, body = ErrorBody)))]
pub async fn write(body: web::Bytes, oferta: web::Data<Oferta>) -> Result<HttpResponse, ApiError> {
    let sesiones = oferta.sesiones()?;
    let linea: Linea = json_of(&body, r#"{"session_id": "...", "line": "..."}"#)?;
    check_len(&linea.line, "line")?;
    sesiones.write(&linea.session_id, &linea.line).await?;
    Ok(HttpResponse::Ok().json(Hecho { ok: true }))
}

/// `?session_id=...`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct Cual {
    #[serde(default)]
    pub session_id: String,
}

/// Lo leído en `GET /api/read`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Lectura {
    /// Lo que imprimió desde la última lectura.
    pub output: String,
    pub alive: bool,
}

/// Lo que la sesión imprimió desde la última lectura; una sesión terminada
/// y ya leída entera se olvida.
#[utoipa::path(get, path = "/api/read", params(Cual),
    responses((status = 200, body = Lectura), (status = 404, body = ErrorBody)))]
pub async fn read(
    cual: web::Query<Cual>,
    oferta: web::Data<Oferta>,
) -> Result<HttpResponse, ApiError> {
    let (output, alive) = oferta.sesiones()?.read(&cual.session_id)?;
    Ok(HttpResponse::Ok().json(Lectura { output, alive }))
}

/// Termina una sesión (y todo lo que inició).
#[utoipa::path(post, path = "/api/stop", request_body = Linea,
    responses((status = 200, body = Hecho), (status = 404, body = ErrorBody)))]
pub async fn stop(body: web::Bytes, oferta: web::Data<Oferta>) -> Result<HttpResponse, ApiError> {
    let sesiones = oferta.sesiones()?;
    let cual: Cual = json_of(&body, r#"{"session_id": "..."}"#)?;
    sesiones.stop_session(&cual.session_id)?;
    Ok(HttpResponse::Ok().json(Hecho { ok: true }))
}

/// `GET /api/sesiones`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Lista {
    pub sesiones: Vec<SesionVista>,
    /// Qué encierro tienen en esta máquina.
    pub encierro: String,
}

/// Las sesiones abiertas, con su edad y sus límites.
#[utoipa::path(get, path = "/api/sesiones", responses((status = 200, body = Lista), (status = 404, body = ErrorBody)))]
pub async fn list(oferta: web::Data<Oferta>) -> Result<HttpResponse, ApiError> {
    let sesiones = oferta.sesiones()?;
    Ok(HttpResponse::Ok().json(Lista {
        sesiones: sesiones.list(),
        encierro: sesiones.logrado.to_string(),
    }))
}
