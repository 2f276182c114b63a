//! How a file travels over the mensaje frames (see `docs/protocolo.md`,
//! "Material"): in chunks of [`CHUNK`] bytes, each with its offset and the
//! bytes in base64 (a frame is JSON, so binary goes as text), well under
//! the frame limit.

use base64::Engine;
use serde::{Deserialize, Serialize};

/// Bytes of a file in one chunk: 32 KiB become about 43.7 KiB of base64,
/// well under the 64 KiB frame limit with the JSON around them.
pub const CHUNK: usize = 32 * 1024;

/// Chunks of an upload a client may send before their answers come back:
/// what Docencio holds for one upload is at most this many chunks.
pub const UPLOAD_WINDOW: usize = 8;

/// One chunk of a file (`data` of a `trozo` mensaje).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trozo {
    pub nombre: String,
    /// Where in the file these bytes go.
    pub desde: u64,
    /// The bytes, in standard base64.
    pub datos: String,
}

impl Trozo {
    pub fn new(nombre: &str, desde: u64, bytes: &[u8]) -> Self {
        Trozo {
            nombre: nombre.to_owned(),
            desde,
            datos: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    /// The bytes, or why they are not valid base64 / too many.
    pub fn bytes(&self) -> Result<Vec<u8>, String> {
        if self.datos.len() > CHUNK.div_ceil(3) * 4 {
            return Err(format!("un trozo lleva a lo más {CHUNK} bytes"));
        }
        base64::engine::general_purpose::STANDARD
            .decode(&self.datos)
            .map_err(|err| format!("datos en base64 inválidos: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_chunk_fits_in_a_frame() {
        let trozo = Trozo::new(
            &"n".repeat(crate::archivos::MAX_NOMBRE * 4),
            u64::MAX,
            &[0xff; CHUNK],
        );
        let frame = serde_json::json!({"operacion": "trozo", "data": trozo}).to_string();
        assert!(
            frame.len() < crate::wire::codec::DEFAULT_MAX_FRAME,
            "{}",
            frame.len()
        );
        assert_eq!(trozo.bytes().unwrap(), vec![0xff; CHUNK]);
    }

    #[test]
    fn bad_chunks_are_refused() {
        let mut trozo = Trozo::new("a", 0, b"hola");
        trozo.datos = "no es base64!".into();
        assert!(trozo.bytes().is_err());
        let big = Trozo::new("a", 0, &vec![0; CHUNK + 3]);
        assert!(big.bytes().is_err());
    }
}
