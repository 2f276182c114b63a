//! The class's files, below the roles that move them: which names are
//! accepted ([`nombre`]), a folder that nothing outside can be reached
//! from, with atomic, verified writes ([`carpeta`]), and how a file travels
//! in chunks over the mensaje frames ([`trozos`]).
//!
//! Profesor keeps the material and the hand-ins; Docencio serves them to
//! its students over frames; the student saves what it gets. Each checks
//! names and hashes with the same code.

pub mod carpeta;
pub mod nombre;
pub mod trozos;

pub use carpeta::{Carpeta, CarpetaError, Recibiendo};
pub use nombre::{check_nombre_archivo, NombreError, MAX_NOMBRE, MAX_NOMBRE_BYTES};
