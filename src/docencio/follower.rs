//! The follower: Docencio follows Profesor's event stream (`GET /eventos`, Server-Sent
//! Events) and pushes to the students in its sala every announcement, and
//! every chat line written at another Docencio (its own are skipped: they
//! reached its students when they were written).
//!
//! One long-lived request at a time, to the replica that answered last; a
//! stream that ends, fails, or stays silent past three keep-alives is
//! opened again (on the next replica when one fails), with `Last-Event-ID`
//! so that Profesor replays what was missed. Event ids only grow, so one
//! seen twice (a replay overlapping the live stream) is pushed once. The
//! first request already asks for everything since Docencio started (ids
//! are Profesor's clock in ms), so an announcement made while the stream
//! was still opening reaches the students who were there.

use std::sync::Arc;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use tokio::time::{sleep, timeout};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::sala::Sala;
use crate::api::{Anuncio, Archivo, ChatLine, EventKind, EVENTOS_PATH};
use crate::retry;
use crate::telemetry::for_log;
use crate::wire::mensaje::{LineaChat, Nombre, TextoChat};

/// A stream with nothing (not even Profesor's keep-alive, every 5 s) for
/// this long is taken as lost.
const SILENT_STREAM: Duration = Duration::from_secs(20);

/// Longest wait between two tries to open the stream.
const RETRY_CAP: Duration = Duration::from_secs(2);

/// Follows the event stream of the Profesors at `urls` (base URLs,
/// preferred first) from `since_ms` (ms since the Unix epoch) until `stop`.
pub async fn follow(
    urls: Vec<String>,
    own_run: String,
    since_ms: u64,
    connect_timeout: Duration,
    sala: Arc<Sala>,
    stop: CancellationToken,
) {
    let http = match reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .no_proxy()
        .build()
    {
        Ok(http) => http,
        Err(err) => {
            warn!("No se pueden seguir los anuncios de Profesor: {err}");
            return;
        }
    };
    // Event ids are Profesor's clock in µs.
    let mut last_id: Option<u64> = Some(since_ms.saturating_mul(1000));
    let mut replica = 0usize;
    let mut failures = 0u64;
    let mut backoff = retry::backoff_up_to(RETRY_CAP);
    loop {
        let url = format!("{}{EVENTOS_PATH}", urls[replica % urls.len()]);
        let followed = tokio::select! {
            () = stop.cancelled() => return,
            followed = follow_one(&http, &url, &own_run, &mut last_id, &sala) => followed,
        };
        match followed {
            Ok(()) => {
                // Profesor ended it (stopping, or this follower fell behind):
                // open it again at once.
                debug!("El flujo de anuncios de {url} terminó; se abre de nuevo");
                backoff = retry::backoff_up_to(RETRY_CAP);
                failures = 0;
                continue;
            }
            Err(why) => {
                failures += 1;
                replica += 1;
                if retry::worth_reporting(failures) {
                    warn!("Sin anuncios de Profesor en {url} ({why}); reintentando");
                }
            }
        }
        let delay = backoff.next().unwrap_or(RETRY_CAP);
        tokio::select! {
            () = stop.cancelled() => return,
            () = sleep(delay) => {}
        }
    }
}

/// Reads one stream to its end, pushing each new announcement; `Err` with
/// why when it could not be opened or broke.
async fn follow_one(
    http: &reqwest::Client,
    url: &str,
    own_run: &str,
    last_id: &mut Option<u64>,
    sala: &Sala,
) -> Result<(), String> {
    let mut request = http.get(url).header("accept", "text/event-stream");
    if let Some(id) = last_id {
        request = request.header("last-event-id", id.to_string());
    }
    let response = request.send().await.map_err(|err| err.to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    info!("Docencio sigue los anuncios de Profesor en {url}");
    let mut events = response.bytes_stream().eventsource();
    loop {
        let event = match timeout(SILENT_STREAM, events.next()).await {
            Err(_) => return Err(format!("sin noticias en {SILENT_STREAM:?}")),
            Ok(None) => return Ok(()),
            Ok(Some(Err(err))) => return Err(err.to_string()),
            Ok(Some(Ok(event))) => event,
        };
        let kind = EventKind::parse(&event.event);
        if kind == Some(EventKind::Perdidos) {
            warn!(
                "Profesor ya no guarda todos los eventos que este Docencio no leyó: algunos anuncios o líneas de chat no llegarán a sus estudiantes"
            );
            continue;
        }
        let id = event.id.parse::<u64>().ok();
        if let (Some(id), Some(last)) = (id, *last_id) {
            if id <= last {
                continue; // seen already (a replay overlapping)
            }
        }
        if let Some(id) = id {
            *last_id = Some(id);
        }
        match kind {
            Some(EventKind::Anuncio) => announce(&event.data, sala),
            Some(EventKind::Chat) => chat(&event.data, own_run, sala),
            Some(EventKind::Material) => material(&event.data, sala),
            Some(EventKind::Perdidos) | None => {}
        }
    }
}

/// Pushes a chat line written at another Docencio to the sala (this
/// Docencio's own lines are with its students already).
fn chat(data: &str, own_run: &str, sala: &Sala) {
    let line = match serde_json::from_str::<ChatLine>(data) {
        Ok(line) if line.docencio == own_run => return,
        Ok(line) => line,
        Err(err) => return warn!("Chat ilegible de Profesor ({err}): {}", for_log(data)),
    };
    // Profesor checked both as Docencio does; a line that does not pass
    // is as unreadable as a broken one.
    match (Nombre::parse(&line.de), TextoChat::parse(&line.texto)) {
        (Ok(de), Ok(texto)) => {
            sala.chat_from_elsewhere(LineaChat {
                de,
                texto,
                momento_ms: line.momento_ms,
            });
        }
        (Err(err), _) | (_, Err(err)) => {
            warn!("Chat ilegible de Profesor ({err}): {}", for_log(data))
        }
    }
}

/// Tells the sala's named students about a file Profesor sends them.
fn material(data: &str, sala: &Sala) {
    match serde_json::from_str::<Archivo>(data) {
        Ok(archivo) => {
            let reached = sala.send_material(&archivo);
            info!(
                "Material enviado por Profesor a {reached} estudiante(s): {}",
                for_log(&archivo.nombre)
            );
        }
        Err(err) => warn!("Material ilegible de Profesor ({err}): {}", for_log(data)),
    }
}

/// Pushes the announcement in an event's `data` to the sala.
fn announce(data: &str, sala: &Sala) {
    let anuncio: Anuncio = match serde_json::from_str(data) {
        Ok(anuncio) => anuncio,
        Err(err) => {
            warn!("Anuncio ilegible de Profesor ({err}): {}", for_log(data));
            return;
        }
    };
    let reached = sala.announce(&anuncio);
    info!(
        "Anuncio del Profesor a {reached} estudiante(s): {}",
        for_log(&anuncio.texto)
    );
}
