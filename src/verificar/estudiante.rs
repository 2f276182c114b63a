//! The cases of an Estudiante: aula plays Docencio for a student's program.
//!
//! aula starts the program itself (the command after `--`, with `{host}`,
//! `{puerto}` and `{addr}` replaced by where aula listens, and
//! `AULA_DOCENCIO_ADDR` set), first with nothing listening (the notebook's
//! Estudiante dies when started before Docencio), then reads what it sends
//! and answers the ways a Docencio may: whole, an `Error: ...`, an answer
//! and an announcement in one write, in pieces; last it closes the
//! connection. What the program printed is read from a pseudo-terminal (so
//! nothing waits in a pipe's buffer) and its CPU time from `/proc`: a
//! program that loops on a closed socket shows as CPU and output.

use std::net::SocketAddr;
use std::process::ExitStatus;
use std::time::Duration;

use futures::FutureExt;
use rand::seq::IndexedRandom;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::AbortOnDropHandle;

use super::caso::{Reporte, Veredicto};
pub use super::programa::{adopt_orphans, kill_adopted, with_address, Programa};
use super::programa::{lock, Proceso, Shared};
use super::sonda::{frame, show};
use crate::wire::texts::{ANNOUNCEMENT_PREFIX, ANSWERS, CONTENIDO_ANSWER, RELAYED_PREFIX};
use crate::wire::Question;

/// Longest wait for the program's next question: the notebook's
/// Estudiante pauses up to 6 s between questions (and two such waits fit
/// in a case's 15 s).
const QUESTION_WAIT: Duration = Duration::from_millis(6_500);

/// How long the program gets to start, connect, show an answer.
const START_WAIT: Duration = Duration::from_secs(2);
const CONNECT_WAIT: Duration = Duration::from_secs(10);
const OUTPUT_WAIT: Duration = Duration::from_secs(3);

/// Between the pieces of an answer sent in pieces: long enough for each
/// to be read on its own.
const PIECE_GAP: Duration = Duration::from_millis(100);

/// How long the program is watched after aula closes its connection, and
/// what counts as spinning in that time.
const CLOSE_WATCH: Duration = Duration::from_secs(6);
const SPIN_CPU_SHARE: f64 = 0.33;

/// How long a program that reconnected is still watched for spinning.
const RECONNECT_WATCH: Duration = Duration::from_secs(1);
const SPIN_OUTPUT_BYTES: u64 = 64 * 1024;

/// Longest question aula reads (a larger declared length is reported,
/// never allocated).
const MAX_QUESTION: u32 = 64 * 1024;

/// aula as the program's Docencio.
struct Docencio {
    comando: Vec<String>,
    addr: SocketAddr,
    listener: Option<TcpListener>,
    proceso: Option<Proceso>,
    conexion: Option<TcpStream>,
    salida: Shared,
    /// A question read and not answered yet.
    pendiente: Option<Vec<u8>>,
    anuncios: u32,
}

/// Every case for the student program `programa`.
pub async fn casos(programa: &Programa) -> Reporte {
    let mut informe = Reporte::new("estudiante", &programa.comando.join(" "));
    let start = "1 arranque y marco";
    let mut docencio = match Docencio::new(programa) {
        Ok(docencio) => docencio,
        Err(why) => {
            let listen = "escuchar como Docencio";
            informe
                .run("1.1", start, listen, async { Veredicto::Falla(why) })
                .await;
            return informe;
        }
    };
    let docencio = &mut docencio;
    let before = "arrancado antes que Docencio: reintenta y se conecta";
    let framed = "su pregunta llega enmarcada: 4 bytes big-endian y UTF-8";
    informe
        .run("1.1", start, before, docencio.started_before_docencio())
        .await;
    informe
        .run("1.2", start, framed, docencio.first_question())
        .await;
    let questions = "2 preguntas y respuestas";
    let one_of_three = "pregunta una de las tres, con el texto exacto";
    let shows = "muestra la respuesta que recibe";
    let after_error = "sigue preguntando tras una respuesta Error:";
    informe
        .run("2.1", questions, one_of_three, async {
            docencio.question_is_one_of_three()
        })
        .await;
    informe
        .run("2.2", questions, shows, docencio.shows_the_answer())
        .await;
    informe
        .run(
            "2.3",
            questions,
            after_error,
            docencio.goes_on_after_an_error(),
        )
        .await;
    let reading = "3 lectura";
    let one_write = "una respuesta y un anuncio en una misma escritura: muestra ambos";
    let pieces = "una respuesta que llega en pedazos: la muestra entera y sigue";
    informe
        .run(
            "3.1",
            reading,
            one_write,
            docencio.two_frames_in_one_write(),
        )
        .await;
    informe
        .run("3.2", reading, pieces, docencio.answer_in_pieces())
        .await;
    let closed = "Docencio cierra la conexión: se reconecta o termina, sin girar en vacío";
    informe
        .run("4.1", "4 cierre", closed, docencio.closed_connection())
        .await;
    docencio.proceso = None;
    informe
}

/// What `result` failed with, as the case's verdict.
macro_rules! or_fail {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(why) => return Veredicto::Falla(why),
        }
    };
}

impl Docencio {
    /// aula as `programa`'s Docencio. The address is fixed first (a free
    /// port when 0) and left closed: the program starts before its
    /// Docencio.
    fn new(programa: &Programa) -> Result<Docencio, String> {
        let addr = std::net::TcpListener::bind(programa.escuchar)
            .and_then(|listener| listener.local_addr())
            .map_err(|err| format!("no se pudo escuchar en {}: {err}", programa.escuchar))?;
        Ok(Docencio {
            comando: with_address(&programa.comando, addr),
            addr,
            listener: None,
            proceso: None,
            conexion: None,
            salida: Shared::default(),
            pendiente: None,
            anuncios: 0,
        })
    }

    fn printed_since(&self, mark: u64) -> String {
        let salida = lock(&self.salida);
        let since = salida.since(mark);
        let tail = &since[since.len().saturating_sub(300)..];
        show(tail)
    }

    fn mark(&self) -> u64 {
        lock(&self.salida).total()
    }

    /// Waits until everything in `texts` was printed after `mark`.
    async fn shown(&self, mark: u64, texts: &[&str]) -> Vec<bool> {
        let deadline = tokio::time::Instant::now() + OUTPUT_WAIT;
        loop {
            let found: Vec<bool> = {
                let salida = lock(&self.salida);
                let since = salida.since(mark);
                texts
                    .iter()
                    .map(|text| {
                        since
                            .windows(text.len().max(1))
                            .any(|window| window == text.as_bytes())
                    })
                    .collect()
            };
            if found.iter().all(|found| *found) || tokio::time::Instant::now() >= deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn listen(&mut self) -> Result<(), String> {
        if self.listener.is_none() {
            let listener = TcpListener::bind(self.addr)
                .await
                .map_err(|err| format!("no se pudo escuchar en {}: {err}", self.addr))?;
            self.listener = Some(listener);
        }
        Ok(())
    }

    fn start(&mut self) -> Result<(), String> {
        self.proceso = None;
        self.proceso = Some(Proceso::start(&self.comando, self.addr, &self.salida)?);
        Ok(())
    }

    /// Waits for the program to connect, or to exit.
    async fn accept(&mut self, wait: Duration) -> Result<(), String> {
        let (Some(listener), Some(proceso)) = (&self.listener, &mut self.proceso) else {
            return Err("el programa no está en marcha".into());
        };
        tokio::select! {
            // A connection already waiting counts, even when the program
            // (a launcher) has exited meanwhile.
            biased;
            accepted = tokio::time::timeout(wait, listener.accept()) => match accepted {
                Ok(Ok((stream, _))) => {
                    let _ = stream.set_nodelay(true);
                    self.conexion = Some(stream);
                    Ok(())
                }
                Ok(Err(err)) => Err(format!("no se pudo aceptar su conexión: {err}")),
                Err(_) => Err(format!("no se conectó en {wait:?}")),
            },
            status = proceso.wait() => Err(exited(status)),
        }
    }

    async fn started_before_docencio(&mut self) -> Veredicto {
        or_fail!(self.start());
        let mark = 0;
        if let Some(proceso) = &mut self.proceso {
            if let Ok(status) = tokio::time::timeout(START_WAIT, proceso.wait()).await {
                let why = exited(status);
                self.proceso = None;
                return Veredicto::Falla(format!(
                    "sin Docencio escuchando en {}: {why} en vez de reintentar; imprimió \"{}\"",
                    self.addr,
                    self.printed_since(mark)
                ));
            }
        }
        or_fail!(self.listen().await);
        match self.accept(CONNECT_WAIT).await {
            Ok(()) => Veredicto::Pasa,
            Err(why) => {
                self.proceso = None;
                Veredicto::Falla(format!(
                    "arrancado sin Docencio, Docencio escuchó {START_WAIT:?} después: {why}"
                ))
            }
        }
    }

    /// Connected, starting the program again if the first start failed.
    async fn connected(&mut self) -> Result<&mut TcpStream, String> {
        if self.conexion.is_none() {
            self.listen().await?;
            if self.proceso.is_none() {
                self.start()?;
            }
            self.accept(CONNECT_WAIT)
                .await
                .map_err(|why| format!("con Docencio escuchando desde el principio: {why}"))?;
        }
        self.conexion
            .as_mut()
            .ok_or_else(|| "sin conexión del programa".to_owned())
    }

    /// The next question it sends, as bytes.
    async fn next_question(&mut self) -> Result<Vec<u8>, String> {
        if let Some(pending) = self.pendiente.take() {
            return Ok(pending);
        }
        let read = self.read_question().await;
        if read.is_err() {
            self.forget_connection();
        }
        read
    }

    async fn read_question(&mut self) -> Result<Vec<u8>, String> {
        let stream = self.connected().await?;
        let mut header = [0u8; 4];
        match tokio::time::timeout(QUESTION_WAIT, stream.read_exact(&mut header)).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => return Err(format!("cerró la conexión sin preguntar ({err})")),
            Err(_) => return Err(format!("no preguntó nada en {QUESTION_WAIT:?}")),
        }
        let length = u32::from_be_bytes(header);
        if length > MAX_QUESTION && u32::from_le_bytes(header) > MAX_QUESTION {
            return Err(format!(
                "la longitud declarada es {length} (bytes {:02x} {:02x} {:02x} {:02x}): pasa del límite de {MAX_QUESTION} bytes",
                header[0], header[1], header[2], header[3]
            ));
        }
        if length > MAX_QUESTION {
            return Err(format!(
                "la longitud declarada es {length} (bytes {:02x} {:02x} {:02x} {:02x}); leída como little-endian sería {}: la longitud va en big-endian",
                header[0],
                header[1],
                header[2],
                header[3],
                u32::from_le_bytes(header)
            ));
        }
        let mut body = vec![0u8; length as usize];
        match tokio::time::timeout(QUESTION_WAIT, stream.read_exact(&mut body)).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                return Err(format!(
                    "declaró {length} bytes y la conexión se cerró antes ({err})"
                ))
            }
            Err(_) => {
                return Err(format!(
                    "declaró {length} bytes y no llegaron en {QUESTION_WAIT:?}"
                ))
            }
        }
        if std::str::from_utf8(&body).is_err() {
            return Err(format!("la pregunta no es UTF-8: \"{}\"", show(&body)));
        }
        Ok(body)
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        let stream = self.connected().await?;
        let written =
            match tokio::time::timeout(Duration::from_secs(3), stream.write_all(bytes)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(err)) => Err(format!("no se pudo responderle: {err}")),
                Err(_) => Err("no lee lo que se le responde (3 s)".into()),
            };
        if written.is_err() {
            self.forget_connection();
        }
        written
    }

    /// After a failed or cut read or write, the stream may stop mid-frame:
    /// the next case takes a new connection (the program may reconnect)
    /// rather than read a body as a header.
    fn forget_connection(&mut self) {
        self.conexion = None;
        self.pendiente = None;
    }

    async fn first_question(&mut self) -> Veredicto {
        let question = or_fail!(self.next_question().await);
        self.pendiente = Some(question);
        Veredicto::Pasa
    }

    fn question_is_one_of_three(&mut self) -> Veredicto {
        let Some(question) = &self.pendiente else {
            return Veredicto::Falla("no llegó ninguna pregunta (ver 1.2)".into());
        };
        let text = String::from_utf8_lossy(question);
        if Question::ALL.iter().any(|known| known.as_str() == text) {
            return Veredicto::Pasa;
        }
        match Question::parse(question) {
            Ok(known) => Veredicto::Observacion(format!(
                "preguntó \"{}\": se entiende, pero el cuaderno envía \"{}\"",
                show(question),
                known.as_str()
            )),
            Err(_) => Veredicto::Falla(format!(
                "preguntó \"{}\"; se esperaba Contenido, Tarea o Pregunta Dificil",
                show(question)
            )),
        }
    }

    async fn shows_the_answer(&mut self) -> Veredicto {
        let question = or_fail!(self.next_question().await);
        let answer = answer_to(&question);
        let mark = self.mark();
        or_fail!(self.write(&frame(answer.as_bytes())).await);
        if self.shown(mark, &[&answer]).await[0] {
            Veredicto::Pasa
        } else {
            Veredicto::Falla(format!(
                "se respondió \"{answer}\"; en {OUTPUT_WAIT:?} no lo mostró; mostró \"{}\"",
                self.printed_since(mark)
            ))
        }
    }

    async fn goes_on_after_an_error(&mut self) -> Veredicto {
        or_fail!(self
            .next_question()
            .await
            .map_err(|why| format!("esperando su siguiente pregunta: {why}")));
        let error = "Error: Tareo no responde (verificar)";
        or_fail!(self.write(&frame(error.as_bytes())).await);
        let question = or_fail!(self
            .next_question()
            .await
            .map_err(|why| format!("se le respondió \"{error}\": {why}")));
        self.pendiente = Some(question);
        Veredicto::Pasa
    }

    async fn two_frames_in_one_write(&mut self) -> Veredicto {
        let question = or_fail!(self.next_question().await);
        let answer = answer_to(&question);
        self.anuncios += 1;
        let announcement = format!("{ANNOUNCEMENT_PREFIX}verificar {}", self.anuncios);
        let mut both = frame(answer.as_bytes());
        both.extend_from_slice(&frame(announcement.as_bytes()));
        let mark = self.mark();
        or_fail!(self.write(&both).await);
        match self.shown(mark, &[&answer, &announcement]).await[..] {
            [true, true] => Veredicto::Pasa,
            [true, false] => Veredicto::Falla(format!(
                "mostró la respuesta pero no \"{announcement}\", que llegó en la misma escritura; mostró \"{}\"",
                self.printed_since(mark)
            )),
            _ => Veredicto::Falla(format!(
                "se respondió \"{answer}\" y \"{announcement}\" en una escritura; mostró \"{}\"",
                self.printed_since(mark)
            )),
        }
    }

    async fn answer_in_pieces(&mut self) -> Veredicto {
        let question = or_fail!(self.next_question().await);
        let answer = answer_to(&question);
        let mark = self.mark();
        // As TCP may deliver it: three bytes of the header, then its last
        // byte with the start of the text, then the rest.
        let framed = frame(answer.as_bytes());
        let split = 4 + answer.len().min(10);
        for piece in [&framed[..3], &framed[3..split], &framed[split..]] {
            or_fail!(self.write(piece).await);
            tokio::time::sleep(PIECE_GAP).await;
        }
        if !self.shown(mark, &[&answer]).await[0] {
            return Veredicto::Falla(format!(
                "se respondió \"{answer}\" en tres pedazos (3 bytes de la cabecera; el último con el comienzo del texto; el resto), {PIECE_GAP:?} entre ellos; no lo mostró entero; mostró \"{}\"",
                self.printed_since(mark)
            ));
        }
        let next = or_fail!(self
            .next_question()
            .await
            .map_err(|why| format!("mostró la respuesta, pero luego: {why}")));
        self.pendiente = Some(next);
        Veredicto::Pasa
    }

    async fn closed_connection(&mut self) -> Veredicto {
        or_fail!(self.connected().await);
        let mark = self.mark();
        let Some(proceso) = &mut self.proceso else {
            return Veredicto::Falla("el programa no está en marcha".into());
        };
        let cpu_before = proceso.cpu_seconds();
        self.pendiente = None;
        let Some(listener) = &self.listener else {
            return Veredicto::Falla("sin dirección donde escuchar".into());
        };
        // Connections it opened before (waiting to be accepted) are no
        // reconnection: taken now, kept open until the case ends. Before
        // the close: a program that reconnects at once must not have its
        // reconnection taken for an earlier one.
        let mut earlier = Vec::new();
        while let Some(Ok((stream, _))) = listener.accept().now_or_never() {
            earlier.push(stream);
        }
        // A Docencio that closes sends FIN (its write half shut) and still
        // takes what the program sends, so the program reads an end of
        // stream (recv gives b''), not a reset.
        let _draining = self.conexion.take().map(|mut stream| {
            AbortOnDropHandle::new(tokio::spawn(async move {
                let _ = stream.shutdown().await;
                let mut discard = vec![0u8; 8192];
                let _ = tokio::time::timeout(CLOSE_WATCH, async {
                    while matches!(stream.read(&mut discard).await, Ok(n) if n > 0) {}
                })
                .await;
            }))
        });
        let closed_at = tokio::time::Instant::now();
        let spinning = |proceso: &Proceso, printed: u64| {
            let elapsed = closed_at.elapsed().as_secs_f64().max(0.1);
            let cpu = match (cpu_before, proceso.cpu_seconds()) {
                (Some(before), Some(after)) => after - before,
                _ => 0.0,
            };
            (cpu / elapsed >= SPIN_CPU_SHARE || printed >= SPIN_OUTPUT_BYTES).then(|| {
                format!("en {elapsed:.1} s usó {cpu:.1} s de CPU e imprimió {printed} bytes")
            })
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(_) => {
                    // Reconnected: and not spinning on the old socket meanwhile.
                    tokio::time::sleep(RECONNECT_WATCH).await;
                    let printed = lock(&self.salida).total() - mark;
                    match spinning(proceso, printed) {
                        Some(spin) => Veredicto::Falla(format!(
                            "se reconectó, pero tras el cierre {spin}: ¿lee en bucle el socket cerrado?"
                        )),
                        None => Veredicto::Pasa,
                    }
                }
                Err(err) => Veredicto::Falla(format!("no se pudo aceptar su conexión: {err}")),
            },
            status = proceso.wait() => match status {
                Ok(status) if status.success() => Veredicto::Pasa,
                status => Veredicto::Observacion(format!("{} al cerrarse la conexión", exited(status))),
            },
            () = tokio::time::sleep(CLOSE_WATCH) => {
                let printed = lock(&self.salida).total() - mark;
                match spinning(proceso, printed) {
                    Some(spin) => Veredicto::Falla(format!(
                        "ni se reconectó ni terminó, y {spin}: ¿lee en bucle un socket cerrado? (recv devuelve b'' cuando el otro lado cierra)"
                    )),
                    None => Veredicto::Observacion(format!(
                        "ni se reconectó ni terminó en {CLOSE_WATCH:?} (quieto)"
                    )),
                }
            }
        }
    }
}

/// What a Docencio answers to `question`.
fn answer_to(question: &[u8]) -> String {
    match Question::parse(question) {
        Ok(Question::Contenido) => CONTENIDO_ANSWER.to_owned(),
        Ok(_) => {
            let answer = ANSWERS
                .choose(&mut rand::rng())
                .copied()
                .unwrap_or(ANSWERS[0]);
            format!("{RELAYED_PREFIX}{answer}")
        }
        Err(refusal) => refusal.to_string(),
    }
}

fn exited(status: std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => format!("el programa terminó ({status})"),
        Err(err) => format!("el programa terminó ({err})"),
    }
}
