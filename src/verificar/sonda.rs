//! A raw client of the contract's framing that shows what came as bytes:
//! every read has a deadline, nothing trusts the target's lengths.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::ANSWER_WAIT;

/// Longest frame a probe accepts from a target (a larger declared length
/// is reported, never allocated).
const MAX_READ: u32 = 1 << 20;

/// Where the target is, and how long an answer is waited for.
#[derive(Debug, Clone)]
pub struct Destino {
    pub addr: String,
    pub espera: Duration,
}

impl Destino {
    pub fn new(addr: &str) -> Self {
        Destino {
            addr: addr.to_owned(),
            espera: ANSWER_WAIT,
        }
    }
}

/// A connection to the target.
pub struct Sonda {
    stream: TcpStream,
    espera: Duration,
}

/// `bytes` as a person reads them: text, with anything unprintable as
/// `\xNN` (length bytes inside a text show up this way).
pub fn show(bytes: &[u8]) -> String {
    let mut shown = String::new();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() && (c as u32) < 0x100 {
                shown.push_str(&format!("\\x{:02x}", c as u32));
            } else if c.is_control() || misleading(c) {
                shown.push_str(&format!("\\u{{{:x}}}", c as u32));
            } else {
                shown.push(c);
            }
        }
        for byte in chunk.invalid() {
            shown.push_str(&format!("\\x{byte:02x}"));
        }
    }
    if shown.chars().count() > 200 {
        let cut: String = shown.chars().take(200).collect();
        return format!("{cut}…");
    }
    shown
}

/// Characters that would reorder or hide what a report shows (bidi
/// controls, invisible marks) or that XML refuses (noncharacters).
fn misleading(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{061C}'
            | '\u{FEFF}'
            | '\u{FDD0}'..='\u{FDEF}'
            | '\u{FFFE}'
            | '\u{FFFF}'
    )
}

/// A frame as sent: 4-byte big-endian length, then the bytes.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut framed = (body.len() as u32).to_be_bytes().to_vec();
    framed.extend_from_slice(body);
    framed
}

impl Sonda {
    pub async fn connect(destino: &Destino) -> Result<Sonda, String> {
        let addr = destino.addr.as_str();
        match tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                Ok(Sonda {
                    stream,
                    espera: destino.espera,
                })
            }
            Ok(Err(err)) => Err(format!("no se pudo conectar con {addr}: {err}")),
            Err(_) => Err(format!("{addr} no aceptó la conexión en 3 s")),
        }
    }

    /// Writes `bytes` as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), String> {
        match tokio::time::timeout(Duration::from_secs(3), self.stream.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(format!("no se pudo enviar: {err}")),
            Err(_) => Err("no acepta lo que se le envía (3 s)".into()),
        }
    }

    /// Sends one frame.
    pub async fn send(&mut self, body: &[u8]) -> Result<(), String> {
        self.send_raw(&frame(body)).await
    }

    /// The next frame, within the target's wait.
    pub async fn read(&mut self) -> Result<Vec<u8>, String> {
        self.read_within(self.espera).await
    }

    pub async fn read_within(&mut self, wait: Duration) -> Result<Vec<u8>, String> {
        match tokio::time::timeout(wait, self.read_frame()).await {
            Ok(result) => result,
            Err(_) => Err(format!("sin respuesta en {wait:?}")),
        }
    }

    async fn read_frame(&mut self) -> Result<Vec<u8>, String> {
        let mut header = [0u8; 4];
        self.stream
            .read_exact(&mut header)
            .await
            .map_err(|err| format!("la conexión se cerró antes de una respuesta ({err})"))?;
        let length = u32::from_be_bytes(header);
        if length > MAX_READ {
            return Err(format!(
                "longitud declarada {length} (bytes {:02x} {:02x} {:02x} {:02x}): ¿no es big-endian?",
                header[0], header[1], header[2], header[3]
            ));
        }
        let mut body = vec![0u8; length as usize];
        self.stream
            .read_exact(&mut body)
            .await
            .map_err(|err| format!("la respuesta se cortó a mitad ({err})"))?;
        Ok(body)
    }

    /// Sends `question` and reads one answer, as text.
    pub async fn ask(&mut self, question: &[u8]) -> Result<Vec<u8>, String> {
        self.send(question).await?;
        self.read().await
    }

    /// True when the target closes the connection within `wait` (reading
    /// and discarding what comes before).
    pub async fn closes_within(&mut self, wait: Duration) -> bool {
        let mut buffer = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buffer)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::show;

    #[test]
    fn shows_length_bytes_bidi_controls_and_noncharacters_as_escapes() {
        assert_eq!(show(b"\x00\x00\x00\x16Hola"), "\\x00\\x00\\x00\\x16Hola");
        assert_eq!(
            show("a\u{202e}b\u{ffff}\u{1b}".as_bytes()),
            "a\\u{202e}b\\u{ffff}\\x1b"
        );
        assert_eq!(show(b"\xff\xfeok"), "\\xff\\xfeok");
    }
}
