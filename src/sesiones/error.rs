//! Why a request about sessions failed.

/// Why a request about sessions failed.
#[derive(Debug, thiserror::Error)]
pub enum SesionError {
    #[error("Sesión no encontrada")]
    NotFound,
    #[error("ya hay {0} sesiones abiertas: termina alguna (POST /api/stop) o espera")]
    TooMany(usize),
    #[error("la sesión terminó: {0}")]
    Ended(String),
    #[error("no se pudo iniciar la sesión: {0}")]
    Spawn(String),
}
