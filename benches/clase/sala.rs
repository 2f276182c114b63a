//! Scenario 10: the sala. How long an announcement takes from Profesor's
//! `POST /anuncios` to each connected student (1,000 and 10,000 students,
//! named ones and the notebook's kind half and half), and how many chat
//! lines a second one Docencio fans out to its named students.
//!
//! The students are raw connections in this process, so the time measured
//! is the class's, not a client's: each records when its frame arrived.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Barrier};
use tokio_util::codec::Framed;

use crate::results::Run;

fn frame_codec() -> tokio_util::codec::LengthDelimitedCodec {
    aula::wire::frame_codec(1 << 20)
}

/// A client of the sala: named (says `hola`) or not.
async fn join(
    addr: SocketAddr,
    name: Option<String>,
) -> anyhow::Result<Framed<TcpStream, tokio_util::codec::LengthDelimitedCodec>> {
    let stream = TcpStream::connect(addr).await?;
    let mut framed = Framed::new(stream, frame_codec());
    if let Some(name) = name {
        let hola = serde_json::json!({"operacion": "hola", "data": {"nombre": name}});
        framed.send(Bytes::from(hola.to_string())).await?;
        let answer = framed
            .next()
            .await
            .ok_or_else(|| anyhow::anyhow!("Docencio cerró"))??;
        anyhow::ensure!(
            answer.starts_with(b"{") && answer.windows(11).any(|w| w == b"\"estado\":\"o"),
            "hola refused: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    Ok(framed)
}

/// `students` connected (half named), `announcements` posted one after the
/// other (each once every student has the one before): the time from each
/// POST to each student's frame.
pub async fn fan_out(
    http: &reqwest::Client,
    profesor_url: &str,
    docencio: SocketAddr,
    students: usize,
    announcements: usize,
) -> anyhow::Result<Run> {
    let ready = Arc::new(Barrier::new(students + 1));
    let (arrivals, mut arrived) = mpsc::unbounded_channel::<(usize, Instant)>();
    let mut clients = tokio::task::JoinSet::new();
    for student in 0..students {
        let name = (student % 2 == 0).then(|| format!("b{student}"));
        let ready = ready.clone();
        let arrivals = arrivals.clone();
        clients.spawn(async move {
            let mut framed = join(docencio, name).await?;
            ready.wait().await;
            for number in 0..announcements {
                let frame = framed
                    .next()
                    .await
                    .ok_or_else(|| anyhow::anyhow!("Docencio cerró"))??;
                anyhow::ensure!(
                    frame.windows(7).any(|w| w == b"Anuncio")
                        || frame.windows(7).any(|w| w == b"anuncio"),
                    "not an announcement: {}",
                    String::from_utf8_lossy(&frame)
                );
                let _ = arrivals.send((number, Instant::now()));
            }
            anyhow::Ok(())
        });
    }
    drop(arrivals);
    ready.wait().await;
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let started = Instant::now();
    for number in 0..announcements {
        let posted = Instant::now();
        let response = http
            .post(format!("{profesor_url}/anuncios"))
            .json(&serde_json::json!({"texto": format!("anuncio {number}")}))
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == 201,
            "POST /anuncios: {}",
            response.status()
        );
        for _ in 0..students {
            let (seen, at) = tokio::time::timeout(Duration::from_secs(30), arrived.recv())
                .await?
                .ok_or_else(|| anyhow::anyhow!("a student left"))?;
            anyhow::ensure!(
                seen == number,
                "announcement {seen} while waiting for {number}"
            );
            latency.saturating_record(at.duration_since(posted).as_micros() as u64);
        }
    }
    let elapsed = started.elapsed();
    while let Some(joined) = clients.join_next().await {
        joined??;
    }
    let ms = |micros: u64| micros as f64 / 1000.0;
    let delivered = (students * announcements) as u64;
    Ok(Run {
        answers_per_s: delivered as f64 / elapsed.as_secs_f64(),
        p50_ms: ms(latency.value_at_quantile(0.5)),
        p99_ms: ms(latency.value_at_quantile(0.99)),
        max_ms: ms(latency.max()),
        answers: delivered,
        ..Run::default()
    })
}

/// `students` named students at one Docencio, each sending `lines` chat
/// lines at once (within the rate limit's burst): every line reaches every
/// other student. The rate is of lines delivered; the latency from a
/// line's send to its arrival at each other student.
pub async fn chat(docencio: SocketAddr, students: usize, lines: usize) -> anyhow::Result<Run> {
    let joined = Arc::new(Barrier::new(students));
    let (arrivals, mut arrived) = mpsc::unbounded_channel::<Duration>();
    let started = Arc::new(std::sync::OnceLock::<Instant>::new());
    let lost = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for student in 0..students {
        let joined = joined.clone();
        let arrivals = arrivals.clone();
        let started = started.clone();
        let lost = lost.clone();
        clients.spawn(async move {
            let mut framed = join(docencio, Some(format!("c{student}"))).await?;
            joined.wait().await;
            let origin = *started.get_or_init(Instant::now);
            for line in 0..lines {
                // The send time rides in the text, as ms since the start.
                let sent = origin.elapsed().as_micros();
                let chat =
                    serde_json::json!({"operacion": "chat", "data": format!("{sent} {line}")});
                framed.feed(Bytes::from(chat.to_string())).await?;
            }
            SinkExt::<Bytes>::flush(&mut framed).await?;
            let expected = (students - 1) * lines;
            let (mut heard, mut answers) = (0, 0);
            while heard < expected || answers < lines {
                let frame = tokio::time::timeout(Duration::from_secs(60), framed.next())
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("Docencio cerró"))??;
                let value: serde_json::Value = serde_json::from_slice(&frame)?;
                if value.get("estado").is_some() {
                    anyhow::ensure!(value["estado"] == "ok", "chat refused: {value}");
                    answers += 1;
                } else if value["operacion"] == "chat" {
                    let sent: u128 = value["data"]["texto"]
                        .as_str()
                        .and_then(|text| text.split(' ').next())
                        .and_then(|micros| micros.parse().ok())
                        .unwrap_or(0);
                    let now = origin.elapsed().as_micros();
                    let _ = arrivals.send(Duration::from_micros(now.saturating_sub(sent) as u64));
                    heard += 1;
                } else if value["operacion"] == "perdidos" {
                    // Pushes this student did not read in time: dropped
                    // by Docencio, and said so.
                    let missed = value["data"]["cantidad"].as_u64().unwrap_or(0);
                    lost.fetch_add(missed, std::sync::atomic::Ordering::Relaxed);
                    heard += missed as usize;
                }
            }
            anyhow::Ok(())
        });
    }
    drop(arrivals);
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut delivered = 0u64;
    while let Some(took) = arrived.recv().await {
        latency.saturating_record(took.as_micros() as u64);
        delivered += 1;
    }
    while let Some(joined) = clients.join_next().await {
        joined??;
    }
    let elapsed = started
        .get()
        .map_or(Duration::ZERO, |started| started.elapsed());
    let ms = |micros: u64| micros as f64 / 1000.0;
    Ok(Run {
        answers_per_s: delivered as f64 / elapsed.as_secs_f64().max(1e-9),
        p50_ms: ms(latency.value_at_quantile(0.5)),
        p99_ms: ms(latency.value_at_quantile(0.99)),
        max_ms: ms(latency.max()),
        answers: delivered,
        lost: lost.load(std::sync::atomic::Ordering::Relaxed),
        ..Run::default()
    })
}
