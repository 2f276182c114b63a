//! The cases of a Docencio: a TCP server for students that answers
//! `Contenido` itself and passes the rest to Tareo.

use super::caso::Reporte;
use super::comunes::{
    answer_is, error_and_concurrency_sections, many_on_one_connection, or_peer_error, oversized,
    partial_frame, pipelined, slow_clients_section, Check,
};
use super::sonda::{show, Destino};
use crate::wire::texts::{is_known_answer, CONTENIDO_ANSWER, RELAYED_PREFIX};

fn contenido(answer: &[u8]) -> Result<Option<String>, String> {
    if answer == CONTENIDO_ANSWER.as_bytes() {
        Ok(None)
    } else if String::from_utf8_lossy(answer).trim() == CONTENIDO_ANSWER {
        Ok(Some(format!("espacios de más: \"{}\"", show(answer))))
    } else {
        Err(format!("{CONTENIDO_ANSWER:?}"))
    }
}

/// `Respuesta del Tareo o Profesor: <una de las cuatro>`, the answer
/// de-framed (the notebook left Tareo's length bytes inside).
fn relayed(answer: &[u8]) -> Result<Option<String>, String> {
    let expected =
        format!("{RELAYED_PREFIX:?} y una de las cuatro respuestas, sin bytes de longitud dentro");
    let Ok(text) = std::str::from_utf8(answer) else {
        return Err(expected);
    };
    match text.strip_prefix(RELAYED_PREFIX) {
        Some(rest) if is_known_answer(rest) => Ok(None),
        Some(rest) if is_known_answer(rest.trim()) => {
            Ok(Some(format!("espacios de más: \"{}\"", show(answer))))
        }
        _ => Err(expected),
    }
}

fn relayed_or_error(answer: &[u8]) -> Result<Option<String>, String> {
    or_peer_error(answer, relayed, "¿Tareo o Profesor no están?")
}

/// Section 2: one question each, its answer checked.
const QUESTIONS: [(&str, &str, &[u8], Check); 3] = [
    (
        "2.1",
        "contenido (minúsculas, espacios) se reconoce",
        b"  contenido ",
        contenido,
    ),
    (
        "2.2",
        "Tarea: la respuesta de Tareo, envuelta y sin bytes de longitud",
        b"Tarea",
        relayed,
    ),
    (
        "2.3",
        "Pregunta Dificil: la de Profesor, envuelta",
        b"Pregunta Dificil",
        relayed_or_error,
    ),
];

/// Every case for the Docencio at `addr`.
pub async fn casos(addr: &Destino) -> Reporte {
    let mut informe = Reporte::new("docencio", &addr.addr);
    let framing = "1 marco";
    let exact = "Contenido: una respuesta enmarcada, el texto exacto";
    let partial = "una pregunta que llega de a 2 bytes";
    let huge = "longitud declarada enorme: error y cierre";
    informe
        .run(
            "1.1",
            framing,
            exact,
            answer_is(addr, b"Contenido", contenido),
        )
        .await;
    informe
        .run(
            "1.2",
            framing,
            partial,
            partial_frame(addr, b"Contenido", contenido),
        )
        .await;
    informe.run("1.3", framing, huge, oversized(addr)).await;
    for (id, nombre, question, check) in QUESTIONS {
        informe
            .run(
                id,
                "2 preguntas y textos",
                nombre,
                answer_is(addr, question, check),
            )
            .await;
    }
    let order = "3 orden";
    let contenido_check: Check = contenido;
    let relayed_check: Check = relayed;
    informe
        .run(
            "3.1",
            order,
            "cinco preguntas en una escritura: respuestas en orden",
            pipelined(
                addr,
                &[
                    (b"Tarea", relayed_check),
                    (b"Contenido", contenido_check),
                    (b"Tarea", relayed_check),
                    (b"Contenido", contenido_check),
                    (b"Tarea", relayed_check),
                ],
            ),
        )
        .await;
    informe
        .run(
            "3.2",
            order,
            "150 Contenido seguidas en una conexión: 150 respuestas",
            many_on_one_connection(addr, b"Contenido", 150, contenido_check),
        )
        .await;
    error_and_concurrency_sections(&mut informe, addr, b"Tarea", relayed, "estudiantes").await;
    // Contenido, not Tarea: thousands of questions a Docencio answers
    // itself, nothing forwarded nor counted at Profesor.
    slow_clients_section(&mut informe, addr, b"Contenido", contenido).await;
    super::sala::sections(&mut informe, addr).await;
    informe
}
