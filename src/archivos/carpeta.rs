//! A folder of the class's files (Profesor's material, the students'
//! hand-ins, a Docencio's cache), opened so that nothing outside it can be
//! reached whatever is on disk.
//!
//! The folder is a `cap_std::fs::Dir`: every open, rename and removal is
//! relative to its descriptor, and a path that would resolve outside (a
//! `..`, an absolute path, a symbolic link pointing out, even one planted
//! after the check) fails in the kernel (`openat2` with
//! `RESOLVE_BENEATH` on Linux). Names are checked first anyway
//! ([`super::nombre`]), so a refusal says why.
//!
//! A file is received into a hidden temporary file (names starting with
//! `.` are never listed nor accepted), hashed as it is written, synced,
//! checked against the SHA-256 the sender announced, and only then renamed
//! into place and the folder synced: a reader sees the old file or the new
//! one, never half of one, and a crash leaves no partial file behind under
//! a real name.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use cap_std::ambient_authority;
use cap_std::fs::{Dir, File};
use sha2::{Digest, Sha256};

use super::nombre::{check_nombre_archivo, NombreError};
use crate::api::Archivo;

/// Why a file could not be listed, read or written.
#[derive(Debug, thiserror::Error)]
pub enum CarpetaError {
    #[error(transparent)]
    Nombre(#[from] NombreError),
    #[error("no existe el archivo {0:?}")]
    NotFound(String),
    #[error("el archivo supera el máximo de {max} bytes")]
    TooLarge { max: u64 },
    #[error("el SHA-256 no coincide: se anunció {expected} y llegó {received}")]
    Mismatch { expected: String, received: String },
    #[error("SHA-256 inválido: {0:?} (64 dígitos hexadecimales)")]
    BadHash(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// What a file's hash was computed from: a new size or time means a new
/// hash.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hashed {
    tamano: u64,
    modified: Option<SystemTime>,
    sha256: String,
}

/// One folder of files.
#[derive(Debug, Clone)]
pub struct Carpeta {
    dir: Arc<Dir>,
    path: PathBuf,
    /// Hashes already computed, by name.
    hashes: Arc<Mutex<HashMap<String, Hashed>>>,
}

impl Carpeta {
    /// Opens the folder at `path`, creating it (and its parents) if needed.
    pub fn open(path: &Path) -> io::Result<Carpeta> {
        std::fs::create_dir_all(path)?;
        let dir = Dir::open_ambient_dir(path, ambient_authority())?;
        Ok(Carpeta {
            dir: Arc::new(dir),
            path: path.to_owned(),
            hashes: Arc::default(),
        })
    }

    /// Where it is, for log lines.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder `nombre` inside this one (created if needed): a
    /// student's hand-ins.
    pub fn subcarpeta(&self, nombre: &str) -> Result<Carpeta, CarpetaError> {
        let nombre = check_nombre_archivo(nombre)?;
        match self.dir.create_dir(nombre) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(err.into()),
        }
        let dir = self.dir.open_dir(nombre)?;
        Ok(Carpeta {
            dir: Arc::new(dir),
            path: self.path.join(nombre),
            hashes: Arc::default(),
        })
    }

    /// The folders inside this one whose names the class accepts.
    pub fn subcarpetas(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in self.dir.entries()? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if check_nombre_archivo(&name).is_ok() && entry.file_type()?.is_dir() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Every regular file whose name the class accepts, by name. Blocking:
    /// hashes what it has not hashed yet.
    pub fn list(&self) -> io::Result<Vec<Archivo>> {
        let mut archivos = Vec::new();
        for entry in self.dir.entries()? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if check_nombre_archivo(&name).is_err() {
                continue;
            }
            match self.describe(&name) {
                Ok(archivo) => archivos.push(archivo),
                // Not a regular file, or gone meanwhile.
                Err(CarpetaError::NotFound(_)) => {}
                Err(CarpetaError::Io(err)) => return Err(err),
                Err(_) => {}
            }
        }
        archivos.sort_by(|a, b| a.nombre.cmp(&b.nombre));
        Ok(archivos)
    }

    /// Opens `nombre` for reading; with what it is. Blocking.
    pub fn open_file(&self, nombre: &str) -> Result<(std::fs::File, Archivo), CarpetaError> {
        let nombre = check_nombre_archivo(nombre)?;
        let file = self.open_regular(nombre)?;
        let archivo = self.describe_open(nombre, &file)?;
        Ok((file.into_std(), archivo))
    }

    /// What `nombre` is (size, hash, time). Blocking.
    pub fn describe(&self, nombre: &str) -> Result<Archivo, CarpetaError> {
        let nombre = check_nombre_archivo(nombre)?;
        let file = self.open_regular(nombre)?;
        self.describe_open(nombre, &file)
    }

    /// Removes `nombre`; false if there was none.
    pub fn remove(&self, nombre: &str) -> Result<bool, CarpetaError> {
        let nombre = check_nombre_archivo(nombre)?;
        self.lock_hashes().remove(nombre);
        match self.dir.remove_file(nombre) {
            Ok(()) => Ok(true),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(err.into()),
        }
    }

    /// Starts receiving `nombre` (at most `max` bytes) into a temporary
    /// file; nothing is in place until [`Recibiendo::finish`].
    pub fn receive(&self, nombre: &str, max: u64) -> Result<Recibiendo, CarpetaError> {
        let nombre = check_nombre_archivo(nombre)?.to_owned();
        let temp = format!(
            ".recibiendo-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        );
        let file = self.dir.open_with(
            &temp,
            cap_std::fs::OpenOptions::new().write(true).create_new(true),
        )?;
        Ok(Recibiendo {
            carpeta: self.clone(),
            nombre,
            temp: Some(temp),
            file,
            hasher: Sha256::new(),
            written: 0,
            max,
        })
    }

    /// Bytes of the regular files in this folder (a student's total).
    pub fn total_bytes(&self) -> io::Result<u64> {
        let mut total = 0u64;
        for entry in self.dir.entries()? {
            let metadata = entry?.metadata()?;
            if metadata.is_file() {
                total = total.saturating_add(metadata.len());
            }
        }
        Ok(total)
    }

    fn open_regular(&self, nombre: &str) -> Result<File, CarpetaError> {
        let file = match self.dir.open(nombre) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(CarpetaError::NotFound(nombre.to_owned()))
            }
            // A symbolic link out of the folder, or a folder: not a file of
            // the class.
            Err(err)
                if err.kind() == io::ErrorKind::PermissionDenied
                    || err.raw_os_error() == Some(18) /* EXDEV from RESOLVE_BENEATH */ =>
            {
                return Err(CarpetaError::NotFound(nombre.to_owned()))
            }
            Err(err) => return Err(err.into()),
        };
        if !file.metadata()?.is_file() {
            return Err(CarpetaError::NotFound(nombre.to_owned()));
        }
        Ok(file)
    }

    fn lock_hashes(&self) -> std::sync::MutexGuard<'_, HashMap<String, Hashed>> {
        // Every change is complete before the lock is released.
        self.hashes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn describe_open(&self, nombre: &str, file: &File) -> Result<Archivo, CarpetaError> {
        let metadata = file.metadata()?;
        let tamano = metadata.len();
        let modified = metadata.modified().ok().map(|time| time.into_std());
        let known = self
            .lock_hashes()
            .get(nombre)
            .filter(|hashed| hashed.tamano == tamano && hashed.modified == modified)
            .map(|hashed| hashed.sha256.clone());
        let sha256 = match known {
            Some(sha256) => sha256,
            None => {
                let sha256 = hash_reader(&mut file.try_clone()?)?;
                self.lock_hashes().insert(
                    nombre.to_owned(),
                    Hashed {
                        tamano,
                        modified,
                        sha256: sha256.clone(),
                    },
                );
                sha256
            }
        };
        Ok(Archivo {
            nombre: nombre.to_owned(),
            tamano,
            sha256,
            modificado_ms: modified.map_or(0, millis),
        })
    }
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// The SHA-256 of everything `reader` gives, in lower-case hex.
pub fn hash_reader(reader: &mut impl Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buffer[..read]);
    }
}

/// `bytes` in lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `sha256` if it is 64 hex digits, in lower case.
pub fn check_sha256(sha256: &str) -> Result<String, CarpetaError> {
    if sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(sha256.to_ascii_lowercase())
    } else {
        Err(CarpetaError::BadHash(sha256.chars().take(80).collect()))
    }
}

/// A file being received; removed unless finished.
#[derive(Debug)]
pub struct Recibiendo {
    carpeta: Carpeta,
    nombre: String,
    /// The temporary file's name, until it is renamed into place.
    temp: Option<String>,
    file: File,
    hasher: Sha256,
    written: u64,
    max: u64,
}

impl Recibiendo {
    /// Bytes written so far: where the next chunk starts.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The name it will have.
    pub fn nombre(&self) -> &str {
        &self.nombre
    }

    /// Appends `bytes`. Blocking.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), CarpetaError> {
        let written = self.written.saturating_add(bytes.len() as u64);
        if written > self.max {
            return Err(CarpetaError::TooLarge { max: self.max });
        }
        self.file.write_all(bytes)?;
        self.hasher.update(bytes);
        self.written = written;
        Ok(())
    }

    /// Checks the whole file against `expected` (when given), syncs it and
    /// puts it in place. Blocking.
    pub fn finish(mut self, expected: Option<&str>) -> Result<Archivo, CarpetaError> {
        let received = hex(&self.hasher.clone().finalize());
        if let Some(expected) = expected {
            let expected = check_sha256(expected)?;
            if expected != received {
                return Err(CarpetaError::Mismatch { expected, received });
            }
        }
        self.file.sync_all()?;
        let temp = self.temp.take().unwrap_or_default();
        let dir = &self.carpeta.dir;
        if let Err(err) = dir.rename(&temp, dir, &self.nombre) {
            let _ = dir.remove_file(&temp);
            return Err(err.into());
        }
        // The rename itself is durable once the folder is synced.
        if let Ok(folder) = dir.open(".") {
            let _ = folder.sync_all();
        }
        let metadata = self.file.metadata()?;
        let modified = metadata.modified().ok().map(|time| time.into_std());
        self.carpeta.lock_hashes().insert(
            self.nombre.clone(),
            Hashed {
                tamano: self.written,
                modified,
                sha256: received.clone(),
            },
        );
        Ok(Archivo {
            nombre: self.nombre.clone(),
            tamano: self.written,
            sha256: received,
            modificado_ms: modified.map_or(0, millis),
        })
    }
}

impl Drop for Recibiendo {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            let _ = self.carpeta.dir.remove_file(temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    #[test]
    fn a_received_file_is_in_place_only_when_complete_and_verified() {
        let folder = tempfile::tempdir().unwrap();
        let carpeta = Carpeta::open(folder.path()).unwrap();
        let mut receiving = carpeta.receive("a.txt", 10).unwrap();
        receiving.write(b"hola").unwrap();
        assert!(carpeta.list().unwrap().is_empty(), "nothing before finish");
        let archivo = receiving.finish(Some(&sha(b"hola"))).unwrap();
        assert_eq!(archivo.tamano, 4);
        assert_eq!(carpeta.list().unwrap(), [archivo]);

        // A wrong hash: the old file stays, no temporary file is left.
        let mut receiving = carpeta.receive("a.txt", 10).unwrap();
        receiving.write(b"chao").unwrap();
        let err = receiving.finish(Some(&sha(b"otra"))).unwrap_err();
        assert!(matches!(err, CarpetaError::Mismatch { .. }), "{err}");
        assert_eq!(std::fs::read(folder.path().join("a.txt")).unwrap(), b"hola");
        assert_eq!(std::fs::read_dir(folder.path()).unwrap().count(), 1);

        // Too large, or dropped half way: nothing left either.
        let mut receiving = carpeta.receive("b.txt", 3).unwrap();
        assert!(matches!(
            receiving.write(b"hola"),
            Err(CarpetaError::TooLarge { max: 3 })
        ));
        drop(receiving);
        assert_eq!(std::fs::read_dir(folder.path()).unwrap().count(), 1);
    }

    #[test]
    fn nothing_outside_the_folder_can_be_reached() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("secreto"), b"no").unwrap();
        let inside = root.path().join("material");
        let carpeta = Carpeta::open(&inside).unwrap();
        std::os::unix::fs::symlink(root.path().join("secreto"), inside.join("enlace")).unwrap();
        std::os::unix::fs::symlink("../secreto", inside.join("relativo")).unwrap();
        std::fs::create_dir(inside.join("sub")).unwrap();
        for name in [
            "enlace",
            "relativo",
            "sub",
            "../secreto",
            "/etc/passwd",
            "..",
        ] {
            assert!(carpeta.open_file(name).is_err(), "{name} was opened");
        }
        let listed: Vec<String> = carpeta
            .list()
            .unwrap()
            .into_iter()
            .map(|a| a.nombre)
            .collect();
        assert!(listed.is_empty(), "{listed:?}");
        assert!(carpeta.receive("../fuera", 10).is_err());
        assert!(carpeta.subcarpeta("..").is_err());
    }

    #[test]
    fn hashes_follow_changes() {
        let folder = tempfile::tempdir().unwrap();
        let carpeta = Carpeta::open(folder.path()).unwrap();
        std::fs::write(folder.path().join("x"), b"uno").unwrap();
        assert_eq!(carpeta.describe("x").unwrap().sha256, sha(b"uno"));
        std::fs::write(folder.path().join("x"), b"otro").unwrap();
        assert_eq!(carpeta.describe("x").unwrap().sha256, sha(b"otro"));
    }
}
