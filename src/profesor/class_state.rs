//! The class as Profesor sees it: the last informe of every Tareo and
//! Docencio (`POST /informes`), and what they counted since this Profesor
//! started. Behind `GET /estado` (the live panel's data), `GET
//! /reporte.csv` and the role metrics.
//!
//! Informes are snapshots of counters since the role started. What an
//! informe adds is its difference from the previous one of the same run; a
//! new run (the role restarted, its counters from 0) adds all it carries.
//! So a lost or repeated informe adds nothing wrong, and totals survive role
//! restarts.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use super::metrics::{Metrics, RoleLabels};
use crate::api::{millis_since_epoch, Informe, PorTipo, CLIENTS_LISTED};

/// A role that has not reported for this long is shown as gone.
pub const SILENT_AFTER: Duration = Duration::from_secs(3);

/// Roles remembered at most; an informe from one more is refused, so a
/// client inventing instances cannot grow Profesor's memory.
pub const MAX_ROLES: usize = 256;

/// A role silent for this long is forgotten (panel, `/estado`, metrics):
/// instances that stopped reporting do not pile up, nor hold a place.
pub const FORGOTTEN_AFTER: Duration = Duration::from_secs(600);

/// Longest `instancia` (an address: 47 characters at most) and
/// `ejecucion` (16 hex digits) accepted; each listed client is an address
/// too, and longer ones are dropped. They become metric labels and panel
/// text, so their size is bounded here.
pub const MAX_NAME_LEN: usize = 64;

/// Why an informe was not taken.
#[derive(Debug, thiserror::Error)]
pub enum InformeError {
    #[error("rol desconocido '{0}' (se esperan: tareo, docencio)")]
    UnknownRole(String),
    #[error("demasiados roles distintos informando (máximo {MAX_ROLES}, todos activos)")]
    TooManyRoles,
    #[error("nombre demasiado largo en el informe (instancia y ejecución: hasta {MAX_NAME_LEN} caracteres)")]
    NameTooLong,
}

#[derive(Debug)]
struct Seen {
    informe: Informe,
    /// Where the last informe came from.
    from: Option<IpAddr>,
    at: Instant,
}

#[derive(Debug, Default)]
struct Totals {
    asked: PorTipo,
    answered: PorTipo,
    errors: u64,
}

/// The class state; one per Profesor.
#[derive(Debug)]
pub struct ClassState {
    state: Mutex<Roles>,
    /// When this Profesor started, for the screens that count "this run".
    started: SystemTime,
    /// Shown on the panel: why this Profesor is not safe as it runs.
    warning: Option<String>,
}

impl Default for ClassState {
    fn default() -> Self {
        Self::new(None)
    }
}

impl ClassState {
    pub fn new(warning: Option<String>) -> Self {
        ClassState {
            state: Mutex::default(),
            started: SystemTime::now(),
            warning,
        }
    }
}

impl Roles {
    /// Forgets the roles silent for `after` or longer, with their metrics.
    fn forget_silent(&mut self, metrics: &Metrics, after: Duration) {
        self.roles.retain(|(rol, instancia), seen| {
            let keep = seen.at.elapsed() < after;
            if !keep {
                metrics.forget_role(&RoleLabels {
                    rol: rol.clone(),
                    instancia: instancia.clone(),
                });
            }
            keep
        });
    }
}

#[derive(Debug, Default)]
struct Roles {
    /// By (role, instance).
    roles: BTreeMap<(String, String), Seen>,
    /// What Docencios counted since this Profesor started: what students
    /// asked and got.
    docencio: Totals,
}

/// `GET /estado`: la class ahora.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Estado {
    /// La cuenta de Profesor (la de `/preguntas`): desde que se creó su
    /// carpeta de datos, a lo largo de todas las clases.
    pub total: u64,
    /// De `total`, lo que contó este Profesor desde que arrancó.
    pub contadas_esta_ejecucion: u64,
    /// Cuándo arrancó este Profesor (ms desde la época Unix).
    pub inicio_ms: u64,
    /// Dónde guarda Profesor la cuenta (SQLite en un archivo, o PostgreSQL
    /// en HOST:PUERTO/BASE).
    pub almacen: String,
    /// Preguntas que los estudiantes hicieron a Docencio, por tipo, desde
    /// que arrancó este Profesor (o el rol, si arrancó después).
    pub preguntas: PorTipo,
    /// De ellas, las que tuvieron una respuesta real, por tipo.
    pub respondidas: PorTipo,
    /// Respuestas `Error: ...` que recibieron los estudiantes, en el mismo lapso.
    pub errores: u64,
    /// Preguntas difíciles que respondió este Profesor (`GET /respuesta`).
    pub respuestas_profesor: u64,
    /// Cada rol que ha informado, y si sigue haciéndolo.
    pub roles: Vec<RolEstado>,
    /// Cuándo se tomó esto (ms desde la época Unix), para calcular ritmos.
    pub momento_ms: u64,
    /// Por qué este Profesor no está protegido, si no lo está (por ejemplo,
    /// accesible desde la red sin token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertencia: Option<String>,
}

/// Un rol en `Estado`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RolEstado {
    /// `tareo` o `docencio`.
    pub rol: String,
    /// Dónde escucha.
    pub instancia: String,
    /// La máquina donde corre, según dice el rol ("" si no lo dice).
    pub maquina: String,
    /// La dirección IP desde la que llegó su último informe (la de su
    /// máquina, o la de un proxy entre ambos).
    pub desde: String,
    /// Informó en los últimos 3 s.
    pub activo: bool,
    /// Desde su último informe.
    pub visto_hace_ms: u64,
    /// Clientes conectados (0 si no está activo).
    pub conexiones: u64,
    /// Hasta 50 de ellos.
    pub clientes: Vec<String>,
    /// Preguntas respondiéndose ahora.
    pub en_vuelo: u64,
    /// Desde que arrancó el rol.
    pub preguntas: PorTipo,
    /// Desde que arrancó el rol.
    pub respondidas: PorTipo,
    /// Desde que arrancó el rol.
    pub errores: u64,
    /// Desde que arrancó el rol.
    pub reconexiones: u64,
}

impl ClassState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Roles> {
        // Every update is complete before the lock is released.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a role's informe, adding what it counted to the totals and metrics.
    /// `from` is the address the informe came from, shown as where the
    /// role runs.
    pub fn receive(
        &self,
        mut informe: Informe,
        from: Option<IpAddr>,
        metrics: &Metrics,
    ) -> Result<(), InformeError> {
        if [&informe.instancia, &informe.ejecucion, &informe.maquina]
            .iter()
            .any(|name| name.len() > MAX_NAME_LEN)
        {
            return Err(InformeError::NameTooLong);
        }
        // Kept and served again on every `/estado`: no more than a role sends.
        informe
            .clientes
            .retain(|client| client.len() <= MAX_NAME_LEN);
        informe.clientes.truncate(CLIENTS_LISTED);
        informe.nombres.retain(|name| name.len() <= MAX_NAME_LEN);
        informe.nombres.truncate(crate::api::NAMES_LISTED);
        if !matches!(informe.rol.as_str(), "tareo" | "docencio") {
            return Err(InformeError::UnknownRole(informe.rol));
        }
        let mut state = self.lock();
        let key = (informe.rol.clone(), informe.instancia.clone());
        state.forget_silent(metrics, FORGOTTEN_AFTER);
        if !state.roles.contains_key(&key) && state.roles.len() >= MAX_ROLES {
            // Full: a role that went silent gives its place to a live one.
            state.forget_silent(metrics, SILENT_AFTER);
            if state.roles.len() >= MAX_ROLES {
                return Err(InformeError::TooManyRoles);
            }
        }
        // The same run: what it added since; a new run: all it carries.
        let same_run = state
            .roles
            .get(&key)
            .map(|seen| &seen.informe)
            .filter(|before| before.ejecucion == informe.ejecucion);
        // A role already running when this Profesor started: what it
        // counted before is not this run's; its first informe is where its
        // counting starts here.
        let started_before_us = !state.roles.contains_key(&key)
            && informe.inicio_ms != 0
            && informe.inicio_ms < millis_since_epoch(self.started);
        let (asked, answered, errors, reconnects) = match same_run {
            None if started_before_us => (PorTipo::default(), PorTipo::default(), 0, 0),
            Some(before) => (
                informe.preguntas.since(&before.preguntas),
                informe.respondidas.since(&before.respondidas),
                informe.errores.saturating_sub(before.errores),
                informe.reconexiones.saturating_sub(before.reconexiones),
            ),
            None => (
                informe.preguntas,
                informe.respondidas,
                informe.errores,
                informe.reconexiones,
            ),
        };
        let labels = RoleLabels {
            rol: informe.rol.clone(),
            instancia: informe.instancia.clone(),
        };
        metrics.role_progress(&labels, &asked, &answered, errors, reconnects);
        metrics.role_now(&labels, true, informe.conexiones, informe.en_vuelo);
        if informe.rol == "docencio" {
            state.docencio.asked.add(&asked);
            state.docencio.answered.add(&answered);
            state.docencio.errors = state.docencio.errors.saturating_add(errors);
        }
        state.roles.insert(
            key,
            Seen {
                informe,
                from,
                at: Instant::now(),
            },
        );
        Ok(())
    }

    /// Who is in the sala now, by name in lower case, with the Docencio
    /// (its `instancia`) where each one is.
    pub fn who_is_where(&self) -> std::collections::HashMap<String, String> {
        let state = self.lock();
        let mut found = std::collections::HashMap::new();
        for seen in state.roles.values() {
            if seen.at.elapsed() >= SILENT_AFTER {
                continue;
            }
            for name in &seen.informe.nombres {
                found.insert(name.to_lowercase(), seen.informe.instancia.clone());
            }
        }
        found
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

    /// The class now, with Profesor's `total` (since the data folder was
    /// created), what it `counted` since it started, and its hard answers
    /// given.
    pub fn estado(&self, total: u64, counted: u64, respuestas_profesor: u64) -> Estado {
        let state = self.lock();
        let roles = state
            .roles
            .values()
            .map(|seen| {
                let activo = seen.at.elapsed() < SILENT_AFTER;
                let informe = &seen.informe;
                RolEstado {
                    rol: informe.rol.clone(),
                    instancia: informe.instancia.clone(),
                    maquina: informe.maquina.clone(),
                    desde: seen.from.map(|ip| ip.to_string()).unwrap_or_default(),
                    activo,
                    visto_hace_ms: u64::try_from(seen.at.elapsed().as_millis()).unwrap_or(u64::MAX),
                    conexiones: if activo { informe.conexiones } else { 0 },
                    clientes: if activo {
                        informe.clientes.clone()
                    } else {
                        Vec::new()
                    },
                    en_vuelo: if activo { informe.en_vuelo } else { 0 },
                    preguntas: informe.preguntas,
                    respondidas: informe.respondidas,
                    errores: informe.errores,
                    reconexiones: informe.reconexiones,
                }
            })
            .collect();
        Estado {
            total,
            contadas_esta_ejecucion: counted,
            inicio_ms: millis_since_epoch(self.started),
            almacen: String::new(),
            preguntas: state.docencio.asked,
            respondidas: state.docencio.answered,
            errores: state.docencio.errors,
            respuestas_profesor,
            roles,
            momento_ms: millis_since_epoch(SystemTime::now()),
            advertencia: self.warning.clone(),
        }
    }

    /// `GET /reporte.csv`: questions asked and answered per type since this
    /// Profesor started (from the Docencios' informes), then what Profesor
    /// counted in this run, and its total since the data folder was created.
    pub fn csv(&self, total: u64, counted: u64) -> Result<Vec<u8>, csv::Error> {
        let state = self.lock();
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(["tipo", "preguntadas", "respondidas"])?;
        let asked = state.docencio.asked.entries();
        let answered = state.docencio.answered.entries();
        for ((tipo, asked), (_, answered)) in asked.iter().zip(answered.iter()) {
            writer.write_record([tipo.to_string(), asked.to_string(), answered.to_string()])?;
        }
        writer.write_record([
            "contadas por Profesor en esta ejecución".to_owned(),
            String::new(),
            counted.to_string(),
        ])?;
        writer.write_record([
            "contadas por Profesor desde que se creó la carpeta de datos".to_owned(),
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

    fn report(run: &str, tarea: u64, errores: u64) -> Informe {
        Informe {
            rol: "docencio".into(),
            instancia: "127.0.0.1:4446".into(),
            maquina: "aula-1".into(),
            ejecucion: run.into(),
            inicio_ms: 0,
            conexiones: 2,
            clientes: vec!["127.0.0.1:5000".into()],
            nombres: vec![],
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
        let class = ClassState::default();
        let metrics = Metrics::new();
        class.receive(report("a", 10, 1), None, &metrics).unwrap();
        class.receive(report("a", 10, 1), None, &metrics).unwrap();
        class.receive(report("a", 15, 1), None, &metrics).unwrap();
        // Restarted: its counters began again from 0.
        class.receive(report("b", 4, 0), None, &metrics).unwrap();
        let estado = class.estado(107, 7, 0);
        assert_eq!(estado.preguntas.tarea, 19);
        assert_eq!(estado.respondidas.tarea, 18);
        assert_eq!(estado.errores, 1);
        assert_eq!(estado.roles.len(), 1);
        assert!(estado.roles[0].activo);
        assert_eq!((estado.total, estado.contadas_esta_ejecucion), (107, 7));
        let csv = String::from_utf8(class.csv(107, 7).unwrap()).unwrap();
        assert_eq!(
            csv,
            "tipo,preguntadas,respondidas\nContenido,0,0\nTarea,19,18\nPregunta Dificil,0,0\ncontadas por Profesor en esta ejecución,,7\ncontadas por Profesor desde que se creó la carpeta de datos,,107\n"
        );
    }

    #[test]
    fn a_role_running_before_profesor_counts_from_its_first_informe() {
        let class = ClassState::default();
        let metrics = Metrics::new();
        let mut early = report("a", 50, 0);
        early.inicio_ms = 1;
        class.receive(early.clone(), None, &metrics).unwrap();
        early.preguntas.tarea = 53;
        early.respondidas.tarea = 53;
        class.receive(early, None, &metrics).unwrap();
        // The same role restarted while this Profesor runs: all it carries.
        let mut restarted = report("b", 4, 0);
        restarted.inicio_ms = millis_since_epoch(SystemTime::now());
        class.receive(restarted, None, &metrics).unwrap();
        let estado = class.estado(0, 0, 0);
        assert_eq!(estado.preguntas.tarea, 3 + 4);
        assert_eq!(estado.respondidas.tarea, 3 + 4);
    }

    #[test]
    fn an_informe_listing_too_many_clients_is_cut_to_the_limit() {
        let class = ClassState::default();
        let mut crowded = report("a", 1, 0);
        crowded.clientes = (0..1000).map(|n| format!("127.0.0.1:{n}")).collect();
        class.receive(crowded, None, &Metrics::new()).unwrap();
        assert_eq!(
            class.estado(0, 0, 0).roles[0].clientes.len(),
            CLIENTS_LISTED
        );
    }

    #[test]
    fn long_names_are_refused_and_silent_roles_give_way_to_live_ones() {
        let class = ClassState::default();
        let metrics = Metrics::new();
        let mut long = report("a", 1, 0);
        long.instancia = "x".repeat(MAX_NAME_LEN + 1);
        assert!(matches!(
            class.receive(long, None, &metrics),
            Err(InformeError::NameTooLong)
        ));
        for n in 0..MAX_ROLES {
            let mut informe = report("a", 1, 0);
            informe.instancia = format!("127.0.0.1:{n}");
            class.receive(informe, None, &metrics).unwrap();
        }
        let mut one_more = report("a", 1, 0);
        one_more.instancia = "127.0.0.2:1".into();
        assert!(matches!(
            class.receive(one_more.clone(), None, &metrics),
            Err(InformeError::TooManyRoles)
        ));
        // Once the others are silent, the live one takes a place.
        for seen in class.lock().roles.values_mut() {
            seen.at -= SILENT_AFTER;
        }
        class.receive(one_more, None, &metrics).unwrap();
        assert_eq!(class.estado(0, 0, 0).roles.len(), 1);
        let text = metrics.render(0).unwrap();
        assert!(
            !text.contains("127.0.0.1:7\""),
            "forgotten roles leave /metrics"
        );
    }

    #[test]
    fn unknown_roles_are_refused() {
        let class = ClassState::default();
        let mut bad = report("a", 1, 0);
        bad.rol = "estudiante".into();
        assert!(class.receive(bad, None, &Metrics::new()).is_err());
    }

    #[test]
    fn each_instance_shows_its_machine_and_where_its_informe_came_from() {
        let class = ClassState::default();
        let from: IpAddr = "10.77.0.12".parse().unwrap();
        class
            .receive(report("a", 1, 0), Some(from), &Metrics::new())
            .unwrap();
        let estado = class.estado(0, 0, 0);
        assert_eq!(estado.roles[0].maquina, "aula-1");
        assert_eq!(estado.roles[0].desde, "10.77.0.12");
        let mut long = report("b", 1, 0);
        long.maquina = "m".repeat(MAX_NAME_LEN + 1);
        assert!(matches!(
            class.receive(long, None, &Metrics::new()),
            Err(InformeError::NameTooLong)
        ));
    }
}
