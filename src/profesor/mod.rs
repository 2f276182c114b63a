//! Profesor: the HTTP JSON API (actix-web) that answers the hard questions
//! and keeps the count of answered questions.
//!
//! Routes are in [`routes`] (the notebook's API) and `observe` (request
//! ids, `/metrics`, `/panel`, `/estado`, `/reporte.csv`, `/openapi.json`,
//! `/informes`); the count lives behind [`Contador`]; the other roles'
//! reports in [`Clase`]; [`client`] is how Tareo and Docencio call this API.

pub mod clase;
pub mod client;
mod contador;
pub mod metrics;
mod observe;
pub mod routes;

use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;

use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use tracing::info;

pub use clase::Clase;
pub use client::ProfesorClient;
pub use contador::{Contador, ContadorError, Suma, DATABASE_FILE};
pub use metrics::Metrics;
pub use observe::ApiDoc;

use crate::wire::texts::LISTENING;

/// Profesor's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the count is kept (created on first run).
    pub data_dir: PathBuf,
    /// actix-web worker threads; 2 matches the course machine's cores.
    pub workers: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from(crate::config::DEFAULT_DATA_DIR),
            workers: 2,
        }
    }
}

/// Serves the API on `listener` until `shutdown` resolves, then stops
/// accepting, lets requests in progress finish (up to 5 s) and returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let contador = web::Data::new(Contador::open(&config.data_dir)?);
    let metrics = web::Data::new(Metrics::new());
    let clase = web::Data::new(Clase::default());
    let local = listener.local_addr()?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(contador.clone())
            .app_data(metrics.clone())
            .app_data(clase.clone())
            .wrap(routes::json_errors())
            // Outermost: sees the final status, after JSON errors.
            .wrap(from_fn(observe::track_requests))
            .configure(routes::configure)
    })
    .workers(config.workers)
    // Signals are ours (one mechanism for all roles), not actix's.
    .disable_signals()
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    let handle = server.handle();
    let running = tokio::spawn(server);
    info!("{LISTENING} {local}");
    shutdown.await;
    info!("Profesor se detiene");
    handle.stop(true).await;
    running
        .await
        .map_err(|err| std::io::Error::other(format!("el servidor HTTP falló: {err}")))?
}
