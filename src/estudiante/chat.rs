//! `estudiante chat --nombre Ana`: the sala in a terminal. Lines typed are
//! sent as chat; the others' lines and Profesor's announcements are printed
//! with the time and who wrote them; `/quien` lists who is in the sala,
//! `/salir` (or Ctrl-C, or the end of input) leaves.

use std::io::Write;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::conexion::{Conexion, ConexionError};
use crate::api::Archivo;
use crate::telemetry::escape_controls;
use crate::wire::mensaje::{
    Empuje, Incoming, Nombre, Pedido, ReadError, Respuesta, Resultado, TextoChat,
};
use crate::wire::texts::ANNOUNCEMENT_PREFIX;
use crate::wire::Buffers;

/// Why the chat ended badly.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error(transparent)]
    Conexion(#[from] ConexionError),
    #[error("Docencio no aceptó el nombre: {0}")]
    Name(String),
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
fn describe(incoming: &Result<Incoming, ReadError>) -> Result<Option<String>, ChatError> {
    let incoming = match incoming {
        Ok(incoming) => incoming,
        Err(unreadable) => return Ok(Some(format!("(Docencio envió un {unreadable})"))),
    };
    Ok(match incoming {
        Incoming::Text(body) => {
            let text = escape_controls(&String::from_utf8_lossy(body));
            match text.strip_prefix(ANNOUNCEMENT_PREFIX) {
                Some(texto) => Some(format!("[{}] {ANNOUNCEMENT_PREFIX}{texto}", clock(None))),
                None => Some(text),
            }
        }
        Incoming::Empuje(empuje) => describe_push(empuje),
        Incoming::Respuesta(Respuesta::Error { operacion, motivo }) if operacion == "hola" => {
            return Err(ChatError::Name(escape_controls(motivo)))
        }
        Incoming::Respuesta(Respuesta::Error { motivo, .. }) => {
            Some(format!("(no se envió: {})", escape_controls(motivo)))
        }
        Incoming::Respuesta(Respuesta::Ok(Resultado::Hola { nombre })) => Some(format!(
            "En la sala como {}. Escribe y pulsa Enter; /quien, /salir.",
            escape_controls(nombre.as_str())
        )),
        Incoming::Respuesta(Respuesta::Ok(Resultado::Quien(names))) => {
            let names: Vec<String> = names.iter().map(|n| escape_controls(n.as_str())).collect();
            Some(format!("En la sala: {}", names.join(", ")))
        }
        Incoming::Respuesta(Respuesta::Ok(_)) => None,
    })
}

/// A push as a line for the person.
fn describe_push(empuje: &Empuje) -> Option<String> {
    Some(match empuje {
        Empuje::Chat(linea) => format!(
            "[{}] {}: {}",
            clock(Some(linea.momento_ms)),
            escape_controls(linea.de.as_str()),
            escape_controls(linea.texto.as_str())
        ),
        Empuje::Anuncio(anuncio) => format!(
            "[{}] {ANNOUNCEMENT_PREFIX}{}",
            clock(Some(anuncio.momento_ms)),
            escape_controls(&anuncio.texto)
        ),
        Empuje::Material(archivo) => format!(
            "[{}] El Profesor envía {} ({} bytes); se guarda en la carpeta de --dir",
            clock(None),
            escape_controls(&archivo.nombre),
            archivo.tamano
        ),
        Empuje::Perdidos { cantidad } => {
            format!("(se perdieron {cantidad} mensajes: no se leyeron a tiempo)")
        }
        Empuje::Trozo(_) | Empuje::Fin(_) | Empuje::Desconocido => return None,
    })
}

/// Downloads `archivo` into `dir` on a connection of its own (the chat
/// goes on meanwhile) and says when it is saved.
fn save_material(addr: &str, archivo: Archivo, dir: &std::path::Path) {
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
    nombre: &Nombre,
    dir: &std::path::Path,
    stop: CancellationToken,
) -> Result<(), ChatError> {
    let mut conexion = Conexion::open(addr, Buffers::Small).await?;
    let hola = Pedido::Hola {
        nombre: nombre.clone(),
    };
    conexion.send(&hola).await?;
    let mut lines = typed_lines();
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            incoming = conexion.next() => {
                let incoming = incoming?;
                if let Some(line) = describe(&incoming)? {
                    show(&line);
                }
                if let Ok(Incoming::Empuje(Empuje::Material(archivo))) = incoming {
                    save_material(addr, archivo, dir);
                }
            }
            line = lines.recv() => {
                let Some(line) = line else { return Ok(()) };
                let pedido = match line.trim() {
                    "" => continue,
                    "/salir" => return Ok(()),
                    "/quien" => Pedido::Quien,
                    texto => match TextoChat::parse(texto) {
                        Ok(texto) => Pedido::Chat(texto),
                        // Docencio would refuse it in the same words.
                        Err(err) => {
                            show(&format!("(no se envió: {err})"));
                            continue;
                        }
                    },
                };
                conexion.send(&pedido).await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn describe(body: &[u8]) -> Result<Option<String>, ChatError> {
        super::describe(&Incoming::read(bytes::Bytes::copy_from_slice(body)))
    }
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
