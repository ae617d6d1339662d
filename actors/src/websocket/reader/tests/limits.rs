//! Autobahn category 9 (limits), messages of the kind not expected, and the reader's
//! own state.

use super::*;

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
