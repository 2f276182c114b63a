//! The student's side of the course's material: `estudiante archivos`
//! (list), `estudiante bajar NOMBRE --dir D` (download; an interrupted one
//! resumes from the partial file), `estudiante subir ARCHIVO --nombre N`
//! (hand in), and what `estudiante chat` does with a file Profesor sends
//! to everyone (downloads it under `--dir`).
//!
//! A file being downloaded is written as `NOMBRE.parte` and renamed only
//! once its SHA-256 matches the one Docencio announced: a file under its
//! real name is always whole and right. Names that come from the network
//! are checked like the server checks them, so a hostile Docencio cannot
//! make the student write outside `--dir`.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::api::Archivo;
use crate::archivos::carpeta::hex;
use crate::archivos::check_nombre_archivo;
use crate::archivos::trozos::{Trozo, CHUNK, UPLOAD_WINDOW};
use crate::wire::mensaje::{is_mensaje, Estado, Mensaje};
use crate::wire::{describe_io_error, split_framed, Buffers, FrameReader, FrameWriter};

/// What went wrong with a file.
#[derive(Debug, thiserror::Error)]
pub enum ArchivoError {
    #[error("no se pudo conectar con Docencio en {addr}: {why}")]
    Connect { addr: String, why: String },
    #[error("se perdió la conexión con Docencio: {0}")]
    Lost(String),
    #[error("Docencio respondió: {0}")]
    Refused(String),
    #[error("{0}")]
    Local(String),
}

fn local(what: &str, path: &Path, err: std::io::Error) -> ArchivoError {
    ArchivoError::Local(format!("{what} {}: {err}", path.display()))
}

/// A connection to Docencio speaking mensajes.
pub struct Conexion {
    frames: FrameReader,
    sender: FrameWriter,
}

fn request(operacion: &str, data: Value) -> Bytes {
    Mensaje {
        operacion: operacion.to_owned(),
        data,
        estado: None,
    }
    .to_frame()
}

impl Conexion {
    pub async fn open(addr: &str) -> Result<Self, ArchivoError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|err| ArchivoError::Connect {
                addr: addr.to_owned(),
                why: describe_io_error(&err),
            })?;
        let (frames, sender) = split_framed(stream, 1 << 20, Buffers::Link);
        Ok(Conexion { frames, sender })
    }

    async fn send(&mut self, frame: Bytes) -> Result<(), ArchivoError> {
        self.sender
            .send(frame)
            .await
            .map_err(|err| ArchivoError::Lost(describe_io_error(&err)))
    }

    /// The next mensaje (pushes included); plain-text frames (an
    /// announcement to a student that never spoke) are skipped.
    async fn next(&mut self) -> Result<Mensaje, ArchivoError> {
        loop {
            let body = match self.frames.next().await {
                Some(Ok(body)) => body,
                Some(Err(err)) => return Err(ArchivoError::Lost(describe_io_error(&err))),
                None => return Err(ArchivoError::Lost("Docencio cerró la conexión".into())),
            };
            if !is_mensaje(&body) {
                continue;
            }
            if let Ok(mensaje) = serde_json::from_slice::<Mensaje>(&body) {
                return Ok(mensaje);
            }
        }
    }

    /// Sends a request and waits for its answer; pushes meanwhile are
    /// given to `push`.
    async fn ask(
        &mut self,
        operacion: &str,
        data: Value,
        push: &mut (dyn FnMut(Mensaje) -> Result<(), ArchivoError> + Send),
    ) -> Result<Value, ArchivoError> {
        self.send(request(operacion, data)).await?;
        self.answer(push).await
    }

    async fn answer(
        &mut self,
        push: &mut (dyn FnMut(Mensaje) -> Result<(), ArchivoError> + Send),
    ) -> Result<Value, ArchivoError> {
        loop {
            let mensaje = self.next().await?;
            match mensaje.estado {
                None => push(mensaje)?,
                Some(Estado::Ok) => return Ok(mensaje.data),
                Some(Estado::Error) => {
                    return Err(ArchivoError::Refused(
                        mensaje.data.as_str().unwrap_or_default().to_owned(),
                    ))
                }
            }
        }
    }
}

fn ignore(_: Mensaje) -> Result<(), ArchivoError> {
    Ok(())
}

/// The course's material, as Docencio at `addr` lists it.
pub async fn list(addr: &str) -> Result<Vec<Archivo>, ArchivoError> {
    let mut conexion = Conexion::open(addr).await?;
    let data = conexion.ask("archivos", Value::Null, &mut ignore).await?;
    serde_json::from_value(data["archivos"].clone())
        .map_err(|err| ArchivoError::Refused(format!("lista ilegible: {err}")))
}

/// The list as a person reads it.
pub fn show_list(archivos: &[Archivo]) -> String {
    if archivos.is_empty() {
        return "No hay material todavía.".to_owned();
    }
    archivos
        .iter()
        .map(|archivo| {
            format!(
                "{:>12}  {}  {}",
                archivo.tamano,
                &archivo.sha256[..archivo.sha256.len().min(12)],
                crate::telemetry::escape_controls(&archivo.nombre)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Downloads `nombre` into `dir` (resuming `NOMBRE.parte` if there is
/// one); returns where it is, once its SHA-256 is right.
pub async fn download(
    addr: &str,
    nombre: &str,
    dir: &Path,
    progress: bool,
) -> Result<PathBuf, ArchivoError> {
    let nombre = check_nombre_archivo(nombre)
        .map_err(|err| ArchivoError::Local(err.to_string()))?
        .to_owned();
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|err| local("no se pudo crear", dir, err))?;
    let final_path = dir.join(&nombre);
    let partial_path = dir.join(format!("{nombre}.parte"));
    // What is already here, and its hash so far.
    let (desde, mut hasher) = {
        let partial_path = partial_path.clone();
        tokio::task::spawn_blocking(move || hash_prefix(&partial_path))
            .await
            .map_err(|err| ArchivoError::Local(err.to_string()))??
    };
    let mut conexion = Conexion::open(addr).await?;
    let data = conexion
        .ask(
            "bajar",
            json!({"nombre": nombre, "desde": desde}),
            &mut ignore,
        )
        .await?;
    let tamano = data["tamano"].as_u64().unwrap_or(0);
    let sha256 = data["sha256"].as_str().unwrap_or_default().to_owned();
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&partial_path)
        .await
        .map_err(|err| local("no se pudo escribir", &partial_path, err))?;
    let bar = progress.then(|| progress_bar(&nombre, tamano, desde));
    let mut offset = desde;
    loop {
        let mensaje = conexion.next().await?;
        if mensaje.estado.is_some() {
            continue; // not ours: nothing else was asked
        }
        match mensaje.operacion.as_str() {
            "trozo" => {
                let Ok(trozo) = serde_json::from_value::<Trozo>(mensaje.data) else {
                    continue;
                };
                if trozo.nombre != nombre {
                    continue;
                }
                if trozo.desde != offset {
                    return Err(ArchivoError::Refused(format!(
                        "trozo desde {} cuando se esperaba desde {offset}",
                        trozo.desde
                    )));
                }
                let bytes = trozo.bytes().map_err(ArchivoError::Refused)?;
                if offset + bytes.len() as u64 > tamano {
                    return Err(ArchivoError::Refused(
                        "más bytes que el tamaño anunciado".into(),
                    ));
                }
                file.write_all(&bytes)
                    .await
                    .map_err(|err| local("no se pudo escribir", &partial_path, err))?;
                hasher.update(&bytes);
                offset += bytes.len() as u64;
                if let Some(bar) = &bar {
                    bar.set_position(offset);
                }
            }
            "fin" if mensaje.data["nombre"] == nombre.as_str() => {
                if let Some(error) = mensaje.data["error"].as_str() {
                    return Err(ArchivoError::Refused(format!(
                        "{error} (lo recibido queda en {} y se retoma al volver a bajarlo)",
                        partial_path.display()
                    )));
                }
                break;
            }
            _ => {}
        }
    }
    file.sync_all()
        .await
        .map_err(|err| local("no se pudo escribir", &partial_path, err))?;
    drop(file);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let received = hex(&hasher.finalize());
    if offset != tamano || received != sha256 {
        // A resumed part of another version, or bytes damaged: start over.
        let _ = tokio::fs::remove_file(&partial_path).await;
        return Err(ArchivoError::Refused(format!(
            "el SHA-256 no coincide (se anunció {sha256}, llegó {received}): se borró lo recibido; vuelve a bajarlo"
        )));
    }
    tokio::fs::rename(&partial_path, &final_path)
        .await
        .map_err(|err| local("no se pudo guardar", &final_path, err))?;
    Ok(final_path)
}

/// The length and running hash of what `path` already holds (nothing if
/// it does not exist).
fn hash_prefix(path: &Path) -> Result<(u64, Sha256), ArchivoError> {
    let mut hasher = Sha256::new();
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok((0, hasher)),
        Err(err) => return Err(local("no se pudo leer", path, err)),
    };
    let mut buffer = vec![0u8; 256 * 1024];
    let mut length = 0u64;
    loop {
        let read = file
            .read(&mut buffer)
            .map_err(|err| local("no se pudo leer", path, err))?;
        if read == 0 {
            return Ok((length, hasher));
        }
        hasher.update(&buffer[..read]);
        length += read as u64;
    }
}

fn progress_bar(nombre: &str, tamano: u64, desde: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(tamano);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(crate::telemetry::escape_controls(nombre));
    bar.set_position(desde);
    bar
}

/// True when a progress bar helps (a person watching a terminal).
pub fn on_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Hands in the file at `path` as student `estudiante` (named `como`, or
/// the file's own name); returns what Profesor keeps.
pub async fn upload(
    addr: &str,
    path: &Path,
    estudiante: &str,
    como: Option<&str>,
) -> Result<Value, ArchivoError> {
    let nombre = match como {
        Some(nombre) => nombre.to_owned(),
        None => path
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or_else(|| ArchivoError::Local(format!("{} no es un archivo", path.display())))?
            .to_owned(),
    };
    check_nombre_archivo(&nombre).map_err(|err| ArchivoError::Local(err.to_string()))?;
    let (tamano, hasher) = {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || hash_prefix(&path))
            .await
            .map_err(|err| ArchivoError::Local(err.to_string()))??
    };
    if !path.is_file() {
        return Err(ArchivoError::Local(format!(
            "{} no es un archivo",
            path.display()
        )));
    }
    let sha256 = hex(&hasher.finalize());
    let mut conexion = Conexion::open(addr).await?;
    conexion
        .ask("hola", json!({ "nombre": estudiante }), &mut ignore)
        .await?;
    let started = conexion
        .ask(
            "subir",
            json!({"nombre": nombre, "tamano": tamano, "sha256": sha256}),
            &mut ignore,
        )
        .await?;
    if started["completo"] == true {
        return Ok(started);
    }
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|err| local("no se pudo leer", path, err))?;
    let mut offset = 0u64;
    let mut unanswered = 0usize;
    let mut last = Value::Null;
    let mut buffer = vec![0u8; CHUNK];
    while offset < tamano {
        let read = read_full(&mut file, &mut buffer)
            .await
            .map_err(|err| local("no se pudo leer", path, err))?;
        if read == 0 {
            return Err(ArchivoError::Local(format!(
                "{} se acortó mientras se subía",
                path.display()
            )));
        }
        let trozo = Trozo::new(&nombre, offset, &buffer[..read]);
        conexion.send(request("trozo", json!(trozo))).await?;
        offset += read as u64;
        unanswered += 1;
        // At most a window of chunks without their answer.
        if unanswered == UPLOAD_WINDOW {
            last = conexion.answer(&mut ignore).await?;
            unanswered -= 1;
        }
    }
    while unanswered > 0 {
        last = conexion.answer(&mut ignore).await?;
        unanswered -= 1;
    }
    Ok(last)
}

/// Fills `buffer` unless the file ends first; returns how much was read.
async fn read_full(file: &mut tokio::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    use tokio::io::AsyncReadExt;
    let mut filled = 0;
    while filled < buffer.len() {
        let read = file.read(&mut buffer[filled..]).await?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    Ok(filled)
}
