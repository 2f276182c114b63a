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
use std::time::Instant;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::MakeWriter;
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
    /// Una línea legible por evento
    #[default]
    Texto,
    /// Un objeto JSON por línea (timestamp, level, role, target, message, id...)
    Json,
}

/// The logging flag every binary takes.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Formato de los registros: `texto` (legible) o `json` (un objeto JSON
    /// por línea, para programas); el detalle y los módulos los fija RUST_LOG
    #[arg(long, env = "AULA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Texto, hide_possible_values = true)]
    pub log_format: LogFormat,
}

/// Logs a per-question line only within the process's line allowance
/// ([`budget`]), so that a class of 3 shows every line and a class of
/// 1,000 asking without pause does not flood the terminal. With `id =`,
/// the line is logged in that question's span; with `span =`, in the span
/// given.
///
/// ```ignore
/// question_line!(info, id = id, "Respondemos: {answer}");
/// question_line!(warn, "{peer}: conexión cortada");
/// ```
#[macro_export]
macro_rules! question_line {
    ($level:ident, id = $id:expr, $($arg:tt)+) => {
        if $crate::telemetry::budget().allow() {
            $crate::telemetry::question_span($id).in_scope(|| ::tracing::$level!($($arg)+));
        }
    };
    ($level:ident, span = $span:expr, $($arg:tt)+) => {
        if $crate::telemetry::budget().allow() {
            $span.in_scope(|| ::tracing::$level!($($arg)+));
        }
    };
    ($level:ident, $($arg:tt)+) => {
        if $crate::telemetry::budget().allow() {
            ::tracing::$level!($($arg)+);
        }
    };
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

/// Longest value from the network written in one log line.
const LOGGED_VALUE_LIMIT: usize = 200;

/// A value that came from the network (a question, a header, a path), made
/// safe for a log line: control characters escaped, so that a `\n` cannot
/// forge a line of its own, and so are the Unicode line and paragraph
/// separators (which some viewers break lines at) and the bidirectional
/// controls (which can make a line read backwards on a terminal); at most
/// 200 characters.
pub fn for_log(value: &str) -> String {
    let mut safe = String::with_capacity(value.len().min(LOGGED_VALUE_LIMIT));
    for (count, c) in value.chars().enumerate() {
        if count == LOGGED_VALUE_LIMIT {
            safe.push('…');
            break;
        }
        if c.is_control() || is_line_or_direction_control(c) {
            safe.extend(c.escape_default());
        } else {
            safe.push(c);
        }
    }
    safe
}

/// `value` with every control character escaped as in [`for_log`], at any
/// length: for text from the network shown to people (a chat line).
pub fn escape_controls(value: &str) -> String {
    let mut safe = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_control() || is_line_or_direction_control(c) {
            safe.extend(c.escape_default());
        } else {
            safe.push(c);
        }
    }
    safe
}

/// U+2028/U+2029 (line and paragraph separators) and the bidirectional
/// embedding, override and isolate controls: not `char::is_control`, yet
/// they change how a log line is shown.
fn is_line_or_direction_control(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The span every line about one question is logged in.
pub fn question_span(id: QuestionId) -> tracing::Span {
    tracing::info_span!("pregunta", id = %id)
}

/// The span of a question whose arrival may be logged now (within the line
/// allowance), or no span at all: a question is followed from its first
/// line or not at all, and making a span for every question of a busy
/// class was measurably costly.
pub fn followed_question_span(id: QuestionId) -> tracing::Span {
    if budget().allow() {
        question_span(id)
    } else {
        tracing::Span::none()
    }
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

/// Installs the process-wide subscriber for `role`, writing to stderr;
/// human-readable lines are coloured only on a terminal so log files stay
/// plain text.
pub fn init(role: &'static str, format: LogFormat) {
    init_with_writer(role, format, std::io::stderr);
}

/// Like [`init`], writing each line through `writer` (which must still end
/// on stderr: the student's writes around its progress bar).
pub fn init_with_writer<W>(role: &'static str, format: LogFormat, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    // A second call (several roles in one test process) keeps the first.
    let _ = match format {
        LogFormat::Texto => tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(writer)
            .with_ansi(std::io::stderr().is_terminal())
            .with_timer(TimeAndRole { role })
            .with_target(false)
            .try_init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(writer)
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
pub fn exit_code<E: fmt::Display>(result: Result<(), E>) -> std::process::ExitCode {
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
    fn values_from_the_network_cannot_forge_a_log_line() {
        assert_eq!(
            for_log("Tarea\n12:00:00 profesor INFO falso"),
            "Tarea\\n12:00:00 profesor INFO falso"
        );
        assert_eq!(for_log("a\r\u{1b}[31m"), "a\\r\\u{1b}[31m");
        assert_eq!(for_log(&"x".repeat(500)).chars().count(), 201);
        assert_eq!(for_log("Pregunta Difícil"), "Pregunta Difícil");
        assert_eq!(for_log("a\u{2028}b\u{202e}c"), "a\\u{2028}b\\u{202e}c");
    }

    #[test]
    fn allows_the_budget_then_counts_the_rest() {
        let budget = LogBudget::new(3);
        let allowed = (0..10).filter(|_| budget.allow()).count();
        // The ten calls may straddle a second boundary; at most two windows.
        assert!((3..=6).contains(&allowed), "{allowed}");
        assert!(budget.skipped.load(Ordering::Relaxed) >= 4);
    }
}
