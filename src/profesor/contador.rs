//! The count of answered questions, behind one small type so that how it is
//! stored can change without touching the routes.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many forwarded questions got a real answer, as Docencio reports them.
#[derive(Debug, Default)]
pub struct Contador {
    total: AtomicU64,
}

impl Contador {
    /// Opens the count kept under `data_dir`, creating the folder on first run.
    ///
    /// The count itself is kept in memory for now: durability is a later
    /// step that replaces this type's inside, not its callers.
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!(
                    "no se pudo crear la carpeta de datos {}: {err}",
                    data_dir.display()
                ),
            )
        })?;
        Ok(Contador::default())
    }

    /// Adds `cantidad` answered questions and returns the new total. Exact
    /// under any number of concurrent callers.
    pub fn sumar(&self, cantidad: u64) -> u64 {
        self.total.fetch_add(cantidad, Ordering::AcqRel) + cantidad
    }

    /// The current total.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Acquire)
    }
}
