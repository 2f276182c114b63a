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

use std::sync::Arc;

mod floor;
mod http_load;
mod material;
mod postgres;
mod procesos;
mod results;
mod sala;
mod sesiones;

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
    /// Only these scenarios, e.g. `--scenarios 1,3` (1 to 12)
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

/// Where a class's Profesor and Docencio listen.
struct ClassAddrs {
    profesor_url: String,
    docencio: String,
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

    /// A class with `replicas` Tareos and `replicas` Docencios (each
    /// Docencio linked to every Tareo; the students spread over the
    /// Docencios) and one Profesor.
    async fn start_replicated_class(
        &mut self,
        label: &str,
        replicas: usize,
    ) -> anyhow::Result<Class> {
        let data = self.fresh_data_dir(label)?;
        let profesor = self.profesor_command(&data);
        let profesor = self
            .start_ours("profesor", profesor, &format!("{label}-profesor"))
            .await?;
        let profesor_url = format!("http://{}", profesor.listening_addr()?);
        let mut roles = vec![profesor];
        let mut tareos = Vec::new();
        for replica in 1..=replicas {
            let mut tareo = Command::new(env!("CARGO_BIN_EXE_tareo"));
            tareo
                .args(["--bind", "127.0.0.1:0", "--profesor-url", &profesor_url])
                .args(&self.args.tareo_flag);
            let tareo = self
                .start_ours("tareo", tareo, &format!("{label}-tareo{replica}"))
                .await?;
            tareos.push(tareo.listening_addr()?);
            roles.push(tareo);
        }
        let mut docencios = Vec::new();
        for replica in 1..=replicas {
            let mut docencio = Command::new(env!("CARGO_BIN_EXE_docencio"));
            docencio
                .args(["--bind", "127.0.0.1:0", "--tareo-addr"])
                .arg(tareos.join(","))
                .args(["--profesor-url", &profesor_url, "--data-dir"])
                .arg(&data)
                .args(&self.args.docencio_flag);
            let docencio = self
                .start_ours("docencio", docencio, &format!("{label}-docencio{replica}"))
                .await?;
            docencios.push(docencio.listening_addr()?);
            roles.push(docencio);
        }
        Ok(Class {
            roles,
            profesor_url,
            docencio: docencios.join(","),
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
        self.replicated_class_run(label, 1, students, questions, only, extra)
            .await
    }

    async fn replicated_class_run(
        &mut self,
        label: &str,
        replicas: usize,
        students: usize,
        questions: u64,
        only: Option<&str>,
        extra: &[&str],
    ) -> anyhow::Result<Run> {
        let class = self.start_replicated_class(label, replicas).await?;
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

    /// Scenario 10: `measure` against a class of one of each role; the
    /// roles' peak memory goes with the figures.
    async fn sala_run<F, Fut>(&mut self, label: &str, measure: F) -> anyhow::Result<Run>
    where
        F: FnOnce(reqwest::Client, ClassAddrs) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<Run>>,
    {
        let class = self.start_replicated_class(label, 1).await?;
        let addrs = ClassAddrs {
            profesor_url: class.profesor_url.clone(),
            docencio: class.docencio.clone(),
        };
        let run = measure(self.http.clone(), addrs).await;
        let peaks = class.stop().await;
        let mut run = run?;
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

    async fn profesor_run(
        &mut self,
        clients: usize,
        per_client: u64,
        database_url: Option<&str>,
    ) -> anyhow::Result<Run> {
        let data = self.fresh_data_dir("profesor-solo")?;
        let mut command = self.profesor_command(&data);
        if let Some(url) = database_url {
            command.args(["--database-url", url]);
        }
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

/// Scenario 12: execution sessions on a Profesor alone (see [`sesiones`]).
async fn run_sesiones(bench: &mut Bench, rows: &mut Vec<results::Scenario>) {
    let profesor = async {
        let data = bench.fresh_data_dir("sesiones")?;
        let mut command = bench.profesor_command(&data);
        command.arg("--sesiones");
        let profesor = bench.start_ours("profesor", command, "sesiones").await?;
        let url = format!("http://{}", profesor.listening_addr()?);
        anyhow::Ok((profesor, url))
    }
    .await;
    let (profesor, url) = match profesor {
        Ok(started) => started,
        Err(err) => {
            push(
                rows,
                "12a",
                "sesiones iniciadas por segundo (una tras otra)",
                Err(err),
            );
            return;
        }
    };
    let run = sesiones::starts(&bench.http, &url, 100).await;
    push(
        rows,
        "12a",
        "sesiones iniciadas por segundo, una tras otra (ms hasta su primera salida)",
        run,
    );
    let run = sesiones::echo(&bench.http, &url, 500).await;
    push(
        rows,
        "12b",
        "eco en una sesión: write → read que lo muestra (líneas/s; ms)",
        run,
    );
    let _ = profesor.stop().await;
}

/// Scenario 11: the material through Docencio (see [`material`]).
async fn run_material(bench: &mut Bench, rows: &mut Vec<results::Scenario>) {
    const BIG: usize = 256 * 1024 * 1024;
    const EACH: usize = 16 * 1024 * 1024;
    const SENT: usize = 10 * 1024 * 1024;
    let floor_one = material::floor(Arc::new(material::content(BIG)), 1).await;
    let floor_many = material::floor(Arc::new(material::content(EACH)), 64).await;
    if let Ok(floor) = &floor_one {
        eprintln!("· piso de archivos: 1 cliente {floor:.0} MiB/s");
    }
    let run = bench
        .sala_run("material-1", |http, class| async move {
            let sha = material::upload(
                &http,
                &class.profesor_url,
                "grande.bin",
                material::content(BIG),
            )
            .await?;
            material::downloads(
                class.docencio.parse()?,
                "grande.bin",
                &sha,
                1,
                floor_one.ok(),
            )
            .await
        })
        .await;
    push(
        rows,
        "11a",
        "bajar 256 MiB, 1 estudiante (MiB/s; ms por descarga)",
        run,
    );
    let run = bench
        .sala_run("material-64", |http, class| async move {
            let sha = material::upload(
                &http,
                &class.profesor_url,
                "medio.bin",
                material::content(EACH),
            )
            .await?;
            material::downloads(
                class.docencio.parse()?,
                "medio.bin",
                &sha,
                64,
                floor_many.ok(),
            )
            .await
        })
        .await;
    push(
        rows,
        "11b",
        "bajar 16 MiB, 64 estudiantes a la vez (MiB/s en total)",
        run,
    );
    let mut asked = None;
    let run = bench
        .sala_run("material-1000", |http, class| {
            let asked = &mut asked;
            async move {
                let sha = material::upload(
                    &http,
                    &class.profesor_url,
                    "enviado.bin",
                    material::content(SENT),
                )
                .await?;
                let (fan_out, questions) = material::send_to_everyone(
                    &http,
                    &class.profesor_url,
                    class.docencio.parse()?,
                    "enviado.bin",
                    &sha,
                    1_000,
                )
                .await?;
                *asked = Some(questions);
                Ok(fan_out)
            }
        })
        .await;
    push(
        rows,
        "11c",
        "enviar 10 MiB a 1.000 estudiantes, SHA-256 comprobado (MiB/s; ms hasta cada uno)",
        run,
    );
    if let Some(questions) = asked {
        push(
            rows,
            "11d",
            "preguntas de otro estudiante durante 11c (resp/s; ms)",
            Ok(questions),
        );
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
    let s8_name = format!("64 estudiantes × {q}, mezcladas, 2 Tareo y 2 Docencio");

    for round in 1..=bench.args.rounds {
        eprintln!("Ronda {round} de {}", bench.args.rounds);
        let floor = if bench.args.wants(1)
            || bench.args.wants(3)
            || bench.args.wants(4)
            || bench.args.wants(8)
        {
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
        if bench.args.wants(8) {
            let run = bench
                .replicated_class_run("replicas-64", 2, 64, q, None, &[])
                .await;
            push(&mut rows, "8", &s8_name, with_ratio(run));
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
        let run = bench.profesor_run(1, 3_000, None).await;
        push(&mut rows, "6a", "Profesor solo: 1 cliente keep-alive", run);
        let run = bench.profesor_run(64, 300, None).await;
        push(
            &mut rows,
            "6b",
            "Profesor solo: 64 clientes keep-alive",
            run,
        );
    }
    if bench.args.wants(9) {
        match postgres::fresh_database().await {
            Ok(database) => {
                let run = bench.profesor_run(64, 300, Some(&database.url)).await;
                push(
                    &mut rows,
                    "9",
                    "Profesor solo en PostgreSQL: 64 clientes keep-alive (comparar con 6b)",
                    run,
                );
                database.drop_now().await;
            }
            Err(err) => eprintln!("escenario 9 omitido: sin PostgreSQL ({err})"),
        }
    }
    if bench.args.wants(10) {
        aula::fd_limit::raise_for(12_000);
        for (id, name, students, announcements) in [
            (
                "10a",
                "anuncio a 1.000 estudiantes (mitad con nombre), 20 anuncios",
                1_000,
                20,
            ),
            (
                "10b",
                "anuncio a 10.000 estudiantes (mitad con nombre), 5 anuncios",
                10_000,
                5,
            ),
        ] {
            let run = bench
                .sala_run(&format!("sala-{students}"), |http, class| async move {
                    sala::fan_out(
                        &http,
                        &class.profesor_url,
                        class.docencio.parse()?,
                        students,
                        announcements,
                    )
                    .await
                })
                .await;
            push(&mut rows, id, name, run);
        }
        let run = bench
            .sala_run("sala-chat", |_, class| async move {
                sala::chat(class.docencio.parse()?, 100, 10).await
            })
            .await;
        push(
            &mut rows,
            "10c",
            "chat: 100 estudiantes con nombre × 10 líneas, cada una a los otros 99 (líneas entregadas/s)",
            run,
        );
    }
    if bench.args.wants(11) {
        aula::fd_limit::raise_for(4_000);
        run_material(&mut bench, &mut rows).await;
    }
    if bench.args.wants(12) {
        run_sesiones(&mut bench, &mut rows).await;
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
