//! Faults under load, with the roles as real processes: kill -9 of each
//! role while 64 students ask without pause, restarts on the same port and
//! data folder, and graceful stops on SIGINT and SIGTERM.
//!
//! What is checked is what the contract promises: every question sent gets
//! exactly one answer (a real one, or an `Error:` naming who is down) within
//! the 5 s bound; students stay connected while a peer behind Docencio is
//! down; the class resumes by itself; and Profesor's count ends equal to the
//! number of forwarded questions that got a real answer.

use crate::common;

use std::time::Duration;

use aula::estudiante::{self, Summary};
use aula::wire::Question;
use common::procesos::{Addresses, RoleProcess};
use common::{http, is_relayed_answer, profesor_total, until_counted, Client, Students};
use tokio::sync::oneshot;
use tokio::time::{sleep, Instant};

/// How long the class asks between two faults: enough for thousands of
/// questions, and for a fault to hit questions in flight.
const UNDER_LOAD: Duration = Duration::from_millis(1500);

/// The contract's bound on any answer, plus scheduling slack for a loaded
/// 2-core machine.
const ANSWER_BOUND: Duration = Duration::from_millis(6500);

/// Students asking without pause at `addrs`' Docencio until told to stop.
fn students(addrs: &Addresses, students: usize) -> Students {
    Students::start(estudiante::Config {
        docencio_addrs: vec![addrs.docencio().to_string()],
        students,
        questions: None,
        pause: false,
        seed: Some(42),
        ..estudiante::Config::default()
    })
}

/// A student of the test's own, counting its real answers so that the
/// final count can be checked exactly.
struct Probe {
    client: Client,
    relayed: u64,
}

impl Probe {
    async fn connect(addrs: &Addresses) -> Probe {
        Probe {
            client: Client::connect(addrs.docencio()).await,
            relayed: 0,
        }
    }

    async fn ask(&mut self, question: Question) -> String {
        let answer = self.client.ask(question.as_str()).await;
        if is_relayed_answer(&answer) {
            self.relayed += 1;
        }
        answer
    }

    /// Asks until `question` gets a real answer; returns how long it took.
    async fn until_answered(&mut self, question: Question, limit: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let answer = self.ask(question).await;
            if is_relayed_answer(&answer) {
                return started.elapsed();
            }
            assert!(
                answer.starts_with("Error: "),
                "neither an answer nor an error: {answer}"
            );
            assert!(
                started.elapsed() < limit,
                "'{question}' still not answered after {limit:?}: {answer}"
            );
            sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Every question got exactly one answer, none wrong, nobody hung.
fn assert_every_question_answered_once(summary: &Summary, students: u64) {
    let total = &summary.total;
    assert_eq!(total.wrong, 0, "{summary}");
    assert_eq!(total.lost, 0, "no student lost its connection: {summary}");
    assert_eq!(total.unanswered, 0, "{summary}");
    assert_eq!(total.answers, total.sent, "{summary}");
    assert_eq!(total.connections, students, "nobody reconnected: {summary}");
    assert!(
        summary.max_latency() < ANSWER_BOUND,
        "an answer took {:?}: {summary}",
        summary.max_latency()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_tareo_under_load_costs_errors_naming_tareo_and_nothing_else() {
    let addrs = Addresses::new();
    let _profesor = addrs.start("profesor").await;
    let mut tareo = addrs.start("tareo").await;
    let _docencio = addrs.start("docencio").await;
    let students = students(&addrs, 64);
    let mut probe = Probe::connect(&addrs).await;
    probe
        .until_answered(Question::Tarea, Duration::from_secs(10))
        .await;
    sleep(UNDER_LOAD).await;

    tareo.kill_9().await;
    let answer = probe.ask(Question::Tarea).await;
    assert!(
        answer.starts_with("Error: ") && answer.contains("Tareo"),
        "{answer}"
    );
    // Contenido does not need Tareo.
    assert_eq!(
        probe.ask(Question::Contenido).await,
        aula::wire::texts::CONTENIDO_ANSWER
    );
    sleep(UNDER_LOAD).await;

    let _tareo = addrs.start("tareo").await;
    let recovery = probe
        .until_answered(Question::Tarea, Duration::from_secs(10))
        .await;
    println!("Tarea answered again {recovery:?} after Tareo restarted");
    sleep(UNDER_LOAD).await;

    let summary = students.finish().await;
    println!("{summary}");
    assert_every_question_answered_once(&summary, 64);
    assert!(summary.total.errors > 0, "the fault was seen: {summary}");
    until_counted(
        &addrs.profesor_url(),
        0,
        summary.total.relayed + probe.relayed,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_count_is_exact_across_two_kill_9_of_profesor_and_one_of_tareo() {
    let addrs = Addresses::new();
    let mut profesor = addrs.start("profesor").await;
    let mut tareo = addrs.start("tareo").await;
    let _docencio = addrs.start("docencio").await;
    let students = students(&addrs, 64);
    let mut probe = Probe::connect(&addrs).await;
    probe
        .until_answered(Question::PreguntaDificil, Duration::from_secs(10))
        .await;

    for fault in ["profesor", "tareo", "profesor"] {
        sleep(UNDER_LOAD).await;
        let question = if fault == "profesor" {
            profesor.kill_9().await;
            Question::PreguntaDificil
        } else {
            tareo.kill_9().await;
            Question::Tarea
        };
        let answer = probe.ask(question).await;
        let named = if fault == "profesor" {
            "Profesor"
        } else {
            "Tareo"
        };
        assert!(
            answer.starts_with("Error: ") && answer.contains(named),
            "after kill -9 of {fault}: {answer}"
        );
        sleep(UNDER_LOAD).await;
        if fault == "profesor" {
            profesor = addrs.start("profesor").await;
        } else {
            tareo = addrs.start("tareo").await;
        }
        let recovery = probe
            .until_answered(question, Duration::from_secs(10))
            .await;
        println!("'{question}' answered again {recovery:?} after {fault} restarted");
    }
    sleep(UNDER_LOAD).await;

    let summary = students.finish().await;
    println!("{summary}");
    assert_every_question_answered_once(&summary, 64);
    assert!(
        summary.total.relayed > 1000,
        "thousands forwarded: {summary}"
    );
    let expected = summary.total.relayed + probe.relayed;
    until_counted(&addrs.profesor_url(), 0, expected).await;
    println!(
        "Profesor counted {} = {expected} real answers",
        profesor_total(&addrs.profesor_url()).await
    );
    drop((profesor, tareo));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_post_survives_kill_9_and_its_key_is_still_remembered() {
    let addrs = Addresses::new();
    let mut profesor = addrs.start("profesor").await;
    let url = format!("{}/preguntas", addrs.profesor_url());
    let post = |key: &'static str, cantidad: u64| {
        http()
            .post(&url)
            .header("Idempotency-Key", key)
            .json(&serde_json::json!({ "cantidad": cantidad }))
            .send()
    };
    let first: serde_json::Value = post("antes-del-crash", 7)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["total"], 7);
    // Acknowledged, then the process dies without any chance to flush.
    profesor.kill_9().await;

    let _profesor = addrs.start("profesor").await;
    assert_eq!(profesor_total(&addrs.profesor_url()).await, 7);
    let retried = post("antes-del-crash", 7).await.unwrap();
    assert_eq!(retried.headers()["Idempotent-Replayed"], "true");
    let retried: serde_json::Value = retried.json().await.unwrap();
    assert_eq!(retried["total"], 7, "the retry got the first answer");
    assert_eq!(profesor_total(&addrs.profesor_url()).await, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_profesors_on_one_data_folder_share_one_exact_count() {
    let addrs = Addresses::new();
    let _first = addrs.start("profesor").await;
    let second = RoleProcess::start(
        "profesor",
        &[
            "--bind".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--data-dir".to_owned(),
            addrs.data_dir.path().display().to_string(),
        ],
    )
    .await;
    let urls = [
        addrs.profesor_url(),
        format!("http://{}", second.listening_addr()),
    ];
    let posts = (0..200).map(|i| {
        let url = format!("{}/preguntas", urls[i % 2]);
        async move {
            let response = http().post(url).send().await.unwrap();
            assert!(response.status().is_success());
        }
    });
    futures::future::join_all(posts).await;
    for url in &urls {
        assert_eq!(profesor_total(url).await, 200, "{url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_past_docencios_bound_are_logged_and_never_counted_twice() {
    let addrs = Addresses::new();
    let _tareo = addrs.start("tareo").await;
    // Profesor is down: Docencio must queue, and its queue holds 5.
    let mut docencio = addrs
        .start_with("docencio", &["--max-pending-notifications", "5"])
        .await;
    let mut probe = Probe::connect(&addrs).await;
    for _ in 0..8 {
        let answer = probe.ask(Question::Tarea).await;
        assert!(is_relayed_answer(&answer), "{answer}");
    }
    docencio
        .wait_for_log("Cola de avisos a Profesor llena", Duration::from_secs(10))
        .await;
    let _profesor = addrs.start("profesor").await;
    until_counted(&addrs.profesor_url(), 0, 5).await;
    assert!(
        docencio.log().contains("(3 en total)"),
        "{}",
        docencio.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_docencio_students_reconnect_with_backoff_and_keep_asking() {
    let addrs = Addresses::new();
    let _profesor = addrs.start("profesor").await;
    let _tareo = addrs.start("tareo").await;
    let mut docencio = addrs.start("docencio").await;
    let students = students(&addrs, 64);
    let url = addrs.profesor_url();
    common::until_counted_above(&url, 100, Duration::from_secs(20)).await;

    docencio.kill_9().await;
    // Down for a while: students retry with backoff, without crashing.
    sleep(UNDER_LOAD).await;
    let restarted = Instant::now();
    let docencio = addrs.start("docencio").await;
    let before = profesor_total(&url).await;
    common::until_counted_above(&url, before + 100, Duration::from_secs(10)).await;
    println!(
        "students counted again {:?} after Docencio restarted",
        restarted.elapsed()
    );
    // Backoff between tries is capped at 2 s: by then every student is back.
    sleep(aula::retry::MAX_RETRY_DELAY + Duration::from_millis(500)).await;

    let summary = students.finish().await;
    println!("{summary}");
    let total = &summary.total;
    assert_eq!(total.wrong, 0, "{summary}");
    assert!(
        total.connections >= 128,
        "every student reconnected: {summary}"
    );
    assert!(
        total.lost > 0,
        "the disconnect was seen and counted: {summary}"
    );
    assert_eq!(
        total.answers + total.lost + total.unanswered,
        total.sent,
        "{summary}"
    );
    // The new Docencio delivers what it owes on SIGTERM. What the killed
    // one had not yet reported is lost (it was only in its memory), but
    // nothing is ever counted twice.
    let (status, log) = docencio.signal("-TERM", Duration::from_secs(12)).await;
    assert!(status.success(), "{log}");
    let counted = profesor_total(&url).await;
    assert!(
        counted <= total.relayed,
        "counted {counted} > {}",
        total.relayed
    );
    println!(
        "Profesor counted {counted} of {} real answers: {} lost with the killed Docencio",
        total.relayed,
        total.relayed - counted
    );
}

/// The one JSON line `estudiante --summary-format json` prints on stdout.
fn summary_record(log: &str) -> serde_json::Value {
    log.lines()
        .find_map(|line| {
            let line = line.trim();
            line.starts_with('{')
                .then(|| serde_json::from_str::<serde_json::Value>(line).ok())
                .flatten()
                .filter(|record| record.get("relayed").is_some())
        })
        .unwrap_or_else(|| panic!("no JSON summary in: {log}"))
}

/// Every server role, under load, stops on `signal` with exit status 0,
/// answers what it was asked, and Docencio flushes its notifications.
async fn every_role_stops_cleanly_on(signal: &str) {
    let addrs = Addresses::new();
    let profesor = addrs.start("profesor").await;
    let tareo = addrs.start("tareo").await;
    let docencio = addrs.start("docencio").await;
    let students = students(&addrs, 16);
    let estudiante_args: Vec<String> = [
        "--docencio-addr",
        &addrs.docencio().to_string(),
        "--students",
        "16",
        "--no-pause",
        "--summary-format",
        "json",
    ]
    .iter()
    .map(|arg| (*arg).to_owned())
    .collect();
    let estudiante = RoleProcess::spawn("estudiante", &estudiante_args, "info");
    let url = addrs.profesor_url();
    common::until_counted_above(&url, 100, Duration::from_secs(20)).await;

    let limit = Duration::from_secs(12);
    // The student binary stops asking, waits for its answers, prints its
    // summary and exits 0.
    let (status, log) = estudiante.signal(signal, limit).await;
    assert!(
        status.success(),
        "estudiante after {signal}: {status}\n{log}"
    );
    let summary = summary_record(&log);
    assert_eq!(summary["students"], 16, "{log}");
    assert_eq!(summary["unanswered"], 0, "{log}");
    let binary_relayed = summary["relayed"].as_u64().unwrap();
    let (status, log) = tareo.signal(signal, limit).await;
    assert!(status.success(), "tareo after {signal}: {status}\n{log}");
    sleep(Duration::from_millis(300)).await;
    let (status, log) = docencio.signal(signal, limit).await;
    assert!(status.success(), "docencio after {signal}: {status}\n{log}");
    assert!(
        !log.contains("sin avisar a Profesor"),
        "docencio flushed: {log}"
    );

    let summary = students.finish().await;
    assert_eq!(summary.total.wrong, 0, "{summary}");
    // Docencio answered what it had been asked before closing, and every
    // real answer it gave reached Profesor before it exited.
    let relayed = summary.total.relayed + binary_relayed;
    assert_eq!(profesor_total(&url).await, relayed, "{summary}");
    let (status, log) = profesor.signal(signal, limit).await;
    assert!(status.success(), "profesor after {signal}: {status}\n{log}");
    let _profesor = addrs.start("profesor").await;
    assert_eq!(profesor_total(&url).await, relayed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_stops_cleanly_on_sigterm() {
    every_role_stops_cleanly_on("-TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_stops_cleanly_on_sigint() {
    every_role_stops_cleanly_on("-INT").await;
}

/// A Ctrl-C in the class's terminal reaches every role at once: Tareo may
/// close its link before Docencio has seen its own signal. Docencio then
/// stops without reconnecting and without a warning about Tareo, as for
/// any planned stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_class_stopped_all_at_once_leaves_docencio_quiet_about_tareo() {
    let addrs = Addresses::new();
    let profesor = addrs.start("profesor").await;
    let tareo = addrs.start("tareo").await;
    let docencio = addrs.start("docencio").await;
    let students = students(&addrs, 8);
    common::until_counted_above(&addrs.profesor_url(), 50, Duration::from_secs(20)).await;
    let limit = Duration::from_secs(12);
    let ((tareo_status, tareo_log), (docencio_status, docencio_log)) =
        tokio::join!(tareo.signal("-INT", limit), docencio.signal("-INT", limit));
    assert!(tareo_status.success(), "{tareo_log}");
    assert!(docencio_status.success(), "{docencio_log}");
    for alarming in [
        "Conexión con Tareo perdida",
        "Esperando a Tareo",
        "reconectando",
    ] {
        assert!(
            !docencio_log.contains(alarming),
            "'{alarming}' while stopping:\n{docencio_log}"
        );
    }
    assert_eq!(
        docencio_log
            .matches("Cliente conectado exitosamente a Tareo")
            .count(),
        1,
        "no reconnection while stopping:\n{docencio_log}"
    );
    let summary = students.finish().await;
    assert_eq!(summary.total.wrong, 0, "{summary}");
    let (status, log) = profesor.signal("-TERM", limit).await;
    assert!(status.success(), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_docencio_owes_survives_its_kill_9_while_profesor_is_down() {
    let addrs = Addresses::new();
    let _tareo = addrs.start("tareo").await;
    // Profesor is down; Docencio keeps what it owes in its data folder.
    let ledger_debug = "info,aula::docencio::ledger=debug";
    let mut docencio = addrs.start_logging("docencio", ledger_debug).await;
    let mut probe = Probe::connect(&addrs).await;
    for _ in 0..20 {
        let answer = probe.ask(Question::Tarea).await;
        assert!(is_relayed_answer(&answer), "{answer}");
    }
    docencio
        .wait_for_log("Avisos pendientes guardados: 20", Duration::from_secs(10))
        .await;
    docencio.kill_9().await;

    // Profesor first, then Docencio again: the 20 are delivered, once.
    let _profesor = addrs.start("profesor").await;
    let mut docencio = addrs.start("docencio").await;
    docencio
        .wait_for_log("20 respuestas pendientes", Duration::from_secs(10))
        .await;
    until_counted(&addrs.profesor_url(), 0, 20).await;
    // A retry of the report in flight at the kill is not counted twice.
    let mut probe = Probe::connect(&addrs).await;
    assert!(is_relayed_answer(&probe.ask(Question::Tarea).await));
    until_counted(&addrs.profesor_url(), 0, 21).await;
}

/// A Profesor that accepts connections and never answers: a stopping
/// Docencio still stops within its flush time, says what it could not
/// deliver, and keeps it on disk; started again beside a real Profesor, it
/// delivers all of it, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_profesor_does_not_hold_a_stopping_docencio_and_loses_nothing() {
    let addrs = Addresses::new();
    let silent = tokio::net::TcpListener::bind(addrs.profesor())
        .await
        .unwrap();
    let (hold, held) = oneshot::channel::<()>();
    let swallow = tokio::spawn(async move {
        let mut kept = Vec::new();
        tokio::select! {
            _ = held => {}
            () = async {
                while let Ok((stream, _)) = silent.accept().await {
                    kept.push(stream);
                }
            } => {}
        }
    });
    let _tareo = addrs.start("tareo").await;
    let docencio = addrs.start("docencio").await;
    let mut probe = Probe::connect(&addrs).await;
    for _ in 0..7 {
        let answer = probe.ask(Question::Tarea).await;
        assert!(is_relayed_answer(&answer), "{answer}");
    }
    let started = Instant::now();
    let (status, log) = docencio.signal("-INT", Duration::from_secs(12)).await;
    let took = started.elapsed();
    assert!(status.success(), "{log}");
    // Its flush time is 3 s; the request in flight must not outlast it.
    assert!(
        took < Duration::from_secs(6),
        "stopped after {took:?}: {log}"
    );
    assert!(
        log.contains(
            "Docencio se detiene con 7 respuestas sin avisar a Profesor: quedan guardadas"
        ),
        "{log}"
    );
    assert!(!log.contains("no terminaron a tiempo"), "{log}");
    assert!(!log.contains("Error al conectar con el profesor"), "{log}");

    let _ = hold.send(());
    swallow.await.unwrap();
    let _profesor = addrs.start("profesor").await;
    let _docencio = addrs.start("docencio").await;
    until_counted(&addrs.profesor_url(), 0, 7).await;
}

/// Two Tareos: one killed with -9 under load costs no student an error
/// (its questions in flight are asked again on the other), and the count
/// stays exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_one_of_two_tareos_costs_no_student_an_error() {
    let addrs = Addresses::new();
    let _profesor = addrs.start("profesor").await;
    let mut tareo = addrs.start("tareo").await;
    let other_args = vec![
        "--bind".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--profesor-url".to_owned(),
        addrs.profesor_url(),
    ];
    let other_tareo = RoleProcess::start("tareo", &other_args).await;
    let other = other_tareo.listening_addr().to_string();
    let _docencio = addrs
        .start_with("docencio", &["--tareo-addr", &other])
        .await;
    let students = students(&addrs, 32);
    let mut probe = Probe::connect(&addrs).await;
    probe
        .until_answered(Question::Tarea, Duration::from_secs(10))
        .await;
    sleep(UNDER_LOAD).await;

    tareo.kill_9().await;
    for _ in 0..20 {
        let answer = probe.ask(Question::Tarea).await;
        assert!(is_relayed_answer(&answer), "{answer}");
    }
    sleep(UNDER_LOAD).await;

    let summary = students.finish().await;
    println!("{summary}");
    assert_every_question_answered_once(&summary, 32);
    assert_eq!(summary.total.errors, 0, "{summary}");
    until_counted(
        &addrs.profesor_url(),
        0,
        summary.total.relayed + probe.relayed,
    )
    .await;
}

/// Two Profesors on one data folder: one killed with -9 under load costs
/// no student an error (Tareo asks the other; Docencio's notices go there
/// with their keys), and the count stays exact: nothing lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_one_of_two_profesors_loses_and_doubles_nothing() {
    let addrs = Addresses::new();
    let mut profesor = addrs.start("profesor").await;
    let other_args = vec![
        "--bind".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--data-dir".to_owned(),
        addrs.data_dir.path().display().to_string(),
    ];
    let other = RoleProcess::start("profesor", &other_args).await;
    let other_url = format!("http://{}", other.listening_addr());
    let both = ["--profesor-url", &other_url];
    let _tareo = addrs.start_with("tareo", &both).await;
    let _docencio = addrs.start_with("docencio", &both).await;
    let students = students(&addrs, 32);
    let mut probe = Probe::connect(&addrs).await;
    probe
        .until_answered(Question::PreguntaDificil, Duration::from_secs(10))
        .await;
    sleep(UNDER_LOAD).await;

    profesor.kill_9().await;
    for _ in 0..20 {
        let answer = probe.ask(Question::PreguntaDificil).await;
        assert!(is_relayed_answer(&answer), "{answer}");
    }
    sleep(UNDER_LOAD).await;

    let summary = students.finish().await;
    println!("{summary}");
    assert_every_question_answered_once(&summary, 32);
    assert_eq!(summary.total.errors, 0, "{summary}");
    until_counted(&other_url, 0, summary.total.relayed + probe.relayed).await;
}
