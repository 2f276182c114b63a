//! One session: its interpreter's process group, its output, and its
//! changing state under one lock; how it is written to, how its output is
//! collected, and how it ends.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::ChildStdin;
use tracing::{info, warn};

use super::error::SesionError;
use super::grupo::Grupo;
use super::salida::Salida;
use super::sandbox::KILL_ARG;
use super::usuarios::SessionUser;

/// How long a session may take to read what is written to it.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What changes while a session lives, changed under one lock.
#[derive(Debug)]
struct Vivo {
    last_activity: Instant,
    salida: Salida,
    alive: bool,
    /// Why it ended (for the read after its end).
    ended: Option<String>,
    /// Its folder, removed by whoever ends it first (its end, or
    /// Profesor's).
    carpeta: Option<tempfile::TempDir>,
    /// Its control groups, where the machine has them.
    grupo: Option<Arc<Grupo>>,
}

/// One session.
pub struct Sesion {
    pub started: Instant,
    vivo: Mutex<Vivo>,
    /// Held across a write (which may wait for the pipe), so apart.
    stdin: tokio::sync::Mutex<Option<ChildStdin>>,
    pgid: i32,
    /// Its own user, when Profesor is root.
    uid: Option<u32>,
    /// How to kill every process of that user.
    trampolin: PathBuf,
}

impl Sesion {
    pub fn new(
        stdin: Option<ChildStdin>,
        pgid: i32,
        uid: Option<u32>,
        trampolin: PathBuf,
        carpeta: tempfile::TempDir,
        grupo: Option<Grupo>,
    ) -> Self {
        Sesion {
            started: Instant::now(),
            vivo: Mutex::new(Vivo {
                last_activity: Instant::now(),
                salida: Salida::default(),
                alive: true,
                ended: None,
                carpeta: Some(carpeta),
                grupo: grupo.map(Arc::new),
            }),
            stdin: tokio::sync::Mutex::new(stdin),
            pgid,
            uid,
            trampolin,
        }
    }

    fn vivo(&self) -> MutexGuard<'_, Vivo> {
        // Every change is complete before the lock is released.
        self.vivo.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn touch(&self) {
        self.vivo().last_activity = Instant::now();
    }

    pub fn idle_for(&self) -> Duration {
        self.vivo().last_activity.elapsed()
    }

    pub fn is_alive(&self) -> bool {
        self.vivo().alive
    }

    /// CPU time used by all of its processes, where its group tells.
    pub fn cpu_used(&self) -> Option<Duration> {
        let grupo = self.vivo().grupo.clone();
        grupo.as_deref().and_then(Grupo::cpu_used)
    }

    /// What it printed since the last read, whether it still runs, and,
    /// once it ended, why (said once).
    pub fn read(&self) -> (String, bool, Option<String>) {
        let mut vivo = self.vivo();
        let alive = vivo.alive;
        let output = vivo.salida.take(!alive);
        let why = if alive { None } else { vivo.ended.take() };
        (output, alive, why)
    }

    /// Ends the session's whole process group.
    pub fn kill(&self, why: &str) {
        self.vivo().ended.get_or_insert_with(|| why.to_owned());
        // The interpreter dies with its group; the sweep of its user runs
        // when `wait` sees it die.
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }

    /// Removes its folder (once everything in it is dead).
    pub fn remove_folder(&self, id: &str) {
        let carpeta = self.vivo().carpeta.take();
        if let Some(carpeta) = carpeta {
            if let Err(err) = carpeta.close() {
                warn!("No se pudo borrar la carpeta de la sesión {id}: {err}");
            }
        }
    }

    /// Kills its process group and, with its own user, every process of
    /// that user (one that left the group with `setsid` too). Blocking.
    pub fn kill_all(&self) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let grupo = self.vivo().grupo.clone();
        if let Some(grupo) = grupo {
            grupo.kill_all();
        }
        if let Some(uid) = self.uid {
            let _ = std::process::Command::new(&self.trampolin)
                .arg(KILL_ARG)
                .arg(uid.to_string())
                .env_clear()
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }

    /// Sends `text` to the interpreter, which must take it within
    /// [`WRITE_TIMEOUT`].
    pub async fn write(&self, text: &str) -> Result<(), SesionError> {
        let mut stdin = self.stdin.lock().await;
        let Some(pipe) = stdin.as_mut() else {
            return Err(SesionError::Ended("ya no lee su entrada".into()));
        };
        let written = tokio::time::timeout(WRITE_TIMEOUT, async {
            pipe.write_all(text.as_bytes()).await?;
            pipe.flush().await
        })
        .await;
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => {
                *stdin = None;
                Err(SesionError::Ended("ya no lee su entrada".into()))
            }
            Err(_) => Err(SesionError::Ended(
                "no lee su entrada (lleva 5 s sin leer)".into(),
            )),
        }
    }
}

/// Copies what the session prints into its bounded output.
pub async fn collect(
    mut output: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    sesion: Arc<Sesion>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        match output.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => sesion.vivo().salida.push(&buffer[..read]),
        }
    }
}

/// Waits for the interpreter; then ends its whole group and removes its
/// folder.
pub async fn wait(
    mut child: tokio::process::Child,
    sesion: Arc<Sesion>,
    user: Option<SessionUser>,
    id: String,
) {
    let status = child.wait().await;
    // Whatever it started goes with it.
    {
        let sesion = sesion.clone();
        let _ = tokio::task::spawn_blocking(move || sesion.kill_all()).await;
    }
    let why = match status {
        Ok(status) => describe_exit(status),
        Err(err) => err.to_string(),
    };
    sesion.vivo().ended.get_or_insert_with(|| why.clone());
    *sesion.stdin.lock().await = None;
    let grupo = {
        let mut vivo = sesion.vivo();
        vivo.alive = false;
        vivo.grupo.take()
    };
    sesion.remove_folder(&id);
    // Removing a group waits for the kernel to see it empty.
    let _ = tokio::task::spawn_blocking(move || drop(grupo)).await;
    // Its user is free for another session only now.
    drop(user);
    info!("Sesión {id} terminada: {why}");
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("salió con código {code}"),
        (None, Some(signal)) if signal == libc::SIGXCPU => {
            "usó todo su tiempo de CPU (SIGXCPU)".into()
        }
        (None, Some(signal)) if signal == libc::SIGKILL => "terminada (SIGKILL)".into(),
        (None, Some(signal)) if signal == libc::SIGXFSZ => {
            "escribió un archivo más grande que su límite (SIGXFSZ)".into()
        }
        (None, Some(signal)) => format!("terminada por la señal {signal}"),
        (None, None) => "terminada".into(),
    }
}
