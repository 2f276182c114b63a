//! Replicas of a role: students spread over several Docencios, and a
//! student whose Docencio goes away goes on at another.

use crate::common;

use std::time::Duration;

use aula::estudiante;
use common::*;
use serde_json::Value;

/// Docencio instances Profesor's `/estado` shows, with their students.
async fn docencios_seen(profesor_url: &str) -> Vec<(String, u64)> {
    let estado: Value = http()
        .get(format!("{profesor_url}/estado"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut seen: Vec<(String, u64)> = estado["roles"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|role| role["rol"] == "docencio" && role["activo"] == true)
        .map(|role| {
            (
                role["instancia"].as_str().unwrap().to_owned(),
                role["conexiones"].as_u64().unwrap(),
            )
        })
        .collect();
    seen.sort();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn students_spread_over_the_docencios_and_move_on_when_one_goes_away() {
    let profesor = start_profesor().await;
    let (tareo_addr, tareo) = start_tareo(&profesor.url).await;
    let (first_addr, first) = start_docencio(&tareo_addr.to_string(), &profesor.url).await;
    let (second_addr, second) = start_docencio(&tareo_addr.to_string(), &profesor.url).await;
    let class = Students::start(estudiante::Config {
        docencio_addrs: vec![first_addr.to_string(), second_addr.to_string()],
        students: 4,
        pause: false,
        in_flight: 2,
        seed: Some(11),
        ..estudiante::Config::default()
    });
    // Student i at address i mod 2: two on each.
    let mut both = vec![(first_addr.to_string(), 2), (second_addr.to_string(), 2)];
    both.sort();
    eventually(
        Duration::from_secs(10),
        "two students on each Docencio",
        || {
            let expected = both.clone();
            let url = profesor.url.clone();
            async move { (docencios_seen(&url).await == expected).then_some(()) }
        },
    )
    .await;
    until_counted_above(&profesor.url, 100, Duration::from_secs(20)).await;

    // The first Docencio stops: its students go on at the second.
    first.stop().await;
    eventually(
        Duration::from_secs(10),
        "all four students on the second",
        || {
            let url = profesor.url.clone();
            let second = second_addr.to_string();
            async move {
                docencios_seen(&url)
                    .await
                    .iter()
                    .any(|(instance, students)| *instance == second && *students == 4)
                    .then_some(())
            }
        },
    )
    .await;
    let before = profesor_total(&profesor.url).await;
    until_counted_above(&profesor.url, before + 100, Duration::from_secs(20)).await;
    let summary = class.finish().await;
    assert_eq!(summary.total.wrong, 0, "{summary}");
    assert!(summary.total.connections >= 6, "two reconnected: {summary}");
    assert_eq!(
        summary.total.sent,
        summary.total.answers + summary.total.lost + summary.total.unanswered,
        "{summary}"
    );
    second.stop().await;
    until_counted(&profesor.url, 0, summary.total.relayed).await;
    tareo.stop().await;
    profesor.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_profesors_one_going_away_costs_no_answer_and_no_count() {
    let first = start_profesor().await;
    // A second Profesor on the same data folder: one shared, exact count.
    let listener = aula::server::listen("127.0.0.1:0")
        .await
        .unwrap()
        .into_std()
        .unwrap();
    let second = start_profesor_in(listener, first.data_dir.clone());
    let both = format!("{},{}", first.url, second.url);
    let (tareo_addr, tareo) = start_tareo(&both).await;
    let (docencio_addr, docencio) = start_docencio(&tareo_addr.to_string(), &both).await;
    let class = Students::start(estudiante::Config {
        docencio_addrs: vec![docencio_addr.to_string()],
        students: 4,
        pause: false,
        seed: Some(5),
        ..estudiante::Config::default()
    });
    until_counted_above(&second.url, 100, Duration::from_secs(20)).await;
    first.running.stop().await;
    let before = profesor_total(&second.url).await;
    until_counted_above(&second.url, before + 200, Duration::from_secs(20)).await;
    let summary = class.finish().await;
    assert_eq!(summary.total.wrong, 0, "{summary}");
    assert_eq!(
        summary.total.errors, 0,
        "no student saw Profesor go: {summary}"
    );
    docencio.stop().await;
    until_counted(&second.url, 0, summary.total.relayed).await;
    tareo.stop().await;
    second.running.stop().await;
}

/// Questions Profesor's `/metrics` says Tareo at `instance` read, over all
/// its runs.
async fn tareo_questions(profesor_url: &str, instance: &str) -> u64 {
    let text = http()
        .get(format!("{profesor_url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let labels = format!("instancia=\"{instance}\"");
    text.lines()
        .filter(|line| {
            line.starts_with("aula_preguntas_total{")
                && line.contains("rol=\"tareo\"")
                && line.contains(&labels)
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn questions_spread_over_two_tareos_and_one_going_away_costs_no_answer() {
    let profesor = start_profesor().await;
    let kept = reserve_port().await;
    let first_addr = kept.addr;
    let first = start_tareo_on(kept.listen(), &profesor.url, aula::tareo::Config::default());
    let (second_addr, second) = start_tareo(&profesor.url).await;
    let (docencio_addr, docencio) =
        start_docencio(&format!("{first_addr},{second_addr}"), &profesor.url).await;
    let class = Students::start(estudiante::Config {
        docencio_addrs: vec![docencio_addr.to_string()],
        students: 8,
        pause: false,
        in_flight: 2,
        seed: Some(3),
        ..estudiante::Config::default()
    });
    let url = profesor.url.clone();
    let (a, b) = (first_addr.to_string(), second_addr.to_string());
    eventually(Duration::from_secs(10), "both Tareos asked", || {
        let (url, a, b) = (url.clone(), a.clone(), b.clone());
        async move {
            (tareo_questions(&url, &a).await > 50 && tareo_questions(&url, &b).await > 50)
                .then_some(())
        }
    })
    .await;

    // The first Tareo goes away: the second answers everything.
    first.stop().await;
    let before = profesor_total(&url).await;
    until_counted_above(&url, before + 300, Duration::from_secs(20)).await;

    // It comes back on its port, and is asked again by itself.
    let asked_before = tareo_questions(&url, &a).await;
    let again = aula::server::listen(&a).await.unwrap();
    let first = start_tareo_on(again, &profesor.url, aula::tareo::Config::default());
    eventually(
        Duration::from_secs(10),
        "the first Tareo asked again",
        || {
            let (url, a) = (url.clone(), a.clone());
            async move { (tareo_questions(&url, &a).await > asked_before + 50).then_some(()) }
        },
    )
    .await;

    let summary = class.finish().await;
    assert_eq!(summary.total.wrong, 0, "{summary}");
    assert_eq!(
        summary.total.errors, 0,
        "no student saw a Tareo go: {summary}"
    );
    docencio.stop().await;
    until_counted(&url, 0, summary.total.relayed).await;
    first.stop().await;
    second.stop().await;
    profesor.running.stop().await;
}

/// A server that accepts connections, reads, and never answers: a replica
/// that hangs (stopped with SIGSTOP, say). Stops when dropped.
struct Hung {
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Hung {
    async fn start() -> Hung {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut stream, _)) = listener.accept().await {
                held.push(tokio::spawn(async move {
                    let mut sink = [0u8; 4096];
                    use tokio::io::AsyncReadExt;
                    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                }));
            }
        });
        Hung { addr, task }
    }
}

impl Drop for Hung {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn ask_class(
    docencio_addr: std::net::SocketAddr,
    only: aula::Question,
) -> estudiante::Summary {
    estudiante::run(
        estudiante::Config {
            docencio_addrs: vec![docencio_addr.to_string()],
            students: 4,
            questions: Some(15),
            pause: false,
            only: Some(only),
            seed: Some(9),
            ..estudiante::Config::default()
        },
        std::future::pending(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profesor_replica_that_hangs_is_passed_over_within_the_answer_time() {
    let hung = Hung::start().await;
    let profesor = start_profesor().await;
    let both = format!("http://{},{}", hung.addr, profesor.url);
    let (tareo_addr, tareo) = start_tareo(&both).await;
    let (docencio_addr, docencio) = start_docencio(&tareo_addr.to_string(), &both).await;
    let summary = ask_class(docencio_addr, aula::Question::PreguntaDificil).await;
    assert_eq!(summary.total.errors, 0, "{summary}");
    assert_eq!(summary.total.wrong, 0, "{summary}");
    assert_eq!(summary.total.answers, 60, "{summary}");
    until_counted(&profesor.url, 0, 60).await;
    docencio.stop().await;
    tareo.stop().await;
    profesor.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tareo_that_hangs_costs_no_student_an_error_while_another_answers() {
    let hung = Hung::start().await;
    let profesor = start_profesor().await;
    let (tareo_addr, tareo) = start_tareo(&profesor.url).await;
    let (docencio_addr, docencio) =
        start_docencio(&format!("{},{tareo_addr}", hung.addr), &profesor.url).await;
    let summary = ask_class(docencio_addr, aula::Question::Tarea).await;
    assert_eq!(summary.total.errors, 0, "{summary}");
    assert_eq!(summary.total.wrong, 0, "{summary}");
    assert_eq!(summary.total.answers, 60, "{summary}");
    until_counted(&profesor.url, 0, 60).await;
    docencio.stop().await;
    tareo.stop().await;
    profesor.running.stop().await;
}
