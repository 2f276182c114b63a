//! The routes that show the class: `/metrics` (Prometheus), `/estado`
//! (JSON), `/panel` (a live page fed by `/estado`), `/reporte.csv`, and
//! `/informes`, where Tareo and Docencio send their counters.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::api::{ErrorBody, Informe};
use crate::profesor::class_state::{ClassState, Estado};
use crate::profesor::http::ApiError;
use crate::profesor::metrics::Metrics;
use crate::profesor::store::{CountStore, Store};

/// The live page: one self-contained file (no CDN; works offline).
const PANEL_HTML: &str = include_str!("../panel.html");

/// Las métricas en el formato de texto de Prometheus.
#[utoipa::path(get, path = "/metrics",
    responses((status = 200, description = "formato de texto de Prometheus (OpenMetrics)", content_type = "application/openmetrics-text")))]
pub async fn metricas(
    metrics: web::Data<Metrics>,
    class: web::Data<ClassState>,
    count: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    class.refresh_metrics(&metrics);
    let text = metrics.render(count.total().await?).unwrap_or_default();
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(text))
}

/// La class ahora: los datos del panel en vivo.
#[utoipa::path(get, path = "/estado", responses((status = 200, body = Estado)))]
pub async fn estado(
    class: web::Data<ClassState>,
    count: web::Data<Store>,
    metrics: web::Data<Metrics>,
) -> Result<HttpResponse, ApiError> {
    let mut estado = class.estado(
        count.total().await?,
        metrics.counted_so_far(),
        metrics.hard_answers(),
    );
    estado.almacen = count.describe();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(estado))
}

/// El panel en vivo: una página que se actualiza cada segundo desde `/estado`.
#[utoipa::path(get, path = "/panel",
    responses((status = 200, description = "página HTML autocontenida", content_type = "text/html")))]
pub async fn panel() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(PANEL_HTML)
}

/// Preguntas hechas y respondidas por tipo, como archivo CSV.
#[utoipa::path(get, path = "/reporte.csv",
    responses((status = 200, description = "`tipo,preguntadas,respondidas`: una fila por tipo en esta ejecución de Profesor, luego lo contado en esta ejecución y el total desde que se creó la carpeta de datos", content_type = "text/csv")))]
pub async fn reporte(
    class: web::Data<ClassState>,
    count: web::Data<Store>,
    metrics: web::Data<Metrics>,
) -> Result<HttpResponse, ApiError> {
    let csv = class
        .csv(count.total().await?, metrics.counted_so_far())
        .map_err(|err| ApiError::Internal(format!("error interno: {err}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"reporte-aula.csv\"",
        ))
        .body(csv))
}

/// Donde Tareo y Docencio envían sus contadores, una vez por segundo.
#[utoipa::path(post, path = "/informes", request_body = Informe,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn informes(
    request: HttpRequest,
    informe: web::Json<Informe>,
    class: web::Data<ClassState>,
    metrics: web::Data<Metrics>,
) -> Result<HttpResponse, ApiError> {
    class.receive(
        informe.into_inner(),
        request.peer_addr().map(|peer| peer.ip()),
        &metrics,
    )?;
    Ok(HttpResponse::NoContent().finish())
}
