//! Scenario 11: the course's material through Docencio. Download speed
//! of one student and of 64 at once, against the floor of the same bytes
//! sent over loopback by a bare framed server (32 KiB frames, no JSON, no
//! base64); a 10 MiB file Profesor sends to 1,000 connected students, each
//! checking its SHA-256; and the questions of a student asking meanwhile.
//!
//! The students are raw connections in this process; each keeps only a
//! running hash, never the file.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Barrier;
use tokio_util::codec::Framed;

use crate::results::Run;

type Conn = Framed<TcpStream, tokio_util::codec::LengthDelimitedCodec>;

const MIB: f64 = 1024.0 * 1024.0;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Bytes that do not compress and are the same on every run.
pub fn content(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Puts `bytes` in Profesor's material as `nombre`.
pub async fn upload(
    http: &reqwest::Client,
    profesor_url: &str,
    nombre: &str,
    bytes: Vec<u8>,
) -> anyhow::Result<String> {
    let sha256 = hex(&Sha256::digest(&bytes));
    let response = http
        .post(format!("{profesor_url}/material"))
        .query(&[("nombre", nombre)])
        .header("X-Sha256", &sha256)
        .body(bytes)
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "POST /material: {}",
        response.status()
    );
    Ok(sha256)
}

async fn connect(addr: SocketAddr) -> anyhow::Result<Conn> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(Framed::new(stream, aula::wire::frame_codec(1 << 20)))
}

async fn say(conn: &mut Conn, operacion: &str, data: Value) -> anyhow::Result<()> {
    let body = json!({"operacion": operacion, "data": data}).to_string();
    conn.send(Bytes::from(body)).await?;
    Ok(())
}

async fn next_mensaje(conn: &mut Conn) -> anyhow::Result<Value> {
    loop {
        let frame = conn
            .next()
            .await
            .ok_or_else(|| anyhow::anyhow!("Docencio cerró"))??;
        if frame.first() == Some(&b'{') {
            return Ok(serde_json::from_slice(&frame)?);
        }
    }
}

/// Downloads `nombre` on `conn`, hashing as it comes; checks the hash
/// and returns the bytes received.
async fn download(conn: &mut Conn, nombre: &str, sha256: &str) -> anyhow::Result<u64> {
    say(conn, "bajar", json!({"nombre": nombre, "desde": 0})).await?;
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    loop {
        let mensaje = next_mensaje(conn).await?;
        match (mensaje["operacion"].as_str(), mensaje.get("estado")) {
            (Some("bajar"), Some(estado)) => {
                anyhow::ensure!(estado == "ok", "bajar: {mensaje}");
            }
            (Some("trozo"), None) => {
                let datos = mensaje["data"]["datos"].as_str().unwrap_or_default();
                let bytes = base64::engine::general_purpose::STANDARD.decode(datos)?;
                hasher.update(&bytes);
                received += bytes.len() as u64;
            }
            (Some("fin"), None) => break,
            _ => {}
        }
    }
    let got = hex(&hasher.finalize());
    anyhow::ensure!(got == sha256, "SHA-256 {got}, se esperaba {sha256}");
    Ok(received)
}

/// `students` download `nombre` at once, each on its own connection:
/// aggregate MiB/s, and each download's time as the latency.
pub async fn downloads(
    docencio: SocketAddr,
    nombre: &str,
    sha256: &str,
    students: usize,
    floor_mib_s: Option<f64>,
) -> anyhow::Result<Run> {
    let ready = Arc::new(Barrier::new(students + 1));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..students {
        let (ready, nombre, sha256) = (ready.clone(), nombre.to_owned(), sha256.to_owned());
        clients.spawn(async move {
            let mut conn = connect(docencio).await?;
            ready.wait().await;
            let started = Instant::now();
            let bytes = download(&mut conn, &nombre, &sha256).await?;
            anyhow::Ok((bytes, started.elapsed()))
        });
    }
    ready.wait().await;
    let started = Instant::now();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)?;
    let mut total = 0u64;
    while let Some(joined) = clients.join_next().await {
        let (bytes, took) = joined??;
        total += bytes;
        latency.saturating_record(took.as_micros() as u64);
    }
    let mib_s = total as f64 / MIB / started.elapsed().as_secs_f64();
    let ms = |micros: u64| micros as f64 / 1000.0;
    Ok(Run {
        answers_per_s: mib_s,
        p50_ms: ms(latency.value_at_quantile(0.5)),
        p99_ms: ms(latency.value_at_quantile(0.99)),
        max_ms: ms(latency.max()),
        answers: students as u64,
        ratio_to_floor: floor_mib_s.map(|floor| mib_s / floor),
        ..Run::default()
    })
}

/// The floor: the same bytes, in 32 KiB frames, from a bare framed server
/// in this process to `students` clients at once over loopback: MiB/s.
pub async fn floor(bytes: Arc<Vec<u8>>, students: usize) -> anyhow::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn({
        let bytes = bytes.clone();
        async move {
            for _ in 0..students {
                let (stream, _) = listener.accept().await?;
                let bytes = bytes.clone();
                tokio::spawn(async move {
                    let mut conn = Framed::new(stream, aula::wire::frame_codec(1 << 20));
                    for chunk in bytes.chunks(aula::archivos::trozos::CHUNK) {
                        if conn.feed(Bytes::copy_from_slice(chunk)).await.is_err() {
                            return;
                        }
                    }
                    let _ = SinkExt::<Bytes>::flush(&mut conn).await;
                });
            }
            anyhow::Ok(())
        }
    });
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..students {
        let len = bytes.len() as u64;
        clients.spawn(async move {
            let mut conn = connect(addr).await?;
            let mut received = 0u64;
            while received < len {
                let frame = conn
                    .next()
                    .await
                    .ok_or_else(|| anyhow::anyhow!("piso cerró"))??;
                received += frame.len() as u64;
            }
            anyhow::Ok(received)
        });
    }
    let mut total = 0u64;
    while let Some(joined) = clients.join_next().await {
        total += joined??;
    }
    server.await??;
    Ok(total as f64 / MIB / started.elapsed().as_secs_f64())
}

/// Profesor sends `nombre` to everyone: `students` named students at
/// Docencio each get the push and download it, checking its hash; one
/// more student asks questions all along. Returns the fan-out (aggregate
/// MiB/s; latency from the POST to each student's checked file) and the
/// questions asked meanwhile (answers/s; their latency).
pub async fn send_to_everyone(
    http: &reqwest::Client,
    profesor_url: &str,
    docencio: SocketAddr,
    nombre: &str,
    sha256: &str,
    students: usize,
) -> anyhow::Result<(Run, Run)> {
    let ready = Arc::new(Barrier::new(students + 1));
    let mut clients = tokio::task::JoinSet::new();
    for student in 0..students {
        let (ready, nombre, sha256) = (ready.clone(), nombre.to_owned(), sha256.to_owned());
        clients.spawn(async move {
            let mut conn = connect(docencio).await?;
            say(&mut conn, "hola", json!({"nombre": format!("m{student}")})).await?;
            let answer = next_mensaje(&mut conn).await?;
            anyhow::ensure!(answer["estado"] == "ok", "hola: {answer}");
            ready.wait().await;
            loop {
                let push = next_mensaje(&mut conn).await?;
                if push["operacion"] == "material" && push["data"]["nombre"] == nombre.as_str() {
                    break;
                }
            }
            let bytes = download(&mut conn, &nombre, &sha256).await?;
            anyhow::Ok((bytes, Instant::now()))
        });
    }
    ready.wait().await;
    // The one asking questions meanwhile, until the fan-out is done.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let finished = done.clone();
    let asking = tokio::spawn(async move {
        let mut conn = connect(docencio).await?;
        let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        let started = Instant::now();
        let deadline = started + Duration::from_secs(600);
        let mut stop = false;
        while !stop && Instant::now() < deadline {
            let asked = Instant::now();
            conn.send(Bytes::from_static(b"Contenido")).await?;
            conn.next()
                .await
                .ok_or_else(|| anyhow::anyhow!("Docencio cerró"))??;
            latency.saturating_record(asked.elapsed().as_micros() as u64);
            stop = finished.load(std::sync::atomic::Ordering::Relaxed);
        }
        anyhow::Ok((latency, started.elapsed()))
    });
    let posted = Instant::now();
    let response = http
        .post(format!("{profesor_url}/material/{nombre}/enviar"))
        .send()
        .await?;
    anyhow::ensure!(response.status() == 202, "enviar: {}", response.status());
    let mut latency = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)?;
    let mut total = 0u64;
    while let Some(joined) = clients.join_next().await {
        let (bytes, done) = joined??;
        total += bytes;
        latency.saturating_record(done.duration_since(posted).as_micros() as u64);
    }
    let elapsed = posted.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let (questions, asked_for) = asking.await??;
    let ms = |micros: u64| micros as f64 / 1000.0;
    let fan_out = Run {
        answers_per_s: total as f64 / MIB / elapsed.as_secs_f64(),
        p50_ms: ms(latency.value_at_quantile(0.5)),
        p99_ms: ms(latency.value_at_quantile(0.99)),
        max_ms: ms(latency.max()),
        answers: students as u64,
        ..Run::default()
    };
    let asked = Run {
        answers_per_s: questions.len() as f64 / asked_for.as_secs_f64(),
        p50_ms: ms(questions.value_at_quantile(0.5)),
        p99_ms: ms(questions.value_at_quantile(0.99)),
        max_ms: ms(questions.max()),
        answers: questions.len(),
        ..Run::default()
    };
    Ok((fan_out, asked))
}
