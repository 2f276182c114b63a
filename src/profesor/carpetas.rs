//! Profesor's two folders: the course's material (`--material-dir`,
//! default `<data-dir>/material`) and the students' hand-ins
//! (`<data-dir>/entregas/<estudiante>/`).

use std::path::PathBuf;

use crate::archivos::Carpeta;

/// Profesor's two folders.
#[derive(Debug, Clone)]
pub struct Carpetas {
    pub material: Carpeta,
    pub entregas: Carpeta,
}

impl Carpetas {
    /// Opens (creating them if needed) the material folder and
    /// `<data_dir>/entregas`.
    pub fn open(
        material_dir: &std::path::Path,
        data_dir: &std::path::Path,
    ) -> std::io::Result<Self> {
        Ok(Carpetas {
            material: Carpeta::open(material_dir)?,
            entregas: Carpeta::open(&data_dir.join("entregas"))?,
        })
    }
}

/// The material folder when none is given.
pub fn default_material_dir(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("material")
}
