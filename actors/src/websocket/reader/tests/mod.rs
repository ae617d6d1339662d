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

mod limits;
mod utf8_and_close;
