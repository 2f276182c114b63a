//! Profesor's HTTP API as a client calls it: exact keys and texts, status
//! codes, JSON errors, and an exact count under concurrency.

use crate::common;

use aula::wire::texts::ANSWERS;
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{status}: {content_type}"
    );
    (status, response.json().await.expect("JSON body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greets_answers_and_counts_with_the_notebooks_keys() {
    let profesor = start_profesor().await;
    let url = &profesor.url;
    let (status, body) = json_of(http().get(format!("{url}/")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"saludo": "Bienvenido a la clase"}));

    let (status, body) =
        json_of(http().get(format!("{url}/respuesta")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["método"], "GET");
    assert!(ANSWERS.contains(&body["texto"].as_str().unwrap()), "{body}");

    let (_, body) = json_of(http().get(format!("{url}/preguntas")).send().await.unwrap()).await;
    assert_eq!(
        body,
        json!({"texto": "Llevamos: 0 preguntas respondidas", "método": "GET", "total": 0})
    );
    let (status, body) = json_of(
        http()
            .post(format!("{url}/preguntas"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"texto": "Llevamos: 1 preguntas respondidas", "método": "POST", "total": 1})
    );
    let (_, body) = json_of(http().get(format!("{url}/preguntas")).send().await.unwrap()).await;
    assert_eq!(body["total"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_posts_add_exactly_two_hundred() {
    let profesor = start_profesor().await;
    let client = http();
    let mut posts = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let client = client.clone();
        let url = format!("{}/preguntas", profesor.url);
        posts.spawn(async move { client.post(url).send().await.unwrap().status() });
    }
    while let Some(status) = posts.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    assert_eq!(profesor_total(&profesor.url).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cantidad_counts_several_at_once_and_is_validated() {
    let profesor = start_profesor().await;
    let url = format!("{}/preguntas", profesor.url);
    let (status, body) = json_of(
        http()
            .post(&url)
            .json(&json!({"cantidad": 5}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"], 5);
    assert_eq!(body["texto"], "Llevamos: 5 preguntas respondidas");
    for bad in [
        json!({"cantidad": 0}),
        json!({"cantidad": -3}),
        json!({"cantidad": "x"}),
    ] {
        let (status, body) = json_of(http().post(&url).json(&bad).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(body["error"].is_string(), "{body}");
    }
    let (status, body) = json_of(
        http()
            .post(&url)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("JSON"), "{body}");
    // Refused requests counted nothing.
    assert_eq!(profesor_total(&profesor.url).await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_are_json_404() {
    let profesor = start_profesor().await;
    for path in ["/nada", "/preguntas/1", "/respuesta/x"] {
        let (status, body) = json_of(
            http()
                .get(format!("{}{path}", profesor.url))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(body["error"].as_str().unwrap().contains(path), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_methods_are_json_405_with_allow() {
    let profesor = start_profesor().await;
    let cases = [
        (reqwest::Method::POST, "/", "GET"),
        (reqwest::Method::DELETE, "/respuesta", "GET"),
        (reqwest::Method::PUT, "/preguntas", "GET, POST"),
        (reqwest::Method::DELETE, "/preguntas", "GET, POST"),
    ];
    for (method, path, allow) in cases {
        let response = http()
            .request(method.clone(), format!("{}{path}", profesor.url))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers().get("allow").map(|v| v.to_str().unwrap()),
            Some(allow),
            "{method} {path}"
        );
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(body["error"].is_string());
    }
    assert_eq!(profesor_total(&profesor.url).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_body_is_refused_as_json_and_counts_nothing() {
    let profesor = start_profesor().await;
    let huge = format!(
        "{{\"cantidad\": 1, \"relleno\": \"{}\"}}",
        "x".repeat(1 << 20)
    );
    let (status, body) = json_of(
        http()
            .post(format!("{}/preguntas", profesor.url))
            .header("content-type", "application/json")
            .body(huge)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("cuerpo demasiado grande")),
        "{body}"
    );
    assert_eq!(profesor_total(&profesor.url).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_its_data_folder_on_first_run() {
    let profesor = start_profesor().await;
    let _ = profesor_total(&profesor.url).await;
    assert!(profesor.data_dir.path().join("datos").is_dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_idempotency_key_gets_the_first_answer_and_counts_nothing() {
    let profesor = start_profesor().await;
    let url = format!("{}/preguntas", profesor.url);
    let post = |key: &'static str, cantidad: u64| {
        http()
            .post(&url)
            .header("Idempotency-Key", key)
            .json(&json!({ "cantidad": cantidad }))
            .send()
    };
    let first = post("lote-1", 4).await.unwrap();
    assert!(first.headers().get("idempotent-replayed").is_none());
    let (_, first) = json_of(first).await;
    assert_eq!(first["total"], 4);
    let (_, other) = json_of(post("lote-2", 1).await.unwrap()).await;
    assert_eq!(other["total"], 5);

    let repeated = post("lote-1", 4).await.unwrap();
    assert_eq!(
        repeated
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
    let (status, repeated) = json_of(repeated).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(repeated, first, "a retry gets the first answer");
    assert_eq!(profesor_total(&profesor.url).await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_sent_concurrently_counts_once() {
    let profesor = start_profesor().await;
    let client = http();
    let mut posts = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let request = client
            .post(format!("{}/preguntas", profesor.url))
            .header("Idempotency-Key", "el-mismo");
        posts.spawn(async move { request.send().await.unwrap().json::<Value>().await.unwrap() });
    }
    while let Some(body) = posts.join_next().await {
        assert_eq!(body.unwrap()["total"], 1);
    }
    assert_eq!(profesor_total(&profesor.url).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_idempotency_key_is_a_json_400() {
    let profesor = start_profesor().await;
    let too_long = "k".repeat(201);
    for key in ["", "   ", too_long.as_str()] {
        let response = http()
            .post(format!("{}/preguntas", profesor.url))
            .header("Idempotency-Key", key)
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{key:?}");
        assert!(body["error"].as_str().unwrap().contains("Idempotency-Key"));
    }
    assert_eq!(profesor_total(&profesor.url).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_and_wrong_content_types_are_json_4xx_and_count_nothing() {
    let profesor = start_profesor().await;
    let url = format!("{}/preguntas", profesor.url);
    let cases: [(&str, &[u8], StatusCode); 8] = [
        ("application/json", b"{nope", StatusCode::BAD_REQUEST),
        ("application/json", b"[1, 2]", StatusCode::BAD_REQUEST),
        (
            "application/json",
            br#"{"cantidad": "3"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            "application/json",
            br#"{"cantidad": 1.5}"#,
            StatusCode::BAD_REQUEST,
        ),
        ("application/json", b"\xff\xfe\x00", StatusCode::BAD_REQUEST),
        (
            "application/x-www-form-urlencoded",
            br#"{"cantidad": 2}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "text/plain",
            b"cantidad=2",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "multipart/form-data; boundary=x",
            b"--x\r\n\r\n2\r\n--x--",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (content_type, body, expected) in cases {
        let response = http()
            .post(&url)
            .header("content-type", content_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let (status, json) = json_of(response).await;
        assert_eq!(status, expected, "{content_type} {body:?}: {json}");
        assert!(
            json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{json}"
        );
    }
    // The notebook's bodyless POST still counts, whatever its content type.
    let (status, json) = json_of(
        http()
            .post(&url)
            .header("content-type", "text/plain")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["total"], 1, "only the valid POST counted: {json}");
}

async fn get_with_status(url: &str) -> (StatusCode, Value) {
    json_of(http().get(url).send().await.unwrap()).await
}

async fn listener() -> std::net::TcpListener {
    aula::server::listen("127.0.0.1:0")
        .await
        .unwrap()
        .into_std()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_profesor_tells_the_folders_total_from_what_this_run_counted() {
    let first = start_profesor().await;
    for _ in 0..3 {
        let response = http()
            .post(format!("{}/preguntas", first.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    first.running.stop().await;
    let again = start_profesor_in(listener().await, first.data_dir);
    let response = http()
        .post(format!("{}/preguntas", again.url))
        .json(&serde_json::json!({"cantidad": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(response).await.1["total"], 5);
    let (status, estado) = get_with_status(&format!("{}/estado", again.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(estado["total"], 5, "since the folder was created");
    assert_eq!(estado["contadas_esta_ejecucion"], 2, "this run");
    assert!(estado["inicio_ms"].as_u64().unwrap() <= estado["momento_ms"].as_u64().unwrap());
    let csv = http()
        .get(format!("{}/reporte.csv", again.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.ends_with(
            "contadas por Profesor en esta ejecución,,2\n\
             contadas por Profesor desde que se creó la carpeta de datos,,5\n"
        ),
        "{csv}"
    );
    again.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn informes_with_counters_at_the_limit_saturate_instead_of_overflowing() {
    let profesor = start_profesor().await;
    let informe = |run: &str| {
        serde_json::json!({
            "rol": "docencio", "instancia": "127.0.0.1:9", "ejecucion": run,
            "conexiones": u64::MAX, "clientes": [],
            "preguntas": {"Contenido": u64::MAX, "Tarea": u64::MAX, "Pregunta Dificil": 1},
            "respondidas": {"Contenido": u64::MAX, "Tarea": 0, "Pregunta Dificil": 0},
            "errores": u64::MAX, "en_vuelo": 0, "reconexiones": u64::MAX,
        })
    };
    // Two runs of the same instance: the second adds all it carries.
    for run in ["a", "b"] {
        let response = http()
            .post(format!("{}/informes", profesor.url))
            .json(&informe(run))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    }
    let (status, estado) = get_with_status(&format!("{}/estado", profesor.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(estado["preguntas"]["Tarea"], u64::MAX);
    assert_eq!(estado["preguntas"]["Pregunta Dificil"], 2);
    assert_eq!(estado["errores"], u64::MAX);
    let metrics = http()
        .get(format!("{}/metrics", profesor.url))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    profesor.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_reused_for_another_amount_is_a_json_422_and_counts_nothing() {
    let profesor = start_profesor().await;
    let post = |cantidad: u64| {
        http()
            .post(format!("{}/preguntas", profesor.url))
            .header("Idempotency-Key", "docencio-x-1")
            .json(&json!({ "cantidad": cantidad }))
            .send()
    };
    assert_eq!(json_of(post(4).await.unwrap()).await.1["total"], 4);
    let (status, body) = json_of(post(9).await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"].as_str().unwrap().contains("ya contó 4"),
        "{body}"
    );
    let (status, body) = json_of(post(4).await.unwrap()).await;
    assert_eq!((status, body["total"].as_u64()), (StatusCode::OK, Some(4)));
    assert_eq!(profesor_total(&profesor.url).await, 4);
    profesor.running.stop().await;
}
