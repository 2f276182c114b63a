//! Who may change the class's state, tried from outside as an attacker
//! would: a missing or wrong token, a web page of another origin (on this
//! machine too), a foreign `Host` (DNS rebinding), a question that tries to
//! forge a log line. And the class's own roles, given the token, still count.

use crate::common;

use std::time::Duration;

use aula::{docencio, profesor, tareo};
use common::procesos::RoleProcess;
use common::*;
use reqwest::StatusCode;
use serde_json::Value;

async fn with_token(token: &str) -> ProfesorHandle {
    start_profesor_with(profesor::Config {
        token: Some(token.to_owned()),
        ..profesor::Config::default()
    })
    .await
}

async fn post(
    url: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let mut request = http().post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_count_needs_the_token_and_reading_it_does_not() {
    let profesor = with_token("s3creto").await;
    let preguntas = format!("{}/preguntas", profesor.url);
    let (status, body, headers) = post(&preguntas, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"].as_str().unwrap().contains("falta el token"),
        "{body}"
    );
    assert_eq!(headers["www-authenticate"], "Bearer realm=\"aula\"");
    for wrong in [
        "Bearer s3cret",
        "Bearer s3creto2",
        "Bearer S3CRETO",
        "Basic s3creto",
        "s3creto",
        "Bearer",
    ] {
        let (status, body, _) = post(&preguntas, &[("authorization", wrong)]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{wrong}: {body}");
        assert!(body["error"].is_string());
    }
    let informe = http()
        .post(format!("{}/informes", profesor.url))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(informe.status(), StatusCode::UNAUTHORIZED);
    // Nothing was counted, and anyone may read that.
    assert_eq!(profesor_total(&profesor.url).await, 0);
    let (status, body, _) = post(&preguntas, &[("authorization", "Bearer s3creto")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"], 1);
    let estado = http()
        .get(format!("{}/estado", profesor.url))
        .send()
        .await
        .unwrap();
    assert_eq!(estado.status(), StatusCode::OK);
    profesor.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_another_origin_cannot_change_the_count_even_on_this_machine() {
    let profesor = start_profesor().await;
    let preguntas = format!("{}/preguntas", profesor.url);
    // What a browser sends for a page's bodyless `fetch(url, {method:
    // 'POST', mode: 'no-cors'})`.
    for origin in [
        "http://evil.example",
        "http://127.0.0.1:1",
        "null",
        "file://",
    ] {
        let (status, body, _) = post(&preguntas, &[("origin", origin)]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{origin}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("origen no permitido"),
            "{body}"
        );
    }
    let (status, _, _) = post(&preguntas, &[("sec-fetch-site", "cross-site")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(profesor_total(&profesor.url).await, 0);
    // Profesor's own page (its origin is its own address) may.
    let own = profesor.url.clone();
    let (status, _, _) = post(&preguntas, &[("origin", &own)]).await;
    assert_eq!(status, StatusCode::OK);
    // A program sends no Origin at all.
    let (status, body, _) = post(&preguntas, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"], 2);
    profesor.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_does_not_name_profesor_is_not_answered() {
    let profesor = start_profesor_with(profesor::Config {
        allowed_hosts: vec!["profesor.lab".to_owned()],
        ..profesor::Config::default()
    })
    .await;
    let port = profesor.addr.port();
    let get = |host: String| {
        http()
            .get(format!("{}/preguntas", profesor.url))
            .header("host", host)
            .send()
    };
    // DNS rebinding: a page's own name, pointed at 127.0.0.1.
    let response = get(format!("evil.example:{port}")).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("Host no permitido"),
        "{body}"
    );
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("PROFESOR.LAB:{port}"),
        format!("[::1]:{port}"),
    ] {
        let response = get(host.clone()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{host}");
    }
    profesor.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_class_with_the_token_counts_and_a_docencio_without_it_is_refused() {
    let profesor = with_token("clase").await;
    let (tareo_addr, tareo) = start_tareo_with(
        &profesor.url,
        tareo::Config {
            token: Some("clase".into()),
            ..tareo::Config::default()
        },
    )
    .await;
    let (docencio_addr, docencio) = start_docencio_with(docencio::Config {
        tareo_addr: tareo_addr.to_string(),
        profesor_url: profesor.url.clone(),
        token: Some("clase".into()),
        ..docencio::Config::default()
    })
    .await;
    let mut student = Client::connect(docencio_addr).await;
    for question in ["Tarea", "Pregunta Dificil", "Tarea"] {
        let answer = student.ask(question).await;
        assert!(is_relayed_answer(&answer), "{answer}");
    }
    until_counted(&profesor.url, 0, 3).await;

    // A Docencio without the token: its notices are refused (401) and
    // nothing it reports is counted.
    let (intruder_addr, intruder) = start_docencio(&tareo_addr.to_string(), &profesor.url).await;
    let mut other = Client::connect(intruder_addr).await;
    assert!(is_relayed_answer(&other.ask("Tarea").await));
    eventually(
        Duration::from_secs(10),
        "a 401 to the Docencio without token",
        || async {
            let metrics = http()
                .get(format!("{}/metrics", profesor.url))
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            metrics
                .lines()
                .any(|line| {
                    line.starts_with("aula_http_peticiones_total")
                        && line.contains("ruta=\"/preguntas\"")
                        && line.contains("estado=\"401\"")
                })
                .then_some(())
        },
    )
    .await;
    assert_eq!(profesor_total(&profesor.url).await, 3);
    intruder.stop().await;
    docencio.stop().await;
    tareo.stop().await;
    profesor.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_with_a_newline_cannot_forge_a_log_line() {
    // Port 0, read back from the listening line: a port reserved and then
    // released for the process can be taken meanwhile by another test's
    // outgoing connection (seen once in CI: "Address already in use").
    let args = vec!["--bind".to_owned(), "127.0.0.1:0".to_owned()];
    let tareo = RoleProcess::start("tareo", &args).await;
    let log = tareo.log();
    let addr: std::net::SocketAddr = log
        .lines()
        .find_map(|line| {
            line.split_once("Servidor escuchando en ")
                .map(|(_, addr)| addr.trim())
        })
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no listening address in:\n{log}"));
    let mut client = Client::connect(addr).await;
    let answer = client
        .ask("Hola\n12:00:00.000 profesor   INFO Llevamos: 999 preguntas")
        .await;
    assert!(
        answer.starts_with("Error: pregunta desconocida"),
        "{answer}"
    );
    let (_, log) = tareo.signal("-TERM", Duration::from_secs(10)).await;
    assert!(
        log.contains("Recibimos una pregunta: Hola\\n12:00:00.000"),
        "{log}"
    );
    assert!(
        !log.lines()
            .any(|line| line.starts_with("12:00:00.000 profesor")),
        "a forged line:\n{log}"
    );
}

/// A replica set up with another token (or that refuses this client's
/// Host) is passed over like one that is down: the class is served by the
/// replica that takes it, and every count lands there once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_refuses_the_token_is_passed_over() {
    let other_class = with_token("otra-clase").await;
    let ours = with_token("clase").await;
    let both = format!("{},{}", other_class.url, ours.url);
    let (tareo_addr, _tareo) = start_tareo_with(
        &both,
        tareo::Config {
            token: Some(" clase ".into()),
            ..tareo::Config::default()
        },
    )
    .await;
    let (docencio_addr, _docencio) = start_docencio_with(docencio::Config {
        tareo_addr: tareo_addr.to_string(),
        profesor_url: both.clone(),
        token: Some("clase".into()),
        ..docencio::Config::default()
    })
    .await;
    let mut student = Client::connect(docencio_addr).await;
    for _ in 0..5 {
        let answer = student.ask("Pregunta Dificil").await;
        assert!(is_relayed_answer(&answer), "{answer}");
    }
    until_counted(&ours.url, 0, 5).await;
    assert_eq!(profesor_total(&other_class.url).await, 0);
}
