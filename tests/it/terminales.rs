//! The four terminals under tmux itself (`scripts/terminales.sh`, driven
//! with send-keys and read with capture-pane), and the student's progress
//! bar: drawn on a terminal, absent when the output is not one.
//!
//! Needs tmux (`scripts/test.sh` installs it when it can); without it what
//! needs tmux says it is skipped, except as root or under CI=true, where it
//! fails. Each test runs its own tmux server (`tmux -L`), so a user's
//! sessions are never touched.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::procesos::{binary, free_addr, RoleProcess};
use common::*;

/// A private tmux server, killed with everything in it when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// A private tmux server for the test `name`, or `None` (after saying
    /// the part of the test about `what` is skipped) without tmux.
    fn new(name: &str, what: &str) -> Option<Tmux> {
        if !common::herramientas::tools_present(what, &["tmux"]) {
            return None;
        }
        let found = Command::new("tmux").arg("-V").output();
        assert!(
            found.is_ok_and(|out| out.status.success()),
            "tmux -V failed: apt-get install tmux (scripts/test.sh installs it when it can)"
        );
        Some(Tmux {
            socket: format!("aula-{name}-{}", std::process::id()),
        })
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs")
    }

    fn stdout(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// What pane `target` shows now, joined lines included.
    fn screen(&self, target: &str) -> String {
        self.stdout(&["capture-pane", "-p", "-J", "-t", target])
    }

    /// Waits until the role in pane `target` stops cleanly: its pane shows
    /// `text` (the role's last words), or, when tmux lost the last output
    /// of a process that ended (seen once on a loaded machine: "Pane is
    /// dead (status 0)" with the line missing), the pane is dead with
    /// exit status 0.
    async fn until_stopped_cleanly(&self, target: &str, text: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen(target);
            if screen.contains(text) {
                return;
            }
            let dead = self.stdout(&[
                "display-message",
                "-p",
                "-t",
                target,
                "#{pane_dead} #{pane_dead_status}",
            ]);
            match dead.split_whitespace().collect::<Vec<_>>()[..] {
                ["1", "0"] => return,
                ["1", status] => panic!("pane {target} ended with status {status}:\n{screen}"),
                _ => {}
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "pane {target} did not show {text:?} within 30 s; it shows:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until pane `target` shows `text`; fails with what it shows.
    async fn until_shown(&self, target: &str, text: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen(target);
            if screen.contains(text) {
                return screen;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "pane {target} did not show {text:?} within 30 s; it shows:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Tmux {
    /// Kills the private server and removes its socket file, which tmux
    /// leaves behind in /tmp/tmux-UID when its server is killed.
    fn drop(&mut self) {
        let socket = self
            .run(&["display-message", "-p", "#{socket_path}"])
            .stdout;
        let _ = self.run(&["kill-server"]);
        let socket = String::from_utf8_lossy(&socket).trim().to_owned();
        if !socket.is_empty() {
            let _ = std::fs::remove_file(socket);
        }
    }
}

fn repo_file(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminales_opens_four_titled_panes_in_the_notebooks_order() {
    let Some(tmux) = Tmux::new(
        "terminales",
        "las cuatro terminales en tmux (scripts/terminales.sh)",
    ) else {
        return;
    };
    let data_dir = tempfile::tempdir().unwrap();
    let bin_dir = binary("profesor").parent().unwrap().to_owned();
    let (profesor, tareo, docencio) = (free_addr(), free_addr(), free_addr());
    let out = Command::new("bash")
        .arg(repo_file("scripts/terminales.sh"))
        .arg("--no-attach")
        .env("AULA_BIN_DIR", &bin_dir)
        .env("AULA_TMUX_SOCKET", &tmux.socket)
        .env("AULA_TMUX_SESSION", "clase")
        .env("AULA_PROFESOR_BIND", profesor.to_string())
        .env("AULA_TAREO_BIND", tareo.to_string())
        .env("AULA_DOCENCIO_BIND", docencio.to_string())
        .env("AULA_DATA_DIR", data_dir.path())
        .env_remove("AULA_PROFESOR_URL")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    // Pane ids by title: one pane per role, each titled by its role.
    let panes = tmux.stdout(&[
        "list-panes",
        "-t",
        "clase",
        "-F",
        "#{pane_title} #{pane_id}",
    ]);
    let pane = |role: &str| -> String {
        panes
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{role} ")))
            .unwrap_or_else(|| panic!("no pane titled {role}: {panes}"))
            .to_owned()
    };
    assert_eq!(panes.lines().count(), 4, "{panes}");
    let pids: Vec<(&str, u32)> = ["estudiante", "docencio", "tareo", "profesor"]
        .into_iter()
        .map(|role| {
            let pid = tmux.stdout(&["display-message", "-p", "-t", &pane(role), "#{pane_pid}"]);
            (role, pid.trim().parse().expect("a pane pid"))
        })
        .collect();

    let listening = "Servidor escuchando";
    let profesor_screen = tmux.until_shown(&pane("profesor"), listening).await;
    let tareo_screen = tmux.until_shown(&pane("tareo"), listening).await;
    let docencio_screen = tmux.until_shown(&pane("docencio"), listening).await;
    let student_screen = tmux
        .until_shown(&pane("estudiante"), "Respuesta recibida")
        .await;
    // The notebook's order: each started once the one before listened. The
    // processes started in that order, and none had to wait for its peer.
    let started: Vec<u64> = pids.iter().rev().map(|&(_, pid)| start_time(pid)).collect();
    assert!(
        started.is_sorted(),
        "start times, profesor first: {started:?}"
    );
    assert!(
        !docencio_screen.contains("Esperando a Tareo"),
        "{docencio_screen}"
    );
    assert!(
        !student_screen.contains("Esperando a Docencio"),
        "{student_screen}"
    );
    assert!(
        docencio_screen.contains("Cliente conectado exitosamente a Tareo"),
        "{docencio_screen}"
    );
    assert!(
        profesor_screen.contains(listening) && tareo_screen.contains(listening),
        "both servers listen"
    );

    // Ctrl-C in the student's pane: it stops asking and prints its summary.
    tmux.stdout(&["send-keys", "-t", &pane("estudiante"), "C-c"]);
    tmux.until_shown(&pane("estudiante"), "Resumen de la clase")
        .await;
    // Then each server, from the last started: each stops cleanly.
    for role in ["docencio", "tareo"] {
        tmux.stdout(&["send-keys", "-t", &pane(role), "C-c"]);
        tmux.until_stopped_cleanly(&pane(role), "Servidor detenido")
            .await;
    }
    tmux.stdout(&["send-keys", "-t", &pane("profesor"), "C-c"]);
    tmux.until_stopped_cleanly(&pane("profesor"), "Profesor se detiene")
        .await;
    // And each process ended. (Its pid, not tmux's "Pane is dead" line:
    // tmux sometimes notices a pane's exit late.)
    for (role, pid) in pids {
        eventually(
            Duration::from_secs(15),
            &format!("{role} (pid {pid}) to exit"),
            || async move { has_exited(pid).then_some(()) },
        )
        .await;
    }
}

/// When `pid` started, in clock ticks since boot (`/proc/PID/stat`, field 22).
fn start_time(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the role runs");
    let after_name = stat.rsplit_once(") ").unwrap().1;
    // Fields from the state (field 3) on; the start time is field 22.
    after_name.split(' ').nth(19).unwrap().parse().unwrap()
}

/// True once `pid` is gone or a zombie (exited, not yet reaped by tmux).
fn has_exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_student_shows_a_progress_bar_on_a_terminal_only() {
    let class = start_class().await;
    let args = [
        "--docencio-addr".to_owned(),
        class.docencio_addr.to_string(),
        "--students".to_owned(),
        "4".to_owned(),
        "--questions".to_owned(),
        "5000".to_owned(),
        "--no-pause".to_owned(),
    ];

    // On a terminal (a tmux pane): the bar, with answers per second. Without
    // tmux this part is skipped and the rest still runs.
    if let Some(tmux) = Tmux::new("progreso", "la barra de progreso en una terminal (tmux)") {
        let mut command = vec![binary("estudiante").display().to_string()];
        command.extend(args.iter().cloned());
        tmux.stdout(&[
            "new-session",
            "-d",
            "-s",
            "bar",
            "-x",
            "160",
            "-y",
            "20",
            &command.join(" "),
        ]);
        tmux.stdout(&["set-option", "-t", "bar", "remain-on-exit", "on"]);
        let bar = tmux.until_shown("bar", " respuestas · ").await;
        let bar_line = bar
            .lines()
            .find(|line| line.contains(" respuestas · "))
            .unwrap();
        assert!(bar_line.contains("/s"), "{bar_line}");
        assert!(bar_line.contains("/20000 respuestas"), "{bar_line}");
        let done = tmux.until_shown("bar", "Resumen de la clase").await;
        assert!(done.contains("respuestas:         20000"), "{done}");
    }

    // Not on a terminal: the same run prints only the summary.
    let mut piped = RoleProcess::spawn("estudiante", &args, "warn");
    piped
        .wait_for_log("latencia:", Duration::from_secs(60))
        .await;
    let output = piped.log();
    assert!(output.starts_with("Resumen de la clase"), "{output}");
    assert!(!output.contains(" respuestas · "), "{output}");
    assert!(!output.contains('\r'), "{output:?}");
    class.docencio.stop().await;
    class.tareo.stop().await;
    class.profesor.running.stop().await;
}

/// `estudiante chat` in two terminals: what one types the other reads, with
/// its name; `/quien` lists both; Profesor's announcement shows in both;
/// `/salir` and Ctrl-C leave cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_students_chat_in_two_terminals() {
    let Some(tmux) = Tmux::new("chat", "el chat en dos terminales (tmux)") else {
        return;
    };
    let class = start_class().await;
    let saved = tempfile::tempdir().unwrap();
    let chat = |name: &str| {
        format!(
            "{} chat --nombre {name} --docencio-addr {} --dir {}",
            binary("estudiante").display(),
            class.docencio_addr,
            saved.path().join(name).display()
        )
    };
    for (session, name) in [("ana", "Ana"), ("luis", "Luis")] {
        tmux.stdout(&[
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "120",
            "-y",
            "20",
            &chat(name),
        ]);
        tmux.stdout(&["set-option", "-t", session, "remain-on-exit", "on"]);
        tmux.until_shown(session, &format!("En la sala como {name}"))
            .await;
    }
    tmux.stdout(&[
        "send-keys",
        "-t",
        "ana",
        "hola Luis, ¿hiciste la tarea?",
        "Enter",
    ]);
    let luis = tmux
        .until_shown("luis", "Ana: hola Luis, ¿hiciste la tarea?")
        .await;
    assert!(
        !luis.contains("Luis: "),
        "Luis does not hear himself: {luis}"
    );
    tmux.stdout(&["send-keys", "-t", "luis", "/quien", "Enter"]);
    tmux.until_shown("luis", "En la sala: Ana, Luis").await;

    let response = http()
        .post(format!("{}/anuncios", class.profesor.url))
        .json(&serde_json::json!({"texto": "Examen el lunes"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    for session in ["ana", "luis"] {
        tmux.until_shown(session, "Anuncio del Profesor: Examen el lunes")
            .await;
    }

    // A file Profesor sends to everyone is saved by each chat in its --dir.
    let http = http();
    let guia: Vec<u8> = (0..100_000u32).map(|n| (n % 253) as u8).collect();
    let uploaded = http
        .post(format!("{}/material?nombre=guia.pdf", class.profesor.url))
        .body(guia.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);
    let sent = http
        .post(format!("{}/material/guia.pdf/enviar", class.profesor.url))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    for (session, name) in [("ana", "Ana"), ("luis", "Luis")] {
        tmux.until_shown(session, "El Profesor envía guia.pdf")
            .await;
        tmux.until_shown(session, "guia.pdf (100000 bytes, SHA-256 comprobado)")
            .await;
        assert_eq!(
            std::fs::read(saved.path().join(name).join("guia.pdf")).unwrap(),
            guia
        );
    }

    // One leaves with /salir, the other with Ctrl-C: both exit with 0.
    for (session, keys) in [("ana", &["/salir", "Enter"][..]), ("luis", &["C-c"][..])] {
        let pid = tmux.stdout(&["display-message", "-p", "-t", session, "#{pane_pid}"]);
        let pid: u32 = pid.trim().parse().unwrap();
        let mut command = vec!["send-keys", "-t", session];
        command.extend_from_slice(keys);
        tmux.stdout(&command);
        assert_eq!(exit_status(&tmux, session, pid).await, 0, "{session}");
    }
}

/// The exit status of process `pid` (pane `session`'s), once it has exited:
/// read from its zombie's `/proc` entry before tmux reaps it, or from tmux
/// once it has (tmux may take its time to mark a pane dead).
async fn exit_status(tmux: &Tmux, session: &str, pid: u32) -> i32 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => {
                let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
                // State is field 3; the exit code (as waitpid gives it) is
                // field 52, the last.
                if fields[0] == "Z" {
                    let code: i32 = fields.last().unwrap().trim().parse().unwrap();
                    return code >> 8;
                }
            }
            // Gone: tmux reaped it, and says how it ended.
            Err(_) => {
                let dead = tmux.stdout(&[
                    "display-message",
                    "-p",
                    "-t",
                    session,
                    "#{pane_dead} #{pane_dead_status}",
                ]);
                if let Some(status) = dead.trim().strip_prefix("1 ") {
                    return status.parse().unwrap();
                }
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{pid} still runs after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
