//! Fuzzing of the `frame` and `line` codecs on stable Rust, with proptest.
//!
//! Inputs are the committed corpus (`tests/corpus/{frame,line}/`: valid traffic and the
//! edge cases of the protocol description), mutations of it, and random bytes. For
//! each input, fed whole and in random chunks, the codecs must not panic, must decode
//! the same items whichever way the bytes are cut, and must hold no more memory than
//! the bytes they were given. Encoded items decode back to themselves, and frames and
//! lines written here by hand from PROTOCOL.md decode to what they hold and are what
//! the codecs write.
//!
//! `FUZZ_CASES` sets the number of generated inputs per property (default 256); CI
//! runs a longer pass.

use bytes::BytesMut;
use proptest::prelude::*;
use std::fmt::Debug;
use std::path::Path;
use switchboard_server::protocols::frame::{Frame, FrameCodec};
use switchboard_server::protocols::line::LineCodec;
use tokio_util::codec::{Decoder, Encoder};

const MAX_FRAME: usize = 65536;
const MAX_LINE: usize = 8192;

fn corpus(kind: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(kind);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    entries.sort();
    let inputs: Vec<Vec<u8>> = entries
        .iter()
        .map(|path| std::fs::read(path).expect("corpus file"))
        .collect();
    assert!(inputs.len() >= 10, "the {kind} corpus is missing");
    inputs
}

/// What decoding produced: items, then possibly the error that ended the stream.
#[derive(Debug, PartialEq)]
enum Outcome {
    Item(String),
    Error(String),
}

/// Feeds `input` to a fresh codec in chunks of the given sizes (the rest in one piece)
/// and collects what it decodes, checking after every call that it reserved nothing.
fn decode_in_chunks<C>(mut codec: C, input: &[u8], cuts: &[usize]) -> Vec<Outcome>
where
    C: Decoder,
    C::Item: Debug,
    C::Error: std::fmt::Display,
{
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut rest = input;
    let mut cuts = cuts.iter().copied();
    while !rest.is_empty() {
        let n = cuts.next().unwrap_or(rest.len()).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        buf.extend_from_slice(chunk);
        loop {
            let capacity = buf.capacity();
            let decoded = codec.decode(&mut buf);
            // Memory follows the bytes that arrived, never a length the peer announced:
            // decoding reserves nothing.
            assert!(
                buf.capacity() <= capacity,
                "decoding grew the buffer from {capacity} to {} bytes",
                buf.capacity()
            );
            match decoded {
                Ok(Some(item)) => out.push(Outcome::Item(format!("{item:?}"))),
                Ok(None) => break,
                Err(e) => {
                    out.push(Outcome::Error(e.to_string()));
                    return out;
                }
            }
            assert!(out.len() <= input.len(), "more items than input bytes");
        }
    }
    out
}

/// Whole and chunked decoding agree.
fn check_input(input: &[u8], cuts: &[usize]) {
    let whole = decode_in_chunks(FrameCodec::new(MAX_FRAME), input, &[]);
    let chunked = decode_in_chunks(FrameCodec::new(MAX_FRAME), input, cuts);
    assert_eq!(whole, chunked, "frame codec depends on how input is cut");
    let whole = decode_in_chunks(LineCodec::new(MAX_LINE), input, &[]);
    let chunked = decode_in_chunks(LineCodec::new(MAX_LINE), input, cuts);
    assert_eq!(whole, chunked, "line codec depends on how input is cut");
}

/// A corpus entry changed by a few edits: flip, insert, delete, or splice in another entry.
fn mutate(entries: &[Vec<u8>], base: usize, edits: &[(u8, usize, u8)]) -> Vec<u8> {
    let mut input = entries[base % entries.len()].clone();
    for &(kind, at, value) in edits {
        let at = if input.is_empty() {
            0
        } else {
            at % (input.len() + 1)
        };
        match kind % 4 {
            0 if at < input.len() => input[at] ^= value.max(1),
            1 => input.insert(at, value),
            2 if at < input.len() => {
                input.drain(at..(at + value as usize % 8 + 1).min(input.len()));
            }
            _ => {
                let other = &entries[value as usize % entries.len()];
                let take = other.len().min(64);
                input.splice(at..at, other[..take].iter().copied());
            }
        }
    }
    input
}

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

#[test]
fn every_corpus_entry_decodes_the_same_however_it_is_cut() {
    for input in corpus("frame").iter().chain(&corpus("line")) {
        for chunk in [1, 2, 3, 5, 7, 64] {
            let cuts = vec![chunk; input.len()];
            check_input(input, &cuts);
        }
    }
}

#[test]
fn the_corpus_edge_cases_decode_as_the_protocol_says() {
    let frames = |name: &str| {
        let input = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/corpus/frame/{name}.bin")),
        )
        .expect("corpus file");
        decode_in_chunks(FrameCodec::new(MAX_FRAME), &input, &[])
    };
    assert_eq!(
        frames("oversize_length"),
        [Outcome::Error("frame too large".into())]
    );
    assert_eq!(
        frames("length_u32_max"),
        [Outcome::Error("frame too large".into())]
    );
    assert!(matches!(&frames("empty_frame")[..], [Outcome::Item(bad)] if bad.starts_with("Bad")));
    assert!(
        frames("max_length_header_only").is_empty(),
        "waits for the body"
    );
    assert_eq!(frames("broadcast_burst").len(), 20);
    let lines = |name: &str| {
        let input = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/corpus/line/{name}.bin")),
        )
        .expect("corpus file");
        decode_in_chunks(LineCodec::new(MAX_LINE), &input, &[])
    };
    assert_eq!(lines("exactly_max").len(), 1);
    assert!(matches!(&lines("exactly_max")[0], Outcome::Item(i) if i.starts_with("Request")));
    assert!(matches!(&lines("exactly_max_crlf")[0], Outcome::Item(i) if i.starts_with("Request")));
    assert!(matches!(&lines("one_over_max")[..], [Outcome::Error(_)]));
    assert!(matches!(&lines("invalid_utf8")[..], [Outcome::Item(i)] if i.starts_with("Bad")));
    assert!(lines("no_newline").is_empty());
}

// ----- bytes written by hand from PROTOCOL.md ------------------------------------------
//
// The round trips below go through the codec both ways, so a mistake made the same way
// in both directions would pass them. These build the wire format here, from the
// protocol description, and check the codec against it in each direction.

/// A frame as PROTOCOL.md writes it: `length:u32 big-endian | opcode:u8 | payload`,
/// `length` counting the body (opcode and payload).
fn wire_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let length = 1 + payload.len() as u32;
    let mut out = length.to_be_bytes().to_vec();
    out.push(opcode);
    out.extend_from_slice(payload);
    out
}

/// What the frame decoder must make of a well-formed frame.
fn request(opcode: u8, payload: &[u8]) -> Outcome {
    let frame = Frame {
        opcode,
        payload: bytes::Bytes::copy_from_slice(payload),
    };
    Outcome::Item(format!("{:?}", switchboard::Inbound::Request(frame)))
}

#[test]
fn hand_built_frames_at_the_limits_decode_as_the_protocol_says() {
    let decode = |input: &[u8]| decode_in_chunks(FrameCodec::new(MAX_FRAME), input, &[]);
    // `length` 1: an opcode and no payload.
    assert_eq!(decode(&[0, 0, 0, 1, 0x03]), [request(0x03, b"")]);
    // `length` == max_frame is allowed; one more is not, and ends the stream.
    let largest = vec![b'x'; MAX_FRAME - 1];
    assert_eq!(
        decode(&wire_frame(0x01, &largest)),
        [request(0x01, &largest)]
    );
    let too_large = [&(MAX_FRAME as u32 + 1).to_be_bytes()[..], &[0x01]].concat();
    assert_eq!(
        decode(&too_large),
        [Outcome::Error("frame too large".into())]
    );
    // `length` 0 is a bad packet, and the next frame is still read.
    let outcomes = decode(&[&[0, 0, 0, 0][..], &wire_frame(0x03, b"p")].concat());
    assert!(
        matches!(&outcomes[..], [Outcome::Item(bad), next] if bad.starts_with("Bad") && *next == request(0x03, b"p")),
        "{outcomes:?}"
    );
    // The length is big-endian: 0x00000102 is 258 bytes of body, not 513.
    let body = [&[0x01][..], &[b'y'; 257]].concat();
    let input = [&[0, 0, 1, 2][..], &body].concat();
    assert_eq!(decode(&input), [request(0x01, &[b'y'; 257])]);
}

#[test]
fn hand_built_lines_decode_as_the_protocol_says() {
    let decode = |input: &[u8]| decode_in_chunks(LineCodec::new(MAX_LINE), input, &[]);
    let request = |text: &str| {
        Outcome::Item(format!(
            "{:?}",
            switchboard::Inbound::Request(text.to_owned())
        ))
    };
    // `\n` ends a line, a trailing `\r` is not part of it, other bytes are.
    assert_eq!(
        decode(b"ECHO a\nPING\r\nECHO  two  \n"),
        [request("ECHO a"), request("PING"), request("ECHO  two  ")]
    );
    // At most max_line bytes, not counting the ending.
    let longest = "E".repeat(MAX_LINE);
    assert_eq!(
        decode(format!("{longest}\r\n").as_bytes()),
        [request(&longest)]
    );
    let outcomes = decode(format!("{longest}E\n").as_bytes());
    assert!(matches!(&outcomes[..], [Outcome::Error(_)]), "{outcomes:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn hand_built_frames_decode_to_their_fields_and_encode_to_the_same_bytes(
        frames in prop::collection::vec((any::<u8>(), prop::collection::vec(any::<u8>(), 0..300)), 0..20),
        cuts in prop::collection::vec(1usize..64, 0..64),
    ) {
        let wire: Vec<u8> = frames.iter().flat_map(|(op, payload)| wire_frame(*op, payload)).collect();
        let decoded = decode_in_chunks(FrameCodec::new(MAX_FRAME), &wire, &cuts);
        let expected: Vec<Outcome> = frames.iter().map(|(op, payload)| request(*op, payload)).collect();
        prop_assert_eq!(decoded, expected);
        let mut codec = FrameCodec::new(MAX_FRAME);
        let mut encoded = BytesMut::new();
        for (opcode, payload) in &frames {
            let frame = Frame { opcode: *opcode, payload: bytes::Bytes::copy_from_slice(payload) };
            codec.encode(frame, &mut encoded).expect("encodes");
        }
        prop_assert_eq!(&encoded[..], &wire[..]);
    }

    #[test]
    fn hand_built_lines_decode_to_their_text_and_encode_to_the_same_bytes(
        lines in prop::collection::vec(("[ -~]{0,100}", any::<bool>()), 0..20),
        cuts in prop::collection::vec(1usize..64, 0..64),
    ) {
        // Each ends with `\n` or `\r\n`, as a client may send it.
        let wire: Vec<u8> = lines
            .iter()
            .flat_map(|(text, crlf)| {
                let ending: &[u8] = if *crlf { b"\r\n" } else { b"\n" };
                [text.as_bytes(), ending].concat()
            })
            .collect();
        let decoded = decode_in_chunks(LineCodec::new(MAX_LINE), &wire, &cuts);
        let expected: Vec<Outcome> = lines
            .iter()
            .map(|(text, _)| Outcome::Item(format!("{:?}", switchboard::Inbound::Request(text.clone()))))
            .collect();
        prop_assert_eq!(decoded, expected);
        // The server ends its lines with `\n`.
        let mut codec = LineCodec::new(MAX_LINE);
        let mut encoded = BytesMut::new();
        for (text, _) in &lines {
            codec.encode(text.clone(), &mut encoded).expect("encodes");
        }
        let written: Vec<u8> = lines.iter().flat_map(|(text, _)| [text.as_bytes(), b"\n"].concat()).collect();
        prop_assert_eq!(&encoded[..], &written[..]);
    }

    #[test]
    fn random_bytes_decode_the_same_however_they_are_cut(
        input in prop::collection::vec(any::<u8>(), 0..512),
        cuts in prop::collection::vec(1usize..64, 0..64),
    ) {
        check_input(&input, &cuts);
    }

    #[test]
    fn mutated_corpus_entries_decode_the_same_however_they_are_cut(
        frame_corpus in any::<bool>(),
        base in any::<usize>(),
        edits in prop::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..6),
        cuts in prop::collection::vec(1usize..64, 0..64),
    ) {
        let entries = corpus(if frame_corpus { "frame" } else { "line" });
        check_input(&mutate(&entries, base, &edits), &cuts);
    }

    #[test]
    fn encoded_frames_decode_to_themselves(
        frames in prop::collection::vec((any::<u8>(), prop::collection::vec(any::<u8>(), 0..300)), 0..20),
        cuts in prop::collection::vec(1usize..64, 0..64),
    ) {
        let mut codec = FrameCodec::new(MAX_FRAME);
        let mut wire = BytesMut::new();
        for (opcode, payload) in &frames {
            codec.encode(Frame::new(*opcode, payload.clone()), &mut wire).expect("encodes");
        }
        let decoded = decode_in_chunks(FrameCodec::new(MAX_FRAME), &wire, &cuts);
        let expected: Vec<Outcome> = frames
            .iter()
            .map(|(opcode, payload)| {
                let frame = Frame::new(*opcode, payload.clone());
                Outcome::Item(format!("{:?}", switchboard::Inbound::Request(frame)))
            })
            .collect();
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn encoded_lines_decode_to_themselves(
        lines in prop::collection::vec("[ -~]{0,100}", 0..20),
        cuts in prop::collection::vec(1usize..64, 0..64),
    ) {
        let mut codec = LineCodec::new(MAX_LINE);
        let mut wire = BytesMut::new();
        for line in &lines {
            codec.encode(line.clone(), &mut wire).expect("encodes");
        }
        let decoded = decode_in_chunks(LineCodec::new(MAX_LINE), &wire, &cuts);
        let expected: Vec<Outcome> = lines
            .iter()
            .map(|line| Outcome::Item(format!("{:?}", switchboard::Inbound::Request(line.clone()))))
            .collect();
        prop_assert_eq!(decoded, expected);
    }
}
