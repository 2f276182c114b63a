//! The framing of every TCP link: a 4-byte big-endian unsigned length, then
//! exactly that many bytes. `tokio_util`'s `LengthDelimitedCodec` already
//! handles partial reads, several frames per read and a length limit checked
//! before anything is allocated; this module only configures it, once.

use std::io;

use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_util::codec::{
    length_delimited::LengthDelimitedCodecError, FramedRead, FramedWrite, LengthDelimitedCodec,
};

/// Default largest frame body accepted, in bytes (the contract's 64 KiB).
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024;

/// Starting size of a connection's read and write buffers; they grow for
/// longer frames. Questions and answers are a few dozen bytes, and with the
/// codec's default (8 KiB each) the buffers of a class of thousands of
/// connected students were most of Docencio's memory.
pub const CONNECTION_BUFFER: usize = 128;

/// Bytes of frames buffered before they are written even mid-burst (the
/// codec's default), so a burst still goes out in one write whatever size
/// the buffer started at.
pub const WRITE_BURST: usize = 8 * 1024;

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

/// Frames read from one TCP connection.
pub type FrameReader = FramedRead<OwnedReadHalf, LengthDelimitedCodec>;

/// Frames written to one TCP connection.
pub type FrameWriter = FramedWrite<OwnedWriteHalf, LengthDelimitedCodec>;

/// How big a connection's buffers start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buffers {
    /// [`CONNECTION_BUFFER`]: one of thousands of connections (a student's,
    /// or a server's for one student), each carrying a few short frames.
    Small,
    /// The codec's default (8 KiB): one of a few busy links carrying the
    /// questions of many students (Docencio's links to Tareo).
    Link,
}

/// The one way a TCP connection becomes framed, on every side of every
/// link: Nagle off (a question or answer is one small write that must go
/// now), reads refused past `max_read` bytes, and a burst of writes flushed
/// in one `write` however small the buffer started.
pub fn split_framed(
    stream: TcpStream,
    max_read: usize,
    buffers: Buffers,
) -> (FrameReader, FrameWriter) {
    // Only fails on a socket already closed, which the first read reports.
    let _ = stream.set_nodelay(true);
    let capacity = match buffers {
        Buffers::Small => CONNECTION_BUFFER,
        Buffers::Link => WRITE_BURST,
    };
    let (read_half, write_half) = stream.into_split();
    let reader = FramedRead::with_capacity(read_half, frame_codec(max_read), capacity);
    // What we write is ours and bounded by its own rules; the encoder
    // never refuses it.
    let mut writer =
        FramedWrite::with_capacity(write_half, frame_codec(u32::MAX as usize), capacity);
    writer.set_backpressure_boundary(WRITE_BURST);
    (reader, writer)
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

    /// What a stream of bytes must decode to, by the contract's definition:
    /// the complete frames in order, then either an over-limit header (an
    /// error) or an incomplete tail (waiting for more).
    fn model(stream: &[u8], max_frame: usize) -> (Vec<Vec<u8>>, bool) {
        let mut frames = Vec::new();
        let mut rest = stream;
        while rest.len() >= 4 {
            let declared = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            if declared > max_frame {
                return (frames, true);
            }
            if rest.len() < 4 + declared {
                break;
            }
            frames.push(rest[4..4 + declared].to_vec());
            rest = &rest[4 + declared..];
        }
        (frames, false)
    }

    /// A byte stream that is mostly well-formed frames, with arbitrary
    /// bytes (bad headers, cut bodies) mixed in.
    fn streams() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let frame = prop::collection::vec(any::<u8>(), 0..80).prop_map(|body| framed(&body));
        let garbage = prop::collection::vec(any::<u8>(), 0..12);
        prop::collection::vec(prop_oneof![4 => frame, 1 => garbage], 0..20)
            .prop_map(|parts| parts.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// However a stream is cut into reads, the decoder yields exactly the
        /// model's frames, refuses exactly the model's over-limit header,
        /// and never holds more than one frame's worth of memory.
        #[test]
        fn decodes_any_stream_cut_anywhere_like_the_model(
            stream in streams(),
            cuts in proptest::collection::vec(1usize..64, 0..40),
            max_frame in 0usize..100,
        ) {
            let (expected, expect_error) = model(&stream, max_frame);
            let mut codec = frame_codec(max_frame);
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            let mut error = false;
            let mut offset = 0;
            let mut cuts = cuts.into_iter();
            'feed: while offset < stream.len() {
                let step = cuts.next().unwrap_or(stream.len()).min(stream.len() - offset);
                buf.extend_from_slice(&stream[offset..offset + step]);
                offset += step;
                loop {
                    match codec.decode(&mut buf) {
                        Ok(Some(frame)) => got.push(frame.to_vec()),
                        Ok(None) => break,
                        Err(err) => {
                            proptest::prop_assert!(is_frame_too_large(&err), "{}", err);
                            error = true;
                            break 'feed;
                        }
                    }
                }
                proptest::prop_assert!(
                    buf.capacity() <= 2 * (max_frame + 4) + 2 * 64 + 128,
                    "buffer grew to {}", buf.capacity()
                );
            }
            proptest::prop_assert_eq!(got, expected);
            proptest::prop_assert_eq!(error, expect_error);
        }

        /// Whatever a header declares, at most the limit is ever reserved.
        #[test]
        fn a_declared_length_never_reserves_more_than_the_limit(declared: u32) {
            let mut codec = frame_codec(DEFAULT_MAX_FRAME);
            let mut buf = BytesMut::from(&declared.to_be_bytes()[..]);
            let decoded = codec.decode(&mut buf);
            if declared as usize > DEFAULT_MAX_FRAME {
                proptest::prop_assert!(decoded.is_err());
            } else {
                proptest::prop_assert!(matches!(decoded, Ok(None) | Ok(Some(_))));
            }
            proptest::prop_assert!(buf.capacity() <= 2 * (DEFAULT_MAX_FRAME + 4));
        }
    }
}
