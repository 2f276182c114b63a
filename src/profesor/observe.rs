//! Seeing the class through Profesor: every request's id, log line and
//! metrics ([`track_requests`]), and the routes that show the class:
//! `/metrics` (Prometheus), `/estado` (JSON), `/panel` (a live page fed by
//! `/estado`), `/reporte.csv`, `/openapi.json`, and `/informes`, where
//! Tareo and Docencio report their counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use tracing::{debug, info, Instrument};
use utoipa::OpenApi;

use super::clase::{Clase, Estado, InformeError};
use super::metrics::{HttpLabels, Metrics};
use super::routes::{get_only, method_not_allowed, ApiError, ErrorBody, REQUEST_ID};
use super::Contador;
use crate::stats::RoleReport;
use crate::telemetry;

/// Largest report accepted: 50 client addresses and the counters fit many
/// times over.
pub(super) const MAX_REPORT_BYTES: usize = 16 * 1024;

/// The live page: one self-contained file (no CDN; works offline).
const PANEL_HTML: &str = include_str!("panel.html");

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_only("/metrics", metricas))
        .service(get_only("/estado", estado))
        .service(get_only("/panel", panel))
        .service(get_only("/reporte.csv", reporte))
        .service(get_only("/openapi.json", openapi))
        .service(
            web::resource("/informes")
                .app_data(web::JsonConfig::default().limit(MAX_REPORT_BYTES))
                .route(web::post().to(informes))
                .default_service(web::to(|| method_not_allowed("POST"))),
        );
}

/// Request ids made up for clients that send none.
static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// Wraps every request: takes its `X-Request-Id` (or makes one up,
/// `profesor-N`), handles it inside a `peticion{id=...}` span so that
/// every line about it carries the id, echoes the id in the response, and
/// records the request in the metrics by route pattern.
pub(super) async fn track_requests(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty())
        .map_or_else(
            || format!("profesor-{}", NEXT_REQUEST.fetch_add(1, Ordering::Relaxed)),
            str::to_owned,
        );
    let span = tracing::info_span!("peticion", id = %id);
    let method = request.method().to_string();
    let metrics = request.app_data::<web::Data<Metrics>>().cloned();
    let mut response = next.call(request).instrument(span.clone()).await?;
    let took = started.elapsed();
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "otra".to_owned());
    let status = response.status();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("x-request-id"), value);
    }
    if let Some(metrics) = metrics {
        metrics.request(
            &HttpLabels {
                metodo: method.clone(),
                ruta: route.clone(),
                estado: status.as_u16(),
            },
            took,
        );
    }
    span.in_scope(|| {
        let path = response.request().path();
        if status.is_client_error() || status.is_server_error() {
            if telemetry::budget().allow() {
                info!("{method} {path} -> {} en {took:.1?}", status.as_u16());
            }
        } else {
            debug!("{method} {path} -> {} en {took:.1?}", status.as_u16());
        }
    });
    Ok(response)
}

/// The Prometheus text exposition.
#[utoipa::path(get, path = "/metrics",
    responses((status = 200, description = "Prometheus (OpenMetrics) text format", content_type = "application/openmetrics-text")))]
pub(super) async fn metricas(
    metrics: web::Data<Metrics>,
    clase: web::Data<Clase>,
    contador: web::Data<Contador>,
) -> Result<HttpResponse, ApiError> {
    clase.refresh_metrics(&metrics);
    let text = metrics.render(contador.total()?).unwrap_or_default();
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(text))
}

/// The class now: the live panel's data.
#[utoipa::path(get, path = "/estado", responses((status = 200, body = Estado)))]
pub(super) async fn estado(
    clase: web::Data<Clase>,
    contador: web::Data<Contador>,
    metrics: web::Data<Metrics>,
) -> Result<HttpResponse, ApiError> {
    let estado = clase.estado(contador.total()?, metrics.hard_answers());
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(estado))
}

/// The live panel: a page refreshed every second from `/estado`.
#[utoipa::path(get, path = "/panel",
    responses((status = 200, description = "self-contained HTML page", content_type = "text/html")))]
pub(super) async fn panel() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(PANEL_HTML)
}

/// Questions asked and answered per type, as a CSV file.
#[utoipa::path(get, path = "/reporte.csv",
    responses((status = 200, description = "`tipo,preguntadas,respondidas`, one row per type, then Profesor's count", content_type = "text/csv")))]
pub(super) async fn reporte(
    clase: web::Data<Clase>,
    contador: web::Data<Contador>,
) -> Result<HttpResponse, ApiError> {
    let csv = clase
        .csv(contador.total()?)
        .map_err(|err| ApiError::Internal(err.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"reporte-aula.csv\"",
        ))
        .body(csv))
}

/// Where Tareo and Docencio report their counters, once a second.
#[utoipa::path(post, path = "/informes", request_body = RoleReport,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub(super) async fn informes(
    report: web::Json<RoleReport>,
    clase: web::Data<Clase>,
    metrics: web::Data<Metrics>,
) -> HttpResponse {
    match clase.receive(report.into_inner(), &metrics) {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(err @ InformeError::UnknownRole(_)) => HttpResponse::BadRequest().json(ErrorBody {
            error: err.to_string(),
        }),
        Err(err @ InformeError::TooManyRoles) => HttpResponse::TooManyRequests().json(ErrorBody {
            error: err.to_string(),
        }),
    }
}

/// This document: every route, generated from the handlers' annotations.
#[utoipa::path(get, path = "/openapi.json",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub(super) async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(ApiDoc::openapi().to_json().unwrap_or_default())
}

/// Profesor's API, described from the code.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "aula: Profesor",
        description = "The course's Profesor: answers hard questions and keeps the count of answered questions. Keys and texts as in the notebook."
    ),
    paths(
        super::routes::saludo,
        super::routes::respuesta,
        super::routes::ver_preguntas,
        super::routes::sumar_preguntas,
        super::routes::salud,
        metricas,
        estado,
        panel,
        reporte,
        informes,
        openapi,
    )
)]
pub struct ApiDoc;
