//! aula's integration tests, as one binary (one link, one run): each file
//! below is the story of one part of the class, told against the real
//! roles, in-process on port 0 or as real processes; [`common`] starts
//! them and talks to them as their users do.
//!
//! `tests/recursos.rs` stays a binary of its own: it measures its own
//! process (tasks, memory, CPU), which no other test may share.

mod common;

mod almacen;
mod arranque;
mod binarios;
mod clase;
mod errores;
mod fallos;
mod interop;
mod material;
mod observar;
mod panel;
mod profesor;
mod replicas;
mod sala;
mod seguridad;
mod sesiones;
mod terminales;
mod varias_maquinas;
mod verificar;
