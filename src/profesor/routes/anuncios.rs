//! Profesor's announcements: `POST /anuncios` publishes one on the event
//! stream ([`crate::profesor::eventos`]), which every Docencio follows to push it to
//! its students; `GET /anuncios` lists the recent ones.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use tracing::info;

use crate::api::{Anuncio, ErrorBody, NuevoAnuncio};
use crate::profesor::eventos::{EventKind, EventLog};
use crate::profesor::http::ApiError;
use crate::profesor::store::StoreError;
use crate::telemetry::for_log;

/// Longest announcement, in characters.
pub const MAX_TEXTO: usize = crate::api::MAX_ANUNCIO;

/// La lista de `GET /anuncios`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Anuncios {
    /// Los más recientes (hasta 100), del más viejo al más nuevo.
    pub anuncios: Vec<Anuncio>,
}

/// Publishes `texto` on `events`; returns the announcement.
pub async fn announce(texto: String, events: &EventLog) -> Result<Anuncio, StoreError> {
    let published = events
        .publish(
            EventKind::Anuncio,
            vec![|id, momento_ms| {
                serde_json::to_string(&Anuncio {
                    id,
                    texto: texto.clone(),
                    momento_ms,
                })
                .unwrap_or_default()
            }],
        )
        .await?;
    let (id, momento_ms) = published[0];
    Ok(Anuncio {
        id,
        texto,
        momento_ms,
    })
}

/// `texto` as kept: trimmed, 1 to [`MAX_TEXTO`] characters, no control
/// characters but line breaks.
fn check_anuncio(texto: &str) -> Result<String, String> {
    let texto = texto.trim();
    if texto.is_empty() {
        return Err("el texto del anuncio no puede estar vacío".into());
    }
    if texto.chars().count() > MAX_TEXTO {
        return Err(format!("el anuncio tiene más de {MAX_TEXTO} caracteres"));
    }
    if texto.chars().any(|c| c.is_control() && c != '\n') {
        return Err("el anuncio tiene caracteres de control".into());
    }
    Ok(texto.to_owned())
}

/// Publica un anuncio: llega a todos los estudiantes de todos los Docencio.
#[utoipa::path(post, path = "/anuncios", request_body = NuevoAnuncio,
    responses((status = 201, body = Anuncio), (status = 401, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn post(
    nuevo: web::Json<NuevoAnuncio>,
    events: web::Data<EventLog>,
) -> Result<HttpResponse, ApiError> {
    let texto = check_anuncio(&nuevo.texto).map_err(ApiError::Unprocessable)?;
    let anuncio = announce(texto, &events).await?;
    info!("Anuncio {}: {}", anuncio.id, for_log(&anuncio.texto));
    Ok(HttpResponse::Created().json(anuncio))
}

/// Los anuncios recientes.
#[utoipa::path(get, path = "/anuncios", responses((status = 200, body = Anuncios)))]
pub async fn list(events: web::Data<EventLog>) -> HttpResponse {
    HttpResponse::Ok().json(Anuncios {
        anuncios: events.anuncios(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::sync::CancellationToken;

    #[tokio::test]
    async fn announcements_are_listed_oldest_first_with_growing_ids() {
        let events = EventLog::new(CancellationToken::new());
        let first = announce("uno".into(), &events).await.unwrap();
        let second = announce("dos".into(), &events).await.unwrap();
        assert!(second.id > first.id);
        assert_eq!(events.anuncios(), [first, second]);
    }

    #[test]
    fn an_announcement_is_checked() {
        assert_eq!(check_anuncio("  hola \n").unwrap(), "hola");
        assert!(check_anuncio(" ").is_err());
        assert!(check_anuncio(&"x".repeat(MAX_TEXTO + 1)).is_err());
        assert!(check_anuncio("a\u{1b}[31m").is_err());
        assert!(check_anuncio("línea 1\nlínea 2").is_ok());
    }
}
