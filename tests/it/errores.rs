//! Every row of the contract's error table, on both TCP servers (Docencio
//! and Tareo), as a client sees it: the exact `Error: ...` answer, and
//! whether the connection stays usable.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use aula::server::ServerLimits;
use aula::{docencio, tareo};
use common::*;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug)]
enum Server {
    Docencio,
    Tareo,
}

const BOTH: [Server; 2] = [Server::Docencio, Server::Tareo];

/// A whole class with the given limits, and the address of the server under test.
async fn server_under_test(server: Server, limits: ServerLimits) -> (SocketAddr, Class) {
    let class = start_class_with(limits).await;
    let addr = match server {
        Server::Docencio => class.docencio_addr,
        Server::Tareo => class.tareo_addr,
    };
    (addr, class)
}

/// Checks the connection is still usable after an error answer.
async fn still_answers(client: &mut Client, server: Server) {
    assert_answers_tarea(server, &client.ask("Tarea").await);
}

/// A real answer to `Tarea` as `server` gives it.
fn assert_answers_tarea(server: Server, answer: &str) {
    match server {
        Server::Docencio => assert!(is_relayed_answer(answer), "{answer:?}"),
        Server::Tareo => assert!(aula::wire::texts::ANSWERS.contains(&answer), "{answer:?}"),
    }
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_question_gets_an_error_naming_the_valid_ones_and_stays_open() {
    for server in BOTH {
        let (addr, _class) = server_under_test(server, ServerLimits::default()).await;
        let mut client = Client::connect(addr).await;
        assert_eq!(
            client.ask("Hola").await,
            "Error: pregunta desconocida: 'Hola' (válidas: Contenido, Tarea, Pregunta Dificil)",
            "{server:?}"
        );
        still_answers(&mut client, server).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_frame_gets_an_error_and_stays_open() {
    for server in BOTH {
        let (addr, _class) = server_under_test(server, ServerLimits::default()).await;
        let mut client = Client::connect(addr).await;
        client.write_raw(&[0, 0, 0, 0]).await;
        let answer = client.read().await;
        assert!(
            answer.starts_with("Error: mensaje vacío"),
            "{server:?}: {answer}"
        );
        still_answers(&mut client, server).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_gets_an_error_and_stays_open() {
    for server in BOTH {
        let (addr, _class) = server_under_test(server, ServerLimits::default()).await;
        let mut client = Client::connect(addr).await;
        client.write_raw(&frame(b"Tar\xff\xfeea")).await;
        let answer = client.read().await;
        assert!(answer.starts_with("Error: "), "{server:?}: {answer}");
        assert!(answer.contains("UTF-8"), "{server:?}: {answer}");
        still_answers(&mut client, server).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contenido_sent_straight_to_tareo_gets_an_error_not_silence() {
    let (addr, _class) = server_under_test(Server::Tareo, ServerLimits::default()).await;
    let mut client = Client::connect(addr).await;
    let answer = client.ask("Contenido").await;
    assert!(answer.starts_with("Error: Tareo no responde"), "{answer}");
    assert!(answer.contains("Docencio"), "{answer}");
    still_answers(&mut client, Server::Tareo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_length_over_the_limit_gets_an_error_then_the_connection_closes() {
    for server in BOTH {
        let (addr, _class) = server_under_test(server, ServerLimits::default()).await;
        // 4 GiB - 1 declared, no body: answered at once, nothing allocated.
        let mut client = Client::connect(addr).await;
        client.write_raw(&[0xff, 0xff, 0xff, 0xff]).await;
        let answer = client.read().await;
        assert_eq!(
            answer, "Error: mensaje demasiado largo (máximo 65536 bytes); se cierra la conexión",
            "{server:?}"
        );
        assert!(
            client.closed_within(Duration::from_secs(5)).await,
            "{server:?}"
        );
        // The server itself is fine.
        let mut other = Client::connect(addr).await;
        still_answers(&mut other, server).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_limit_frame_sent_whole_still_gets_its_error_before_the_close() {
    for server in BOTH {
        let (addr, _class) = server_under_test(server, ServerLimits::default()).await;
        let mut client = Client::connect(addr).await;
        // The whole oversized frame is already on its way when the server
        // refuses it: unread bytes must not turn the close into a reset that
        // swallows the error.
        client.write_raw(&frame(&vec![b'x'; 200_000])).await;
        let answer = client.read().await;
        assert!(
            answer.starts_with("Error: mensaje demasiado largo"),
            "{server:?}: {answer}"
        );
        assert!(
            client.closed_within(Duration::from_secs(5)).await,
            "{server:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_frame_limit_is_configurable_and_exact() {
    let limits = ServerLimits {
        max_frame: 16,
        ..ServerLimits::default()
    };
    for server in BOTH {
        let (addr, _class) = server_under_test(server, limits.clone()).await;
        let mut client = Client::connect(addr).await;
        // 16 bytes is allowed (and unknown), 17 is over.
        let at_limit = client.ask("0123456789abcdef").await;
        assert!(
            at_limit.starts_with("Error: pregunta desconocida"),
            "{at_limit}"
        );
        // Long answers from Tareo still pass through a Docencio with a small limit.
        still_answers(&mut client, server).await;
        let over = client.ask("0123456789abcdefg").await;
        assert!(over.contains("máximo 16 bytes"), "{server:?}: {over}");
        assert!(client.closed_within(Duration::from_secs(5)).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_or_body_cut_short_by_eof_closes_without_an_answer() {
    for server in BOTH {
        let (addr, _class) = server_under_test(server, ServerLimits::default()).await;
        for partial in [&[0u8, 0][..], &[0, 0, 0, 10, b'T', b'a'][..]] {
            let mut client = Client::connect(addr).await;
            client.write_raw(partial).await;
            client.framed.get_mut().shutdown().await.unwrap();
            assert!(
                client.closed_within(Duration::from_secs(5)).await,
                "{server:?} {partial:?}"
            );
        }
        let mut other = Client::connect(addr).await;
        still_answers(&mut other, server).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_or_stuck_mid_frame_is_closed_after_the_idle_timeout_without_delaying_others() {
    let idle = Duration::from_secs(1);
    let limits = ServerLimits {
        idle_timeout: idle,
        ..ServerLimits::default()
    };
    for server in BOTH {
        let (addr, _class) = server_under_test(server, limits.clone()).await;
        let mut silent = Client::connect(addr).await;
        let mut stuck = Client::connect(addr).await;
        stuck.write_raw(&[0, 0, 0, 5, b'T']).await;
        let started = Instant::now();
        // Meanwhile another client is served normally, long before the
        // idle ones are let go.
        let mut active = Client::connect(addr).await;
        for _ in 0..3 {
            still_answers(&mut active, server).await;
        }
        assert!(started.elapsed() < idle, "{server:?}: others were delayed");
        assert!(
            silent.closed_within(Duration::from_secs(10)).await,
            "{server:?}"
        );
        assert!(
            stuck.closed_within(Duration::from_secs(10)).await,
            "{server:?}"
        );
        assert!(
            started.elapsed() >= idle - Duration::from_millis(100),
            "closed too early"
        );
    }
}

/// An address nothing listens on.
async fn dead_address() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docencio_names_tareo_when_tareo_is_down_and_stays_open() {
    let profesor = start_profesor().await;
    let tareo = dead_address().await;
    let (addr, _docencio) = start_docencio(&tareo.to_string(), &profesor.url).await;
    let mut student = Client::connect(addr).await;
    for question in ["Tarea", "Pregunta Dificil"] {
        let started = Instant::now();
        let answer = student.ask(question).await;
        assert!(
            answer.starts_with("Error: Tareo no está disponible"),
            "{answer}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    // Contenido needs nobody downstream.
    assert_eq!(
        student.ask("Contenido").await,
        aula::wire::texts::CONTENIDO_ANSWER
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docencio_answers_within_its_timeout_when_tareo_never_answers() {
    // A Tareo that accepts and reads but never answers (the notebook's Tareo
    // does this with any question it does not know).
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let profesor = start_profesor().await;
    let (addr, _docencio) = start_docencio_with(docencio::Config {
        tareo_addr: silent_addr.to_string(),
        profesor_url: profesor.url.clone(),
        answer_timeout: Duration::from_millis(700),
        ..docencio::Config::default()
    })
    .await;
    let mut student = Client::connect(addr).await;
    let started = Instant::now();
    let answer = student.ask("Tarea").await;
    let waited = started.elapsed();
    assert!(
        answer.starts_with("Error: Tareo no está disponible"),
        "{answer}"
    );
    assert!(answer.contains("sin respuesta"), "{answer}");
    assert!(waited >= Duration::from_millis(600), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    // Still open, and still answering.
    assert_eq!(
        student.ask("Contenido").await,
        aula::wire::texts::CONTENIDO_ANSWER
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tareo_names_profesor_when_profesor_is_down_and_docencio_passes_it_on() {
    let profesor = dead_address().await;
    let profesor_url = format!("http://{profesor}");
    let (tareo_addr, _tareo) = start_tareo(&profesor_url).await;
    let mut docencio_side = Client::connect(tareo_addr).await;
    let answer = docencio_side.ask("Pregunta Dificil").await;
    assert!(
        answer.starts_with("Error: Profesor no está disponible"),
        "{answer}"
    );
    still_answers(&mut docencio_side, Server::Tareo).await;

    let (addr, _docencio) = start_docencio(&tareo_addr.to_string(), &profesor_url).await;
    let mut student = Client::connect(addr).await;
    let answer = student.ask("Pregunta Dificil").await;
    assert!(
        answer.starts_with("Error: Profesor no está disponible"),
        "{answer}"
    );
    still_answers(&mut student, Server::Docencio).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tareo_answers_within_its_timeout_when_profesor_hangs() {
    // An HTTP server that accepts and never answers.
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hung_addr = hung.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = hung.accept().await {
            held.push(stream);
        }
    });
    let (tareo_addr, _tareo) = start_tareo_with(
        &format!("http://{hung_addr}"),
        tareo::Config {
            profesor_timeout: Duration::from_millis(500),
            ..tareo::Config::default()
        },
    )
    .await;
    let mut client = Client::connect(tareo_addr).await;
    let started = Instant::now();
    let answer = client.ask("Pregunta Dificil").await;
    assert!(
        answer.starts_with("Error: Profesor no está disponible"),
        "{answer}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    still_answers(&mut client, Server::Tareo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_limit_new_clients_wait_and_are_served_when_one_leaves() {
    let limits = ServerLimits {
        max_connections: 2,
        ..ServerLimits::default()
    };
    for server in BOTH {
        let class = start_class().await;
        let (addr, _limited) = match server {
            Server::Tareo => {
                start_tareo_with(
                    &class.profesor.url,
                    tareo::Config {
                        limits: limits.clone(),
                        ..tareo::Config::default()
                    },
                )
                .await
            }
            Server::Docencio => {
                start_docencio_with(docencio::Config {
                    tareo_addr: class.tareo_addr.to_string(),
                    profesor_url: class.profesor.url.clone(),
                    limits: limits.clone(),
                    ..docencio::Config::default()
                })
                .await
            }
        };
        let mut first = Client::connect(addr).await;
        let mut second = Client::connect(addr).await;
        still_answers(&mut first, server).await;
        still_answers(&mut second, server).await;

        // The kernel completes the third connect; the server does not take
        // it while two are served, so its question waits.
        let mut third = Client::connect(addr).await;
        third.send("Tarea").await;
        let waited = tokio::time::timeout(Duration::from_millis(300), third.framed.next()).await;
        assert!(waited.is_err(), "{server:?}: a third client was served");
        // Those already in are not slowed by the one waiting.
        still_answers(&mut first, server).await;

        drop(second);
        let answer = tokio::time::timeout(ANSWER_WAIT, third.read())
            .await
            .unwrap_or_else(|_| panic!("{server:?}: the waiting client was never served"));
        assert_answers_tarea(server, &answer);
        still_answers(&mut third, server).await;
    }
}

/// One process holding idle connections up to the limit does not lock the
/// class out: a full server closes the oldest connection that never sent
/// anything to take a student that asks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_at_the_limit_make_room_for_a_student() {
    let limits = ServerLimits {
        max_connections: 3,
        ..ServerLimits::default()
    };
    for server in BOTH {
        let (addr, _class) = server_under_test(server, limits.clone()).await;
        let mut hoarded = Vec::new();
        for _ in 0..3 {
            hoarded.push(Client::connect(addr).await);
        }
        // The listen backlog is first come, first accepted: the three are
        // taken before the student, who finds the server full.
        let mut student = Client::connect(addr).await;
        still_answers(&mut student, server).await;
        assert!(
            hoarded[0].closed_within(ANSWER_WAIT).await,
            "{server:?}: the oldest idle connection was closed"
        );
        // The others are still there, and one that asks is served.
        still_answers(&mut hoarded[2], server).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_clients_trickling_bytes_are_cut_at_the_idle_timeout_and_delay_nobody() {
    let idle = Duration::from_secs(1);
    let limits = ServerLimits {
        idle_timeout: idle,
        ..ServerLimits::default()
    };
    for server in BOTH {
        let (addr, _class) = server_under_test(server, limits.clone()).await;
        // 200 clients each declaring a 60,000-byte question and sending it
        // one byte every 100 ms: activity, but never a whole frame.
        let started = Instant::now();
        let mut tricklers = tokio::task::JoinSet::new();
        for _ in 0..200 {
            tricklers.spawn(async move {
                let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                stream.write_all(&60_000u32.to_be_bytes()).await.unwrap();
                for _ in 0..100 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if stream.write_all(b"x").await.is_err() {
                        return true;
                    }
                }
                false
            });
        }
        let mut active = Client::connect(addr).await;
        for _ in 0..20 {
            still_answers(&mut active, server).await;
        }
        let served = started.elapsed();
        let mut cut = 0;
        while let Some(was_cut) = tricklers.join_next().await {
            cut += usize::from(was_cut.unwrap());
        }
        assert_eq!(cut, 200, "{server:?}: every trickler was cut off");
        assert!(
            served < idle,
            "{server:?}: a normal client waited {served:?} behind the tricklers"
        );
        // (`active` itself has been idle past the timeout by now.)
        still_answers(&mut Client::connect(addr).await, server).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_limit_error_survives_a_client_that_keeps_writing_and_reads_late() {
    for server in BOTH {
        let (addr, _class) = server_under_test(server, ServerLimits::default()).await;
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        // A client uploading a 1 MB "question" in pieces, as a careless
        // script would, and only reading once it is done.
        let upload = tokio::spawn(async move {
            writer
                .write_all(&(1_000_000u32).to_be_bytes())
                .await
                .unwrap();
            for _ in 0..100 {
                if writer.write_all(&[b'x'; 10_000]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        let _ = upload.await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut framed =
            tokio_util::codec::FramedRead::new(&mut reader, aula::wire::frame_codec(1 << 20));
        let first = tokio::time::timeout(ANSWER_WAIT, framed.next())
            .await
            .expect("an answer or a close");
        let answer = match first {
            Some(Ok(body)) => String::from_utf8(body.to_vec()).unwrap(),
            other => panic!("{server:?}: the error was lost: {other:?}"),
        };
        assert!(
            answer.starts_with("Error: mensaje demasiado largo"),
            "{server:?}: {answer}"
        );
    }
}

/// With Profesor hung, a `Tarea` asked by one student does not wait behind
/// another student's `Pregunta Dificil` on the connection to Tareo: once
/// that connection is stalled, homework questions take a connection of
/// their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn homework_does_not_wait_behind_a_hard_question_while_profesor_hangs() {
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hung_url = format!("http://{}", hung.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = hung.accept().await {
            held.push(stream);
        }
    });
    let (tareo_addr, _tareo) = start_tareo(&hung_url).await;
    let (docencio_addr, _docencio) = start_docencio(&tareo_addr.to_string(), &hung_url).await;
    let mut asks_hard = Client::connect(docencio_addr).await;
    let mut asks_homework = Client::connect(docencio_addr).await;
    // The shared connection to Tareo is up and answering.
    assert!(common::is_relayed_answer(&asks_homework.ask("Tarea").await));

    asks_hard.send("Pregunta Dificil").await;
    // Past the time after which a connection without answers counts as
    // stalled (200 ms), Tarea goes elsewhere.
    tokio::time::sleep(Duration::from_millis(400)).await;
    for _ in 0..3 {
        tokio::select! {
            biased;
            hard = asks_hard.read() => panic!("the hard question was answered first: {hard}"),
            homework = asks_homework.ask("Tarea") => {
                assert!(common::is_relayed_answer(&homework), "{homework}");
            }
        }
    }
    // The hard question still gets its answer: an error naming Profesor.
    let hard = asks_hard.read().await;
    assert!(
        hard.starts_with("Error: Profesor no está disponible"),
        "{hard}"
    );
}

/// With Profesor answering, Docencio keeps one connection to Tareo, as in
/// the notebook, whatever the mix of questions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_profesor_answering_docencio_keeps_one_connection_to_tareo() {
    let class = start_class().await;
    let mut student = Client::connect(class.docencio_addr).await;
    for n in 0..200 {
        let question = if n % 2 == 0 {
            "Tarea"
        } else {
            "Pregunta Dificil"
        };
        assert!(common::is_relayed_answer(&student.ask(question).await));
    }
    let tareo = class.tareo_addr.to_string();
    eventually(
        Duration::from_secs(10),
        "Tareo's informe after the questions",
        || async {
            let estado: serde_json::Value = reqwest::get(format!("{}/estado", class.profesor.url))
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            estado["roles"]
                .as_array()?
                .iter()
                .find(|role| role["rol"] == "tareo" && role["instancia"] == tareo.as_str())
                // An informe sent after the 200 questions.
                .filter(|role| role["preguntas"]["Tarea"].as_u64() >= Some(100))
                .map(|role| role["conexiones"].as_u64())
        },
    )
    .await
    .map_or_else(
        || panic!("no count of connections"),
        |connections| assert_eq!(connections, 1),
    );
}
