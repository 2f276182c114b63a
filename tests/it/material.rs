//! Material del curso over HTTP: Profesor's folder of files and the
//! students' hand-ins, as an instructor (curl) and a Docencio use them;
//! and every way an outsider could try to reach outside the folder.

use crate::common;

use std::time::Duration;

use aula::profesor;
use common::*;
use reqwest::{header, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "secreto-de-la-clase";

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Profesor with a token, once it answers (its folders exist by then).
async fn profesor() -> ProfesorHandle {
    let profesor = start_profesor_with(profesor::Config {
        token: Some(TOKEN.into()),
        ..profesor::Config::default()
    })
    .await;
    let up = http()
        .get(format!("{}/material", profesor.url))
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), StatusCode::OK);
    profesor
}

fn material_dir(profesor: &ProfesorHandle) -> std::path::PathBuf {
    profesor.data_dir.path().join("datos").join("material")
}

async fn upload(url: &str, nombre: &str, bytes: Vec<u8>) -> reqwest::Response {
    http()
        .post(format!("{url}/material"))
        .query(&[("nombre", nombre)])
        .bearer_auth(TOKEN)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn material_is_uploaded_listed_downloaded_in_ranges_and_deleted() {
    let profesor = profesor().await;
    let url = &profesor.url;
    let bytes: Vec<u8> = (0..100_000u32).map(|n| (n % 251) as u8).collect();
    let created = upload(url, "Guía 1 (v2).pdf", bytes.clone()).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(location, "/material/Gu%C3%ADa%201%20(v2).pdf");
    let archivo: Value = created.json().await.unwrap();
    assert_eq!(archivo["tamano"], 100_000);
    assert_eq!(archivo["sha256"], sha(&bytes));

    let listed: Value = http()
        .get(format!("{url}/material"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["archivos"], serde_json::json!([archivo]));

    let whole = http().get(format!("{url}{location}")).send().await.unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    let etag = whole.headers()[header::ETAG].clone();
    let disposition = whole.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert_eq!(whole.headers()["x-sha256"], sha(&bytes).as_str());
    assert_eq!(whole.bytes().await.unwrap(), bytes);

    let part = http()
        .get(format!("{url}{location}"))
        .header(header::RANGE, "bytes=99990-")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.bytes().await.unwrap(), bytes[99_990..]);
    let unchanged = http()
        .get(format!("{url}{location}"))
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);

    // Replaced: 200, new hash listed.
    let replaced = upload(url, "Guía 1 (v2).pdf", b"corta".to_vec()).await;
    assert_eq!(replaced.status(), StatusCode::OK);
    let archivo: Value = replaced.json().await.unwrap();
    assert_eq!(archivo["sha256"], sha(b"corta"));

    let delete = |auth: bool| {
        let request = http().delete(format!("{url}{location}"));
        let request = if auth {
            request.bearer_auth(TOKEN)
        } else {
            request
        };
        request.send()
    };
    assert_eq!(
        delete(false).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(delete(true).await.unwrap().status(), StatusCode::NO_CONTENT);
    let gone = delete(true).await.unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert!(gone.json::<Value>().await.unwrap()["error"].is_string());
    assert_eq!(
        http()
            .get(format!("{url}{location}"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_with_another_hash_or_without_the_token_leaves_nothing() {
    let profesor = profesor().await;
    let url = &profesor.url;
    let wrong = http()
        .post(format!("{url}/material"))
        .query(&[("nombre", "a.txt")])
        .bearer_auth(TOKEN)
        .header("X-Sha256", sha(b"otra cosa"))
        .body("hola")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = wrong.json().await.unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("SHA-256"),
        "{error}"
    );
    let right = http()
        .post(format!("{url}/material"))
        .query(&[("nombre", "a.txt")])
        .bearer_auth(TOKEN)
        .header("X-Sha256", sha(b"hola"))
        .body("hola")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::CREATED);

    let anonymous = http()
        .post(format!("{url}/material"))
        .query(&[("nombre", "b.txt")])
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let foreign = http()
        .post(format!("{url}/material"))
        .query(&[("nombre", "b.txt")])
        .bearer_auth(TOKEN)
        .header(header::ORIGIN, "http://malo.example")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    let sent = http()
        .post(format!("{url}/material/a.txt/enviar"))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::UNAUTHORIZED);
    // Only a.txt, and no temporary file left behind.
    let names: Vec<String> = std::fs::read_dir(material_dir(&profesor))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["a.txt"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_could_leave_the_folder_are_refused() {
    let profesor = profesor().await;
    let url = &profesor.url;
    let root = profesor.data_dir.path();
    std::fs::write(root.join("secreto.txt"), "no").unwrap();
    let material = material_dir(&profesor);
    std::os::unix::fs::symlink(root.join("secreto.txt"), material.join("enlace.txt")).unwrap();
    std::os::unix::fs::symlink("../../secreto.txt", material.join("relativo.txt")).unwrap();

    for nombre in [
        "../secreto.txt",
        "../../secreto.txt",
        "/etc/passwd",
        "sub/a.txt",
        "..",
        ".oculto",
        "a\\b",
        "%2e%2e%2fsecreto.txt",
        "a\u{2215}b",
        "a\u{ff0f}b",
        "a\u{202e}txt.exe",
        "",
    ] {
        let response = upload(url, nombre, b"x".to_vec()).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{nombre:?}"
        );
    }
    for path in [
        "/material/..%2Fsecreto.txt",
        "/material/..%2F..%2Fsecreto.txt",
        "/material/%2e%2e%2f%2e%2e%2fsecreto.txt",
        "/material/%2Fetc%2Fpasswd",
        "/material/enlace.txt",
        "/material/relativo.txt",
        "/material/a%E2%88%95b",
        "/material/%00",
        "/entregas/..%2F..%2Fsecreto.txt/x",
        "/entregas/..%2F../secreto.txt",
    ] {
        let response = http().get(format!("{url}{path}")).send().await.unwrap();
        assert!(
            matches!(response.status().as_u16(), 404 | 422),
            "{path}: {}",
            response.status()
        );
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("no") || body.contains("error"),
            "{path}: {body}"
        );
        assert_ne!(body, "no", "{path} reached the file outside");
    }
    // The links out are never listed either.
    let listed: Value = http()
        .get(format!("{url}/material"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["archivos"], serde_json::json!([]));
    // And the raw request line, as an attacker writes it (no client
    // normalising the path).
    for line in [
        "GET /material/../../secreto.txt HTTP/1.1",
        "GET /material/..%2f..%2fsecreto.txt HTTP/1.1",
        "GET /entregas/../secreto.txt HTTP/1.1",
        "GET /material/.%2E/.%2E/secreto.txt HTTP/1.1",
    ] {
        let response = raw_request(profesor.addr, line, "").await;
        assert!(!response.ends_with("\r\n\r\nno"), "{line}: {response}");
        assert!(!response.starts_with("HTTP/1.1 200"), "{line}: {response}");
    }
}

async fn raw_request(addr: std::net::SocketAddr, line: &str, extra_headers: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("{line}\r\nHost: {addr}\r\n{extra_headers}Connection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_size_over_the_limit_is_refused_before_the_body() {
    let profesor = profesor().await;
    let too_big = aula::api::MAX_MATERIAL_BYTES + 1;
    let response = raw_request(
        profesor.addr,
        "POST /material?nombre=grande.bin HTTP/1.1",
        &format!("Authorization: Bearer {TOKEN}\r\nContent-Length: {too_big}\r\n"),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    let negative = raw_request(
        profesor.addr,
        "POST /material?nombre=grande.bin HTTP/1.1",
        &format!("Authorization: Bearer {TOKEN}\r\nContent-Length: -1\r\n"),
    )
    .await;
    assert!(negative.starts_with("HTTP/1.1 400"), "{negative}");
    assert_eq!(
        std::fs::read_dir(material_dir(&profesor)).unwrap().count(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_ins_are_kept_per_student_and_listed() {
    let profesor = profesor().await;
    let url = &profesor.url;
    let hand_in = |estudiante: &str, nombre: &str, bytes: &'static [u8]| {
        http()
            .put(format!("{url}/entregas/{estudiante}/{nombre}"))
            .bearer_auth(TOKEN)
            .header("X-Sha256", sha(bytes))
            .body(bytes)
            .send()
    };
    for (estudiante, nombre, bytes, status) in [
        ("Ana", "tarea1.py", &b"print(1)"[..], StatusCode::CREATED),
        ("Ana", "tarea1.py", b"print(2)", StatusCode::OK),
        ("Beto", "tarea1.py", b"print(3)", StatusCode::CREATED),
        (
            ".oculto",
            "tarea1.py",
            b"x",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        assert_eq!(
            hand_in(estudiante, nombre, bytes).await.unwrap().status(),
            status,
            "{estudiante}/{nombre}"
        );
    }
    let listed: Value = http()
        .get(format!("{url}/entregas"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entregas: Vec<(String, String, String)> = listed["entregas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["estudiante"].as_str().unwrap().to_owned(),
                e["nombre"].as_str().unwrap().to_owned(),
                e["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        entregas,
        [
            ("Ana".into(), "tarea1.py".into(), sha(b"print(2)")),
            ("Beto".into(), "tarea1.py".into(), sha(b"print(3)")),
        ]
    );
    let got = http()
        .get(format!("{url}/entregas/Beto/tarea1.py"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"print(3)");
    // Reading a student who handed in nothing creates nothing.
    let none = http()
        .get(format!("{url}/entregas/Nadie/x.py"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::NOT_FOUND);
    assert!(!profesor
        .data_dir
        .path()
        .join("datos/entregas/Nadie")
        .exists());
}

/// A class whose Profesor has a token; Docencio sends it.
async fn class() -> (ProfesorHandle, std::net::SocketAddr, Vec<Running>) {
    let profesor = profesor().await;
    let (tareo_addr, tareo) = start_tareo(&profesor.url).await;
    let (docencio_addr, docencio) = start_docencio_with(aula::docencio::Config {
        tareo_addr: tareo_addr.to_string(),
        profesor_url: profesor.url.clone(),
        token: Some(TOKEN.into()),
        ..aula::docencio::Config::default()
    })
    .await;
    (profesor, docencio_addr, vec![tareo, docencio])
}

fn pattern(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64 ^ len as u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Files of 0 bytes, 1, exactly one chunk, one over, and 100 MiB: put in
/// the material over HTTP, downloaded by a student over frames, handed in
/// by the student over frames and read back over HTTP: every hash equal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_every_size_round_trip_through_docencio_intact() {
    use aula::archivos::trozos::CHUNK;
    let (profesor, docencio, _running) = class().await;
    let addr = docencio.to_string();
    let here = tempfile::tempdir().unwrap();
    for len in [0, 1, CHUNK, CHUNK + 1, 100 * 1024 * 1024] {
        let bytes = pattern(len);
        let nombre = format!("archivo-{len}.bin");
        assert_eq!(
            upload(&profesor.url, &nombre, bytes.clone()).await.status(),
            StatusCode::CREATED
        );
        let saved = aula::estudiante::archivos::download(&addr, &nombre, here.path(), false)
            .await
            .unwrap_or_else(|err| panic!("{len} bytes: {err}"));
        assert_eq!(saved, here.path().join(&nombre));
        let got = std::fs::read(&saved).unwrap();
        assert_eq!(got.len(), len);
        assert!(got == bytes, "{len} bytes: the download differs");

        let handed = aula::estudiante::archivos::upload(
            &addr,
            &saved,
            "Ana",
            Some(&format!("entrega-{len}.bin")),
        )
        .await
        .unwrap_or_else(|err| panic!("{len} bytes: {err}"));
        assert_eq!(handed["completo"], true, "{handed}");
        assert_eq!(handed["sha256"], sha(&bytes).as_str());
        let kept = http()
            .get(format!("{}/entregas/Ana/entrega-{len}.bin", profesor.url))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(kept == bytes, "{len} bytes: the hand-in differs");
        std::fs::remove_file(&saved).unwrap();
    }
    let listed = aula::estudiante::archivos::list(&addr).await.unwrap();
    assert_eq!(listed.len(), 5);
    assert!(listed.iter().all(|archivo| archivo.sha256.len() == 64));
}

/// An interrupted download resumes from its partial file; a partial file
/// of another content is detected by the hash and thrown away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_download_resumes_and_a_wrong_part_is_caught() {
    let (profesor, docencio, _running) = class().await;
    let addr = docencio.to_string();
    let bytes = pattern(1_000_000);
    upload(&profesor.url, "guia.pdf", bytes.clone()).await;
    let here = tempfile::tempdir().unwrap();
    // What an interrupted download left.
    std::fs::write(here.path().join("guia.pdf.parte"), &bytes[..300_000]).unwrap();
    let saved = aula::estudiante::archivos::download(&addr, "guia.pdf", here.path(), false)
        .await
        .unwrap();
    assert!(std::fs::read(&saved).unwrap() == bytes);
    assert!(!here.path().join("guia.pdf.parte").exists());

    // Cut after its last byte, before the rename: finished, not refused.
    std::fs::remove_file(&saved).unwrap();
    std::fs::write(here.path().join("guia.pdf.parte"), &bytes).unwrap();
    let saved = aula::estudiante::archivos::download(&addr, "guia.pdf", here.path(), false)
        .await
        .unwrap();
    assert!(std::fs::read(&saved).unwrap() == bytes);
    assert!(!here.path().join("guia.pdf.parte").exists());

    std::fs::remove_file(&saved).unwrap();
    std::fs::write(here.path().join("guia.pdf.parte"), vec![0u8; 300_000]).unwrap();
    let err = aula::estudiante::archivos::download(&addr, "guia.pdf", here.path(), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("SHA-256"), "{err}");
    assert!(!saved.exists(), "a wrong file never gets the real name");
    assert!(
        !here.path().join("guia.pdf.parte").exists(),
        "the wrong part is thrown away"
    );
}

/// Over frames, names and transfers are checked like over HTTP: nothing
/// outside the folder, no chunk out of place, no more than the window,
/// no hand-in under a wrong hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_over_frames_are_refused_and_store_nothing() {
    use aula::archivos::trozos::{Trozo, UPLOAD_WINDOW};
    let (profesor, docencio, _running) = class().await;
    let mut client = Client::connect(docencio).await;
    for nombre in [
        "../secreto.txt",
        "/etc/passwd",
        ".oculto",
        "a/b",
        "..",
        "a\u{2215}b",
    ] {
        let answer = client
            .request(serde_json::json!({"operacion": "bajar", "data": {"nombre": nombre}}))
            .await;
        assert_eq!(answer["estado"], "error", "{nombre}: {answer}");
    }
    let missing = client
        .request(serde_json::json!({"operacion": "bajar", "data": {"nombre": "no-existe.txt"}}))
        .await;
    assert_eq!(missing["estado"], "error");
    let beyond = {
        upload(&profesor.url, "corto.txt", b"hola".to_vec()).await;
        client.request(serde_json::json!({"operacion": "bajar", "data": {"nombre": "corto.txt", "desde": 99}}),
        )
        .await
    };
    assert_eq!(beyond["estado"], "error", "{beyond}");
    // A hand-in needs a name first.
    let anonymous = client.request(serde_json::json!({"operacion": "subir", "data": {"nombre": "t.py", "tamano": 4, "sha256": sha(b"hola")}}),
    )
    .await;
    assert_eq!(anonymous["estado"], "error");
    let hola = client
        .request(serde_json::json!({"operacion": "hola", "data": {"nombre": "Ana"}}))
        .await;
    assert_eq!(hola["estado"], "ok");
    for (nombre, tamano, hash) in [
        ("../t.py", 4u64, sha(b"hola")),
        ("t.py", 4, "no-es-un-hash".to_owned()),
        ("t.py", aula::api::MAX_ENTREGA_BYTES + 1, sha(b"hola")),
    ] {
        let answer = client.request(serde_json::json!({"operacion": "subir", "data": {"nombre": nombre, "tamano": tamano, "sha256": hash}}),
        )
        .await;
        assert_eq!(answer["estado"], "error", "{nombre} {tamano}: {answer}");
    }
    let negative = client.request(serde_json::json!({"operacion": "subir", "data": {"nombre": "t.py", "tamano": -1, "sha256": sha(b"hola")}}),
    )
    .await;
    assert_eq!(negative["estado"], "error");
    let stray = client
        .request(serde_json::json!({"operacion": "trozo", "data": Trozo::new("t.py", 0, b"hola")}))
        .await;
    assert_eq!(stray["estado"], "error", "a chunk without subir");

    // A hand-in whose bytes do not match its hash: refused, nothing kept.
    let started = client.request(serde_json::json!({"operacion": "subir", "data": {"nombre": "t.py", "tamano": 4, "sha256": sha(b"hola")}}),
    )
    .await;
    assert_eq!(started["estado"], "ok", "{started}");
    let out_of_place = client
        .request(serde_json::json!({"operacion": "trozo", "data": Trozo::new("t.py", 2, b"ho")}))
        .await;
    assert_eq!(out_of_place["estado"], "error");
    let wrong = client
        .request(serde_json::json!({"operacion": "trozo", "data": Trozo::new("t.py", 0, b"chao")}))
        .await;
    assert_eq!(wrong["estado"], "error", "{wrong}");
    assert!(
        wrong["data"].as_str().unwrap().contains("SHA-256"),
        "{wrong}"
    );

    // More chunks than the window without reading answers: told, not held.
    let big = 64 * 1024 * 1024u64;
    let started = client.request(serde_json::json!({"operacion": "subir", "data": {"nombre": "grande.bin", "tamano": big, "sha256": sha(b"x")}}),
    )
    .await;
    assert_eq!(started["estado"], "ok");
    let chunk = vec![7u8; aula::archivos::trozos::CHUNK];
    let sent = UPLOAD_WINDOW * 8;
    for n in 0..sent {
        let trozo = Trozo::new("grande.bin", (n * chunk.len()) as u64, &chunk);
        client
            .send(serde_json::json!({"operacion": "trozo", "data": trozo}).to_string())
            .await;
    }
    let mut refused = 0;
    for _ in 0..sent {
        let answer: Value = serde_json::from_str(&client.read().await).unwrap();
        if answer["estado"] == "error" {
            refused += 1;
        }
    }
    assert!(
        refused > 0,
        "more than {UPLOAD_WINDOW} chunks at once must be refused"
    );
    drop(client);
    let listed: Value = http()
        .get(format!("{}/entregas", profesor.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["entregas"],
        serde_json::json!([]),
        "nothing was handed in"
    );
}

/// Downloading a large file, the same connection still gets its answers
/// between the chunks, and a file Profesor sends to everyone reaches a
/// named student as a push it can download.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_leaves_room_for_questions_and_sending_to_everyone_reaches_named_students() {
    let (profesor, docencio, _running) = class().await;
    let bytes = pattern(20 * 1024 * 1024);
    upload(&profesor.url, "video.bin", bytes).await;
    let mut client = Client::connect(docencio).await;
    let hola = client
        .request(serde_json::json!({"operacion": "hola", "data": {"nombre": "Ana"}}))
        .await;
    assert_eq!(hola["estado"], "ok");
    let started = client
        .request(serde_json::json!({"operacion": "bajar", "data": {"nombre": "video.bin"}}))
        .await;
    assert_eq!(started["estado"], "ok", "{started}");
    client.send("Contenido").await;
    // The answer comes long before the 640 chunks are through.
    let mut chunks_before = 0;
    loop {
        let frame = client.read().await;
        if frame == aula::wire::texts::CONTENIDO_ANSWER {
            break;
        }
        let push: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(push["operacion"], "trozo", "{frame}");
        chunks_before += 1;
    }
    assert!(
        chunks_before < 600,
        "the answer waited behind {chunks_before} chunks"
    );

    let sent = http()
        .post(format!("{}/material/video.bin/enviar", profesor.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let mut other = Client::connect(docencio).await;
    let hola = other
        .request(serde_json::json!({"operacion": "hola", "data": {"nombre": "Beto"}}))
        .await;
    assert_eq!(hola["estado"], "ok");
    let sent = http()
        .post(format!("{}/material/video.bin/enviar", profesor.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let push: Value = serde_json::from_str(&other.read().await).unwrap();
    assert_eq!(push["operacion"], "material", "{push}");
    assert_eq!(push["data"]["nombre"], "video.bin");
    assert_eq!(push["data"]["tamano"], 20 * 1024 * 1024);
}

/// What an outsider found, each answered clearly now: a range of an empty
/// file (actix-files computed its end as 0 - 1), names too long in bytes or
/// with invisible letters, a folder in the way, an unchecked student name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_files_odd_names_and_folders_in_the_way_get_clear_answers() {
    let profesor = profesor().await;
    let url = &profesor.url;
    assert_eq!(
        upload(url, "vacio.txt", Vec::new()).await.status(),
        StatusCode::CREATED
    );
    for range in ["bytes=-1", "bytes=0-0", "bytes=-5,0-0"] {
        let response = http()
            .get(format!("{url}/material/vacio.txt"))
            .header(header::RANGE, range)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::RANGE_NOT_SATISFIABLE,
            "{range}"
        );
        assert!(response.json::<Value>().await.unwrap()["error"].is_string());
    }
    let whole = http()
        .get(format!("{url}/material/vacio.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    assert!(whole.bytes().await.unwrap().is_empty());

    for nombre in ["ñ".repeat(128), "a\u{3164}b".to_owned()] {
        let response = upload(url, &nombre, b"x".to_vec()).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{nombre}"
        );
    }
    std::fs::create_dir(material_dir(&profesor).join("sub")).unwrap();
    let in_the_way = upload(url, "sub", b"x".to_vec()).await;
    assert_eq!(in_the_way.status(), StatusCode::CONFLICT);
    assert!(in_the_way.json::<Value>().await.unwrap()["error"].is_string());
    let unchecked = http()
        .get(format!("{url}/entregas/.oculto/x.py"))
        .send()
        .await
        .unwrap();
    assert_eq!(unchecked.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Alive and well after all of it.
    let listed = http().get(format!("{url}/material")).send().await.unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
}
