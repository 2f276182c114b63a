//! The class end to end, in-process: every answer text, ordering under
//! pipelining and concurrency, and Profesor's count.

use crate::common;

use std::time::Duration;

use aula::estudiante;
use aula::wire::texts::{ANSWERS, CONTENIDO_ANSWER};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_question_gets_its_exact_answer_through_docencio() {
    let class = start_class().await;
    let mut student = Client::connect(class.docencio_addr).await;

    assert_eq!(student.ask("Contenido").await, CONTENIDO_ANSWER);
    for question in ["Tarea", "Pregunta Dificil", "  pregunta difícil\n", "TAREA"] {
        let answer = student.ask(question).await;
        assert!(is_relayed_answer(&answer), "{question:?} got {answer:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tareo_answers_tarea_and_asks_profesor_for_hard_questions() {
    let profesor = start_profesor().await;
    let (tareo_addr, _tareo) = start_tareo(&profesor.url).await;
    let mut docencio = Client::connect(tareo_addr).await;
    for question in ["Tarea", "Pregunta Dificil"] {
        let answer = docencio.ask(question).await;
        assert!(
            ANSWERS.contains(&answer.as_str()),
            "{question} got {answer:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_questions_are_answered_in_the_order_asked() {
    let class = start_class().await;
    let mut student = Client::connect(class.docencio_addr).await;
    // Everything in one write: the Contenido answered locally must still
    // wait for the Pregunta Dificil sent before it.
    let questions = [
        "Pregunta Dificil",
        "Contenido",
        "Tarea",
        "Hola",
        "Contenido",
    ];
    let mut burst = Vec::new();
    for q in questions {
        burst.extend_from_slice(&(q.len() as u32).to_be_bytes());
        burst.extend_from_slice(q.as_bytes());
    }
    student.write_raw(&burst).await;
    let answers = [
        student.read().await,
        student.read().await,
        student.read().await,
        student.read().await,
        student.read().await,
    ];
    assert!(is_relayed_answer(&answers[0]), "{answers:?}");
    assert_eq!(answers[1], CONTENIDO_ANSWER);
    assert!(is_relayed_answer(&answers[2]), "{answers:?}");
    assert!(
        answers[3].starts_with("Error: pregunta desconocida: 'Hola'"),
        "{answers:?}"
    );
    assert_eq!(answers[4], CONTENIDO_ANSWER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profesor_counts_exactly_the_forwarded_questions_that_got_a_real_answer() {
    let class = start_class().await;
    let before = profesor_total(&class.profesor.url).await;
    let mut student = Client::connect(class.docencio_addr).await;
    let mut expected = 0;
    for round in 0..10 {
        assert!(is_relayed_answer(&student.ask("Tarea").await));
        assert!(is_relayed_answer(&student.ask("Pregunta Dificil").await));
        expected += 2;
        // Neither is counted: answered locally, or refused.
        assert_eq!(student.ask("Contenido").await, CONTENIDO_ANSWER);
        assert!(student
            .ask(format!("Hola {round}"))
            .await
            .starts_with("Error: "));
        assert!(student.ask("").await.starts_with("Error: "));
    }
    assert_eq!(expected, 20);
    until_counted(&class.profesor.url, before, expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_students_each_get_their_own_answers_in_order() {
    let class = start_class().await;
    let before = profesor_total(&class.profesor.url).await;
    let mut students = tokio::task::JoinSet::new();
    for number in 0..200usize {
        let addr = class.docencio_addr;
        students.spawn(async move {
            let mut client = Client::connect(addr).await;
            // A pattern of its own per student, all 20 sent before reading:
            // any answer given to the wrong student or out of order shows up
            // as a Contenido answer where a relayed one belongs, or back.
            let questions: Vec<&str> = (0..20)
                .map(|i| match (number + i * (number % 7 + 1)) % 3 {
                    0 => "Contenido",
                    1 => "Tarea",
                    _ => "Pregunta Dificil",
                })
                .collect();
            let mut burst = Vec::new();
            for q in &questions {
                burst.extend_from_slice(&(q.len() as u32).to_be_bytes());
                burst.extend_from_slice(q.as_bytes());
            }
            client.write_raw(&burst).await;
            let mut forwarded = 0u64;
            for (i, q) in questions.iter().enumerate() {
                let answer = client.read().await;
                if *q == "Contenido" {
                    assert_eq!(answer, CONTENIDO_ANSWER, "student {number}, answer {i}");
                } else {
                    assert!(
                        is_relayed_answer(&answer),
                        "student {number}, answer {i}: {answer:?}"
                    );
                    forwarded += 1;
                }
            }
            forwarded
        });
    }
    let mut forwarded = 0;
    while let Some(result) = students.join_next().await {
        forwarded += result.expect("student task panicked");
    }
    until_counted(&class.profesor.url, before, forwarded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulated_class_of_200_students_times_20_questions_is_all_correct() {
    let class = start_class().await;
    let config = estudiante::Config {
        docencio_addrs: vec![class.docencio_addr.to_string()],
        students: 200,
        questions: Some(20),
        pause: false,
        seed: Some(7),
        ..estudiante::Config::default()
    };
    let summary = estudiante::run(config, std::future::pending()).await;
    let total = &summary.total;
    assert_eq!(total.sent, 4000);
    assert_eq!(total.answers, 4000, "{summary}");
    assert_eq!(total.errors, 0, "{summary}");
    assert_eq!(total.wrong, 0, "{summary}");
    assert_eq!(total.lost, 0, "{summary}");
    assert_eq!(total.connections, 200);
    assert!(summary.answers_per_second() > 0.0);
}

/// A stand-in Docencio that records, per connection, the questions it got
/// and answers each one correctly.
async fn recording_docencio() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<Vec<String>>>>,
) {
    use futures::{SinkExt, StreamExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut framed =
                    tokio_util::codec::Framed::new(stream, aula::wire::frame_codec(1024));
                let mut asked = Vec::new();
                while let Some(Ok(frame)) = framed.next().await {
                    let question = String::from_utf8(frame.to_vec()).unwrap();
                    let answer = if question == "Contenido" {
                        CONTENIDO_ANSWER.to_owned()
                    } else {
                        format!("Respuesta del Tareo o Profesor: {}", ANSWERS[0])
                    };
                    asked.push(question);
                    framed.send(bytes::Bytes::from(answer)).await.unwrap();
                }
                record.lock().unwrap().push(asked);
            });
        }
    });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_asks_the_same_questions() {
    let mut runs = Vec::new();
    for seed in [11, 11, 12] {
        let (addr, seen) = recording_docencio().await;
        let config = estudiante::Config {
            docencio_addrs: vec![addr.to_string()],
            students: 3,
            questions: Some(30),
            pause: false,
            seed: Some(seed),
            ..estudiante::Config::default()
        };
        let summary = estudiante::run(config, std::future::pending()).await;
        assert_eq!(summary.total.answers, 90, "{summary}");
        assert_eq!(summary.total.wrong, 0, "{summary}");
        let seen = eventually(Duration::from_secs(5), "3 connections recorded", || {
            let seen = seen.clone();
            async move {
                let mut sequences = seen.lock().unwrap().clone();
                sequences.sort();
                (sequences.len() == 3).then_some(sequences)
            }
        })
        .await;
        assert!(seen.iter().all(|asked| asked.len() == 30));
        runs.push(seen);
    }
    assert_eq!(runs[0], runs[1], "same seed, same questions");
    assert_ne!(runs[0], runs[2], "another seed, other questions");
    // Random choice covers all three questions.
    let all: std::collections::HashSet<&String> = runs[0].iter().flatten().collect();
    assert_eq!(all.len(), 3, "{all:?}");
}

/// A stand-in Tareo that counts the connections it accepts and answers
/// every question with the first of the four answers.
async fn counting_tareo() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use futures::{SinkExt, StreamExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut framed =
                    tokio_util::codec::Framed::new(stream, aula::wire::frame_codec(1024));
                while let Some(Ok(_question)) = framed.next().await {
                    if framed
                        .send(bytes::Bytes::from_static(ANSWERS[0].as_bytes()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docencio_shares_its_configured_tareo_connections_and_never_opens_one_per_question() {
    for connections in [1usize, 3] {
        let profesor = start_profesor().await;
        let (tareo_addr, accepted) = counting_tareo().await;
        let (docencio_addr, _docencio) = start_docencio_with(aula::docencio::Config {
            tareo_addr: tareo_addr.to_string(),
            profesor_url: profesor.url.clone(),
            tareo_connections: connections,
            ..aula::docencio::Config::default()
        })
        .await;
        let config = estudiante::Config {
            docencio_addrs: vec![docencio_addr.to_string()],
            students: 30,
            questions: Some(10),
            pause: false,
            only: Some(aula::Question::Tarea),
            ..estudiante::Config::default()
        };
        let summary = estudiante::run(config, std::future::pending()).await;
        assert_eq!(summary.total.answers, 300, "{summary}");
        assert_eq!(summary.total.errors + summary.total.wrong, 0, "{summary}");
        assert_eq!(
            accepted.load(std::sync::atomic::Ordering::SeqCst),
            connections,
            "300 questions from 30 students"
        );
    }
}

/// 1,000 questions of every kind (and some unknown) in one write.
fn burst_of_1000(with_contenido: bool) -> (Vec<&'static str>, Vec<u8>) {
    let kinds: &[&str] = if with_contenido {
        &["Tarea", "Contenido", "Pregunta Dificil", "Hola", "  tarea "]
    } else {
        &["Tarea", "Pregunta Dificil", "Hola", "PREGUNTA DIFÍCIL"]
    };
    let questions: Vec<&str> = (0..1000)
        .map(|i| kinds[(i * 7 + i / 3) % kinds.len()])
        .collect();
    let mut burst = Vec::new();
    for q in &questions {
        burst.extend_from_slice(&(q.len() as u32).to_be_bytes());
        burst.extend_from_slice(q.as_bytes());
    }
    (questions, burst)
}

fn assert_answers_its_question(question: &str, answer: &str, relayed: bool) {
    match aula::wire::Question::parse(question.as_bytes()) {
        Ok(parsed) if relayed => assert!(parsed.is_answered_by(answer), "{question}: {answer}"),
        Ok(_) => assert!(ANSWERS.contains(&answer), "{question}: {answer}"),
        Err(_) => assert!(
            answer.starts_with("Error: pregunta desconocida"),
            "{question}: {answer}"
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_1000_questions_in_one_write_gets_1000_answers_in_order() {
    let class = start_class().await;
    let before = profesor_total(&class.profesor.url).await;

    let (questions, burst) = burst_of_1000(true);
    let mut student = Client::connect(class.docencio_addr).await;
    student.write_raw(&burst).await;
    let mut relayed = 0;
    for question in &questions {
        let answer = student.read().await;
        assert_answers_its_question(question, &answer, true);
        relayed += u64::from(is_relayed_answer(&answer));
    }
    assert_eq!(student.ask("Contenido").await, CONTENIDO_ANSWER);

    // Straight to Tareo, which answers several questions of one connection
    // at once and must still keep their order.
    let (questions, burst) = burst_of_1000(false);
    let mut docencio_like = Client::connect(class.tareo_addr).await;
    docencio_like.write_raw(&burst).await;
    for question in &questions {
        assert_answers_its_question(question, &docencio_like.read().await, false);
    }

    until_counted(&class.profesor.url, before, relayed).await;
}
