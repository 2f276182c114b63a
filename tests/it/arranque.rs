//! Any start order, and peers that go away and come back: nothing crashes,
//! questions get an `Error: ...` naming the missing peer, and the class
//! converges by itself once the peer is up.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use aula::estudiante;
use aula::wire::texts::CONTENIDO_ANSWER;
use common::*;
use tokio::net::TcpListener;

async fn bind_again(addr: SocketAddr) -> TcpListener {
    eventually(
        Duration::from_secs(5),
        "the port to be free again",
        || async move { aula::server::listen(&addr.to_string()).await.ok() },
    )
    .await
}

/// Asks `question` until a real answer comes back, checking every error on
/// the way names `peer`.
async fn until_answered(student: &mut Client, question: &str, peer: &str) -> String {
    let mut errors = 0;
    let answer = loop {
        let answer = student.ask(question).await;
        if !answer.starts_with("Error: ") {
            break answer;
        }
        assert!(
            answer.contains(peer),
            "error does not name {peer}: {answer}"
        );
        errors += 1;
        assert!(errors < 200, "no real answer after {errors} tries");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(is_relayed_answer(&answer), "{answer}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docencio_first_then_tareo_then_profesor_converges() {
    let tareo_port = reserve_port().await;
    let profesor_port = reserve_port().await;
    let profesor_url = format!("http://{}", profesor_port.addr);

    let (docencio_addr, _docencio) =
        start_docencio(&tareo_port.addr.to_string(), &profesor_url).await;
    let mut student = Client::connect(docencio_addr).await;
    assert_eq!(student.ask("Contenido").await, CONTENIDO_ANSWER);
    let answer = student.ask("Tarea").await;
    assert!(
        answer.starts_with("Error: Tareo no está disponible"),
        "{answer}"
    );

    let _tareo = start_tareo_on(tareo_port.listen(), &profesor_url, Default::default());
    until_answered(&mut student, "Tarea", "Tareo").await;
    let answer = student.ask("Pregunta Dificil").await;
    assert!(
        answer.starts_with("Error: Profesor no está disponible"),
        "{answer}"
    );

    let profesor_listener = profesor_port.listen().into_std().unwrap();
    let profesor = start_profesor_on(profesor_listener);
    until_answered(&mut student, "Pregunta Dificil", "Profesor").await;
    // The Tarea answered while Profesor was down is counted once it is up.
    until_counted_above(&profesor.url, 1, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tareo_going_away_is_named_and_docencio_reconnects_when_it_is_back() {
    let class = start_class().await;
    let mut student = Client::connect(class.docencio_addr).await;
    assert!(is_relayed_answer(&student.ask("Tarea").await));

    class.tareo.stop().await;
    let answer = student.ask("Tarea").await;
    assert!(
        answer.starts_with("Error: Tareo no está disponible"),
        "{answer}"
    );
    // The student's connection is untouched.
    assert_eq!(student.ask("Contenido").await, CONTENIDO_ANSWER);

    let _tareo = start_tareo_on(
        bind_again(class.tareo_addr).await,
        &class.profesor.url,
        Default::default(),
    );
    until_answered(&mut student, "Tarea", "Tareo").await;
    until_answered(&mut student, "Pregunta Dificil", "Tareo").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_wait_for_profesor_and_are_all_delivered() {
    let profesor_port = reserve_port().await;
    let profesor_url = format!("http://{}", profesor_port.addr);
    let (tareo_addr, _tareo) = start_tareo(&profesor_url).await;
    let (docencio_addr, _docencio) = start_docencio(&tareo_addr.to_string(), &profesor_url).await;
    let mut student = Client::connect(docencio_addr).await;
    let mut answered = 0;
    while answered < 25 {
        let answer = student.ask("Tarea").await;
        if is_relayed_answer(&answer) {
            answered += 1;
        } else {
            assert!(answer.contains("Tareo"), "{answer}");
        }
    }
    let profesor = start_profesor_on(profesor_port.listen().into_std().unwrap());
    until_counted(&profesor.url, 0, 25).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn students_started_before_docencio_wait_and_then_ask() {
    let docencio_port = reserve_port().await;
    let docencio_addr = docencio_port.addr;
    let profesor = start_profesor().await;
    let (tareo_addr, _tareo) = start_tareo(&profesor.url).await;
    let config = estudiante::Config {
        docencio_addrs: vec![docencio_addr.to_string()],
        students: 3,
        questions: Some(5),
        pause: false,
        seed: Some(3),
        ..estudiante::Config::default()
    };
    let class = tokio::spawn(estudiante::run(config, std::future::pending()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!class.is_finished(), "students gave up instead of waiting");
    let listener = docencio_port.listen();
    let profesor_url = profesor.url.clone();
    let _docencio = start_docencio_on(
        listener,
        aula::docencio::Config {
            tareo_addr: tareo_addr.to_string(),
            profesor_url,
            ..Default::default()
        },
    );
    let summary = tokio::time::timeout(Duration::from_secs(20), class)
        .await
        .expect("class did not finish")
        .unwrap();
    assert_eq!(summary.total.answers, 15, "{summary}");
    assert_eq!(summary.total.errors + summary.total.wrong, 0, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn students_survive_a_docencio_restart_and_count_what_was_lost() {
    let profesor = start_profesor().await;
    let (tareo_addr, _tareo) = start_tareo(&profesor.url).await;
    let docencio_config = aula::docencio::Config {
        tareo_addr: tareo_addr.to_string(),
        profesor_url: profesor.url.clone(),
        ..Default::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let docencio_addr = listener.local_addr().unwrap();
    let docencio = start_docencio_on(listener, docencio_config.clone());

    let config = estudiante::Config {
        docencio_addrs: vec![docencio_addr.to_string()],
        students: 20,
        questions: Some(200),
        pause: false,
        seed: Some(9),
        ..estudiante::Config::default()
    };
    let class = tokio::spawn(estudiante::run(config, std::future::pending()));

    until_counted_above(&profesor.url, 99, Duration::from_secs(20)).await;
    docencio.stop().await;
    let _docencio = start_docencio_on(bind_again(docencio_addr).await, docencio_config);
    // Finishing at all means the students found the new Docencio.
    let summary = tokio::time::timeout(Duration::from_secs(60), class)
        .await
        .expect("class did not finish")
        .unwrap();
    let total = &summary.total;
    // More connections than students: the restart came mid-class and
    // students reconnected by themselves.
    assert!(total.connections > 20, "{summary}");
    assert_eq!(total.sent, 4000, "{summary}");
    assert_eq!(total.wrong, 0, "{summary}");
    assert_eq!(
        total.answers + total.lost,
        total.sent,
        "every question answered or counted as lost: {summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_caught_by_a_closing_tareo_link_is_asked_again_not_failed() {
    use futures::{SinkExt, StreamExt};
    // A Tareo whose first connection dies with a question on it (as when
    // Tareo's idle timeout closes the link just as a question crosses it);
    // later connections answer normally.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tareo_addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((stream, _)) = listener.accept().await {
            let mut framed = tokio_util::codec::Framed::new(stream, aula::wire::frame_codec(1024));
            if std::mem::take(&mut first) {
                let _ = framed.next().await;
                continue; // dropped: closed without an answer
            }
            tokio::spawn(async move {
                while let Some(Ok(_)) = framed.next().await {
                    let answer = bytes::Bytes::from_static(b"Actualizamos los tests");
                    if framed.send(answer).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let profesor = start_profesor().await;
    let (docencio_addr, _docencio) = start_docencio(&tareo_addr.to_string(), &profesor.url).await;
    let mut student = Client::connect(docencio_addr).await;
    assert_eq!(
        student.ask("Tarea").await,
        "Respuesta del Tareo o Profesor: Actualizamos los tests"
    );
}

/// A Profesor that drops the first `POST /preguntas` after reading it (as if
/// the reply were lost) and answers the rest, recording each request's
/// `Idempotency-Key`; any other request gets a 404.
async fn forgetful_profesor() -> (SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let keys = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = keys.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&request).to_lowercase();
            if !text.starts_with("post /preguntas") {
                // Like the notebook's Profesor: no other routes (the roles'
                // reports to /informes).
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    )
                    .await;
                continue;
            }
            let key = text
                .lines()
                .find_map(|l| l.strip_prefix("idempotency-key: "))
                .unwrap_or("")
                .trim()
                .to_owned();
            let first = {
                let mut keys = seen.lock().unwrap();
                keys.push(key);
                keys.len() == 1
            };
            if first {
                continue; // read, counted, never answered
            }
            let body =
                r#"{"texto": "Llevamos: 1 preguntas respondidas", "método": "POST", "total": 1}"#;
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
        }
    });
    (addr, keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_whose_reply_was_lost_is_retried_with_the_same_idempotency_key() {
    let (profesor_addr, keys) = forgetful_profesor().await;
    let profesor_url = format!("http://{profesor_addr}");
    let (tareo_addr, _tareo) = start_tareo(&profesor_url).await;
    let (docencio_addr, _docencio) = start_docencio(&tareo_addr.to_string(), &profesor_url).await;
    let mut student = Client::connect(docencio_addr).await;
    assert!(is_relayed_answer(&student.ask("Tarea").await));
    let keys = eventually(Duration::from_secs(10), "the report to be retried", || {
        let keys = keys.clone();
        async move {
            let keys = keys.lock().unwrap().clone();
            (keys.len() >= 2).then_some(keys)
        }
    })
    .await;
    assert!(!keys[0].is_empty(), "no Idempotency-Key sent");
    assert_eq!(keys[0], keys[1], "a retry must reuse its key");
}

/// The four roles of one class, started one at a time in `order`, on ports
/// chosen in advance; returns how long after the last start every question
/// type got a real answer, once the count is checked exact.
async fn class_started_in_order(order: [&'static str; 4]) -> Duration {
    let mut profesor_port = Some(reserve_port().await);
    let mut tareo_port = Some(reserve_port().await);
    let mut docencio_port = Some(reserve_port().await);
    let tareo_addr = tareo_port.as_ref().unwrap().addr;
    let docencio_addr = docencio_port.as_ref().unwrap().addr;
    let profesor_url = format!("http://{}", profesor_port.as_ref().unwrap().addr);
    let mut roles = Vec::new();
    let mut students = None;
    // Profesor's data folder lives as long as Profesor (dropping it early
    // removed the folder under a running Profesor, which left its files behind).
    let mut profesor = None;
    for role in order {
        match role {
            "profesor" => {
                let listener = profesor_port.take().unwrap().listen().into_std().unwrap();
                profesor = Some(start_profesor_on(listener));
            }
            "tareo" => roles.push(start_tareo_on(
                tareo_port.take().unwrap().listen(),
                &profesor_url,
                aula::tareo::Config::default(),
            )),
            "docencio" => roles.push(start_docencio_on(
                docencio_port.take().unwrap().listen(),
                aula::docencio::Config {
                    tareo_addr: tareo_addr.to_string(),
                    profesor_url: profesor_url.clone(),
                    ..Default::default()
                },
            )),
            _ => {
                let config = estudiante::Config {
                    docencio_addrs: vec![docencio_addr.to_string()],
                    students: 2,
                    pause: false,
                    seed: Some(3),
                    ..estudiante::Config::default()
                };
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                let class = tokio::spawn(estudiante::run(config, async move {
                    let _ = stopped.await;
                }));
                students = Some((stop, class));
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let last_started = tokio::time::Instant::now();
    let mut probe = Client::connect(docencio_addr).await;
    let mut relayed = 0;
    for question in ["Contenido", "Tarea", "Pregunta Dificil"] {
        loop {
            let answer = probe.ask(question).await;
            if question == "Contenido" {
                assert_eq!(answer, CONTENIDO_ANSWER, "{order:?}");
                break;
            }
            if is_relayed_answer(&answer) {
                relayed += 1;
                break;
            }
            assert!(answer.starts_with("Error: "), "{order:?}: {answer}");
            assert!(
                last_started.elapsed() < Duration::from_secs(5),
                "{order:?}: '{question}' not answered 5 s after the last start: {answer}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // The students themselves (who may have been waiting in backoff) are
    // asking and being counted too.
    until_counted_above(&profesor_url, relayed, Duration::from_secs(5)).await;
    let converged = last_started.elapsed();
    let (stop, class) = students.expect("estudiante is one of the four");
    let _ = stop.send(());
    let summary = tokio::time::timeout(Duration::from_secs(20), class)
        .await
        .expect("students stop")
        .unwrap();
    assert_eq!(summary.total.wrong, 0, "{order:?}: {summary}");
    assert!(summary.total.relayed > 0, "{order:?}: {summary}");
    until_counted(&profesor_url, 0, summary.total.relayed + relayed).await;
    for role in roles {
        role.stop().await;
    }
    let profesor = profesor.expect("profesor is one of the four");
    profesor.running.stop().await;
    drop(profesor.data_dir);
    converged
}

/// Every permutation of the four roles.
fn every_order() -> Vec<[&'static str; 4]> {
    let roles = ["profesor", "tareo", "docencio", "estudiante"];
    let mut orders = Vec::new();
    for a in 0..4 {
        for b in 0..4 {
            for c in 0..4 {
                for d in 0..4 {
                    let picked = [a, b, c, d];
                    if (0..4).all(|role| picked.contains(&role)) {
                        orders.push(picked.map(|i| roles[i]));
                    }
                }
            }
        }
    }
    orders
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_class_converges_whatever_order_the_four_roles_start_in() {
    let orders = every_order();
    assert_eq!(orders.len(), 24);
    let classes = orders.into_iter().map(|order| async move {
        let converged = class_started_in_order(order).await;
        (order, converged)
    });
    let results = futures::future::join_all(classes.map(tokio::spawn)).await;
    let mut slowest = Duration::ZERO;
    for result in results {
        let (order, converged) = result.expect("a class panicked");
        println!("{order:?}: every question type answered {converged:?} after the last start");
        slowest = slowest.max(converged);
    }
    println!("slowest convergence: {slowest:?}");
}

/// A Profesor with `total` that refuses any body with a 400, counting only
/// bodyless POSTs, as a stricter rewrite of the notebook's might.
async fn profesor_refusing_bodies() -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use actix_web::{web, App, HttpResponse, HttpServer};
    use std::sync::atomic::{AtomicU64, Ordering};
    let counted = std::sync::Arc::new(AtomicU64::new(0));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = web::Data::from(counted.clone());
    let server = HttpServer::new(move || {
        App::new().app_data(state.clone()).route(
            "/preguntas",
            web::post().to(
                |body: web::Bytes, counted: web::Data<AtomicU64>| async move {
                    if !body.is_empty() {
                        return HttpResponse::BadRequest()
                            .json(serde_json::json!({"error": "sin cuerpo"}));
                    }
                    let total = counted.fetch_add(1, Ordering::SeqCst) + 1;
                    HttpResponse::Ok().json(serde_json::json!({
                        "texto": format!("Llevamos: {total} preguntas respondidas"),
                        "método": "POST",
                        "total": total,
                    }))
                },
            ),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (url, counted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profesor_that_refuses_batches_is_told_one_by_one_and_counts_exactly() {
    let (profesor_url, counted) = profesor_refusing_bodies().await;
    let (tareo_addr, _tareo) = start_tareo(&profesor_url).await;
    let (docencio_addr, _docencio) = start_docencio(&tareo_addr.to_string(), &profesor_url).await;
    let mut student = Client::connect(docencio_addr).await;
    // Many at once, so that Docencio has several to report together.
    let mut burst = Vec::new();
    for _ in 0..50 {
        burst.extend_from_slice(&5u32.to_be_bytes());
        burst.extend_from_slice(b"Tarea");
    }
    for _ in 0..4 {
        student.write_raw(&burst).await;
        for _ in 0..50 {
            assert!(is_relayed_answer(&student.read().await));
        }
    }
    eventually(Duration::from_secs(20), "all 200 counted", || {
        let counted = counted.clone();
        async move {
            let now = counted.load(std::sync::atomic::Ordering::SeqCst);
            assert!(now <= 200, "over-counted: {now}");
            (now == 200).then_some(())
        }
    })
    .await;
}
