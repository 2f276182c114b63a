//! La sala: the students connected to this Docencio as a room. A student
//! that says `hola` takes a name and from then on gets the class's chat and
//! Profesor's announcements pushed to it (publish/subscribe, the course's
//! multi-user chat); a notebook student, which never sends a mensaje, gets
//! only the announcements, as a plain text frame it prints as it is.
//!
//! Every client has a bounded push queue ([`PushQueue`]): whoever publishes
//! only takes a short lock per recipient and never waits for anybody's
//! socket. Chat is rate-limited per student.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::json;
use tracing::info;

use super::material::{MaterialDesk, MaterialSession};
use super::sala_relay::Relay;
use crate::api::ChatLine;
use crate::role_counters::RoleCounters;
use crate::server::{BulkLane, ClientSession, FrameAnswer, PushQueue};
use crate::telemetry::for_log;
use crate::wire::mensaje::{is_mensaje, Mensaje, MensajeError, Pedido};
use crate::wire::texts::ANNOUNCEMENT_PREFIX;

/// Names a `quien` answer lists at most (32 characters each: well within
/// the contract's 64 KiB frame).
pub const NAMES_SHOWN: usize = 1000;

/// Chat messages a student may send a second, on average.
const CHAT_PER_SECOND: u32 = 5;

/// Chat messages a student may send at once after a pause.
const CHAT_BURST: u32 = 10;

/// The room: who is connected, and under which name.
#[derive(Debug, Default)]
pub struct Sala {
    members: Mutex<Members>,
    /// Where this room's chat goes for the other Docencios' students.
    relay: Option<Relay>,
    /// Where the names in use are told to Profesor (in the informes).
    counters: Option<Arc<RoleCounters>>,
    /// Where the course's material comes from.
    desk: MaterialDesk,
}

#[derive(Debug, Default)]
struct Members {
    next: u64,
    by_id: HashMap<u64, Member>,
    /// Names in use, lower-case, to their member.
    names: HashMap<String, u64>,
}

#[derive(Debug)]
struct Member {
    queue: Arc<PushQueue>,
    nombre: Option<String>,
    /// Sent a mensaje at least once: no plain-text pushes any more.
    speaks_mensajes: bool,
}

/// One client in the room; leaves it when dropped.
pub struct SalaSession {
    sala: Arc<Sala>,
    id: u64,
    queue: Arc<PushQueue>,
    chat_limit: DefaultDirectRateLimiter,
    nombre: Option<String>,
    material: MaterialSession,
}

impl Sala {
    /// A room whose chat also goes to the other Docencios through `relay`,
    /// and whose names Profesor learns through `counters`' informes.
    pub fn new(relay: Relay, counters: Arc<RoleCounters>, desk: MaterialDesk) -> Self {
        Sala {
            members: Mutex::default(),
            relay: Some(relay),
            counters: Some(counters),
            desk,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Members> {
        // Every change is complete before the lock is released.
        self.members.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A client connected: it gets announcements from now on.
    pub fn join(self: &Arc<Self>) -> SalaSession {
        let queue = Arc::new(PushQueue::default());
        let mut members = self.lock();
        members.next += 1;
        let id = members.next;
        members.by_id.insert(
            id,
            Member {
                queue: queue.clone(),
                nombre: None,
                speaks_mensajes: false,
            },
        );
        let quota = Quota::per_second(NonZeroU32::new(CHAT_PER_SECOND).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(CHAT_BURST).unwrap_or(NonZeroU32::MIN));
        SalaSession {
            sala: self.clone(),
            id,
            queue,
            chat_limit: RateLimiter::direct(quota),
            nombre: None,
            material: MaterialSession::new(self.desk.clone()),
        }
    }

    /// Profesor's announcement `texto` (number `id`) to every client: as a
    /// push mensaje to the named, as plain text to those that never sent a
    /// mensaje (the notebook's students). Returns how many got it.
    pub fn announce(&self, id: u64, texto: &str, momento_ms: u64) -> usize {
        let named = Mensaje::push(
            "anuncio",
            json!({"id": id, "texto": texto, "momento_ms": momento_ms}),
        )
        .to_frame();
        let plain = Bytes::from(format!("{ANNOUNCEMENT_PREFIX}{texto}"));
        let members = self.lock();
        let mut reached = 0;
        for member in members.by_id.values() {
            let frame = match (&member.nombre, member.speaks_mensajes) {
                (Some(_), _) => named.clone(),
                (None, false) => plain.clone(),
                (None, true) => continue,
            };
            member.queue.push(frame);
            reached += 1;
        }
        reached
    }

    /// `texto` from `de` (member `from`) to every other named member here,
    /// and to the other Docencios. Returns how many here got it.
    pub fn chat(&self, from: u64, de: &str, texto: &str, momento_ms: u64) -> usize {
        if let Some(relay) = &self.relay {
            relay.pass_on(ChatLine {
                de: de.to_owned(),
                texto: texto.to_owned(),
                momento_ms,
                docencio: String::new(),
            });
        }
        self.push_chat(Some(from), de, texto, momento_ms)
    }

    /// A line written at another Docencio, to every named member here.
    /// Tells every named student that Profesor sends them `archivo` (our
    /// student then downloads it); returns how many were told.
    pub fn send_material(&self, archivo: &crate::api::Archivo) -> usize {
        let frame = Mensaje::push("material", json!(archivo)).to_frame();
        let members = self.lock();
        let mut reached = 0;
        for member in members.by_id.values() {
            if member.nombre.is_some() {
                member.queue.push(frame.clone());
                reached += 1;
            }
        }
        reached
    }

    pub fn chat_from_elsewhere(&self, line: &ChatLine) -> usize {
        self.push_chat(None, &line.de, &line.texto, line.momento_ms)
    }

    fn push_chat(&self, from: Option<u64>, de: &str, texto: &str, momento_ms: u64) -> usize {
        let frame = Mensaje::push(
            "chat",
            json!({"de": de, "texto": texto, "momento_ms": momento_ms}),
        )
        .to_frame();
        let members = self.lock();
        let mut reached = 0;
        for (id, member) in &members.by_id {
            if Some(*id) != from && member.nombre.is_some() {
                member.queue.push(frame.clone());
                reached += 1;
            }
        }
        reached
    }

    /// The names in use here, sorted; at most [`NAMES_SHOWN`], so that the
    /// answer fits in a frame.
    pub fn names(&self) -> Vec<String> {
        let members = self.lock();
        let mut names: Vec<String> = members
            .by_id
            .values()
            .filter_map(|member| member.nombre.clone())
            .collect();
        names.sort_by_key(|name| name.to_lowercase());
        names.truncate(NAMES_SHOWN);
        names
    }

    /// Clients here now, and how many of them are named.
    pub fn size(&self) -> (usize, usize) {
        let members = self.lock();
        (members.by_id.len(), members.names.len())
    }

    /// Member `id` takes `nombre`, unless another has it.
    fn take_name(&self, id: u64, nombre: &str) -> Result<(), MensajeError> {
        let key = nombre.to_lowercase();
        let mut members = self.lock();
        if members.names.get(&key).is_some_and(|holder| *holder != id) {
            return Err(MensajeError::NameTaken(nombre.to_owned()));
        }
        members.names.insert(key, id);
        if let Some(member) = members.by_id.get_mut(&id) {
            member.nombre = Some(nombre.to_owned());
        }
        if let Some(counters) = &self.counters {
            counters.named(nombre, true);
        }
        Ok(())
    }

    fn speaks_mensajes(&self, id: u64) {
        if let Some(member) = self.lock().by_id.get_mut(&id) {
            member.speaks_mensajes = true;
        }
    }

    fn leave(&self, id: u64) {
        let mut members = self.lock();
        if let Some(Member {
            nombre: Some(nombre),
            ..
        }) = members.by_id.remove(&id)
        {
            members.names.remove(&nombre.to_lowercase());
            if let Some(counters) = &self.counters {
                counters.named(&nombre, false);
            }
        }
    }
}

/// How a named student learns it lost pushes.
fn lost_notice(lost: u64) -> Option<Bytes> {
    Some(Mensaje::push("perdidos", json!({"cantidad": lost})).to_frame())
}

impl SalaSession {
    fn answer(&mut self, body: &[u8]) -> FrameAnswer {
        self.sala.speaks_mensajes(self.id);
        let pedido = match Pedido::parse(body) {
            Ok(pedido) => pedido,
            Err((operacion, err)) => {
                return FrameAnswer::Now(Mensaje::error(&operacion, &err).to_frame())
            }
        };
        match pedido {
            Pedido::Archivos => self.material.archivos(),
            Pedido::Bajar { nombre, desde } => self.material.bajar(nombre, desde),
            Pedido::Subir {
                nombre,
                tamano,
                sha256,
            } => self
                .material
                .subir(self.nombre.as_deref(), nombre, tamano, sha256),
            Pedido::Trozo(trozo) => self.material.trozo(trozo),
            other => FrameAnswer::Now(self.answer_sala(other).to_frame()),
        }
    }

    fn answer_sala(&mut self, pedido: Pedido) -> Mensaje {
        match pedido {
            Pedido::Hola { nombre } => {
                if let Some(own) = &self.nombre {
                    if *own != nombre {
                        return Mensaje::error("hola", &MensajeError::AlreadyNamed(own.clone()));
                    }
                }
                if let Err(err) = self.sala.take_name(self.id, &nombre) {
                    return Mensaje::error("hola", &err);
                }
                self.queue.set_lost_notice(lost_notice);
                info!("{} entra en la sala", for_log(&nombre));
                self.nombre = Some(nombre.clone());
                Mensaje::ok("hola", json!({"nombre": nombre}))
            }
            Pedido::Chat { texto } => {
                let Some(de) = &self.nombre else {
                    return Mensaje::error("chat", &MensajeError::NotNamed);
                };
                if let Err(not_until) = self.chat_limit.check() {
                    let wait = not_until.wait_time_from(DefaultClock::default().now());
                    let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
                    return Mensaje::error("chat", &MensajeError::TooFast(wait_ms));
                }
                let reached = self.sala.chat(self.id, de, &texto, crate::api::now_ms());
                Mensaje::ok("chat", json!({"entregado_a": reached}))
            }
            Pedido::Quien => Mensaje::ok("quien", json!(self.sala.names())),
            // Answered by the material in `answer`; never comes here.
            Pedido::Archivos | Pedido::Bajar { .. } | Pedido::Subir { .. } | Pedido::Trozo(_) => {
                Mensaje::error(
                    "error",
                    &MensajeError::Archivo("operación de archivos".into()),
                )
            }
        }
    }
}

impl ClientSession for SalaSession {
    fn take_frame(&mut self, body: &[u8]) -> Option<FrameAnswer> {
        is_mensaje(body).then(|| self.answer(body))
    }

    fn take_bulk(&mut self) -> Option<BulkLane> {
        self.material.take_bulk()
    }

    fn pushes(&self) -> &Arc<PushQueue> {
        &self.queue
    }

    fn stays_while_idle(&self) -> bool {
        self.nombre.is_some()
    }
}

impl Drop for SalaSession {
    fn drop(&mut self) {
        if let Some(nombre) = &self.nombre {
            info!("{} sale de la sala", for_log(nombre));
        }
        self.sala.leave(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(session: &mut SalaSession, body: serde_json::Value) -> serde_json::Value {
        let Some(FrameAnswer::Now(frame)) = session.take_frame(body.to_string().as_bytes()) else {
            panic!("a sala answer is known at once");
        };
        serde_json::from_slice(&frame).unwrap()
    }

    fn pushed(session: &SalaSession) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        session.pushes().take(&mut out);
        out.iter()
            .map(|frame| {
                serde_json::from_slice(frame).unwrap_or(json!(String::from_utf8_lossy(frame)))
            })
            .collect()
    }

    #[test]
    fn named_students_chat_and_a_notebook_student_gets_only_announcements() {
        let sala = Arc::new(Sala::default());
        let mut ana = sala.join();
        let mut luis = sala.join();
        let notebook = sala.join();
        let mut probe = sala.join();
        assert!(
            probe.take_frame(b"Tarea").is_none(),
            "a question is left as one"
        );
        drop(probe);
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
        assert_eq!(sala.announce(7, "examen el lunes", 0), 3);
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
        let mut ana = sala.join();
        let mut other = sala.join();
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
        let mut ana = sala.join();
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
