//! The framing of every TCP link: a 4-byte big-endian unsigned length, then
//! exactly that many bytes. `tokio_util`'s `LengthDelimitedCodec` already
//! handles partial reads, several frames per read and a length limit checked
//! before anything is allocated; this module only configures it, once.

use std::io;

use tokio_util::codec::{length_delimited::LengthDelimitedCodecError, LengthDelimitedCodec};

/// Default largest frame body accepted, in bytes (the contract's 64 KiB).
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024;

/// The contract's codec, refusing bodies longer than `max_frame` bytes.
///
/// The limit is checked against the declared length as soon as the 4-byte
/// header is in, so a peer declaring 4 GiB costs nothing.
pub fn frame_codec(max_frame: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_type::<u32>()
        .big_endian()
        .max_frame_length(max_frame)
        .new_codec()
}

/// True when a decode error means "declared length over the limit": the only
/// decode error after which an answer can still be written before closing.
pub fn is_frame_too_large(err: &io::Error) -> bool {
    err.get_ref()
        .is_some_and(|inner| inner.is::<LengthDelimitedCodecError>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, Bytes, BytesMut};
    use tokio_util::codec::{Decoder, Encoder};

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn encodes_big_endian_length_then_body() {
        let mut codec = frame_codec(DEFAULT_MAX_FRAME);
        let mut out = BytesMut::new();
        codec
            .encode(Bytes::from_static(b"Tarea"), &mut out)
            .unwrap();
        assert_eq!(&out[..], &framed(b"Tarea")[..]);
    }

    #[test]
    fn waits_for_the_rest_of_a_partial_header_and_body() {
        let mut codec = frame_codec(DEFAULT_MAX_FRAME);
        let wire = framed("Pregunta Difícil".as_bytes());
        let mut buf = BytesMut::new();
        for (i, byte) in wire.iter().enumerate() {
            assert!(
                codec.decode(&mut buf).unwrap().is_none(),
                "frame complete after only {i} bytes"
            );
            buf.put_u8(*byte);
        }
        let frame = codec.decode(&mut buf).unwrap().expect("whole frame");
        assert_eq!(&frame[..], "Pregunta Difícil".as_bytes());
        assert!(buf.is_empty());
    }

    #[test]
    fn splits_several_frames_delivered_in_one_read() {
        let mut codec = frame_codec(DEFAULT_MAX_FRAME);
        let mut buf = BytesMut::new();
        for q in ["Contenido", "Tarea", "", "Pregunta Dificil"] {
            buf.extend_from_slice(&framed(q.as_bytes()));
        }
        let mut got = Vec::new();
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            got.push(String::from_utf8(frame.to_vec()).unwrap());
        }
        assert_eq!(got, ["Contenido", "Tarea", "", "Pregunta Dificil"]);
    }

    #[test]
    fn empty_frame_is_a_frame() {
        let mut codec = frame_codec(DEFAULT_MAX_FRAME);
        let mut buf = BytesMut::from(&[0u8, 0, 0, 0][..]);
        let frame = codec.decode(&mut buf).unwrap().expect("empty frame");
        assert!(frame.is_empty());
    }

    #[test]
    fn refuses_an_over_limit_length_from_the_header_alone() {
        let mut codec = frame_codec(DEFAULT_MAX_FRAME);
        // 4 GiB - 1 declared, no body sent: refused at once, nothing reserved.
        let mut buf = BytesMut::from(&[0xffu8, 0xff, 0xff, 0xff][..]);
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(is_frame_too_large(&err), "{err}");
        assert!(buf.capacity() < 1024, "reserved {} bytes", buf.capacity());
    }

    #[test]
    fn accepts_exactly_the_limit_and_refuses_one_more() {
        let mut codec = frame_codec(8);
        let mut buf = BytesMut::from(&framed(b"12345678")[..]);
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap().len(), 8);
        let mut buf = BytesMut::from(&framed(b"123456789")[..]);
        assert!(is_frame_too_large(&codec.decode(&mut buf).unwrap_err()));
    }

    #[test]
    fn invalid_utf8_is_still_a_frame_for_the_parser_to_refuse() {
        let mut codec = frame_codec(DEFAULT_MAX_FRAME);
        let mut buf = BytesMut::from(&framed(&[0xff, 0xfe, 0x00])[..]);
        let frame = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(&frame[..], &[0xff, 0xfe, 0x00]);
    }

    #[test]
    fn eof_mid_frame_is_an_error_not_a_frame() {
        let mut codec = frame_codec(DEFAULT_MAX_FRAME);
        let mut buf = BytesMut::from(&framed(b"Tarea")[..7]);
        assert!(codec.decode_eof(&mut buf).is_err());
    }
}
