//! The cases of la sala and the material on a Docencio's student port,
//! when it offers them (the notebook's Docencio does not: those cases are
//! "no aplica" there): mensajes as JSON frames, answered in order with the
//! questions, chat pushed to the others, `quien`, the list of material and
//! a name that tries to leave the folder.

use std::time::Duration;

use serde_json::Value;

use super::caso::{Reporte, Veredicto};
use super::sonda::{frame, show, Destino, Sonda};
use crate::wire::mensaje::{EstadoRespuesta, Mensaje, Nombre, Pedido, TextoChat};
use crate::wire::texts::CONTENIDO_ANSWER;

/// How long a chat line may take to reach the other student.
const PUSH_WAIT: Duration = Duration::from_secs(3);

/// A request as our students send it.
fn pedido(pedido: Pedido) -> Vec<u8> {
    pedido.to_frame().to_vec()
}

/// The envelope of a mensaje in `body`, if it is one. The grader reads only
/// the envelope (what the contract fixes), so that a Docencio whose `data`
/// says more or less than ours is graded on the contract alone.
fn envelope(body: &[u8]) -> Option<Mensaje> {
    serde_json::from_slice(body).ok()
}

/// Whether `body` is a JSON object with an `estado` key, whatever its
/// value: the contract's pushes carry none at all (`"estado": null` is
/// still an `estado`).
fn carries_estado(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| {
            value
                .as_object()
                .map(|object| object.contains_key("estado"))
        })
        .unwrap_or(false)
}

/// A push: a mensaje without `estado`.
fn is_push(body: &[u8]) -> bool {
    envelope(body).is_some() && !carries_estado(body)
}

/// An answer (it has `estado`) to `operacion`: its `estado` and `data`.
fn answer_of(body: &[u8], operacion: &str) -> Result<(EstadoRespuesta, Value), String> {
    let Some(mensaje) = envelope(body) else {
        return Err(format!(
            "una respuesta JSON a {operacion}; llegó \"{}\"",
            show(body)
        ));
    };
    match mensaje.estado {
        Some(estado) if mensaje.operacion == operacion || estado == EstadoRespuesta::Error => {
            Ok((estado, mensaje.data))
        }
        _ => Err(format!(
            "{{\"operacion\": \"{operacion}\", \"estado\": ...}}; llegó \"{}\"",
            show(body)
        )),
    }
}

/// Reads frames until the answer to `operacion` (pushes, which have no
/// `estado`, are skipped).
async fn read_answer(
    sonda: &mut Sonda,
    operacion: &str,
) -> Result<(EstadoRespuesta, Value), String> {
    for _ in 0..64 {
        let body = sonda.read().await?;
        if !is_push(&body) {
            return answer_of(&body, operacion);
        }
    }
    Err(format!(
        "64 empujes seguidos y ninguna respuesta a {operacion}"
    ))
}

/// A name of its own for each run, so two runs never collide.
fn name(who: &str) -> String {
    format!("verif-{who}-{}", rand::random::<u16>())
}

/// Whether the Docencio at `addr` speaks mensajes: `Err(verdict)` says
/// what the `hola` case is.
async fn hola(addr: &Destino, nombre: &str) -> Result<Sonda, Veredicto> {
    let mut sonda = Sonda::connect(addr).await.map_err(Veredicto::Falla)?;
    let Ok(parsed) = Nombre::parse(nombre) else {
        return Err(Veredicto::Falla(format!("{nombre:?} no es un nombre")));
    };
    let request = pedido(Pedido::Hola { nombre: parsed });
    sonda.send(&request).await.map_err(Veredicto::Falla)?;
    // The first frame that is not a push (a push may come to the new name
    // before the answer).
    let mut body = Vec::new();
    for _ in 0..64 {
        body = sonda
            .read()
            .await
            .map_err(|why| Veredicto::Falla(format!("hola: {why}")))?;
        if !is_push(&body) {
            break;
        }
    }
    if !body.trim_ascii_start().starts_with(b"{") {
        return Err(Veredicto::NoAplica(format!(
            "no ofrece la sala: a un mensaje hola respondió \"{}\"",
            show(&body)
        )));
    }
    match answer_of(&body, "hola") {
        Ok((EstadoRespuesta::Ok, _)) => Ok(sonda),
        Ok((_, data)) => Err(Veredicto::Falla(format!(
            "hola con el nombre libre {nombre:?}: respondió un error: {data}"
        ))),
        Err(expected) => Err(Veredicto::Falla(format!("se esperaba {expected}"))),
    }
}

/// Sections 7 (la sala) and 8 (material) of a Docencio.
pub async fn sections(informe: &mut Reporte, addr: &Destino) {
    let sala = "7 sala";
    let mut offered = true;
    informe
        .run("7.1", sala, "hola con un nombre: respuesta ok", async {
            match hola(addr, &name("a")).await {
                Ok(_) => Veredicto::Pasa,
                Err(verdict) => {
                    offered = !matches!(verdict, Veredicto::NoAplica(_));
                    verdict
                }
            }
        })
        .await;
    let not_offered = || Veredicto::NoAplica("no ofrece la sala (ver 7.1)".into());
    informe
        .run(
            "7.2",
            sala,
            "chat: ok a quien escribe, empuje a otro con nombre",
            async {
                if !offered {
                    return not_offered();
                }
                chat_reaches_another(addr).await
            },
        )
        .await;
    informe
        .run(
            "7.3",
            sala,
            "una pregunta, quien y otra pregunta en una escritura: en orden",
            async {
                if !offered {
                    return not_offered();
                }
                mensaje_in_order(addr).await
            },
        )
        .await;
    let material = "8 material";
    informe
        .run("8.1", material, "archivos: la lista del material", async {
            if !offered {
                return not_offered();
            }
            list_of_material(addr).await
        })
        .await;
    informe
        .run(
            "8.2",
            material,
            "bajar \"../secreto\": error, nunca un archivo de fuera",
            async {
                if !offered {
                    return not_offered();
                }
                name_outside_is_refused(addr).await
            },
        )
        .await;
}

async fn chat_reaches_another(addr: &Destino) -> Veredicto {
    let (ana, beto) = (name("a"), name("b"));
    let mut writer = match hola(addr, &ana).await {
        Ok(sonda) => sonda,
        Err(verdict) => return verdict,
    };
    let mut reader = match hola(addr, &beto).await {
        Ok(sonda) => sonda,
        Err(verdict) => return verdict,
    };
    let texto = format!("verificar {}", rand::random::<u32>());
    let Ok(chat) = TextoChat::parse(&texto) else {
        return Veredicto::Falla(format!("{texto:?} no es un texto de chat"));
    };
    if let Err(why) = writer.send(&pedido(Pedido::Chat(chat))).await {
        return Veredicto::Falla(why);
    }
    match read_answer(&mut writer, "chat").await {
        Ok((EstadoRespuesta::Ok, _)) => {}
        Ok((_, data)) => return Veredicto::Falla(format!("chat de {ana}: error {data}")),
        Err(why) => return Veredicto::Falla(format!("chat de {ana}: {why}")),
    }
    for _ in 0..64 {
        let body = match reader.read_within(PUSH_WAIT).await {
            Ok(body) => body,
            Err(why) => {
                return Veredicto::Falla(format!(
                    "{ana} escribió \"{texto}\"; a {beto} no le llegó: {why}"
                ))
            }
        };
        let Some(push) = envelope(&body) else {
            continue;
        };
        if push.operacion == "chat" && push.data["texto"] == texto.as_str() {
            if carries_estado(&body) {
                return Veredicto::Falla(format!(
                    "el empuje lleva \"estado\" (parece una respuesta): \"{}\"",
                    show(&body)
                ));
            }
            return if push.data["de"] == ana.as_str() {
                Veredicto::Pasa
            } else {
                Veredicto::Falla(format!(
                    "el empuje no dice que es de {ana}: \"{}\"",
                    show(&body)
                ))
            };
        }
    }
    Veredicto::Falla(format!("a {beto} no le llegó \"{texto}\" entre 64 empujes"))
}

async fn mensaje_in_order(addr: &Destino) -> Veredicto {
    let mut sonda = match Sonda::connect(addr).await {
        Ok(sonda) => sonda,
        Err(why) => return Veredicto::Falla(why),
    };
    let mut all = frame(b"Contenido");
    all.extend_from_slice(&frame(&pedido(Pedido::Quien)));
    all.extend_from_slice(&frame(b"Contenido"));
    if let Err(why) = sonda.send_raw(&all).await {
        return Veredicto::Falla(why);
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        match sonda.read().await {
            Ok(body) => got.push(body),
            Err(why) => {
                return Veredicto::Falla(format!(
                    "Contenido, quien, Contenido: llegaron {} respuestas; luego {why}",
                    got.len()
                ))
            }
        }
    }
    let in_order = got[0] == CONTENIDO_ANSWER.as_bytes()
        && answer_of(&got[1], "quien").is_ok()
        && got[2] == CONTENIDO_ANSWER.as_bytes();
    if in_order {
        Veredicto::Pasa
    } else {
        Veredicto::Falla(format!(
            "Contenido, quien, Contenido en una escritura: llegó \"{}\", \"{}\", \"{}\"",
            show(&got[0]),
            show(&got[1]),
            show(&got[2])
        ))
    }
}

async fn list_of_material(addr: &Destino) -> Veredicto {
    let mut sonda = match Sonda::connect(addr).await {
        Ok(sonda) => sonda,
        Err(why) => return Veredicto::Falla(why),
    };
    let body = match sonda.ask(&pedido(Pedido::Archivos)).await {
        Ok(body) => body,
        Err(why) => return Veredicto::Falla(format!("archivos: {why}")),
    };
    match answer_of(&body, "archivos") {
        Ok((EstadoRespuesta::Ok, data)) if data["archivos"].is_array() => Veredicto::Pasa,
        Ok((_, data)) if data.as_str().is_some_and(|why| why.contains("desconocid")) => {
            Veredicto::NoAplica(format!("no ofrece material: {data}"))
        }
        // The contract's error when Docencio's Profesor does not answer.
        Ok((_, data)) if data.as_str().is_some_and(|why| why.contains("Profesor")) => {
            Veredicto::Observacion(format!("respondió un error: {data}: ¿Profesor no está?"))
        }
        Ok(_) => Veredicto::Falla(format!(
            "se esperaba {{\"estado\": \"ok\", \"data\": {{\"archivos\": [...]}}}}; llegó \"{}\"",
            show(&body)
        )),
        Err(expected) => Veredicto::Falla(format!("se esperaba {expected}")),
    }
}

async fn name_outside_is_refused(addr: &Destino) -> Veredicto {
    let mut sonda = match Sonda::connect(addr).await {
        Ok(sonda) => sonda,
        Err(why) => return Veredicto::Falla(why),
    };
    let request = pedido(Pedido::Bajar {
        nombre: "../secreto".into(),
        desde: 0,
    });
    let body = match sonda.ask(&request).await {
        Ok(body) => body,
        Err(why) => return Veredicto::Falla(format!("bajar ../secreto: {why}")),
    };
    match answer_of(&body, "bajar") {
        Ok((_, data)) if data.as_str().is_some_and(|why| why.contains("desconocid")) => {
            Veredicto::NoAplica(format!("no ofrece material: {data}"))
        }
        Ok((EstadoRespuesta::Error, _)) => Veredicto::Pasa,
        Ok(_) => Veredicto::Falla(format!(
            "bajar \"../secreto\" debía ser un error; llegó \"{}\"",
            show(&body)
        )),
        Err(expected) => Veredicto::Falla(format!("se esperaba {expected}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_carries_no_estado_at_all_not_even_null() {
        assert!(is_push(br#"{"operacion":"chat","data":{}}"#));
        assert!(!is_push(br#"{"operacion":"chat","data":{},"estado":null}"#));
        assert!(!is_push(br#"{"operacion":"chat","data":{},"estado":"ok"}"#));
        assert!(!is_push(b"Docencio: respondiendo pregunta de contenido"));
    }
}
