//! One client of a TCP server: questions in, answers out in the same order.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::FuturesOrdered;
use futures::{FutureExt, SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout, Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tracing::instrument::Instrumented;
use tracing::{debug, info, warn, Instrument};

use super::push::Taken;
use super::silent::Silence;
use super::{
    BulkLane, ClientSession, Delivered, FrameAnswer, PendingAnswer, PushQueue, Responder,
    ServerLimits,
};
use crate::question_line;
use crate::telemetry::{followed_question_span, for_log, question_span, QuestionId};
use crate::wire::codec::is_frame_too_large;
use crate::wire::mensaje::{MensajeError, Pedido, PedidoRefused, Respuesta};
use crate::wire::{preview, split_framed, Answer, Buffers, FrameReader, FrameWriter};
use crate::wire::{ClientFrame, Question, QuestionError};

/// The answers being worked out for the questions read, in the order read.
type InFlight = FuturesOrdered<Instrumented<PendingAnswer>>;

/// Why the connection loop stopped before both sides were done.
enum Closed {
    /// The client went away, cut a frame short, or stopped reading.
    Client,
    /// Idle past the idle timeout.
    Idle,
    /// So far behind on its pushes that it was cut off.
    Behind { lost: u64 },
    /// Closed to make room for another while it had sent nothing.
    Evicted,
}

/// One client's connection and everything the server keeps for it.
///
/// Reading and answering run in one `select!` loop ([`Connection::serve`]),
/// so a client may send many questions before reading (up to
/// `max_in_flight` are worked on at once; past that its socket is simply not
/// read) and answers that are ready together go out in one write.
///
/// Every question is named by the client's address and its number on this
/// connection ([`QuestionId`]); a followed question is answered inside its
/// own span, so each line about it carries that id.
pub(super) struct Connection<'a, R: Responder> {
    peer: SocketAddr,
    responder: Arc<R>,
    limits: &'a ServerLimits,
    questions: FrameReader,
    answers: FrameWriter,
    in_flight: InFlight,
    /// What each question in flight was, in order.
    kinds: VecDeque<Option<Question>>,
    /// Questions read and answers written; the next answer out is for
    /// question `answered + 1`.
    received: u64,
    answered: u64,
    /// False once the client closed its side, sent an over-long frame, or
    /// the server is stopping: what was asked is still answered.
    reading: bool,
    /// Reused for every batch handed to [`Responder::delivered`].
    delivered: Vec<Delivered>,
    /// What the role keeps for this client besides questions, if anything.
    session: Option<Box<dyn ClientSession>>,
    /// The session's push queue, and the pushes being written.
    pushes: Option<Arc<PushQueue>>,
    pushed: Vec<Bytes>,
    /// The session's transfer frames, if it has any.
    bulk: Option<BulkLane>,
}

impl<'a, R: Responder> Connection<'a, R> {
    pub(super) fn new(
        stream: TcpStream,
        peer: SocketAddr,
        responder: Arc<R>,
        limits: &'a ServerLimits,
    ) -> Self {
        let (questions, answers) = split_framed(stream, limits.max_frame, Buffers::Small);
        let mut session = responder.open_session(peer);
        let bulk = session.as_mut().and_then(|session| session.take_bulk());
        Connection {
            bulk,
            pushes: session.as_ref().map(|session| session.pushes().clone()),
            session,
            pushed: Vec::new(),
            peer,
            responder,
            limits,
            questions,
            answers,
            in_flight: FuturesOrdered::new(),
            kinds: VecDeque::new(),
            received: 0,
            answered: 0,
            reading: true,
            delivered: Vec::new(),
        }
    }

    /// Serves the client until it leaves, fails, idles out, or `shutdown`
    /// (after which what was asked is still answered).
    pub(super) async fn serve(mut self, shutdown: CancellationToken, mut silence: Silence) {
        debug!("Servidor conectado a un nuevo cliente: {}", self.peer);
        self.responder.counters().connected(self.peer);
        let idle = sleep(self.limits.idle_timeout);
        tokio::pin!(idle);
        let closed = loop {
            if !self.reading && self.in_flight.is_empty() {
                break None;
            }
            let can_read = self.reading && self.in_flight.len() < self.limits.max_in_flight;
            tokio::select! {
                biased;
                Some(first) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    if let Err(closed) = self.send_answers(first).await {
                        break Some(closed);
                    }
                    self.reset(idle.as_mut());
                }
                // Pushes go between answers, never inside one.
                () = async { self.pushes.as_ref().unwrap().ready().await }, if self.pushes.is_some() => {
                    if let Err(closed) = self.send_pushes().await {
                        break Some(closed);
                    }
                }
                // Transfers only when nothing else waits (biased order).
                Some(frame) = next_bulk(&mut self.bulk), if self.bulk.is_some() => {
                    if let Err(closed) = self.send_bulk(frame).await {
                        break Some(closed);
                    }
                    self.reset(idle.as_mut());
                }
                // Closed to make room while it had sent nothing.
                () = silence.evicted.cancelled(), if !silence.has_spoken() => break Some(Closed::Evicted),
                frame = self.questions.next(), if can_read => {
                    silence.spoke();
                    match frame {
                        Some(Ok(body)) => self.take_question(&body),
                        Some(Err(err)) if is_frame_too_large(&err) => self.refuse_too_large(),
                        Some(Err(err)) => {
                            question_line!(info, "{}: conexión cortada a mitad de un mensaje ({err}); se cierra", self.peer);
                            break Some(Closed::Client);
                        }
                        None => {
                            debug!("Conexión con el cliente cerrada: {}", self.peer);
                            self.reading = false;
                        }
                    }
                    self.reset(idle.as_mut());
                }
                () = &mut idle, if self.reading && self.in_flight.is_empty() && !self.stays_while_idle() => break Some(Closed::Idle),
                // Stop reading; what was asked is still answered above.
                () = shutdown.cancelled(), if self.reading => self.reading = false,
            }
        };
        match closed {
            Some(Closed::Idle) => question_line!(
                info,
                "{}: sin actividad por {:?}; se cierra la conexión",
                self.peer,
                self.limits.idle_timeout
            ),
            Some(Closed::Behind { lost }) => warn!(
                "{}: no lee lo que se le envía ({lost} mensajes perdidos); se cierra la conexión",
                self.peer
            ),
            Some(Closed::Evicted) => debug!(
                "{}: cerrada para hacer sitio: no había enviado nada",
                self.peer
            ),
            Some(Closed::Client) | None => {}
        }
        let counters = self.responder.counters();
        counters.abandoned(self.received - self.answered);
        counters.disconnected(self.peer);
    }

    fn stays_while_idle(&self) -> bool {
        self.session
            .as_ref()
            .is_some_and(|session| session.stays_while_idle())
    }

    fn reset(&self, idle: std::pin::Pin<&mut Sleep>) {
        idle.reset(Instant::now() + self.limits.idle_timeout);
    }

    fn next_id(&mut self) -> QuestionId {
        self.received += 1;
        QuestionId {
            client: self.peer,
            number: self.received,
        }
    }

    /// A frame read, classified once: a mensaje goes to the role's
    /// session (a client has one when the role takes mensajes), a
    /// question to the role, anything else is refused here.
    fn take_question(&mut self, body: &[u8]) {
        let id = self.next_id();
        let question = match ClientFrame::classify(body, self.session.is_some()) {
            ClientFrame::Pedido(pedido) => return self.take_pedido(id, pedido),
            ClientFrame::Question(question) => Ok(question),
            ClientFrame::Refused(refusal) => Err(refusal),
        };
        let span = followed_question_span(id);
        if !span.is_none() {
            span.in_scope(|| info!("Recibimos una pregunta: {}", preview(body)));
        }
        let kind = question.as_ref().ok().copied();
        self.responder.counters().asked(kind);
        self.kinds.push_back(kind);
        let pending = match question {
            Ok(question) => span.in_scope(|| self.responder.answer(id, question)),
            Err(refusal) => ready(refusal.into()),
        };
        self.in_flight.push_back(pending.instrument(span));
    }

    /// A mensaje request, answered by the client's session.
    fn take_pedido(&mut self, id: QuestionId, pedido: Result<Pedido, PedidoRefused>) {
        self.responder.counters().asked(None);
        self.kinds.push_back(None);
        let answer = match self.session.as_mut() {
            Some(session) => session.answer(pedido),
            // Never: a frame is classified as a mensaje only for a client
            // with a session. Refused as one all the same.
            None => FrameAnswer::Now(Respuesta::error("error", &MensajeError::NotNamed)),
        };
        let pending: PendingAnswer = match answer {
            FrameAnswer::Now(respuesta) => ready(Answer::Mensaje(respuesta.to_frame())),
            FrameAnswer::Later(respuesta) => {
                Box::pin(async move { Answer::Mensaje(respuesta.await.to_frame()) })
            }
        };
        self.in_flight
            .push_back(pending.instrument(question_span(id)));
    }

    /// A declared length over the limit: the stream cannot be re-read, so
    /// the refusal is the last answer and reading stops.
    fn refuse_too_large(&mut self) {
        question_line!(
            warn,
            "{}: mensaje de más de {} bytes; se responde con error y se cierra",
            self.peer,
            self.limits.max_frame
        );
        let id = self.next_id();
        self.responder.counters().asked(None);
        self.kinds.push_back(None);
        let refusal = QuestionError::FrameTooLarge {
            limit: self.limits.max_frame,
        };
        self.in_flight
            .push_back(ready(refusal.into()).instrument(question_span(id)));
        self.reading = false;
    }

    /// Writes what was pushed to this client, in one flush; a client that
    /// fell too far behind is cut off.
    async fn send_pushes(&mut self) -> Result<(), Closed> {
        let Some(queue) = self.pushes.clone() else {
            return Ok(());
        };
        self.pushed.clear();
        if let Taken::Cut { lost } = queue.take(&mut self.pushed) {
            return Err(Closed::Behind { lost });
        }
        let answers = &mut self.answers;
        let pushed = &mut self.pushed;
        let write = async {
            for frame in pushed.drain(..) {
                answers.feed(frame).await?;
            }
            SinkExt::<Bytes>::flush(answers).await
        };
        tokio::select! {
            written = timeout(self.limits.idle_timeout, write) => match written {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(Closed::Client),
                Err(_) => Err(Closed::Behind {
                    lost: queue.lost_total(),
                }),
            },
            // It lost so much meanwhile that it is cut off: no use waiting
            // for it to read what is already on its way.
            () = queue.cut_off() => Err(Closed::Behind {
                lost: queue.lost_total(),
            }),
        }
    }

    /// Writes `first` and the next transfer frame if it is already waiting,
    /// in one flush.
    async fn send_bulk(&mut self, first: Bytes) -> Result<(), Closed> {
        let answers = &mut self.answers;
        let bulk = &mut self.bulk;
        let write = async {
            answers.feed(first).await?;
            // One more at most: what waits in the write buffer for a client
            // that stopped reading stays under two frames.
            for _ in 0..1 {
                match bulk.as_mut().map(|lane| lane.try_recv()) {
                    Some(Ok(frame)) => answers.feed(frame).await?,
                    _ => break,
                }
            }
            SinkExt::<Bytes>::flush(answers).await
        };
        match timeout(self.limits.idle_timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Closed::Client),
            Err(_) => {
                info!(
                    "{}: no lee lo que pidió hace {:?}; se cierra la conexión",
                    self.peer, self.limits.idle_timeout
                );
                Err(Closed::Client)
            }
        }
    }

    /// Writes `first` and every other answer already worked out, in one
    /// flush, then tells the role what was delivered.
    async fn send_answers(&mut self, first: Answer) -> Result<(), Closed> {
        let mut ready = vec![first];
        while let Some(Some(answer)) = self.in_flight.next().now_or_never() {
            ready.push(answer);
        }
        self.delivered.clear();
        let counters = self.responder.counters();
        for (number, answer) in (self.answered + 1..).zip(&ready) {
            let id = QuestionId {
                client: self.peer,
                number,
            };
            let question = self.kinds.pop_front().flatten();
            counters.answered(question, answer);
            self.delivered.push(Delivered {
                id,
                question,
                real: answer.is_real(),
            });
            question_line!(
                info,
                id = id,
                "Respondemos: {}",
                for_log(&answer.to_string())
            );
        }
        self.answered += ready.len() as u64;
        let answers = &mut self.answers;
        let write = async {
            for answer in ready {
                answers.feed(answer.into_frame()).await?;
            }
            SinkExt::<Bytes>::flush(answers).await
        };
        let pushes = self.pushes.clone();
        let cut_off = async {
            match &pushes {
                Some(queue) => queue.cut_off().await,
                None => std::future::pending().await,
            }
        };
        let written = tokio::select! {
            written = timeout(self.limits.idle_timeout, write) => written,
            // It reads nothing and fell so far behind on its pushes that it
            // is cut off.
            () = cut_off => {
                return Err(Closed::Behind {
                    lost: pushes.as_ref().map_or(0, |queue| queue.lost_total()),
                });
            }
        };
        match written {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                debug!(
                    "{}: no se pudo enviar la respuesta ({err}); conexión cerrada",
                    self.peer
                );
                return Err(Closed::Client);
            }
            Err(_) => {
                question_line!(
                    info,
                    "{}: no lee sus respuestas hace {:?}; se cierra la conexión",
                    self.peer,
                    self.limits.idle_timeout
                );
                return Err(Closed::Client);
            }
        }
        self.responder.delivered(&self.delivered);
        Ok(())
    }
}

/// The next transfer frame, if the lane is open; a closed lane is
/// dropped, so the loop stops asking it.
async fn next_bulk(lane: &mut Option<BulkLane>) -> Option<Bytes> {
    let frame = lane.as_mut()?.recv().await;
    if frame.is_none() {
        *lane = None;
    }
    frame
}

/// An answer known at once.
fn ready(answer: Answer) -> PendingAnswer {
    Box::pin(std::future::ready(answer))
}
