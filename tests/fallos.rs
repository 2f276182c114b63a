//! Faults under load, with the roles as real processes: kill -9 of each
//! role while 64 students ask without pause, restarts on the same port and
//! data folder, and graceful stops on SIGINT and SIGTERM.
//!
//! What is checked is what the contract promises: every question sent gets
//! exactly one answer (a real one, or an `Error:` naming who is down) within
//! the 5 s bound; students stay connected while a peer behind Docencio is
//! down; the class resumes by itself; and Profesor's count ends equal to the
//! number of forwarded questions that got a real answer.

mod common;

use std::time::Duration;

use aula::estudiante::{self, Summary};
use aula::wire::Question;
use common::procesos::Addresses;
use common::{is_relayed_answer, profesor_total, until_counted, Client};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout, Instant};

/// How long the class asks between two faults: enough for thousands of
/// questions, and for a fault to hit questions in flight.
const UNDER_LOAD: Duration = Duration::from_millis(1500);

/// The contract's bound on any answer, plus scheduling slack for a loaded
/// 2-core machine.
const ANSWER_BOUND: Duration = Duration::from_millis(6500);

/// 64 students asking without pause until told to stop.
struct Students {
    stop: oneshot::Sender<()>,
    class: JoinHandle<Summary>,
}

impl Students {
    fn start(addrs: &Addresses, students: usize) -> Students {
        let (stop, stopped) = oneshot::channel::<()>();
        let config = estudiante::Config {
            docencio_addr: addrs.docencio.to_string(),
            students,
            questions: None,
            pause: false,
            seed: Some(42),
            ..estudiante::Config::default()
        };
        let class = tokio::spawn(estudiante::run(config, async move {
            let _ = stopped.await;
        }));
        Students { stop, class }
    }

    async fn finish(self) -> Summary {
        let _ = self.stop.send(());
        timeout(Duration::from_secs(20), self.class)
            .await
            .expect("students did not stop within 20 s")
            .unwrap()
    }
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
            client: Client::connect(addrs.docencio).await,
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
    let students = Students::start(&addrs, 64);
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
    let students = Students::start(&addrs, 64);
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
