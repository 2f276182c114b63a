//! One student's session on Docencio's port: everything it may ask besides
//! the three questions, answered in one `match` on the request. The room
//! ([`super::sala`]) keeps who is named and pushes; the material
//! ([`super::material`]) moves files.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tracing::info;

use super::material::MaterialSession;
use super::sala::Membership;
use crate::server::{BulkLane, ClientSession, FrameAnswer, PushQueue};
use crate::telemetry::for_log;
use crate::wire::mensaje::{
    LineaChat, MensajeError, Nombre, Pedido, PedidoRefused, Respuesta, Resultado, TextoChat,
};

/// Chat messages a student may send a second, on average.
const CHAT_PER_SECOND: u32 = 5;

/// Chat messages a student may send at once after a pause.
const CHAT_BURST: u32 = 10;

/// One student connected to this Docencio; it leaves the sala when dropped.
pub struct StudentSession {
    member: Membership,
    chat_limit: DefaultDirectRateLimiter,
    nombre: Option<Nombre>,
    material: MaterialSession,
}

impl StudentSession {
    pub fn new(member: Membership, material: MaterialSession) -> Self {
        let quota = Quota::per_second(NonZeroU32::new(CHAT_PER_SECOND).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(CHAT_BURST).unwrap_or(NonZeroU32::MIN));
        StudentSession {
            member,
            chat_limit: RateLimiter::direct(quota),
            nombre: None,
            material,
        }
    }

    fn hola(&mut self, nombre: Nombre) -> Respuesta {
        if let Some(own) = &self.nombre {
            if *own != nombre {
                return Respuesta::error("hola", &MensajeError::AlreadyNamed(own.to_string()));
            }
        }
        if let Err(err) = self.member.take_name(&nombre) {
            return Respuesta::error("hola", &err);
        }
        info!("{} entra en la sala", for_log(nombre.as_str()));
        self.nombre = Some(nombre.clone());
        Resultado::Hola { nombre }.into()
    }

    fn chat(&mut self, texto: TextoChat) -> Respuesta {
        let Some(de) = &self.nombre else {
            return Respuesta::error("chat", &MensajeError::NotNamed);
        };
        if let Err(not_until) = self.chat_limit.check() {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
            return Respuesta::error("chat", &MensajeError::TooFast(wait_ms));
        }
        let reached = self.member.chat(LineaChat {
            de: de.clone(),
            texto,
            momento_ms: crate::api::now_ms(),
        });
        Resultado::Chat {
            entregado_a: reached as u64,
        }
        .into()
    }
}

impl ClientSession for StudentSession {
    fn answer(&mut self, pedido: Result<Pedido, PedidoRefused>) -> FrameAnswer {
        self.member.speaks_mensajes();
        let pedido = match pedido {
            Ok(pedido) => pedido,
            Err(refused) => return FrameAnswer::Now(refused.into()),
        };
        match pedido {
            Pedido::Hola { nombre } => FrameAnswer::Now(self.hola(nombre)),
            Pedido::Chat(texto) => FrameAnswer::Now(self.chat(texto)),
            Pedido::Quien => FrameAnswer::Now(Resultado::Quien(self.member.sala().names()).into()),
            Pedido::Archivos => self.material.archivos(),
            Pedido::Bajar { nombre, desde } => self.material.bajar(nombre, desde),
            Pedido::Subir {
                nombre,
                tamano,
                sha256,
            } => {
                let estudiante = self.nombre.as_ref().map(Nombre::as_str);
                self.material.subir(estudiante, nombre, tamano, sha256)
            }
            Pedido::Trozo(trozo) => self.material.trozo(trozo),
        }
    }

    fn take_bulk(&mut self) -> Option<BulkLane> {
        self.material.take_bulk()
    }

    fn pushes(&self) -> &Arc<PushQueue> {
        self.member.pushes()
    }

    fn stays_while_idle(&self) -> bool {
        self.nombre.is_some()
    }
}

impl Drop for StudentSession {
    fn drop(&mut self) {
        if let Some(nombre) = &self.nombre {
            info!("{} sale de la sala", for_log(nombre.as_str()));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::super::material::MaterialDesk;
    use super::super::sala::Sala;
    use super::*;
    use crate::api::Anuncio;

    fn join(sala: &Arc<Sala>) -> StudentSession {
        StudentSession::new(sala.join(), MaterialSession::new(MaterialDesk::default()))
    }

    fn ask(session: &mut StudentSession, body: Value) -> Value {
        let pedido = Pedido::parse(body.to_string().as_bytes());
        let FrameAnswer::Now(respuesta) = session.answer(pedido) else {
            panic!("a sala answer is known at once");
        };
        serde_json::from_slice(&respuesta.to_frame()).unwrap()
    }

    fn pushed(session: &StudentSession) -> Vec<Value> {
        let mut out = Vec::new();
        session.pushes().take(&mut out);
        out.iter()
            .map(|frame| {
                serde_json::from_slice(frame).unwrap_or(json!(String::from_utf8_lossy(frame)))
            })
            .collect()
    }

    fn anuncio(texto: &str) -> Anuncio {
        Anuncio {
            id: 7,
            texto: texto.into(),
            momento_ms: 0,
        }
    }

    #[test]
    fn named_students_chat_and_a_notebook_student_gets_only_announcements() {
        let sala = Arc::new(Sala::default());
        let mut ana = join(&sala);
        let mut luis = join(&sala);
        let notebook = join(&sala);
        assert_eq!(
            ask(
                &mut ana,
                json!({"operacion": "hola", "data": {"nombre": "Ana"}})
            )["estado"],
            "ok"
        );
        assert_eq!(
            ask(
                &mut luis,
                json!({"operacion": "hola", "data": {"nombre": "Luis"}})
            )["estado"],
            "ok"
        );
        let sent = ask(&mut ana, json!({"operacion": "chat", "data": "hola"}));
        assert_eq!(sent["data"]["entregado_a"], 1);
        assert_eq!(sala.announce(&anuncio("examen el lunes")), 3);
        let to_luis = pushed(&luis);
        assert_eq!(to_luis[0]["operacion"], "chat");
        assert_eq!(to_luis[0]["data"]["de"], "Ana");
        assert!(to_luis[0].get("estado").is_none());
        assert_eq!(to_luis[1]["operacion"], "anuncio");
        assert_eq!(pushed(&ana).len(), 1, "no echo of one's own chat");
        assert_eq!(
            pushed(&notebook),
            [json!("Anuncio del Profesor: examen el lunes")]
        );
        assert_eq!(
            ask(&mut luis, json!({"operacion": "quien"}))["data"],
            json!(["Ana", "Luis"])
        );
    }

    #[test]
    fn a_name_is_one_student_s_until_it_leaves() {
        let sala = Arc::new(Sala::default());
        let mut ana = join(&sala);
        let mut other = join(&sala);
        ask(
            &mut ana,
            json!({"operacion": "hola", "data": {"nombre": "Ana"}}),
        );
        let taken = ask(
            &mut other,
            json!({"operacion": "hola", "data": {"nombre": "ANA"}}),
        );
        assert_eq!(taken["estado"], "error");
        drop(ana);
        let free = ask(
            &mut other,
            json!({"operacion": "hola", "data": {"nombre": "ana"}}),
        );
        assert_eq!(free["estado"], "ok");
        assert_eq!(sala.size(), (1, 1));
    }

    #[test]
    fn chat_needs_a_name_and_is_rate_limited() {
        let sala = Arc::new(Sala::default());
        let mut ana = join(&sala);
        let unnamed = ask(&mut ana, json!({"operacion": "chat", "data": "hola"}));
        assert_eq!(unnamed["estado"], "error");
        ask(
            &mut ana,
            json!({"operacion": "hola", "data": {"nombre": "Ana"}}),
        );
        let answers: Vec<_> = (0..CHAT_BURST + 5)
            .map(|_| ask(&mut ana, json!({"operacion": "chat", "data": "spam"}))["estado"].clone())
            .collect();
        assert!(answers[..CHAT_BURST as usize].iter().all(|e| e == "ok"));
        assert!(answers[CHAT_BURST as usize..].iter().all(|e| e == "error"));
    }
}
