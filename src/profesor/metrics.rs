//! Profesor's Prometheus metrics (`GET /metrics`), kept with the official
//! `prometheus-client` crate in a registry of this server (not a global, so
//! several Profesors in one test process stay apart).
//!
//! Profesor's own: HTTP requests and their latency by route, questions
//! counted (and the persisted count), hard answers given. The other roles'
//! (questions by type, errors, connections, questions in flight, link
//! reconnections) come from their informes (`POST /informes`, see
//! [`crate::role_counters`]), labelled by role and instance.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::api::PorTipo;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub metodo: String,
    /// The route's pattern (`/preguntas`), or `otra` for unknown paths, so
    /// that a scan of random paths cannot grow the label set.
    pub ruta: String,
    pub estado: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    metodo: String,
    ruta: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoleLabels {
    pub rol: String,
    pub instancia: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabels {
    rol: String,
    instancia: String,
    tipo: &'static str,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// 0.1 ms to about 3 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 16))
}

/// Adds `more` to a counter fed from the network, stopping at `u64::MAX`:
/// a counter that wrapped would go down. (Informes are taken one at a time,
/// under the class state's lock.)
fn add_saturating(counter: &Counter, more: u64) {
    counter.inc_by(more.min(u64::MAX - counter.get()));
}

/// Every metric Profesor serves.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_seconds: LatencyFamily,
    counted: Counter,
    total: Gauge,
    hard_answers: Counter,
    role_questions: Family<TypeLabels, Counter>,
    role_answered: Family<TypeLabels, Counter>,
    role_errors: Family<RoleLabels, Counter>,
    role_reconnects: Family<RoleLabels, Counter>,
    role_connections: Family<RoleLabels, Gauge>,
    role_in_flight: Family<RoleLabels, Gauge>,
    role_up: Family<RoleLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut metrics = Metrics {
            http_requests: Family::default(),
            http_seconds: LatencyFamily::new_with_constructor(latency_histogram),
            counted: Counter::default(),
            total: Gauge::default(),
            hard_answers: Counter::default(),
            role_questions: Family::default(),
            role_answered: Family::default(),
            role_errors: Family::default(),
            role_reconnects: Family::default(),
            role_connections: Family::default(),
            role_in_flight: Family::default(),
            role_up: Family::default(),
            registry: Registry::with_prefix("aula"),
        };
        metrics.registry.register(
            "http_peticiones",
            "Peticiones HTTP atendidas por Profesor, por método, ruta y estado",
            metrics.http_requests.clone(),
        );
        metrics.registry.register(
            "http_duracion_segundos",
            "Tiempo de respuesta de Profesor, por método y ruta",
            metrics.http_seconds.clone(),
        );
        metrics.registry.register(
            "profesor_preguntas_contadas",
            "Preguntas contadas por POST /preguntas desde que arrancó este Profesor (sin avisos repetidos)",
            metrics.counted.clone(),
        );
        metrics.registry.register(
            "profesor_total",
            "El conteo guardado de preguntas respondidas (lo que dice GET /preguntas)",
            metrics.total.clone(),
        );
        metrics.registry.register(
            "profesor_respuestas_dificiles",
            "Respuestas a preguntas difíciles dadas por GET /respuesta",
            metrics.hard_answers.clone(),
        );
        metrics.registry.register(
            "preguntas",
            "Preguntas recibidas por cada rol, por tipo (según sus informes)",
            metrics.role_questions.clone(),
        );
        metrics.registry.register(
            "respondidas",
            "Preguntas con respuesta real (no Error) de cada rol, por tipo (según sus informes)",
            metrics.role_answered.clone(),
        );
        metrics.registry.register(
            "errores",
            "Respuestas 'Error: ...' dadas por cada rol (según sus informes)",
            metrics.role_errors.clone(),
        );
        metrics.registry.register(
            "reconexiones",
            "Veces que un rol volvió a abrir su conexión con el siguiente (Docencio con Tareo)",
            metrics.role_reconnects.clone(),
        );
        metrics.registry.register(
            "conexiones",
            "Clientes conectados ahora a cada rol (estudiantes a Docencio, Docencios a Tareo)",
            metrics.role_connections.clone(),
        );
        metrics.registry.register(
            "en_vuelo",
            "Preguntas que cada rol está respondiendo ahora",
            metrics.role_in_flight.clone(),
        );
        metrics.registry.register(
            "rol_activo",
            "1 si el rol informó hace menos de 3 s, 0 si dejó de informar",
            metrics.role_up.clone(),
        );
        metrics
    }

    pub fn request(&self, labels: &HttpLabels, took: Duration) {
        self.http_requests.get_or_create(labels).inc();
        self.http_seconds
            .get_or_create(&RouteLabels {
                metodo: labels.metodo.clone(),
                ruta: labels.ruta.clone(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn counted(&self, cantidad: u64) {
        self.counted.inc_by(cantidad);
    }

    /// Answers this Profesor counted since it started.
    pub fn counted_so_far(&self) -> u64 {
        self.counted.get()
    }

    pub fn hard_answer(&self) {
        self.hard_answers.inc();
    }

    /// Hard answers given since this Profesor started.
    pub fn hard_answers(&self) -> u64 {
        self.hard_answers.get()
    }

    /// Adds what a role counted since its previous report.
    pub fn role_progress(
        &self,
        role: &RoleLabels,
        asked: &PorTipo,
        answered: &PorTipo,
        errors: u64,
        reconnects: u64,
    ) {
        for (family, by_type) in [
            (&self.role_questions, asked),
            (&self.role_answered, answered),
        ] {
            for (tipo, count) in by_type.entries() {
                let labels = TypeLabels {
                    rol: role.rol.clone(),
                    instancia: role.instancia.clone(),
                    tipo,
                };
                add_saturating(&family.get_or_create(&labels), count);
            }
        }
        add_saturating(&self.role_errors.get_or_create(role), errors);
        add_saturating(&self.role_reconnects.get_or_create(role), reconnects);
    }

    /// Removes every series of a role that is forgotten.
    pub fn forget_role(&self, role: &RoleLabels) {
        for tipo in ["Contenido", "Tarea", "Pregunta Dificil"] {
            let labels = TypeLabels {
                rol: role.rol.clone(),
                instancia: role.instancia.clone(),
                tipo,
            };
            self.role_questions.remove(&labels);
            self.role_answered.remove(&labels);
        }
        for family in [&self.role_connections, &self.role_in_flight, &self.role_up] {
            family.remove(role);
        }
        for family in [&self.role_errors, &self.role_reconnects] {
            family.remove(role);
        }
    }

    /// A role's gauges as of its last informe; all 0 for a role that went silent.
    pub fn role_now(&self, role: &RoleLabels, up: bool, connections: u64, in_flight: u64) {
        let (connections, in_flight) = if up { (connections, in_flight) } else { (0, 0) };
        self.role_up.get_or_create(role).set(i64::from(up));
        self.role_connections
            .get_or_create(role)
            .set(i64::try_from(connections).unwrap_or(i64::MAX));
        self.role_in_flight
            .get_or_create(role)
            .set(i64::try_from(in_flight).unwrap_or(i64::MAX));
    }

    /// The text exposition, with `total` as the persisted count.
    pub fn render(&self, total: u64) -> Result<String, std::fmt::Error> {
        self.total.set(i64::try_from(total).unwrap_or(i64::MAX));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}
