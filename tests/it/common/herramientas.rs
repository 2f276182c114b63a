//! Programs some tests drive (tmux, Chromium, ChromeDriver) that a
//! developer's machine may lack. Such a test is skipped there, saying so,
//! and fails where a skip would hide a broken setup: as root (where
//! `scripts/herramientas.sh` installs them) and under `CI=true`.

use std::io::Write;
use std::path::{Path, PathBuf};

/// True when every one of `tools` (a name looked up in `PATH`, or a path)
/// is there. Otherwise prints `omitido: falta ...` for `what` straight to
/// the terminal (past the test harness's capture, so it shows in a passing
/// run) and returns false; as root or under `CI=true` it panics instead.
pub fn tools_present(what: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| find(tool).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let packages: Vec<&str> = missing.iter().map(|tool| package_of(tool)).collect();
    let install = format!("sudo apt-get install {}", packages.join(" "));
    let missing: Vec<&str> = missing.iter().map(|tool| name_of(tool)).collect();
    let missing = missing.join(", ");
    if must_run() {
        panic!(
            "falta {missing} para {what}; como root o con CI=true esta prueba no se omite \
             (scripts/test.sh lo instala como root; a mano: {install})"
        );
    }
    let _ = writeln!(
        std::io::stderr(),
        "omitido: falta {missing}: {what}; se instala con: {install}"
    );
    false
}

/// The program's name, without its folder.
fn name_of(tool: &str) -> &str {
    tool.rsplit('/').next().unwrap_or(tool)
}

/// The Debian package with `tool`.
fn package_of(tool: &str) -> &str {
    match name_of(tool) {
        "chromedriver" => "chromium-driver",
        name => name,
    }
}

/// Root, or a CI run: where the tools are installed, so a missing one is
/// a failure.
pub fn must_run() -> bool {
    std::env::var("CI").is_ok_and(|ci| ci == "true") || is_root()
}

/// The effective user is root (`/proc/self/status`, Linux).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

/// `tool` as a path to an executable file: itself when it names a path,
/// else the first match in `PATH`.
pub fn find(tool: &str) -> Option<PathBuf> {
    let executable = |path: &Path| {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    };
    if tool.contains('/') {
        let path = PathBuf::from(tool);
        return executable(&path).then_some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(tool))
        .find(|path| executable(path))
}
