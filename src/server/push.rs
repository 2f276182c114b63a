//! Frames a server sends a client unasked (chat, announcements), waiting
//! for the client's connection task to write them.
//!
//! Whoever pushes never waits: a push only takes a short lock. The queue is
//! bounded; when the client does not keep up, the oldest frames go, the
//! client is told how many it lost before its next frame (when the role
//! says how), and one that falls far behind is cut off, the rule Redis and
//! NATS apply to slow subscribers. So memory is bounded per client and
//! nobody else is slowed.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Frames kept for one client.
pub const PUSH_QUEUE: usize = 1024;

/// Frames a client may lose without reading any before it is cut off.
pub const CUT_AFTER_LOST: u64 = 4 * PUSH_QUEUE as u64;

/// How a role says "you lost N pushes" to a client (`None`: it does not).
pub type LostNotice = fn(u64) -> Option<Bytes>;

/// One client's pushes.
#[derive(Debug)]
pub struct PushQueue {
    state: Mutex<State>,
    ready: Notify,
    /// Cancelled when the client is cut off, so that a write to it that is
    /// stuck (it reads nothing) ends at once, not at the idle timeout.
    cut_off: CancellationToken,
}

#[derive(Debug)]
struct State {
    frames: VecDeque<Bytes>,
    /// Lost since the client last took its frames.
    lost: u64,
    /// Lost since it connected.
    lost_total: u64,
    notice: Option<LostNotice>,
    cut: bool,
}

/// What the connection gets when it takes its frames.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    /// Frames to write (a lost notice first, when some were lost).
    Frames,
    /// The client fell too far behind: close its connection.
    Cut { lost: u64 },
}

impl Default for PushQueue {
    fn default() -> Self {
        PushQueue {
            state: Mutex::new(State {
                frames: VecDeque::new(),
                lost: 0,
                lost_total: 0,
                notice: None,
                cut: false,
            }),
            ready: Notify::new(),
            cut_off: CancellationToken::new(),
        }
    }
}

impl PushQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every change is complete before the lock is released.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `frame`, dropping the oldest when full; never waits.
    pub fn push(&self, frame: Bytes) {
        {
            let mut state = self.lock();
            if state.cut {
                return;
            }
            if state.frames.len() >= PUSH_QUEUE {
                state.frames.pop_front();
                state.lost += 1;
                state.lost_total += 1;
            }
            if state.lost >= CUT_AFTER_LOST {
                // Nothing more is kept for it: its connection closes.
                state.cut = true;
                state.frames = VecDeque::new();
                self.cut_off.cancel();
            } else {
                state.frames.push_back(frame);
            }
        }
        self.ready.notify_one();
    }

    /// How lost frames are announced to this client from now on.
    pub fn set_lost_notice(&self, notice: LostNotice) {
        self.lock().notice = Some(notice);
    }

    /// Frames lost since the client connected.
    pub fn lost_total(&self) -> u64 {
        self.lock().lost_total
    }

    /// Resolves once the client is cut off.
    pub async fn cut_off(&self) {
        self.cut_off.cancelled().await;
    }

    /// Waits until there is something to take.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// Moves the waiting frames into `out` (after a lost notice, if any),
    /// or says the client is cut off.
    pub fn take(&self, out: &mut Vec<Bytes>) -> Taken {
        let mut state = self.lock();
        if state.cut {
            return Taken::Cut {
                lost: state.lost_total,
            };
        }
        if state.lost > 0 {
            if let Some(frame) = state.notice.and_then(|notice| notice(state.lost)) {
                out.push(frame);
            }
            state.lost = 0;
        }
        out.extend(state.frames.drain(..));
        Taken::Frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    fn frame(n: usize) -> Bytes {
        Bytes::from(n.to_string())
    }

    #[test]
    fn a_client_that_keeps_up_gets_every_frame_in_order() {
        let queue = PushQueue::default();
        let mut out = Vec::new();
        for n in 0..10 {
            queue.push(frame(n));
        }
        assert_eq!(queue.take(&mut out), Taken::Frames);
        assert_eq!(out, (0..10).map(frame).collect::<Vec<_>>());
    }

    #[test]
    fn a_slow_client_loses_the_oldest_is_told_and_stays_bounded() {
        let queue = PushQueue::default();
        queue.set_lost_notice(|lost| Some(Bytes::from(format!("perdidos {lost}"))));
        for n in 0..PUSH_QUEUE + 10 {
            queue.push(frame(n));
        }
        let mut out = Vec::new();
        queue.take(&mut out);
        assert_eq!(out.len(), PUSH_QUEUE + 1);
        assert_eq!(out[0], Bytes::from("perdidos 10"));
        assert_eq!(out[1], frame(10));
        assert_eq!(out[PUSH_QUEUE], frame(PUSH_QUEUE + 9));
        assert_eq!(queue.lost_total(), 10);
    }

    #[test]
    fn a_client_far_behind_is_cut_off_and_keeps_nothing() {
        let queue = PushQueue::default();
        for n in 0..PUSH_QUEUE + CUT_AFTER_LOST as usize {
            queue.push(frame(n));
        }
        let mut out = Vec::new();
        assert_eq!(
            queue.take(&mut out),
            Taken::Cut {
                lost: CUT_AFTER_LOST
            }
        );
        assert!(out.is_empty());
        assert!(queue.lock().frames.is_empty());
        // A write stuck on this client learns it at once.
        assert!(queue.cut_off().now_or_never().is_some());
    }
}
