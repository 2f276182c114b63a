//! The count of answered questions, behind one small type so that how it is
//! stored can change without touching the routes.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::Path;
use std::sync::Mutex;

/// How many idempotency keys are remembered; the oldest is forgotten first.
/// A retry comes seconds after its first try, so this covers far more than
/// any retry window at the rates a class produces.
pub const REMEMBERED_KEYS: usize = 100_000;

/// The result of adding to the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suma {
    /// The total right after this addition (for a repeated key: right after
    /// the first one).
    pub total: u64,
    /// True when the key had been seen: nothing was added this time.
    pub repetida: bool,
}

/// How many forwarded questions got a real answer, as Docencio reports them.
#[derive(Debug, Default)]
pub struct Contador {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    total: u64,
    /// Idempotency key -> the total its first request answered.
    answered: HashMap<String, u64>,
    /// Keys in arrival order, to forget the oldest.
    arrival: VecDeque<String>,
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

    /// Adds `cantidad` answered questions, unless `key` was already used, and
    /// returns the total. Exact under any number of concurrent callers.
    pub fn sumar(&self, cantidad: u64, key: Option<&str>) -> Suma {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(key) = key {
            if let Some(&total) = state.answered.get(key) {
                return Suma {
                    total,
                    repetida: true,
                };
            }
        }
        state.total = state.total.saturating_add(cantidad);
        let total = state.total;
        if let Some(key) = key {
            if state.arrival.len() >= REMEMBERED_KEYS {
                if let Some(oldest) = state.arrival.pop_front() {
                    state.answered.remove(&oldest);
                }
            }
            state.answered.insert(key.to_owned(), total);
            state.arrival.push_back(key.to_owned());
        }
        Suma {
            total,
            repetida: false,
        }
    }

    /// The current total.
    pub fn total(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_gets_the_first_total_and_adds_nothing() {
        let contador = Contador::default();
        assert_eq!(contador.sumar(3, Some("a")).total, 3);
        assert_eq!(contador.sumar(1, None).total, 4);
        let again = contador.sumar(3, Some("a"));
        assert_eq!(
            again,
            Suma {
                total: 3,
                repetida: true
            }
        );
        assert_eq!(contador.total(), 4);
    }

    #[test]
    fn remembers_a_bounded_number_of_keys_forgetting_the_oldest() {
        let contador = Contador::default();
        for i in 0..=REMEMBERED_KEYS {
            contador.sumar(1, Some(&i.to_string()));
        }
        let state = contador.state.lock().unwrap();
        assert_eq!(state.answered.len(), REMEMBERED_KEYS);
        assert!(!state.answered.contains_key("0"));
        assert!(state.answered.contains_key(&REMEMBERED_KEYS.to_string()));
    }
}
