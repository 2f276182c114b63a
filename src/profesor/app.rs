//! Profesor assembled: its shared state, its middleware in order, and THE
//! route table (every path and method once; the 404 names them from it),
//! then the server run until shutdown.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer, ResponseError};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::carpetas::{self, Carpetas};
use super::class_state::ClassState;
use super::config::Config;
use super::eventos::{self, EventLog, PostgresEvents};
use super::guard::{self, Guard};
use super::http::{self, json_body, ApiError};
use super::metrics::Metrics;
use super::openapi;
use super::request_ids;
use super::routes::sesiones::Oferta;
use super::routes::{anuncios, clase, cuaderno, estudiantes, material, sala, sesiones};
use super::store::{CountStore, Store, StoreError};
use crate::api::{MAX_BODY_BYTES, MAX_INFORME_BYTES};
use crate::sesiones::{Sesiones, MAX_LINE};
use crate::wire::texts::LISTENING;

/// Why Profesor could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("el servidor HTTP se detuvo solo: {0}")]
    ServerDied(String),
}

/// Declares the route table once: each path, how it takes a body (where
/// it does), and each method with its handler. From it come the service
/// configuration ([`routes`]), a JSON 405 naming the methods a path takes,
/// and [`PATHS`], which the 404 names.
macro_rules! route_table {
    ($( $path:literal $([$config:expr])? => { $( $method:ident $handler:path ),+ $(,)? } )+) => {
        /// Every path Profesor answers, in the table's order.
        pub const PATHS: &[&str] = &[$($path),+];

        /// Every path with the methods it takes (`"GET, POST"`).
        pub const METHODS: &[(&str, &str)] = &[
            $( ($path, allowed(concat!($(stringify!($method), ", "),+))) ),+
        ];

        /// Registers every row of the table.
        fn routes(cfg: &mut web::ServiceConfig) {
            $(
                let allow = allowed(concat!($(stringify!($method), ", "),+));
                cfg.service(
                    web::resource($path)
                        $( .app_data($config) )?
                        $( .route(web::method(Method::$method).to($handler)) )+
                        .default_service(web::to(move || http::method_not_allowed(allow))),
                );
            )+
        }
    };
}

/// `"GET, POST, "` as the `Allow` header says it: `"GET, POST"`.
const fn allowed(methods: &'static str) -> &'static str {
    let (kept, _) = methods.as_bytes().split_at(methods.len() - 2);
    match std::str::from_utf8(kept) {
        Ok(kept) => kept,
        Err(_) => methods,
    }
}

route_table! {
    "/" => { GET cuaderno::saludo }
    "/respuesta" => { GET cuaderno::respuesta }
    "/preguntas" => { GET cuaderno::read_count, POST cuaderno::count_answers }
    "/salud" => { GET cuaderno::salud }
    "/panel" => { GET clase::panel }
    "/estado" => { GET clase::estado }
    "/metrics" => { GET clase::metricas }
    "/reporte.csv" => { GET clase::reporte }
    "/informes" [json_body(MAX_INFORME_BYTES, "un informe")] => { POST clase::informes }
    "/openapi.json" => { GET openapi::openapi }
    "/anuncios" [json_body(16 * 1024, "un anuncio")] => {
        GET anuncios::list,
        POST anuncios::post,
    }
    "/eventos" => { GET super::routes::eventos::eventos }
    "/sala/chat" [json_body(256 * 1024, "un envío de chat")] => { POST sala::chat }
    "/estudiantes" [json_body(4 * 1024, "un estudiante")] => {
        GET estudiantes::list,
        POST estudiantes::create,
    }
    "/estudiantes/{nombre}" [json_body(4 * 1024, "un estudiante")] => {
        GET estudiantes::get,
        PUT estudiantes::put,
        DELETE estudiantes::delete,
    }
    "/material" => { GET material::list, POST material::upload }
    "/material/{nombre}/enviar" => { POST material::send_to_everyone }
    "/material/{nombre}" => {
        GET material::download,
        HEAD material::download,
        DELETE material::remove,
    }
    "/entregas" => { GET material::list_entregas }
    "/entregas/{estudiante}/{nombre}" => {
        GET material::download_entrega,
        HEAD material::download_entrega,
        PUT material::hand_in,
    }
    "/api/start" [web::PayloadConfig::new(2 * MAX_LINE)] => { POST sesiones::start }
    "/api/write" [web::PayloadConfig::new(2 * MAX_LINE)] => { POST sesiones::write }
    "/api/stop" [web::PayloadConfig::new(2 * MAX_LINE)] => { POST sesiones::stop }
    "/api/read" => { GET sesiones::read }
    "/api/sesiones" => { GET sesiones::list }
}

/// Every other path: a JSON 404 that names the ones there are.
async fn not_found(request: HttpRequest) -> HttpResponse {
    ApiError::NotFound(format!(
        "no existe la ruta {} (rutas: {})",
        request.path(),
        PATHS.join(", ")
    ))
    .error_response()
}

/// What every worker shares: one of each, made once at start.
#[derive(Clone)]
struct Shared {
    store: web::Data<Store>,
    events: web::Data<EventLog>,
    followers: web::Data<super::routes::eventos::Followers>,
    carpetas: web::Data<Carpetas>,
    oferta: web::Data<Oferta>,
    metrics: web::Data<Metrics>,
    class_state: web::Data<ClassState>,
    guard: web::Data<Guard>,
}

/// The whole application: state, middleware (the guard first, then JSON
/// for every error, then, outermost, request ids and metrics, which see
/// the final status) and the route table.
fn app(
    shared: Shared,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(shared.store)
        .app_data(shared.events)
        .app_data(shared.followers)
        .app_data(shared.carpetas)
        .app_data(shared.oferta)
        .app_data(shared.metrics)
        .app_data(shared.class_state)
        .app_data(shared.guard)
        .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .wrap(from_fn(guard::guard))
        .wrap(http::json_errors())
        .wrap(from_fn(request_ids::track_requests))
        .configure(routes)
        .default_service(web::to(not_found))
}

/// Serves the API on `listener` until `shutdown` resolves, then stops
/// accepting, lets requests in progress finish (up to 5 s) and returns.
/// If the HTTP server stops on its own first, that is an error.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let store = Store::open(config.database_url.as_deref(), &config.data_dir).await?;
    info!("El conteo se guarda en {}", store.describe());
    let carpetas = open_folders(&config)?;
    let sessions_stop = CancellationToken::new();
    let _sessions_stop_guard = sessions_stop.clone().drop_guard();
    let sesiones = match &config.sesiones {
        Some(sesiones) => Some(Sesiones::start(sesiones.clone(), sessions_stop.clone()).await),
        None => None,
    };
    let local = listener.local_addr()?;
    let guard = Guard::new(config.token.clone(), &config.allowed_hosts);
    warn_if_empty_token(config.token.as_deref());
    let exposed = exposure_warning(local, guard.has_token());
    if let Some(warning) = &exposed {
        warn!("{warning}");
    }
    let streams_stop = CancellationToken::new();
    // Whatever way `run` ends, the event stream tasks end with it.
    let _streams_stop_guard = streams_stop.clone().drop_guard();
    let events = start_events(&store, &streams_stop).await?;
    let shared = Shared {
        store: web::Data::new(store),
        events,
        followers: web::Data::new(Default::default()),
        carpetas: web::Data::new(carpetas),
        oferta: web::Data::new(Oferta(sesiones.clone())),
        metrics: web::Data::new(Metrics::new()),
        class_state: web::Data::new(ClassState::new(exposed)),
        guard: web::Data::new(guard),
    };
    let server = HttpServer::new(move || app(shared.clone()))
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
    if let Some(sesiones) = &sesiones {
        sesiones.end_all().await;
    }
    handle.stop(true).await;
    match running.await {
        Ok(result) => Ok(result?),
        Err(err) => Err(Error::ServerDied(err.to_string())),
    }
}

/// The material and hand-in folders, said in the log.
fn open_folders(config: &Config) -> Result<Carpetas, Error> {
    let material_dir = config
        .material_dir
        .clone()
        .unwrap_or_else(|| carpetas::default_material_dir(&config.data_dir));
    let carpetas = Carpetas::open(&material_dir, &config.data_dir)?;
    info!(
        "El material está en {}; las entregas en {}",
        carpetas.material.path().display(),
        carpetas.entregas.path().display()
    );
    Ok(carpetas)
}

fn warn_if_empty_token(token: Option<&str>) {
    if token.is_some_and(|token| token.trim().is_empty()) {
        warn!("--token (AULA_TOKEN) está vacío: Profesor no pide token para cambiar la cuenta");
    }
}

/// The class's events: this Profesor's own, or with PostgreSQL those of
/// every Profesor on the database (restored, then followed until `stop`).
async fn start_events(
    store: &Store,
    stop: &CancellationToken,
) -> Result<web::Data<EventLog>, Error> {
    let Store::Postgres(postgres) = store else {
        return Ok(web::Data::new(EventLog::new(stop.clone())));
    };
    let (pool, config, target) = postgres.events_connection();
    let log: Arc<EventLog> =
        eventos::shared(PostgresEvents::new(pool, config, target), stop.clone()).await?;
    Ok(web::Data::from(log))
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

    #[test]
    fn the_allow_header_lists_the_methods_of_the_table() {
        assert_eq!(allowed("GET, "), "GET");
        let preguntas = METHODS.iter().find(|(path, _)| *path == "/preguntas");
        assert_eq!(preguntas, Some(&("/preguntas", "GET, POST")));
    }

    /// The OpenAPI document describes exactly the routes of the table,
    /// with the same methods (HEAD aside: it is GET's, undocumented).
    #[test]
    fn the_openapi_document_describes_the_route_table() {
        use utoipa::OpenApi;
        let document = serde_json::to_value(openapi::ApiDoc::openapi()).unwrap();
        let documented = document["paths"].as_object().unwrap();
        for (path, methods) in METHODS {
            let entry = documented
                .get(*path)
                .unwrap_or_else(|| panic!("{path} is not in the OpenAPI document"));
            for method in methods.split(", ").filter(|method| *method != "HEAD") {
                assert!(
                    entry.get(method.to_ascii_lowercase()).is_some(),
                    "{method} {path} is not in the OpenAPI document"
                );
            }
            let listed = entry.as_object().unwrap().len();
            let served = methods.split(", ").filter(|m| *m != "HEAD").count();
            assert_eq!(
                listed, served,
                "{path}: documented {entry}, served {methods}"
            );
        }
        assert_eq!(documented.len(), PATHS.len());
    }
}
