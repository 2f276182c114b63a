//! La sala: the students connected to this Docencio as a room. A student
//! that says `hola` takes a name and from then on gets the class's chat and
//! Profesor's announcements pushed to it (publish/subscribe, the course's
//! multi-user chat); a notebook student, which never sends a mensaje, gets
//! only the announcements, as a plain text frame it prints as it is.
//!
//! Every client has a bounded push queue ([`PushQueue`]): whoever publishes
//! encodes the frame once and only takes a short lock per recipient, never
//! waiting for anybody's socket. What one student asks is answered in
//! [`super::session`]; chat written here also goes to the other Docencios
//! through [`super::relay`], and theirs comes back through
//! [`super::follower`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::relay::Relay;
use crate::api::{Anuncio, Archivo, ChatLine};
use crate::role_counters::RoleCounters;
use crate::server::PushQueue;
use crate::wire::mensaje::{Empuje, LineaChat, MensajeError, Nombre};
use crate::wire::texts::ANNOUNCEMENT_PREFIX;

/// Names a `quien` answer lists at most (32 characters each: well within
/// the contract's 64 KiB frame).
pub const NAMES_SHOWN: usize = 1000;

/// The room: who is connected, and under which name.
#[derive(Debug, Default)]
pub struct Sala {
    members: Mutex<Members>,
    /// Where this room's chat goes for the other Docencios' students.
    relay: Option<Relay>,
    /// Where the names in use are told to Profesor (in the informes).
    counters: Option<Arc<RoleCounters>>,
}

#[derive(Debug, Default)]
struct Members {
    next: u64,
    by_id: HashMap<u64, Member>,
    /// Names in use, by [`Nombre::key`], to their member.
    names: HashMap<String, u64>,
}

#[derive(Debug)]
struct Member {
    queue: Arc<PushQueue>,
    nombre: Option<Nombre>,
    /// Sent a mensaje at least once: no plain-text pushes any more.
    speaks_mensajes: bool,
}

/// One client's place in the room; it leaves the room when dropped.
#[derive(Debug)]
pub struct Membership {
    sala: Arc<Sala>,
    id: u64,
    queue: Arc<PushQueue>,
}

impl Sala {
    /// A room whose chat also goes to the other Docencios through `relay`,
    /// and whose names Profesor learns through `counters`' informes.
    pub fn new(relay: Relay, counters: Arc<RoleCounters>) -> Self {
        Sala {
            members: Mutex::default(),
            relay: Some(relay),
            counters: Some(counters),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Members> {
        // Every change is complete before the lock is released.
        self.members.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A client connected: it gets announcements from now on.
    pub fn join(self: &Arc<Self>) -> Membership {
        let queue = Arc::new(PushQueue::default());
        let mut members = self.lock();
        members.next += 1;
        let id = members.next;
        let member = Member {
            queue: queue.clone(),
            nombre: None,
            speaks_mensajes: false,
        };
        members.by_id.insert(id, member);
        Membership {
            sala: self.clone(),
            id,
            queue,
        }
    }

    /// Profesor's announcement to every client: as a push mensaje to the
    /// named, as plain text to those that never sent a mensaje (the
    /// notebook's students). Returns how many got it.
    pub fn announce(&self, anuncio: &Anuncio) -> usize {
        let named = Empuje::Anuncio(anuncio.clone()).to_frame();
        let plain = Bytes::from(format!("{ANNOUNCEMENT_PREFIX}{}", anuncio.texto));
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

    /// Tells every named student that Profesor sends them `archivo` (our
    /// student then downloads it); returns how many were told.
    pub fn send_material(&self, archivo: &Archivo) -> usize {
        self.push_to_named(None, Empuje::Material(archivo.clone()).to_frame())
    }

    /// A line written at another Docencio, to every named member here.
    pub fn chat_from_elsewhere(&self, linea: LineaChat) -> usize {
        self.push_to_named(None, Empuje::Chat(linea).to_frame())
    }

    /// `frame` to every named member but `from`; how many got it.
    fn push_to_named(&self, from: Option<u64>, frame: Bytes) -> usize {
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
    pub fn names(&self) -> Vec<Nombre> {
        let members = self.lock();
        let mut names: Vec<Nombre> = members
            .by_id
            .values()
            .filter_map(|member| member.nombre.clone())
            .collect();
        names.sort_by_key(Nombre::key);
        names.truncate(NAMES_SHOWN);
        names
    }

    /// Clients here now, and how many of them are named.
    pub fn size(&self) -> (usize, usize) {
        let members = self.lock();
        (members.by_id.len(), members.names.len())
    }

    fn leave(&self, id: u64) {
        let mut members = self.lock();
        if let Some(Member {
            nombre: Some(nombre),
            ..
        }) = members.by_id.remove(&id)
        {
            members.names.remove(&nombre.key());
            if let Some(counters) = &self.counters {
                counters.named(nombre.as_str(), false);
            }
        }
    }
}

impl Membership {
    /// Where frames pushed to this client wait for its connection.
    pub fn pushes(&self) -> &Arc<PushQueue> {
        &self.queue
    }

    /// The room this client is in.
    pub fn sala(&self) -> &Sala {
        &self.sala
    }

    /// This client takes `nombre`, unless another has it; from now on it is
    /// told when it loses pushes.
    pub fn take_name(&self, nombre: &Nombre) -> Result<(), MensajeError> {
        let mut members = self.sala.lock();
        if members
            .names
            .get(&nombre.key())
            .is_some_and(|holder| *holder != self.id)
        {
            return Err(MensajeError::NameTaken(nombre.to_string()));
        }
        members.names.insert(nombre.key(), self.id);
        if let Some(member) = members.by_id.get_mut(&self.id) {
            member.nombre = Some(nombre.clone());
        }
        if let Some(counters) = &self.sala.counters {
            counters.named(nombre.as_str(), true);
        }
        self.queue.set_lost_notice(lost_notice);
        Ok(())
    }

    /// This client sent a mensaje: announcements no longer come to it as
    /// plain text.
    pub fn speaks_mensajes(&self) {
        if let Some(member) = self.sala.lock().by_id.get_mut(&self.id) {
            member.speaks_mensajes = true;
        }
    }

    /// `linea` (written by this client) to every other named member here,
    /// and to the other Docencios. Returns how many here got it.
    pub fn chat(&self, linea: LineaChat) -> usize {
        if let Some(relay) = &self.sala.relay {
            relay.pass_on(ChatLine {
                de: linea.de.to_string(),
                texto: linea.texto.to_string(),
                momento_ms: linea.momento_ms,
                docencio: String::new(),
            });
        }
        self.sala
            .push_to_named(Some(self.id), Empuje::Chat(linea).to_frame())
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.sala.leave(self.id);
    }
}

/// How a named student learns it lost pushes.
fn lost_notice(lost: u64) -> Option<Bytes> {
    Some(Empuje::Perdidos { cantidad: lost }.to_frame())
}
