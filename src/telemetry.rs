//! Logging, set up once per process by every binary (and by tests).
//!
//! Every line starts with the time, the role and the level; a line about one
//! question also carries that question's `id` (see [`QuestionId`]), so one
//! question can be followed across the four logs with `grep`. Two formats:
//! human-readable (default) and one JSON object per line for machines
//! (`--log-format json`, `AULA_LOG_FORMAT`). Verbosity follows `RUST_LOG`
//! (default `info`), per module too. Per-question lines go through a
//! [`LogBudget`] so that a class of 3 students shows every line while 1,000
//! students asking without pause do not flood the terminal.

use std::fmt;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Instant;

use indicatif::ProgressBar;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Without `RUST_LOG`: our lines at `info`, and only warnings from the HTTP
/// stack, whose start-up chatter says nothing a course user needs.
const DEFAULT_FILTER: &str = "info,actix_server=warn,actix_web=warn";

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER))
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event, in the notebook's Spanish words.
    #[default]
    Texto,
    /// One JSON object per line (`timestamp`, `level`, `role`, `target`,
    /// `message`, `id` and the event's other fields).
    Json,
}

/// The name of a question, given where it enters the system: the address
/// of the connection it came on and its number on that connection, e.g.
/// `127.0.0.1:51234#7`.
///
/// Both ends of a connection can compute it: the student (its own address,
/// the questions it sent) and the server (the peer's address, the
/// questions it read), because answers come back in order. That is also
/// how a question is followed over Docencio's link to Tareo, whose wire
/// carries no ids: Docencio logs the link's id of the question, and Tareo
/// logs the same id for the question it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuestionId {
    /// The client's end of the connection.
    pub client: SocketAddr,
    /// 1 for the first question on the connection.
    pub number: u64,
}

impl fmt::Display for QuestionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.client, self.number)
    }
}

/// The span every line about one question is logged in.
pub fn question_span(id: QuestionId) -> tracing::Span {
    tracing::info_span!("pregunta", id = %id)
}

/// The head of a human-readable line: time of day (UTC, to the
/// millisecond: enough to follow a question across four terminals) and the
/// role, so that lines of several roles merged in one file stay apart.
struct TimeAndRole {
    role: &'static str,
}

const TIME_OF_DAY: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[hour]:[minute]:[second].[subsecond digits:3]");

impl FormatTime for TimeAndRole {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let now = time::OffsetDateTime::now_utc();
        let clock = now.format(TIME_OF_DAY).map_err(|_| fmt::Error)?;
        write!(w, "{clock} {:<10}", self.role)
    }
}

/// One JSON object per event: time (RFC 3339, UTC), level, role, module,
/// message, the fields of the spans it happened in (the question's `id`)
/// and its own fields.
struct JsonLine {
    role: &'static str,
}

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let timestamp = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|_| fmt::Error)?;
        let mut line = Map::new();
        line.insert("timestamp".into(), timestamp.into());
        line.insert("level".into(), metadata.level().as_str().into());
        line.insert("role".into(), self.role.into());
        line.insert("target".into(), metadata.target().into());
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                // The subscriber records span fields with `JsonFields`.
                let Some(fields) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) {
                    line.extend(fields);
                }
            }
        }
        event.record(&mut JsonVisitor(&mut line));
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Collects an event's fields into a JSON object.
struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl JsonVisitor<'_> {
    fn insert(&mut self, field: &Field, value: Value) {
        self.0.insert(field.name().to_owned(), value);
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.insert(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.insert(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field, value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.insert(field, format!("{value:?}").into());
    }
}

/// The progress bar on the terminal, if one is shown: log lines are
/// written around it (it is hidden for the write and drawn again after).
static PROGRESS_BAR: RwLock<Option<ProgressBar>> = RwLock::new(None);

/// Makes log lines step around `bar` (`None`: write them plainly again).
pub fn show_progress_bar(bar: Option<ProgressBar>) {
    *PROGRESS_BAR.write().unwrap_or_else(|p| p.into_inner()) = bar;
}

/// Standard error, written around the progress bar when one is shown. The
/// fmt layer hands over each line in one `write`.
struct Stderr;

impl std::io::Write for Stderr {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let bar = PROGRESS_BAR.read().unwrap_or_else(|p| p.into_inner());
        match bar.as_ref() {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(line))?,
            None => std::io::stderr().write_all(line)?,
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn stderr() -> Stderr {
    Stderr
}

/// Installs the process-wide subscriber for `role`, writing to stderr;
/// human-readable lines are coloured only on a terminal so log files stay
/// plain text.
pub fn init(role: &'static str, format: LogFormat) {
    // A second call (several roles in one test process) keeps the first.
    let _ = match format {
        LogFormat::Texto => tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_timer(TimeAndRole { role })
            .with_target(false)
            .try_init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(stderr)
            .fmt_fields(JsonFields::new())
            .event_format(JsonLine { role })
            .try_init(),
    };
}

/// The same subscriber for tests, writing where the test harness captures
/// it (shown only for failing tests).
pub fn init_for_tests() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_test_writer()
        .with_timer(TimeAndRole { role: "test" })
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
        // Spent (the usual case in a busy class): a read, not a write, of
        // the shared counter, so the cores calling this do not fight over it.
        if self.used.load(Ordering::Relaxed) >= self.per_second
            || self.used.fetch_add(1, Ordering::Relaxed) >= self.per_second
        {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
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
