//! Starting the graded program of `verificar estudiante`: the command after
//! `--` with aula's address in place, in a process group of its own, what
//! it prints read from a pseudo-terminal (so nothing waits in a pipe's
//! buffer), its CPU time from `/proc`, and everything it leaves behind
//! ended at the end of the run.

use std::io::Read;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::process_table::processes;

/// What `verificar estudiante` runs.
#[derive(Debug, Clone)]
pub struct Programa {
    /// The command and its arguments, placeholders not yet replaced.
    pub comando: Vec<String>,
    /// Where aula listens as Docencio (port 0: a free one).
    pub escuchar: SocketAddr,
}

impl Programa {
    /// The program exists and can be run, and aula can listen where asked.
    pub fn preparar(&self) -> Result<(), String> {
        let Some(program) = self.comando.first().filter(|program| !program.is_empty()) else {
            return Err("falta el programa a verificar, después de --".into());
        };
        if find_program(program).is_none() {
            return Err(format!(
                "no se encuentra el programa {program:?} (ni como ruta ni en el PATH)"
            ));
        }
        std::net::TcpListener::bind(self.escuchar)
            .map(drop)
            .map_err(|err| format!("no se puede escuchar en {}: {err}", self.escuchar))
    }
}

/// `program` as the system would run it: a path, or a name in `PATH`;
/// only an executable file counts.
fn find_program(program: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |path: &std::path::Path| {
        std::fs::metadata(path)
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = std::path::PathBuf::from(program);
        return runnable(&path).then_some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| runnable(path))
}

/// Output kept for reports and searches (the newest bytes).
const OUTPUT_KEPT: usize = 256 * 1024;

/// The program's arguments with aula's address in place of `{host}`,
/// `{puerto}` (or `{port}`) and `{addr}`.
pub fn with_address(comando: &[String], addr: SocketAddr) -> Vec<String> {
    comando
        .iter()
        .map(|arg| {
            arg.replace("{addr}", &addr.to_string())
                .replace("{host}", &addr.ip().to_string())
                .replace("{puerto}", &addr.port().to_string())
                .replace("{port}", &addr.port().to_string())
        })
        .collect()
}

/// What the program printed, stdout and stderr together: the newest
/// [`OUTPUT_KEPT`] bytes, and how many came in all.
#[derive(Default)]
pub(super) struct Output {
    kept: Vec<u8>,
    /// Position of `kept[0]` in everything printed.
    start: u64,
}

impl Output {
    fn push(&mut self, bytes: &[u8]) {
        self.kept.extend_from_slice(bytes);
        if self.kept.len() > 2 * OUTPUT_KEPT {
            let drop = self.kept.len() - OUTPUT_KEPT;
            self.kept.drain(..drop);
            self.start += drop as u64;
        }
    }

    pub(super) fn total(&self) -> u64 {
        self.start + self.kept.len() as u64
    }

    /// What came after position `mark` (what is still kept of it).
    pub(super) fn since(&self, mark: u64) -> &[u8] {
        let skip = mark.saturating_sub(self.start) as usize;
        &self.kept[skip.min(self.kept.len())..]
    }
}

pub(super) type Shared = Arc<Mutex<Output>>;

pub(super) fn lock(salida: &Shared) -> std::sync::MutexGuard<'_, Output> {
    salida
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The program running, in a process group of its own (so everything it
/// starts is killed with it).
pub(super) struct Proceso {
    child: Child,
    pid: Option<u32>,
}

impl Proceso {
    pub(super) fn start(
        comando: &[String],
        addr: SocketAddr,
        salida: &Shared,
    ) -> Result<Proceso, String> {
        let Some((program, args)) = comando.split_first() else {
            return Err("falta el programa a verificar (después de --)".into());
        };
        let pty = nix::pty::openpty(None, None)
            .map_err(|err| format!("no se pudo abrir una terminal para su salida: {err}"))?;
        // Neither end leaks into other processes started meanwhile (the
        // program gets the other end as its stdout and stderr): one that
        // kept it would keep the capture waiting for its end.
        for fd in [&pty.master, &pty.slave] {
            nix::fcntl::fcntl(
                fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            )
            .map_err(|err| format!("no se pudo abrir una terminal para su salida: {err}"))?;
        }
        let stderr = pty
            .slave
            .try_clone()
            .map_err(|err| format!("no se pudo abrir una terminal para su salida: {err}"))?;
        let mut command = Command::new(program);
        command
            .args(args)
            .env("AULA_DOCENCIO_ADDR", addr.to_string())
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(pty.slave))
            .stderr(Stdio::from(stderr))
            .process_group(0)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .map_err(|err| format!("no se pudo ejecutar {program:?}: {err}"))?;
        // The terminal's other end now lives only in the program: reading
        // ends when it (and all it started) exits.
        drop(command);
        capture(pty.master, salida.clone());
        Ok(Proceso {
            pid: child.id(),
            child,
        })
    }

    /// Resolves when the program exits.
    pub(super) async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.child.wait().await
    }

    /// CPU time (user and system) the program has used, in seconds.
    pub(super) fn cpu_seconds(&self) -> Option<f64> {
        let group = self.pid?;
        // Every process of its group: a launcher (`bash run.sh`, `uv run`)
        // may do nothing while the program it started spins.
        let ticks: f64 = processes()
            .iter()
            .filter(|process| process.group == group)
            .map(|process| process.cpu_ticks)
            .sum();
        let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()??;
        (per_second > 0).then(|| ticks / per_second as f64)
    }
}

impl Drop for Proceso {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.and_then(|pid| i32::try_from(pid).ok()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Makes this process the reaper of whatever the graded program leaves
/// behind: a child that calls `setsid()` leaves the program's process
/// group, so the group kill misses it; as a subreaper, its orphans become
/// ours and [`kill_adopted`] ends them. For the `estudiante` binary only:
/// in a process shared with other work (a test binary) it would adopt
/// everyone's orphans.
pub fn adopt_orphans() -> bool {
    nix::sys::prctl::set_child_subreaper(true).is_ok()
}

/// Kills every process whose parent is this one: at the end of a run of
/// `estudiante verificar estudiante`, that is the graded program and what
/// it left (adopted through [`adopt_orphans`]). A few rounds, since the
/// children of a killed process come to us in their turn. Returns how
/// many were killed.
pub async fn kill_adopted() -> usize {
    let me = std::process::id();
    let mut killed = 0;
    for _ in 0..20 {
        let children = children_of(me);
        if children.is_empty() {
            break;
        }
        for pid in children {
            if nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            )
            .is_ok()
            {
                killed += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    killed
}

/// Live (not zombie) processes whose parent is `parent`.
fn children_of(parent: u32) -> Vec<i32> {
    processes()
        .iter()
        .filter(|process| !process.zombie && process.parent == parent)
        .filter_map(|process| i32::try_from(process.pid).ok())
        .collect()
}

/// Reads the program's terminal into `salida` until it closes.
fn capture(master: OwnedFd, salida: Shared) {
    std::thread::spawn(move || {
        let mut terminal = std::fs::File::from(master);
        let mut buffer = [0u8; 8192];
        loop {
            match terminal.read(&mut buffer) {
                Ok(0) => return,
                Ok(n) => lock(&salida).push(&buffer[..n]),
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                // EIO: every copy of the other end is closed.
                Err(_) => return,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_take_the_address() {
        let addr: SocketAddr = "127.0.0.1:4999".parse().unwrap();
        let comando = ["python3", "e.py", "{host}", "{puerto}", "--a={addr}"].map(String::from);
        assert_eq!(
            with_address(&comando, addr),
            ["python3", "e.py", "127.0.0.1", "4999", "--a=127.0.0.1:4999"]
        );
    }

    #[test]
    fn output_keeps_the_newest_bytes_and_counts_them_all() {
        let mut salida = Output::default();
        for _ in 0..5 {
            salida.push(&[b'x'; OUTPUT_KEPT]);
        }
        salida.push(b"fin");
        assert_eq!(salida.total(), 5 * OUTPUT_KEPT as u64 + 3);
        assert!(salida.kept.len() <= 2 * OUTPUT_KEPT);
        assert_eq!(salida.since(salida.total() - 3), b"fin");
        assert_eq!(salida.since(0).len(), salida.kept.len());
    }
}
