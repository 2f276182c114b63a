//! Helpers to start the real roles in-process on port 0 and talk to them as
//! a student (or as Docencio talking to Tareo) would.

pub mod herramientas;
pub mod postgres;
pub mod procesos;
pub mod red;

use std::net::SocketAddr;
use std::time::Duration;

use aula::server::ServerLimits;
use aula::{docencio, profesor, tareo};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_util::codec::Framed;

/// Stops a role when dropped or told to, and lets the test wait for it.
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    fn spawn<F>(run: impl FnOnce(oneshot::Receiver<()>) -> F) -> Self
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(stopped));
        Running {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Asks the role to shut down and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            timeout(Duration::from_secs(15), task)
                .await
                .expect("role did not stop within 15 s")
                .expect("role task panicked");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn signal(stopped: oneshot::Receiver<()>) {
    let _ = stopped.await;
}

pub fn init_logs() {
    aula::telemetry::init_for_tests();
}

/// Profesor on a free port, with its own data folder.
pub struct ProfesorHandle {
    pub url: String,
    pub addr: SocketAddr,
    pub running: Running,
    /// Shared with Profesor's task, so the folder is removed only once both
    /// the test and Profesor are done with it (a folder removed under a
    /// running Profesor was left behind, recreated, in /tmp).
    pub data_dir: std::sync::Arc<tempfile::TempDir>,
}

pub async fn start_profesor() -> ProfesorHandle {
    let listener = aula::server::listen("127.0.0.1:0")
        .await
        .unwrap()
        .into_std()
        .unwrap();
    start_profesor_on(listener)
}

pub fn start_profesor_on(listener: std::net::TcpListener) -> ProfesorHandle {
    start_profesor_in(listener, std::sync::Arc::new(tempfile::tempdir().unwrap()))
}

/// Profesor on `listener`, keeping its count in `data_dir` (perhaps left
/// by an earlier Profesor).
pub fn start_profesor_in(
    listener: std::net::TcpListener,
    data_dir: std::sync::Arc<tempfile::TempDir>,
) -> ProfesorHandle {
    start_profesor_configured(listener, data_dir, profesor::Config::default())
}

/// Profesor on a free port, with its own data folder and `template`'s
/// other settings (a token, allowed hosts).
pub async fn start_profesor_with(template: profesor::Config) -> ProfesorHandle {
    let listener = aula::server::listen("127.0.0.1:0")
        .await
        .unwrap()
        .into_std()
        .unwrap();
    let data_dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    start_profesor_configured(listener, data_dir, template)
}

fn start_profesor_configured(
    listener: std::net::TcpListener,
    data_dir: std::sync::Arc<tempfile::TempDir>,
    template: profesor::Config,
) -> ProfesorHandle {
    init_logs();
    let addr = listener.local_addr().unwrap();
    let config = profesor::Config {
        data_dir: data_dir.path().join("datos"),
        workers: 1,
        ..template
    };
    let folder = data_dir.clone();
    let running = Running::spawn(move |stopped| async move {
        profesor::run(listener, config, signal(stopped))
            .await
            .expect("profesor failed");
        drop(folder);
    });
    ProfesorHandle {
        url: format!("http://{addr}"),
        addr,
        running,
        data_dir,
    }
}

pub async fn start_tareo(profesor_url: &str) -> (SocketAddr, Running) {
    start_tareo_with(profesor_url, tareo::Config::default()).await
}

pub async fn start_tareo_with(profesor_url: &str, config: tareo::Config) -> (SocketAddr, Running) {
    let listener = aula::server::listen("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, start_tareo_on(listener, profesor_url, config))
}

pub fn start_tareo_on(listener: TcpListener, profesor_url: &str, config: tareo::Config) -> Running {
    init_logs();
    let config = tareo::Config {
        profesor_url: profesor_url.to_owned(),
        ..config
    };
    Running::spawn(move |stopped| async move {
        tareo::run(listener, config, signal(stopped))
            .await
            .expect("tareo failed");
    })
}

pub async fn start_docencio(tareo_addr: &str, profesor_url: &str) -> (SocketAddr, Running) {
    start_docencio_with(docencio::Config {
        tareo_addr: tareo_addr.to_owned(),
        profesor_url: profesor_url.to_owned(),
        ..docencio::Config::default()
    })
    .await
}

pub async fn start_docencio_with(config: docencio::Config) -> (SocketAddr, Running) {
    let listener = aula::server::listen("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, start_docencio_on(listener, config))
}

pub fn start_docencio_on(listener: TcpListener, config: docencio::Config) -> Running {
    init_logs();
    Running::spawn(move |stopped| async move {
        docencio::run(listener, config, signal(stopped))
            .await
            .expect("docencio failed");
    })
}

/// A whole class: Profesor, Tareo and Docencio, each on a free port.
pub struct Class {
    pub profesor: ProfesorHandle,
    pub tareo_addr: SocketAddr,
    pub tareo: Running,
    pub docencio_addr: SocketAddr,
    pub docencio: Running,
}

pub async fn start_class() -> Class {
    start_class_with(ServerLimits::default()).await
}

pub async fn start_class_with(limits: ServerLimits) -> Class {
    let profesor = start_profesor().await;
    let (tareo_addr, tareo) = start_tareo_with(
        &profesor.url,
        tareo::Config {
            limits: limits.clone(),
            ..tareo::Config::default()
        },
    )
    .await;
    let (docencio_addr, docencio) = start_docencio_with(docencio::Config {
        tareo_addr: tareo_addr.to_string(),
        profesor_url: profesor.url.clone(),
        limits,
        ..docencio::Config::default()
    })
    .await;
    Class {
        profesor,
        tareo_addr,
        tareo,
        docencio_addr,
        docencio,
    }
}

/// A TCP client speaking the contract's framing, as a student (or as
/// Docencio towards Tareo) does.
pub struct Client {
    pub framed: Framed<TcpStream, tokio_util::codec::LengthDelimitedCodec>,
}

/// How long a test waits for any single answer before failing.
pub const ANSWER_WAIT: Duration = Duration::from_secs(10);

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Client {
            framed: Framed::new(stream, aula::wire::frame_codec(1 << 20)),
        }
    }

    /// Sends a mensaje and returns the next frame, whatever it is.
    pub async fn say(&mut self, mensaje: serde_json::Value) -> serde_json::Value {
        self.send(mensaje.to_string()).await;
        serde_json::from_str(&self.read().await).unwrap()
    }

    /// Sends a mensaje and returns its answer (the first frame with
    /// `estado`), passing over the pushes that come first.
    pub async fn request(&mut self, mensaje: serde_json::Value) -> serde_json::Value {
        self.send(mensaje.to_string()).await;
        loop {
            let frame: serde_json::Value = serde_json::from_str(&self.read().await).unwrap();
            if frame.get("estado").is_some() {
                return frame;
            }
        }
    }

    pub async fn send(&mut self, text: impl AsRef<[u8]>) {
        self.framed
            .send(Bytes::copy_from_slice(text.as_ref()))
            .await
            .expect("send");
    }

    pub async fn read(&mut self) -> String {
        let frame = timeout(ANSWER_WAIT, self.framed.next())
            .await
            .expect("no answer within 10 s")
            .expect("connection closed before the answer")
            .expect("bad frame");
        String::from_utf8(frame.to_vec()).expect("answer is not UTF-8")
    }

    pub async fn ask(&mut self, text: impl AsRef<[u8]>) -> String {
        self.send(text).await;
        self.read().await
    }

    /// Raw bytes on the socket, bypassing the codec.
    pub async fn write_raw(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.framed.get_mut().write_all(bytes).await.expect("write");
    }

    /// True when the server closed the connection (EOF) within `wait`.
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        matches!(
            timeout(wait, self.framed.next()).await,
            Ok(None) | Ok(Some(Err(_)))
        )
    }
}

/// Polls `check` until it returns `Some`, or fails after `wait`.
/// The HTTP client of every test: no proxy, whatever the environment says
/// (the servers are on loopback or in the test's own namespaces).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

pub async fn eventually<T, F, Fut>(wait: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + wait;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {wait:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Profesor's count, read as a user would (`GET /preguntas`).
pub async fn profesor_total(url: &str) -> u64 {
    let body: serde_json::Value = http()
        .get(format!("{url}/preguntas"))
        .send()
        .await
        .expect("GET /preguntas")
        .json()
        .await
        .expect("JSON body");
    body["total"].as_u64().expect("numeric total")
}

pub fn is_relayed_answer(text: &str) -> bool {
    text.strip_prefix(aula::wire::texts::RELAYED_PREFIX)
        .is_some_and(|answer| aula::wire::texts::ANSWERS.contains(&answer))
}

/// Waits until Profesor's count has moved by exactly `expected` from
/// `before`; fails at once if it ever moves by more (a double count), or
/// after 20 s if it never gets there (a lost one).
pub async fn until_counted(url: &str, before: u64, expected: u64) {
    eventually(
        Duration::from_secs(20),
        &format!("Profesor to count {expected} more"),
        || async move {
            let counted = profesor_total(url).await - before;
            assert!(counted <= expected, "over-counted: {counted} > {expected}");
            (counted == expected).then_some(())
        },
    )
    .await;
}

/// Waits until Profesor's count is above `floor`, or fails after `wait`.
pub async fn until_counted_above(url: &str, floor: u64, wait: Duration) {
    eventually(
        wait,
        &format!("Profesor to count more than {floor}"),
        || async move { (profesor_total(url).await > floor).then_some(()) },
    )
    .await;
}

/// A port kept for a role started later: bound but not listening, so a
/// connection to it is refused (as with the role down), and nothing else
/// in the test process can take it meanwhile. (Releasing it and binding
/// again later let two of the 24 classes started at once draw the same
/// port, and one class's Docencio count at the other's Profesor.)
pub struct ReservedPort {
    pub addr: SocketAddr,
    socket: tokio::net::TcpSocket,
}

impl ReservedPort {
    /// The role's listening socket, on the kept port.
    pub fn listen(self) -> TcpListener {
        self.socket
            .listen(aula::server::LISTEN_BACKLOG)
            .expect("listen on a kept port")
    }
}

pub async fn reserve_port() -> ReservedPort {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    ReservedPort {
        addr: socket.local_addr().unwrap(),
        socket,
    }
}

/// Students asking in-process until told to stop (`config` says how many
/// and how), then waited for, at most 20 s.
pub struct Students {
    stop: oneshot::Sender<()>,
    class: JoinHandle<aula::estudiante::Summary>,
}

impl Students {
    pub fn start(config: aula::estudiante::Config) -> Students {
        init_logs();
        let (stop, stopped) = oneshot::channel::<()>();
        let class = tokio::spawn(aula::estudiante::run(config, async move {
            let _ = stopped.await;
        }));
        Students { stop, class }
    }

    pub async fn finish(self) -> aula::estudiante::Summary {
        let _ = self.stop.send(());
        timeout(Duration::from_secs(20), self.class)
            .await
            .expect("students did not stop within 20 s")
            .unwrap()
    }
}
