//! A session's control groups: its limits for the session as a whole, not
//! for each of its processes (rlimits are per process: 64 processes of
//! 1 GiB each would be 64 GiB). Memory and processes are limited by the
//! kernel (`memory.limit_in_bytes`, `pids.max`); CPU time is the group's
//! `cpuacct.usage`, which [`super::Sesiones`] reads every second to end a
//! session that used its seconds, however many processes it split them
//! over. The group also lists every process of the session, wherever it
//! went (`setsid` or not), so none survives its end.
//!
//! Only where Profesor runs as root on cgroup v1 controllers (this course's
//! machines); elsewhere the session keeps its rlimits, its user and its
//! process group, and Profesor says at start that groups are missing.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::sandbox::Limites;

/// Where cgroup v1 controllers are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The controllers a session's group is made in.
const CONTROLLERS: [&str; 3] = ["memory", "pids", "cpuacct"];

/// One session's groups, removed when dropped (once empty).
#[derive(Debug)]
pub struct Grupo {
    /// One folder per controller.
    dirs: Vec<PathBuf>,
}

/// This process's own group in `controller` (from /proc/self/cgroup).
fn own_path(controller: &str) -> Option<String> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    own.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, names, path) = (fields.next()?, fields.next()?, fields.next()?);
        names
            .split(',')
            .any(|name| name == controller)
            .then(|| path.trim_start_matches('/').to_owned())
    })
}

impl Grupo {
    /// Makes the groups of session `name` with `limites`, or says why not.
    pub fn create(name: &str, limites: &Limites) -> Result<Grupo, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("Profesor no es root".into());
        }
        let mut grupo = Grupo { dirs: Vec::new() };
        for controller in CONTROLLERS {
            let mount = Path::new(CGROUP_ROOT).join(controller);
            if !mount.join("cgroup.procs").exists() {
                return Err(format!("sin el controlador {controller} de cgroup v1"));
            }
            let own = own_path(controller).unwrap_or_default();
            let dir = mount.join(own).join(name);
            std::fs::create_dir_all(&dir).map_err(|err| format!("{}: {err}", dir.display()))?;
            grupo.dirs.push(dir);
        }
        grupo
            .write(
                "memory",
                "memory.limit_in_bytes",
                &limites.memoria_bytes.to_string(),
            )
            .and_then(|()| grupo.write("pids", "pids.max", &limites.procesos.to_string()))
            .map_err(|err| format!("límites del grupo: {err}"))?;
        Ok(grupo)
    }

    fn dir(&self, controller: &str) -> Option<&PathBuf> {
        let at = CONTROLLERS.iter().position(|name| *name == controller)?;
        self.dirs.get(at)
    }

    fn write(&self, controller: &str, file: &str, value: &str) -> io::Result<()> {
        let dir = self
            .dir(controller)
            .ok_or_else(|| io::Error::other("sin grupo"))?;
        std::fs::write(dir.join(file), value)
    }

    /// Puts process `pid` (and so everything it starts) in the groups.
    pub fn add(&self, pid: u32) -> io::Result<()> {
        for dir in &self.dirs {
            std::fs::write(dir.join("cgroup.procs"), pid.to_string())?;
        }
        Ok(())
    }

    /// CPU time used by every process of the session, ever.
    pub fn cpu_used(&self) -> Option<Duration> {
        let usage = std::fs::read_to_string(self.dir("cpuacct")?.join("cpuacct.usage")).ok()?;
        usage.trim().parse().ok().map(Duration::from_nanos)
    }

    /// Kills every process in the group. Blocking.
    pub fn kill_all(&self) {
        let Some(dir) = self.dir("pids") else { return };
        for _ in 0..3 {
            let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) else {
                return;
            };
            let pids: Vec<i32> = procs
                .lines()
                .filter_map(|pid| pid.trim().parse().ok())
                .collect();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Grupo {
    fn drop(&mut self) {
        self.kill_all();
        for dir in &self.dirs {
            // Empty by now, or within a moment.
            for _ in 0..50 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
