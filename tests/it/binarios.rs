//! The real binaries and the launch script, run as a user runs them, judged
//! by what they print.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common;

use common::procesos::binary as bin;

/// A free loopback address, as the launch script's variables want it.
fn free_addr() -> String {
    common::procesos::free_addr().to_string()
}

/// `scripts/aula.sh` with the test's binaries, free ports and its own folders.
fn launcher(dir: &Path) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/aula.sh"))
        .env("AULA_BIN_DIR", bin("profesor").parent().unwrap())
        .env("AULA_PROFESOR_BIND", free_addr())
        .env("AULA_TAREO_BIND", free_addr())
        .env("AULA_DOCENCIO_BIND", free_addr())
        .env("AULA_LOG_DIR", dir.join("logs"))
        .env("AULA_DATA_DIR", dir.join("datos"))
        .env_remove("AULA_PROFESOR_URL")
        .env_remove("AULA_TAREO_ADDR")
        .env_remove("AULA_DOCENCIO_ADDR")
        .stdin(Stdio::null());
    cmd
}

fn run_with_timeout(mut cmd: Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match wait.recv_timeout(limit) {
        Ok(output) => output.expect("wait"),
        Err(_) => {
            // Stop it (the launch script stops its roles on SIGTERM) and
            // wait for that, so nothing outlives the failing test.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
            if wait.recv_timeout(Duration::from_secs(20)).is_err() {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
            }
            panic!("did not finish within {limit:?}");
        }
    }
}

/// Sends `signal` (as `kill` spells it) to `target` (a PID, or `-PGID` for
/// a process group) and waits for `child` to exit; `None` if it is still
/// running after `limit`.
fn signal_and_wait(
    child: &mut Child,
    target: &str,
    signal: &str,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    Command::new("kill")
        .args([signal, "--", target])
        .status()
        .unwrap();
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn help_lists_every_contract_flag_with_its_environment_variable() {
    let cases: [(&str, &[&str]); 4] = [
        (
            "profesor",
            &[
                "--bind",
                "AULA_PROFESOR_BIND",
                "--data-dir",
                "AULA_DATA_DIR",
            ],
        ),
        (
            "tareo",
            &[
                "--bind",
                "AULA_TAREO_BIND",
                "--profesor-url",
                "AULA_PROFESOR_URL",
            ],
        ),
        (
            "docencio",
            &[
                "--bind",
                "AULA_DOCENCIO_BIND",
                "--tareo-addr",
                "AULA_TAREO_ADDR",
                "--profesor-url",
            ],
        ),
        (
            "estudiante",
            &[
                "--docencio-addr",
                "AULA_DOCENCIO_ADDR",
                "--students",
                "--questions",
                "--no-pause",
                "--seed",
            ],
        ),
    ];
    for (name, flags) in cases {
        let output = Command::new(bin(name)).arg("--help").output().unwrap();
        assert!(output.status.success());
        let help = String::from_utf8(output.stdout).unwrap();
        for flag in flags {
            assert!(help.contains(flag), "{name} --help lacks {flag}:\n{help}");
        }
    }
}

#[test]
fn a_server_on_port_0_logs_the_port_it_got_and_stops_cleanly_on_sigterm() {
    for name in ["profesor", "tareo", "docencio"] {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(bin(name));
        command
            .args(["--bind", "127.0.0.1:0"])
            .env("AULA_DATA_DIR", dir.path());
        let (mut child, listening) = started_listening(command);
        let addr = listening_addr(&listening);
        let port = addr.rsplit(':').next().unwrap().parse::<u16>().unwrap();
        assert_ne!(port, 0, "{name}");
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
            "{name}"
        );
        let pid = child.id().to_string();
        let status = signal_and_wait(&mut child, &pid, "-TERM", Duration::from_secs(10))
            .unwrap_or_else(|| panic!("{name} still running 10 s after SIGTERM"));
        assert!(status.success(), "{name} exited with {status}");
    }
}

#[test]
fn a_busy_port_is_a_clear_error() {
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let output = Command::new(bin("tareo"))
        .args(["--bind", &addr])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("no se pudo escuchar en {addr}")),
        "{stderr}"
    );
}

#[test]
fn the_launch_script_runs_a_class_where_every_question_type_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = launcher(dir.path());
    // Debug level for aula's own lines: no line is summarised away.
    cmd.env("RUST_LOG", "info,aula=debug").args([
        "--students",
        "3",
        "--",
        "--no-pause",
        "--questions",
        "6",
        "--seed",
        "5",
        "--summary-format",
        "json",
    ]);
    let output = run_with_timeout(cmd, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for role in ["profesor", "tareo", "docencio"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(role) && l.contains("Servidor escuchando en 127.0.0.1:")),
            "{role} did not say it listens:\n{stdout}"
        );
        let log = std::fs::read_to_string(dir.path().join("logs").join(format!("{role}.log")))
            .unwrap_or_default();
        assert!(
            log.contains("Servidor escuchando en"),
            "logs/{role}.log: {log}"
        );
    }
    for question in ["Contenido", "Tarea", "Pregunta Dificil"] {
        let asked = format!("Alumno pregunta: {question}");
        let received = format!("Recibimos una pregunta: {question}");
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("estudiante") && l.contains(&asked)),
            "{asked}\n{stdout}"
        );
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("docencio") && l.contains(&received)),
            "{received}\n{stdout}"
        );
    }
    assert!(stdout.contains("Respuesta recibida: Docencio: respondiendo pregunta de contenido"));
    assert!(stdout.contains("Respuesta recibida: Respuesta del Tareo o Profesor: "));
    assert!(stdout
        .lines()
        .any(|l| l.starts_with("tareo") && l.contains("Recibimos una pregunta: Pregunta Dificil")));
    assert!(stdout
        .lines()
        .any(|l| l.starts_with("profesor") && l.contains("Respuesta a una pregunta difícil")));
    assert!(stdout
        .lines()
        .any(|l| l.starts_with("profesor") && l.contains("Llevamos: ")));
    let summary: serde_json::Value = stdout
        .lines()
        .filter(|line| line.starts_with("estudiante"))
        .find_map(|line| serde_json::from_str(&line[line.find('{')?..]).ok())
        .unwrap_or_else(|| panic!("no JSON summary from estudiante:\n{stdout}"));
    assert_eq!(summary["sent"], 18, "{summary}");
    assert_eq!(summary["answers"], 18, "{summary}");
    for none in ["errors", "wrong", "lost", "unanswered"] {
        assert_eq!(summary[none], 0, "{none}: {summary}");
    }
}

#[test]
fn the_launch_script_stops_everything_after_its_duration() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = launcher(dir.path());
    let profesor_addr = free_addr();
    cmd.env("AULA_PROFESOR_BIND", &profesor_addr)
        .args(["--students", "2", "--duration", "2"]);
    let started = Instant::now();
    let output = run_with_timeout(cmd, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
    // The students printed their summary on the way out, and nobody is left.
    assert!(
        stdout.contains("Resumen de la clase (2 estudiante(s))"),
        "{stdout}"
    );
    assert!(
        std::net::TcpStream::connect(&profesor_addr).is_err(),
        "profesor still running"
    );
}

#[test]
fn the_launch_script_reports_a_busy_port_by_role() {
    let dir = tempfile::tempdir().unwrap();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap();
    let mut cmd = launcher(dir.path());
    cmd.env("AULA_TAREO_BIND", addr.to_string());
    let output = run_with_timeout(cmd, Duration::from_secs(30));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("el puerto {} de tareo", addr.port())),
        "{stderr}"
    );
    assert!(stderr.contains("ya está en uso"), "{stderr}");
    // It names who holds the port: this test's own process.
    assert!(
        stderr.contains(&format!("por PID {} (", std::process::id())),
        "{stderr}"
    );
}

#[test]
fn the_launch_script_names_a_role_that_dies_at_start_up_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = launcher(dir.path());
    let profesor_addr = free_addr();
    cmd.env("AULA_PROFESOR_BIND", &profesor_addr)
        .env("AULA_PROFESOR_URL", "esto-no-es-una-url");
    let output = run_with_timeout(cmd, Duration::from_secs(30));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("tareo murió al iniciar"), "{stderr}");
    assert!(stderr.contains("URL de Profesor inválida"), "{stderr}");
    // What it had started is stopped again.
    assert!(
        std::net::TcpStream::connect(&profesor_addr).is_err(),
        "profesor left running"
    );
}

/// A class run by the launch script in its own process group (as a shell
/// job), its outputs read all along; the whole group is killed if the test
/// ends before the class does.
struct Class {
    script: Child,
    group: String,
    stdout: Option<std::thread::JoinHandle<String>>,
    stderr: Option<std::thread::JoinHandle<()>>,
    said: std::sync::Arc<std::sync::Mutex<String>>,
    done: bool,
}

impl Class {
    fn start(mut cmd: Command) -> Class {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut script = cmd.spawn().unwrap();
        let group = format!("-{}", script.id());
        let mut stdout = script.stdout.take().unwrap();
        let printed = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
            text
        });
        let said = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stderr = script.stderr.take().unwrap();
        let lines = said.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut said = lines.lock().unwrap();
                said.push_str(&line);
                said.push('\n');
            }
        });
        Class {
            script,
            group,
            stdout: Some(printed),
            stderr: Some(reader),
            said,
            done: false,
        }
    }

    /// What the script has said on stderr so far.
    fn said(&self) -> String {
        self.said.lock().unwrap().clone()
    }

    /// Waits until the script has said `text` on stderr; fails with what
    /// it said if not within `limit`.
    fn until_said(&self, text: &str, limit: Duration) -> String {
        let started = Instant::now();
        loop {
            let said = self.said();
            if said.contains(text) {
                return said;
            }
            assert!(
                started.elapsed() < limit,
                "aula.sh did not say {text:?} within {limit:?}:\n{said}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ctrl-C to the whole class; its exit status, stdout and stderr.
    fn interrupt(mut self) -> (std::process::ExitStatus, String, String) {
        let group = self.group.clone();
        let status = signal_and_wait(&mut self.script, &group, "-INT", Duration::from_secs(30));
        let status =
            status.unwrap_or_else(|| panic!("still running 30 s after Ctrl-C\n{}", self.said()));
        self.done = true;
        let stdout = self.stdout.take().unwrap().join().unwrap();
        self.stderr.take().unwrap().join().unwrap();
        (status, stdout, self.said())
    }
}

impl Drop for Class {
    /// A test that failed half-way: aula.sh stops what it started on
    /// SIGTERM; whatever is left after 40 s is killed, the roles (in
    /// sessions of their own) by their PIDs.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let script = self.script.id();
        let stopped = signal_and_wait(
            &mut self.script,
            &script.to_string(),
            "-TERM",
            Duration::from_secs(40),
        );
        if stopped.is_none() {
            for role in ["estudiante", "docencio", "tareo", "profesor"] {
                if let Some(pid) = child_named(script, role) {
                    let _ = Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .status();
                }
            }
            let _ = Command::new("kill")
                .args(["-KILL", "--", &self.group])
                .status();
            let _ = self.script.wait();
        }
    }
}

#[test]
fn ctrl_c_on_the_launch_script_stops_the_whole_class_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = launcher(dir.path());
    let docencio_addr = free_addr();
    cmd.env("AULA_DOCENCIO_BIND", &docencio_addr);
    let class = Class::start(cmd);
    class.until_said("clase en marcha", Duration::from_secs(60));
    // Ctrl-C on a terminal signals the script's whole process group.
    let (status, stdout, stderr) = class.interrupt();
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    assert!(stdout.contains("Resumen de la clase"), "{stdout}\n{stderr}");
    // Profesor's count is read after Docencio stopped, before Profesor does.
    assert!(
        stderr.contains("cuenta final de Profesor: "),
        "{stdout}\n{stderr}"
    );
    assert!(stderr.contains(": coinciden"), "{stdout}\n{stderr}");
    assert!(
        std::net::TcpStream::connect(&docencio_addr).is_err(),
        "docencio left running"
    );
}

/// The PID of `parent`'s child process named `name` (its `comm`).
fn child_named(parent: u32, name: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.find_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "PID (COMM) STATE PPID ...": the name may hold spaces, not ") ".
        let (head, rest) = stat.rsplit_once(") ")?;
        let comm = head.split_once(" (")?.1;
        let ppid: u32 = rest.split(' ').nth(1)?.parse().ok()?;
        (comm == name && ppid == parent).then_some(pid)
    })
}

/// `scripts/aula.sh reiniciar ROLE` for the class logging in `log_dir`.
fn reiniciar(log_dir: &Path, role: &str) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/aula.sh"))
        .args(["reiniciar", role])
        .env("AULA_LOG_DIR", log_dir)
        .stdin(Stdio::null());
    run_with_timeout(cmd, Duration::from_secs(60))
}

#[test]
fn a_role_killed_in_class_is_started_again_by_aula_sh_reiniciar() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let tareo_addr = free_addr();
    let mut cmd = launcher(dir.path());
    cmd.env("AULA_TAREO_BIND", &tareo_addr)
        .args(["--students", "2"]);
    let class = Class::start(cmd);
    class.until_said("clase en marcha", Duration::from_secs(60));

    // A role that runs is not started twice; the students end the class.
    let alive = reiniciar(&logs, "tareo");
    let said = String::from_utf8_lossy(&alive.stderr);
    assert_eq!(alive.status.code(), Some(1), "{said}");
    assert!(said.contains("tareo sigue en marcha (PID"), "{said}");
    let student = reiniciar(&logs, "estudiante");
    assert_eq!(student.status.code(), Some(2), "{student:?}");
    let unknown = reiniciar(&logs, "rector");
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");

    // kill -9, as in the demonstration in docs/fallos.md: the class says how to
    // bring Tareo back, and brings it back when asked.
    let tareo = child_named(class.script.id(), "tareo").expect("tareo is aula.sh's child");
    Command::new("kill")
        .args(["-KILL", &tareo.to_string()])
        .status()
        .unwrap();
    let said = class.until_said("scripts/aula.sh reiniciar tareo", Duration::from_secs(30));
    assert!(said.contains("tareo terminó (PID"), "{said}");
    let restarted = reiniciar(&logs, "tareo");
    let answer = String::from_utf8_lossy(&restarted.stderr);
    assert!(restarted.status.success(), "{answer}\n{}", class.said());
    assert!(answer.contains("tareo reiniciado (PID"), "{answer}");
    assert!(std::net::TcpStream::connect(&tareo_addr).is_ok());
    let new_tareo =
        child_named(class.script.id(), "tareo").expect("the new tareo is aula.sh's child");
    assert_ne!(new_tareo, tareo);
    let log = std::fs::read_to_string(logs.join("tareo.log")).unwrap();
    assert!(log.contains("tareo se inicia de nuevo"), "{log}");
    assert_eq!(log.matches("Servidor escuchando en").count(), 2, "{log}");

    // A fresh count for another class on this data folder is refused
    // while this class has it open, and nothing is removed.
    let mut other = launcher(dir.path());
    other
        .env("AULA_LOG_DIR", dir.path().join("otros-logs"))
        .arg("--nueva");
    let refused = run_with_timeout(other, Duration::from_secs(30));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(said.contains("no se borra nada"), "{said}");
    assert!(said.contains("/profesor"), "{said}");
    assert!(dir.path().join("datos/aula.sqlite3").exists());

    let (status, stdout, said) = class.interrupt();
    assert!(status.success(), "{status}\n{stdout}\n{said}");
    // The restarted Tareo stopped with the class, and the count is exact.
    assert!(
        std::net::TcpStream::connect(&tareo_addr).is_err(),
        "the restarted tareo outlived the class"
    );
    assert!(said.contains("cuenta final de Profesor: "), "{said}");
    assert!(said.contains(": coinciden"), "{stdout}\n{said}");

    let after = reiniciar(&logs, "tareo");
    let said = String::from_utf8_lossy(&after.stderr);
    assert_eq!(after.status.code(), Some(1), "{said}");
    assert!(said.contains("no hay ninguna clase en marcha"), "{said}");
}

#[test]
fn the_count_goes_on_from_class_to_class_and_nueva_starts_it_again() {
    let dir = tempfile::tempdir().unwrap();
    // Ten questions of a type Tareo answers: ten real answers per class.
    let class = |extra: &[&str], summary: &str| -> String {
        let mut cmd = launcher(dir.path());
        cmd.args(extra)
            .args(["--students", "2", "--", "--no-pause", "--questions", "5"])
            .args(["--only", "Tarea", "--summary-format", summary]);
        let output = run_with_timeout(cmd, Duration::from_secs(60));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{stdout}\n{stderr}");
        stderr
    };
    let first = class(&[], "texto");
    assert!(
        first.contains("cuenta final de Profesor: 10 preguntas respondidas"),
        "{first}"
    );
    assert!(
        first.contains("10 (0 antes de la clase + 10 respuestas reales"),
        "{first}"
    );
    assert!(first.contains("coinciden"), "{first}");
    // The students' JSON summary is read as well as their text one.
    let second = class(&[], "json");
    assert!(
        second.contains("cuenta final de Profesor: 20 preguntas respondidas"),
        "{second}"
    );
    assert!(
        second.contains("20 (10 antes de la clase + 10 respuestas reales"),
        "{second}"
    );
    let third = class(&["--nueva"], "texto");
    assert!(third.contains("--nueva: borrado de"), "{third}");
    assert!(third.contains("aula.sqlite3"), "{third}");
    assert!(third.contains("docencio-"), "{third}");
    assert!(
        third.contains("cuenta final de Profesor: 10 preguntas respondidas"),
        "{third}"
    );
    assert!(third.contains("10 (0 antes de la clase + 10"), "{third}");
}

#[test]
fn a_bad_flag_for_estudiante_is_reported_as_a_role_that_failed_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = launcher(dir.path());
    let profesor_addr = free_addr();
    cmd.env("AULA_PROFESOR_BIND", &profesor_addr)
        .args(["--", "--bogus"]);
    let output = run_with_timeout(cmd, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("estudiante murió al iniciar"), "{stderr}");
    // Its last lines, with clap's complaint.
    assert!(stderr.contains("--bogus"), "{stderr}");
    assert!(!stderr.contains("clase en marcha"), "{stderr}");
    assert!(
        std::net::TcpStream::connect(&profesor_addr).is_err(),
        "profesor left running"
    );
}

/// A stand-in Docencio that answers every question of every client with
/// `answer`; returns its address.
fn answering_with(answer: &'static [u8]) -> String {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut header = [0u8; 4];
                while stream.read_exact(&mut header).is_ok() {
                    let mut body = vec![0u8; u32::from_be_bytes(header) as usize];
                    if stream.read_exact(&mut body).is_err() {
                        return;
                    }
                    let mut frame = (answer.len() as u32).to_be_bytes().to_vec();
                    frame.extend_from_slice(answer);
                    if stream.write_all(&frame).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr.to_string()
}

#[test]
fn estudiante_exits_1_when_answers_are_wrong_for_their_questions() {
    // Every answer is the same wrong text, as the notebook's Docencio sends
    // with Tareo's length bytes inside the answer.
    let addr = answering_with(
        b"Respuesta del Tareo o Profesor: \x00\x00\x00\x1b No puedes usar esa libreria",
    );
    let output = Command::new(bin("estudiante"))
        .args(["--docencio-addr", &addr, "--questions", "3", "--no-pause"])
        .args(["--only", "Tarea"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("incorrectas: 3"), "{stdout}");
}

#[test]
fn estudiante_prints_its_summary_as_one_json_line_for_scripts() {
    let addr = answering_with(aula::wire::texts::CONTENIDO_ANSWER.as_bytes());
    let output = Command::new(bin("estudiante"))
        .args([
            "--docencio-addr",
            &addr,
            "--students",
            "3",
            "--questions",
            "4",
        ])
        .args([
            "--no-pause",
            "--only",
            "Contenido",
            "--summary-format",
            "json",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for (field, expected) in [
        ("students", 3),
        ("sent", 12),
        ("answers", 12),
        ("connections", 3),
    ] {
        assert_eq!(summary[field], expected, "{field}: {stdout}");
    }
    for field in ["errors", "wrong", "relayed", "lost", "unanswered"] {
        assert_eq!(summary[field], 0, "{field}: {stdout}");
    }
    let rate = summary["answers_per_s"].as_f64().unwrap();
    let p50 = summary["p50_ms"].as_f64().unwrap();
    let max = summary["max_ms"].as_f64().unwrap();
    assert!(rate > 0.0 && p50 > 0.0 && max >= p50, "{stdout}");
}

#[test]
fn with_connect_first_no_student_asks_before_the_whole_class_is_connected() {
    const STUDENTS: usize = 4;
    // A listen queue of one: the first students connect at once, the others
    // only when their SYN is sent again, a second or more later.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        socket.listen(1).unwrap().into_std().unwrap()
    });
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut students = Command::new(bin("estudiante"))
        .args([
            "--docencio-addr",
            &addr,
            "--students",
            &STUDENTS.to_string(),
        ])
        .args(["--questions", "1", "--no-pause", "--connect-first"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut connected = Vec::new();
    let mut buffer = [0u8; 4];
    let asked = loop {
        while let Ok((stream, _)) = listener.accept() {
            stream.set_nonblocking(true).unwrap();
            connected.push(stream);
        }
        if connected
            .iter()
            .any(|stream| stream.peek(&mut buffer).is_ok_and(|n| n > 0))
        {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // A question has arrived: by then every student that had connected is
    // accepted or waiting in the listen queue.
    while let Ok((stream, _)) = listener.accept() {
        connected.push(stream);
    }
    let _ = students.kill();
    let _ = students.wait();
    assert!(asked, "no question within 30 s");
    assert_eq!(
        connected.len(),
        STUDENTS,
        "a question came before the whole class was connected"
    );
}

/// Starts a server `command` and returns once it logs that it listens, with
/// that line; the rest of its log is read (and dropped) so it never blocks
/// on a full pipe.
/// The address in a listening line.
fn listening_addr(line: &str) -> String {
    let (_, addr) = line.split_once(aula::wire::texts::LISTENING).unwrap();
    addr.trim().to_owned()
}

fn started_listening(mut command: Command) -> (Child, String) {
    let mut server = command
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let listening = loop {
        let line = lines.next().expect("exited before listening").unwrap();
        if line.contains("Servidor escuchando") {
            break line;
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (server, listening)
}

#[test]
fn docencio_serves_more_clients_than_its_soft_open_files_limit_at_start() {
    // Started with a soft limit of 256 descriptors, Docencio raises it
    // itself (to the hard limit) and serves 400 students at once.
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(format!(
            "ulimit -Sn 256 && exec {} --bind 127.0.0.1:0",
            bin("docencio").display()
        ))
        .current_dir(dir.path());
    let (mut docencio, listening) = started_listening(command);
    let addr = listening_addr(&listening);
    let mut students = Vec::new();
    for _ in 0..400 {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        use std::io::Write;
        stream.write_all(&[0, 0, 0, 9]).unwrap();
        stream.write_all(b"Contenido").unwrap();
        students.push(stream);
    }
    for stream in &mut students {
        use std::io::Read;
        let mut header = [0u8; 4];
        stream
            .read_exact(&mut header)
            .expect("every student is answered");
        let mut body = vec![0; u32::from_be_bytes(header) as usize];
        stream.read_exact(&mut body).unwrap();
        assert_eq!(body, aula::wire::texts::CONTENIDO_ANSWER.as_bytes());
    }
    drop(students);
    let pid = docencio.id().to_string();
    let status = signal_and_wait(&mut docencio, &pid, "-TERM", Duration::from_secs(10))
        .expect("docencio stops");
    assert!(status.success());
}

/// Resident memory of process `pid` in bytes, from /proc (Linux).
fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

#[test]
fn a_connected_student_costs_docencio_a_few_kib() {
    use std::io::{Read, Write};
    const STUDENTS: usize = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(bin("docencio"));
    command
        .args(["--bind", "127.0.0.1:0"])
        .current_dir(dir.path());
    let (mut docencio, listening) = started_listening(command);
    let addr = listening_addr(&listening);
    let ask = |stream: &mut std::net::TcpStream| {
        stream.write_all(b"\0\0\0\x09Contenido").unwrap();
        let mut header = [0u8; 4];
        stream.read_exact(&mut header).unwrap();
        let mut body = vec![0; u32::from_be_bytes(header) as usize];
        stream.read_exact(&mut body).unwrap();
        assert_eq!(body, aula::wire::texts::CONTENIDO_ANSWER.as_bytes());
    };
    // A first class, gone, warms up what is made once.
    for _ in 0..2 {
        let mut students = Vec::new();
        for _ in 0..STUDENTS / 4 {
            let mut stream = std::net::TcpStream::connect(&addr).unwrap();
            ask(&mut stream);
            students.push(stream);
        }
    }
    let before = rss_of(docencio.id());
    let mut students = Vec::new();
    for _ in 0..STUDENTS {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        ask(&mut stream);
        students.push(stream);
    }
    let per_student = rss_of(docencio.id()).saturating_sub(before) / STUDENTS as u64;
    drop(students);
    let pid = docencio.id().to_string();
    let _ = signal_and_wait(&mut docencio, &pid, "-TERM", Duration::from_secs(10));
    // Its buffers start small: with the codec's default 8 KiB each way, a
    // student cost about 11 KiB; now about 3.
    assert!(
        per_student < 6 * 1024,
        "{per_student} bytes per connected student"
    );
}
