//! Autobahn categories 6 (UTF-8, across fragments) and 7 (the close handshake).

use super::*;

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
