//! The cases of a Tareo: a TCP server (for Docencio) that answers `Tarea`
//! itself and `Pregunta Dificil` from Profesor, and refuses `Contenido`.

use super::caso::Reporte;
use super::comunes::{
    answer_is, error_and_concurrency_sections, error_then_usable, is_error, many_on_one_connection,
    or_peer_error, oversized, partial_frame, pipelined, slow_clients_section, Check,
};
use super::sonda::{show, Destino};
use crate::wire::texts::is_known_answer;

fn one_of_four(answer: &[u8]) -> Result<Option<String>, String> {
    let expected = "una de las cuatro respuestas, exacta".to_owned();
    let Ok(text) = std::str::from_utf8(answer) else {
        return Err(expected);
    };
    if is_known_answer(text) {
        Ok(None)
    } else if is_known_answer(text.trim()) {
        Ok(Some(format!("espacios de más: \"{}\"", show(answer))))
    } else {
        Err(expected)
    }
}

fn one_of_four_or_error(answer: &[u8]) -> Result<Option<String>, String> {
    or_peer_error(answer, one_of_four, "¿Profesor no está?")
}

/// Every case for the Tareo at `addr`.
pub async fn casos(addr: &Destino) -> Reporte {
    let mut informe = Reporte::new("tareo", &addr.addr);
    let framing = "1 marco";
    informe
        .run(
            "1.1",
            framing,
            "Tarea: una respuesta enmarcada, una de las cuatro",
            answer_is(addr, b"Tarea", one_of_four),
        )
        .await;
    informe
        .run(
            "1.2",
            framing,
            "una pregunta que llega de a 2 bytes",
            partial_frame(addr, b"Tarea", one_of_four),
        )
        .await;
    informe
        .run(
            "1.3",
            framing,
            "longitud declarada enorme: error y cierre",
            oversized(addr),
        )
        .await;
    let questions = "2 preguntas y textos";
    informe
        .run(
            "2.1",
            questions,
            "Pregunta Dificil: la respuesta de Profesor",
            answer_is(addr, b"Pregunta Dificil", one_of_four_or_error),
        )
        .await;
    informe
        .run(
            "2.2",
            questions,
            "Contenido no es de Tareo: Error: (el cuaderno no responde nunca)",
            error_then_usable(addr, b"Contenido", b"Tarea", one_of_four),
        )
        .await;
    let order = "3 orden";
    let four: Check = one_of_four;
    let error: Check = is_error;
    informe
        .run(
            "3.1",
            order,
            "cuatro preguntas en una escritura: respuestas en orden",
            pipelined(
                addr,
                &[
                    (b"Tarea", four),
                    (b"Hola", error),
                    (b"Tarea", four),
                    (b"Hola", error),
                ],
            ),
        )
        .await;
    informe
        .run(
            "3.2",
            order,
            "150 Tarea seguidas en una conexión: 150 respuestas",
            many_on_one_connection(addr, b"Tarea", 150, four),
        )
        .await;
    error_and_concurrency_sections(&mut informe, addr, b"Tarea", one_of_four, "conexiones").await;
    slow_clients_section(&mut informe, addr, b"Tarea", one_of_four).await;
    informe
}
