//! Profesor's handlers, one file per resource; which path and method each
//! answers is said once, in the route table ([`super::app`]).
//!
//! - [`cuaderno`]: the notebook's API (`/`, `/respuesta`, `/preguntas`)
//!   and `/salud`.
//! - [`clase`]: what shows the class (`/metrics`, `/estado`, `/panel`,
//!   `/reporte.csv`) and `/informes`, where the other roles send their
//!   counters.
//! - [`anuncios`], [`sala`] (the chat between Docencios) and [`eventos`]
//!   (the stream every Docencio follows).
//! - [`estudiantes`]: the class list.
//! - [`material`]: the course's files and the students' hand-ins.
//! - [`sesiones`]: the execution sessions (`/api/*`).

pub mod anuncios;
pub mod clase;
pub mod cuaderno;
pub mod estudiantes;
pub mod eventos;
pub mod material;
pub mod sala;
pub mod sesiones;
