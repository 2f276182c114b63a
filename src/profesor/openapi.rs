//! `GET /openapi.json`: Profesor's API described from the handlers'
//! annotations, at compile time.

use actix_web::HttpResponse;
use utoipa::OpenApi;

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
        super::routes::saludo,
        super::routes::respuesta,
        super::routes::read_count,
        super::routes::count_answers,
        super::routes::salud,
        super::class_routes::metricas,
        super::class_routes::estado,
        super::class_routes::panel,
        super::class_routes::reporte,
        super::class_routes::informes,
        super::anuncios::post,
        super::anuncios::list,
        super::eventos::eventos,
        super::sala_routes::chat,
        super::roster::list,
        super::roster::create,
        super::roster::get,
        super::roster::put,
        super::roster::delete,
        super::material::list,
        super::material::download,
        super::material::upload,
        super::material::remove,
        super::material::send_to_everyone,
        super::material::list_entregas,
        super::material::download_entrega,
        super::material::hand_in,
        super::sesiones::routes::start,
        super::sesiones::routes::write,
        super::sesiones::routes::read,
        super::sesiones::routes::stop,
        super::sesiones::routes::list,
        openapi,
    )
)]
pub struct ApiDoc;
