//! Scenario 6's load: clients each on one keep-alive connection, sending
//! the notebook's `POST /preguntas` (no body) back to back.

use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

/// What a number of clients measured together.
pub struct HttpLoad {
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub latency_us: Histogram<u64>,
}

/// `clients` clients send `per_client` POSTs each to `url`; a non-200
/// reply or a failed request counts as an error.
pub async fn post_back_to_back(url: &str, clients: usize, per_client: u64) -> HttpLoad {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let url = url.to_owned();
        tasks.spawn(async move {
            // One client each, so each keeps its own connection alive.
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .timeout(Duration::from_secs(10))
                .build()
                .expect("a plain HTTP client builds");
            let mut latency = histogram();
            let mut errors = 0;
            for _ in 0..per_client {
                let sent = Instant::now();
                match client.post(&url).send().await {
                    Ok(reply) if reply.status().is_success() => {
                        // Read the body, as a client that wants the total would.
                        if reply.bytes().await.is_err() {
                            errors += 1;
                        }
                    }
                    _ => errors += 1,
                }
                latency.saturating_record(sent.elapsed().as_micros() as u64);
            }
            (latency, errors)
        });
    }
    let mut load = HttpLoad {
        requests: clients as u64 * per_client,
        errors: 0,
        elapsed: Duration::ZERO,
        latency_us: histogram(),
    };
    while let Some(done) = tasks.join_next().await {
        if let Ok((latency, errors)) = done {
            let _ = load.latency_us.add(&latency);
            load.errors += errors;
        }
    }
    load.elapsed = started.elapsed();
    load
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("static histogram bounds are valid")
}
