//! `estudiante chat --nombre Ana`: the sala in a terminal. Lines typed are
//! sent as chat; the others' lines and Profesor's announcements are printed
//! with the time and who wrote them; `/quien` lists who is in the sala,
//! `/salir` (or Ctrl-C, or the end of input) leaves.

use std::io::Write;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::telemetry::escape_controls;
use crate::wire::mensaje::{is_mensaje, Estado, Mensaje};
use crate::wire::texts::ANNOUNCEMENT_PREFIX;
use crate::wire::{describe_io_error, split_framed, Buffers};

/// Why the chat ended badly.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("no se pudo conectar con Docencio en {addr}: {why}")]
    Connect { addr: String, why: String },
    #[error("Docencio no aceptó el nombre: {0}")]
    Name(String),
    #[error("se perdió la conexión con Docencio: {0}")]
    Lost(String),
}

/// The time of day, UTC, as the chat shows it.
fn clock(momento_ms: Option<u64>) -> String {
    let now = match momento_ms {
        Some(ms) => time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap_or_else(|_| time::OffsetDateTime::now_utc()),
        None => time::OffsetDateTime::now_utc(),
    };
    format!("{:02}:{:02}:{:02}", now.hour(), now.minute(), now.second())
}

/// Prints one line; a closed stdout (the reader left) ends nothing.
fn show(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// What a frame from Docencio says, as a line for the person; `Err` when
/// the name was refused.
fn describe(body: &[u8]) -> Result<Option<String>, ChatError> {
    if let Some(texto) = body.strip_prefix(ANNOUNCEMENT_PREFIX.as_bytes()) {
        let texto = escape_controls(&String::from_utf8_lossy(texto));
        return Ok(Some(format!(
            "[{}] {ANNOUNCEMENT_PREFIX}{texto}",
            clock(None)
        )));
    }
    if !is_mensaje(body) {
        return Ok(Some(escape_controls(&String::from_utf8_lossy(body))));
    }
    let Ok(mensaje) = serde_json::from_slice::<Mensaje>(body) else {
        return Ok(None);
    };
    let data = &mensaje.data;
    let text = |value: &Value| escape_controls(value.as_str().unwrap_or(""));
    Ok(match (mensaje.operacion.as_str(), mensaje.estado) {
        ("hola", Some(Estado::Error)) => return Err(ChatError::Name(text(data))),
        ("hola", Some(Estado::Ok)) => Some(format!(
            "En la sala como {}. Escribe y pulsa Enter; /quien, /salir.",
            text(&data["nombre"])
        )),
        ("chat", None) => Some(format!(
            "[{}] {}: {}",
            clock(data["momento_ms"].as_u64()),
            text(&data["de"]),
            text(&data["texto"])
        )),
        ("anuncio", None) => Some(format!(
            "[{}] {ANNOUNCEMENT_PREFIX}{}",
            clock(data["momento_ms"].as_u64()),
            text(&data["texto"])
        )),
        ("material", None) => Some(format!(
            "[{}] El Profesor envía {} ({} bytes); se guarda en la carpeta de --dir",
            clock(None),
            text(&data["nombre"]),
            data["tamano"]
        )),
        ("perdidos", None) => Some(format!(
            "(se perdieron {} mensajes: no se leyeron a tiempo)",
            data["cantidad"]
        )),
        ("quien", Some(Estado::Ok)) => {
            let names: Vec<String> = data
                .as_array()
                .map(|names| names.iter().map(text).collect())
                .unwrap_or_default();
            Some(format!("En la sala: {}", names.join(", ")))
        }
        (_, Some(Estado::Error)) => Some(format!("(no se envió: {})", text(data))),
        _ => None,
    })
}

/// The file in a `material` push (Profesor sends it to everyone).
fn material_sent(body: &[u8]) -> Option<crate::api::Archivo> {
    let mensaje: Mensaje = serde_json::from_slice(body).ok()?;
    (mensaje.operacion == "material" && mensaje.is_push())
        .then(|| serde_json::from_value(mensaje.data).ok())
        .flatten()
}

/// Downloads `archivo` into `dir` on a connection of its own (the chat
/// goes on meanwhile) and says when it is saved.
fn save_material(addr: &str, archivo: crate::api::Archivo, dir: &std::path::Path) {
    let (addr, dir) = (addr.to_owned(), dir.to_owned());
    tokio::spawn(async move {
        match super::archivos::download(&addr, &archivo.nombre, &dir, false).await {
            Ok(path) => show(&format!(
                "[{}] Guardado {} ({} bytes, SHA-256 comprobado)",
                clock(None),
                escape_controls(&path.display().to_string()),
                archivo.tamano
            )),
            Err(err) => show(&format!(
                "[{}] No se pudo guardar {}: {err}",
                clock(None),
                escape_controls(&archivo.nombre)
            )),
        }
    });
}

/// The lines typed, read by a thread of their own: a read of the terminal
/// cannot be cancelled, and tokio's `stdin` would hold the runtime's
/// shutdown (Ctrl-C) until the next Enter. The thread ends with the
/// process.
fn typed_lines() -> mpsc::Receiver<String> {
    let (lines, typed) = mpsc::channel(16);
    let _ = std::thread::Builder::new()
        .name("teclado".into())
        .spawn(move || {
            for line in std::io::stdin().lines() {
                let Ok(line) = line else { break };
                if lines.blocking_send(line).is_err() {
                    break;
                }
            }
        });
    typed
}

/// Chats as `nombre` at Docencio `addr` until `/salir`, the end of input,
/// or `stop`.
pub async fn run(
    addr: &str,
    nombre: &str,
    dir: &std::path::Path,
    stop: CancellationToken,
) -> Result<(), ChatError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|err| ChatError::Connect {
            addr: addr.to_owned(),
            why: describe_io_error(&err),
        })?;
    let (mut frames, mut sender) = split_framed(stream, 1 << 20, Buffers::Small);
    let say = |operacion: &str, data: Value| {
        Mensaje {
            operacion: operacion.to_owned(),
            data,
            estado: None,
        }
        .to_frame()
    };
    let lost = |err: std::io::Error| ChatError::Lost(describe_io_error(&err));
    sender
        .send(say("hola", json!({ "nombre": nombre })))
        .await
        .map_err(lost)?;
    let mut lines = typed_lines();
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            frame = frames.next() => match frame {
                Some(Ok(body)) => {
                    if let Some(line) = describe(&body)? {
                        show(&line);
                    }
                    if let Some(archivo) = material_sent(&body) {
                        save_material(addr, archivo, dir);
                    }
                }
                Some(Err(err)) => return Err(lost(err)),
                None => return Err(ChatError::Lost("Docencio cerró la conexión".into())),
            },
            line = lines.recv() => {
                let Some(line) = line else { return Ok(()) };
                let line = line.trim();
                match line {
                    "" => {}
                    "/salir" => return Ok(()),
                    "/quien" => sender.send(say("quien", Value::Null)).await.map_err(lost)?,
                    texto => sender.send(say("chat", json!(texto))).await.map_err(lost)?,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_shown_as_a_person_reads_them() {
        let chat =
            br#"{"operacion":"chat","data":{"de":"Ana","texto":"hola\u001b[31m","momento_ms":0}}"#;
        assert_eq!(
            describe(chat).unwrap().unwrap(),
            "[00:00:00] Ana: hola\\u{1b}[31m"
        );
        let quien = br#"{"operacion":"quien","estado":"ok","data":["Ana","Luis"]}"#;
        assert_eq!(describe(quien).unwrap().unwrap(), "En la sala: Ana, Luis");
        let ok = br#"{"operacion":"chat","estado":"ok","data":{"entregado_a":2}}"#;
        assert_eq!(describe(ok).unwrap(), None);
        let taken = r#"{"operacion":"hola","estado":"error","data":"el nombre Ana ya está en uso en la clase"}"#;
        assert!(matches!(
            describe(taken.as_bytes()),
            Err(ChatError::Name(_))
        ));
        let plain = b"Anuncio del Profesor: examen";
        assert!(describe(plain)
            .unwrap()
            .unwrap()
            .ends_with("Anuncio del Profesor: examen"));
    }
}
