//! Which interpreter a session runs, found before the session's
//! environment is emptied: an absolute path that the session's user may
//! run, and the folders of its installation that the sandbox lets it read.

use std::path::{Path, PathBuf};

/// `comando` with its program as an absolute path (the session's
/// environment is empty): for Python, the interpreter itself rather than a
/// launcher shim (pyenv's); and, when sessions run as `nobody`, one that
/// `nobody` may run (not one under `/root`).
pub fn resolve(comando: &[String]) -> Vec<String> {
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
pub fn interpreter_folders(comando: &[String]) -> Vec<PathBuf> {
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
