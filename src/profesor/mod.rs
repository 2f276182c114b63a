//! Profesor: the HTTP JSON API (actix-web) that answers the hard questions
//! and keeps the count of answered questions.
//!
//! - [`routes`]: the notebook's API (`/`, `/respuesta`, `/preguntas`) and
//!   `/salud`, and how every error becomes JSON.
//! - [`class_routes`]: what shows the class (`/metrics`, `/estado`,
//!   `/panel`, `/reporte.csv`) and `/informes`, where the other roles send
//!   their counters; [`class_state`] keeps those, [`metrics`] the
//!   Prometheus families.
//! - [`eventos`]: the event stream (`/eventos`) every Docencio follows to
//!   push to its students what it did not see itself: [`anuncios`]
//!   (`/anuncios`) and the chat of other Docencios ([`sala_routes`]);
//!   with PostgreSQL, shared by every Profesor on it ([`postgres_events`]).
//! - [`material`]: the course's files (`/material`) and the students'
//!   hand-ins (`/entregas`), in Profesor's folders.
//! - [`sesiones`]: execution sessions (`/api/*`), sandboxed, off unless
//!   `--sesiones`.
//! - [`guard`]: who may talk to Profesor (`Host`), and who may change the
//!   count (`Origin`, `--token`).
//! - [`request_ids`]: every request's id, log line and metrics.
//! - [`openapi`]: the `/openapi.json` document.
//! - [`count_store`]: where the count is kept: SQLite under the data folder
//!   ([`sqlite_count`]) or PostgreSQL ([`postgres_count`]).
//!
//! The JSON types and headers it shares with its clients are in
//! [`crate::api`].

pub mod anuncios;
pub mod args;
pub mod class_routes;
pub mod class_state;
pub mod count_store;
pub mod eventos;
pub mod guard;
pub mod material;
pub mod metrics;
pub mod openapi;
pub mod postgres_count;
pub mod postgres_events;
pub mod request_ids;
pub mod roster;
pub mod routes;
pub mod sala_routes;
pub mod sesiones;
pub mod sqlite_count;

use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;

use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use tracing::{info, warn};

pub use args::Args;
pub use class_state::ClassState;
pub use count_store::{AnswerCount, CountError, CountStore, Counted};
pub use guard::Guard;
pub use metrics::Metrics;
pub use openapi::ApiDoc;
pub use postgres_count::PostgresCount;
pub use sqlite_count::{SqliteCount, DATABASE_FILE};

use crate::wire::texts::LISTENING;

/// Where the count is kept when no folder is given.
pub const DEFAULT_DATA_DIR: &str = "./aula-datos";

/// Why Profesor could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Count(#[from] CountError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("el servidor HTTP se detuvo solo: {0}")]
    ServerDied(String),
}

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
    pub sesiones: Option<sesiones::SesionesConfig>,
    /// Asked of every request that changes state (see [`guard`]).
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

/// Serves the API on `listener` until `shutdown` resolves, then stops
/// accepting, lets requests in progress finish (up to 5 s) and returns.
/// If the HTTP server stops on its own first, that is an error.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let count = match &config.database_url {
        Some(url) => AnswerCount::Postgres(PostgresCount::connect(url).await?),
        None => AnswerCount::Sqlite(SqliteCount::open(&config.data_dir)?),
    };
    info!("El conteo se guarda en {}", count.describe());
    let material_dir = config
        .material_dir
        .clone()
        .unwrap_or_else(|| material::default_material_dir(&config.data_dir));
    let material = web::Data::new(material::Material::open(&material_dir, &config.data_dir)?);
    info!(
        "El material está en {}; las entregas en {}",
        material.material.path().display(),
        material.entregas.path().display()
    );
    let sessions_stop = tokio_util::sync::CancellationToken::new();
    let _sessions_stop_guard = sessions_stop.clone().drop_guard();
    let oferta = web::Data::new(sesiones::routes::Oferta(match &config.sesiones {
        Some(sesiones_config) => {
            Some(sesiones::Sesiones::start(sesiones_config.clone(), sessions_stop.clone()).await)
        }
        None => None,
    }));
    let sessions_at_stop = oferta.0.clone();
    let count = web::Data::new(count);
    let metrics = web::Data::new(Metrics::new());
    let local = listener.local_addr()?;
    if config
        .token
        .as_deref()
        .is_some_and(|token| token.trim().is_empty())
    {
        warn!("--token (AULA_TOKEN) está vacío: Profesor no pide token para cambiar la cuenta");
    }
    let guard = web::Data::new(Guard::new(config.token.clone(), &config.allowed_hosts));
    let exposed = exposure_warning(local, guard.has_token());
    if let Some(warning) = &exposed {
        warn!("{warning}");
    }
    let class_state = web::Data::new(ClassState::new(exposed));
    let streams_stop = tokio_util::sync::CancellationToken::new();
    // Whatever way `run` ends, the event stream tasks end with it.
    let _streams_stop_guard = streams_stop.clone().drop_guard();
    let events = start_events(&count, &streams_stop).await?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(events.clone())
            .app_data(material.clone())
            .app_data(oferta.clone())
            .app_data(count.clone())
            .app_data(metrics.clone())
            .app_data(class_state.clone())
            .app_data(guard.clone())
            .wrap(from_fn(guard::guard))
            .wrap(routes::json_errors())
            // Outermost: sees the final status, after JSON errors.
            .wrap(from_fn(request_ids::track_requests))
            .configure(routes::configure)
    })
    .workers(config.workers)
    // Signals are ours (one mechanism for all roles), not actix's.
    .disable_signals()
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    let handle = server.handle();
    let mut running = tokio::spawn(server);
    info!("{LISTENING} {local}");
    tokio::select! {
        () = shutdown => {}
        ended = &mut running => {
            let why = match ended {
                Ok(Ok(())) => "terminó sin que nadie lo pidiera".to_owned(),
                Ok(Err(err)) => err.to_string(),
                Err(err) => err.to_string(),
            };
            return Err(Error::ServerDied(why));
        }
    }
    info!("Profesor se detiene");
    // The event streams never end by themselves: end them, or the graceful
    // stop would wait its whole timeout for them.
    streams_stop.cancel();
    if let Some(sesiones) = &sessions_at_stop {
        sesiones.end_all().await;
    }
    handle.stop(true).await;
    match running.await {
        Ok(result) => Ok(result?),
        Err(err) => Err(Error::ServerDied(err.to_string())),
    }
}

/// The class's events: this Profesor's own, or with PostgreSQL those of
/// every Profesor on the database (restored, then followed until `stop`).
async fn start_events(
    count: &AnswerCount,
    stop: &tokio_util::sync::CancellationToken,
) -> Result<web::Data<eventos::EventLog>, Error> {
    let AnswerCount::Postgres(postgres) = count else {
        return Ok(web::Data::new(eventos::EventLog::new(stop.clone())));
    };
    let shared = postgres.events();
    let events = std::sync::Arc::new(eventos::EventLog::with_store(
        stop.clone(),
        Some(shared.clone()),
    ));
    shared.restore(&events).await?;
    tokio::spawn(shared.follow(events.clone(), stop.clone()));
    Ok(web::Data::from(events))
}

/// What Profesor says at start, and on its panel, when anyone on the
/// network could change the count: bound beyond loopback without a token.
fn exposure_warning(local: std::net::SocketAddr, has_token: bool) -> Option<String> {
    (!local.ip().is_loopback() && !has_token).then(|| {
        format!(
            "Profesor escucha en {local}, accesible desde la red, sin --token: cualquiera que llegue a ese puerto puede cambiar la cuenta; dale --token (AULA_TOKEN) a profesor, tareo y docencio"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profesor_reachable_from_the_network_without_a_token_says_so() {
        let lan: std::net::SocketAddr = "0.0.0.0:4444".parse().unwrap();
        let loopback: std::net::SocketAddr = "127.0.0.1:4444".parse().unwrap();
        let warning = exposure_warning(lan, false).unwrap();
        assert!(warning.contains("sin --token"), "{warning}");
        assert_eq!(exposure_warning(lan, true), None);
        assert_eq!(exposure_warning(loopback, false), None);
        let estado = ClassState::new(Some(warning.clone())).estado(0, 0, 0);
        assert_eq!(estado.advertencia, Some(warning));
    }
}
