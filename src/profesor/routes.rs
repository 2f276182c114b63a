//! Profesor's routes, with the notebook's keys and texts kept exactly
//! (including the accented key `método`), plus the contract's extensions:
//! a numeric `total`, an optional `{"cantidad": k}` body, an optional
//! `Idempotency-Key` header, and `/salud`.
//!
//! Every error is JSON: unknown paths (404), known paths with another method
//! (405, with `Allow`), bad bodies (400) and anything actix itself refuses
//! (413 for a huge body, for example) go through [`json_errors`].

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::ServiceResponse;
use actix_web::error::JsonPayloadError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use rand::seq::IndexedRandom;
use serde::Serialize;
use tracing::info;

use super::count_store::CountError;
use super::metrics::Metrics;
use super::{AnswerCount, CountStore};
use crate::api::{
    Cantidad, ErrorBody, Texto, IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, MAX_BODY_BYTES, MAX_CANTIDAD,
    MAX_INFORME_BYTES, MAX_KEY_LEN,
};
use crate::question_line;
use crate::telemetry::for_log;
use crate::wire::texts::{conteo_text, ANSWERS, SALUDO};

/// Registers every route of the API.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .service(get_only("/", saludo))
        .service(get_only("/respuesta", respuesta))
        .service(
            web::resource("/preguntas")
                .route(web::get().to(read_count))
                .route(web::post().to(count_answers))
                .default_service(web::to(|| method_not_allowed("GET, POST"))),
        )
        .service(get_only("/salud", salud))
        .configure(super::class_routes::configure)
        .configure(super::anuncios::configure)
        .configure(super::eventos::configure)
        .configure(super::sala_routes::configure)
        .configure(super::roster::configure)
        .configure(super::material::configure)
        .configure(super::sesiones::routes::configure)
        .default_service(web::to(not_found));
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Saludo {
    saludo: &'static str,
}

/// What a client did wrong, mapped to a JSON 4xx in one place.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cuerpo JSON inválido: {0}; se espera {{\"cantidad\": k}} o ningún cuerpo")]
    BadJson(String),
    #[error("cantidad fuera de rango: {0} (debe estar entre 1 y {MAX_CANTIDAD})")]
    BadCantidad(u64),
    #[error("Idempotency-Key inválida: texto ASCII visible, de 1 a {MAX_KEY_LEN} caracteres")]
    BadKey,
    #[error("tipo de contenido no admitido: {0}; envía application/json o ningún cuerpo")]
    BadContentType(String),
    #[error("{0}")]
    KeyReused(CountError),
    #[error(transparent)]
    Storage(CountError),
    #[error("error interno: {0}")]
    Internal(String),
}

impl From<CountError> for ApiError {
    fn from(err: CountError) -> Self {
        match err {
            reused @ CountError::KeyReused { .. } => ApiError::KeyReused(reused),
            other => ApiError::Storage(other),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::KeyReused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(ErrorBody {
            error: self.to_string(),
        })
    }
}

/// El saludo del cuaderno.
#[utoipa::path(get, path = "/", responses((status = 200, body = Saludo)))]
pub(super) async fn saludo() -> HttpResponse {
    HttpResponse::Ok().json(Saludo { saludo: SALUDO })
}

/// La respuesta de Profesor a una pregunta difícil, una de cuatro al azar.
#[utoipa::path(get, path = "/respuesta",
    params(("X-Request-Id" = Option<String>, Header, description = "el id de la pregunta; se devuelve y se registra")),
    responses((status = 200, body = Texto)))]
pub(super) async fn respuesta(metrics: web::Data<Metrics>) -> HttpResponse {
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
pub(super) async fn read_count(count: web::Data<AnswerCount>) -> Result<HttpResponse, ApiError> {
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
pub(super) async fn count_answers(
    request: HttpRequest,
    body: web::Bytes,
    count: web::Data<AnswerCount>,
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

fn idempotency_key(request: &HttpRequest) -> Result<Option<&str>, ApiError> {
    let Some(value) = request.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if !key.trim().is_empty() && key.len() <= MAX_KEY_LEN => Ok(Some(key)),
        _ => Err(ApiError::BadKey),
    }
}

/// Salud: el conteo se puede leer.
#[utoipa::path(get, path = "/salud",
    responses((status = 200, description = "`{\"estado\": \"ok\", \"total\": N}`"), (status = 503, description = "`{\"estado\": \"degradado\", ...}` mientras no se puede guardar el conteo, o el conteo no se puede leer")))]
pub(super) async fn salud(count: web::Data<AnswerCount>) -> Result<HttpResponse, ApiError> {
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
fn parse_cantidad(content_type: Option<&HeaderValue>, body: &[u8]) -> Result<u64, ApiError> {
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
            return Err(ApiError::BadContentType(
                String::from_utf8_lossy(content_type.as_bytes()).into_owned(),
            ));
        }
    }
    let parsed: Cantidad =
        serde_json::from_slice(body).map_err(|err| ApiError::BadJson(err.to_string()))?;
    match parsed.cantidad.unwrap_or(1) {
        k @ 1..=MAX_CANTIDAD => Ok(k),
        k => Err(ApiError::BadCantidad(k)),
    }
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    HttpResponse::NotFound().json(ErrorBody {
        error: format!(
            "no existe la ruta {} (rutas: /, /respuesta, /preguntas, /salud, /panel, /estado, /metrics, /reporte.csv, /informes, /openapi.json)",
            req.path()
        ),
    })
}

/// A route that answers only `GET`; any other method gets a JSON 405
/// with `Allow: GET`.
pub(crate) fn get_only<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler))
        .default_service(web::to(|| method_not_allowed("GET")))
}

pub(crate) async fn method_not_allowed(allow: &'static str) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allow))
        .json(ErrorBody {
            error: format!("método no permitido aquí; se permite: {allow}"),
        })
}

/// How a route takes a JSON body of at most `limit` bytes, refusing what it
/// can't take in Spanish, as the JSON error every route gives: 415 for
/// another content type, 413 past the limit, 400 for a body that is not
/// `what` ("un informe", "un anuncio"...).
pub(super) fn json_body(limit: usize, what: &'static str) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _| {
            let (status, detail) = match &err {
                JsonPayloadError::ContentType => (
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!("{what} se envía como application/json"),
                ),
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("cuerpo demasiado grande (máximo {limit} bytes para {what})"),
                ),
                JsonPayloadError::Deserialize(cause) => {
                    (StatusCode::BAD_REQUEST, format!("no es {what}: {cause}"))
                }
                other => (StatusCode::BAD_REQUEST, format!("{what} ilegible: {other}")),
            };
            let response = HttpResponse::build(status).json(ErrorBody { error: detail });
            actix_web::error::InternalError::from_response(err, response).into()
        })
}

/// Rewrites any 4xx/5xx that is not already JSON (actix's own refusals, such
/// as 413 for a body over [`MAX_BODY_BYTES`]) into `{"error": ...}`, keeping
/// status and headers.
pub fn json_errors<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new()
        .default_handler_client(to_json_error)
        .default_handler_server(to_json_error)
}

fn to_json_error<B: 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let detail = if status == StatusCode::PAYLOAD_TOO_LARGE {
        match res.request().path() {
            "/informes" => {
                let limit = MAX_INFORME_BYTES;
                format!("cuerpo demasiado grande (máximo {limit} bytes para un informe)")
            }
            "/preguntas" => format!("cuerpo demasiado grande (máximo {MAX_BODY_BYTES} bytes); se espera {{\"cantidad\": k}} o ningún cuerpo"),
            path => format!("cuerpo demasiado grande para {} {path}", res.request().method()),
        }
    } else {
        res.response()
            .error()
            .map(|err| err.to_string())
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned())
    };
    let body = serde_json::to_string(&ErrorBody { error: detail })
        .unwrap_or_else(|_| String::from("{\"error\":\"error\"}"));
    let (req, mut res) = res.into_parts();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let res: actix_web::HttpResponse<EitherBody<B, BoxBody>> =
        res.set_body(BoxBody::new(body)).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(
        req, res,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

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
            Err(ApiError::BadCantidad(0))
        ));
        assert!(parse_cantidad(None, br#"{"cantidad": 1000001}"#).is_err());
        assert!(parse_cantidad(None, br#"{"cantidad": -1}"#).is_err());
        assert!(matches!(
            parse_cantidad(None, b"{nope"),
            Err(ApiError::BadJson(_))
        ));
    }

    #[test]
    fn a_body_must_be_json_but_no_body_is_fine_with_any_type() {
        let form = HeaderValue::from_static("application/x-www-form-urlencoded");
        let json = HeaderValue::from_static("application/json; charset=utf-8");
        assert_eq!(parse_cantidad(Some(&form), b"").unwrap(), 1);
        assert!(matches!(
            parse_cantidad(Some(&form), br#"{"cantidad": 2}"#),
            Err(ApiError::BadContentType(_))
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
                Err(err) => proptest::prop_assert_eq!(err.status_code(), StatusCode::BAD_REQUEST),
            }
        }
    }
}
