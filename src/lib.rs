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
//! - [`wire`]: the length-prefixed framing, the three questions, the exact
//!   texts and the `Error: ...` answers. Everything else builds on it.
//! - [`server`]: the accept loop and per-connection loop shared by the two TCP
//!   servers (limits, idle timeout, answers kept in order).
//! - One module per role: [`profesor`], [`tareo`], [`docencio`], [`estudiante`].
//!   Each exposes a `run` that takes an already-bound listener (or, for the
//!   student, an address) and a shutdown future, so tests start the real
//!   thing on port 0.
//! - [`config`] (command-line flags and defaults), [`telemetry`] (logging
//!   and question ids), [`stats`] (the counters each TCP role reports to
//!   Profesor, behind its `/metrics` and `/panel`),
//!   [`fd_limit`] (the open-files limit raised at start),
//!   [`shutdown`] (signals), [`retry`] (reconnect backoff).

pub mod config;
pub mod docencio;
pub mod estudiante;
pub mod fd_limit;
pub mod profesor;
pub mod retry;
pub mod server;
pub mod shutdown;
pub mod stats;
pub mod store;
pub mod tareo;
pub mod telemetry;
pub mod wire;

pub use wire::{Answer, Question, Refusal};
