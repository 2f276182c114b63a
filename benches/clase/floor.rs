//! The floor: the least a framed server on tokio can do for a student. One
//! hop, no peers, no logs, no counters: every frame read is answered with
//! the `Contenido` text. What the class scores is a ratio to this, measured
//! on the same machine in the same run.

use futures::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

use aula::wire::texts::CONTENIDO_ANSWER;

/// Serves until the process is killed; prints the address it listens on,
/// in the roles' own words, so the benchmark finds it the same way.
pub async fn serve() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    eprintln!(
        "{} {}",
        aula::wire::texts::LISTENING,
        listener.local_addr()?
    );
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let mut framed = Framed::new(stream, LengthDelimitedCodec::new());
            while let Some(Ok(_question)) = framed.next().await {
                let answer = bytes::Bytes::from_static(CONTENIDO_ANSWER.as_bytes());
                if framed.send(answer).await.is_err() {
                    break;
                }
            }
        });
    }
}
