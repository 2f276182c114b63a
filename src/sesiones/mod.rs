//! Sesiones de ejecución (the course's Flask exercise, done as a sandbox
//! first and an API second): `POST /api/start` starts an interpreter with
//! some code, `POST /api/write` sends it a line, `GET /api/read` takes what
//! it printed since the last read. Off unless `profesor --sesiones`.
//!
//! - [`sandbox`]: what confines a session (its own network namespace or a
//!   seccomp filter, `nobody`, rlimits, Landlock), applied by a trampoline
//!   before the interpreter starts.
//! - [`salida`]: the bounded output kept until read.
//! - [`grupo`]: the control group that bounds a session's processes.
//! - [`sesion`]: one session, its changing state under one lock, how it
//!   ends; [`usuarios`]: the users sessions run as; [`interprete`]: which
//!   interpreter, and what of it a session may read.
//!
//! It is not HTTP: Profesor offers it at `/api/*` (its
//! `routes::sesiones`), and nothing here knows of actix.
//!
//! Each session is a process group: when it ends (its interpreter exits,
//! it is stopped, idle or too old, or Profesor stops) the whole group is
//! killed, so nothing it started survives, and its folder is removed.

pub mod error;
pub mod grupo;
pub mod interprete;
pub mod salida;
pub mod sandbox;
pub mod sesion;
pub mod usuarios;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use error::SesionError;
pub use sandbox::{Encierro, EncierroLogrado, Limites, KILL_ARG, SESSION_UID_BASE, TRAMPOLINE_ARG};
use sesion::Sesion;
use usuarios::{first_uid, SessionUser, Usuarios, USERS_PER_PROFESOR};

/// How sessions run.
#[derive(Debug, Clone)]
pub struct SesionesConfig {
    /// The interpreter and its arguments.
    pub comando: Vec<String>,
    pub limites: Limites,
    /// Sessions at once; past that, 429.
    pub max_sesiones: usize,
    /// The program that confines a session (`profesor` itself; tests give
    /// the built binary, as they run Profesor in their own process).
    pub trampolin: Option<PathBuf>,
}

impl Default for SesionesConfig {
    fn default() -> Self {
        SesionesConfig {
            comando: DEFAULT_COMANDO
                .iter()
                .map(|arg| (*arg).to_owned())
                .collect(),
            limites: Limites::default(),
            max_sesiones: 16,
            trampolin: None,
        }
    }
}

/// The interpreter when none is given.
pub const DEFAULT_COMANDO: &[&str] = &["python3", "-u", "-i", "-q"];

/// Longest line (or starting code) a session takes.
pub const MAX_LINE: usize = 64 * 1024;

/// A session as `GET /api/sesiones` lists it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SesionVista {
    pub session_id: String,
    pub edad_s: u64,
    pub inactiva_s: u64,
    pub alive: bool,
    pub limites: Limites,
}

/// Every session of this Profesor.
pub struct Sesiones {
    config: SesionesConfig,
    sessions: Mutex<HashMap<String, Arc<Sesion>>>,
    /// Which session users are taken (when Profesor is root).
    usuarios: Usuarios,
    /// Sessions being started (they count against the limit).
    starting: Arc<AtomicUsize>,
    /// Which confinements hold here (probed at start).
    pub logrado: EncierroLogrado,
    stop: CancellationToken,
}

impl std::fmt::Debug for Sesiones {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sesiones")
            .field("logrado", &self.logrado)
            .finish_non_exhaustive()
    }
}

/// What a session runs in, before it runs: its folder, and its own user
/// when Profesor is root.
struct Lugar {
    carpeta: tempfile::TempDir,
    user: Option<SessionUser>,
}

impl Sesiones {
    /// Probes the sandbox (and logs what holds), and starts the task that
    /// ends sessions past their time; everything ends with `stop`.
    pub async fn start(config: SesionesConfig, stop: CancellationToken) -> Arc<Self> {
        let mut logrado = probe(&config).await;
        logrado.grupos = match grupo::Grupo::create("aula-sesion-prueba", &config.limites) {
            Ok(_) => "memoria, procesos y CPU de toda la sesión (cgroup v1)".into(),
            Err(why) => format!("no disponibles ({why}): límites por proceso"),
        };
        info!(
            "Sesiones de ejecución encendidas ({}): {logrado}",
            config.comando.join(" ")
        );
        let sesiones = Arc::new(Sesiones {
            usuarios: Usuarios::new(config.max_sesiones),
            starting: Arc::default(),
            config,
            sessions: Mutex::default(),
            logrado,
            stop,
        });
        tokio::spawn(sesiones.clone().watch());
        sesiones
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Sesion>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn limites(&self) -> Limites {
        self.config.limites
    }

    /// Starts a session that first runs `code`; returns its id.
    pub async fn start_session(&self, code: &str) -> Result<String, SesionError> {
        let _place = self.reserve_place()?;
        let lugar = self.prepare_place()?;
        let uid = lugar.user.as_ref().map(|user| user.uid);
        let trampolin = trampolin_of(&self.config);
        let mut child = self.spawn_confined(&trampolin, &lugar.carpeta, uid)?;
        let pgid = child
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .ok_or_else(|| SesionError::Spawn("terminó al iniciar".into()))?;
        let id = uuid::Uuid::new_v4().to_string();
        // Before any of its code arrives: the whole session in its groups.
        let grupo = grupo::Grupo::create(&format!("aula-sesion-{id}"), &self.config.limites)
            .ok()
            .filter(|grupo| {
                u32::try_from(pgid)
                    .ok()
                    .is_some_and(|pid| grupo.add(pid).is_ok())
            });
        let sesion = Arc::new(Sesion::new(
            child.stdin.take(),
            pgid,
            uid,
            trampolin,
            lugar.carpeta,
            grupo,
        ));
        follow_output(&mut child, &sesion);
        tokio::spawn(sesion::wait(child, sesion.clone(), lugar.user, id.clone()));
        self.lock().insert(id.clone(), sesion.clone());
        send_code(&sesion, code).await?;
        info!("Sesión {id} iniciada");
        Ok(id)
    }

    /// A place among the open sessions, taken at once (two starts at once
    /// cannot both get the last one); finished sessions not read yet take
    /// none.
    fn reserve_place(&self) -> Result<Starting, SesionError> {
        let sessions = self.lock();
        let alive = sessions.values().filter(|sesion| sesion.is_alive()).count();
        if alive + self.starting.load(Ordering::Acquire) >= self.config.max_sesiones {
            return Err(SesionError::TooMany(self.config.max_sesiones));
        }
        Ok(Starting::new(&self.starting))
    }

    /// The session's folder, and (as root) its own user, who alone may
    /// read that folder.
    fn prepare_place(&self) -> Result<Lugar, SesionError> {
        let carpeta = tempfile::Builder::new()
            .prefix("aula-sesion-")
            .tempdir()
            .map_err(|err| SesionError::Spawn(err.to_string()))?;
        if !nix::unistd::geteuid().is_root() {
            return Ok(Lugar {
                carpeta,
                user: None,
            });
        }
        let Some(user) = self.usuarios.take() else {
            return Err(SesionError::TooMany(self.config.max_sesiones));
        };
        let _ = nix::unistd::chown(
            carpeta.path(),
            Some(nix::unistd::Uid::from_raw(user.uid)),
            Some(nix::unistd::Gid::from_raw(user.uid)),
        );
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(carpeta.path(), std::fs::Permissions::from_mode(0o700));
        Ok(Lugar {
            carpeta,
            user: Some(user),
        })
    }

    /// The interpreter, started through the trampoline that confines it,
    /// in `carpeta` with an empty environment.
    fn spawn_confined(
        &self,
        trampolin: &std::path::Path,
        carpeta: &tempfile::TempDir,
        uid: Option<u32>,
    ) -> Result<tokio::process::Child, SesionError> {
        let comando = interprete::resolve(&self.config.comando);
        let encierro = Encierro {
            limites: self.config.limites,
            uid,
            carpeta: carpeta.path().to_owned(),
            lectura: interprete::interpreter_folders(&comando),
        };
        tokio::process::Command::new(trampolin)
            .arg(TRAMPOLINE_ARG)
            .arg(serde_json::to_string(&encierro).unwrap_or_default())
            .arg("--")
            .args(&comando)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", carpeta.path())
            .env("LANG", "C.UTF-8")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(carpeta.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| SesionError::Spawn(err.to_string()))
    }

    fn get(&self, id: &str) -> Result<Arc<Sesion>, SesionError> {
        self.lock().get(id).cloned().ok_or(SesionError::NotFound)
    }

    /// Sends `line` (and a line break) to the session.
    pub async fn write(&self, id: &str, line: &str) -> Result<(), SesionError> {
        let sesion = self.get(id)?;
        sesion.touch();
        sesion.write(&format!("{line}\n")).await
    }

    /// What it printed since the last read, and whether it still runs; a
    /// finished session with nothing left is forgotten (as in the course).
    pub fn read(&self, id: &str) -> Result<(String, bool), SesionError> {
        let sesion = self.get(id)?;
        sesion.touch();
        let (mut output, alive, ended) = sesion.read();
        if let Some(why) = ended {
            // On a line of its own, after a prompt left without one.
            if !output.is_empty() && !output.ends_with('\n') {
                output.push('\n');
            }
            output.push_str(&format!("[aula: la sesión terminó: {why}]\n"));
        }
        if !alive && output.is_empty() {
            self.lock().remove(id);
        }
        Ok((output, alive))
    }

    /// Ends the session (its whole process group).
    pub fn stop_session(&self, id: &str) -> Result<(), SesionError> {
        self.get(id)?.kill("detenida con POST /api/stop");
        Ok(())
    }

    pub fn list(&self) -> Vec<SesionVista> {
        let mut listed: Vec<SesionVista> = self
            .lock()
            .iter()
            .map(|(id, sesion)| SesionVista {
                session_id: id.clone(),
                edad_s: sesion.started.elapsed().as_secs(),
                inactiva_s: sesion.idle_for().as_secs(),
                alive: sesion.is_alive(),
                limites: self.config.limites,
            })
            .collect();
        listed.sort_by_key(|vista| std::cmp::Reverse(vista.edad_s));
        listed
    }

    /// Ends sessions idle or alive too long; forgets finished ones nobody
    /// read for as long; at `stop`, ends them all.
    async fn watch(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                () = self.stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            let mut forget = Vec::new();
            for (id, sesion) in self.lock().iter() {
                if sesion.is_alive() {
                    end_if_past_limits(sesion, &self.config.limites);
                } else if sesion.idle_for() >= Duration::from_secs(self.config.limites.inactiva_s) {
                    forget.push(id.clone());
                }
            }
            let mut sessions = self.lock();
            for id in forget {
                sessions.remove(&id);
            }
        }
        self.end_all().await;
    }

    /// Ends every session and everything they started (Profesor stops).
    pub async fn end_all(&self) {
        let open: Vec<(String, Arc<Sesion>)> = self
            .lock()
            .iter()
            .map(|(id, sesion)| (id.clone(), sesion.clone()))
            .collect();
        for (id, sesion) in open {
            sesion.kill("Profesor se detuvo");
            let _ = tokio::task::spawn_blocking(move || {
                sesion.kill_all();
                sesion.remove_folder(&id);
            })
            .await;
        }
    }
}

impl Drop for Sesiones {
    fn drop(&mut self) {
        for (id, sesion) in self.lock().iter() {
            sesion.kill_all();
            sesion.remove_folder(id);
        }
    }
}

/// Ends `sesion` if it used its CPU time (all of its processes together),
/// was idle, or lived as long as `limites` allow.
fn end_if_past_limits(sesion: &Sesion, limites: &Limites) {
    let cpu = sesion.cpu_used();
    if cpu.is_some_and(|cpu| cpu >= Duration::from_secs(limites.cpu_s)) {
        sesion.kill(&format!(
            "usó sus {} s de CPU (entre todos sus procesos)",
            limites.cpu_s
        ));
    } else if sesion.idle_for() >= Duration::from_secs(limites.inactiva_s) {
        sesion.kill(&format!("{} s sin actividad", limites.inactiva_s));
    } else if sesion.started.elapsed() >= Duration::from_secs(limites.vida_s) {
        sesion.kill(&format!("{} s de vida como máximo", limites.vida_s));
    }
}

/// Copies the interpreter's standard output and error into the session's
/// output, each by a task of its own.
fn follow_output(child: &mut tokio::process::Child, sesion: &Arc<Sesion>) {
    let outputs = [
        child
            .stdout
            .take()
            .map(|out| Box::new(out) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        child
            .stderr
            .take()
            .map(|err| Box::new(err) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
    ];
    for output in outputs.into_iter().flatten() {
        tokio::spawn(sesion::collect(output, sesion.clone()));
    }
}

/// Types the starting code into the session.
async fn send_code(sesion: &Sesion, code: &str) -> Result<(), SesionError> {
    if code.is_empty() {
        return Ok(());
    }
    let mut code = code.to_owned();
    if !code.ends_with('\n') {
        code.push('\n');
    }
    // A blank line closes a block left open (`while True: pass`), so the
    // code runs now rather than waiting for more.
    code.push('\n');
    sesion.write(&code).await
}

/// A session being started, counted until dropped.
struct Starting(Arc<AtomicUsize>);

impl Starting {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Starting(count.clone())
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The program that confines a session: this very executable, through
/// `/proc/self/exe`, so a binary replaced on disk (an upgrade) still works.
fn trampolin_of(config: &SesionesConfig) -> PathBuf {
    config
        .trampolin
        .clone()
        .unwrap_or_else(|| PathBuf::from("/proc/self/exe"))
}

/// Which confinements hold: the trampoline applies them and reports.
async fn probe(config: &SesionesConfig) -> EncierroLogrado {
    let carpeta = match tempfile::Builder::new().prefix("aula-sesion-").tempdir() {
        Ok(carpeta) => carpeta,
        Err(err) => {
            return EncierroLogrado {
                red: format!("desconocido ({err})"),
                ..EncierroLogrado::default()
            }
        }
    };
    let encierro = Encierro {
        limites: config.limites,
        uid: nix::unistd::geteuid()
            .is_root()
            .then_some(first_uid() + USERS_PER_PROFESOR - 1),
        carpeta: carpeta.path().to_owned(),
        lectura: Vec::new(),
    };
    let trampolin = trampolin_of(config);
    let output = tokio::process::Command::new(trampolin)
        .arg(TRAMPOLINE_ARG)
        .arg(serde_json::to_string(&encierro).unwrap_or_default())
        .arg("--probe")
        .env_clear()
        .current_dir(carpeta.path())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(10), output).await {
        Ok(Ok(output)) => {
            serde_json::from_slice(&output.stdout).unwrap_or_else(|_| EncierroLogrado {
                red: format!(
                    "desconocido (la prueba dijo: {})",
                    crate::telemetry::for_log(&String::from_utf8_lossy(&output.stderr))
                ),
                ..EncierroLogrado::default()
            })
        }
        Ok(Err(err)) => EncierroLogrado {
            red: format!("desconocido ({err})"),
            ..EncierroLogrado::default()
        },
        Err(_) => EncierroLogrado {
            red: "desconocido (la prueba no terminó)".into(),
            ..EncierroLogrado::default()
        },
    }
}
