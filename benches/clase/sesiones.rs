//! Scenario 12: execution sessions. How many sessions start a second
//! (each one a sandboxed interpreter, started, run and stopped), and the
//! latency from `POST /api/write` of a line to `GET /api/read` showing
//! what it printed (an echo loop in one session).

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::results::Run;

async fn post(http: &reqwest::Client, url: &str, body: Value) -> anyhow::Result<Value> {
    let response = http.post(url).json(&body).send().await?;
    let status = response.status();
    let body: Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "{url}: {status} {body}");
    Ok(body)
}

/// `sessions` started one after the other (each stopped once it printed
/// its first line): starts a second, and the time to each first output.
pub async fn starts(http: &reqwest::Client, url: &str, sessions: usize) -> anyhow::Result<Run> {
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let began = Instant::now();
    for _ in 0..sessions {
        let started = Instant::now();
        let body = post(
            http,
            &format!("{url}/api/start"),
            json!({"code": "print('listo')"}),
        )
        .await?;
        let id = body["session_id"].as_str().unwrap_or_default().to_owned();
        loop {
            let read: Value = http
                .get(format!("{url}/api/read"))
                .query(&[("session_id", &id)])
                .send()
                .await?
                .json()
                .await?;
            if read["output"]
                .as_str()
                .unwrap_or_default()
                .contains("listo")
            {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(30),
                "no output in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        latency.saturating_record(started.elapsed().as_micros() as u64);
        post(http, &format!("{url}/api/stop"), json!({"session_id": id})).await?;
    }
    let ms = |micros: u64| micros as f64 / 1000.0;
    Ok(Run {
        answers_per_s: sessions as f64 / began.elapsed().as_secs_f64(),
        p50_ms: ms(latency.value_at_quantile(0.5)),
        p99_ms: ms(latency.value_at_quantile(0.99)),
        max_ms: ms(latency.max()),
        answers: sessions as u64,
        ..Run::default()
    })
}

/// One session echoing `lines` lines: the time from each write to the
/// read that shows it.
pub async fn echo(http: &reqwest::Client, url: &str, lines: usize) -> anyhow::Result<Run> {
    let body = post(http, &format!("{url}/api/start"), json!({"code": ""})).await?;
    let id = body["session_id"].as_str().unwrap_or_default().to_owned();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let began = Instant::now();
    for n in 0..lines {
        let expected = format!("eco{n}");
        let written = Instant::now();
        post(
            http,
            &format!("{url}/api/write"),
            json!({"session_id": id, "line": format!("print('eco{n}')")}),
        )
        .await?;
        let mut seen = String::new();
        while !seen.contains(&expected) {
            let read: Value = http
                .get(format!("{url}/api/read"))
                .query(&[("session_id", &id)])
                .send()
                .await?
                .json()
                .await?;
            seen.push_str(read["output"].as_str().unwrap_or_default());
            anyhow::ensure!(
                written.elapsed() < Duration::from_secs(10),
                "no echo in 10 s"
            );
        }
        latency.saturating_record(written.elapsed().as_micros() as u64);
    }
    let elapsed = began.elapsed();
    post(http, &format!("{url}/api/stop"), json!({"session_id": id})).await?;
    let ms = |micros: u64| micros as f64 / 1000.0;
    Ok(Run {
        answers_per_s: lines as f64 / elapsed.as_secs_f64(),
        p50_ms: ms(latency.value_at_quantile(0.5)),
        p99_ms: ms(latency.value_at_quantile(0.99)),
        max_ms: ms(latency.max()),
        answers: lines as u64,
        ..Run::default()
    })
}
