//! A class across several machines: every role on a host of its own (a
//! network namespace), two Profesors on one PostgreSQL, two Tareo, two
//! Docencio, and the students on a seventh host, with delay on every link.
//! Each test puts one fault on the class and checks what users would:
//! every answer right, no student error while a replica lives, and the
//! count exact (or, when a Docencio dies with answers it had not yet
//! reported, never more than the answers given).
//!
//! Root only (the namespaces); elsewhere each test is skipped saying why.
//! The tests take turns: each starts seven hosts of processes on a
//! two-core machine.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use aula::estudiante::SummaryRecord;
use common::postgres::{fresh_database, TestDatabase};
use common::procesos::RoleProcess;
use common::red::{namespaces_allowed, Conditions, Red};
use common::{eventually, profesor_total};
use serde_json::Value;
use tokio::sync::{Mutex, MutexGuard};

const TOKEN: &str = "clave-de-la-clase";
const HOSTS: [&str; 7] = [
    "profesor-1",
    "profesor-2",
    "tareo-1",
    "tareo-2",
    "docencio-1",
    "docencio-2",
    "estudiantes",
];
const STUDENTS: usize = 12;

/// One class at a time.
static TURN: Mutex<()> = Mutex::const_new(());

/// The class on its hosts. Fields drop in order: the roles stop before
/// the network and the database go.
struct Clase {
    profesores: Vec<RoleProcess>,
    tareos: Vec<RoleProcess>,
    docencios: Vec<RoleProcess>,
    /// Each Profesor as the test reads it (straight over the bridge).
    profesor_urls: Vec<String>,
    red: Red,
    database: TestDatabase,
    _data: tempfile::TempDir,
    /// What every host is given to reach each role, through the relays.
    docencio_links: Vec<SocketAddr>,
    _turn: MutexGuard<'static, ()>,
}

fn strings(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|part| (*part).to_owned()).collect()
}

impl Clase {
    /// The whole class on its hosts, every role up and listening; `None`
    /// where namespaces can't be made (the reason already printed).
    async fn start(test: &str, conditions: Conditions) -> Option<Clase> {
        if !namespaces_allowed(test) {
            return None;
        }
        let turn = TURN.lock().await;
        let database = fresh_database().await?;
        let mut red = Red::new(&HOSTS, conditions);
        let data = tempfile::tempdir().unwrap();

        let db: tokio_postgres::Config = database.url.parse().unwrap();
        let db_port = match db.get_ports() {
            [port] => *port,
            _ => 5432,
        };
        let db_host = match db.get_hosts() {
            [tokio_postgres::config::Host::Tcp(host)] => host.clone(),
            _ => "127.0.0.1".to_owned(),
        };
        let db_addr: SocketAddr = format!("{db_host}:{db_port}").parse().unwrap();
        let db_link = red.link_to(db_addr).await;
        let db_name = db.get_dbname().unwrap().to_owned();
        let db_user = db.get_user().unwrap_or("postgres").to_owned();
        let database_url = format!("postgres://{db_user}@{db_link}/{db_name}");

        let mut profesores = Vec::new();
        let mut profesor_links = Vec::new();
        let mut profesor_urls = Vec::new();
        for (i, host) in ["profesor-1", "profesor-2"].into_iter().enumerate() {
            let bind = SocketAddr::from((red.host(host).addr, 8080));
            let dir = data.path().join(host);
            std::fs::create_dir_all(&dir).unwrap();
            let args = vec![
                "--bind".into(),
                bind.to_string(),
                "--database-url".into(),
                database_url.clone(),
                "--token".into(),
                TOKEN.into(),
                "--data-dir".into(),
                dir.display().to_string(),
            ];
            let mut profesor = red.spawn(host, "profesor", &args, "info");
            profesor
                .wait_for_log("Servidor escuchando", Duration::from_secs(30))
                .await;
            assert!(
                !profesor.log().contains("sin token"),
                "profesor-{i} has a token: {}",
                profesor.log()
            );
            profesores.push(profesor);
            profesor_links.push(format!("http://{}", red.link_to(bind).await));
            profesor_urls.push(format!("http://{bind}"));
        }
        let profesor_list = profesor_links.join(",");

        let mut tareos = Vec::new();
        let mut tareo_links = Vec::new();
        for host in ["tareo-1", "tareo-2"] {
            let bind = SocketAddr::from((red.host(host).addr, 4445));
            let args = strings(&[
                "--bind",
                &bind.to_string(),
                "--profesor-url",
                &profesor_list,
                "--token",
                TOKEN,
            ]);
            let mut tareo = red.spawn(host, "tareo", &args, "info");
            tareo
                .wait_for_log("Servidor escuchando", Duration::from_secs(30))
                .await;
            tareos.push(tareo);
            tareo_links.push(red.link_to(bind).await.to_string());
        }

        let mut docencios = Vec::new();
        let mut docencio_links = Vec::new();
        for host in ["docencio-1", "docencio-2"] {
            let bind = SocketAddr::from((red.host(host).addr, 4446));
            let args = strings(&[
                "--bind",
                &bind.to_string(),
                "--tareo-addr",
                &tareo_links.join(","),
                "--profesor-url",
                &profesor_list,
                "--token",
                TOKEN,
            ]);
            let mut docencio = red.spawn(host, "docencio", &args, "info");
            docencio
                .wait_for_log("Servidor escuchando", Duration::from_secs(30))
                .await;
            docencios.push(docencio);
            docencio_links.push(red.link_to(bind).await);
        }
        Some(Clase {
            profesores,
            tareos,
            docencios,
            profesor_urls,
            red,
            database,
            _data: data,
            docencio_links,
            _turn: turn,
        })
    }

    /// The students, on their own host, spread over both Docencios,
    /// asking without pause until stopped.
    fn students(&self) -> RoleProcess {
        let docencios: Vec<String> = self.docencio_links.iter().map(|a| a.to_string()).collect();
        let args = strings(&[
            "--docencio-addr",
            &docencios.join(","),
            "--students",
            &STUDENTS.to_string(),
            "--no-pause",
            "--seed",
            "13",
            "--summary-format",
            "json",
        ]);
        self.red.spawn("estudiantes", "estudiante", &args, "warn")
    }

    /// Profesor's `/estado` as one replica shows it.
    async fn estado(&self, replica: usize) -> Value {
        client()
            .get(format!("{}/estado", self.profesor_urls[replica]))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Questions one instance has answered, as Profesor's `/estado` shows
    /// them (0 before its first informe).
    async fn questions_of(&self, replica: usize, rol: &str, host: &str) -> u64 {
        let estado = self.estado(replica).await;
        let prefix = format!("{}:", self.red.host(host).addr);
        estado["roles"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|role| {
                role["rol"] == rol && role["instancia"].as_str().unwrap().starts_with(&prefix)
            })
            .map(|role| {
                ["Contenido", "Tarea", "Pregunta Dificil"]
                    .iter()
                    .map(|kind| role["preguntas"][kind].as_u64().unwrap_or(0))
                    .sum::<u64>()
            })
            .sum()
    }

    /// Waits until the count of `replica` has passed `floor`.
    async fn until_counted_above(&self, replica: usize, floor: u64) {
        let url = self.profesor_urls[replica].clone();
        common::until_counted_above(&url, floor, Duration::from_secs(60)).await;
    }

    /// Stops the students (SIGINT: they stop asking, wait for their
    /// answers and print their summary) and returns the summary.
    async fn finish(&self, students: RoleProcess) -> SummaryRecord {
        let (status, log) = students.signal("-INT", Duration::from_secs(40)).await;
        let record = log
            .lines()
            .find_map(|line| serde_json::from_str::<SummaryRecord>(line.trim()).ok())
            .unwrap_or_else(|| panic!("no summary from the students: {log}"));
        assert!(status.success(), "students: {status}\n{log}");
        assert_eq!(record.wrong, 0, "a wrong answer: {log}");
        assert_eq!(record.unanswered, 0, "{record:?}");
        assert_eq!(
            record.sent,
            record.answers + record.lost + record.unanswered,
            "{record:?}"
        );
        println!("estudiantes: {record:?}");
        record
    }

    /// Waits until every live Profesor shows `expected` (the count is one,
    /// in PostgreSQL), failing at once if one ever shows more.
    async fn until_every_profesor_counts(&self, replicas: &[usize], expected: u64) {
        for &replica in replicas {
            let url = self.profesor_urls[replica].clone();
            eventually(
                Duration::from_secs(30),
                &format!("profesor-{} to count {expected}", replica + 1),
                || {
                    let url = url.clone();
                    async move {
                        let counted = profesor_total(&url).await;
                        assert!(counted <= expected, "doubled: {counted} > {expected}");
                        (counted == expected).then_some(())
                    }
                },
            )
            .await;
        }
    }

    /// Stops every role that still runs, each with SIGTERM, and checks
    /// they all stop cleanly.
    async fn stop(self) {
        for role in self
            .docencios
            .into_iter()
            .chain(self.tareos)
            .chain(self.profesores)
        {
            let name = role.name.clone();
            let (status, log) = role.signal("-TERM", Duration::from_secs(20)).await;
            assert!(status.success(), "{name}: {status}\n{log}");
        }
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// 20 ms each way and 1% of the packets lost on every link: every
/// question is answered, right, and both Profesors show one exact count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_hosts_with_delay_and_loss_every_answer_is_right_and_counted_once() {
    let conditions = Conditions {
        delay: Duration::from_millis(20),
        loss: 0.01,
    };
    let Some(clase) = Clase::start("varias máquinas con retardo y pérdida", conditions).await
    else {
        return;
    };
    let students = clase.students();
    clase.until_counted_above(0, 300).await;
    let summary = clase.finish(students).await;
    assert_eq!(summary.errors, 0, "{summary:?}");
    assert_eq!(summary.lost, 0, "{summary:?}");
    assert_eq!(summary.connections, STUDENTS as u64, "{summary:?}");
    clase
        .until_every_profesor_counts(&[0, 1], summary.relayed)
        .await;
    // Both Tareos and both Docencios had their share.
    for (rol, host) in [
        ("tareo", "tareo-1"),
        ("tareo", "tareo-2"),
        ("docencio", "docencio-1"),
        ("docencio", "docencio-2"),
    ] {
        let questions = clase.questions_of(1, rol, host).await;
        assert!(questions > 0, "{host} answered nothing");
    }
    clase.stop().await;
}

/// A Tareo host cut off the network and put back: no student sees an
/// error while the other Tareo lives, and the one that came back answers
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tareo_host_cut_off_costs_no_student_an_error_and_is_used_again_when_back() {
    let conditions = Conditions {
        delay: Duration::from_millis(5),
        loss: 0.0,
    };
    let Some(clase) =
        Clase::start("varias máquinas: una máquina de Tareo aislada", conditions).await
    else {
        return;
    };
    let students = clase.students();
    clase.until_counted_above(0, 200).await;
    clase.red.cut("tareo-1");
    let cut_at = profesor_total(&clase.profesor_urls[0]).await;
    // The class goes on on tareo-2 alone.
    clase.until_counted_above(0, cut_at + 300).await;
    let before_back = clase.questions_of(0, "tareo", "tareo-1").await;
    clase.red.restore("tareo-1");
    eventually(
        Duration::from_secs(60),
        "tareo-1 answering again",
        || async {
            (clase.questions_of(0, "tareo", "tareo-1").await > before_back + 50).then_some(())
        },
    )
    .await;
    let summary = clase.finish(students).await;
    assert_eq!(summary.errors, 0, "{summary:?}");
    assert_eq!(summary.lost, 0, "{summary:?}");
    clase
        .until_every_profesor_counts(&[0, 1], summary.relayed)
        .await;
    clase.stop().await;
}

/// One Profesor killed with -9 in the middle of the class: the other
/// answers, and the count is exact: nothing lost, nothing doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profesor_killed_loses_and_doubles_no_count() {
    let conditions = Conditions {
        delay: Duration::from_millis(5),
        loss: 0.0,
    };
    let Some(mut clase) = Clase::start("varias máquinas: un Profesor muere", conditions).await
    else {
        return;
    };
    let students = clase.students();
    clase.until_counted_above(1, 200).await;
    let log = clase.profesores[0].kill_9().await;
    let killed_at = profesor_total(&clase.profesor_urls[1]).await;
    clase.until_counted_above(1, killed_at + 300).await;
    let summary = clase.finish(students).await;
    assert_eq!(summary.errors, 0, "{summary:?}\nprofesor-1: {log}");
    assert_eq!(summary.lost, 0, "{summary:?}");
    clase
        .until_every_profesor_counts(&[1], summary.relayed)
        .await;
    let killed = clase.profesores.remove(0);
    drop(killed);
    clase.stop().await;
}

/// One Docencio killed: its students move to the other and go on; what
/// the killed one had not yet reported is lost with it, never counted
/// twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_docencio_killed_sends_its_students_to_the_other() {
    let conditions = Conditions {
        delay: Duration::from_millis(5),
        loss: 0.0,
    };
    let Some(mut clase) = Clase::start("varias máquinas: un Docencio muere", conditions).await
    else {
        return;
    };
    let students = clase.students();
    clase.until_counted_above(0, 200).await;
    clase.docencios[0].kill_9().await;
    let killed_at = profesor_total(&clase.profesor_urls[0]).await;
    let before = clase.questions_of(0, "docencio", "docencio-2").await;
    clase.until_counted_above(0, killed_at + 300).await;
    // Every student is on docencio-2 now, and its informes (sent once a
    // second, so possibly older than the count read above) show it
    // answering more than when docencio-1 died.
    eventually(
        Duration::from_secs(20),
        "all students on docencio-2, answering more than before the kill",
        || async {
            let estado = clase.estado(0).await;
            let prefix = format!("{}:", clase.red.host("docencio-2").addr);
            let all_moved = estado["roles"].as_array().unwrap().iter().any(|role| {
                role["instancia"].as_str().unwrap().starts_with(&prefix)
                    && role["conexiones"] == STUDENTS as u64
            });
            let answering = clase.questions_of(0, "docencio", "docencio-2").await > before;
            (all_moved && answering).then_some(())
        },
    )
    .await;
    let summary = clase.finish(students).await;
    assert_eq!(summary.errors, 0, "{summary:?}");
    assert!(
        summary.connections > STUDENTS as u64,
        "the students of docencio-1 reconnected: {summary:?}"
    );
    let counted = profesor_total(&clase.profesor_urls[0]).await;
    assert!(
        counted <= summary.relayed,
        "doubled: {counted} > {summary:?}"
    );
    println!(
        "contadas {counted} de {} respuestas reales: {} perdidas con el Docencio muerto",
        summary.relayed,
        summary.relayed - counted
    );
    drop(clase.docencios.remove(0));
    clase.stop().await;
}

/// PostgreSQL goes away mid-class (every connection cut, new ones
/// refused, as in a restart) and comes back: students see no error,
/// Profesor answers 503 meanwhile, and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_restarted_mid_class_loses_nothing() {
    let conditions = Conditions {
        delay: Duration::from_millis(5),
        loss: 0.0,
    };
    let Some(clase) = Clase::start("varias máquinas: PostgreSQL se reinicia", conditions).await
    else {
        return;
    };
    let students = clase.students();
    clase.until_counted_above(0, 200).await;
    clase.database.refuse_connections(true).await;
    eventually(Duration::from_secs(20), "Profesor degraded", || async {
        let salud = client()
            .get(format!("{}/salud", clase.profesor_urls[0]))
            .send()
            .await
            .unwrap();
        (salud.status() == 503).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    clase.database.refuse_connections(false).await;
    // The count is read from the database: once it answers again.
    let back_at = eventually(
        Duration::from_secs(30),
        "the count readable again",
        || async {
            let response = client()
                .get(format!("{}/preguntas", clase.profesor_urls[0]))
                .send()
                .await
                .ok()?;
            let body: Value = response.json().await.ok()?;
            body["total"].as_u64()
        },
    )
    .await;
    clase.until_counted_above(0, back_at + 200).await;
    let summary = clase.finish(students).await;
    assert_eq!(summary.errors, 0, "{summary:?}");
    assert_eq!(summary.lost, 0, "{summary:?}");
    clase
        .until_every_profesor_counts(&[0, 1], summary.relayed)
        .await;
    clase.stop().await;
}

/// `scripts/red.sh`, as a person runs it: seven hosts, a class that runs
/// for a few seconds, Profesor's final count equal to the students' real
/// answers, and nothing of it left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn red_sh_runs_the_class_on_seven_hosts_and_removes_everything() {
    if !namespaces_allowed("scripts/red.sh") {
        return;
    }
    let _turn = TURN.lock().await;
    let logs = tempfile::tempdir().unwrap();
    let bin_dir = common::procesos::binary("profesor")
        .parent()
        .unwrap()
        .to_owned();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/red.sh");
    let run = tokio::process::Command::new(script)
        .args(["--students", "3", "--duration", "4", "--", "--no-pause"])
        .env("AULA_BIN_DIR", &bin_dir)
        .env("AULA_LOG_DIR", logs.path())
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("red.sh ends within 120 s")
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("Panel      http://10.250.0.11:4444/panel"),
        "{text}"
    );
    let number_after = |marker: &str| -> u64 {
        let rest = &text[text
            .find(marker)
            .unwrap_or_else(|| panic!("{marker}: {text}"))
            + marker.len()..];
        rest.trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("{marker}: {text}"))
    };
    let relayed = number_after("de Tareo o Profesor:");
    assert!(relayed > 0, "{text}");
    assert_eq!(number_after("\"total\":"), relayed, "{text}");
    assert!(
        text.contains("máquinas, puente y procesos retirados"),
        "{text}"
    );
    let namespaces = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let namespaces = String::from_utf8_lossy(&namespaces.stdout);
    assert!(!namespaces.contains("aula-red-"), "{namespaces}");
    let bridge = std::process::Command::new("ip")
        .args(["link", "show", "aula-red"])
        .output()
        .unwrap();
    assert!(!bridge.status.success(), "the bridge is gone");
}
