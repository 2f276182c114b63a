//! The class at full speed, measured side by side with the floor (a bare
//! framed server) and with the notebook's own Python stack. Run it with
//! `scripts/bench.sh`; `scripts/bench.sh --help` lists the options.
//!
//! Every run starts fresh processes on free ports (so each row's peak
//! memory is its own), uses `estudiante` as the load, and checks what it
//! got: errors, wrong answers, questions lost, and whether Profesor counted
//! exactly the answers the students got from Tareo and Profesor. The floor
//! and the class alternate within each round, because this machine is
//! shared and noisy: ratios to the floor are what the targets are about.

mod floor;
mod http_load;
mod procesos;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aula::estudiante::SummaryRecord;
use clap::Parser;
use serde::Serialize;
use tokio::process::Command;

use procesos::{ask, Load, Role};

#[derive(Parser, Debug)]
#[command(
    name = "scripts/bench.sh",
    about = "The class measured against the floor (a bare framed server) and against the notebook's stack",
    after_help = "scripts/bench.sh also takes --no-notebook (skip scenario 7 and its virtualenv)."
)]
struct Args {
    /// Rounds of floor and class, alternated (scenarios 1, 3 and 4)
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Questions per student with 64 students
    #[arg(long, default_value_t = 2_000)]
    questions: u64,
    /// Questions of the one student, per question type (scenario 2)
    #[arg(long, default_value_t = 5_000)]
    serial_questions: u64,
    /// Students connected at once in scenario 5
    #[arg(long, default_value_t = 10_000)]
    crowd: usize,
    /// Only these scenarios, e.g. `--scenarios 1,3` (1 to 7)
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<u8>,
    /// A Python with Flask and requests, for scenario 7 (the notebook's
    /// stack); without it scenario 7 is skipped
    #[arg(long)]
    python: Option<PathBuf>,
    /// Where each run's logs and data go
    #[arg(long, default_value = "target/bench")]
    dir: PathBuf,
    /// Extra flag for every Docencio, to measure a lever (repeatable), e.g.
    /// `--docencio-flag=--tareo-connections=2`
    #[arg(long, allow_hyphen_values = true)]
    docencio_flag: Vec<String>,
    /// Extra flag for every Tareo (repeatable)
    #[arg(long, allow_hyphen_values = true)]
    tareo_flag: Vec<String>,
    /// Extra flag for every Profesor (repeatable)
    #[arg(long, allow_hyphen_values = true)]
    profesor_flag: Vec<String>,
    /// Run as the floor server (used by the benchmark itself)
    #[arg(long, hide = true)]
    floor_server: bool,
    /// Passed by `cargo bench`; ignored
    #[arg(long, hide = true)]
    bench: bool,
}

impl Args {
    fn wants(&self, scenario: u8) -> bool {
        self.scenarios.is_empty() || self.scenarios.contains(&scenario)
    }
}

/// One measured run of a scenario.
#[derive(Debug, Clone, Serialize)]
struct Run {
    answers_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    answers: u64,
    errors: u64,
    wrong: u64,
    /// Questions sent and never answered (connection lost, or still
    /// waiting when the run was stopped).
    lost: u64,
    /// Whether Profesor's count equals the answers the students got from
    /// Tareo and Profesor (`None` where nothing counts).
    count_exact: Option<bool>,
    ratio_to_floor: Option<f64>,
    peak_rss_mib: BTreeMap<&'static str, f64>,
}

impl Run {
    fn from_summary(summary: &SummaryRecord) -> Run {
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
struct Scenario {
    id: &'static str,
    name: String,
    runs: Vec<Run>,
    /// Why it did not run, when it did not.
    skipped: Option<String>,
}

struct Bench {
    args: Args,
    estudiante: PathBuf,
    runs: usize,
    http: reqwest::Client,
}

/// Our three servers, started in the notebook's order.
struct Class {
    roles: Vec<Role>,
    profesor_url: String,
    docencio: String,
}

impl Class {
    async fn stop(self) -> BTreeMap<&'static str, f64> {
        stop_all(self.roles).await
    }
}

impl Bench {
    fn log(&mut self, what: &str) -> PathBuf {
        self.runs += 1;
        self.args
            .dir
            .join("logs")
            .join(format!("{:02}-{what}.log", self.runs))
    }

    async fn start_class(&mut self, label: &str) -> anyhow::Result<Class> {
        let data = self.args.dir.join("datos").join(label);
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data)?;
        let mut profesor = Command::new(env!("CARGO_BIN_EXE_profesor"));
        profesor
            .args(["--bind", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .args(&self.args.profesor_flag);
        let profesor = Role::start(
            "profesor",
            profesor,
            &self.log(&format!("{label}-profesor")),
            aula::wire::texts::LISTENING,
        )
        .await?;
        let profesor_url = format!("http://{}", profesor.listening_addr()?);
        let mut tareo = Command::new(env!("CARGO_BIN_EXE_tareo"));
        tareo
            .args(["--bind", "127.0.0.1:0", "--profesor-url", &profesor_url])
            .args(&self.args.tareo_flag);
        let tareo = Role::start(
            "tareo",
            tareo,
            &self.log(&format!("{label}-tareo")),
            aula::wire::texts::LISTENING,
        )
        .await?;
        let mut docencio = Command::new(env!("CARGO_BIN_EXE_docencio"));
        docencio
            .args(["--bind", "127.0.0.1:0", "--tareo-addr"])
            .arg(tareo.listening_addr()?)
            .args(["--profesor-url", &profesor_url, "--data-dir"])
            .arg(&data)
            .args(&self.args.docencio_flag);
        let docencio = Role::start(
            "docencio",
            docencio,
            &self.log(&format!("{label}-docencio")),
            aula::wire::texts::LISTENING,
        )
        .await?;
        let docencio_addr = docencio.listening_addr()?;
        Ok(Class {
            roles: vec![profesor, tareo, docencio],
            profesor_url,
            docencio: docencio_addr,
        })
    }

    /// Profesor's count, once it equals `expected` (or after 10 s).
    async fn count_is(&self, profesor_url: &str, expected: u64) -> bool {
        let url = format!("{profesor_url}/preguntas");
        for _ in 0..100 {
            if let Ok(reply) = self.http.get(&url).send().await {
                if let Ok(body) = reply.json::<serde_json::Value>().await {
                    let counted = body["texto"]
                        .as_str()
                        .and_then(|text| text.split_whitespace().nth(1))
                        .and_then(|n| n.parse::<u64>().ok());
                    if counted == Some(expected) {
                        return true;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// One run of our class under `students` × `questions`.
    async fn class_run(
        &mut self,
        label: &str,
        students: usize,
        questions: u64,
        only: Option<&str>,
        extra: &[&str],
    ) -> anyhow::Result<Run> {
        let class = self.start_class(label).await?;
        let load = Load {
            docencio: &class.docencio,
            students,
            questions,
            only,
            extra,
            deadline: Duration::from_secs(120),
        };
        let log = self.log(&format!("{label}-estudiante"));
        let summary = ask(&self.estudiante, &load, log).await;
        let exact = match &summary {
            Ok(summary) => Some(self.count_is(&class.profesor_url, summary.relayed).await),
            Err(_) => None,
        };
        let peaks = class.stop().await;
        let mut run = Run::from_summary(&summary?);
        run.count_exact = exact;
        run.peak_rss_mib = peaks;
        Ok(run)
    }

    async fn floor_run(&mut self) -> anyhow::Result<Run> {
        let mut command = Command::new(std::env::current_exe()?);
        command.arg("--floor-server");
        let floor = Role::start(
            "piso",
            command,
            &self.log("piso"),
            aula::wire::texts::LISTENING,
        )
        .await?;
        let addr = floor.listening_addr()?;
        let load = Load {
            docencio: &addr,
            students: 64,
            questions: self.args.questions,
            only: Some("Contenido"),
            extra: &[],
            deadline: Duration::from_secs(120),
        };
        let log = self.log("piso-estudiante");
        let summary = ask(&self.estudiante, &load, log).await;
        let (name, peak) = floor.stop().await;
        let mut run = Run::from_summary(&summary?);
        run.peak_rss_mib.extend(peak.map(|peak| (name, peak)));
        Ok(run)
    }

    async fn profesor_run(&mut self, clients: usize, per_client: u64) -> anyhow::Result<Run> {
        let data = self.args.dir.join("datos").join("profesor-solo");
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data)?;
        let mut command = Command::new(env!("CARGO_BIN_EXE_profesor"));
        command
            .args(["--bind", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .args(&self.args.profesor_flag);
        let profesor = Role::start(
            "profesor",
            command,
            &self.log("profesor-solo"),
            aula::wire::texts::LISTENING,
        )
        .await?;
        let url = format!("http://{}", profesor.listening_addr()?);
        let load =
            http_load::post_back_to_back(&format!("{url}/preguntas"), clients, per_client).await;
        let exact = self.count_is(&url, load.requests - load.errors).await;
        let (name, peak) = profesor.stop().await;
        let us = |q: f64| load.latency_us.value_at_quantile(q) as f64 / 1000.0;
        let answered = load.requests - load.errors;
        Ok(Run {
            answers_per_s: answered as f64 / load.elapsed.as_secs_f64(),
            p50_ms: us(0.5),
            p99_ms: us(0.99),
            max_ms: load.latency_us.max() as f64 / 1000.0,
            answers: answered,
            errors: load.errors,
            wrong: 0,
            lost: 0,
            count_exact: Some(exact),
            ratio_to_floor: None,
            peak_rss_mib: peak.map(|peak| (name, peak)).into_iter().collect(),
        })
    }
}

/// The notebook's stack: its Profesor (Flask), Tareo and Docencio, as the
/// notebook wrote them (`benches/cuaderno/`).
async fn start_notebook(bench: &mut Bench, python: &Path) -> anyhow::Result<(Vec<Role>, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/cuaderno");
    // Free ports, for programs that take a fixed one.
    let port = || -> std::io::Result<String> {
        Ok(std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port()
            .to_string())
    };
    let (profesor, tareo, docencio) = (port()?, port()?, port()?);
    let profesor_url = format!("http://127.0.0.1:{profesor}");
    let programs = [
        ("profesor", vec![profesor], "Running on"),
        (
            "tareo",
            vec![tareo.clone(), profesor_url.clone()],
            "Servidor escuchando",
        ),
        // Its line once it is connected to Tareo, as the notebook prints it.
        (
            "docencio",
            vec![docencio.clone(), tareo, profesor_url],
            "conectado exitosamente",
        ),
    ];
    let mut roles = Vec::new();
    for (name, args, ready) in programs {
        let mut command = Command::new(python);
        command
            .arg("-u")
            .arg(dir.join(format!("{name}.py")))
            .args(args);
        let log = bench.log(&format!("cuaderno-{name}"));
        roles.push(Role::start(name, command, &log, ready).await?);
    }
    Ok((roles, format!("127.0.0.1:{docencio}")))
}

/// Stops `roles`, the last started first; their peak memory by name.
async fn stop_all(roles: Vec<Role>) -> BTreeMap<&'static str, f64> {
    let mut peaks = BTreeMap::new();
    for role in roles.into_iter().rev() {
        if let (name, Some(peak)) = role.stop().await {
            peaks.insert(name, peak);
        }
    }
    peaks
}

async fn notebook_run(
    bench: &mut Bench,
    python: &Path,
    label: &str,
    students: usize,
    questions: u64,
    only: Option<&str>,
) -> anyhow::Result<Run> {
    let (roles, docencio) = start_notebook(bench, python).await?;
    let load = Load {
        docencio: &docencio,
        students,
        questions,
        only,
        // A question the notebook's Docencio loses is given up after 2 s
        // (the student reconnects), so a stuck stack still ends.
        extra: &["--answer-timeout-ms", "2000"],
        deadline: Duration::from_secs(20),
    };
    let log = bench.log(&format!("{label}-estudiante"));
    let summary = ask(&bench.estudiante, &load, log).await;
    let peaks = stop_all(roles).await;
    let mut run = Run::from_summary(&summary?);
    run.peak_rss_mib = peaks;
    Ok(run)
}

const QUESTION_TYPES: [(&str, &str); 3] = [
    ("Contenido", "Contenido"),
    ("Tarea", "Tarea"),
    ("Pregunta Dificil", "PreguntaDificil"),
];

fn median(mut values: Vec<f64>) -> f64 {
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

fn machine() -> String {
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

fn print_table(rows: &[Scenario], machine: &str) {
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
fn push(rows: &mut Vec<Scenario>, id: &'static str, name: &str, run: anyhow::Result<Run>) {
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.floor_server {
        return Ok(floor::serve().await?);
    }
    std::fs::create_dir_all(args.dir.join("logs"))?;
    let estudiante = PathBuf::from(env!("CARGO_BIN_EXE_estudiante"));
    let mut bench = Bench {
        args,
        estudiante,
        runs: 0,
        http: reqwest::Client::new(),
    };
    let machine = machine();
    let mut rows: Vec<Scenario> = Vec::new();
    let q = bench.args.questions;
    let s3_name = format!("64 estudiantes × {q}, mezcladas (titular)");
    let s3x2_name = format!("128 estudiantes × {q}, mezcladas (doble carga)");
    let s4_name = format!("64 estudiantes × {q}, solo Contenido");

    for round in 1..=bench.args.rounds {
        eprintln!("Ronda {round} de {}", bench.args.rounds);
        let floor = if bench.args.wants(1) || bench.args.wants(3) || bench.args.wants(4) {
            let run = bench.floor_run().await;
            let rate = run.as_ref().map(|run| run.answers_per_s).ok();
            push(
                &mut rows,
                "1",
                &format!("piso: servidor mínimo, 64 × {q}"),
                run,
            );
            rate
        } else {
            None
        };
        let with_ratio = |mut run: anyhow::Result<Run>| {
            if let (Ok(run), Some(floor)) = (&mut run, floor) {
                run.ratio_to_floor = Some(run.answers_per_s / floor);
            }
            run
        };
        if bench.args.wants(3) {
            let run = bench.class_run("mezcla-64", 64, q, None, &[]).await;
            push(&mut rows, "3", &s3_name, with_ratio(run));
            let run = bench.class_run("mezcla-128", 128, q, None, &[]).await;
            push(&mut rows, "3b", &s3x2_name, with_ratio(run));
        }
        if bench.args.wants(4) {
            let run = bench
                .class_run("contenido-64", 64, q, Some("Contenido"), &[])
                .await;
            push(&mut rows, "4", &s4_name, with_ratio(run));
        }
    }
    if bench.args.wants(2) {
        let n = bench.args.serial_questions;
        for (question, label) in QUESTION_TYPES {
            let run = bench
                .class_run(&format!("serie-{label}"), 1, n, Some(question), &[])
                .await;
            let id = match label {
                "Contenido" => "2a",
                "Tarea" => "2b",
                _ => "2c",
            };
            push(
                &mut rows,
                id,
                &format!("1 estudiante en serie, {question}"),
                run,
            );
        }
    }
    if bench.args.wants(5) {
        let crowd = bench.args.crowd;
        let run = bench
            .class_run("multitud", crowd, 3, None, &["--connect-first"])
            .await;
        push(
            &mut rows,
            "5",
            &format!("{crowd} estudiantes conectados a la vez × 3"),
            run,
        );
    }
    if bench.args.wants(6) {
        let run = bench.profesor_run(1, 3_000).await;
        push(&mut rows, "6a", "Profesor solo: 1 cliente keep-alive", run);
        let run = bench.profesor_run(64, 300).await;
        push(
            &mut rows,
            "6b",
            "Profesor solo: 64 clientes keep-alive",
            run,
        );
    }
    if bench.args.wants(7) {
        match bench.args.python.clone() {
            Some(python) => {
                let serial = bench.args.serial_questions;
                let floor = rows
                    .iter()
                    .find(|row| row.id == "1")
                    .map(|row| median(row.runs.iter().map(|run| run.answers_per_s).collect()));
                for (question, label) in QUESTION_TYPES {
                    let id = match label {
                        "Contenido" => "7a",
                        "Tarea" => "7b",
                        _ => "7c",
                    };
                    let run = notebook_run(
                        &mut bench,
                        &python,
                        &format!("cuaderno-serie-{label}"),
                        1,
                        serial,
                        Some(question),
                    )
                    .await;
                    push(
                        &mut rows,
                        id,
                        &format!("cuaderno: 1 estudiante en serie, {question}"),
                        run,
                    );
                }
                let mut run =
                    notebook_run(&mut bench, &python, "cuaderno-mezcla-64", 64, q, None).await;
                if let (Ok(run), Some(floor)) = (&mut run, floor) {
                    run.ratio_to_floor = Some(run.answers_per_s / floor);
                }
                push(
                    &mut rows,
                    "7d",
                    &format!("cuaderno: 64 estudiantes × {q}, mezcladas"),
                    run,
                );
            }
            None => rows.push(Scenario {
                id: "7",
                name: "el cuaderno (Python)".to_owned(),
                runs: Vec::new(),
                skipped: Some("sin --python con Flask (scripts/bench.sh lo prepara)".to_owned()),
            }),
        }
    }
    print_table(&rows, &machine);
    eprintln!(
        "Registros de cada corrida: {}",
        bench.args.dir.join("logs").display()
    );
    let failed = rows.iter().any(|row| {
        row.skipped
            .as_deref()
            .is_some_and(|why| why.starts_with("falló"))
    });
    if failed {
        anyhow::bail!("alguna corrida falló; ver arriba");
    }
    Ok(())
}
