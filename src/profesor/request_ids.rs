//! Every request's id, log line and metrics: [`track_requests`] wraps the
//! whole app. It takes the request's `X-Request-Id` (or makes one up), so
//! that Profesor's line about a question carries the id the other roles
//! logged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use tracing::{debug, Instrument};

use super::metrics::{HttpLabels, Metrics};
use crate::api::REQUEST_ID;
use crate::question_line;
use crate::telemetry::for_log;

/// Request ids made up for clients that send none.
static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// Wraps every request: takes its `X-Request-Id` (or makes one up,
/// `profesor-N`), handles it inside a `peticion{id=...}` span so that
/// every line about it carries the id, echoes the id in the response, and
/// records the request in the metrics by route pattern.
pub async fn track_requests(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty())
        // Logged as the span's id: escaped and bounded like anything else
        // from the network.
        .map_or_else(
            || format!("profesor-{}", NEXT_REQUEST.fetch_add(1, Ordering::Relaxed)),
            for_log,
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
        let path = for_log(response.request().path());
        if status.is_client_error() || status.is_server_error() {
            question_line!(info, "{method} {path} -> {} en {took:.1?}", status.as_u16());
        } else {
            debug!("{method} {path} -> {} en {took:.1?}", status.as_u16());
        }
    });
    Ok(response)
}
