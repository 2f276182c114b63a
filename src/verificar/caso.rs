//! A case and its verdict, and the report of a run.

use std::future::Future;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::CASE_TIMEOUT;

/// What a case found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "veredicto", content = "detalle", rename_all = "snake_case")]
pub enum Veredicto {
    /// As the contract says.
    Pasa,
    /// Works, but deviates from the notebook or the contract's letter.
    Observacion(String),
    /// Sent, expected, received.
    Falla(String),
    /// The target does not offer this.
    NoAplica(String),
}

impl Veredicto {
    pub fn is_failure(&self) -> bool {
        matches!(self, Veredicto::Falla(_))
    }

    pub fn label(&self) -> &'static str {
        match self {
            Veredicto::Pasa => "pasa",
            Veredicto::Observacion(_) => "pasa con observación",
            Veredicto::Falla(_) => "FALLA",
            Veredicto::NoAplica(_) => "no aplica",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Veredicto::Pasa => "",
            Veredicto::Observacion(detail)
            | Veredicto::Falla(detail)
            | Veredicto::NoAplica(detail) => detail,
        }
    }
}

/// One case of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Caso {
    /// `1.2`: section and number.
    pub id: String,
    pub seccion: String,
    pub nombre: String,
    #[serde(flatten)]
    pub veredicto: Veredicto,
    pub ms: u64,
}

tokio::task_local! {
    /// Where each case goes as soon as it has its verdict, when the run is
    /// watched (the terminal shows a slow target's cases one by one
    /// instead of nothing until the end).
    pub static AVISAR: tokio::sync::mpsc::UnboundedSender<Caso>;
}

/// The run: every case, in order.
#[derive(Debug, Clone, Serialize)]
pub struct Reporte {
    pub rol: String,
    pub objetivo: String,
    pub casos: Vec<Caso>,
}

impl Reporte {
    pub fn new(rol: &str, objetivo: &str) -> Self {
        Reporte {
            rol: rol.to_owned(),
            objetivo: objetivo.to_owned(),
            casos: Vec::new(),
        }
    }

    /// Runs `case` (at most [`CASE_TIMEOUT`]) and keeps its verdict under
    /// `id` in `seccion`.
    pub async fn run<F>(&mut self, id: &str, seccion: &str, nombre: &str, case: F)
    where
        F: Future<Output = Veredicto>,
    {
        let started = Instant::now();
        let veredicto = match tokio::time::timeout(CASE_TIMEOUT, case).await {
            Ok(veredicto) => veredicto,
            Err(_) => Veredicto::Falla(format!("sin terminar en {CASE_TIMEOUT:?}")),
        };
        let caso = Caso {
            id: id.to_owned(),
            seccion: seccion.to_owned(),
            nombre: nombre.to_owned(),
            veredicto,
            ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        let _ = AVISAR.try_with(|avisar| avisar.send(caso.clone()));
        self.casos.push(caso);
    }

    pub fn failures(&self) -> usize {
        self.casos
            .iter()
            .filter(|caso| caso.veredicto.is_failure())
            .count()
    }

    /// The cases that failed, by id (what a test of a known-broken target
    /// asserts).
    pub fn failed_ids(&self) -> Vec<&str> {
        self.casos
            .iter()
            .filter(|caso| caso.veredicto.is_failure())
            .map(|caso| caso.id.as_str())
            .collect()
    }

    pub fn elapsed(&self) -> Duration {
        Duration::from_millis(self.casos.iter().map(|caso| caso.ms).sum())
    }
}
