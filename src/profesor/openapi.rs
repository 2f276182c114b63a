//! `GET /openapi.json`: Profesor's API described from the handlers'
//! annotations, at compile time. Every route of the table
//! ([`super::app`]) is listed here; a test checks both say the same.

use actix_web::HttpResponse;
use utoipa::OpenApi;

use super::routes::{anuncios, clase, cuaderno, estudiantes, eventos, material, sala, sesiones};

/// Este documento: cada ruta, generado de las anotaciones de los manejadores.
#[utoipa::path(get, path = "/openapi.json",
    responses((status = 200, description = "documento OpenAPI 3.1", content_type = "application/json")))]
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(ApiDoc::openapi().to_json().unwrap_or_default())
}

/// Profesor's API, described from the code; the summaries are the
/// handlers' (Spanish) doc comments.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "aula: Profesor",
        description = "El Profesor del curso: responde las preguntas difíciles y lleva la cuenta de las preguntas respondidas. Claves y textos como en el cuaderno.",
        license(name = "MIT", identifier = "MIT")
    ),
    paths(
        cuaderno::saludo,
        cuaderno::respuesta,
        cuaderno::read_count,
        cuaderno::count_answers,
        cuaderno::salud,
        clase::metricas,
        clase::estado,
        clase::panel,
        clase::reporte,
        clase::informes,
        anuncios::post,
        anuncios::list,
        eventos::eventos,
        sala::chat,
        estudiantes::list,
        estudiantes::create,
        estudiantes::get,
        estudiantes::put,
        estudiantes::delete,
        material::list,
        material::download,
        material::upload,
        material::remove,
        material::send_to_everyone,
        material::list_entregas,
        material::download_entrega,
        material::hand_in,
        sesiones::start,
        sesiones::write,
        sesiones::read,
        sesiones::stop,
        sesiones::list,
        openapi,
    )
)]
pub struct ApiDoc;
