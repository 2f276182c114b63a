//! The class as Profesor sees it: the last report of every Tareo and
//! Docencio (`POST /informes`), and what they counted since this Profesor
//! started. Behind `GET /estado` (the live panel's data), `GET
//! /reporte.csv` and the role metrics.
//!
//! Reports are snapshots of counters since the role started. What a report
//! adds is its difference from the previous one of the same run; a new run
//! (the role restarted, its counters from 0) adds all it carries. So a lost
//! or repeated report adds nothing wrong, and totals survive role restarts.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::metrics::{Metrics, RoleLabels};
use crate::stats::{PorTipo, RoleReport};

/// A role that has not reported for this long is shown as gone.
pub const SILENT_AFTER: Duration = Duration::from_secs(3);

/// Roles remembered at most; a report from one more is refused, so a
/// client inventing instances cannot grow Profesor's memory.
pub const MAX_ROLES: usize = 256;

/// Why a report was not taken.
#[derive(Debug, thiserror::Error)]
pub enum InformeError {
    #[error("rol desconocido '{0}' (se esperan: tareo, docencio)")]
    UnknownRole(String),
    #[error("demasiados roles distintos informando (máximo {MAX_ROLES})")]
    TooManyRoles,
}

#[derive(Debug)]
struct Seen {
    report: RoleReport,
    at: Instant,
}

#[derive(Debug, Default)]
struct Totals {
    asked: PorTipo,
    answered: PorTipo,
    errors: u64,
}

/// The class state; one per Profesor.
#[derive(Debug, Default)]
pub struct Clase {
    state: Mutex<ClaseState>,
}

#[derive(Debug, Default)]
struct ClaseState {
    /// By (role, instance).
    roles: BTreeMap<(String, String), Seen>,
    /// What Docencios counted since this Profesor started: what students
    /// asked and got.
    docencio: Totals,
}

/// `GET /estado`: the class now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Estado {
    /// Profesor's count of answered questions (the same as `/preguntas`).
    pub total: u64,
    /// Questions students asked Docencio(s), by type, since Profesor started.
    pub preguntas: PorTipo,
    /// Of those, answered with a real answer, by type.
    pub respondidas: PorTipo,
    /// `Error: ...` answers students got, since Profesor started.
    pub errores: u64,
    /// Hard questions this Profesor answered (`GET /respuesta`).
    pub respuestas_profesor: u64,
    /// Every role that has reported, and whether it still does.
    pub roles: Vec<RolEstado>,
    /// When this was taken (ms since the Unix epoch), to compute rates.
    pub momento_ms: u64,
}

/// One role in [`Estado`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RolEstado {
    pub rol: String,
    pub instancia: String,
    /// Reported within the last 3 s.
    pub activo: bool,
    /// Since its last report.
    pub visto_hace_ms: u64,
    pub conexiones: u64,
    pub clientes: Vec<String>,
    pub en_vuelo: u64,
    /// Since the role started.
    pub preguntas: PorTipo,
    pub respondidas: PorTipo,
    pub errores: u64,
    pub reconexiones: u64,
}

impl Clase {
    fn lock(&self) -> std::sync::MutexGuard<'_, ClaseState> {
        // Every update is complete before the lock is released.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a role's report, adding what it counted to the totals and metrics.
    pub fn receive(&self, report: RoleReport, metrics: &Metrics) -> Result<(), InformeError> {
        if !matches!(report.rol.as_str(), "tareo" | "docencio") {
            return Err(InformeError::UnknownRole(report.rol));
        }
        let mut state = self.lock();
        let key = (report.rol.clone(), report.instancia.clone());
        if !state.roles.contains_key(&key) && state.roles.len() >= MAX_ROLES {
            return Err(InformeError::TooManyRoles);
        }
        // The same run: what it added since; a new run: all it carries.
        let same_run = state
            .roles
            .get(&key)
            .map(|seen| &seen.report)
            .filter(|before| before.ejecucion == report.ejecucion);
        let (asked, answered, errors, reconnects) = match same_run {
            Some(before) => (
                report.preguntas.since(&before.preguntas),
                report.respondidas.since(&before.respondidas),
                report.errores.saturating_sub(before.errores),
                report.reconexiones.saturating_sub(before.reconexiones),
            ),
            None => (
                report.preguntas,
                report.respondidas,
                report.errores,
                report.reconexiones,
            ),
        };
        let labels = RoleLabels {
            rol: report.rol.clone(),
            instancia: report.instancia.clone(),
        };
        metrics.role_progress(&labels, &asked, &answered, errors, reconnects);
        metrics.role_now(&labels, true, report.conexiones, report.en_vuelo);
        if report.rol == "docencio" {
            state.docencio.asked.add(&asked);
            state.docencio.answered.add(&answered);
            state.docencio.errors += errors;
        }
        state.roles.insert(
            key,
            Seen {
                report,
                at: Instant::now(),
            },
        );
        Ok(())
    }

    /// Marks roles that went silent as gone in the metrics (called before
    /// every scrape).
    pub fn refresh_metrics(&self, metrics: &Metrics) {
        let state = self.lock();
        for ((rol, instancia), seen) in &state.roles {
            if seen.at.elapsed() >= SILENT_AFTER {
                let labels = RoleLabels {
                    rol: rol.clone(),
                    instancia: instancia.clone(),
                };
                metrics.role_now(&labels, false, 0, 0);
            }
        }
    }

    /// The class now, with Profesor's `total` and its hard answers given.
    pub fn estado(&self, total: u64, respuestas_profesor: u64) -> Estado {
        let state = self.lock();
        let roles = state
            .roles
            .values()
            .map(|seen| {
                let activo = seen.at.elapsed() < SILENT_AFTER;
                let report = &seen.report;
                RolEstado {
                    rol: report.rol.clone(),
                    instancia: report.instancia.clone(),
                    activo,
                    visto_hace_ms: u64::try_from(seen.at.elapsed().as_millis()).unwrap_or(u64::MAX),
                    conexiones: if activo { report.conexiones } else { 0 },
                    clientes: if activo {
                        report.clientes.clone()
                    } else {
                        Vec::new()
                    },
                    en_vuelo: if activo { report.en_vuelo } else { 0 },
                    preguntas: report.preguntas,
                    respondidas: report.respondidas,
                    errores: report.errores,
                    reconexiones: report.reconexiones,
                }
            })
            .collect();
        Estado {
            total,
            preguntas: state.docencio.asked,
            respondidas: state.docencio.answered,
            errores: state.docencio.errors,
            respuestas_profesor,
            roles,
            momento_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_millis() as u64),
        }
    }

    /// `GET /reporte.csv`: questions asked and answered per type (from the
    /// Docencios' reports), then Profesor's count.
    pub fn csv(&self, total: u64) -> Result<Vec<u8>, csv::Error> {
        let state = self.lock();
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(["tipo", "preguntadas", "respondidas"])?;
        let asked = state.docencio.asked.entries();
        let answered = state.docencio.answered.entries();
        for ((tipo, asked), (_, answered)) in asked.iter().zip(answered.iter()) {
            writer.write_record([tipo.to_string(), asked.to_string(), answered.to_string()])?;
        }
        writer.write_record([
            "contadas por Profesor".to_owned(),
            String::new(),
            total.to_string(),
        ])?;
        writer
            .into_inner()
            .map_err(|err| csv::Error::from(err.into_error()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(run: &str, tarea: u64, errores: u64) -> RoleReport {
        RoleReport {
            rol: "docencio".into(),
            instancia: "127.0.0.1:4446".into(),
            ejecucion: run.into(),
            conexiones: 2,
            clientes: vec!["127.0.0.1:5000".into()],
            preguntas: PorTipo {
                tarea,
                ..PorTipo::default()
            },
            respondidas: PorTipo {
                tarea: tarea - errores,
                ..PorTipo::default()
            },
            errores,
            en_vuelo: 0,
            reconexiones: 0,
        }
    }

    #[test]
    fn repeated_reports_add_nothing_and_a_restart_adds_its_own() {
        let clase = Clase::default();
        let metrics = Metrics::new();
        clase.receive(report("a", 10, 1), &metrics).unwrap();
        clase.receive(report("a", 10, 1), &metrics).unwrap();
        clase.receive(report("a", 15, 1), &metrics).unwrap();
        // Restarted: its counters began again from 0.
        clase.receive(report("b", 4, 0), &metrics).unwrap();
        let estado = clase.estado(7, 0);
        assert_eq!(estado.preguntas.tarea, 19);
        assert_eq!(estado.respondidas.tarea, 18);
        assert_eq!(estado.errores, 1);
        assert_eq!(estado.roles.len(), 1);
        assert!(estado.roles[0].activo);
        let csv = String::from_utf8(clase.csv(7).unwrap()).unwrap();
        assert_eq!(
            csv,
            "tipo,preguntadas,respondidas\nContenido,0,0\nTarea,19,18\nPregunta Dificil,0,0\ncontadas por Profesor,,7\n"
        );
    }

    #[test]
    fn unknown_roles_are_refused() {
        let clase = Clase::default();
        let mut bad = report("a", 1, 0);
        bad.rol = "estudiante".into();
        assert!(clase.receive(bad, &Metrics::new()).is_err());
    }
}
