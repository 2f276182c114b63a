//! What the runs measured: each run, each scenario's row folded from its
//! runs, and the table and JSON lines they are printed as.

use std::collections::BTreeMap;

use aula::estudiante::SummaryRecord;
use serde::Serialize;

/// One measured run of a scenario.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Run {
    pub answers_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub answers: u64,
    pub errors: u64,
    pub wrong: u64,
    /// Questions sent and never answered (connection lost, or still
    /// waiting when the run was stopped).
    pub lost: u64,
    /// Whether Profesor's count equals the answers the students got from
    /// Tareo and Profesor (`None` where nothing counts).
    pub count_exact: Option<bool>,
    pub ratio_to_floor: Option<f64>,
    pub peak_rss_mib: BTreeMap<&'static str, f64>,
}

impl Run {
    pub fn from_summary(summary: &SummaryRecord) -> Run {
        Run {
            answers_per_s: summary.answers_per_s,
            p50_ms: summary.p50_ms,
            p99_ms: summary.p99_ms,
            max_ms: summary.max_ms,
            answers: summary.answers,
            errors: summary.errors,
            wrong: summary.wrong,
            lost: summary.lost + summary.unanswered,
            count_exact: None,
            ratio_to_floor: None,
            peak_rss_mib: BTreeMap::new(),
        }
    }
}

/// A row of the table: a scenario and its runs.
pub struct Scenario {
    pub id: &'static str,
    pub name: String,
    pub runs: Vec<Run>,
    /// Why it did not run, when it did not.
    pub skipped: Option<String>,
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// A scenario's runs folded into one row: medians of rates, ratios and
/// percentiles; the worst maximum; sums of failures; the largest peak.
#[derive(Serialize)]
struct RowSummary<'a> {
    scenario: &'a str,
    name: &'a str,
    runs: usize,
    answers_per_s: f64,
    answers_per_s_min: f64,
    answers_per_s_max: f64,
    ratio_to_floor: Option<f64>,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    answers: u64,
    errors: u64,
    wrong: u64,
    lost: u64,
    count_exact: Option<bool>,
    peak_rss_mib: BTreeMap<&'static str, f64>,
    machine: String,
}

fn fold<'a>(scenario: &'a Scenario, machine: &str) -> RowSummary<'a> {
    let runs = &scenario.runs;
    let rates: Vec<f64> = runs.iter().map(|run| run.answers_per_s).collect();
    let ratios: Vec<f64> = runs.iter().filter_map(|run| run.ratio_to_floor).collect();
    let mut peaks: BTreeMap<&'static str, f64> = BTreeMap::new();
    for run in runs {
        for (role, peak) in &run.peak_rss_mib {
            let entry = peaks.entry(role).or_default();
            *entry = entry.max(*peak);
        }
    }
    let exact: Vec<bool> = runs.iter().filter_map(|run| run.count_exact).collect();
    RowSummary {
        scenario: scenario.id,
        name: &scenario.name,
        runs: runs.len(),
        answers_per_s: median(rates.clone()),
        answers_per_s_min: rates.iter().copied().fold(f64::INFINITY, f64::min),
        answers_per_s_max: rates.iter().copied().fold(0.0, f64::max),
        ratio_to_floor: (!ratios.is_empty()).then(|| median(ratios)),
        p50_ms: median(runs.iter().map(|run| run.p50_ms).collect()),
        p99_ms: median(runs.iter().map(|run| run.p99_ms).collect()),
        max_ms: runs.iter().map(|run| run.max_ms).fold(0.0, f64::max),
        answers: runs.iter().map(|run| run.answers).sum(),
        errors: runs.iter().map(|run| run.errors).sum(),
        wrong: runs.iter().map(|run| run.wrong).sum(),
        lost: runs.iter().map(|run| run.lost).sum(),
        count_exact: (!exact.is_empty()).then(|| exact.iter().all(|ok| *ok)),
        peak_rss_mib: peaks,
        machine: machine.to_owned(),
    }
}

pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|name| name.trim().to_owned())
        })
        .unwrap_or_else(|| "CPU desconocida".to_owned());
    format!("{cores} núcleos, {cpu}")
}

pub fn print_table(rows: &[Scenario], machine: &str) {
    println!();
    println!("Máquina: {machine}; todo en ella (roles y carga).");
    println!(
        "{:<50} {:>9} {:>7} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7} {:>6}  memoria máx. (MiB)",
        "escenario",
        "resp/s",
        "×piso",
        "p50 ms",
        "p99 ms",
        "máx ms",
        "errores",
        "malas",
        "perdid.",
        "conteo"
    );
    for scenario in rows {
        let label = format!("{} {}", scenario.id, scenario.name);
        if let Some(why) = &scenario.skipped {
            println!("{label:<50} omitido: {why}");
            continue;
        }
        let row = fold(scenario, machine);
        let ratio = row.ratio_to_floor.map_or("-".to_owned(), |ratio| {
            if ratio < 0.1 {
                format!("{ratio:.4}")
            } else {
                format!("{ratio:.2}")
            }
        });
        let count = match row.count_exact {
            Some(true) => "exacto",
            Some(false) => "DIFIERE",
            None => "-",
        };
        let peaks: Vec<String> = row
            .peak_rss_mib
            .iter()
            .map(|(role, peak)| format!("{role} {peak:.1}"))
            .collect();
        println!(
            "{label:<50} {:>9.0} {ratio:>7} {:>8.2} {:>8.2} {:>8.1} {:>7} {:>7} {:>7} {count:>6}  {}",
            row.answers_per_s,
            row.p50_ms,
            row.p99_ms,
            row.max_ms,
            row.errors,
            row.wrong,
            row.lost,
            peaks.join(", ")
        );
    }
    println!();
    for scenario in rows.iter().filter(|scenario| scenario.skipped.is_none()) {
        let row = fold(scenario, machine);
        if let Ok(line) = serde_json::to_string(&row) {
            println!("{line}");
        }
    }
}

fn report(id: &str, name: &str, run: &anyhow::Result<Run>) {
    match run {
        Ok(run) => eprintln!(
            "· {id} {name}: {:.0} resp/s, p99 {:.2} ms, errores {}, malas {}, perdidas {}",
            run.answers_per_s, run.p99_ms, run.errors, run.wrong, run.lost
        ),
        Err(err) => eprintln!("· {id} {name}: FALLÓ: {err:#}"),
    }
}

/// Adds `run` to `rows` under scenario `id`, creating the row if needed.
pub fn push(rows: &mut Vec<Scenario>, id: &'static str, name: &str, run: anyhow::Result<Run>) {
    report(id, name, &run);
    let position = match rows.iter().position(|row| row.id == id) {
        Some(position) => position,
        None => {
            rows.push(Scenario {
                id,
                name: name.to_owned(),
                runs: Vec::new(),
                skipped: None,
            });
            rows.len() - 1
        }
    };
    match run {
        Ok(run) => rows[position].runs.push(run),
        Err(err) => rows[position].skipped = Some(format!("falló: {err:#}")),
    }
}
