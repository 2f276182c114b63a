//! Cases every TCP server of the contract shares (Docencio and Tareo):
//! framing, the error table, order under pipelining, concurrency.

use std::time::Duration;

use super::caso::{Reporte, Veredicto};

/// Whether an answer is right (`Ok(None)`), right with a remark, or wrong
/// (`Err(what was expected)`).
pub type Check = fn(&[u8]) -> Result<Option<String>, String>;
use super::sonda::{frame, show, Destino, Sonda};
use crate::wire::texts::ERROR_PREFIX;

/// Connects, or the case fails saying why.
macro_rules! connect_or_fail {
    ($addr:expr) => {
        match Sonda::connect($addr).await {
            Ok(sonda) => sonda,
            Err(why) => return Veredicto::Falla(why),
        }
    };
}

/// `question` on a fresh connection: `check` says whether the answer is
/// right (`Ok(None)`), right with a remark, or wrong.
pub async fn answer_is(
    addr: &Destino,
    question: &[u8],
    check: impl Fn(&[u8]) -> Result<Option<String>, String>,
) -> Veredicto {
    let mut sonda = connect_or_fail!(addr);
    match sonda.ask(question).await {
        Ok(answer) => verdict(question, &answer, &check),
        Err(why) => Veredicto::Falla(format!("se envió \"{}\": {why}", show(question))),
    }
}

pub fn verdict(
    question: &[u8],
    answer: &[u8],
    check: &impl Fn(&[u8]) -> Result<Option<String>, String>,
) -> Veredicto {
    match check(answer) {
        Ok(None) => Veredicto::Pasa,
        Ok(Some(remark)) => Veredicto::Observacion(remark),
        Err(expected) => Veredicto::Falla(format!(
            "se envió \"{}\"; se esperaba {expected}; llegó \"{}\"",
            show(question),
            show(answer)
        )),
    }
}

/// An answer that is an error the contract's way.
pub fn is_error(answer: &[u8]) -> Result<Option<String>, String> {
    if answer.starts_with(ERROR_PREFIX.as_bytes()) {
        Ok(None)
    } else {
        Err(format!("una respuesta que empiece con {ERROR_PREFIX:?}"))
    }
}

/// `check`, or else an `Error: ...` taken with a remark: what a server
/// whose peer is down answers, as the contract says; `hint` names who.
pub fn or_peer_error(answer: &[u8], check: Check, hint: &str) -> Result<Option<String>, String> {
    check(answer).or_else(|expected| match is_error(answer) {
        Ok(_) => Ok(Some(format!(
            "respondió un error (\"{}\"): {hint}",
            show(answer)
        ))),
        Err(_) => Err(expected),
    })
}

/// A bad frame gets an `Error: ...` and the connection still answers.
pub async fn error_then_usable(
    addr: &Destino,
    bad: &[u8],
    good: &[u8],
    check_good: impl Fn(&[u8]) -> Result<Option<String>, String>,
) -> Veredicto {
    let mut sonda = connect_or_fail!(addr);
    let answer = match sonda.ask(bad).await {
        Ok(answer) => answer,
        Err(why) => return Veredicto::Falla(format!("se envió \"{}\": {why}", show(bad))),
    };
    if let Err(expected) = is_error(&answer) {
        return Veredicto::Falla(format!(
            "se envió \"{}\"; se esperaba {expected}; llegó \"{}\"",
            show(bad),
            show(&answer)
        ));
    }
    match sonda.ask(good).await {
        Ok(answer) => match verdict(good, &answer, &check_good) {
            Veredicto::Falla(why) => Veredicto::Falla(format!("tras el error: {why}")),
            _ => Veredicto::Pasa,
        },
        Err(why) => Veredicto::Falla(format!("tras el error la conexión ya no responde: {why}")),
    }
}

/// A header and a body that arrive in pieces are read as one frame.
pub async fn partial_frame(
    addr: &Destino,
    question: &[u8],
    check: impl Fn(&[u8]) -> Result<Option<String>, String>,
) -> Veredicto {
    let mut sonda = connect_or_fail!(addr);
    let framed = frame(question);
    for piece in framed.chunks(2) {
        if let Err(why) = sonda.send_raw(piece).await {
            return Veredicto::Falla(why);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    match sonda.read().await {
        Ok(answer) => verdict(question, &answer, &check),
        Err(why) => Veredicto::Falla(format!("la pregunta llegó de a 2 bytes: {why}")),
    }
}

/// Several questions in one write, answers read after: each in its place.
pub async fn pipelined(addr: &Destino, questions: &[(&[u8], Check)]) -> Veredicto {
    let mut sonda = connect_or_fail!(addr);
    let all: Vec<u8> = questions
        .iter()
        .flat_map(|(question, _)| frame(question))
        .collect();
    if let Err(why) = sonda.send_raw(&all).await {
        return Veredicto::Falla(why);
    }
    for (n, (question, check)) in questions.iter().enumerate() {
        match sonda.read().await {
            Ok(answer) => {
                if let Err(expected) = check(&answer) {
                    return Veredicto::Falla(format!(
                        "{} preguntas en una escritura: la respuesta {} (a \"{}\") debía ser {expected}; llegó \"{}\"",
                        questions.len(),
                        n + 1,
                        show(question),
                        show(&answer)
                    ));
                }
            }
            Err(why) => {
                return Veredicto::Falla(format!(
                    "{} preguntas en una escritura: la respuesta {}: {why}",
                    questions.len(),
                    n + 1
                ))
            }
        }
    }
    Veredicto::Pasa
}

/// A declared length far over any limit: an error and a close, never an
/// allocation of that size nor silence.
pub async fn oversized(addr: &Destino) -> Veredicto {
    let mut sonda = connect_or_fail!(addr);
    if let Err(why) = sonda.send_raw(&0x7fff_fff0u32.to_be_bytes()).await {
        return Veredicto::Falla(why);
    }
    match sonda.read_within(Duration::from_secs(5)).await {
        Ok(answer) if answer.starts_with(ERROR_PREFIX.as_bytes()) => {
            if sonda.closes_within(Duration::from_secs(5)).await {
                Veredicto::Pasa
            } else {
                Veredicto::Observacion("respondió el error pero dejó la conexión abierta".into())
            }
        }
        Ok(answer) => Veredicto::Falla(format!(
            "longitud declarada 2147483632: se esperaba Error: y cierre; llegó \"{}\"",
            show(&answer)
        )),
        Err(why) if why.starts_with("sin respuesta") => {
            if sonda.closes_within(Duration::from_secs(1)).await {
                Veredicto::Observacion("cerró la conexión sin decir el error".into())
            } else {
                Veredicto::Falla(
                    "longitud declarada 2147483632: ni error ni cierre en 5 s (¿espera 2 GiB?)"
                        .into(),
                )
            }
        }
        Err(why) if why.starts_with("la conexión se cerró antes") => {
            Veredicto::Observacion("cerró la conexión sin decir el error".into())
        }
        Err(why) => Veredicto::Falla(format!(
            "longitud declarada 2147483632: se esperaba Error: y cierre; {why}"
        )),
    }
}

/// `clients` connections at once, each asking `question`: all answered
/// right.
pub async fn concurrent(
    addr: &Destino,
    clients: usize,
    question: &'static [u8],
    check: fn(&[u8]) -> Result<Option<String>, String>,
) -> Veredicto {
    let mut asking = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let addr = addr.clone();
        asking.spawn(async move {
            let mut sonda = Sonda::connect(&addr).await?;
            let answer = sonda.ask(question).await?;
            check(&answer).map_err(|expected| {
                format!("se esperaba {expected}; llegó \"{}\"", show(&answer))
            })?;
            Ok::<(), String>(())
        });
    }
    let mut failures = Vec::new();
    while let Some(done) = asking.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(why)) => failures.push(why),
            Err(err) => failures.push(err.to_string()),
        }
    }
    if failures.is_empty() {
        Veredicto::Pasa
    } else {
        Veredicto::Falla(format!(
            "{} de {clients} clientes a la vez fallaron; el primero: {}",
            failures.len(),
            failures[0]
        ))
    }
}

/// A client that connects and says nothing does not hold up another.
pub async fn silent_client_blocks_nobody(
    addr: &Destino,
    question: &[u8],
    check: impl Fn(&[u8]) -> Result<Option<String>, String>,
) -> Veredicto {
    let _silent = connect_or_fail!(addr);
    let mut half = connect_or_fail!(addr);
    // Half a header, then nothing.
    if let Err(why) = half.send_raw(&[0, 0]).await {
        return Veredicto::Falla(why);
    }
    answer_is(addr, question, check).await
}

/// Sections 4 (the error table) and 5 (concurrency), the same for every
/// TCP server: `good` is a question it answers (what 20 clients ask at
/// once), `check` its answer.
pub async fn error_and_concurrency_sections(
    informe: &mut Reporte,
    addr: &Destino,
    good: &'static [u8],
    check: Check,
    clients: &str,
) {
    let errors = "4 errores";
    for (id, nombre, bad) in [
        (
            "4.1",
            "pregunta desconocida: Error: y la conexión sigue",
            &b"Hola"[..],
        ),
        ("4.2", "marco vacío: Error: y la conexión sigue", &b""[..]),
        (
            "4.3",
            "UTF-8 inválido: Error: y la conexión sigue",
            &b"\xff\xfe"[..],
        ),
    ] {
        informe
            .run(
                id,
                errors,
                nombre,
                error_then_usable(addr, bad, good, check),
            )
            .await;
    }
    let concurrency = "5 concurrencia";
    informe
        .run(
            "5.1",
            concurrency,
            &format!(
                "20 {clients} a la vez preguntan {}",
                String::from_utf8_lossy(good)
            ),
            concurrent(addr, 20, good, check),
        )
        .await;
    informe
        .run(
            "5.2",
            concurrency,
            "un cliente callado no detiene a otro",
            silent_client_blocks_nobody(addr, good, check),
        )
        .await;
}

/// `count` copies of `question` in one write on one connection: `count`
/// answers, each right (a server that drops one leaves the client
/// waiting for it).
pub async fn many_on_one_connection(
    addr: &Destino,
    question: &[u8],
    count: usize,
    check: Check,
) -> Veredicto {
    let mut sonda = connect_or_fail!(addr);
    let all: Vec<u8> = (0..count).flat_map(|_| frame(question)).collect();
    if let Err(why) = sonda.send_raw(&all).await {
        return Veredicto::Falla(why);
    }
    for n in 1..=count {
        match sonda.read().await {
            Ok(answer) => {
                if let Err(expected) = check(&answer) {
                    return Veredicto::Falla(format!(
                        "{count} \"{}\" seguidas: la respuesta {n} debía ser {expected}; llegó \"{}\"",
                        show(question),
                        show(&answer)
                    ));
                }
            }
            Err(why) => {
                return Veredicto::Falla(format!(
                    "{count} \"{}\" seguidas: llegaron {} respuestas; la {n}: {why}",
                    show(question),
                    n - 1
                ))
            }
        }
    }
    Veredicto::Pasa
}

/// A connection to `addr` whose receive buffer is 4 KiB (the server's
/// writes to a client that never reads soon block), trying every address
/// the name resolves to, as `Sonda::connect` does (`localhost` may give
/// `::1` first to a server on 127.0.0.1).
async fn connect_with_small_buffer(addr: &str) -> Result<tokio::net::TcpStream, String> {
    let targets: Vec<_> = tokio::net::lookup_host(addr)
        .await
        .map_err(|err| format!("no se encontró {addr}: {err}"))?
        .collect();
    let mut last = format!("no se encontró {addr}");
    for target in targets {
        let socket = if target.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .map_err(|err| err.to_string())?;
        let _ = socket.set_recv_buffer_size(4096);
        match tokio::time::timeout(Duration::from_secs(3), socket.connect(target)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(err)) => last = format!("no se pudo conectar con {target}: {err}"),
            Err(_) => last = format!("{target} no aceptó la conexión en 3 s"),
        }
    }
    Err(last)
}

/// Section 6 (slow clients) of a TCP server: `question` is what the client
/// that never reads sends (one the server answers itself: thousands of
/// them must not reach Tareo or Profesor's count), `check` its answer.
pub async fn slow_clients_section(
    informe: &mut Reporte,
    addr: &Destino,
    question: &'static [u8],
    check: Check,
) {
    informe
        .run(
            "6.1",
            "6 clientes lentos",
            "un cliente que no lee sus respuestas no detiene a otro",
            unread_client_blocks_nobody(addr, question, check),
        )
        .await;
}

/// Questions a client that never reads sends in the slow-reader case
/// (bounded: about 70 KB of questions).
const UNREAD_QUESTIONS: usize = 5_000;

/// A client that sends many questions and never reads its answers (its
/// receive buffer 4 KiB, so the server's writes to it soon block) does
/// not delay another client's answer.
pub async fn unread_client_blocks_nobody(
    addr: &Destino,
    question: &[u8],
    check: impl Fn(&[u8]) -> Result<Option<String>, String>,
) -> Veredicto {
    let mut unread = match connect_with_small_buffer(&addr.addr).await {
        Ok(stream) => stream,
        Err(why) => return Veredicto::Falla(why),
    };
    let all: Vec<u8> = (0..UNREAD_QUESTIONS)
        .flat_map(|_| frame(question))
        .collect();
    // The writes may block once the server stops reading: they go on
    // beside the other client, and end with this case.
    let _writer = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let _ = unread.write_all(&all).await;
        std::future::pending::<()>().await;
    }));
    tokio::time::sleep(Duration::from_millis(500)).await;
    match answer_is(addr, question, check).await {
        Veredicto::Falla(why) => Veredicto::Falla(format!(
            "mientras otro cliente envía {UNREAD_QUESTIONS} preguntas sin leer ninguna respuesta: {why}"
        )),
        verdict => verdict,
    }
}
