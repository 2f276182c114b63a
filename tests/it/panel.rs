//! The live panel (`GET /panel`) in a real browser: Debian's headless
//! Chromium, driven over WebDriver (chromedriver, through `fantoccini`),
//! while students ask. The numbers on the page must move by themselves.
//!
//! Needs chromium and chromium-driver (`scripts/test.sh` installs them when
//! it can); without them the test says it is skipped, except as root or
//! under CI=true, where it fails. A screenshot is left in the test's target
//! folder (the picture in docs/operaciones.md, docs/panel.png, is one of these).

use crate::common;

use std::process::Stdio;
use std::time::Duration;

use aula::estudiante;
use common::procesos::free_addr;
use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const CHROMEDRIVER: &str = "chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver on a free port, killed when dropped.
async fn start_chromedriver() -> (Child, String) {
    let port = free_addr().port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|err| {
            panic!("{CHROMEDRIVER} could not start ({err}): apt-get install chromium chromium-driver (scripts/test.sh does it when it can)")
        });
    eventually(
        Duration::from_secs(20),
        "chromedriver to listen",
        || async { TcpStream::connect(("127.0.0.1", port)).await.ok().map(drop) },
    )
    .await;
    (child, format!("http://127.0.0.1:{port}"))
}

/// Headless Chromium with the flags this machine needs: no sandbox (root
/// in CI), no GPU, and none of the background connections a closed
/// network refuses.
async fn open_browser(webdriver: &str, profile: &std::path::Path) -> Client {
    let options = serde_json::json!({
        "binary": CHROMIUM,
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--window-size=1280,860",
            format!("--user-data-dir={}", profile.display()),
        ],
    });
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".to_owned(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(webdriver)
        .await
        .expect("a Chromium session")
}

async fn number(browser: &Client, id: &str) -> Option<u64> {
    let text = browser
        .find(Locator::Id(id))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    // Thousands separators ("1.234" in Spanish) are for people.
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panel_shows_the_class_moving_in_a_real_browser() {
    if !common::herramientas::tools_present(
        "el panel en un navegador real (tests/panel.rs)",
        &[CHROMIUM, CHROMEDRIVER],
    ) {
        return;
    }
    let class = start_class().await;
    let (_chromedriver, webdriver) = start_chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let browser = open_browser(&webdriver, profile.path()).await;
    browser
        .goto(&format!("{}/panel", class.profesor.url))
        .await
        .unwrap();
    assert_eq!(browser.title().await.unwrap(), "aula · panel de la clase");

    // Forty students with the notebook's pauses (about ten questions a second).
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let students = tokio::spawn(estudiante::run(
        estudiante::Config {
            docencio_addrs: vec![class.docencio_addr.to_string()],
            students: 40,
            ..estudiante::Config::default()
        },
        async move {
            let _ = stopped.await;
        },
    ));

    // The page reads /estado by itself once a second: its numbers move.
    let first = eventually(
        Duration::from_secs(30),
        "the panel to count answers",
        || async { number(&browser, "total").await.filter(|&total| total > 0) },
    )
    .await;
    let later = eventually(
        Duration::from_secs(30),
        "the panel's total to grow",
        || async {
            number(&browser, "total")
                .await
                .filter(|&total| total > first)
        },
    )
    .await;
    assert!(later > first);
    let asked = eventually(
        Duration::from_secs(30),
        "per-type counts on the panel",
        || async {
            let counts = [
                number(&browser, "cuenta-Contenido").await?,
                number(&browser, "cuenta-Tarea").await?,
                number(&browser, "cuenta-Pregunta Dificil").await?,
            ];
            counts.iter().all(|&count| count > 0).then_some(counts)
        },
    )
    .await;
    eventually(Duration::from_secs(30), "a rate above zero", || async {
        let rate = number(&browser, "ritmo-total").await?;
        (rate > 0).then_some(())
    })
    .await;
    let roles = browser
        .find(Locator::Id("roles"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        roles.contains(&format!(
            "docencio en {} (máquina {}): 40 estudiantes",
            class.docencio_addr,
            aula::machine::name().unwrap()
        )),
        "{roles}"
    );
    assert!(
        roles.contains(&format!("tareo en {}", class.tareo_addr)),
        "{roles}"
    );

    // The page counts what Profesor counts.
    let shown = number(&browser, "total").await.unwrap();
    assert!(shown <= profesor_total(&class.profesor.url).await);
    assert!(asked.iter().sum::<u64>() >= shown);

    // A few more seconds of class, so the picture has a chart.
    eventually(Duration::from_secs(30), "40 more answers", || async {
        number(&browser, "total")
            .await
            .filter(|&total| total >= shown + 40)
    })
    .await;
    // Announcing from the page reaches a student in the sala, and the
    // page's live view of the sala shows it.
    let mut ana = common::Client::connect(class.docencio_addr).await;
    ana.send(r#"{"operacion":"hola","data":{"nombre":"Ana"}}"#)
        .await;
    assert!(ana.read().await.contains("\"estado\":\"ok\""));
    browser
        .find(Locator::Id("anuncio-texto"))
        .await
        .unwrap()
        .send_keys("Examen el lunes")
        .await
        .unwrap();
    browser
        .find(Locator::Id("anuncio-enviar"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let pushed: serde_json::Value = serde_json::from_str(&ana.read().await).unwrap();
    assert_eq!(pushed["operacion"], "anuncio");
    assert_eq!(pushed["data"]["texto"], "Examen el lunes");
    eventually(
        Duration::from_secs(10),
        "the announcement in the page's sala",
        || async {
            let sala = browser
                .find(Locator::Id("sala"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            sala.contains("Anuncio del Profesor: Examen el lunes")
                .then_some(())
        },
    )
    .await;
    let said = browser
        .find(Locator::Id("anuncio-resultado"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(said.starts_with("Anunciado"), "{said}");

    let screenshot = browser.screenshot().await.unwrap();
    let picture = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("panel.png");
    std::fs::write(&picture, screenshot).unwrap();
    browser.close().await.unwrap();

    let _ = stop.send(());
    let summary = students.await.unwrap();
    assert_eq!(summary.total.wrong, 0, "{summary}");
    class.docencio.stop().await;
    class.tareo.stop().await;
    class.profesor.running.stop().await;
}

/// The panel's console runs code in a session: typed lines go to
/// `/api/start` and `/api/write`, what the session prints shows up, and
/// "Terminar" ends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panels_console_runs_code_in_a_session() {
    if !common::herramientas::tools_present(
        "la consola del panel en un navegador real (tests/panel.rs)",
        &[CHROMIUM, CHROMEDRIVER, "python3"],
    ) {
        return;
    }
    let profesor = start_profesor_with(aula::profesor::Config {
        sesiones: Some(aula::sesiones::SesionesConfig {
            trampolin: Some(env!("CARGO_BIN_EXE_profesor").into()),
            ..aula::sesiones::SesionesConfig::default()
        }),
        ..aula::profesor::Config::default()
    })
    .await;
    let (_chromedriver, webdriver) = start_chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let browser = open_browser(&webdriver, profile.path()).await;
    browser
        .goto(&format!("{}/panel", profesor.url))
        .await
        .unwrap();
    for line in ["x = 6", "print('resultado', x * 7)"] {
        let field = browser.find(Locator::Id("consola-linea")).await.unwrap();
        field.send_keys(line).await.unwrap();
        browser
            .find(Locator::Id("consola-enviar"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // The first line starts the session: wait for it before the next.
        eventually(Duration::from_secs(20), "the console's session", || async {
            let estado = browser
                .find(Locator::Id("consola-estado"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            estado.starts_with("Sesión ").then_some(())
        })
        .await;
    }
    eventually(
        Duration::from_secs(20),
        "the session's output on the page",
        || async {
            let salida = browser
                .find(Locator::Id("consola-salida"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            salida.contains("resultado 42").then_some(())
        },
    )
    .await;
    browser
        .find(Locator::Id("consola-terminar"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually(Duration::from_secs(20), "the session ended", || async {
        let estado = browser
            .find(Locator::Id("consola-estado"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        estado.starts_with("Sin sesión").then_some(())
    })
    .await;
    let listed: serde_json::Value = http()
        .get(format!("{}/api/sesiones", profesor.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        listed["sesiones"]
            .as_array()
            .unwrap()
            .iter()
            .all(|sesion| sesion["alive"] == false),
        "{listed}"
    );
    browser.close().await.unwrap();
    profesor.running.stop().await;
}
