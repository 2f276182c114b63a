//! What a running class shows while it asks: on a terminal, with a known
//! number of questions, a progress bar with answers per second; a class
//! asking forever (the notebook's way) too large or too fast to follow line
//! by line logs a progress line every few seconds instead; anything else
//! (a script reading a pipe) gets only the summary at the end.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;
use tokio::time::{sleep, Instant};
use tracing::info;

use super::Config;

/// How often a class too large or too fast to follow line by line logs its
/// progress when it asks forever.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// How often the bar is brought up to date (it redraws at most this often).
const BAR_EVERY: Duration = Duration::from_millis(200);

/// Classes up to this size with pauses are followed line by line alone.
const FOLLOWABLE_CLASS: usize = 10;

/// Answers and errors so far, shared by all students of the process.
#[derive(Debug, Default)]
pub(super) struct Progress {
    pub(super) answered: AtomicU64,
    pub(super) errors: AtomicU64,
}

/// The task showing progress, if any.
pub(super) struct ProgressDisplay {
    task: Option<JoinHandle<()>>,
    bar: Option<ProgressBar>,
}

impl ProgressDisplay {
    pub(super) fn start(config: &Config, progress: Arc<Progress>, started: Instant) -> Self {
        let on_terminal = std::io::stderr().is_terminal();
        match config.questions {
            Some(questions) if on_terminal => {
                let total = questions.saturating_mul(config.students as u64);
                let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                bar.set_style(bar_style());
                // Log lines step around the bar instead of breaking it.
                show_progress_bar(Some(bar.clone()));
                let task = tokio::spawn(update_bar(bar.clone(), progress));
                ProgressDisplay {
                    task: Some(task),
                    bar: Some(bar),
                }
            }
            None if !config.pause || config.students > FOLLOWABLE_CLASS => ProgressDisplay {
                task: Some(tokio::spawn(log_progress(progress, started))),
                bar: None,
            },
            _ => ProgressDisplay {
                task: None,
                bar: None,
            },
        }
    }

    /// Stops showing progress; the bar is cleared for the summary.
    pub(super) fn finish(self) {
        if let Some(task) = self.task {
            task.abort();
        }
        if let Some(bar) = self.bar {
            show_progress_bar(None);
            bar.finish_and_clear();
        }
    }
}

/// The progress bar on the terminal, if one is shown: log lines are
/// written around it (it is hidden for the write and drawn again after).
static PROGRESS_BAR: RwLock<Option<ProgressBar>> = RwLock::new(None);

/// Makes log lines step around `bar` (`None`: write them plainly again).
fn show_progress_bar(bar: Option<ProgressBar>) {
    *PROGRESS_BAR.write().unwrap_or_else(|p| p.into_inner()) = bar;
}

/// Standard error, written around the progress bar when one is shown: the
/// student's log writer (see `telemetry::init_with_writer`). The fmt layer
/// hands over each line in one `write`.
pub struct LogWriter;

/// The student's log writer, for `telemetry::init_with_writer`.
pub fn log_writer() -> LogWriter {
    LogWriter
}

impl Write for LogWriter {
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

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} respuestas · {per_sec} · {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
}

async fn update_bar(bar: ProgressBar, progress: Arc<Progress>) {
    loop {
        bar.set_position(progress.answered.load(Ordering::Relaxed));
        bar.set_message(format!(
            "{} errores",
            progress.errors.load(Ordering::Relaxed)
        ));
        sleep(BAR_EVERY).await;
    }
}

async fn log_progress(progress: Arc<Progress>, started: Instant) {
    let mut last = 0;
    loop {
        sleep(LOG_EVERY).await;
        let answered = progress.answered.load(Ordering::Relaxed);
        let errors = progress.errors.load(Ordering::Relaxed);
        let rate = (answered - last) as f64 / LOG_EVERY.as_secs_f64();
        last = answered;
        info!(
            "Progreso: {answered} respuestas ({rate:.0}/s en los últimos {:?}), {errors} errores, {:.0} s",
            LOG_EVERY,
            started.elapsed().as_secs_f64()
        );
    }
}
