//! The sala's traffic between Docencios: `POST /sala/chat` takes the chat
//! lines one Docencio's students wrote and publishes each on the event
//! stream ([`crate::profesor::eventos`]), from which every other Docencio pushes it
//! to its named students. The lines of one Docencio keep their order: it
//! sends them in order, and the stream keeps the order they came in.

use actix_web::{web, HttpResponse};

use crate::api::{ChatLine, ChatRelay, ErrorBody, MAX_CHAT_RELAY};
use crate::profesor::eventos::{EventKind, EventLog};
use crate::profesor::http::ApiError;
use crate::wire::mensaje::{check_nombre, check_texto};

/// Lo que escribieron los estudiantes de un Docencio, para los de los demás.
#[utoipa::path(post, path = "/sala/chat", request_body = ChatRelay,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
               (status = 503, body = ErrorBody)))]
pub async fn chat(
    relay: web::Json<ChatRelay>,
    events: web::Data<EventLog>,
) -> Result<HttpResponse, ApiError> {
    let relay = relay.into_inner();
    let refuse = |error: String| Err(ApiError::Unprocessable(error));
    if relay.docencio.is_empty() || relay.docencio.len() > 64 {
        return refuse("docencio: de 1 a 64 bytes".into());
    }
    if relay.mensajes.len() > MAX_CHAT_RELAY {
        return refuse(format!("más de {MAX_CHAT_RELAY} mensajes en un envío"));
    }
    let mut lines = Vec::with_capacity(relay.mensajes.len());
    for line in relay.mensajes {
        let (de, texto) = match (check_nombre(&line.de), check_texto(&line.texto)) {
            (Ok(de), Ok(texto)) => (de, texto),
            (Err(err), _) | (_, Err(err)) => return refuse(err.to_string()),
        };
        lines.push(ChatLine {
            de,
            texto,
            momento_ms: line.momento_ms,
            docencio: relay.docencio.clone(),
        });
    }
    let items = lines
        .iter()
        .map(|line| move |_, _| serde_json::to_string(line).unwrap_or_default())
        .collect();
    events.publish(EventKind::Chat, items).await?;
    Ok(HttpResponse::NoContent().finish())
}
