//! What one run of the class measured, printed at the end.

use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latencies are recorded in microseconds, from 1 µs to 5 min, 3 significant digits.
fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 300_000_000, 3).expect("static histogram bounds are valid")
}

/// One student's counts.
#[derive(Debug, Clone)]
pub struct StudentTally {
    pub sent: u64,
    /// Answers received (real, error or wrong).
    pub answers: u64,
    /// Answers that were `Error: ...`.
    pub errors: u64,
    /// Answers that were neither an error nor right for the question.
    pub wrong: u64,
    /// Right answers from Tareo or Profesor (`Tarea`, `Pregunta Dificil`):
    /// what Profesor's count must add up to.
    pub relayed: u64,
    /// Questions whose connection was lost before an answer came.
    pub lost: u64,
    /// Questions still waiting when the run was stopped.
    pub unanswered: u64,
    /// Connections opened (more than one means Docencio went away).
    pub connections: u64,
    /// Profesor's announcements received.
    pub announcements: u64,
    /// Chat lines of other students received (named students).
    pub chat_heard: u64,
    latency: Histogram<u64>,
}

impl StudentTally {
    pub fn new() -> Self {
        StudentTally {
            sent: 0,
            answers: 0,
            errors: 0,
            wrong: 0,
            relayed: 0,
            lost: 0,
            unanswered: 0,
            connections: 0,
            announcements: 0,
            chat_heard: 0,
            latency: latency_histogram(),
        }
    }

    /// Records one answer that took `latency`.
    pub fn record(&mut self, latency: Duration) {
        self.answers += 1;
        self.latency.saturating_record(latency.as_micros() as u64);
    }
}

impl Default for StudentTally {
    fn default() -> Self {
        Self::new()
    }
}

/// The whole class's counts.
#[derive(Debug, Clone)]
pub struct Summary {
    pub students: usize,
    pub total: StudentTally,
    pub elapsed: Duration,
}

impl Summary {
    pub fn new(students: usize) -> Self {
        Summary {
            students,
            total: StudentTally::new(),
            elapsed: Duration::ZERO,
        }
    }

    pub fn add(&mut self, tally: StudentTally) {
        let total = &mut self.total;
        total.sent += tally.sent;
        total.answers += tally.answers;
        total.errors += tally.errors;
        total.wrong += tally.wrong;
        total.relayed += tally.relayed;
        total.lost += tally.lost;
        total.unanswered += tally.unanswered;
        total.connections += tally.connections;
        total.announcements += tally.announcements;
        total.chat_heard += tally.chat_heard;
        // Same bounds on both sides, so adding cannot fail.
        let _ = total.latency.add(&tally.latency);
    }

    pub fn finish(&mut self, elapsed: Duration) {
        self.elapsed = elapsed;
    }

    /// Answers per second over the whole run.
    pub fn answers_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.total.answers as f64 / secs
        } else {
            0.0
        }
    }

    /// The latency at `quantile` (0.0–1.0), or zero with no answers.
    pub fn latency(&self, quantile: f64) -> Duration {
        Duration::from_micros(self.total.latency.value_at_quantile(quantile))
    }

    pub fn max_latency(&self) -> Duration {
        Duration::from_micros(self.total.latency.max())
    }
}

/// The summary as one JSON object, for scripts such as the benchmark.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SummaryRecord {
    pub students: usize,
    pub sent: u64,
    pub answers: u64,
    pub errors: u64,
    pub wrong: u64,
    pub relayed: u64,
    pub lost: u64,
    pub unanswered: u64,
    pub connections: u64,
    /// Profesor's announcements received, by all the students.
    #[serde(default)]
    pub announcements: u64,
    pub elapsed_s: f64,
    pub answers_per_s: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    pub fn record(&self) -> SummaryRecord {
        let t = &self.total;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        SummaryRecord {
            students: self.students,
            sent: t.sent,
            answers: t.answers,
            errors: t.errors,
            wrong: t.wrong,
            relayed: t.relayed,
            lost: t.lost,
            unanswered: t.unanswered,
            connections: t.connections,
            announcements: t.announcements,
            elapsed_s: self.elapsed.as_secs_f64(),
            answers_per_s: self.answers_per_second(),
            p50_ms: ms(self.latency(0.50)),
            p90_ms: ms(self.latency(0.90)),
            p99_ms: ms(self.latency(0.99)),
            max_ms: ms(self.max_latency()),
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

impl Summary {
    /// The summary as `--summary-format` asks: text, or one JSON line.
    pub fn shown(&self, format: super::args::SummaryFormat) -> String {
        match format {
            super::args::SummaryFormat::Texto => self.to_string(),
            super::args::SummaryFormat::Json => serde_json::to_string(&self.record())
                .unwrap_or_else(|err| format!("{{\"error\":\"{err}\"}}")),
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.total;
        writeln!(f, "Resumen de la clase ({} estudiante(s))", self.students)?;
        writeln!(f, "  preguntas enviadas: {}", t.sent)?;
        writeln!(
            f,
            "  respuestas:         {} (errores: {}, incorrectas: {}, perdidas: {}, sin responder al detener: {})",
            t.answers, t.errors, t.wrong, t.lost, t.unanswered
        )?;
        writeln!(
            f,
            "  de Tareo o Profesor: {} (lo que Profesor debe haber contado)",
            t.relayed
        )?;
        if t.announcements > 0 || t.chat_heard > 0 {
            writeln!(
                f,
                "  de la sala:         {} anuncio(s), {} mensaje(s) de chat",
                t.announcements, t.chat_heard
            )?;
        }
        writeln!(
            f,
            "  duración:           {:.2} s, {:.1} respuestas/s",
            self.elapsed.as_secs_f64(),
            self.answers_per_second()
        )?;
        write!(
            f,
            "  latencia:           p50 {}, p90 {}, p99 {}, máx {}",
            ms(self.latency(0.50)),
            ms(self.latency(0.90)),
            ms(self.latency(0.99)),
            ms(self.max_latency())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_students_and_computes_percentiles() {
        let mut summary = Summary::new(2);
        for offset in [0u64, 50] {
            let mut tally = StudentTally::new();
            for ms in 1..=50u64 {
                tally.sent += 1;
                tally.record(Duration::from_millis(ms + offset));
            }
            summary.add(tally);
        }
        summary.finish(Duration::from_secs(2));
        assert_eq!(summary.total.answers, 100);
        assert_eq!(summary.answers_per_second(), 50.0);
        let p50 = summary.latency(0.5).as_millis();
        assert!((49..=51).contains(&p50), "{p50}");
        assert!(summary.max_latency() >= Duration::from_millis(100));
        let text = summary.to_string();
        assert!(text.contains("preguntas enviadas: 100"), "{text}");
        assert!(text.contains("50.0 respuestas/s"), "{text}");
        let json = serde_json::to_value(summary.record()).unwrap();
        assert_eq!(json["answers"], 100);
        assert_eq!(json["answers_per_s"], 50.0);
        let max_ms = json["max_ms"].as_f64().unwrap();
        assert!((100.0..101.0).contains(&max_ms), "{json}");
    }
}
