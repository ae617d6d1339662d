//! The reader against the categories of the Autobahn|Testsuite (fuzzingclient), each
//! case fed whole, a byte at a time and in odd-sized chops, as the suite does.

use super::*;
use crate::websocket::testing::{binary, close, feed, frame, join, text};
use crate::websocket::{MAX_CLIENT_HEADER, MAX_CONTROL_PAYLOAD};

const LIMIT: usize = 1 << 20;

/// The chop sizes each case is fed in.
const CHOPS: [usize; 4] = [usize::MAX, 1, 3, 997];

fn msg(kind: MessageKind, payload: &[u8]) -> Incoming {
    Incoming::Message(Message {
        kind,
        payload: Bytes::copy_from_slice(payload),
    })
}

fn txt(payload: &[u8]) -> Incoming {
    msg(MessageKind::Text, payload)
}

fn bin(payload: &[u8]) -> Incoming {
    msg(MessageKind::Binary, payload)
}

fn ping(payload: &[u8]) -> Incoming {
    Incoming::Ping(Bytes::copy_from_slice(payload))
}

/// Feeds `bytes` in every chop size to a fresh reader; all must agree with `expected`.
fn check(bytes: &[u8], expected: &[Incoming], violation: Option<(u16, &str)>) {
    check_with(MessageReader::new(LIMIT, None), bytes, expected, violation)
}

fn check_with(
    reader: MessageReader,
    bytes: &[u8],
    expected: &[Incoming],
    violation: Option<(u16, &str)>,
) {
    for chop in CHOPS {
        let mut reader = MessageReader::new(reader.max_message, reader.expect);
        let (got, stopped) = feed(&mut reader, bytes, chop);
        assert_eq!(got, expected, "chop {chop}");
        assert_eq!(
            stopped.map(|v| (v.code().0, v.reason())),
            violation,
            "chop {chop}"
        );
    }
}

fn violation(code: u16, reason: &str) -> Option<(u16, &str)> {
    Some((code, reason))
}

// ----- 1: framing, text and binary of every length form ---------------------------

#[test]
fn case_1_text_and_binary_of_every_length_form() {
    for len in [0, 1, 125, 126, 127, 128, 65_535, 65_536] {
        let payload: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        check(&text(&payload), &[txt(&payload)], None);
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        check(&binary(&bytes), &[bin(&bytes)], None);
    }
}

// ----- 2: pings and pongs -----------------------------------------------------------

#[test]
fn case_2_pings_are_handed_out_with_their_payload_pongs_as_pongs() {
    check(&frame(0x89, b""), &[ping(b"")], None);
    check(&frame(0x89, &[0xFE; 125]), &[ping(&[0xFE; 125])], None);
    let pong = Incoming::Pong(Bytes::from_static(b"unsolicited"));
    check(
        &join(&[frame(0x8A, b"unsolicited"), frame(0x89, b"x")]),
        &[pong, ping(b"x")],
        None,
    );
    let ten: Vec<Vec<u8>> = (0..10u8).map(|i| frame(0x89, &[i; 3])).collect();
    let expected: Vec<Incoming> = (0..10u8).map(|i| ping(&[i; 3])).collect();
    check(&join(&ten), &expected, None);
}

#[test]
fn case_2_5_a_ping_of_126_bytes_is_a_protocol_error() {
    check(
        &join(&[frame(0x89, &[0; 126]), text(b"after")]),
        &[],
        violation(1002, "control frame longer than 125 bytes"),
    );
}

// ----- 3: reserved bits -------------------------------------------------------------

#[test]
fn case_3_any_reserved_bit_is_a_protocol_error_after_what_came_before() {
    for rsv in [0x40, 0x20, 0x10, 0x60, 0x50, 0x30, 0x70] {
        check(
            &join(&[text(b"hello"), frame(0x81 | rsv, b"bad"), text(b"never")]),
            &[txt(b"hello")],
            violation(1002, "reserved bits set"),
        );
        check(
            &frame(0x89 | rsv, b"ping"),
            &[],
            violation(1002, "reserved bits set"),
        );
    }
}

// ----- 4: opcodes -------------------------------------------------------------------

#[test]
fn case_4_reserved_opcodes_are_protocol_errors() {
    for opcode in [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        check(
            &join(&[text(b"hi"), frame(0x80 | opcode, b"x"), frame(0x89, b"")]),
            &[txt(b"hi")],
            violation(1002, "reserved opcode"),
        );
    }
}

#[test]
fn an_unmasked_frame_is_a_protocol_error() {
    check(
        &[0x81, 0x02, b'h', b'i'],
        &[],
        violation(1002, "unmasked client frame"),
    );
}

// ----- 5: fragmentation -------------------------------------------------------------

#[test]
fn case_5_1_and_5_2_fragmented_control_frames_are_protocol_errors() {
    for opcode in [0x09, 0x0A, 0x08] {
        check(
            &join(&[frame(opcode, b"a"), frame(0x80, b"b")]),
            &[],
            violation(1002, "fragmented control frame"),
        );
    }
}

#[test]
fn case_5_fragments_are_joined_with_control_frames_between_them() {
    check(
        &join(&[frame(0x01, b"frag"), frame(0x80, b"ment")]),
        &[txt(b"fragment")],
        None,
    );
    check(
        &join(&[
            frame(0x02, b"a"),
            frame(0x89, b"p1"),
            frame(0x00, b""),
            frame(0x8A, b""),
            frame(0x00, b"b"),
            frame(0x89, b"p2"),
            frame(0x80, b"c"),
        ]),
        &[
            ping(b"p1"),
            Incoming::Pong(Bytes::new()),
            ping(b"p2"),
            bin(b"abc"),
        ],
        None,
    );
    // Empty fragments, and a message after a fragmented one.
    check(
        &join(&[
            frame(0x01, b""),
            frame(0x00, b""),
            frame(0x80, b""),
            text(b"next"),
        ]),
        &[txt(b""), txt(b"next")],
        None,
    );
}

#[test]
fn case_5_9_to_5_14_a_continuation_without_a_message_is_a_protocol_error() {
    for first in [frame(0x80, b"x"), frame(0x00, b"x")] {
        check(
            &join(&[first, text(b"never")]),
            &[],
            violation(1002, "continuation without a message to continue"),
        );
    }
    // After a whole message, a continuation has nothing to continue either.
    check(
        &join(&[frame(0x01, b"a"), frame(0x80, b"b"), frame(0x80, b"c")]),
        &[txt(b"ab")],
        violation(1002, "continuation without a message to continue"),
    );
}

#[test]
fn case_5_18_a_new_message_before_the_last_ended_is_a_protocol_error() {
    for second in [frame(0x01, b"b"), frame(0x81, b"b"), frame(0x82, b"b")] {
        check(
            &join(&[frame(0x01, b"a"), second]),
            &[],
            violation(1002, "new message before the last one ended"),
        );
    }
}

// ----- 6: UTF-8 ---------------------------------------------------------------------

/// Invalid sequences of Markus Kuhn's UTF-8 decoder test (the Autobahn suite's 6.3 to
/// 6.21): unexpected continuations, lonely starts, truncations, impossible bytes,
/// overlong forms, surrogates, past U+10FFFF.
const INVALID: [&[u8]; 16] = [
    b"\x80",
    b"\xbf",
    b"\xc0 ",
    b"\xe0\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\xfc\x84\x80\x80\x80\x80",
    b"\xfe",
    b"\xff",
    b"\xc0\xaf",
    b"\xe0\x80\xaf",
    b"\xf0\x80\x80\xaf",
    b"\xc1\xbf",
    b"\xed\xa0\x80",
    b"\xed\xbf\xbf",
    b"\xf4\x90\x80\x80",
    b"\xcf",
];

#[test]
fn case_6_valid_text_split_across_fragments_at_every_byte() {
    let text_bytes = "Hello-µ@ßöäüàá-UTF-8!! κόσμε 𝄞".as_bytes();
    for at in 0..=text_bytes.len() {
        check(
            &join(&[
                frame(0x01, &text_bytes[..at]),
                frame(0x80, &text_bytes[at..]),
            ]),
            &[txt(text_bytes)],
            None,
        );
    }
}

#[test]
fn case_6_invalid_text_in_one_frame_or_fragmented_closes_with_1007() {
    for bad in INVALID {
        let mut payload = b"ok ".to_vec();
        payload.extend_from_slice(bad);
        check(&text(&payload), &[], violation(1007, "text is not utf-8"));
        for at in 0..=payload.len() {
            check(
                &join(&[frame(0x01, &payload[..at]), frame(0x80, &payload[at..])]),
                &[],
                violation(1007, "text is not utf-8"),
            );
        }
    }
}

#[test]
fn case_6_4_invalid_text_fails_fast_before_the_message_ends() {
    // 6.4.1: valid text, a fragment holding U+D800, then more text. The reader stops at
    // the second fragment and never waits for the last one.
    let mut reader = MessageReader::new(LIMIT, None);
    let first = frame(0x01, "κόσμε".as_bytes());
    let second = frame(0x00, b"\xed\xa0\x80");
    let (got, stopped) = feed(&mut reader, &join(&[first, second]), usize::MAX);
    assert!(got.is_empty());
    assert_eq!(stopped.map(|v| v.code()), Some(CloseCode::INVALID_DATA));

    // 6.4.3: the invalid byte arrives in the middle of a frame whose end has not.
    let mut reader = MessageReader::new(LIMIT, None);
    let mut payload = "κόσμε".as_bytes().to_vec();
    payload.extend_from_slice(b"\xf4\x90\x80\x80");
    payload.extend_from_slice(&[b'a'; 1000]);
    let whole = text(&payload);
    let cut = 4 + "κόσμε".len() + 2 + 4;
    let (_, stopped) = feed(&mut reader, &whole[..cut], usize::MAX);
    assert_eq!(stopped.map(|v| v.code()), Some(CloseCode::INVALID_DATA));
}

#[test]
fn case_6_a_character_cut_by_the_end_of_the_message_is_invalid() {
    check(
        &text(b"ok \xe2\x82"),
        &[],
        violation(1007, "text is not utf-8"),
    );
    check(
        &join(&[frame(0x01, b"\xf0\x9d"), frame(0x80, b"")]),
        &[],
        violation(1007, "text is not utf-8"),
    );
}

#[test]
fn binary_messages_are_not_checked_for_utf8() {
    check(
        &binary(b"\xff\xfe\xed\xa0\x80"),
        &[bin(b"\xff\xfe\xed\xa0\x80")],
        None,
    );
}

// ----- 7: close ---------------------------------------------------------------------

fn peer_close(code: Option<u16>, reason: &str) -> Incoming {
    Incoming::Close(PeerClose {
        code: code.map(CloseCode),
        reason: reason.into(),
    })
}

#[test]
fn case_7_1_nothing_is_read_after_a_close() {
    check(
        &join(&[
            text(b"hello"),
            close(1000, b""),
            close(1001, b""),
            frame(0x89, b"ping"),
            text(b"after"),
            frame(0x99, b"garbage"),
        ]),
        &[txt(b"hello"), peer_close(Some(1000), "")],
        None,
    );
    // 7.1.5: a close between the fragments of a message.
    check(
        &join(&[
            frame(0x01, b"fragment1"),
            close(1000, b""),
            frame(0x80, b"fragment2"),
        ]),
        &[peer_close(Some(1000), "")],
        None,
    );
}

#[test]
fn case_7_3_close_bodies() {
    check(&frame(0x88, b""), &[peer_close(None, "")], None);
    check(
        &frame(0x88, b"\x03"),
        &[],
        violation(1002, "one-byte close body"),
    );
    check(&close(1000, b""), &[peer_close(Some(1000), "")], None);
    check(
        &close(1000, b"Hello World!"),
        &[peer_close(Some(1000), "Hello World!")],
        None,
    );
    let reason = [b'*'; 123];
    check(
        &close(1000, &reason),
        &[peer_close(
            Some(1000),
            std::str::from_utf8(&reason).unwrap(),
        )],
        None,
    );
    check(
        &close(1000, &[b'*'; 124]),
        &[],
        violation(1002, "control frame longer than 125 bytes"),
    );
}

#[test]
fn case_7_5_a_close_reason_that_is_not_utf8_closes_with_1007() {
    check(
        &close(
            1000,
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64",
        ),
        &[],
        violation(1007, "close reason is not utf-8"),
    );
}

#[test]
fn case_7_7_and_7_9_valid_codes_are_handed_out_invalid_ones_are_protocol_errors() {
    for code in [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        check(&close(code, b""), &[peer_close(Some(code), "")], None);
    }
    for code in [
        0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        check(
            &close(code, b""),
            &[],
            violation(1002, "invalid close code"),
        );
    }
}

// ----- 9: limits ----------------------------------------------------------------------

#[test]
fn case_9_messages_at_the_limit_pass_whole_or_in_fragments_of_any_size() {
    let limit = 64 * 1024;
    let payload: Vec<u8> = (0..limit).map(|i| b'a' + (i % 26) as u8).collect();
    let reader = || MessageReader::new(limit, None);
    check_with(reader(), &text(&payload), &[txt(&payload)], None);
    for fragment in [64, 256, 1024, 4096, 16 * 1024, 65_536] {
        let mut frames: Vec<Vec<u8>> = payload
            .chunks(fragment)
            .enumerate()
            .map(|(i, part)| frame(if i == 0 { 0x02 } else { 0x00 }, part))
            .collect();
        if let Some(last) = frames.last_mut() {
            last[0] |= 0x80;
        }
        check_with(reader(), &join(&frames), &[bin(&payload)], None);
    }
}

#[test]
fn case_9_a_message_over_the_limit_is_refused_at_the_header_that_passes_it() {
    let limit = 1000;
    let reader = || MessageReader::new(limit, None);
    // One frame: refused from its header, before any of its payload arrives.
    let mut r = reader();
    let big = text(&[b'a'; 1001]);
    let (_, stopped) = feed(&mut r, &big[..MAX_CLIENT_HEADER - 10], usize::MAX);
    assert_eq!(
        stopped.map(|v| (v.code(), v.reason())),
        Some((CloseCode::TOO_BIG, "message too big"))
    );
    // Fragments: the one that passes the limit, whatever their sizes.
    let frames = join(&[
        frame(0x01, &[b'a'; 600]),
        frame(0x00, &[b'b'; 400]),
        frame(0x80, b"c"),
    ]);
    check_with(reader(), &frames, &[], violation(1009, "message too big"));
    // Exactly at the limit is fine.
    let frames = join(&[frame(0x01, &[b'a'; 600]), frame(0x80, &[b'b'; 400])]);
    let mut expected = vec![b'a'; 600];
    expected.extend_from_slice(&[b'b'; 400]);
    check_with(reader(), &frames, &[txt(&expected)], None);
    // A header announcing 2^62 bytes costs nothing.
    let mut huge = vec![0x82, 0x80 | 127];
    huge.extend_from_slice(&(1u64 << 62).to_be_bytes());
    huge.extend_from_slice(&[1, 2, 3, 4]);
    check_with(reader(), &huge, &[], violation(1009, "message too big"));
}

#[test]
fn control_frames_do_not_count_against_the_limit_nor_does_it_bind_them() {
    let reader = MessageReader::new(4, None);
    check_with(
        reader,
        &join(&[
            frame(0x01, b"ab"),
            frame(0x89, &[0; MAX_CONTROL_PAYLOAD]),
            frame(0x80, b"cd"),
        ]),
        &[ping(&[0; MAX_CONTROL_PAYLOAD]), txt(b"abcd")],
        None,
    );
}

#[test]
fn gathering_many_small_fragments_never_allocates_past_the_limit() {
    let limit = 10_000;
    let mut reader = MessageReader::new(limit, None);
    let mut frames = vec![frame(0x02, &[1; 7])];
    frames.extend((0..1427).map(|_| frame(0x00, &[1; 7])));
    frames.push(frame(0x80, &[1; 4]));
    // feed() asserts the bound after every byte.
    let (got, stopped) = feed(&mut reader, &join(&frames), 1);
    assert_eq!(stopped, None);
    assert_eq!(got, vec![bin(&[1; 10_000])]);
    assert_eq!(reader.buffered(), 0, "nothing kept once the message is out");
}

// ----- the kind expected --------------------------------------------------------------

#[test]
fn a_message_of_the_other_kind_is_reported_and_dropped_but_still_checked() {
    let reader = || MessageReader::new(LIMIT, Some(MessageKind::Text));
    check_with(
        reader(),
        &join(&[
            binary(b"bytes"),
            text(b"words"),
            frame(0x02, b"a"),
            frame(0x80, b"b"),
        ]),
        &[
            Incoming::WrongKind(MessageKind::Binary),
            txt(b"words"),
            Incoming::WrongKind(MessageKind::Binary),
        ],
        None,
    );
    let mut r = reader();
    let (_, _) = feed(&mut r, &frame(0x02, &[0; 5000]), usize::MAX);
    assert_eq!(
        r.buffered(),
        0,
        "a message of the wrong kind is not gathered"
    );
    // Text is still checked where binary is expected.
    check_with(
        MessageReader::new(LIMIT, Some(MessageKind::Binary)),
        &text(b"\xff"),
        &[],
        violation(1007, "text is not utf-8"),
    );
    // And still limited.
    check_with(
        MessageReader::new(10, Some(MessageKind::Text)),
        &binary(&[0; 11]),
        &[],
        violation(1009, "message too big"),
    );
}

// ----- state ------------------------------------------------------------------------

#[test]
fn mid_message_and_done() {
    let mut reader = MessageReader::new(LIMIT, None);
    assert!(!reader.is_mid_message());
    let whole = text(b"hello");
    let (_, _) = feed(&mut reader, &whole[..3], usize::MAX);
    assert!(
        !reader.is_mid_message(),
        "an incomplete header stays in the buffer"
    );
    let mut reader = MessageReader::new(LIMIT, None);
    let (_, _) = feed(&mut reader, &whole[..7], usize::MAX);
    assert!(reader.is_mid_message(), "a frame's payload is awaited");
    let mut reader = MessageReader::new(LIMIT, None);
    let (got, _) = feed(&mut reader, &frame(0x01, b"frag"), usize::MAX);
    assert!(got.is_empty());
    assert!(reader.is_mid_message(), "fragmented message open");
    let mut buf = BytesMut::from(&close(1000, b"")[..]);
    assert!(matches!(
        reader.read(&mut buf),
        Ok(Some(Incoming::Close(_)))
    ));
    assert!(reader.is_done());
    assert!(!reader.is_mid_message());
    let mut more = BytesMut::from(&text(b"late")[..]);
    assert_eq!(reader.read(&mut more), Ok(None));
    assert!(more.is_empty(), "bytes after a close are discarded");
}

#[test]
fn a_single_frame_message_is_not_copied() {
    let mut reader = MessageReader::new(LIMIT, None);
    let mut buf = BytesMut::from(&binary(&[9; 4096])[..]);
    let start = buf.as_ptr() as usize;
    let Ok(Some(Incoming::Message(message))) = reader.read(&mut buf) else {
        panic!("no message");
    };
    // The payload is the buffer's own memory, past the 8-byte header.
    assert_eq!(message.payload.as_ptr() as usize, start + 8);
}
