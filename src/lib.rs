//! # aula
//!
//! The classroom of the networking course, in Rust: four roles that talk over
//! TCP and HTTP exactly as `CONTRACT.md` (summarised in `docs/protocolo.md`)
//! says, so that each one can be swapped for the notebook's Python program.
//!
//! ```text
//! Estudiante --TCP--> Docencio --TCP--> Tareo --HTTP GET /respuesta--> Profesor
//!                        \------------HTTP POST /preguntas-----------> Profesor
//! ```
//!
//! Where to start reading:
//! - [`wire`]: the length-prefixed framing (one constructor for every
//!   framed socket), the three questions, the exact texts and the
//!   `Error: ...` answers. Everything on TCP builds on it.
//! - [`api`]: Profesor's HTTP API as both sides see it (JSON bodies,
//!   headers, limits) and the client Tareo and Docencio call it with.
//! - [`server`]: the accept loop and the per-client connection shared by
//!   the two TCP servers (limits, idle timeout, answers kept in order); a
//!   role plugs in as a [`server::Responder`].
//! - One module per role, each with its own flags (`args`) and a `run`
//!   that takes an already-bound listener (or, for the student, an
//!   address) and a shutdown future, so tests start the real thing on
//!   port 0: [`profesor`], [`tareo`], [`docencio`], [`estudiante`]. A role
//!   never imports another role.
//! - Below the roles: [`role_counters`] (what Tareo and Docencio count and
//!   send to Profesor as informes), [`store`] (how SQLite files are
//!   opened), [`telemetry`] (logging, question ids, the per-question line
//!   allowance), [`cli`] (the Spanish `--help`), [`shutdown`] (signals),
//!   [`retry`] (backoff), [`fd_limit`] (the open-files limit raised at
//!   start), [`machine`] (this machine's name).

#![forbid(unsafe_code)]

pub mod api;
pub mod archivos;
pub mod cli;
pub mod docencio;
pub mod estudiante;
pub mod fd_limit;
pub mod machine;
pub mod profesor;
pub mod retry;
pub mod role_counters;
pub mod server;
pub mod shutdown;
pub mod store;
pub mod tareo;
pub mod telemetry;
pub mod verificar;
pub mod wire;

pub use wire::{Answer, Question, Refusal};
