//! The course's material over Docencio's frames (the storage exercise of
//! the course, done properly): `archivos` lists it, `bajar` sends a file
//! in chunks from an offset, `subir` hands one in, chunk by chunk.
//!
//! Docencio keeps no files: the list and the bytes come from Profesor
//! ([`MaterialClient`]), and hand-ins go to Profesor as they arrive, so a
//! student sees the same material on any Docencio.
//!
//! Memory is bounded whatever the file's size: a download produces chunks
//! into the connection's transfer lane ([`crate::server::BulkLane`], a few
//! frames), so it reads from Profesor only as fast as the student reads;
//! an upload holds at most [`UPLOAD_WINDOW`] chunks, a client sending more
//! without waiting for their answers is told so. A chunk goes out only
//! when no answer or push is waiting, so a student downloading a large file
//! still gets its answers and chat at once.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tracing::{debug, info};

use crate::api::{MaterialClient, ProfesorError, MAX_ENTREGA_BYTES};
use crate::archivos::carpeta::check_sha256;
use crate::archivos::check_nombre_archivo;
use crate::archivos::trozos::{Trozo, CHUNK, UPLOAD_WINDOW};
use crate::server::{BulkLane, FrameAnswer};
use crate::telemetry::for_log;
use crate::wire::mensaje::{Bajando, Empuje, Fin, MensajeError, Recibido, Respuesta, Resultado};

/// Transfer frames waiting for a client's socket (about 44 KiB each).
const LANE_FRAMES: usize = 2;

/// Downloads one Docencio serves at once; more wait their turn (up to
/// [`TURN_WAIT`]): what a Docencio holds for downloads is bounded whatever
/// the number of connections (each holds about 0.3 MiB while stalled), and
/// so is what it asks of Profesor at once (a class of 1,000 downloading a
/// file Profesor sent to everyone must not starve Profesor's other
/// requests: its event stream, the counts).
const DOWNLOADS_AT_ONCE: usize = 64;

/// How long a download waits for its turn before it is refused: a class
/// downloading together takes a while.
const TURN_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// Downloads one connection may have under way at once.
const MAX_DOWNLOADS: usize = 2;

/// Where the material comes from, shared by every connection.
#[derive(Debug, Clone)]
pub struct MaterialDesk {
    client: Option<MaterialClient>,
    /// Turns for downloads (see [`DOWNLOADS_AT_ONCE`]).
    turns: Arc<tokio::sync::Semaphore>,
}

impl Default for MaterialDesk {
    /// No Profesor behind it (the sala's unit tests).
    fn default() -> Self {
        MaterialDesk {
            client: None,
            turns: Arc::new(tokio::sync::Semaphore::new(DOWNLOADS_AT_ONCE)),
        }
    }
}

impl MaterialDesk {
    pub fn new(client: MaterialClient) -> Self {
        MaterialDesk {
            client: Some(client),
            turns: Arc::new(tokio::sync::Semaphore::new(DOWNLOADS_AT_ONCE)),
        }
    }
}

/// One client's transfers.
pub struct MaterialSession {
    desk: MaterialDesk,
    lane: mpsc::Sender<Bytes>,
    lane_taken: Option<BulkLane>,
    /// This connection's downloads under way: a permit each, given back
    /// when its last chunk is sent or it fails, however it ends.
    downloads: Arc<Semaphore>,
    upload: Option<Upload>,
}

/// A hand-in under way.
struct Upload {
    nombre: String,
    tamano: u64,
    /// Where the next chunk starts.
    next: u64,
    chunks: mpsc::Sender<(Bytes, oneshot::Sender<()>)>,
    /// Profesor's verdict once the body is sent.
    done: oneshot::Receiver<Result<crate::api::Entrega, String>>,
}

fn error(operacion: &str, message: impl Into<String>) -> FrameAnswer {
    FrameAnswer::Now(refused(operacion, message))
}

fn refused(operacion: &str, message: impl Into<String>) -> Respuesta {
    Respuesta::error(operacion, &MensajeError::Archivo(message.into()))
}

fn said(error: ProfesorError) -> String {
    match error {
        ProfesorError::Refused(why) => why,
        other => format!("Profesor no está disponible: {other}"),
    }
}

impl MaterialSession {
    pub fn new(desk: MaterialDesk) -> Self {
        let (lane, lane_taken) = mpsc::channel(LANE_FRAMES);
        MaterialSession {
            desk,
            lane,
            lane_taken: Some(lane_taken),
            downloads: Arc::new(Semaphore::new(MAX_DOWNLOADS)),
            upload: None,
        }
    }

    pub fn take_bulk(&mut self) -> Option<BulkLane> {
        self.lane_taken.take()
    }

    /// `archivos`: the list, from Profesor.
    pub fn archivos(&self) -> FrameAnswer {
        let Some(client) = self.desk.client.clone() else {
            return error("archivos", "este Docencio no tiene material");
        };
        FrameAnswer::Later(Box::pin(async move {
            match client.list().await {
                Ok(archivos) => Resultado::Archivos { archivos }.into(),
                Err(err) => refused("archivos", said(err)),
            }
        }))
    }

    /// `bajar`: answered with what the file is; its chunks follow on the
    /// transfer lane, then a `fin`.
    pub fn bajar(&self, nombre: String, desde: u64) -> FrameAnswer {
        if let Err(err) = check_nombre_archivo(&nombre) {
            return error("bajar", err.to_string());
        }
        let Some(client) = self.desk.client.clone() else {
            return error("bajar", "este Docencio no tiene material");
        };
        let Ok(download) = self.downloads.clone().try_acquire_owned() else {
            return error(
                "bajar",
                format!("ya hay {MAX_DOWNLOADS} descargas en curso en esta conexión"),
            );
        };
        let lane = self.lane.clone();
        let turns = self.desk.turns.clone();
        FrameAnswer::Later(Box::pin(async move {
            let Ok(Ok(turn)) = tokio::time::timeout(TURN_WAIT, turns.acquire_owned()).await else {
                return refused(
                    "bajar",
                    format!(
                        "Docencio ya sirve {DOWNLOADS_AT_ONCE} descargas: intenta en un momento"
                    ),
                );
            };
            let descarga = match client.open(&nombre, desde).await {
                Ok(descarga) => descarga,
                Err(err) => return refused("bajar", said(err)),
            };
            let answer = Resultado::Bajar(Bajando {
                nombre,
                tamano: descarga.tamano,
                sha256: descarga.sha256.clone(),
                desde,
            });
            tokio::spawn(async move {
                send_chunks(descarga, desde, lane).await;
                drop((download, turn));
            });
            answer.into()
        }))
    }

    /// `subir`: starts handing in `nombre` for `estudiante` (its name in
    /// the sala).
    pub fn subir(
        &mut self,
        estudiante: Option<&str>,
        nombre: String,
        tamano: u64,
        sha256: String,
    ) -> FrameAnswer {
        let Some(estudiante) = estudiante else {
            return FrameAnswer::Now(Respuesta::error("subir", &MensajeError::NotNamed));
        };
        if check_nombre_archivo(estudiante).is_err() {
            return error(
                "subir",
                "tu nombre no sirve como carpeta de entregas (sin . al inicio ni ..)",
            );
        }
        if let Err(err) = check_nombre_archivo(&nombre) {
            return error("subir", err.to_string());
        }
        let sha256 = match check_sha256(&sha256) {
            Ok(sha256) => sha256,
            Err(err) => return error("subir", err.to_string()),
        };
        if tamano > MAX_ENTREGA_BYTES {
            return error(
                "subir",
                format!("una entrega tiene a lo más {MAX_ENTREGA_BYTES} bytes"),
            );
        }
        let Some(client) = self.desk.client.clone() else {
            return error("subir", "este Docencio no tiene material");
        };
        // A new hand-in replaces one left half way (its body ends short,
        // and Profesor keeps nothing of it).
        self.upload = None;
        let (chunks, received) = mpsc::channel::<(Bytes, oneshot::Sender<()>)>(UPLOAD_WINDOW);
        let (verdict, done) = oneshot::channel();
        let body = futures::stream::unfold(received, |mut received| async move {
            let (bytes, ack) = received.recv().await?;
            // Taken by the HTTP body: room for the next chunk.
            let _ = ack.send(());
            Some((Ok::<_, std::io::Error>(bytes), received))
        });
        let (who, what) = (estudiante.to_owned(), nombre.clone());
        tokio::spawn(async move {
            let result = client
                .hand_in(&who, &what, tamano, &sha256, body)
                .await
                .map_err(said);
            match &result {
                Ok(entrega) => info!(
                    "Entrega de {} pasada a Profesor: {} ({} bytes)",
                    for_log(&who),
                    for_log(&entrega.archivo.nombre),
                    entrega.archivo.tamano
                ),
                Err(why) => debug!("Entrega de {} rechazada: {why}", for_log(&who)),
            }
            let _ = verdict.send(result);
        });
        let upload = Upload {
            nombre: nombre.clone(),
            tamano,
            next: 0,
            chunks,
            done,
        };
        if tamano == 0 {
            drop(upload.chunks);
            return FrameAnswer::Later(Box::pin(finished("subir", upload.done, 0)));
        }
        self.upload = Some(upload);
        FrameAnswer::Now(Resultado::Subir(Recibido::en_curso(0, Some(nombre))).into())
    }

    /// `trozo`: the next chunk of the hand-in under way.
    pub fn trozo(&mut self, trozo: Trozo) -> FrameAnswer {
        let Some(upload) = self
            .upload
            .as_mut()
            .filter(|upload| upload.nombre == trozo.nombre)
        else {
            return error(
                "trozo",
                format!(
                    "no hay una entrega de {} en curso: primero subir",
                    for_log(&trozo.nombre)
                ),
            );
        };
        if trozo.desde != upload.next {
            return error(
                "trozo",
                format!(
                    "se esperaba el trozo desde {}, llegó desde {}",
                    upload.next, trozo.desde
                ),
            );
        }
        let bytes = match trozo.bytes() {
            Ok(bytes) if !bytes.is_empty() => bytes,
            Ok(_) => return error("trozo", "un trozo vacío"),
            Err(why) => return error("trozo", why),
        };
        let next = upload.next + bytes.len() as u64;
        if next > upload.tamano {
            return error(
                "trozo",
                format!(
                    "el archivo anunciado tiene {} bytes; este trozo pasa de ahí",
                    upload.tamano
                ),
            );
        }
        let (ack, acked) = oneshot::channel();
        match upload.chunks.try_send((Bytes::from(bytes), ack)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                return error(
                    "trozo",
                    format!("a lo más {UPLOAD_WINDOW} trozos sin respuesta: espera las respuestas"),
                )
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                // Profesor refused (or went away): say why.
                let Some(upload) = self.upload.take() else {
                    return error("trozo", "la entrega se cortó");
                };
                return FrameAnswer::Later(Box::pin(finished("trozo", upload.done, upload.next)));
            }
        }
        upload.next = next;
        if next < upload.tamano {
            return FrameAnswer::Later(Box::pin(async move {
                match acked.await {
                    Ok(()) => Resultado::Trozo(Recibido::en_curso(next, None)).into(),
                    Err(_) => refused("trozo", "la entrega se cortó"),
                }
            }));
        }
        // The last one: the body ends, and Profesor's verdict is the answer.
        let Some(upload) = self.upload.take() else {
            return error("trozo", "la entrega se cortó");
        };
        drop(upload.chunks);
        FrameAnswer::Later(Box::pin(finished("trozo", upload.done, next)))
    }
}

/// The answer once Profesor has the whole hand-in (or refused it).
async fn finished(
    operacion: &'static str,
    done: oneshot::Receiver<Result<crate::api::Entrega, String>>,
    recibido: u64,
) -> Respuesta {
    let entrega = match done.await {
        Ok(Ok(entrega)) => entrega,
        Ok(Err(why)) => return refused(operacion, why),
        Err(_) => return refused(operacion, "la entrega se cortó"),
    };
    let recibido = Recibido::completo(entrega.archivo.nombre, recibido, entrega.archivo.sha256);
    match operacion {
        "subir" => Resultado::Subir(recibido),
        _ => Resultado::Trozo(recibido),
    }
    .into()
}

/// Sends the file's bytes from `desde` as `trozo` pushes of [`CHUNK`]
/// bytes on `lane`, then `fin`; stops when the client is gone.
async fn send_chunks(descarga: crate::api::Descarga, desde: u64, lane: mpsc::Sender<Bytes>) {
    let nombre = descarga.nombre.clone();
    let mut body = descarga.response.bytes_stream();
    let mut pending = BytesMut::new();
    let mut offset = desde;
    let chunk_frame =
        |offset: u64, bytes: &[u8]| Empuje::Trozo(Trozo::new(&nombre, offset, bytes)).to_frame();
    let mut failure = None;
    loop {
        match body.next().await {
            Some(Ok(bytes)) => {
                pending.extend_from_slice(&bytes);
                while pending.len() >= CHUNK {
                    let chunk = pending.split_to(CHUNK);
                    if lane.send(chunk_frame(offset, &chunk)).await.is_err() {
                        return; // the client is gone
                    }
                    offset += CHUNK as u64;
                }
            }
            Some(Err(err)) => {
                failure = Some(format!("Profesor cortó la descarga: {err}"));
                break;
            }
            None => break,
        }
    }
    if failure.is_none() && !pending.is_empty() {
        if lane.send(chunk_frame(offset, &pending)).await.is_err() {
            return;
        }
        offset += pending.len() as u64;
    }
    if failure.is_none() && offset != descarga.tamano {
        failure = Some(format!(
            "la descarga terminó en {offset} de {} bytes",
            descarga.tamano
        ));
    }
    let fin = match failure {
        None => Fin::Entero {
            nombre,
            tamano: descarga.tamano,
            sha256: descarga.sha256,
        },
        Some(error) => Fin::Cortado {
            nombre,
            error,
            recibido: offset,
        },
    };
    let _ = lane.send(Empuje::Fin(fin).to_frame()).await;
}
