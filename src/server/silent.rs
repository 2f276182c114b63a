//! The connections that have not sent a single frame yet, oldest first:
//! the ones a full server closes to make room. A student asks as soon as it
//! connects; a connection that only sits there (thousands of them, from
//! one process, would lock every student out) goes first.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// Every silent connection of one server, by age.
#[derive(Debug, Default)]
pub(super) struct Silent {
    next: AtomicU64,
    waiting: Mutex<BTreeMap<u64, (SocketAddr, CancellationToken)>>,
}

/// One connection's place among the silent ones, until it speaks or goes.
#[derive(Debug)]
pub(super) struct Silence {
    id: u64,
    silent: Arc<Silent>,
    /// Cancelled when the server closes this connection to make room.
    pub(super) evicted: CancellationToken,
    spoke: bool,
}

impl Silent {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, (SocketAddr, CancellationToken)>> {
        // Insert and remove are single steps.
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new connection, silent until it sends a frame.
    pub(super) fn register(self: &Arc<Self>, peer: SocketAddr) -> Silence {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let evicted = CancellationToken::new();
        self.lock().insert(id, (peer, evicted.clone()));
        Silence {
            id,
            silent: self.clone(),
            evicted,
            spoke: false,
        }
    }

    /// Closes the oldest silent connection; its peer, or `None` if every
    /// connection has spoken.
    pub(super) fn evict_oldest(&self) -> Option<SocketAddr> {
        let (_, (peer, evicted)) = self.lock().pop_first()?;
        evicted.cancel();
        Some(peer)
    }
}

impl Silence {
    pub(super) fn has_spoken(&self) -> bool {
        self.spoke
    }

    /// The connection sent a frame: it is no longer a candidate.
    pub(super) fn spoke(&mut self) {
        if !self.spoke {
            self.spoke = true;
            self.silent.lock().remove(&self.id);
        }
    }
}

impl Drop for Silence {
    fn drop(&mut self) {
        self.spoke();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_silent_connection_goes_first_and_one_that_spoke_never() {
        let silent = Arc::new(Silent::default());
        let addr = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let mut first = silent.register(addr(1));
        let second = silent.register(addr(2));
        first.spoke();
        assert_eq!(silent.evict_oldest(), Some(addr(2)));
        assert!(second.evicted.is_cancelled());
        assert!(!first.evicted.is_cancelled());
        assert_eq!(silent.evict_oldest(), None);
        drop(second);
        assert!(silent.lock().is_empty());
    }
}
