//! Resources after abuse: 10,000 clients that connect and go away (at once,
//! mid-frame, or without reading their answers) leave no task, no memory
//! and no CPU behind. Alone in its own test binary, so that the process's
//! task count, RSS and CPU time are this test's only.

// The helpers of the integration tests; this binary uses a few of them.
#[allow(dead_code)]
#[path = "it/common/mod.rs"]
mod common;

use std::time::Duration;

use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const CLIENTS: usize = 10_000;
/// Clients connected at once, well under the open-files limit.
const AT_ONCE: usize = 250;

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Resident memory of this process, from /proc (Linux).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// User + system CPU time of this process, in clock ticks (1/100 s).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name, which is in parentheses.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// `count` clients, `AT_ONCE` at a time, each misbehaving in one of three
/// ways and then gone.
async fn abuse(addr: std::net::SocketAddr, count: usize) {
    for batch in 0..count.div_ceil(AT_ONCE) {
        let mut clients = tokio::task::JoinSet::new();
        for i in 0..AT_ONCE.min(count - batch * AT_ONCE) {
            clients.spawn(async move {
                let mut stream = TcpStream::connect(addr).await.expect("connect");
                match i % 3 {
                    0 => {}
                    // Half a frame, then gone.
                    1 => stream.write_all(&[0, 0, 0, 9, b'T', b'a']).await.unwrap(),
                    // Questions it never reads the answers to.
                    _ => {
                        let mut burst = Vec::new();
                        for _ in 0..20 {
                            burst.extend_from_slice(&[0, 0, 0, 9]);
                            burst.extend_from_slice(b"Contenido");
                        }
                        stream.write_all(&burst).await.unwrap();
                    }
                }
            });
        }
        while let Some(joined) = clients.join_next().await {
            joined.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_clients_that_connect_and_drop_leave_nothing_behind() {
    let class = start_class().await;
    // Warm up allocator pools and lazily created state first.
    abuse(class.docencio_addr, 1_000).await;
    let mut student = Client::connect(class.docencio_addr).await;
    assert_eq!(
        student.ask("Contenido").await,
        aula::wire::texts::CONTENIDO_ANSWER
    );
    let tasks_before = eventually(Duration::from_secs(10), "warm-up cleaned up", || async {
        let tasks = alive_tasks();
        tokio::time::sleep(Duration::from_millis(200)).await;
        (alive_tasks() == tasks).then_some(tasks)
    })
    .await;
    let rss_before = rss_bytes();

    abuse(class.docencio_addr, CLIENTS).await;

    // Every connection task ends once its client is gone.
    let tasks_after = eventually(Duration::from_secs(10), "tasks back to before", || async {
        let tasks = alive_tasks();
        (tasks <= tasks_before).then_some(tasks)
    })
    .await;
    let rss_after = rss_bytes();
    // No busy loop on a closed socket: an idle class uses almost no CPU.
    let ticks = cpu_ticks();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_ticks = cpu_ticks() - ticks;
    println!(
        "tasks {tasks_before} -> {tasks_after}; RSS {:.1} -> {:.1} MiB; {idle_ticks} CPU ticks in 1 s idle",
        rss_before as f64 / 1048576.0,
        rss_after as f64 / 1048576.0
    );
    assert!(
        rss_after < rss_before + 8 * 1024 * 1024,
        "RSS grew from {rss_before} to {rss_after} bytes"
    );
    assert!(idle_ticks < 20, "{idle_ticks} ticks of CPU in 1 s idle");
    // And the server is still fine for the one who stayed.
    assert_eq!(
        student.ask("Contenido").await,
        aula::wire::texts::CONTENIDO_ANSWER
    );
    assert!(is_relayed_answer(&student.ask("Tarea").await));
}
