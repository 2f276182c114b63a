//! The processes a scenario runs: roles (ours, the floor or the notebook's)
//! started on free ports with their output in a log file, their peak memory,
//! and `estudiante` as the load.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use aula::estudiante::SummaryRecord;
use tokio::fs::File;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::timeout;

/// Longest a role gets to say it listens.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest a role gets to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(8);

/// One running role.
pub struct Role {
    pub name: &'static str,
    child: Child,
    /// The line it printed when it started listening.
    pub ready_line: String,
}

impl Role {
    /// Starts `command`, sends its stdout and stderr to `log`, and waits for
    /// a line containing `ready`.
    pub async fn start(
        name: &'static str,
        mut command: Command,
        log: &Path,
        ready: &'static str,
    ) -> anyhow::Result<Role> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("no se pudo iniciar {name}"))?;
        let file = File::create(log).await?;
        let (lines_in, mut lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        tokio::spawn(copy_lines(stdout, lines_in.clone()));
        tokio::spawn(copy_lines(stderr, lines_in));
        let (found_in, found) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut file = file;
            let mut found_in = Some(found_in);
            while let Some(line) = lines.recv().await {
                if line.contains(ready) {
                    if let Some(found_in) = found_in.take() {
                        let _ = found_in.send(line.clone());
                    }
                }
                let _ = file.write_all(line.as_bytes()).await;
                let _ = file.write_all(b"\n").await;
            }
            let _ = file.flush().await;
        });
        match timeout(START_TIMEOUT, found).await {
            Ok(Ok(ready_line)) => Ok(Role {
                name,
                child,
                ready_line,
            }),
            _ => bail!(
                "{name} no dijo «{ready}» en {START_TIMEOUT:?}; ver {}",
                log.display()
            ),
        }
    }

    /// The address after "Servidor escuchando en" (our roles and the floor).
    pub fn listening_addr(&self) -> anyhow::Result<String> {
        self.ready_line
            .split_whitespace()
            .last()
            .map(|addr| addr.trim_end_matches('.').to_owned())
            .context("línea de inicio sin dirección")
    }

    /// The most memory the process has held so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        peak_rss_mib(self.child.id()?)
    }

    /// Stops the role (SIGTERM, then SIGKILL); returns its peak memory,
    /// read just before.
    pub async fn stop(mut self) -> (&'static str, Option<f64>) {
        let peak = self.peak_rss_mib();
        if let Some(pid) = self.child.id() {
            signal(pid, "TERM").await;
        }
        if timeout(STOP_TIMEOUT, self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
        (self.name, peak)
    }
}

async fn copy_lines(from: impl AsyncRead + Unpin, to: mpsc::UnboundedSender<String>) {
    let mut lines = BufReader::new(from).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if to.send(line).is_err() {
            break;
        }
    }
}

/// Peak resident memory of process `pid`, from `/proc` (Linux).
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

async fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .await;
}

/// What `estudiante` is told to do.
pub struct Load<'a> {
    pub docencio: &'a str,
    pub students: usize,
    pub questions: u64,
    /// `--only`; `None` for random questions.
    pub only: Option<&'a str>,
    pub extra: &'a [&'a str],
    /// Past this, the class is stopped with SIGINT (as Ctrl-C would) and
    /// what it got so far is its result.
    pub deadline: Duration,
}

/// Runs `estudiante` with `load` and returns its JSON summary.
pub async fn ask(
    estudiante: &Path,
    load: &Load<'_>,
    log: PathBuf,
) -> anyhow::Result<SummaryRecord> {
    let mut command = Command::new(estudiante);
    command
        .args(["--docencio-addr", load.docencio])
        .args(["--students", &load.students.to_string()])
        .args(["--questions", &load.questions.to_string()])
        .args(["--no-pause", "--summary-format", "json"])
        .args(load.extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log)?)
        .kill_on_drop(true);
    if let Some(only) = load.only {
        command.args(["--only", only]);
    }
    let mut child = command.spawn().context("no se pudo iniciar estudiante")?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let read = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text).await;
        text
    });
    if timeout(load.deadline, child.wait()).await.is_err() {
        if let Some(pid) = child.id() {
            signal(pid, "INT").await;
        }
        // It waits up to 6 s for what it had asked, then prints its summary.
        if timeout(Duration::from_secs(10), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }
    let text = read.await?;
    let line = text
        .lines()
        .rev()
        .find(|line| line.starts_with('{'))
        .with_context(|| format!("estudiante no dio su resumen; ver {}", log.display()))?;
    Ok(serde_json::from_str(line)?)
}
