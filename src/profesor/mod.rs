//! Profesor: the HTTP JSON API (actix-web) that answers the hard questions
//! and keeps the count of answered questions, the class list, the
//! announcements and chat between Docencios, the material and hand-ins,
//! and (with `--sesiones`) execution sessions.
//!
//! Where to read, from the top down (a file imports only files below it):
//! - [`app`]: the shared state, the middleware in order and THE route
//!   table (each path and method once), then the server's run.
//! - [`openapi`]: `/openapi.json`, from the handlers' annotations.
//! - [`routes`]: the handlers, one file per resource.
//! - [`guard`]: who may talk to Profesor (`Host`), and who may change
//!   state (`Origin`, `--token`); [`request_ids`]: every request's id, log
//!   line and metrics.
//! - [`http`]: the one error type ([`http::ApiError`]) and the one place
//!   an error becomes JSON; how a JSON body is taken.
//! - [`class_state`] (the informes of Tareo and Docencio, `/estado`) and
//!   [`metrics`] (the Prometheus families).
//! - [`eventos`]: the event log every Docencio follows, shared through
//!   PostgreSQL when there is one.
//! - [`store`]: where the count and the class list are kept (SQLite or
//!   PostgreSQL), and [`carpetas`]: the material and hand-in folders.
//! - [`config`] and [`args`]: what a test or the command line sets.
//!
//! The JSON types and headers it shares with its clients are in
//! [`crate::api`]; the sandboxed sessions it offers, in [`crate::sesiones`].

pub mod app;
pub mod args;
pub mod carpetas;
pub mod class_state;
pub mod config;
pub mod eventos;
pub mod guard;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod request_ids;
pub mod routes;
pub mod store;

pub use app::{run, Error};
pub use args::Args;
pub use config::{Config, DEFAULT_DATA_DIR};
