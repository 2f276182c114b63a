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
//! Where to start reading (a role never imports another role: what two
//! roles share lives in a module that is not a role, and no files import
//! each other in a circle):
//! - [`wire`]: the length-prefixed framing (one constructor for every
//!   framed socket), the three questions, the exact texts and the
//!   `Error: ...` answers, and the sala's mensajes, typed for both ends.
//!   Everything on TCP builds on it.
//! - [`api`]: Profesor's HTTP API as both sides see it (JSON bodies,
//!   headers, limits, the kinds of event on its stream) and the clients
//!   Tareo and Docencio call it with.
//! - [`archivos`]: the class's files below the roles that move them: the
//!   names accepted, a folder nothing outside can be reached from, the
//!   chunks over frames.
//! - [`server`]: the accept loop and the per-client connection shared by
//!   the two TCP servers (limits, idle timeout, answers kept in order); a
//!   role plugs in as a [`server::Responder`].
//! - [`sesiones`]: execution sessions in a sandbox (Linux), which
//!   Profesor offers over HTTP.
//! - One module per role, each with its own flags (`args`) and a `run`
//!   that takes an already-bound listener (or, for the student, an
//!   address) and a shutdown future, so tests start the real thing on
//!   port 0: [`profesor`], [`tareo`], [`docencio`], [`estudiante`].
//! - [`verificar`]: grading any program that plays a role (ours or a
//!   student's) against the contract; `estudiante verificar` runs it.
//! - Below the roles: [`role_counters`] (what Tareo and Docencio count and
//!   send to Profesor as informes), [`sqlite_file`] (how SQLite files are
//!   opened), [`process_table`] (the processes `/proc` shows), [`telemetry`]
//!   (logging, question ids, the per-question line allowance), [`cli`] (the
//!   Spanish `--help`), [`shutdown`] (signals), [`retry`] (backoff),
//!   [`fd_limit`] (the open-files limit raised at start), [`machine`] (this
//!   machine's name).
//!
//! `docs/codigo.md` is the same map, file by file, with the words the code
//! keeps in Spanish (the course's) and in English (the machinery's).

#![forbid(unsafe_code)]

pub mod api;
pub mod archivos;
pub mod cli;
pub mod docencio;
pub mod estudiante;
pub mod fd_limit;
pub mod machine;
pub mod process_table;
pub mod profesor;
pub mod retry;
pub mod role_counters;
pub mod server;
pub mod sesiones;
pub mod shutdown;
pub mod sqlite_file;
pub mod tareo;
pub mod telemetry;
pub mod verificar;
pub mod wire;

pub use wire::{Answer, Question, QuestionError};
