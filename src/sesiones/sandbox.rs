//! The confinement of one session, applied by a trampoline: Profesor
//! starts its own executable as `profesor __sesion-sandbox LIMITS -- CMD
//! ARGS...` in a new process group, with an empty environment, in the
//! session's fresh folder; the trampoline confines itself (below) and then
//! becomes the interpreter (`exec`), so everything the session runs, and
//! everything that runs starts, is inside.
//!
//! In order, each where the kernel and Profesor's privileges allow it:
//! 1. no network: a new, empty network namespace (as root), else a
//!    seccomp filter refusing `socket(AF_INET | AF_INET6)`;
//! 2. another user: as root, the session runs as `nobody`, so it can read
//!    nothing private and the process limit is real;
//! 3. resource limits (`setrlimit`): CPU seconds, address space, number of
//!    processes, file size, open files, no core files;
//! 4. Landlock: only the session's folder is writable; outside it, only
//!    the system's folders and the interpreter's are readable, the rest
//!    (Profesor's data, home folders, /tmp) cannot even be read.
//!
//! [`probe`] runs the same steps without an interpreter and says which held;
//! Profesor logs that at start.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The first argument that makes `profesor` a session's trampoline.
pub const TRAMPOLINE_ARG: &str = "__sesion-sandbox";

/// The first of the users sessions run as when Profesor is root: each
/// Profesor has 1,000 of its own above this, one per session, owned by nobody else, so
/// its process limit is its own, and at its end every process of that user
/// is killed, even one that left the session's process group.
pub const SESSION_UID_BASE: u32 = 3_000_000;

/// The first argument that makes `profesor` kill every process of a
/// session's user (`profesor __sesion-matar UID`).
pub const KILL_ARG: &str = "__sesion-matar";

/// What a session may use; every value is configurable with a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Limites {
    /// CPU seconds (a busy loop ends here).
    pub cpu_s: u64,
    /// Address space, bytes.
    pub memoria_bytes: u64,
    /// Processes (and threads) of the session's user at once.
    pub procesos: u64,
    /// Largest file it may write, bytes.
    pub archivo_bytes: u64,
    /// Open files at once.
    pub archivos_abiertos: u64,
    /// Seconds without a write or a read before it is ended.
    pub inactiva_s: u64,
    /// Seconds it may live at most.
    pub vida_s: u64,
}

impl Default for Limites {
    fn default() -> Self {
        Limites {
            cpu_s: 30,
            memoria_bytes: 1024 * 1024 * 1024,
            procesos: 64,
            archivo_bytes: 16 * 1024 * 1024,
            archivos_abiertos: 64,
            inactiva_s: 10 * 60,
            vida_s: 30 * 60,
        }
    }
}

/// What the trampoline needs besides the command.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Encierro {
    pub limites: Limites,
    /// The session's own user (when Profesor is root).
    pub uid: Option<u32>,
    /// The session's folder: the only writable place.
    pub carpeta: PathBuf,
    /// Folders readable besides the system's (the interpreter's).
    pub lectura: Vec<PathBuf>,
}

/// Which confinements held.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncierroLogrado {
    /// "espacio de red propio", "filtro seccomp" or "ninguno".
    pub red: String,
    /// "nobody" or "el de Profesor".
    pub usuario: String,
    pub limites: bool,
    /// "completo", "parcial" or "no disponible".
    pub landlock: String,
    /// Whether the session as a whole is limited (control groups).
    #[serde(default)]
    pub grupos: String,
}

/// `profesor __sesion-matar UID`: becomes user UID and kills every process
/// of it (`kill(-1)` as that user reaches exactly those), twice, in case
/// one forked meanwhile. Returns the exit code.
pub fn kill_user(args: Vec<OsString>) -> i32 {
    let Some(uid) = args
        .get(2)
        .and_then(|uid| uid.to_str())
        .and_then(|uid| uid.parse::<u32>().ok())
        .filter(|uid| *uid >= SESSION_UID_BASE)
    else {
        return 125;
    };
    let gid = nix::unistd::Gid::from_raw(uid);
    if nix::unistd::setgroups(&[gid]).is_err()
        || nix::unistd::setgid(gid).is_err()
        || nix::unistd::setuid(nix::unistd::Uid::from_raw(uid)).is_err()
    {
        return 1;
    }
    for _ in 0..2 {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(-1),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    0
}

impl std::fmt::Display for EncierroLogrado {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "red: {}; usuario: {}; límites de recursos: {}; Landlock (solo su carpeta se escribe, fuera de los sistemas no se lee): {}; grupos: {}",
            self.red,
            self.usuario,
            if self.limites { "sí" } else { "no" },
            self.landlock,
            self.grupos
        )
    }
}

/// Folders every interpreter needs to read.
const SYSTEM_READABLE: &[&str] = &["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/opt"];

/// Files of `/etc` an interpreter reads (the rest of `/etc`, where a
/// token could be kept, is not readable).
const ETC_READABLE: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/etc/group",
    "/etc/python3",
    "/etc/alternatives",
];

/// Devices a program may read and write.
const DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"];

/// Applies every confinement to this process; says which held.
fn confine(encierro: &Encierro) -> EncierroLogrado {
    let mut estado = EncierroLogrado::default();
    // A session of its own: no controlling terminal (the one Profesor was
    // started from), so nothing can be typed into it (TIOCSTI).
    let _ = nix::unistd::setsid();
    let root = nix::unistd::geteuid().is_root();
    let own_net = root && nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).is_ok();
    match encierro.uid.filter(|_| root) {
        Some(uid) => {
            let gid = nix::unistd::Gid::from_raw(uid);
            let dropped = nix::unistd::setgroups(&[gid]).is_ok()
                && nix::unistd::setgid(gid).is_ok()
                && nix::unistd::setuid(nix::unistd::Uid::from_raw(uid)).is_ok();
            estado.usuario = if dropped {
                "uno propio de cada sesión, sin privilegios".into()
            } else {
                "el de Profesor (root): ¡no se pudo cambiar!".into()
            };
        }
        None => estado.usuario = "el de Profesor".into(),
    }
    // Dies with Profesor (set after the change of user, which clears it).
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    if nix::unistd::getppid() == nix::unistd::Pid::from_raw(1) {
        std::process::exit(125);
    }
    estado.limites = set_limits(&encierro.limites).is_ok();
    estado.landlock = restrict_files(encierro);
    let filtered = refuse_sockets().is_ok();
    estado.red = match (own_net, filtered) {
        (true, true) => "espacio de red propio y sin sockets (seccomp)".into(),
        (true, false) => "espacio de red propio (¡pero sockets Unix abiertos!)".into(),
        (false, true) => "sin sockets (seccomp) y TCP cerrado (Landlock, si hay)".into(),
        (false, false) => "sin aislar".into(),
    };
    estado
}

fn set_limits(limites: &Limites) -> std::io::Result<()> {
    use rlimit::Resource;
    Resource::CPU.set(limites.cpu_s, limites.cpu_s + 1)?;
    Resource::AS.set(limites.memoria_bytes, limites.memoria_bytes)?;
    Resource::NPROC.set(limites.procesos, limites.procesos)?;
    Resource::FSIZE.set(limites.archivo_bytes, limites.archivo_bytes)?;
    Resource::NOFILE.set(limites.archivos_abiertos, limites.archivos_abiertos)?;
    Resource::CORE.set(0, 0)?;
    Ok(())
}

/// Landlock: read-only system folders, a writable session folder, nothing
/// else; no TCP bind or connect; no signals to processes outside the
/// session nor abstract Unix sockets; no ioctl on devices. Says how much
/// the kernel enforced.
fn restrict_files(encierro: &Encierro) -> String {
    use landlock::{
        path_beneath_rules, Access, AccessFs, AccessNet, Ruleset, RulesetAttr, RulesetCreatedAttr,
        RulesetStatus, Scope, ABI,
    };
    let abi = ABI::V6;
    let readable: Vec<PathBuf> = SYSTEM_READABLE
        .iter()
        .chain(ETC_READABLE)
        .map(PathBuf::from)
        .chain(encierro.lectura.iter().cloned())
        // Its own entry in /proc only (the interpreter keeps this pid):
        // not Profesor's command line nor the host's tables.
        .chain(std::iter::once(PathBuf::from(format!(
            "/proc/{}",
            std::process::id()
        ))))
        .filter(|path| path.exists())
        .collect();
    let devices: Vec<PathBuf> = DEVICES
        .iter()
        .map(PathBuf::from)
        .filter(|path| path.exists())
        .collect();
    let restricted = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .and_then(|ruleset| ruleset.handle_access(AccessNet::from_all(abi)))
        .and_then(|ruleset| ruleset.scope(Scope::from_all(abi)))
        .and_then(|ruleset| ruleset.create())
        .and_then(|ruleset| {
            ruleset.add_rules(path_beneath_rules(&readable, AccessFs::from_read(abi)))
        })
        .and_then(|ruleset| {
            ruleset.add_rules(path_beneath_rules(
                &devices,
                AccessFs::ReadFile | AccessFs::WriteFile,
            ))
        })
        .and_then(|ruleset| {
            ruleset.add_rules(path_beneath_rules(
                [encierro.carpeta.as_path()],
                AccessFs::from_all(abi),
            ))
        })
        .and_then(|ruleset| ruleset.restrict_self());
    match restricted {
        Ok(status) => match status.ruleset {
            RulesetStatus::FullyEnforced => "completo".into(),
            RulesetStatus::PartiallyEnforced => "parcial (núcleo con una versión anterior)".into(),
            RulesetStatus::NotEnforced => "no disponible en este núcleo".into(),
        },
        Err(err) => format!("no disponible ({err})"),
    }
}

/// seccomp: no sockets at all (`socket()` fails with EACCES: no TCP, no
/// Unix socket to a database's file, no vsock), no io_uring (which opens
/// sockets without `socket()`), no typing into a terminal (TIOCSTI).
fn refuse_sockets() -> Result<(), String> {
    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule,
    };
    // TIOCSTI is a u64 on some targets and not on others.
    #[allow(clippy::unnecessary_cast)]
    let tiocsti = SeccompCondition::new(
        1,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::Eq,
        libc::TIOCSTI as u64,
    )
    .and_then(|condition| SeccompRule::new(vec![condition]))
    .map_err(|err| err.to_string())?;
    let arch = std::env::consts::ARCH
        .try_into()
        .map_err(|err: seccompiler::BackendError| err.to_string())?;
    let filter = SeccompFilter::new(
        [
            (libc::SYS_socket, Vec::new()),
            (libc::SYS_io_uring_setup, Vec::new()),
            (libc::SYS_ioctl, vec![tiocsti]),
        ]
        .into_iter()
        .collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EACCES as u32),
        arch,
    )
    .map_err(|err| err.to_string())?;
    let program: BpfProgram = filter
        .try_into()
        .map_err(|err: seccompiler::BackendError| err.to_string())?;
    seccompiler::apply_filter(&program).map_err(|err| err.to_string())
}

/// `profesor __sesion-sandbox ENCIERRO -- CMD ARGS...`: confines this
/// process and becomes CMD; returns only if that fails (the exit code).
/// With `--probe` instead of a command, prints which confinements held
/// (JSON) and exits.
pub fn run_trampoline(args: Vec<OsString>) -> i32 {
    let mut args = args.into_iter().skip(2);
    let Some(encierro) = args
        .next()
        .and_then(|json| serde_json::from_str::<Encierro>(&json.to_string_lossy()).ok())
    else {
        eprintln!("aula: encierro ilegible");
        return 125;
    };
    let rest: Vec<OsString> = args.collect();
    let estado = confine(&encierro);
    if rest.first().is_some_and(|arg| arg == "--probe") {
        // Tried from inside: can it reach the network at all?
        let mut estado = estado;
        // Tried from inside: no socket may open at all.
        if std::net::UdpSocket::bind("127.0.0.1:0").is_ok() {
            estado.red = format!("{} (¡pero abre sockets!)", estado.red);
        }
        println!("{}", serde_json::to_string(&estado).unwrap_or_default());
        return 0;
    }
    let mut command = rest.into_iter().skip_while(|arg| arg == "--");
    let Some(program) = command.next() else {
        eprintln!("aula: falta el intérprete");
        return 125;
    };
    let err = std::process::Command::new(&program).args(command).exec();
    eprintln!(
        "aula: no se pudo ejecutar {}: {err}",
        Path::new(&program).display()
    );
    126
}
