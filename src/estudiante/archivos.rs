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

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::conexion::{ignore, unexpected, Conexion, ConexionError};
use crate::api::Archivo;
use crate::archivos::carpeta::hex;
use crate::archivos::check_nombre_archivo;
use crate::archivos::trozos::{Trozo, CHUNK, UPLOAD_WINDOW};
use crate::wire::mensaje::{
    Bajando, Completo, Empuje, Fin, Incoming, Nombre, Pedido, Recibido, Resultado,
};
use crate::wire::Buffers;

/// What went wrong with a file.
#[derive(Debug, thiserror::Error)]
pub enum ArchivoError {
    #[error(transparent)]
    Conexion(#[from] ConexionError),
    #[error("{0}")]
    Local(String),
}

fn local(what: &str, path: &Path, err: std::io::Error) -> ArchivoError {
    ArchivoError::Local(format!("{what} {}: {err}", path.display()))
}

/// Docencio said no, or sent what the download cannot take.
fn refused(why: impl Into<String>) -> ArchivoError {
    ArchivoError::Conexion(ConexionError::Refused(why.into()))
}

async fn open(addr: &str) -> Result<Conexion, ArchivoError> {
    Ok(Conexion::open(addr, Buffers::Link).await?)
}

/// The course's material, as Docencio at `addr` lists it.
pub async fn list(addr: &str) -> Result<Vec<Archivo>, ArchivoError> {
    let mut conexion = open(addr).await?;
    match conexion.ask(&Pedido::Archivos, &mut ignore).await? {
        Resultado::Archivos { archivos } => Ok(archivos),
        other => Err(unexpected("archivos", &other).into()),
    }
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
    let (desde, hasher) = {
        let partial_path = partial_path.clone();
        tokio::task::spawn_blocking(move || hash_prefix(&partial_path))
            .await
            .map_err(|err| ArchivoError::Local(err.to_string()))??
    };
    let mut conexion = open(addr).await?;
    let pedido = Pedido::Bajar {
        nombre: nombre.clone(),
        desde,
    };
    let bajando = match conexion.ask(&pedido, &mut ignore).await? {
        Resultado::Bajar(bajando) => bajando,
        other => return Err(unexpected("bajar", &other).into()),
    };
    let file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&partial_path)
        .await
        .map_err(|err| local("no se pudo escribir", &partial_path, err))?;
    let mut partial = Partial {
        bar: progress.then(|| progress_bar(&nombre, bajando.tamano, desde)),
        file,
        hasher,
        offset: desde,
        path: partial_path,
    };
    partial.receive(&mut conexion, &bajando).await?;
    partial.finish(&bajando, &final_path).await?;
    Ok(final_path)
}

/// A download being written as `NOMBRE.parte`.
struct Partial {
    file: tokio::fs::File,
    hasher: Sha256,
    /// Bytes in the file so far.
    offset: u64,
    path: PathBuf,
    bar: Option<indicatif::ProgressBar>,
}

impl Partial {
    /// Writes the chunks of `bajando` as they come, until its `fin`.
    async fn receive(
        &mut self,
        conexion: &mut Conexion,
        bajando: &Bajando,
    ) -> Result<(), ArchivoError> {
        loop {
            let incoming = conexion
                .next()
                .await?
                .map_err(|err| refused(err.to_string()))?;
            match incoming {
                Incoming::Empuje(Empuje::Trozo(trozo)) if trozo.nombre == bajando.nombre => {
                    self.write(&trozo, bajando.tamano).await?;
                }
                Incoming::Empuje(Empuje::Fin(fin)) if fin.nombre() == bajando.nombre => {
                    return match fin {
                        Fin::Entero { .. } => Ok(()),
                        Fin::Cortado { error, .. } => Err(refused(format!(
                            "{error} (lo recibido queda en {} y se retoma al volver a bajarlo)",
                            self.path.display()
                        ))),
                    };
                }
                // Not ours: nothing else was asked.
                _ => {}
            }
        }
    }

    async fn write(&mut self, trozo: &Trozo, tamano: u64) -> Result<(), ArchivoError> {
        if trozo.desde != self.offset {
            return Err(refused(format!(
                "trozo desde {} cuando se esperaba desde {}",
                trozo.desde, self.offset
            )));
        }
        let bytes = trozo.bytes().map_err(refused)?;
        if self.offset + bytes.len() as u64 > tamano {
            return Err(refused("más bytes que el tamaño anunciado"));
        }
        self.file
            .write_all(&bytes)
            .await
            .map_err(|err| local("no se pudo escribir", &self.path, err))?;
        self.hasher.update(&bytes);
        self.offset += bytes.len() as u64;
        if let Some(bar) = &self.bar {
            bar.set_position(self.offset);
        }
        Ok(())
    }

    /// Gives the file its real name once it is whole and its SHA-256 is
    /// the one announced; else deletes what was received.
    async fn finish(self, bajando: &Bajando, final_path: &Path) -> Result<(), ArchivoError> {
        let Partial {
            file,
            hasher,
            offset,
            path,
            bar,
        } = self;
        file.sync_all()
            .await
            .map_err(|err| local("no se pudo escribir", &path, err))?;
        drop(file);
        if let Some(bar) = &bar {
            bar.finish_and_clear();
        }
        let received = hex(&hasher.finalize());
        let sha256 = &bajando.sha256;
        if offset != bajando.tamano || received != *sha256 {
            // A resumed part of another version, or bytes damaged: start over.
            let _ = tokio::fs::remove_file(&path).await;
            return Err(refused(format!(
                "el SHA-256 no coincide (se anunció {sha256}, llegó {received}): se borró lo recibido; vuelve a bajarlo"
            )));
        }
        tokio::fs::rename(&path, final_path)
            .await
            .map_err(|err| local("no se pudo guardar", final_path, err))
    }
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
/// the file's own name); returns what Profesor keeps, as the answer's JSON.
pub async fn upload(
    addr: &str,
    path: &Path,
    estudiante: &str,
    como: Option<&str>,
) -> Result<Value, ArchivoError> {
    // Docencio would refuse the name in the same words.
    let estudiante = Nombre::parse(estudiante).map_err(|err| refused(err.to_string()))?;
    let completo = hand_in(addr, path, &estudiante, como).await?;
    serde_json::to_value(Recibido::Completo(completo))
        .map_err(|err| ArchivoError::Local(err.to_string()))
}

/// Hands in the file at `path` as student `estudiante` (named `como`, or
/// the file's own name); returns what Profesor keeps.
pub async fn hand_in(
    addr: &str,
    path: &Path,
    estudiante: &Nombre,
    como: Option<&str>,
) -> Result<Completo, ArchivoError> {
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
    let mut conexion = open(addr).await?;
    let hola = Pedido::Hola {
        nombre: estudiante.clone(),
    };
    conexion.ask(&hola, &mut ignore).await?;
    let subir = Pedido::Subir {
        nombre: nombre.clone(),
        tamano,
        sha256: hex(&hasher.finalize()),
    };
    let last = match conexion.ask(&subir, &mut ignore).await? {
        // An empty file is handed in with `subir` alone.
        Resultado::Subir(Recibido::Completo(completo)) => Recibido::Completo(completo),
        Resultado::Subir(_) => send_chunks(&mut conexion, path, &nombre, tamano).await?,
        other => return Err(unexpected("subir", &other).into()),
    };
    match last {
        Recibido::Completo(completo) => Ok(completo),
        Recibido::EnCurso(_) => Err(refused("la entrega no se completó")),
    }
}

/// Sends the file's `tamano` bytes as `trozo`s, at most a window of them
/// without their answer; returns the last answer.
async fn send_chunks(
    conexion: &mut Conexion,
    path: &Path,
    nombre: &str,
    tamano: u64,
) -> Result<Recibido, ArchivoError> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|err| local("no se pudo leer", path, err))?;
    let mut offset = 0u64;
    let mut unanswered = 0usize;
    let mut last = Recibido::en_curso(0, None);
    let mut buffer = vec![0u8; CHUNK];
    while offset < tamano || unanswered > 0 {
        if offset < tamano {
            let read = read_full(&mut file, &mut buffer)
                .await
                .map_err(|err| local("no se pudo leer", path, err))?;
            if read == 0 {
                return Err(ArchivoError::Local(format!(
                    "{} se acortó mientras se subía",
                    path.display()
                )));
            }
            let trozo = Trozo::new(nombre, offset, &buffer[..read]);
            conexion.send(&Pedido::Trozo(trozo)).await?;
            offset += read as u64;
            unanswered += 1;
        }
        // At most a window of chunks without their answer; once all are
        // sent, the answers still owed.
        if unanswered == UPLOAD_WINDOW || offset >= tamano {
            last = match conexion.answer(&mut ignore).await? {
                Resultado::Trozo(recibido) => recibido,
                other => return Err(unexpected("trozo", &other).into()),
            };
            unanswered -= 1;
        }
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
