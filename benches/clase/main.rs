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
mod results;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use tokio::process::Command;

use procesos::{ask, Load, Role};
use results::{machine, median, print_table, push, Run, Scenario};

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
    /// Starts one of our servers (or the floor), which says where it
    /// listens in the roles' own words; its output goes to the log `what`.
    async fn start_ours(
        &mut self,
        name: &'static str,
        command: Command,
        what: &str,
    ) -> anyhow::Result<Role> {
        let log = self.log(what);
        Role::start(name, command, &log, aula::wire::texts::LISTENING).await
    }

    fn log(&mut self, what: &str) -> PathBuf {
        self.runs += 1;
        self.args
            .dir
            .join("logs")
            .join(format!("{:02}-{what}.log", self.runs))
    }

    /// An empty data folder for the run `label`.
    fn fresh_data_dir(&self, label: &str) -> std::io::Result<PathBuf> {
        let data = self.args.dir.join("datos").join(label);
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data)?;
        Ok(data)
    }

    /// Profesor on a free port, its count kept in `data`.
    fn profesor_command(&self, data: &Path) -> Command {
        let mut profesor = Command::new(env!("CARGO_BIN_EXE_profesor"));
        profesor
            .args(["--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .args(&self.args.profesor_flag);
        profesor
    }

    async fn start_class(&mut self, label: &str) -> anyhow::Result<Class> {
        let data = self.fresh_data_dir(label)?;
        let profesor = self.profesor_command(&data);
        let profesor = self
            .start_ours("profesor", profesor, &format!("{label}-profesor"))
            .await?;
        let profesor_url = format!("http://{}", profesor.listening_addr()?);
        let mut tareo = Command::new(env!("CARGO_BIN_EXE_tareo"));
        tareo
            .args(["--bind", "127.0.0.1:0", "--profesor-url", &profesor_url])
            .args(&self.args.tareo_flag);
        let tareo = self
            .start_ours("tareo", tareo, &format!("{label}-tareo"))
            .await?;
        let mut docencio = Command::new(env!("CARGO_BIN_EXE_docencio"));
        docencio
            .args(["--bind", "127.0.0.1:0", "--tareo-addr"])
            .arg(tareo.listening_addr()?)
            .args(["--profesor-url", &profesor_url, "--data-dir"])
            .arg(&data)
            .args(&self.args.docencio_flag);
        let docencio = self
            .start_ours("docencio", docencio, &format!("{label}-docencio"))
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
        let floor = self.start_ours("piso", command, "piso").await?;
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
        let data = self.fresh_data_dir("profesor-solo")?;
        let command = self.profesor_command(&data);
        let profesor = self
            .start_ours("profesor", command, "profesor-solo")
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
