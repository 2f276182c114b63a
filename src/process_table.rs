//! The processes `/proc` shows now: the one reader of it, for the
//! execution sessions (which users have something running) and the grader
//! (a program's group, its children and their CPU time). Linux only.

/// What `/proc/PID` says of one process, the parts aula uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcStat {
    pub pid: u32,
    /// Its owner (the folder's).
    pub uid: u32,
    /// Dead, waiting for its parent to read its status.
    pub zombie: bool,
    pub parent: u32,
    /// Its process group.
    pub group: u32,
    /// User and system CPU time, in clock ticks.
    pub cpu_ticks: f64,
}

/// Every process `/proc` shows now; one that ends while it is read is
/// left out.
pub fn processes() -> Vec<ProcStat> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            use std::os::unix::fs::MetadataExt;
            let entry = entry.ok()?;
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let uid = entry.metadata().ok()?.uid();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            parse_stat(pid, uid, &stat)
        })
        .collect()
}

/// The fields of a `/proc/PID/stat` line after the name, which may hold
/// spaces and parentheses: hence split at its last `)`.
fn parse_stat(pid: u32, uid: u32, stat: &str) -> Option<ProcStat> {
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(ProcStat {
        pid,
        uid,
        zombie: *fields.first()? == "Z",
        parent: fields.get(1)?.parse().ok()?,
        group: fields.get(2)?.parse().ok()?,
        cpu_ticks: fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_with_spaces_and_parentheses_is_skipped() {
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194304 100 0 0 0 7 3 0 0 20 0 1 0 5 0 0";
        let parsed = parse_stat(42, 1000, stat).unwrap();
        assert_eq!(parsed.parent, 1);
        assert_eq!(parsed.group, 42);
        assert!(!parsed.zombie);
        assert_eq!(parsed.cpu_ticks, 10.0);
    }

    #[test]
    fn this_process_is_listed_with_its_owner() {
        let me = std::process::id();
        let listed = processes();
        let mine = listed.iter().find(|process| process.pid == me).unwrap();
        assert_eq!(mine.uid, nix::unistd::geteuid().as_raw());
        assert_eq!(mine.group, nix::unistd::getpgrp().as_raw() as u32);
    }
}
