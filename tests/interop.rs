//! Interoperability with programs written the notebook's way (Python):
//! a student against our Docencio, the notebook's Tareo behind our Docencio,
//! the notebook's HTTP calls against our Profesor, and the notebook's
//! Profesor behind our Tareo and Docencio. Skipped, saying why, only where
//! python3 is missing.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use aula::wire::texts::{ANSWERS, CONTENIDO_ANSWER};
use common::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
}

/// `python3`, or `None` after printing why the test is skipped.
async fn python() -> Option<&'static str> {
    match Command::new("python3").arg("--version").output().await {
        Ok(out) if out.status.success() => Some("python3"),
        Ok(out) => {
            eprintln!("SKIPPED: python3 --version failed: {out:?}");
            None
        }
        Err(err) => {
            eprintln!("SKIPPED: python3 not found ({err})");
            None
        }
    }
}

/// Runs a Python client to the end; returns what it printed, failing the
/// test if it failed.
async fn run_python(python: &str, name: &str, args: &[&str]) -> String {
    let output = Command::new(python)
        .arg(script(name))
        .args(args)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{name}: {stdout}\n{stderr}");
    stdout
}

/// Starts a Python server that prints `Servidor escuchando en HOST:PORT`
/// and returns it with the port it got.
async fn python_server(python: &str, name: &str, args: &[&str]) -> (Child, u16) {
    let mut child = Command::new(python)
        .arg(script(name))
        .args(args)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start python server");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("Servidor escuchando en ") {
                let port = rest.trim_end_matches('.').rsplit(':').next().unwrap();
                return port.parse::<u16>().unwrap();
            }
        }
        panic!("{name} exited before listening");
    })
    .await
    .expect("python server did not start within 10 s");
    // Keep draining its output so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notebook_student_talks_to_our_docencio() {
    let Some(python) = python().await else { return };
    let class = start_class().await;
    let port = class.docencio_addr.port().to_string();
    let stdout = run_python(python, "estudiante_cuaderno.py", &["127.0.0.1", &port]).await;
    let answers: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("Respuesta recibida: "))
        .collect();
    assert_eq!(answers.len(), 4, "{stdout}");
    assert_eq!(answers[0], CONTENIDO_ANSWER);
    assert!(is_relayed_answer(answers[1]), "{}", answers[1]);
    assert!(is_relayed_answer(answers[2]), "{}", answers[2]);
    assert!(
        answers[3].starts_with("Error: pregunta desconocida: 'Hola'"),
        "{}",
        answers[3]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notebooks_tareo_works_behind_our_docencio() {
    let Some(python) = python().await else { return };
    let profesor = start_profesor().await;
    let (_tareo, tareo_port) =
        python_server(python, "tareo_cuaderno.py", &["0", &profesor.url]).await;
    let (docencio_addr, _docencio) =
        start_docencio(&format!("127.0.0.1:{tareo_port}"), &profesor.url).await;
    let mut student = Client::connect(docencio_addr).await;
    for _ in 0..5 {
        for question in ["Tarea", "Pregunta Dificil"] {
            // The notebook's leading space is gone: exactly one after the colon.
            let answer = student.ask(question).await;
            assert!(is_relayed_answer(&answer), "{question}: {answer:?}");
        }
    }
    // Docencio refuses these itself: the notebook's Tareo would never answer.
    assert!(student.ask("Hola").await.starts_with("Error: "));
    assert_eq!(student.ask("Contenido").await, CONTENIDO_ANSWER);
    until_counted(&profesor.url, 0, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notebooks_http_calls_work_against_our_profesor() {
    let Some(python) = python().await else { return };
    let profesor = start_profesor().await;
    let stdout = run_python(python, "profesor_cliente.py", &[&profesor.url]).await;
    let calls: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(calls.len(), 6, "{stdout}");
    assert!(calls.iter().all(|c| c["status"] == 200), "{stdout}");
    assert_eq!(
        calls[0]["body"],
        serde_json::json!({"saludo": "Bienvenido a la clase"})
    );
    assert_eq!(calls[1]["body"]["método"], "GET");
    assert!(ANSWERS.contains(&calls[1]["body"]["texto"].as_str().unwrap()));
    let texts: Vec<(&str, &str)> = calls[2..]
        .iter()
        .map(|c| {
            (
                c["body"]["texto"].as_str().unwrap(),
                c["body"]["método"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        texts,
        [
            ("Llevamos: 0 preguntas respondidas", "GET"),
            ("Llevamos: 1 preguntas respondidas", "POST"),
            ("Llevamos: 2 preguntas respondidas", "POST"),
            ("Llevamos: 2 preguntas respondidas", "GET"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notebooks_profesor_works_behind_our_tareo_and_docencio() {
    let Some(python) = python().await else { return };
    let (_profesor, port) = python_server(python, "profesor_cuaderno.py", &["0"]).await;
    let profesor_url = format!("http://127.0.0.1:{port}");
    let (tareo_addr, _tareo) = start_tareo(&profesor_url).await;
    let (docencio_addr, _docencio) = start_docencio(&tareo_addr.to_string(), &profesor_url).await;
    let mut student = Client::connect(docencio_addr).await;
    // Several at once, so that Docencio has more than one answer to report
    // at a time: a notebook Profesor must still get one POST per answer.
    let mut burst = Vec::new();
    for question in ["Tarea", "Pregunta Dificil"].repeat(6) {
        burst.extend_from_slice(&(question.len() as u32).to_be_bytes());
        burst.extend_from_slice(question.as_bytes());
    }
    student.write_raw(&burst).await;
    for _ in 0..12 {
        let answer = student.read().await;
        assert!(is_relayed_answer(&answer), "{answer:?}");
    }
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    eventually(
        Duration::from_secs(10),
        "the notebook's Profesor to count 12",
        || {
            let http = http.clone();
            let url = format!("{profesor_url}/preguntas");
            async move {
                let body: serde_json::Value = http.get(url).send().await.ok()?.json().await.ok()?;
                let texto = body["texto"].as_str()?.to_owned();
                let count: u64 = texto.split_whitespace().nth(1)?.parse().ok()?;
                assert!(count <= 12, "over-counted: {texto}");
                (count == 12).then_some(())
            }
        },
    )
    .await;
}
