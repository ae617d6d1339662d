use super::*;
use crate::websocket::testing::{close, frame, join, text};

const REQUEST: &str = "GET /room?token=t HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
                       Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                       Sec-WebSocket-Version: 13\r\n\r\n";

fn session() -> Session {
    Session::new(HandshakeConfig::default(), 1024, Some(MessageKind::Text))
}

/// Every event from `bytes` handed in at once.
fn events(session: &mut Session, bytes: &[u8]) -> Vec<Event> {
    let mut buf = BytesMut::from(bytes);
    std::iter::from_fn(|| session.poll(&mut buf)).collect()
}

fn opened() -> Session {
    let mut s = session();
    let got = events(&mut s, REQUEST.as_bytes());
    assert!(matches!(got[..], [Event::Accepted(_)]));
    s
}

#[test]
fn handshake_then_messages_from_one_buffer() {
    let mut s = session();
    assert!(s.is_handshaking() && s.is_mid_message() && !s.is_open());
    assert_eq!(
        s.close(CloseCode::NORMAL, "x"),
        None,
        "no close before the handshake"
    );
    let mut bytes = REQUEST.as_bytes().to_vec();
    bytes.extend(join(&[
        text(b"JOIN lobby"),
        frame(0x89, b"hb"),
        frame(0x8A, b""),
        frame(0x82, b"b"),
    ]));
    let got = events(&mut s, &bytes);
    let Event::Accepted(accepted) = &got[0] else {
        panic!("{got:?}");
    };
    assert_eq!(accepted.request.query_param("token"), Some("t"));
    assert!(accepted.response.starts_with(b"HTTP/1.1 101 "));
    assert_eq!(
        got[1..],
        [
            Event::Message(Message {
                kind: MessageKind::Text,
                payload: Bytes::from_static(b"JOIN lobby")
            }),
            Event::Ping {
                pong: Bytes::from_static(&[0x8A, 2, b'h', b'b'])
            },
            Event::Pong,
            Event::WrongKind(MessageKind::Binary),
        ]
    );
    assert!(s.is_open() && !s.is_handshaking() && !s.is_mid_message());
}

#[test]
fn a_refused_handshake_reads_nothing_more_and_sends_no_close() {
    let mut s = session();
    let mut bytes = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n".to_vec();
    bytes.extend(text(b"ignored"));
    let got = events(&mut s, &bytes);
    assert!(matches!(&got[..], [Event::Refused(r)] if r.status == 400));
    assert_eq!(s.close(CloseCode::NORMAL, "x"), None);
    assert!(!s.is_open() && !s.is_handshaking() && !s.is_mid_message());
    assert!(events(&mut s, &text(b"more")).is_empty());
}

#[test]
fn a_clients_close_is_answered_once_with_its_code() {
    let mut s = opened();
    let got = events(&mut s, &close(4001, b"bye"));
    assert_eq!(
        got,
        [Event::PeerClosed {
            close: PeerClose {
                code: Some(CloseCode(4001)),
                reason: "bye".into()
            },
            answer: Some(Bytes::from_static(&[0x88, 2, 0x0F, 0xA1])),
        }]
    );
    assert!(!s.is_open());
    assert_eq!(
        s.close(CloseCode::GOING_AWAY, "shutdown"),
        None,
        "one close only"
    );
}

#[test]
fn the_servers_close_is_given_once_and_the_clients_answer_needs_none() {
    let mut s = opened();
    let frame_out = s.close(CloseCode::POLICY, "error_packets").unwrap();
    assert_eq!(&frame_out[..4], &[0x88, 15, 0x03, 0xF0]);
    assert_eq!(&frame_out[4..], b"error_packets");
    assert!(!s.is_open());
    assert_eq!(s.close(CloseCode::NORMAL, ""), None);
    // After its own Close, the server answers no Ping; the client's Close needs no answer.
    let got = events(&mut s, &join(&[frame(0x89, b"late"), close(1008, b"")]));
    assert_eq!(
        got,
        [Event::PeerClosed {
            close: PeerClose {
                code: Some(CloseCode::POLICY),
                reason: String::new()
            },
            answer: None,
        }]
    );
}

#[test]
fn a_violation_is_reported_and_the_close_carries_its_code() {
    let mut s = opened();
    let got = events(&mut s, &join(&[text(b"\xff"), text(b"after")]));
    let [Event::Violation(v)] = &got[..] else {
        panic!("{got:?}");
    };
    assert_eq!(v.code(), CloseCode::INVALID_DATA);
    let out = s.close(v.code(), "error_packets").unwrap();
    assert_eq!(&out[2..4], &1007u16.to_be_bytes());
    assert!(events(&mut s, &text(b"more")).is_empty());
}

#[test]
fn an_oversize_message_is_1009_before_its_payload_is_read() {
    let mut s = opened();
    let big = text(&[b'a'; 1025]);
    let got = events(&mut s, &big[..4]);
    assert!(matches!(&got[..], [Event::Violation(v)] if v.code() == CloseCode::TOO_BIG));
}

#[test]
fn a_session_at_rest_is_small_and_holds_no_buffer() {
    let s = opened();
    assert_eq!(s.buffered(), 0);
    // What each connection pays for this layer at rest, beside its socket and queue.
    assert!(
        std::mem::size_of::<Session>() <= 80,
        "{}",
        std::mem::size_of::<Session>()
    );
}
