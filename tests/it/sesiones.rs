//! Sesiones de ejecución: the course's flow (start, write, read, end) and
//! every attack a stranger's code could try, each contained and said.
//! Sessions run the real sandbox (the built `profesor` is the trampoline).
//! These tests run one at a time: they count the processes sessions leave.

use crate::common;

use std::time::Duration;

use aula::profesor;
use aula::sesiones::{Limites, SesionesConfig};
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// One test at a time: they look at every process of the session users.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Python as sessions run it, or `None` (the test says it is skipped).
fn python_available() -> bool {
    let found = std::process::Command::new("python3")
        .arg("-c")
        .arg("pass")
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        assert!(
            !common::herramientas::must_run(),
            "sin python3: como root o con CI=true esta prueba no se omite"
        );
        eprintln!("omitido: sin python3");
    }
    found
}

async fn profesor_with(limites: Limites, max_sesiones: usize) -> ProfesorHandle {
    let profesor = start_profesor_with(profesor::Config {
        sesiones: Some(SesionesConfig {
            limites,
            max_sesiones,
            trampolin: Some(env!("CARGO_BIN_EXE_profesor").into()),
            ..SesionesConfig::default()
        }),
        ..profesor::Config::default()
    })
    .await;
    // Up (and the sandbox probed) once it answers.
    let listed = http()
        .get(format!("{}/api/sesiones", profesor.url))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    profesor
}

async fn start(url: &str, code: &str) -> reqwest::Response {
    http()
        .post(format!("{url}/api/start"))
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap()
}

async fn started(url: &str, code: &str) -> String {
    let response = start(url, code).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["session_id"].as_str().unwrap().to_owned()
}

async fn write(url: &str, id: &str, line: &str) -> reqwest::Response {
    http()
        .post(format!("{url}/api/write"))
        .json(&json!({"session_id": id, "line": line}))
        .send()
        .await
        .unwrap()
}

async fn read(url: &str, id: &str) -> (StatusCode, Value) {
    let response = http()
        .get(format!("{url}/api/read"))
        .query(&[("session_id", id)])
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

/// Reads until `done` holds for everything read so far (or the session
/// ended); returns it all and whether it is still alive.
async fn read_until(
    url: &str,
    id: &str,
    wait: Duration,
    done: impl Fn(&str) -> bool,
) -> (String, bool) {
    let deadline = tokio::time::Instant::now() + wait;
    let mut all = String::new();
    loop {
        let (status, body) = read(url, id).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        all.push_str(body["output"].as_str().unwrap());
        let alive = body["alive"].as_bool().unwrap();
        if done(&all) || !alive {
            return (all, alive);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {wait:?}; read: {all}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Processes of the session users (when Profesor is root) still alive.
fn session_processes() -> Vec<String> {
    let base = aula::sesiones::SESSION_UID_BASE;
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let uid = status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|uids| uids.split_whitespace().next())
            .and_then(|uid| uid.parse::<u32>().ok());
        if uid.is_some_and(|uid| (base..base + 10_000_000).contains(&uid)) {
            let name = status.lines().next().unwrap_or_default().to_owned();
            found.push(format!("{} {name}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

async fn until_no_session_processes() {
    eventually(
        Duration::from_secs(10),
        "every process of the sessions gone",
        || async { session_processes().is_empty().then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_courses_flow_start_write_read_end() {
    let _serial = SERIAL.lock().await;
    if !python_available() {
        return;
    }
    let profesor = profesor_with(Limites::default(), 4).await;
    let url = &profesor.url;
    let id = started(url, "x = 20\nprint('hola', x + 1)").await;
    let (output, alive) = read_until(url, &id, Duration::from_secs(20), |out| {
        out.contains("hola 21")
    })
    .await;
    assert!(alive, "{output}");
    let ok = write(url, &id, "print(x * 2)").await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.json::<Value>().await.unwrap(), json!({"ok": true}));
    let (output, _) = read_until(url, &id, Duration::from_secs(20), |out| out.contains("40")).await;
    assert!(output.contains("40"), "{output}");
    let listed: Value = http()
        .get(format!("{url}/api/sesiones"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["sesiones"][0]["session_id"], id.as_str());
    assert_eq!(listed["sesiones"][0]["limites"]["cpu_s"], 30);
    assert!(
        listed["encierro"].as_str().unwrap().contains("Landlock"),
        "{listed}"
    );

    // It ends (exit()), is read to the end, then forgotten, as in the course.
    write(url, &id, "exit()").await;
    let (_, alive) = read_until(url, &id, Duration::from_secs(20), |_| false).await;
    assert!(!alive);
    let (status, _) = read_until_gone(url, &id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let unknown = write(url, "no-existe", "1").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.json::<Value>().await.unwrap(),
        json!({"error": "Sesión no encontrada"})
    );
    let (status, body) = read(url, "no-existe").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"error": "Sesión no encontrada"}));
    until_no_session_processes().await;
}

/// Reads a finished session until it is forgotten (404).
async fn read_until_gone(url: &str, id: &str) -> (StatusCode, Value) {
    for _ in 0..10 {
        let (status, body) = read(url, id).await;
        if status == StatusCode::NOT_FOUND {
            return (status, body);
        }
    }
    panic!("a finished session read to its end is forgotten");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_off_unless_asked_for() {
    let profesor = start_profesor().await;
    let response = start(&profesor.url, "print(1)").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("--sesiones"),
        "{body}"
    );
}

/// A body over the sessions' limit is refused with 413 and a message about
/// that request (not the count's `{"cantidad": k}`), before any session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_gets_413_naming_the_request() {
    let profesor = profesor_with(Limites::default(), 1).await;
    let line = "x".repeat(300 * 1024);
    let response = write(&profesor.url, "no-existe", &line).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("POST /api/write"), "{body}");
    assert!(!error.contains("cantidad"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_loop_ends_at_its_cpu_limit() {
    let _serial = SERIAL.lock().await;
    if !python_available() {
        return;
    }
    let profesor = profesor_with(
        Limites {
            cpu_s: 2,
            ..Limites::default()
        },
        4,
    )
    .await;
    let id = started(&profesor.url, "while True: pass").await;
    let (output, alive) = read_until(&profesor.url, &id, Duration::from_secs(30), |_| false).await;
    assert!(!alive);
    assert!(output.contains("CPU"), "{output}");
    until_no_session_processes().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_files_output_network_and_other_folders_are_out_of_reach() {
    let _serial = SERIAL.lock().await;
    if !python_available() {
        return;
    }
    let limites = Limites {
        memoria_bytes: 512 * 1024 * 1024,
        archivo_bytes: 1024 * 1024,
        ..Limites::default()
    };
    let profesor = profesor_with(limites, 4).await;
    let url = &profesor.url;
    let secret = profesor.data_dir.path().join("secreto.txt");
    std::fs::write(&secret, "no").unwrap();
    let id = started(url, "import os, socket").await;
    let listed: Value = http()
        .get(format!("{url}/api/sesiones"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let landlock = listed["encierro"]
        .as_str()
        .unwrap()
        .contains("se lee): completo");
    if !landlock {
        eprintln!("sin Landlock completo en este núcleo: no se prueba que /tmp no se pueda leer");
    }
    let attempts = [
        // A memory hog: refused, the session goes on.
        ("x = bytearray(4 * 1024**3)", "MemoryError"),
        // A huge file: cut at its limit.
        (
            "f = open('grande', 'wb'); f.write(b'x' * 10**7)",
            "File too large",
        ),
        (
            "print('tamaño', os.path.getsize('grande'))",
            "tamaño 1048576",
        ),
        // The network: nothing to reach, not even Profesor on loopback.
        (
            &format!(
                "socket.create_connection(('127.0.0.1', {}), timeout=2)",
                profesor.addr.port()
            ),
            "Error",
        ),
        // Outside its folder: Profesor's data, /tmp, /root cannot be read.
        (
            &format!("open({:?}).read()", secret.display().to_string()),
            "PermissionError",
        ),
        if landlock {
            ("os.listdir('/tmp')", "PermissionError")
        } else {
            ("print('sin landlock')", "sin landlock")
        },
        ("open('/etc/escrito', 'w')", "Error"),
        // A database's Unix socket, io_uring, the terminal Profesor was
        // started from, Profesor's command line, the rest of /etc: closed.
        (
            "socket.socket(socket.AF_UNIX).connect('/run/postgresql/.s.PGSQL.5432')",
            "PermissionError",
        ),
        ("os.open('/dev/tty', os.O_RDONLY)", "Error"),
        (
            "open(f'/proc/{os.getppid()}/cmdline').read()",
            "PermissionError",
        ),
        ("os.listdir('/etc')", "PermissionError"),
        ("os.kill(os.getppid(), 0)", "PermissionError"),
        // What programs need still works.
        (
            "open(os.devnull, 'w').write('x'); print('nulo bien')",
            "nulo bien",
        ),
        ("print('sigo', 1 + 1)", "sigo 2"),
    ];
    for (line, expected) in attempts {
        write(url, &id, line).await;
        let (output, alive) = read_until(url, &id, Duration::from_secs(20), |out| {
            out.contains(expected)
        })
        .await;
        assert!(alive, "{line}: {output}");
        assert!(!output.contains("'no'"), "{line} read the secret: {output}");
    }
    assert!(!std::path::Path::new("/etc/escrito").exists());

    // An output flood is kept bounded and said.
    write(url, &id, "print('y' * 10**7)").await;
    let (output, _) = read_until(url, &id, Duration::from_secs(20), |out| {
        out.contains("se descartaron")
    })
    .await;
    assert!(
        output.len() < 200 * 1024,
        "{} bytes in one read",
        output.len()
    );
    http()
        .post(format!("{url}/api/stop"))
        .json(&json!({"session_id": id}))
        .send()
        .await
        .unwrap();
    until_no_session_processes().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_bomb_is_contained_and_no_child_survives_the_session() {
    let _serial = SERIAL.lock().await;
    if !python_available() {
        return;
    }
    let profesor = profesor_with(
        Limites {
            procesos: 16,
            ..Limites::default()
        },
        4,
    )
    .await;
    let url = &profesor.url;
    // A child that leaves the group (setsid) and sleeps: it must still go.
    let id = started(
        url,
        "import os, subprocess\np = subprocess.Popen(['setsid', 'sleep', '300'])\nprint('hijo', p.pid)",
    )
    .await;
    read_until(url, &id, Duration::from_secs(20), |out| {
        out.contains("hijo")
    })
    .await;
    // A fork bomb: forks fail at the limit; Profesor answers meanwhile.
    write(url, &id, "import os\nfor _ in range(10000):\n    try:\n        os.fork()\n    except OSError as e:\n        print('límite', e); break\n").await;
    write(url, &id, "").await;
    let started_at = tokio::time::Instant::now();
    let (output, _) = read_until(url, &id, Duration::from_secs(30), |out| {
        out.contains("límite")
    })
    .await;
    assert!(output.contains("límite"), "{output}");
    assert!(started_at.elapsed() < Duration::from_secs(30));
    if nix::unistd::geteuid().is_root() {
        let alive = session_processes();
        assert!(alive.len() <= 16 + 1, "{alive:?}");
    }
    let stopped = http()
        .post(format!("{url}/api/stop"))
        .json(&json!({"session_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(stopped.status(), StatusCode::OK);
    until_no_session_processes().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_a_thousand_starts_gets_429_past_the_limit_and_leaks_nothing() {
    let _serial = SERIAL.lock().await;
    if !python_available() {
        return;
    }
    let profesor = profesor_with(Limites::default(), 4).await;
    let url = profesor.url.clone();
    let folders = || -> std::collections::BTreeSet<std::ffi::OsString> {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .map(|entry| entry.file_name())
            .filter(|name| name.to_string_lossy().starts_with("aula-sesion-"))
            .collect()
    };
    let before = folders();
    let mut starts = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let url = url.clone();
        starts.spawn(async move {
            let response = start(&url, "print('x')").await;
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            (status, body)
        });
    }
    let (mut ok, mut busy) = (Vec::new(), 0);
    while let Some(done) = starts.join_next().await {
        let (status, body) = done.unwrap();
        match status {
            StatusCode::OK => ok.push(body["session_id"].as_str().unwrap().to_owned()),
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(
                    body["error"].as_str().unwrap().contains("sesiones"),
                    "{body}"
                );
                busy += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(ok.len(), 4);
    assert_eq!(busy, 996);
    for id in &ok {
        http()
            .post(format!("{url}/api/stop"))
            .json(&json!({"session_id": id}))
            .send()
            .await
            .unwrap();
        let (_, alive) = read_until(&url, id, Duration::from_secs(20), |_| false).await;
        assert!(!alive);
    }
    until_no_session_processes().await;
    // Its folders are gone too (others' may come and go meanwhile).
    eventually(
        Duration::from_secs(10),
        "the sessions' folders removed",
        || async {
            let left: Vec<_> = folders().difference(&before).cloned().collect();
            left.is_empty().then_some(())
        },
    )
    .await;
}

/// `estudiante sesion ARCHIVO.py` runs a file through the API and prints
/// what it prints; its exit status says whether the program failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn estudiante_sesion_runs_a_file_and_streams_its_output() {
    let _serial = SERIAL.lock().await;
    if !python_available() {
        return;
    }
    let profesor = profesor_with(Limites::default(), 4).await;
    let folder = tempfile::tempdir().unwrap();
    let good = folder.path().join("bien.py");
    std::fs::write(
        &good,
        "for i in range(3):\n    print('vuelta', i)\n\nprint('listo')\n",
    )
    .unwrap();
    let bad = folder.path().join("mal.py");
    std::fs::write(&bad, "import sys\nprint('antes')\nsys.exit(3)\n").unwrap();
    let run = |file: std::path::PathBuf| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_estudiante"))
            .arg("sesion")
            .arg(file)
            .args(["--profesor-url", &profesor.url])
            .kill_on_drop(true)
            .output()
    };
    let output = tokio::time::timeout(Duration::from_secs(60), run(good))
        .await
        .unwrap()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{printed}");
    assert!(
        printed.contains("vuelta 0\nvuelta 1\nvuelta 2\n"),
        "{printed}"
    );
    assert!(printed.contains("listo"), "{printed}");
    assert!(!printed.contains(">>>"), "{printed}");
    let output = tokio::time::timeout(Duration::from_secs(60), run(bad))
        .await
        .unwrap()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(printed.contains("antes"), "{printed}");
    assert!(printed.contains("salió con código 3"), "{printed}");
    until_no_session_processes().await;
}

/// Profesor stopping ends every session, with what they started, and
/// removes their folders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_profesor_ends_every_session_and_removes_its_folder() {
    let _serial = SERIAL.lock().await;
    if !python_available() {
        return;
    }
    let profesor = profesor_with(Limites::default(), 4).await;
    let url = profesor.url.clone();
    let mut folders = Vec::new();
    for _ in 0..2 {
        let id = started(
            &url,
            "import os, subprocess\nsubprocess.Popen(['setsid', 'sleep', '300'])\nprint('aquí', os.getcwd())",
        )
        .await;
        let (output, _) = read_until(&url, &id, Duration::from_secs(20), |out| {
            out.contains("aquí")
        })
        .await;
        let folder = output
            .split("aquí ")
            .nth(1)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_owned();
        assert!(std::path::Path::new(&folder).exists(), "{folder}");
        folders.push(folder);
    }
    profesor.running.stop().await;
    until_no_session_processes().await;
    for folder in folders {
        assert!(
            !std::path::Path::new(&folder).exists(),
            "{folder} left behind"
        );
    }
}

/// The CPU and memory limits are the session's, not each process's:
/// four processes burning CPU together end at the session's seconds, and
/// four taking memory together cannot pass the session's limit (where
/// control groups exist: Profesor says so at start).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_for_the_session_as_a_whole() {
    let _serial = SERIAL.lock().await;
    if !python_available() {
        return;
    }
    let limites = Limites {
        cpu_s: 2,
        memoria_bytes: 256 * 1024 * 1024,
        ..Limites::default()
    };
    let profesor = profesor_with(limites, 4).await;
    let url = &profesor.url;
    let listed: Value = http()
        .get(format!("{url}/api/sesiones"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let encierro = listed["encierro"].as_str().unwrap().to_owned();
    if !encierro.contains("de toda la sesión") {
        assert!(
            !nix::unistd::geteuid().is_root()
                || !std::path::Path::new("/sys/fs/cgroup/memory").exists(),
            "{encierro}"
        );
        eprintln!("sin grupos de control: {encierro}");
        return;
    }
    // Four children, 200 MiB each, against 256 MiB for the session.
    let id = started(
        url,
        "import os, time\nkids = []\nfor i in range(4):\n    pid = os.fork()\n    if pid == 0:\n        try:\n            b = bytearray(200 * 1024 * 1024)\n            print('lleno', i, flush=True)\n            time.sleep(3)\n        finally:\n            os._exit(0)\n    kids.append(pid)\nfor pid in kids:\n    os.waitpid(pid, 0)\nprint('esperados')",
    )
    .await;
    let (output, _) = read_until(url, &id, Duration::from_secs(30), |out| {
        out.contains("esperados")
    })
    .await;
    let filled = output.matches("lleno").count();
    assert!(
        filled < 4,
        "four processes of 200 MiB in a 256 MiB session: {output}"
    );
    http()
        .post(format!("{url}/api/stop"))
        .json(&json!({"session_id": id}))
        .send()
        .await
        .unwrap();

    // Four children burning CPU: 0.5 s each would pass a per-process limit
    // of 2 s forever; the session ends at 2 s of them all.
    let started_at = tokio::time::Instant::now();
    let id = started(
        url,
        "import os\nfor i in range(4):\n    if os.fork() == 0:\n        while True: pass\n\nimport time\ntime.sleep(60)",
    )
    .await;
    let (output, alive) = read_until(url, &id, Duration::from_secs(30), |_| false).await;
    assert!(!alive);
    assert!(output.contains("CPU"), "{output}");
    assert!(
        started_at.elapsed() < Duration::from_secs(20),
        "{:?}",
        started_at.elapsed()
    );
    until_no_session_processes().await;
}
