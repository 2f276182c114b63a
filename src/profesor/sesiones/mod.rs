//! Sesiones de ejecución (the course's Flask exercise, done as a sandbox
//! first and an API second): `POST /api/start` starts an interpreter with
//! some code, `POST /api/write` sends it a line, `GET /api/read` takes what
//! it printed since the last read. Off unless `profesor --sesiones`.
//!
//! - [`sandbox`]: what confines a session (its own network namespace or a
//!   seccomp filter, `nobody`, rlimits, Landlock), applied by a trampoline
//!   before the interpreter starts.
//! - [`salida`]: the bounded output kept until read.
//! - [`routes`]: the HTTP API.
//!
//! Each session is a process group: when it ends (its interpreter exits,
//! it is stopped, idle or too old, or Profesor stops) the whole group is
//! killed, so nothing it started survives, and its folder is removed.

pub mod grupo;
pub mod routes;
pub mod salida;
pub mod sandbox;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::ChildStdin;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use salida::Salida;
pub use sandbox::{Encierro, Estado, Limites, KILL_ARG, SESSION_UID_BASE, TRAMPOLINE_ARG};

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

/// Why a request about sessions failed.
#[derive(Debug, thiserror::Error)]
pub enum SesionError {
    #[error("Sesión no encontrada")]
    NotFound,
    #[error("ya hay {0} sesiones abiertas: termina alguna (POST /api/stop) o espera")]
    TooMany(usize),
    #[error("la sesión terminó: {0}")]
    Ended(String),
    #[error("no se pudo iniciar la sesión: {0}")]
    Spawn(String),
}

/// One session.
struct Sesion {
    started: Instant,
    last_activity: Mutex<Instant>,
    stdin: tokio::sync::Mutex<Option<ChildStdin>>,
    salida: Mutex<Salida>,
    alive: AtomicBool,
    /// Why it ended (for the read after its end).
    ended: Mutex<Option<String>>,
    pgid: i32,
    /// Its own user, when Profesor is root (see [`SESSION_UID_BASE`]).
    uid: Option<u32>,
    /// How to kill every process of that user.
    trampolin: PathBuf,
    /// Its folder, removed by whoever ends it first (its end, or
    /// Profesor's).
    carpeta: Mutex<Option<tempfile::TempDir>>,
    /// Its control groups, where the machine has them.
    grupo: Mutex<Option<grupo::Grupo>>,
}

impl Sesion {
    fn touch(&self) {
        *self.last_activity.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.last_activity
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }

    /// Ends the session's whole process group.
    fn kill(&self, why: &str) {
        let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        if ended.is_none() {
            *ended = Some(why.to_owned());
        }
        // The interpreter dies with its group; the sweep of its user runs
        // when `wait` sees it die.
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }

    /// Removes its folder (once everything in it is dead).
    fn remove_folder(&self, id: &str) {
        let carpeta = self
            .carpeta
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(carpeta) = carpeta {
            if let Err(err) = carpeta.close() {
                warn!("No se pudo borrar la carpeta de la sesión {id}: {err}");
            }
        }
    }

    /// Kills its process group and, with its own user, every process of
    /// that user (one that left the group with `setsid` too). Blocking.
    fn kill_all(&self) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
        if let Some(grupo) = self
            .grupo
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
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
}

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
    users: Arc<Mutex<Vec<bool>>>,
    /// This Profesor's first session user (see [`SESSION_UID_BASE`]).
    first_uid: u32,
    /// Sessions being started (they count against the limit).
    starting: Arc<std::sync::atomic::AtomicUsize>,
    /// Which confinements hold here (probed at start).
    pub estado: Estado,
    stop: CancellationToken,
}

impl std::fmt::Debug for Sesiones {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sesiones")
            .field("estado", &self.estado)
            .finish_non_exhaustive()
    }
}

impl Sesiones {
    /// Probes the sandbox (and logs what holds), and starts the task that
    /// ends sessions past their time; everything ends with `stop`.
    pub async fn start(config: SesionesConfig, stop: CancellationToken) -> Arc<Self> {
        let mut estado = probe(&config).await;
        estado.grupos = match grupo::Grupo::create("aula-sesion-prueba", &config.limites) {
            Ok(_) => "memoria, procesos y CPU de toda la sesión (cgroup v1)".into(),
            Err(why) => format!("no disponibles ({why}): límites por proceso"),
        };
        info!(
            "Sesiones de ejecución encendidas ({}): {estado}",
            config.comando.join(" ")
        );
        let sesiones = Arc::new(Sesiones {
            users: Arc::new(Mutex::new(vec![
                false;
                config
                    .max_sesiones
                    .min(USERS_PER_PROFESOR as usize)
            ])),
            first_uid: first_uid(),
            starting: Arc::default(),
            config,
            sessions: Mutex::default(),
            estado,
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

    fn trampolin(&self) -> Result<PathBuf, SesionError> {
        Ok(trampolin_of(&self.config))
    }

    /// Starts a session that first runs `code`; returns its id.
    pub async fn start_session(&self, code: &str) -> Result<String, SesionError> {
        // A place, taken at once (two starts at once cannot both get the
        // last one); finished sessions not read yet take none.
        let _place = {
            let sessions = self.lock();
            let alive = sessions
                .values()
                .filter(|sesion| sesion.alive.load(Ordering::Acquire))
                .count();
            if alive + self.starting.load(Ordering::Acquire) >= self.config.max_sesiones {
                return Err(SesionError::TooMany(self.config.max_sesiones));
            }
            Starting::new(&self.starting)
        };
        let carpeta = tempfile::Builder::new()
            .prefix("aula-sesion-")
            .tempdir()
            .map_err(|err| SesionError::Spawn(err.to_string()))?;
        let user = if nix::unistd::geteuid().is_root() {
            let Some(user) = SessionUser::take(&self.users, self.first_uid) else {
                return Err(SesionError::TooMany(self.config.max_sesiones));
            };
            // The session's folder is its user's.
            let _ = nix::unistd::chown(
                carpeta.path(),
                Some(nix::unistd::Uid::from_raw(user.uid)),
                Some(nix::unistd::Gid::from_raw(user.uid)),
            );
            // Its own, and nobody else's to read.
            use std::os::unix::fs::PermissionsExt;
            let _ =
                std::fs::set_permissions(carpeta.path(), std::fs::Permissions::from_mode(0o700));
            Some(user)
        } else {
            None
        };
        let uid = user.as_ref().map(|user| user.uid);
        let trampolin = self.trampolin()?;
        let comando = resolve(&self.config.comando);
        let encierro = Encierro {
            limites: self.config.limites,
            uid,
            carpeta: carpeta.path().to_owned(),
            lectura: interpreter_folders(&comando),
        };
        let mut child = tokio::process::Command::new(&trampolin)
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
            .map_err(|err| SesionError::Spawn(err.to_string()))?;
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
        let sesion = Arc::new(Sesion {
            started: Instant::now(),
            last_activity: Mutex::new(Instant::now()),
            stdin: tokio::sync::Mutex::new(child.stdin.take()),
            salida: Mutex::default(),
            alive: AtomicBool::new(true),
            ended: Mutex::default(),
            pgid,
            uid,
            trampolin,
            carpeta: Mutex::new(Some(carpeta)),
            grupo: Mutex::new(grupo),
        });
        for output in [
            child
                .stdout
                .take()
                .map(|out| Box::new(out) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|err| Box::new(err) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            tokio::spawn(collect(output, sesion.clone()));
        }
        tokio::spawn(wait(child, sesion.clone(), user, id.clone()));
        self.lock().insert(id.clone(), sesion.clone());
        if !code.is_empty() {
            let mut code = code.to_owned();
            if !code.ends_with('\n') {
                code.push('\n');
            }
            // A blank line closes a block left open (`while True: pass`),
            // so the code runs now rather than waiting for more.
            code.push('\n');
            write_to(&sesion, &code).await?;
        }
        info!("Sesión {id} iniciada");
        Ok(id)
    }

    fn get(&self, id: &str) -> Result<Arc<Sesion>, SesionError> {
        self.lock().get(id).cloned().ok_or(SesionError::NotFound)
    }

    /// Sends `line` (and a line break) to the session.
    pub async fn write(&self, id: &str, line: &str) -> Result<(), SesionError> {
        let sesion = self.get(id)?;
        sesion.touch();
        write_to(&sesion, &format!("{line}\n")).await
    }

    /// What it printed since the last read, and whether it still runs; a
    /// finished session with nothing left is forgotten (as in the course).
    pub fn read(&self, id: &str) -> Result<(String, bool), SesionError> {
        let sesion = self.get(id)?;
        sesion.touch();
        let alive = sesion.alive.load(Ordering::Acquire);
        let mut output = sesion
            .salida
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(!alive);
        if !alive {
            if let Some(why) = sesion
                .ended
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
            {
                // On a line of its own, after a prompt left without one.
                if !output.is_empty() && !output.ends_with('\n') {
                    output.push('\n');
                }
                output.push_str(&format!("[aula: la sesión terminó: {why}]\n"));
            }
            if output.is_empty() {
                self.lock().remove(id);
            }
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
                alive: sesion.alive.load(Ordering::Acquire),
                limites: self.config.limites,
            })
            .collect();
        listed.sort_by_key(|vista| std::cmp::Reverse(vista.edad_s));
        listed
    }

    /// Ends sessions idle or alive too long; forgets finished ones nobody
    /// read for as long; at `stop`, ends them all.
    async fn watch(self: Arc<Self>) {
        let limites = self.config.limites;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                () = self.stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            let mut forget = Vec::new();
            for (id, sesion) in self.lock().iter() {
                let idle = sesion.idle_for();
                if sesion.alive.load(Ordering::Acquire) {
                    let cpu = sesion
                        .grupo
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .as_ref()
                        .and_then(grupo::Grupo::cpu_used);
                    if cpu.is_some_and(|cpu| cpu >= Duration::from_secs(limites.cpu_s)) {
                        sesion.kill(&format!(
                            "usó sus {} s de CPU (entre todos sus procesos)",
                            limites.cpu_s
                        ));
                    } else if idle >= Duration::from_secs(limites.inactiva_s) {
                        sesion.kill(&format!("{} s sin actividad", limites.inactiva_s));
                    } else if sesion.started.elapsed() >= Duration::from_secs(limites.vida_s) {
                        sesion.kill(&format!("{} s de vida como máximo", limites.vida_s));
                    }
                } else if idle >= Duration::from_secs(limites.inactiva_s) {
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

async fn write_to(sesion: &Sesion, text: &str) -> Result<(), SesionError> {
    let mut stdin = sesion.stdin.lock().await;
    let Some(pipe) = stdin.as_mut() else {
        return Err(SesionError::Ended("ya no lee su entrada".into()));
    };
    let written = tokio::time::timeout(Duration::from_secs(5), async {
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

/// A session user taken; given back when dropped.
struct SessionUser {
    uid: u32,
    slot: usize,
    users: Arc<Mutex<Vec<bool>>>,
}

impl SessionUser {
    /// A free user of this Profesor's: not taken by one of its sessions,
    /// and with no process running (one left by a Profesor that died, or
    /// another Profesor's).
    fn take(users: &Arc<Mutex<Vec<bool>>>, first_uid: u32) -> Option<SessionUser> {
        let mut taken = users.lock().unwrap_or_else(|p| p.into_inner());
        let busy = uids_running();
        let slot = (0..taken.len()).find(|&slot| {
            !taken[slot]
                && u32::try_from(slot).is_ok_and(|slot| !busy.contains(&(first_uid + slot)))
        })?;
        taken[slot] = true;
        Some(SessionUser {
            uid: first_uid + u32::try_from(slot).ok()?,
            slot,
            users: users.clone(),
        })
    }
}

/// Session users one Profesor may use.
const USERS_PER_PROFESOR: u32 = 1_000;

/// This Profesor's first session user: Profesors on one machine (by
/// process id) use different ones, so that one never kills another's.
fn first_uid() -> u32 {
    SESSION_UID_BASE + (std::process::id() % 10_000) * USERS_PER_PROFESOR
}

/// The users that have a process running now.
fn uids_running() -> std::collections::HashSet<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Default::default();
    };
    entries
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|entry| {
            use std::os::unix::fs::MetadataExt;
            entry.metadata().ok().map(|metadata| metadata.uid())
        })
        .collect()
}

/// A session being started, counted until dropped.
struct Starting(Arc<std::sync::atomic::AtomicUsize>);

impl Starting {
    fn new(count: &Arc<std::sync::atomic::AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Starting(count.clone())
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for SessionUser {
    fn drop(&mut self) {
        let mut taken = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = taken.get_mut(self.slot) {
            *slot = false;
        }
    }
}

/// Copies what the session prints into its bounded output.
async fn collect(mut output: Box<dyn tokio::io::AsyncRead + Send + Unpin>, sesion: Arc<Sesion>) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        match output.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => sesion
                .salida
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(&buffer[..read]),
        }
    }
}

/// Waits for the interpreter; then ends its whole group and removes its
/// folder.
async fn wait(
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
    {
        let mut ended = sesion.ended.lock().unwrap_or_else(|p| p.into_inner());
        if ended.is_none() {
            *ended = Some(why.clone());
        }
    }
    *sesion.stdin.lock().await = None;
    sesion.alive.store(false, Ordering::Release);
    sesion.remove_folder(&id);
    let grupo = sesion
        .grupo
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let _ = tokio::task::spawn_blocking(move || drop(grupo)).await;
    let grupo = sesion
        .grupo
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
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

/// `comando` with its program as an absolute path (the session's
/// environment is empty): for Python, the interpreter itself rather than a
/// launcher shim (pyenv's); and, when sessions run as `nobody`, one that
/// `nobody` may run (not one under `/root`).
fn resolve(comando: &[String]) -> Vec<String> {
    let mut resolved = comando.to_vec();
    let Some(program) = resolved.first_mut() else {
        return resolved;
    };
    if program.contains('/') {
        return resolved;
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    if program.starts_with("python") {
        if let Ok(output) = std::process::Command::new(&*program)
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
        {
            let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            if output.status.success() && path.starts_with('/') {
                candidates.push(PathBuf::from(path));
            }
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&paths).map(|dir| dir.join(&*program)));
    }
    candidates
        .extend(["/usr/local/bin", "/usr/bin", "/bin"].map(|dir| Path::new(dir).join(&*program)));
    let as_nobody = nix::unistd::geteuid().is_root();
    if let Some(found) = candidates
        .into_iter()
        .filter(|candidate| candidate.is_file())
        .find(|candidate| !as_nobody || runnable_by_others(candidate))
    {
        *program = found.display().to_string();
    }
    resolved
}

/// Whether a user with no rights of its own (`nobody`) can run `path`:
/// every folder above it crossable by others, and itself executable.
fn runnable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Ok(real) = std::fs::canonicalize(path) else {
        return false;
    };
    let mode = |path: &Path| std::fs::metadata(path).map_or(0, |meta| meta.permissions().mode());
    mode(&real) & 0o005 == 0o005
        && real
            .ancestors()
            .skip(1)
            .all(|folder| mode(folder) & 0o001 != 0)
}

/// The interpreter's installation, readable from inside: two folders
/// above its canonical path (`/usr` for `/usr/bin/python3`).
fn interpreter_folders(comando: &[String]) -> Vec<PathBuf> {
    comando
        .first()
        .and_then(|program| std::fs::canonicalize(program).ok())
        .and_then(|path| {
            path.parent()
                .and_then(|bin| bin.parent())
                .map(PathBuf::from)
        })
        .into_iter()
        .collect()
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
async fn probe(config: &SesionesConfig) -> Estado {
    let carpeta = match tempfile::Builder::new().prefix("aula-sesion-").tempdir() {
        Ok(carpeta) => carpeta,
        Err(err) => {
            return Estado {
                red: format!("desconocido ({err})"),
                ..Estado::default()
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
        Ok(Ok(output)) => serde_json::from_slice(&output.stdout).unwrap_or_else(|_| Estado {
            red: format!(
                "desconocido (la prueba dijo: {})",
                crate::telemetry::for_log(&String::from_utf8_lossy(&output.stderr))
            ),
            ..Estado::default()
        }),
        Ok(Err(err)) => Estado {
            red: format!("desconocido ({err})"),
            ..Estado::default()
        },
        Err(_) => Estado {
            red: "desconocido (la prueba no terminó)".into(),
            ..Estado::default()
        },
    }
}
