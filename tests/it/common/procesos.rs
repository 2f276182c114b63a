//! The roles as real processes, for what cannot be done in-process: kill -9,
//! signals, a restart on the same port and data folder.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aula::wire::texts::LISTENING;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// The path of one of the crate's binaries.
pub fn binary(name: &str) -> PathBuf {
    PathBuf::from(match name {
        "profesor" => env!("CARGO_BIN_EXE_profesor"),
        "tareo" => env!("CARGO_BIN_EXE_tareo"),
        "docencio" => env!("CARGO_BIN_EXE_docencio"),
        "estudiante" => env!("CARGO_BIN_EXE_estudiante"),
        other => panic!("no binary {other}"),
    })
}

/// A loopback address nobody listens on right now, so that a role can be
/// started (and restarted) on a port known in advance. Never the same port
/// twice in one test process: tests run side by side, and two of them
/// drawing the same freed port would start their roles on one address.
pub fn free_addr() -> SocketAddr {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut given = GIVEN.lock().unwrap();
        if !given.contains(&addr.port()) {
            given.push(addr.port());
            return addr;
        }
    }
}

/// One role running as a child process, with its log kept for assertions.
pub struct RoleProcess {
    pub name: String,
    child: Child,
    log: Arc<Mutex<String>>,
    lines: watch::Receiver<usize>,
    /// The tasks that copy stdout and stderr into `log`; each ends at the
    /// pipe's end of file, which can come after the process has exited.
    readers: Vec<JoinHandle<()>>,
}

impl RoleProcess {
    /// Starts `name` with `args` and waits until it logs that it listens.
    pub async fn start(name: &str, args: &[String]) -> RoleProcess {
        RoleProcess::start_logging(name, args, "info").await
    }

    /// [`RoleProcess::start`] with `RUST_LOG` set to `filter`.
    pub async fn start_logging(name: &str, args: &[String], filter: &str) -> RoleProcess {
        let mut role = RoleProcess::spawn(name, args, filter);
        role.wait_for_log("Servidor escuchando", Duration::from_secs(20))
            .await;
        role
    }

    /// Starts `name` without waiting for anything (for `estudiante`).
    pub fn spawn(name: &str, args: &[String], filter: &str) -> RoleProcess {
        RoleProcess::spawn_with_env(name, args, filter, &[])
    }

    /// [`RoleProcess::spawn`] with environment variables of the test's own.
    pub fn spawn_with_env(
        name: &str,
        args: &[String],
        filter: &str,
        env: &[(&str, &str)],
    ) -> RoleProcess {
        RoleProcess::spawn_wrapped(name, &[], args, filter, env)
    }

    /// [`RoleProcess::spawn_with_env`] run by `wrapper` (a program and its
    /// arguments, such as `ip netns exec NAME`), which must `exec` the
    /// role so that signals reach it.
    pub fn spawn_wrapped(
        name: &str,
        wrapper: &[String],
        args: &[String],
        filter: &str,
        env: &[(&str, &str)],
    ) -> RoleProcess {
        let mut command = match wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut command = Command::new(program);
                command.args(wrapper_args).arg(binary(name));
                command
            }
            None => Command::new(binary(name)),
        };
        let mut child = command
            .args(args)
            .env_remove("AULA_LOG_FORMAT")
            .envs(env.iter().copied())
            .env("RUST_LOG", filter)
            .env_remove("AULA_PROFESOR_URL")
            .env_remove("AULA_TAREO_ADDR")
            .env_remove("AULA_DOCENCIO_ADDR")
            .env_remove("AULA_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|err| panic!("could not start {name}: {err}"));
        let log = Arc::new(Mutex::new(String::new()));
        let (count, lines) = watch::channel(0usize);
        let count = Arc::new(count);
        let mut readers = Vec::new();
        for output in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            let count = count.clone();
            readers.push(tokio::spawn(async move {
                let mut reader = BufReader::new(output).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                    count.send_modify(|n| *n += 1);
                }
            }));
        }
        RoleProcess {
            name: name.to_owned(),
            child,
            log,
            lines,
            readers,
        }
    }

    /// Waits until the log contains `text`; panics with the log if not.
    pub async fn wait_for_log(&mut self, text: &str, limit: Duration) {
        let found = timeout(limit, async {
            loop {
                if self.log().contains(text) {
                    return;
                }
                if let Ok(Some(status)) = self.child.try_wait() {
                    let log = self.drained_log().await;
                    if log.contains(text) {
                        return;
                    }
                    panic!(
                        "{} exited ({status}) before logging {text:?}; its log:\n{log}",
                        self.name,
                    );
                }
                let _ = timeout(Duration::from_millis(200), self.lines.changed()).await;
            }
        })
        .await;
        if found.is_err() {
            panic!(
                "{} did not log {text:?} within {limit:?}; its log:\n{}",
                self.name,
                self.log()
            );
        }
    }

    /// Everything the process has printed so far.
    /// Where it said it listens (its last listening line).
    pub fn listening_addr(&self) -> SocketAddr {
        let log = self.log();
        log.lines()
            .rev()
            .find_map(|line| {
                // Text or JSON lines: the address ends at a space or a quote.
                let (_, rest) = line.split_once(LISTENING)?;
                rest.split(|c: char| c.is_whitespace() || c == '"')
                    .find(|word| !word.is_empty())
            })
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("{} said no listening address:\n{log}", self.name))
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The whole log of a process that has exited: waits (at most 10 s,
    /// in case a grandchild still holds a pipe) until both pipes are read
    /// to their end, since the last lines (the student's summary) often
    /// arrive after the exit itself has been seen.
    async fn drained_log(&mut self) -> String {
        for reader in self.readers.drain(..) {
            let _ = timeout(Duration::from_secs(10), reader).await;
        }
        self.log()
    }

    /// kill -9: no chance to clean up, as in a crash.
    pub async fn kill_9(&mut self) -> String {
        self.child.start_kill().unwrap();
        let _ = timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("a killed process exits");
        self.drained_log().await
    }

    /// Sends `signal` (`-TERM`, `-INT`) and waits up to `limit` for the
    /// exit; returns the status and the log, or panics with the log.
    pub async fn signal(mut self, signal: &str, limit: Duration) -> (ExitStatus, String) {
        let pid = self.child.id().expect("still running").to_string();
        let sent = Command::new("kill")
            .args([signal, &pid])
            .status()
            .await
            .unwrap();
        assert!(sent.success(), "kill {signal} {pid} failed");
        match timeout(limit, self.child.wait()).await {
            Ok(status) => (status.unwrap(), self.drained_log().await),
            Err(_) => panic!(
                "{} still running {limit:?} after {signal}; its log:\n{}",
                self.name,
                self.log()
            ),
        }
    }
}

/// Where each role of one class listens: learned from its listening line
/// when it first starts on port 0, then kept, so that a role killed and
/// started again comes back where the others expect it. A peer asked for
/// before it ever started (a role started before the one it calls) gets a
/// free port now, which it binds when it starts.
pub struct Addresses {
    known: Mutex<HashMap<&'static str, SocketAddr>>,
    pub data_dir: tempfile::TempDir,
}

impl Addresses {
    pub fn new() -> Addresses {
        Addresses {
            known: Mutex::default(),
            data_dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn profesor(&self) -> SocketAddr {
        self.of("profesor")
    }

    pub fn tareo(&self) -> SocketAddr {
        self.of("tareo")
    }

    pub fn docencio(&self) -> SocketAddr {
        self.of("docencio")
    }

    fn of(&self, role: &'static str) -> SocketAddr {
        *self
            .known
            .lock()
            .unwrap()
            .entry(role)
            .or_insert_with(free_addr)
    }

    /// Where `role` binds: where it listened before, else port 0.
    fn bind(&self, role: &str) -> String {
        self.known
            .lock()
            .unwrap()
            .get(role)
            .map_or_else(|| "127.0.0.1:0".to_owned(), SocketAddr::to_string)
    }

    pub fn profesor_url(&self) -> String {
        format!("http://{}", self.profesor())
    }

    pub fn args(&self, role: &str) -> Vec<String> {
        let args = match role {
            "profesor" => vec![
                "--bind".into(),
                self.bind(role),
                "--data-dir".into(),
                self.data_dir.path().display().to_string(),
            ],
            "tareo" => vec![
                "--bind".into(),
                self.bind(role),
                "--profesor-url".into(),
                self.profesor_url(),
            ],
            "docencio" => vec![
                "--bind".into(),
                self.bind(role),
                "--tareo-addr".into(),
                self.tareo().to_string(),
                "--profesor-url".into(),
                self.profesor_url(),
                "--data-dir".into(),
                self.data_dir.path().display().to_string(),
            ],
            other => panic!("no server role {other}"),
        };
        args
    }

    pub async fn start(&self, role: &'static str) -> RoleProcess {
        self.learn(role, RoleProcess::start(role, &self.args(role)).await)
    }

    /// Like [`Addresses::start`], with flags of the test's own.
    pub async fn start_with(&self, role: &'static str, extra: &[&str]) -> RoleProcess {
        let mut args = self.args(role);
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        self.learn(role, RoleProcess::start(role, &args).await)
    }

    /// Like [`Addresses::start`], with `RUST_LOG` set to `filter`.
    pub async fn start_logging(&self, role: &'static str, filter: &str) -> RoleProcess {
        self.learn(
            role,
            RoleProcess::start_logging(role, &self.args(role), filter).await,
        )
    }

    fn learn(&self, role: &'static str, process: RoleProcess) -> RoleProcess {
        self.remember(role, &process);
        process
    }

    /// Keeps where `role` listens, from `process`'s listening line (for a
    /// role the test started itself, with [`Addresses::args`]).
    pub fn remember(&self, role: &'static str, process: &RoleProcess) {
        let addr = process.listening_addr();
        self.known.lock().unwrap().insert(role, addr);
    }
}
