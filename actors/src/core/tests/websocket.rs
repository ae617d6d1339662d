//! The WebSocket stage of the core: the test protocol's binary frames (a `u16` length
//! prefix) carried one per binary message, driven without sockets. The transport's
//! handshake is stood in for by [`Conn::handle_upgraded`].

use super::*;
use crate::config::WebSocketConfig;
use crate::core::timers::Timer;
use crate::websocket::{testing, PacketMapping, Request};

/// A WebSocket connection of the test protocol, whose handshake has not finished.
fn ws_harness(config: WebSocketConfig) -> Harness {
    let mut h = Harness::new(limits());
    let proto = TestProto { log: h.log.clone() };
    h.conn = Conn::new(proto, outbox(), Arc::new(limits()), h.now)
        .with_websocket(Arc::new(config), h.now);
    h
}

/// Binary messages of at most 100 bytes, each one test packet without its prefix.
fn config() -> WebSocketConfig {
    WebSocketConfig::binary(PacketMapping::LengthPrefixed { bytes: 2 }, 100)
        .with_handshake_timeout(Duration::from_secs(4))
        .with_oversize_reason("too big".to_owned())
}

/// A handshake request for `path`.
fn request(path: &str) -> Request {
    Request::new(path, [("host", &b"example.com"[..])].into_iter())
}

/// A harness whose handshake finished with a request for `/chat`.
fn upgraded(config: WebSocketConfig) -> Harness {
    let mut h = ws_harness(config);
    h.conn.handle_upgraded(h.now, request("/chat"));
    h.pump();
    h
}

/// One test packet's body as a binary message from the client: `command | pad`.
fn message(command: u8, pad: usize) -> Vec<u8> {
    let mut body = vec![command];
    body.resize(1 + pad, b'.');
    testing::binary(&body)
}

/// The frames the fake socket took: (opcode, payload), server frames being unmasked.
fn frames(wire: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = wire;
    while rest.len() >= 2 {
        assert_eq!(rest[0] & 0x70, 0, "reserved bits");
        assert_eq!(rest[1] & 0x80, 0, "server frames are not masked");
        let (len, header) = match rest[1] & 0x7f {
            126 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(rest[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        assert!(rest[0] & 0x80 != 0, "server messages are never fragmented");
        out.push((rest[0] & 0x0f, rest[header..header + len].to_vec()));
        rest = &rest[header + len..];
    }
    assert!(rest.is_empty(), "a frame cut short: {rest:?}");
    out
}

/// The kinds of the test packets in binary messages (`o`, `e`, ...), and `!` for a
/// Close, `p` for a Ping, `P` for a Pong.
fn kinds(wire: &[u8]) -> String {
    frames(wire)
        .iter()
        .map(|(opcode, payload)| match opcode {
            0x2 => payload[0] as char,
            0x8 => '!',
            0x9 => 'p',
            0xA => 'P',
            other => panic!("opcode {other:#x}"),
        })
        .collect()
}

/// The code and reason of the last frame, a Close.
fn close_of(wire: &[u8]) -> (u16, String) {
    let frames = frames(wire);
    let (opcode, payload) = frames.last().expect("a frame");
    assert_eq!(*opcode, 0x8, "the last frame is a Close");
    let code = u16::from_be_bytes([payload[0], payload[1]]);
    (code, String::from_utf8(payload[2..].to_vec()).unwrap())
}

#[test]
fn nothing_is_read_and_the_protocol_hears_nothing_before_the_handshake() {
    let mut h = ws_harness(config());
    // Frames that came with the request wait; a delivery waits in the queue.
    h.send(&message(b'E', 0));
    h.feed_all();
    // A delivery from the hub comes framed already (unmasked, as the server writes).
    let framed = Bytes::from_static(b"\x82\x05e\x00\x00\x00\x00");
    assert_eq!(h.conn.deliver(h.now, framed, Origin::External), Ok(()));
    assert_eq!(h.conn.traffic().received_packets, 0, "nothing decoded");
    assert_eq!(h.log.opened.get(), 0);

    h.conn.handle_upgraded(h.now, request("/room?token=t"));
    h.pump();
    assert_eq!(h.log.opened.get(), 1);
    assert_eq!(*h.log.handshakes.borrow(), [Some("/room".to_owned())]);
    h.write_all();
    // The delivery queued first, then the welcome, then the echo of the early frame.
    assert_eq!(kinds(&h.wire), "eoo");
    assert_eq!(h.conn.traffic().received_packets, 1);
    assert_eq!(h.conn.traffic().sent_bytes, h.wire.len() as u64);
}

#[test]
fn each_reply_is_one_message_of_one_packet_body() {
    let mut h = upgraded(config());
    h.send(&message(b'E', 3));
    h.send(&message(b'E', 0));
    h.feed_all();
    h.write_all();
    let frames = frames(&h.wire);
    assert_eq!(frames.len(), 3, "welcome and two replies");
    for (opcode, payload) in &frames {
        assert_eq!(*opcode, 0x2, "binary");
        assert_eq!(payload[0], b'o', "the body, without its length prefix");
    }
    assert_eq!(frames[1].1.len(), 5 + 3);
    let t = h.conn.traffic();
    assert_eq!((t.received_packets, t.sent_packets), (2, 3));
    assert_eq!(
        t.sent_bytes,
        h.wire.len() as u64,
        "framed bytes are counted"
    );
}

#[test]
fn a_message_fragmented_in_frames_and_cut_anywhere_is_one_packet() {
    let mut h = upgraded(config());
    let body = b"E........";
    let mut wire = testing::frame(0x02, &body[..3]);
    wire.extend(testing::frame(0x89, b"ping"));
    wire.extend(testing::frame(0x00, &body[3..6]));
    wire.extend(testing::frame(0x80, &body[6..]));
    for byte in wire {
        h.send(&[byte]);
        h.feed_all();
    }
    h.write_all();
    // The Ping in the middle is answered at once, the message when it is whole.
    assert_eq!(kinds(&h.wire), "oPo");
    assert_eq!(
        frames(&h.wire)[1].1,
        b"ping",
        "the Pong carries the Ping's payload"
    );
    assert_eq!(frames(&h.wire)[2].1.len(), 5 + 8);
}

#[test]
fn a_message_that_is_not_one_packet_and_one_of_the_wrong_kind_are_error_packets() {
    let mut h = upgraded(config());
    h.send(&testing::text(b"E"));
    h.send(&testing::binary(b""));
    h.feed_all();
    assert_eq!(h.conn.error_packets(), 2);
    assert_eq!(h.conn.phase(), Phase::Open);
    h.send(&message(b'?', 0));
    h.feed_all();
    h.write_all();
    assert_eq!(h.removals, [RemovalReason::ErrorPackets]);
    // Three error replies, then the Close: 1008 for error packets.
    assert_eq!(kinds(&h.wire), "oooo!");
    assert_eq!(close_of(&h.wire), (1008, "error_packets".to_owned()));
    assert_eq!(h.conn.traffic().received_packets, 3);
}

#[test]
fn an_oversize_message_is_answered_then_closed_with_1009() {
    let mut h = upgraded(config());
    // Refused from its header: 101 bytes announced, none sent.
    h.send(&testing::frame(0x82, &[b'E'; 101])[..4]);
    h.feed_all();
    h.write_all();
    assert_eq!(h.removals, [RemovalReason::ErrorPackets]);
    let frames = frames(&h.wire);
    assert_eq!(frames.len(), 3, "welcome, the error reply, the Close");
    assert_eq!(
        frames[1].1.len(),
        5 + "too big".len(),
        "the oversize reason"
    );
    assert_eq!(close_of(&h.wire), (1009, "error_packets".to_owned()));
    assert_eq!(h.conn.error_packets(), 1);
}

#[test]
fn violations_close_with_their_code_and_no_error_reply() {
    for (wire, code) in [
        // Unmasked.
        (vec![0x82, 0x01, b'E'], 1002),
        // A reserved bit.
        (testing::frame(0xC2, b"E"), 1002),
        // A continuation without a start.
        (testing::frame(0x80, b"E"), 1002),
        // A fragmented Ping, and one too long.
        (testing::frame(0x09, b""), 1002),
        (testing::frame(0x89, &[0; 126]), 1002),
    ] {
        let mut h = upgraded(config());
        h.send(&wire);
        h.feed_all();
        h.write_all();
        assert_eq!(h.removals, [RemovalReason::ErrorPackets], "{wire:?}");
        assert_eq!(kinds(&h.wire), "o!", "{wire:?}");
        assert_eq!(close_of(&h.wire), (code, "error_packets".to_owned()));
        assert_eq!(h.conn.error_packets(), 1);
    }
    // Text that is not UTF-8, across two fragments, on a text connection.
    let text = WebSocketConfig::text(PacketMapping::Verbatim, 100);
    let mut h = upgraded(text);
    h.send(&testing::frame(0x01, &[b'a', 0xce]));
    h.feed_all();
    assert!(h.removals.is_empty(), "half a character may end a fragment");
    h.send(&testing::frame(0x80, &[0x28]));
    h.feed_all();
    h.write_all();
    assert_eq!(close_of(&h.wire), (1007, "error_packets".to_owned()));
}

#[test]
fn the_clients_close_is_answered_with_its_code_after_the_last_replies() {
    let mut h = upgraded(config());
    h.send(&message(b'D', 0));
    h.send(&testing::close(1001, b"leaving"));
    h.feed_all();
    assert_eq!(h.removals, [RemovalReason::PeerClosed]);
    h.write_all();
    assert_eq!(
        kinds(&h.wire),
        "o",
        "the answer waits for the deferred reply"
    );
    h.fill();
    h.write_all();
    assert_eq!(kinds(&h.wire), "oo!");
    assert_eq!(close_of(&h.wire), (1001, String::new()));
    assert!(h.shutdown_write, "then the write half");
    h.eof();
    assert!(h.stopped);
}

#[test]
fn removals_send_a_close_with_a_code_for_their_reason() {
    for (reason, code, last_word) in [
        (RemovalReason::Shutdown, 1001, true),
        (RemovalReason::Kicked, 1008, false),
        (RemovalReason::Unauthorized, 1008, false),
        (RemovalReason::Closed, 1000, false),
        (RemovalReason::Application("banned"), 1000, false),
    ] {
        let mut h = upgraded(config());
        h.close(reason);
        h.write_all();
        let expected = if last_word { "oo!" } else { "o!" };
        assert_eq!(kinds(&h.wire), expected, "{reason}");
        assert_eq!(close_of(&h.wire), (code, reason.as_str().to_owned()));
    }
    // Nothing can be written to a peer that stopped reading: no Close.
    let mut h = upgraded(config());
    h.close(RemovalReason::SlowConsumer);
    assert!(h.stopped);
    assert_eq!(kinds(&h.wire), "");
}

#[test]
fn a_connection_removed_before_its_handshake_gets_nothing_and_loses_nothing_unrecorded() {
    let mut h = ws_harness(config());
    let delivered = Bytes::from_static(b"\x82\x05e\x00\x00\x00\x00");
    assert_eq!(h.conn.deliver(h.now, delivered, Origin::External), Ok(()));
    h.close(RemovalReason::Shutdown);
    assert!(h.stopped, "aborted at once");
    assert_eq!(h.removals, [RemovalReason::Shutdown]);
    assert_eq!(h.conn.traffic().dropped_packets, 1);
    assert_eq!(h.log.opened.get(), 0);
    assert!(
        h.log.closed.borrow().is_empty(),
        "no on_close without on_open"
    );
}

#[test]
fn a_handshake_that_does_not_finish_in_time_is_removed_as_ws_handshake() {
    let mut h = ws_harness(config());
    let deadline = h.now + Duration::from_secs(4);
    assert_eq!(h.conn.deadline(Timer::WsHandshake), Some(deadline));
    h.advance(Duration::from_millis(3999));
    assert!(!h.stopped);
    h.advance(Duration::from_millis(1));
    assert!(h.stopped);
    assert_eq!(h.removals, [RemovalReason::WsHandshake]);
    // One that finishes in time keeps no deadline.
    let mut h = upgraded(config());
    assert_eq!(h.conn.deadline(Timer::WsHandshake), None);
    h.write_all();
    h.advance(Duration::from_secs(10));
    assert!(!h.stopped);
}

#[test]
fn the_heartbeat_is_a_ping_and_the_pong_is_activity() {
    let mut limits = limits();
    limits.idle = IdleLimits::default().with_read(Some(Duration::from_secs(1)));
    let mut h = Harness::new(limits.clone());
    let proto = TestProto { log: h.log.clone() };
    h.conn = Conn::new(proto, outbox(), Arc::new(limits), h.now)
        .with_websocket(Arc::new(config()), h.now);
    h.advance(Duration::from_secs(1));
    assert!(
        h.log.idle.borrow().is_empty(),
        "no heartbeat before the handshake"
    );
    h.conn.handle_upgraded(h.now, request("/"));
    h.pump();
    h.advance(Duration::from_secs(1));
    h.write_all();
    assert_eq!(kinds(&h.wire), "op", "a Ping, not the protocol's heartbeat");
    assert!(h.log.idle.borrow().is_empty());
    h.advance(Duration::from_millis(500));
    h.send(&testing::frame(0x8A, b""));
    h.feed_all();
    h.advance(Duration::from_millis(900));
    h.write_all();
    assert_eq!(kinds(&h.wire), "op", "the Pong restarted the period");
    h.advance(Duration::from_millis(100));
    h.write_all();
    assert_eq!(kinds(&h.wire), "opp");

    // Without Pings, the protocol's own heartbeat.
    let mut h = upgraded(config().with_ping_on_read_idle(false));
    h.conn = {
        let mut limits = super::limits();
        limits.idle = IdleLimits::default().with_read(Some(Duration::from_secs(1)));
        let proto = TestProto { log: h.log.clone() };
        Conn::new(proto, outbox(), Arc::new(limits), h.now)
            .with_websocket(Arc::new(config().with_ping_on_read_idle(false)), h.now)
    };
    h.conn.handle_upgraded(h.now, request("/"));
    h.advance(Duration::from_secs(1));
    assert_eq!(*h.log.idle.borrow(), [Idle::Read]);
}

#[test]
fn own_copies_are_framed_and_what_goes_to_the_others_is_the_codecs() {
    let mut h = upgraded(config());
    h.send(&message(b'B', 2));
    h.send(&message(b'J', 0));
    h.send(&message(b'P', 1));
    h.feed_all();
    h.write_all();
    assert_eq!(kinds(&h.wire), "ooo", "welcome, broadcast copy, group copy");
    assert_eq!(h.broadcast_out, 1);
    // The group message handed to the others is the protocol's encoding, to be framed
    // once per transport by whoever delivers it.
    let published = &h.published[0];
    let own = published.encoded.as_ref().unwrap().as_ref().unwrap();
    assert_eq!(&own[..2], &(own.len() as u16 - 2).to_be_bytes());
}

#[test]
fn a_raw_echo_is_one_message() {
    let mut h = upgraded(config());
    let mut body = vec![b'r'];
    body.extend_from_slice(&0u32.to_be_bytes());
    body.extend_from_slice(b"xyz");
    h.send(&testing::binary(&body));
    h.feed_all();
    h.write_all();
    assert_eq!(frames(&h.wire)[1], (0x2, body));
    assert_eq!(h.log.raw_echoed.get(), 1);
}

/// The body of a raw echo request over WebSocket: `r | seq | pad`.
fn raw_body(seq: u32, pad: usize) -> Vec<u8> {
    let mut body = vec![b'r'];
    body.extend_from_slice(&seq.to_be_bytes());
    body.resize(5 + pad, b'.');
    body
}

#[test]
fn raw_echoes_read_in_place_keep_their_order_and_bytes_however_the_stream_is_cut() {
    // Small and long headers (7 and 300 bytes of padding: 6- and 8-byte headers),
    // decoded requests between them, and echoes held behind a deferred reply.
    let bodies = [
        raw_body(0, 0),
        raw_body(1, 300),
        raw_body(2, 2),
        raw_body(3, 0),
    ];
    let mut wire = testing::binary(&bodies[0]);
    wire.extend(message(b'E', 2));
    wire.extend(testing::binary(&bodies[1]));
    wire.extend(message(b'D', 0));
    wire.extend(testing::binary(&bodies[2]));
    wire.extend(testing::binary(&bodies[3]));
    let config = WebSocketConfig::binary(PacketMapping::LengthPrefixed { bytes: 2 }, 1000);
    for cut in [1, 3, 7, 64, usize::MAX] {
        let mut h = upgraded(config.clone());
        for piece in wire.chunks(cut.min(wire.len())) {
            h.send(piece);
            h.feed_all();
        }
        h.fill();
        h.write_all();
        assert_eq!(kinds(&h.wire), "orororr", "cut {cut}");
        let echoes: Vec<Vec<u8>> = frames(&h.wire)
            .into_iter()
            .filter(|(_, payload)| payload[0] == b'r')
            .map(|(_, payload)| payload)
            .collect();
        assert_eq!(echoes, bodies, "each echo is its message, byte for byte");
        assert_eq!(h.log.raw_echoed.get(), 4);
        let t = h.conn.traffic();
        assert_eq!((t.received_packets, t.sent_packets), (6, 7), "cut {cut}");
        assert_eq!(t.sent_bytes, h.wire.len() as u64);
        h.check();
    }
}

#[test]
fn an_incomplete_message_has_the_frame_deadline() {
    let mut h = upgraded(config());
    h.send(&testing::frame(0x02, b"E.."));
    h.feed_all();
    // The fragment is whole and gathered: the read buffer is empty, the message is not.
    assert_eq!(h.conn.read_buffered(), 0);
    assert_eq!(
        h.conn.deadline(Timer::Frame),
        Some(h.now + Duration::from_secs(2))
    );
    h.advance(Duration::from_secs(2));
    h.write_all();
    assert_eq!(h.removals, [RemovalReason::FrameTimeout]);
    assert_eq!(close_of(&h.wire), (1000, "frame_timeout".to_owned()));
}

#[test]
fn packets_in_the_protocols_encoding_from_outside_are_framed() {
    let mut h = upgraded(config());
    // A broadcast the application waits on comes in the protocol's own encoding.
    let packet = Bytes::from_static(b"\x00\x05e\x00\x00\x00\x00");
    assert_eq!(
        h.conn
            .deliver_encoded(h.now, packet.clone(), Origin::External),
        Ok(())
    );
    assert_eq!(
        h.conn
            .deliver_all_encoded(h.now, &[packet.clone(), packet], Origin::External),
        2
    );
    // One that is not a whole packet cannot be one message: refused and recorded.
    let broken = Bytes::from_static(b"\x00\x09e");
    assert!(h
        .conn
        .deliver_encoded(h.now, broken, Origin::External)
        .is_err());
    h.write_all();
    assert_eq!(kinds(&h.wire), "oeee");
    assert_eq!(h.conn.traffic().refused_packets, 1);
}
