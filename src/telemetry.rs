//! Logging, set up once per process by every binary (and by tests).
//!
//! Verbosity follows `RUST_LOG` (default `info`). Per-question lines go
//! through a [`LogBudget`] so that a class of 3 students shows every line
//! while 1,000 students asking without pause do not flood the terminal.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tracing_subscriber::fmt::time::UtcTime;
use tracing_subscriber::EnvFilter;

/// Without `RUST_LOG`: our lines at `info`, and only warnings from the HTTP
/// stack, whose start-up chatter says nothing a course user needs.
const DEFAULT_FILTER: &str = "info,actix_server=warn,actix_web=warn";

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER))
}

/// Time of day (UTC) to the millisecond: enough to follow a question across
/// four terminals, short enough to leave room for the message.
fn timer() -> UtcTime<&'static [time::format_description::FormatItem<'static>]> {
    UtcTime::new(time::macros::format_description!(
        "[hour]:[minute]:[second].[subsecond digits:3]"
    ))
}

/// Installs the process-wide subscriber: human-readable lines on stderr,
/// coloured only on a terminal so log files stay plain text.
pub fn init() {
    let stderr_is_terminal = std::io::stderr().is_terminal();
    // A second call (several roles in one test process) keeps the first.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_ansi(stderr_is_terminal)
        .with_timer(timer())
        .with_target(false)
        .try_init();
}

/// The same subscriber for tests, writing where the test harness captures
/// it (shown only for failing tests).
pub fn init_for_tests() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_test_writer()
        .with_timer(timer())
        .with_target(false)
        .try_init();
}

/// A role's exit: a fatal error is logged as one readable line (with its
/// causes, without a backtrace) where the role's other lines go, and the
/// process exits 1.
pub fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Per-question lines allowed per second at `info` before they are summarised.
pub const LINES_PER_SECOND: u64 = 10;

/// A per-second allowance of log lines. Past it, lines are counted instead
/// of printed, and the next second starts with one line saying how many were
/// left out. `RUST_LOG=debug` lifts the limit.
#[derive(Debug)]
pub struct LogBudget {
    per_second: u64,
    started: Instant,
    /// The second (since `started`) the counters below belong to.
    window: AtomicU64,
    used: AtomicU64,
    skipped: AtomicU64,
}

impl LogBudget {
    pub fn new(per_second: u64) -> Self {
        LogBudget {
            per_second,
            started: Instant::now(),
            window: AtomicU64::new(0),
            used: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        }
    }

    /// True when one more line may be printed now.
    pub fn allow(&self) -> bool {
        if tracing::enabled!(tracing::Level::DEBUG) {
            return true;
        }
        let now = self.started.elapsed().as_secs();
        let window = self.window.load(Ordering::Relaxed);
        if now != window
            && self
                .window
                .compare_exchange(window, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.used.store(0, Ordering::Relaxed);
            let skipped = self.skipped.swap(0, Ordering::Relaxed);
            if skipped > 0 {
                tracing::info!("({skipped} líneas más omitidas; RUST_LOG=debug las muestra todas)");
            }
        }
        if self.used.fetch_add(1, Ordering::Relaxed) < self.per_second {
            true
        } else {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            false
        }
    }
}

/// The process-wide budget used by every role for per-question lines.
pub fn budget() -> &'static LogBudget {
    static BUDGET: std::sync::OnceLock<LogBudget> = std::sync::OnceLock::new();
    BUDGET.get_or_init(|| LogBudget::new(LINES_PER_SECOND))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_budget_then_counts_the_rest() {
        let budget = LogBudget::new(3);
        let allowed = (0..10).filter(|_| budget.allow()).count();
        // The ten calls may straddle a second boundary; at most two windows.
        assert!((3..=6).contains(&allowed), "{allowed}");
        assert!(budget.skipped.load(Ordering::Relaxed) >= 4);
    }
}
