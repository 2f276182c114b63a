//! Every text of the contract that a peer or a person compares byte for byte.

/// What Docencio answers to `Contenido` on its own.
pub const CONTENIDO_ANSWER: &str = "Docencio: respondiendo pregunta de contenido";

/// What Docencio puts before an answer it got from Tareo (or, through Tareo,
/// from Profesor).
pub const RELAYED_PREFIX: &str = "Respuesta del Tareo o Profesor: ";

/// How Profesor's announcements reach a student that never sent a
/// mensaje (the notebook's), as a plain text frame.
pub const ANNOUNCEMENT_PREFIX: &str = "Anuncio del Profesor: ";

/// Tareo's and Profesor's shared list of answers. The notebook's Tareo list
/// has a leading space on each; the contract fixes them without it.
pub const ANSWERS: [&str; 4] = [
    "No puedes usar esa libreria",
    "No es un problema de los tests",
    "Actualizamos los tests",
    "Puedes usar esa librería :D",
];

/// Every answer that is an error starts with this, so any client can tell.
pub const ERROR_PREFIX: &str = "Error: ";

/// The line every server logs once it accepts connections (the notebook's words).
pub const LISTENING: &str = "Servidor escuchando en";

/// Profesor's greeting on `GET /`.
pub const SALUDO: &str = "Bienvenido a la clase";

/// Profesor's count text, as the notebook writes it.
pub fn conteo_text(total: u64) -> String {
    format!("Llevamos: {total} preguntas respondidas")
}

/// True when `text` is one of the four answers, tolerating the notebook's
/// leading space.
pub fn is_known_answer(text: &str) -> bool {
    ANSWERS.contains(&text.trim())
}
