//! The notebook's routes (`/`, `/respuesta`, `/preguntas`), with its keys
//! and texts kept exactly (including the accented key `método`), plus the
//! contract's extensions: a numeric `total`, an optional
//! `{"cantidad": k}` body, an optional `Idempotency-Key` header, and
//! `/salud`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use rand::seq::IndexedRandom;
use serde::Serialize;
use tracing::info;

use crate::api::{
    Cantidad, ErrorBody, Texto, IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, MAX_CANTIDAD, MAX_KEY_LEN,
};
use crate::profesor::http::ApiError;
use crate::profesor::metrics::Metrics;
use crate::profesor::store::{CountStore, Store};
use crate::question_line;
use crate::telemetry::for_log;
use crate::wire::texts::{conteo_text, ANSWERS, SALUDO};

#[derive(Serialize, utoipa::ToSchema)]
pub struct Saludo {
    saludo: &'static str,
}

/// What is wrong with a `POST /preguntas`: the client's mistake.
#[derive(Debug, thiserror::Error)]
pub enum CantidadError {
    #[error("cuerpo JSON inválido: {0}; se espera {{\"cantidad\": k}} o ningún cuerpo")]
    BadJson(String),
    #[error("cantidad fuera de rango: {0} (debe estar entre 1 y {MAX_CANTIDAD})")]
    BadCantidad(u64),
    #[error("Idempotency-Key inválida: texto ASCII visible, de 1 a {MAX_KEY_LEN} caracteres")]
    BadKey,
    #[error("tipo de contenido no admitido: {0}; envía application/json o ningún cuerpo")]
    BadContentType(String),
}

impl From<CantidadError> for ApiError {
    fn from(err: CantidadError) -> Self {
        match err {
            CantidadError::BadContentType(_) => ApiError::UnsupportedMediaType(err.to_string()),
            _ => ApiError::BadRequest(err.to_string()),
        }
    }
}

/// El saludo del cuaderno.
#[utoipa::path(get, path = "/", responses((status = 200, body = Saludo)))]
pub async fn saludo() -> HttpResponse {
    HttpResponse::Ok().json(Saludo { saludo: SALUDO })
}

/// La respuesta de Profesor a una pregunta difícil, una de cuatro al azar.
#[utoipa::path(get, path = "/respuesta",
    params(("X-Request-Id" = Option<String>, Header, description = "el id de la pregunta; se devuelve y se registra")),
    responses((status = 200, body = Texto)))]
pub async fn respuesta(metrics: web::Data<Metrics>) -> HttpResponse {
    metrics.hard_answer();
    let texto = ANSWERS
        .choose(&mut rand::rng())
        .copied()
        .unwrap_or(ANSWERS[0]);
    question_line!(info, "Respuesta a una pregunta difícil: {texto}");
    HttpResponse::Ok().json(Texto {
        texto: texto.to_owned(),
        metodo: "GET".to_owned(),
        total: None,
    })
}

/// Cuántas preguntas se han respondido (desde que se creó la carpeta de datos).
#[utoipa::path(get, path = "/preguntas",
    responses((status = 200, body = Texto), (status = 503, body = ErrorBody)))]
pub async fn read_count(count: web::Data<Store>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(conteo(count.total().await?, "GET")))
}

/// Cuenta una pregunta respondida más (sin cuerpo), o `cantidad` a la vez.
#[utoipa::path(post, path = "/preguntas",
    request_body(content = Option<Cantidad>, content_type = "application/json"),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "una clave repetida recibe el primer resultado y no cuenta nada de nuevo"),
        ("X-Request-Id" = Option<String>, Header, description = "los ids de las preguntas contadas; se devuelve y se registra"),
    ),
    responses(
        (status = 200, body = Texto),
        (status = 400, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "una Idempotency-Key ya usada para otra cantidad"),
        (status = 503, body = ErrorBody),
    ))]
pub async fn count_answers(
    request: HttpRequest,
    body: web::Bytes,
    count: web::Data<Store>,
    metrics: web::Data<Metrics>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&request)?;
    let cantidad = parse_cantidad(request.headers().get(header::CONTENT_TYPE), &body)?;
    let counted = count.count(cantidad, key).await?;
    let mut response = HttpResponse::Ok();
    if counted.replayed {
        info!(
            "Aviso repetido (Idempotency-Key {}): no se cuenta de nuevo",
            for_log(key.unwrap_or_default())
        );
        response.insert_header((IDEMPOTENT_REPLAYED, "true"));
    } else {
        metrics.counted(cantidad);
        question_line!(
            info,
            "Contador de preguntas actualizado (+{cantidad}): {}",
            conteo_text(counted.total)
        );
    }
    Ok(response.json(conteo(counted.total, "POST")))
}

fn idempotency_key(request: &HttpRequest) -> Result<Option<&str>, CantidadError> {
    let Some(value) = request.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if !key.trim().is_empty() && key.len() <= MAX_KEY_LEN => Ok(Some(key)),
        _ => Err(CantidadError::BadKey),
    }
}

/// Salud: el conteo se puede leer.
#[utoipa::path(get, path = "/salud",
    responses((status = 200, description = "`{\"estado\": \"ok\", \"total\": N}`"), (status = 503, description = "`{\"estado\": \"degradado\", ...}` mientras no se puede guardar el conteo, o el conteo no se puede leer")))]
pub async fn salud(count: web::Data<Store>) -> Result<HttpResponse, ApiError> {
    let total = count.total().await?;
    if count.is_failing() {
        return Ok(HttpResponse::ServiceUnavailable().json(serde_json::json!({
            "estado": "degradado",
            "total": total,
            "error": "el último intento de guardar el conteo falló; los avisos se rechazan (503) hasta que se pueda escribir",
        })));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"estado": "ok", "total": total})))
}

fn conteo(total: u64, metodo: &str) -> Texto {
    Texto {
        texto: conteo_text(total),
        metodo: metodo.to_owned(),
        total: Some(total),
    }
}

/// No body (the notebook's `requests.post`) counts one, whatever its
/// content type; `{"cantidad": k}` counts k, and must be sent as JSON (or
/// with no content type at all).
fn parse_cantidad(content_type: Option<&HeaderValue>, body: &[u8]) -> Result<u64, CantidadError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(1);
    }
    if let Some(content_type) = content_type {
        let essence = content_type
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(CantidadError::BadContentType(
                String::from_utf8_lossy(content_type.as_bytes()).into_owned(),
            ));
        }
    }
    let parsed: Cantidad =
        serde_json::from_slice(body).map_err(|err| CantidadError::BadJson(err.to_string()))?;
    match parsed.cantidad.unwrap_or(1) {
        k @ 1..=MAX_CANTIDAD => Ok(k),
        k => Err(CantidadError::BadCantidad(k)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::StatusCode;
    use actix_web::ResponseError;

    #[test]
    fn no_body_counts_one_and_cantidad_counts_k() {
        assert_eq!(parse_cantidad(None, b"").unwrap(), 1);
        assert_eq!(parse_cantidad(None, b"  \n").unwrap(), 1);
        assert_eq!(parse_cantidad(None, b"{}").unwrap(), 1);
        assert_eq!(parse_cantidad(None, br#"{"cantidad": 7}"#).unwrap(), 7);
    }

    #[test]
    fn refuses_bad_cantidad_and_bad_json() {
        assert!(matches!(
            parse_cantidad(None, br#"{"cantidad": 0}"#),
            Err(CantidadError::BadCantidad(0))
        ));
        assert!(parse_cantidad(None, br#"{"cantidad": 1000001}"#).is_err());
        assert!(parse_cantidad(None, br#"{"cantidad": -1}"#).is_err());
        assert!(matches!(
            parse_cantidad(None, b"{nope"),
            Err(CantidadError::BadJson(_))
        ));
    }

    #[test]
    fn a_body_must_be_json_but_no_body_is_fine_with_any_type() {
        let form = HeaderValue::from_static("application/x-www-form-urlencoded");
        let json = HeaderValue::from_static("application/json; charset=utf-8");
        assert_eq!(parse_cantidad(Some(&form), b"").unwrap(), 1);
        assert!(matches!(
            parse_cantidad(Some(&form), br#"{"cantidad": 2}"#),
            Err(CantidadError::BadContentType(_))
        ));
        assert_eq!(
            parse_cantidad(Some(&json), br#"{"cantidad": 2}"#).unwrap(),
            2
        );
    }

    #[test]
    fn the_count_uses_the_accented_key_and_a_numeric_total() {
        let json = serde_json::to_value(conteo(3, "POST")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"texto": "Llevamos: 3 preguntas respondidas", "método": "POST", "total": 3})
        );
    }

    fn bodies() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            any::<i64>().prop_map(|k| format!("{{\"cantidad\": {k}}}").into_bytes()),
        ]
    }

    proptest::proptest! {
        /// Any body, sent as JSON, counts 1..=MAX_CANTIDAD or is a 400;
        /// never a panic.
        #[test]
        fn any_body_counts_within_bounds_or_is_refused(body in bodies()) {
            let json = HeaderValue::from_static("application/json");
            match parse_cantidad(Some(&json), &body) {
                Ok(k) => proptest::prop_assert!((1..=MAX_CANTIDAD).contains(&k)),
                Err(err) => proptest::prop_assert_eq!(ApiError::from(err).status_code(), StatusCode::BAD_REQUEST),
            }
        }
    }
}
