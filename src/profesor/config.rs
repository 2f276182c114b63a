//! Profesor's configuration, as its flags ([`super::args`]) or a test fill
//! it in.

use std::path::PathBuf;

use crate::sesiones::SesionesConfig;

/// Where the count is kept when no folder is given.
pub const DEFAULT_DATA_DIR: &str = "./aula-datos";

/// Profesor's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the count is kept (created on first run).
    pub data_dir: PathBuf,
    /// actix-web worker threads; 2 matches the course machine's cores.
    pub workers: usize,
    /// `postgres://...`: the count in PostgreSQL, shared by every Profesor
    /// on that database; `None`: SQLite under `data_dir`.
    pub database_url: Option<String>,
    /// The course's material (`None`: `<data_dir>/material`).
    pub material_dir: Option<PathBuf>,
    /// Execution sessions (`/api/*`), when offered (`--sesiones`).
    pub sesiones: Option<SesionesConfig>,
    /// Asked of every request that changes state (see [`super::guard`]).
    pub token: Option<String>,
    /// Host names answered besides IP addresses, `localhost` and this
    /// machine's name.
    pub allowed_hosts: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            workers: 2,
            database_url: None,
            material_dir: None,
            sesiones: None,
            token: None,
            allowed_hosts: Vec::new(),
        }
    }
}
