//! `estudiante verificar`: grading a role against the contract. Our own
//! roles pass every case; broken servers are caught by the case meant for
//! them (the notebook's own programs are graded in tests/interop.rs).

use crate::common;

use std::time::Duration;

use aula::verificar::estudiante::Programa;
use aula::verificar::{formato, verificar, verificar_esperando, Objetivo, Veredicto};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_four_roles_pass_every_case() {
    let class = start_class().await;
    for objetivo in [
        Objetivo::Docencio(class.docencio_addr.to_string()),
        Objetivo::Tareo(class.tareo_addr.to_string()),
        Objetivo::Profesor {
            url: class.profesor.url.clone(),
            token: None,
        },
        Objetivo::Estudiante(Programa {
            comando: [
                env!("CARGO_BIN_EXE_estudiante"),
                "--docencio-addr",
                "{addr}",
            ]
            .map(String::from)
            .to_vec(),
            escuchar: "127.0.0.1:0".parse().unwrap(),
        }),
    ] {
        let informe = verificar(&objetivo).await;
        let shown = formato::render(&informe, formato::Formato::Texto, false);
        println!("{shown}");
        assert!(informe.casos.len() >= 7, "{shown}");
        assert_eq!(informe.failed_ids(), Vec::<&str>::new(), "{shown}");
        assert!(
            informe
                .casos
                .iter()
                .all(|caso| caso.veredicto == Veredicto::Pasa),
            "{shown}"
        );
    }
}

/// A server that frames its answers little-endian, or answers with length
/// bytes inside (the notebook's Docencio), or answers out of order, or
/// drops every 100th question, or
/// never answers an unknown question: each caught by its case, and the run
/// still ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_servers_are_caught_by_the_case_meant_for_them() {
    for (broken, expected) in [
        (Broken::LittleEndian, "1.1"),
        (Broken::LengthInside, "2.2"),
        (Broken::Swapped, "3.1"),
        (Broken::SilentOnUnknown, "4.1"),
        (Broken::DropsEveryHundredth, "3.2"),
    ] {
        let addr = broken.serve().await;
        let informe = verificar_esperando(
            &Objetivo::Docencio(addr.to_string()),
            Duration::from_secs(1),
        )
        .await;
        let shown = formato::render(&informe, formato::Formato::Texto, false);
        assert!(
            informe.failed_ids().contains(&expected),
            "{broken:?} not caught by {expected}:\n{shown}"
        );
        let junit = formato::render(&informe, formato::Formato::Junit, false);
        assert!(junit.contains("<failure"), "{junit}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profesor_that_answers_html_and_loses_counts_is_caught() {
    let addr = broken_profesor().await;
    let informe = verificar(&Objetivo::Profesor {
        url: format!("http://{addr}"),
        token: None,
    })
    .await;
    let shown = formato::render(&informe, formato::Formato::Texto, false);
    let failed = informe.failed_ids();
    assert!(failed.contains(&"2.1"), "404 as HTML:\n{shown}");
    assert!(failed.contains(&"3.1"), "the count races:\n{shown}");
    let gradescope: serde_json::Value = serde_json::from_str(&formato::render(
        &informe,
        formato::Formato::Gradescope,
        false,
    ))
    .unwrap();
    assert!(
        gradescope["tests"].as_array().unwrap().len() >= 3,
        "{gradescope}"
    );
}

#[derive(Debug, Clone, Copy)]
enum Broken {
    LittleEndian,
    LengthInside,
    Swapped,
    SilentOnUnknown,
    DropsEveryHundredth,
}

impl Broken {
    /// A Docencio broken this way, on a free port.
    async fn serve(self) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut pending: Vec<Vec<u8>> = Vec::new();
                    let mut questions = 0u64;
                    loop {
                        let mut header = [0u8; 4];
                        if stream.read_exact(&mut header).await.is_err() {
                            return;
                        }
                        let length = u32::from_be_bytes(header);
                        if length > 1 << 16 {
                            return;
                        }
                        let mut body = vec![0u8; length as usize];
                        if stream.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        questions += 1;
                        if matches!(self, Broken::DropsEveryHundredth)
                            && questions.is_multiple_of(100)
                        {
                            continue;
                        }
                        let answer: Option<Vec<u8>> = match body.as_slice() {
                            b"Contenido" => Some(aula::wire::texts::CONTENIDO_ANSWER.into()),
                            b"Tarea" | b"Pregunta Dificil" => {
                                let inner = b"Actualizamos los tests";
                                let mut answer = b"Respuesta del Tareo o Profesor: ".to_vec();
                                if matches!(self, Broken::LengthInside) {
                                    answer.extend_from_slice(&(inner.len() as u32).to_be_bytes());
                                }
                                answer.extend_from_slice(inner);
                                Some(answer)
                            }
                            _ if matches!(self, Broken::SilentOnUnknown) => None,
                            _ => Some(b"Error: pregunta desconocida".to_vec()),
                        };
                        let Some(answer) = answer else { continue };
                        let contenido = body.trim_ascii().eq_ignore_ascii_case(b"contenido");
                        let answer = if contenido && body.as_slice() != b"Contenido" {
                            aula::wire::texts::CONTENIDO_ANSWER.as_bytes().to_vec()
                        } else {
                            answer
                        };
                        if matches!(self, Broken::Swapped) {
                            // Holds each answer, sends it after the next.
                            pending.push(answer);
                            if pending.len() < 2 {
                                continue;
                            }
                            pending.swap(0, 1);
                        } else {
                            pending.push(answer);
                        }
                        for answer in pending.drain(..) {
                            let header = if matches!(self, Broken::LittleEndian) {
                                (answer.len() as u32).to_le_bytes()
                            } else {
                                (answer.len() as u32).to_be_bytes()
                            };
                            if stream.write_all(&header).await.is_err()
                                || stream.write_all(&answer).await.is_err()
                            {
                                return;
                            }
                        }
                    }
                });
            }
        });
        addr
    }
}

/// A Profesor that answers 404 as HTML and counts without a lock (a read,
/// a pause, a write: concurrent POSTs lose counts).
async fn broken_profesor() -> std::net::SocketAddr {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let Some(request) = request_head(&mut stream).await else {
                    return;
                };
                let line = String::from_utf8_lossy(&request)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let (status, body) = if line.starts_with("GET / ") {
                    (
                        "200 OK",
                        r#"{"saludo": "Bienvenido a la clase"}"#.to_owned(),
                    )
                } else if line.starts_with("GET /respuesta ") {
                    (
                        "200 OK",
                        r#"{"texto": "Actualizamos los tests", "método": "GET"}"#.to_owned(),
                    )
                } else if line.starts_with("GET /preguntas ") {
                    let n = count.load(Ordering::SeqCst);
                    (
                        "200 OK",
                        format!(
                            r#"{{"texto": "Llevamos: {n} preguntas respondidas", "método": "GET"}}"#
                        ),
                    )
                } else if line.starts_with("POST /preguntas ") {
                    let n = count.load(Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    count.store(n + 1, Ordering::SeqCst);
                    (
                        "200 OK",
                        format!(
                            r#"{{"texto": "Llevamos: {} preguntas respondidas", "método": "POST"}}"#,
                            n + 1
                        ),
                    )
                } else if line.starts_with("DELETE /preguntas ") {
                    (
                        "405 METHOD NOT ALLOWED",
                        r#"{"error": "método"}"#.to_owned(),
                    )
                } else {
                    (
                        "404 NOT FOUND",
                        "<html><body>Not Found</body></html>".to_owned(),
                    )
                };
                let kind = if body.starts_with('<') {
                    "text/html"
                } else {
                    "application/json"
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nAllow: GET, POST\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    addr
}

/// A mistake of the person grading (an address without a port, a URL
/// without http://, a program that is not there, a program given to a
/// server's grading) exits 2 with a message and no report, before any
/// case: 1 is kept for a target that failed its cases.
#[test]
fn a_mistake_in_the_command_exits_2_without_a_report() {
    for args in [
        &["verificar", "profesor", "127.0.0.1:4444"][..],
        &["verificar", "docencio", "http://127.0.0.1:4446"],
        &["verificar", "tareo", "127.0.0.1"],
        &["verificar", "docencio"],
        &["verificar", "estudiante"],
        &["verificar", "estudiante", "--", "/no/existe/estudiante.py"],
        &["verificar", "estudiante", "127.0.0.1:4446", "--", "true"],
        &["verificar", "tareo", "127.0.0.1:4445", "--", "true"],
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_estudiante"))
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}: a report was printed");
        assert!(
            stderr.starts_with("estudiante verificar "),
            "{args:?}: {stderr}"
        );
    }
}

/// A Profesor that redirects every request to another server does not
/// send the grader there (only the address the user named is contacted),
/// and a body of 2 MiB is refused at 1 MiB, not kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profesor_cannot_send_the_grader_elsewhere_nor_flood_it() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere_addr = elsewhere.local_addr().unwrap();
    let visits = Arc::new(AtomicU64::new(0));
    let counted = visits.clone();
    tokio::spawn(async move {
        while let Ok((_stream, _)) = elsewhere.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Some(request) = request_head(&mut stream).await else {
                    return;
                };
                let response = if request.starts_with(b"GET / ") {
                    let body = vec![b'x'; 2 << 20];
                    let mut response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    response.extend_from_slice(&body);
                    response
                } else {
                    format!(
                        "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{elsewhere_addr}/otro\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    .into_bytes()
                };
                let _ = stream.write_all(&response).await;
            });
        }
    });
    let informe = verificar(&Objetivo::Profesor {
        url: format!("http://{addr}"),
        token: None,
    })
    .await;
    let shown = formato::render(&informe, formato::Formato::Texto, false);
    assert_eq!(
        visits.load(Ordering::SeqCst),
        0,
        "followed a redirect:\n{shown}"
    );
    let first = &informe.casos[0];
    assert!(
        first.veredicto.detail().contains("pasa de 1048576 bytes"),
        "{shown}"
    );
    assert!(informe.failed_ids().contains(&"2.1"), "{shown}");
}

/// An HTTP request's head (up to the blank line), or `None` when the
/// client went away first.
async fn request_head(stream: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return None,
            Ok(read) => request.extend_from_slice(&buffer[..read]),
        }
    }
    Some(request)
}

/// A Profesor started with `--token`, graded with it: every case passes;
/// graded without it, the announcement case says it cannot test (the
/// request is refused before its body is looked at) instead of passing,
/// and what changes state fails with 401 (the count, and DELETE: the token
/// is checked before the method).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profesor_with_a_token_is_graded_with_it() {
    let profesor = start_profesor_with(aula::profesor::Config {
        token: Some("secreto-de-la-clase".into()),
        ..aula::profesor::Config::default()
    })
    .await;
    let with_token = verificar(&Objetivo::Profesor {
        url: profesor.url.clone(),
        token: Some("secreto-de-la-clase".into()),
    })
    .await;
    let shown = formato::render(&with_token, formato::Formato::Texto, false);
    assert!(
        with_token
            .casos
            .iter()
            .all(|caso| caso.veredicto == Veredicto::Pasa),
        "{shown}"
    );
    let without = verificar(&Objetivo::Profesor {
        url: profesor.url.clone(),
        token: None,
    })
    .await;
    let shown = formato::render(&without, formato::Formato::Texto, false);
    let announcement = without.casos.iter().find(|caso| caso.id == "4.2").unwrap();
    assert!(
        matches!(announcement.veredicto, Veredicto::NoAplica(_)),
        "{shown}"
    );
    assert_eq!(without.failed_ids(), ["1.4", "2.2", "3.1"], "{shown}");
    let count = without.casos.iter().find(|caso| caso.id == "3.1").unwrap();
    assert!(count.veredicto.detail().contains("HTTP 401"), "{shown}");
}

/// A target named by host name (`localhost`, which may resolve to ::1
/// first while the server listens on 127.0.0.1) is graded like its
/// address: every case, the slow-client one included, reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_named_localhost_is_reached_by_every_case() {
    let class = start_class().await;
    let informe = verificar(&Objetivo::Tareo(format!(
        "localhost:{}",
        class.tareo_addr.port()
    )))
    .await;
    let shown = formato::render(&informe, formato::Formato::Texto, false);
    assert_eq!(informe.failed_ids(), Vec::<&str>::new(), "{shown}");
}
