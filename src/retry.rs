//! Capped exponential backoff for every "peer not up yet" loop: Docencio
//! reaching Tareo, Docencio telling Profesor, the student reaching Docencio,
//! and a server whose `accept` fails (for example out of file descriptors).

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// The contract's cap: never more than 2 s between two tries.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);

/// First delay: short enough that a peer started a moment later is found
/// almost at once.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(50);

/// An endless sequence of delays: 50 ms doubling up to 2 s, with jitter so
/// that many students cut off at once do not all come back in lockstep.
pub fn backoff() -> impl Iterator<Item = Duration> + Send {
    backoff_up_to(MAX_RETRY_DELAY)
}

/// Like [`backoff`], never waiting more than `cap` (itself at most the
/// contract's 2 s) between two tries.
pub fn backoff_up_to(cap: Duration) -> impl Iterator<Item = Duration> + Send {
    let cap = cap.min(MAX_RETRY_DELAY);
    ExponentialBuilder::default()
        .with_min_delay(FIRST_RETRY_DELAY.min(cap))
        .with_max_delay(cap)
        .with_jitter()
        .without_max_times()
        .build()
        // Jitter is added on top of the computed delay; the cap is a promise.
        .map(move |delay| delay.min(cap))
}

/// Whether the `failures`-th failure in a row deserves a log line: the
/// first, then one every 30 (about a minute at the 2 s cap), so a peer that
/// stays down is visible without flooding the terminal.
pub fn worth_reporting(failures: u64) -> bool {
    failures == 1 || failures.is_multiple_of(30)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_never_passes_the_cap_and_never_ends() {
        let delays: Vec<Duration> = backoff().take(200).collect();
        assert_eq!(delays.len(), 200);
        assert!(delays[0] < Duration::from_millis(200));
        assert!(delays.iter().all(|d| *d <= MAX_RETRY_DELAY));
        assert!(delays[199] >= Duration::from_secs(1));
    }

    #[test]
    fn a_lower_cap_is_kept_and_a_higher_one_is_the_contracts() {
        let cap = Duration::from_millis(500);
        assert!(backoff_up_to(cap).take(200).all(|d| d <= cap));
        assert!(backoff_up_to(Duration::from_secs(60))
            .take(200)
            .all(|d| d <= MAX_RETRY_DELAY));
    }

    #[test]
    fn reports_the_first_failure_then_every_thirtieth() {
        let reported: Vec<u64> = (1..=90).filter(|n| worth_reporting(*n)).collect();
        assert_eq!(reported, [1, 30, 60, 90]);
    }
}
