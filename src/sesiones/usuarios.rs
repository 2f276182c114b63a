//! The users sessions run as when Profesor is root: each session its own,
//! never one that still has a process running (a session left by a
//! Profesor that died, or another Profesor's), given back when the
//! session is over.

use std::sync::{Arc, Mutex};

use super::sandbox::SESSION_UID_BASE;

/// Session users one Profesor may use.
pub const USERS_PER_PROFESOR: u32 = 1_000;

/// This Profesor's first session user: Profesors on one machine (by
/// process id) use different ones, so that one never kills another's.
pub fn first_uid() -> u32 {
    SESSION_UID_BASE + (std::process::id() % 10_000) * USERS_PER_PROFESOR
}

/// Which of this Profesor's session users are taken.
#[derive(Debug, Clone)]
pub struct Usuarios {
    taken: Arc<Mutex<Vec<bool>>>,
    first_uid: u32,
}

impl Usuarios {
    /// Up to `how_many` users (never more than [`USERS_PER_PROFESOR`]).
    pub fn new(how_many: usize) -> Self {
        Usuarios {
            taken: Arc::new(Mutex::new(vec![
                false;
                how_many.min(USERS_PER_PROFESOR as usize)
            ])),
            first_uid: first_uid(),
        }
    }

    /// A free user: not taken by one of this Profesor's sessions, and
    /// with no process running.
    pub fn take(&self) -> Option<SessionUser> {
        let mut taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        let busy = uids_running();
        let slot = (0..taken.len()).find(|&slot| {
            !taken[slot]
                && u32::try_from(slot).is_ok_and(|slot| !busy.contains(&(self.first_uid + slot)))
        })?;
        taken[slot] = true;
        Some(SessionUser {
            uid: self.first_uid + u32::try_from(slot).ok()?,
            slot,
            taken: self.taken.clone(),
        })
    }
}

/// A session user taken; given back when dropped.
#[derive(Debug)]
pub struct SessionUser {
    pub uid: u32,
    slot: usize,
    taken: Arc<Mutex<Vec<bool>>>,
}

impl Drop for SessionUser {
    fn drop(&mut self) {
        let mut taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = taken.get_mut(self.slot) {
            *slot = false;
        }
    }
}

/// The users that have a process running now.
fn uids_running() -> std::collections::HashSet<u32> {
    crate::process_table::processes()
        .into_iter()
        .map(|process| process.uid)
        .collect()
}
