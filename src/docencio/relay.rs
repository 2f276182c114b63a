//! The relay out: passes this Docencio's chat to Profesor
//! (`POST /sala/chat`), for the students of the other Docencios; Profesor's
//! event stream brings theirs back ([`super::follower`]).
//!
//! One task sends, in the order the lines were written, up to 100 in one
//! request. Chat is best effort: the lines are already with this
//! Docencio's students; when Profesor does not take a batch after a few
//! tries, or the queue is full, those lines reach only this Docencio, and
//! the log says how many.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::sleep;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::api::{ChatLine, ChatRelay, ProfesorClient, MAX_CHAT_RELAY};
use crate::retry;

/// Lines waiting for Profesor.
const QUEUE: usize = 4096;

/// Tries per batch before it is given up.
const TRIES: usize = 4;

/// The sending end, kept by the sala.
#[derive(Debug, Clone)]
pub struct Relay {
    lines: mpsc::Sender<ChatLine>,
    dropped: Arc<AtomicU64>,
}

impl Relay {
    /// Queues `line` for the other Docencios; never waits.
    pub fn pass_on(&self, line: ChatLine) {
        if self.lines.try_send(line).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if retry::worth_reporting(dropped) {
                warn!("Chat sin enviar a Profesor: cola llena ({dropped} líneas solo en este Docencio)");
            }
        }
    }
}

/// Starts the task that sends to `profesor` as Docencio `docencio` (its
/// run), until `stop`; returns the sala's end.
pub fn start(
    profesor: ProfesorClient,
    docencio: String,
    stop: CancellationToken,
    tasks: &tokio_util::task::TaskTracker,
) -> Relay {
    let (lines, mut queued) = mpsc::channel(QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    let relay = Relay {
        lines,
        dropped: dropped.clone(),
    };
    tasks.spawn(async move {
        let mut batch = Vec::with_capacity(MAX_CHAT_RELAY);
        loop {
            let received = tokio::select! {
                () = stop.cancelled() => return,
                received = queued.recv_many(&mut batch, MAX_CHAT_RELAY) => received,
            };
            if received == 0 {
                return;
            }
            let relay = ChatRelay {
                docencio: docencio.clone(),
                mensajes: std::mem::take(&mut batch),
            };
            let mut backoff = retry::backoff_up_to(Duration::from_secs(1));
            let mut sent = false;
            for _ in 0..TRIES {
                match profesor.send_chat(&relay).await {
                    Ok(()) => {
                        sent = true;
                        break;
                    }
                    Err(crate::api::ProfesorError::Status(422)) => {
                        // One line Profesor refuses must not cost the
                        // others: each goes alone, and only it is lost.
                        let mut refused = 0u64;
                        for line in &relay.mensajes {
                            let alone = ChatRelay {
                                docencio: relay.docencio.clone(),
                                mensajes: vec![line.clone()],
                            };
                            if profesor.send_chat(&alone).await.is_err() {
                                refused += 1;
                            }
                        }
                        if refused > 0 {
                            dropped.fetch_add(refused, Ordering::Relaxed);
                            warn!("Profesor rechazó {refused} línea(s) de chat: solo las vieron los estudiantes de este Docencio");
                        }
                        sent = true;
                        break;
                    }
                    Err(_) => {
                        let delay = backoff.next().unwrap_or(Duration::from_secs(1));
                        tokio::select! {
                            () = stop.cancelled() => return,
                            () = sleep(delay) => {}
                        }
                    }
                }
            }
            if !sent {
                let lost = relay.mensajes.len() as u64;
                let total = dropped.fetch_add(lost, Ordering::Relaxed) + lost;
                warn!("Profesor no tomó {lost} línea(s) de chat: solo las vieron los estudiantes de este Docencio ({total} en total)");
            }
        }
    });
    relay
}
