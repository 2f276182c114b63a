//! Seeing the class: one question followed across the four logs by its id,
//! JSON log lines, and Profesor's `/metrics`, `/estado`, `/reporte.csv`,
//! `/openapi.json` and `/informes`.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use aula::estudiante;
use common::procesos::{Addresses, RoleProcess};
use common::*;
use serde_json::Value;

/// The JSON body of `GET url`.
async fn get_json(url: &str) -> Value {
    http()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .expect("a JSON body")
}

/// The id in `{span}{id=...}` on the first line that contains `text`.
fn id_on_line_with(log: &str, span: &str, text: &str) -> String {
    let line = log
        .lines()
        .find(|line| line.contains(text))
        .unwrap_or_else(|| panic!("no line with {text:?} in:\n{log}"));
    let start = line
        .find(&format!("{span}{{id="))
        .unwrap_or_else(|| panic!("no {span} id on {line:?}"))
        + span.len()
        + 4;
    line[start..start + line[start..].find('}').unwrap()].to_owned()
}

fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|line| line.contains(needle)).collect()
}

/// The lines of `log` in question `id`'s span; fails unless there is one
/// for each of `steps`.
fn lines_about<'a>(log: &'a str, id: &str, steps: &[&str]) -> Vec<&'a str> {
    let lines = lines_with(log, &format!("pregunta{{id={id}}}"));
    for step in steps {
        assert!(
            lines.iter().any(|line| line.contains(step)),
            "no {step:?} for {id} in:\n{log}"
        );
    }
    lines
}

fn estudiante_args(docencio: std::net::SocketAddr, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "--docencio-addr".to_owned(),
        docencio.to_string(),
        "--no-pause".to_owned(),
    ];
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_question_can_be_followed_across_the_four_logs() {
    let class = Addresses::new();
    let mut profesor = class.start("profesor").await;
    let tareo = class.start("tareo").await;
    let docencio = class.start("docencio").await;
    let mut student = RoleProcess::spawn(
        "estudiante",
        &estudiante_args(
            class.docencio(),
            &["--questions", "1", "--only", "Pregunta Dificil"],
        ),
        "info",
    );
    student
        .wait_for_log("Resumen de la clase", Duration::from_secs(20))
        .await;
    until_counted(&class.profesor_url(), 0, 1).await;
    // The count can be read a moment before the line about it is written.
    profesor
        .wait_for_log("Contador de preguntas actualizado", Duration::from_secs(10))
        .await;

    // The student names its question: its own address and number 1.
    let student_log = student.log();
    let id = id_on_line_with(&student_log, "pregunta", "Alumno pregunta");
    assert!(id.ends_with("#1"), "{id}");
    let student_lines = lines_with(&student_log, &format!("pregunta{{id={id}}}"));
    assert!(
        student_lines
            .iter()
            .any(|l| l.contains("Respuesta recibida: Respuesta del Tareo o Profesor")),
        "{student_lines:?}"
    );

    // Docencio names it the same way, and says under which id it went to Tareo.
    let docencio_log = docencio.log();
    let docencio_lines = lines_about(
        &docencio_log,
        &id,
        &[
            "Recibimos una pregunta: Pregunta Dificil",
            "Preguntamos a Tareo: ",
            "Respondemos: Respuesta del Tareo o Profesor",
        ],
    );
    let link_line = docencio_lines
        .iter()
        .find(|l| l.contains("Preguntamos a Tareo: "))
        .unwrap();
    let link_id = link_line
        .rsplit("Preguntamos a Tareo: ")
        .next()
        .unwrap()
        .trim();
    assert!(
        link_id.ends_with("#1"),
        "the first question on the link: {link_id}"
    );

    // Tareo logs that id for the question it read and its call to Profesor.
    let tareo_log = tareo.log();
    lines_about(
        &tareo_log,
        link_id,
        &[
            "Recibimos una pregunta: Pregunta Dificil",
            "CONSULTA AL PROFESOR",
            "Respondemos: ",
        ],
    );

    // Profesor got the link id in X-Request-Id from Tareo, and the
    // student's id from Docencio when it counted the answer.
    let profesor_log = profesor.log();
    assert!(
        lines_with(&profesor_log, &format!("peticion{{id={link_id}}}"))
            .iter()
            .any(|l| l.contains("Respuesta a una pregunta difícil")),
        "{profesor_log}"
    );
    assert!(
        lines_with(&profesor_log, &format!("peticion{{id={id}}}"))
            .iter()
            .any(|l| l.contains("Contador de preguntas actualizado")),
        "{profesor_log}"
    );

    // Every line: time of day, then the role.
    for (role, log) in [
        ("profesor", &profesor_log),
        ("tareo", &tareo_log),
        ("docencio", &docencio_log),
    ] {
        for line in log.lines() {
            let (clock, rest) = line.split_once(' ').unwrap();
            assert!(
                clock.len() == 12 && clock.as_bytes()[2] == b':' && clock.as_bytes()[8] == b'.',
                "{line}"
            );
            assert!(rest.starts_with(role), "{line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_time_role_and_id_and_rust_log_filters_by_module() {
    let class = Addresses::new();
    let _profesor = class.start("profesor").await;
    let tareo = class.start_with("tareo", &["--log-format", "json"]).await;
    // By environment variable, and with one module turned down.
    let mut docencio = RoleProcess::spawn_with_env(
        "docencio",
        &class.args("docencio"),
        "info,aula::docencio::tareo_link=warn",
        &[("AULA_LOG_FORMAT", "json")],
    );
    docencio
        .wait_for_log("Servidor escuchando", Duration::from_secs(20))
        .await;
    class.remember("docencio", &docencio);
    let mut student = RoleProcess::spawn(
        "estudiante",
        &estudiante_args(class.docencio(), &["--questions", "2", "--only", "Tarea"]),
        "info",
    );
    student
        .wait_for_log("Resumen de la clase", Duration::from_secs(20))
        .await;
    until_counted(&class.profesor_url(), 0, 2).await;

    for (role, log) in [("tareo", tareo.log()), ("docencio", docencio.log())] {
        let lines: Vec<Value> = log
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|err| panic!("{role}: not JSON ({err}): {line}"))
            })
            .collect();
        for line in &lines {
            let timestamp = line["timestamp"].as_str().unwrap_or_default();
            assert!(
                timestamp.len() >= 20 && timestamp.contains('T') && timestamp.ends_with('Z'),
                "{line}"
            );
            assert_eq!(line["role"], role, "{line}");
            assert!(
                line["level"].is_string() && line["message"].is_string(),
                "{line}"
            );
        }
        let received: Vec<&Value> = lines
            .iter()
            .filter(|line| line["message"] == "Recibimos una pregunta: Tarea")
            .collect();
        assert_eq!(received.len(), 2, "{role}: {log}");
        for (line, number) in received.iter().zip(["#1", "#2"]) {
            let id = line["id"].as_str().unwrap_or_default();
            assert!(
                id.starts_with("127.0.0.1:") && id.ends_with(number),
                "{line}"
            );
        }
    }
    let docencio_log = docencio.log();
    assert!(
        !docencio_log.contains("Preguntamos a Tareo"),
        "RUST_LOG turned the link module down to warn:\n{docencio_log}"
    );
}

/// A class of students asking `only` question, `questions` each, in process.
async fn ask(
    docencio: std::net::SocketAddr,
    only: aula::Question,
    students: usize,
    questions: u64,
) {
    let summary = estudiante::run(
        estudiante::Config {
            docencio_addrs: vec![docencio.to_string()],
            students,
            questions: Some(questions),
            pause: false,
            only: Some(only),
            ..estudiante::Config::default()
        },
        std::future::pending(),
    )
    .await;
    assert_eq!(summary.total.errors, 0, "{summary}");
}

/// `name{labels} value` lines of a Prometheus text exposition.
fn metric(exposition: &str, name_and_labels: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        (series == name_and_labels).then(|| value.parse().ok())?
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_state_and_csv_show_what_the_class_did() {
    let class = start_class().await;
    let url = &class.profesor.url;
    ask(class.docencio_addr, aula::Question::Tarea, 4, 10).await;
    ask(class.docencio_addr, aula::Question::Contenido, 2, 5).await;
    until_counted(url, 0, 40).await;

    // Reports come once a second: wait for the one that has everything.
    let estado: Value = eventually(Duration::from_secs(10), "Docencio's report", || async {
        let estado: Value = http()
            .get(format!("{url}/estado"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (estado["preguntas"]["Tarea"] == 40 && estado["preguntas"]["Contenido"] == 10)
            .then_some(estado)
    })
    .await;
    assert_eq!(estado["total"], 40);
    assert_eq!(estado["contadas_esta_ejecucion"], 40);
    assert_eq!(estado["respondidas"]["Tarea"], 40);
    assert_eq!(estado["errores"], 0);
    let roles: BTreeSet<&str> = estado["roles"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|role| role["activo"] == true)
        .map(|role| role["rol"].as_str().unwrap())
        .collect();
    assert_eq!(roles, BTreeSet::from(["docencio", "tareo"]));

    let response = http().get(format!("{url}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let exposition = response.text().await.unwrap();
    let docencio = format!("rol=\"docencio\",instancia=\"{}\"", class.docencio_addr);
    let tareo = format!("rol=\"tareo\",instancia=\"{}\"", class.tareo_addr);
    for (series, expected) in [
        ("aula_profesor_total".to_owned(), 40.0),
        ("aula_profesor_preguntas_contadas_total".to_owned(), 40.0),
        (
            format!("aula_preguntas_total{{{docencio},tipo=\"Tarea\"}}"),
            40.0,
        ),
        (
            format!("aula_preguntas_total{{{docencio},tipo=\"Contenido\"}}"),
            10.0,
        ),
        (
            format!("aula_respondidas_total{{{docencio},tipo=\"Tarea\"}}"),
            40.0,
        ),
        (
            format!("aula_preguntas_total{{{tareo},tipo=\"Tarea\"}}"),
            40.0,
        ),
        (format!("aula_errores_total{{{docencio}}}"), 0.0),
        (format!("aula_conexiones{{{tareo}}}"), 1.0),
        (format!("aula_rol_activo{{{docencio}}}"), 1.0),
    ] {
        assert_eq!(
            metric(&exposition, &series),
            Some(expected),
            "{series} in:\n{exposition}"
        );
    }
    let counted_posts = metric(
        &exposition,
        "aula_http_peticiones_total{metodo=\"POST\",ruta=\"/preguntas\",estado=\"200\"}",
    )
    .expect("POST /preguntas counted");
    assert!((1.0..=40.0).contains(&counted_posts), "{counted_posts}");
    assert!(exposition.contains("aula_http_duracion_segundos_bucket{le="));

    let response = http()
        .get(format!("{url}/reporte.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"reporte-aula.csv\""
    );
    assert_eq!(
        response.text().await.unwrap(),
        "tipo,preguntadas,respondidas\nContenido,10,10\nTarea,40,40\nPregunta Dificil,0,0\n\
         contadas por Profesor en esta ejecución,,40\n\
         contadas por Profesor desde que se creó la carpeta de datos,,40\n"
    );
    class.docencio.stop().await;
    class.tareo.stop().await;
    class.profesor.running.stop().await;
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_the_server_answers() {
    let profesor = start_profesor().await;
    let url = &profesor.url;
    let document = get_json(&format!("{url}/openapi.json")).await;
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, methods)| {
            methods
                .as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    // What the server answers, as a user of the API knows it.
    let served: BTreeSet<(String, String)> = [
        ("GET", "/"),
        ("GET", "/respuesta"),
        ("GET", "/preguntas"),
        ("POST", "/preguntas"),
        ("GET", "/salud"),
        ("GET", "/metrics"),
        ("GET", "/estado"),
        ("GET", "/panel"),
        ("GET", "/reporte.csv"),
        ("GET", "/openapi.json"),
        ("POST", "/informes"),
        ("GET", "/anuncios"),
        ("POST", "/anuncios"),
        ("GET", "/eventos"),
        ("POST", "/sala/chat"),
        ("GET", "/estudiantes"),
        ("POST", "/estudiantes"),
        ("GET", "/estudiantes/{nombre}"),
        ("PUT", "/estudiantes/{nombre}"),
        ("DELETE", "/estudiantes/{nombre}"),
        ("GET", "/material"),
        ("POST", "/material"),
        ("GET", "/material/{nombre}"),
        ("DELETE", "/material/{nombre}"),
        ("POST", "/material/{nombre}/enviar"),
        ("GET", "/entregas"),
        ("GET", "/entregas/{estudiante}/{nombre}"),
        ("PUT", "/entregas/{estudiante}/{nombre}"),
        ("POST", "/api/start"),
        ("POST", "/api/write"),
        ("GET", "/api/read"),
        ("POST", "/api/stop"),
        ("GET", "/api/sesiones"),
    ]
    .into_iter()
    .map(|(method, path)| (method.to_owned(), path.to_owned()))
    .collect();
    assert_eq!(documented, served);

    let report = serde_json::json!({
        "rol": "tareo", "instancia": "127.0.0.1:1", "ejecucion": "x", "conexiones": 0,
        "clientes": [], "preguntas": {"Contenido": 0, "Tarea": 0, "Pregunta Dificil": 0},
        "respondidas": {"Contenido": 0, "Tarea": 0, "Pregunta Dificil": 0},
        "errores": 0, "en_vuelo": 0, "reconexiones": 0
    });
    let paths: BTreeSet<&String> = documented.iter().map(|(_, path)| path).collect();
    for path in paths {
        for method in ["GET", "POST", "PUT", "DELETE"] {
            let concrete = path
                .replace("{nombre}", "Prueba")
                .replace("{estudiante}", "Prueba");
            if path.starts_with("/material/") || path.starts_with("/entregas/") {
                // There is something to read, send or delete.
                let uploaded = http()
                    .post(format!("{url}/material?nombre=Prueba"))
                    .body("prueba")
                    .send()
                    .await
                    .unwrap();
                assert!(uploaded.status().is_success());
                let handed_in = http()
                    .put(format!("{url}/entregas/Prueba/Prueba"))
                    .body("prueba")
                    .send()
                    .await
                    .unwrap();
                assert!(handed_in.status().is_success());
            }
            let mut request = http().request(method.parse().unwrap(), format!("{url}{concrete}"));
            if path == "/material" {
                request = request.query(&[("nombre", "Otra")]).body("otra");
            }
            if path.starts_with("/estudiantes") {
                request = request.json(&serde_json::json!({"nombre": "Prueba"}));
            }
            if path == "/informes" {
                request = request.json(&report);
            }
            if path == "/sala/chat" {
                request = request.json(&serde_json::json!({"docencio": "prueba", "mensajes": []}));
            }
            if path == "/anuncios" {
                request = request.json(&serde_json::json!({"texto": "prueba"}));
            }
            let status = request.send().await.unwrap().status();
            if path.starts_with("/api/") && documented.contains(&(method.to_owned(), path.clone()))
            {
                // Served, and off unless `--sesiones` (tests/sesiones.rs).
                assert_eq!(status, 404, "{method} {path}");
                continue;
            }
            if documented.contains(&(method.to_owned(), path.clone())) {
                assert!(status.is_success(), "{method} {path}: {status}");
            } else {
                // Not documented: refused, never silently served.
                assert_eq!(status, 405, "{method} {path}");
            }
        }
    }
    profesor.running.stop().await;
}

#[tokio::test]
async fn request_ids_are_echoed_or_made_up() {
    let profesor = start_profesor().await;
    let url = &profesor.url;
    let response = http()
        .get(format!("{url}/respuesta"))
        .header("X-Request-Id", "127.0.0.1:5000#7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "127.0.0.1:5000#7");
    let made_up = http().get(format!("{url}/")).send().await.unwrap();
    let id = made_up.headers()["x-request-id"].to_str().unwrap();
    assert!(id.starts_with("profesor-"), "{id}");
    // Also on errors.
    let missing = http().get(format!("{url}/nada")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.headers().contains_key("x-request-id"));
    profesor.running.stop().await;
}

#[tokio::test]
async fn bad_reports_get_json_errors_and_change_nothing() {
    let profesor = start_profesor().await;
    let url = format!("{}/informes", profesor.url);
    let unknown_role = serde_json::json!({
        "rol": "estudiante", "instancia": "127.0.0.1:1", "ejecucion": "x", "conexiones": 0,
        "clientes": [], "preguntas": {"Contenido": 5, "Tarea": 0, "Pregunta Dificil": 0},
        "respondidas": {"Contenido": 5, "Tarea": 0, "Pregunta Dificil": 0},
        "errores": 0, "en_vuelo": 0, "reconexiones": 0
    });
    let huge = "x".repeat(aula::api::MAX_INFORME_BYTES + 1024);
    let cases = [
        (http().post(&url).json(&unknown_role), 400),
        (
            http()
                .post(&url)
                .header("content-type", "application/json")
                .body("{nope"),
            400,
        ),
        (
            http()
                .post(&url)
                .header("content-type", "application/json")
                .body(format!("{{\"rol\": \"{huge}\"}}")),
            413,
        ),
    ];
    for (request, expected) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), expected);
        let body: Value = response.json().await.expect("a JSON error");
        assert!(body["error"].is_string(), "{body}");
    }
    let estado = get_json(&format!("{}/estado", profesor.url)).await;
    assert_eq!(estado["preguntas"]["Contenido"], 0);
    assert_eq!(estado["roles"].as_array().unwrap().len(), 0);
    profesor.running.stop().await;
}
