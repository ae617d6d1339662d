use super::*;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A valid handshake request with `extra` header lines (each ending in CRLF).
fn request(extra: &str) -> String {
    format!(
        "GET /chat?room=lobby HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

fn outcome(config: HandshakeConfig, bytes: &str) -> Result<Accepted, Refusal> {
    let mut buf = BytesMut::from(bytes.as_bytes());
    Handshake::new(config)
        .read(&mut buf)
        .expect("a complete request has an outcome")
}

fn refusal(bytes: &str) -> (u16, &'static str) {
    match outcome(HandshakeConfig::default(), bytes) {
        Err(refusal) => (refusal.status, refusal.reason),
        Ok(accepted) => panic!("accepted {:?}", accepted.request),
    }
}

#[test]
fn the_accept_key_of_the_rfc_example() {
    assert_eq!(accept_key(KEY.as_bytes()), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

#[test]
fn accepts_a_request_fed_a_byte_at_a_time_and_keeps_what_follows() {
    let mut handshake = Handshake::new(HandshakeConfig::default());
    let mut bytes = request("Authorization: Bearer abc\r\n").into_bytes();
    let early_frame = [0x81, 0x80, 1, 2, 3, 4];
    bytes.extend_from_slice(&early_frame);
    let mut buf = BytesMut::new();
    let mut result = None;
    for byte in bytes {
        buf.extend_from_slice(&[byte]);
        if let Some(outcome) = handshake.read(&mut buf) {
            result = Some(outcome);
            // The rest arrives after the head was taken.
            continue;
        }
    }
    let accepted = result.expect("complete").expect("accepted");
    assert_eq!(&buf[..], &early_frame);
    assert_eq!(
        &accepted.response[..],
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    );
    let r = &accepted.request;
    assert_eq!(r.path(), "/chat");
    assert_eq!(r.query_param("room"), Some("lobby"));
    assert_eq!(r.bearer_token(), Some("abc"));
    assert_eq!(r.header("host"), Some("server.example.com"));
}

#[test]
fn header_tokens_are_matched_in_lists_and_in_any_case() {
    let req = "GET / HTTP/1.1\r\nhost: h\r\nUPGRADE: WebSocket\r\n\
               connection: keep-alive, Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
               sec-websocket-version:  13 \r\n\r\n";
    assert!(outcome(HandshakeConfig::default(), req).is_ok());
}

#[test]
fn a_plain_http_request_is_400() {
    let plain = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_eq!(refusal(plain), (400, "not a websocket upgrade"));
    let post = request("").replacen("GET", "POST", 1);
    assert_eq!(refusal(&post), (400, "not a GET request"));
    let old = request("").replacen("HTTP/1.1", "HTTP/1.0", 1);
    assert_eq!(refusal(&old), (400, "not HTTP/1.1"));
    let absolute = request("").replacen("/chat", "http://h/chat", 1);
    assert_eq!(refusal(&absolute), (400, "request target is not a path"));
    assert_eq!(
        refusal("\x16\x03\x01\x02\x00\r\n\r\n"),
        (400, "malformed request")
    );
}

#[test]
fn each_missing_or_wrong_header_is_refused_with_its_reason() {
    let without = |name: &str| {
        request("")
            .lines()
            .filter(|line| !line.starts_with(name))
            .map(|line| format!("{line}\r\n"))
            .collect::<String>()
    };
    assert_eq!(
        refusal(&without("Connection")),
        (400, "connection header lacks upgrade")
    );
    assert_eq!(refusal(&without("Host")), (400, "missing or repeated host"));
    assert_eq!(
        refusal(&without("Sec-WebSocket-Key")),
        (400, "missing or repeated key")
    );
    assert_eq!(
        refusal(&request("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n")),
        (400, "missing or repeated key")
    );
    let short_key = request("").replace(KEY, "c2hvcnQ=");
    assert_eq!(refusal(&short_key), (400, "invalid key"));
    let not_base64 = request("").replace(KEY, "!!!!!!!!!!!!!!!!!!!!!!!!");
    assert_eq!(refusal(&not_base64), (400, "invalid key"));
    assert_eq!(
        refusal(&request("Content-Length: 5\r\n")),
        (400, "a handshake has no body")
    );
    assert_eq!(
        refusal(&request("Transfer-Encoding: chunked\r\n")),
        (400, "a handshake has no body")
    );
    assert!(outcome(
        HandshakeConfig::default(),
        &request("Content-Length: 0\r\n")
    )
    .is_ok());
}

#[test]
fn a_wrong_or_missing_version_is_426_naming_version_13() {
    for req in [
        request("").replace("Version: 13", "Version: 8"),
        request("").replace("Sec-WebSocket-Version: 13\r\n", ""),
        request("Sec-WebSocket-Version: 8\r\n"),
    ] {
        let refused = outcome(HandshakeConfig::default(), &req).unwrap_err();
        assert_eq!(refused.status, 426);
        let text = std::str::from_utf8(&refused.response).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nSec-WebSocket-Version: 13\r\n"), "{text}");
    }
}

#[test]
fn the_origin_allow_list() {
    let config = HandshakeConfig {
        origins: Some(Arc::from(vec!["https://app.example.com".to_owned()])),
        ..HandshakeConfig::default()
    };
    let allowed = request("Origin: https://APP.example.com\r\n");
    assert!(outcome(config.clone(), &allowed).is_ok());
    for req in [
        request(""),
        request("Origin: https://evil.example.com\r\n"),
        request("Origin: https://app.example.com.evil.com\r\n"),
        request("Origin: https://app.example.com\r\nOrigin: https://evil.example.com\r\n"),
    ] {
        let refused = outcome(config.clone(), &req).unwrap_err();
        assert_eq!(
            (refused.status, refused.reason),
            (403, "origin not allowed")
        );
        assert!(refused.response.starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
    }
    // Without a list, any origin (or none) is accepted.
    assert!(outcome(
        HandshakeConfig::default(),
        &request("Origin: https://x\r\n")
    )
    .is_ok());
}

#[test]
fn a_refusal_is_a_complete_http_response() {
    let refused = outcome(
        HandshakeConfig::default(),
        "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    )
    .unwrap_err();
    let text = std::str::from_utf8(&refused.response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"));
    assert!(head.contains("\r\nConnection: close"));
    assert!(head.contains(&format!("\r\nContent-Length: {}", body.len())));
    assert_eq!(body, "not a websocket upgrade\n");
}

#[test]
fn a_head_past_the_bound_is_refused_as_soon_as_the_bound_is_passed() {
    let config = HandshakeConfig {
        max_request_bytes: 256,
        ..HandshakeConfig::default()
    };
    let mut handshake = Handshake::new(config.clone());
    let mut buf = BytesMut::new();
    let endless = format!("GET / HTTP/1.1\r\nCookie: {}", "x".repeat(1000));
    let mut fed = 0;
    let mut result = None;
    for chunk in endless.as_bytes().chunks(10) {
        buf.extend_from_slice(chunk);
        fed += chunk.len();
        if let Some(outcome) = handshake.read(&mut buf) {
            result = Some(outcome);
            break;
        }
    }
    assert_eq!(result.unwrap().unwrap_err().reason, "request too large");
    assert!(fed <= 256 + 10, "refused after {fed} bytes");

    // A complete head: exactly at the bound is accepted, one byte more is refused.
    let base = request("");
    let pad = 256 - base.len() - "X: \r\n".len();
    let at_bound = request(&format!("X: {}\r\n", "p".repeat(pad)));
    assert_eq!(at_bound.len(), 256);
    assert!(outcome(config.clone(), &at_bound).is_ok());
    let over = request(&format!("X: {}\r\n", "p".repeat(pad + 1)));
    assert_eq!(
        outcome(config, &over).unwrap_err().reason,
        "request too large"
    );
}

#[test]
fn too_many_headers_is_400() {
    let many: String = (0..MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
    assert_eq!(refusal(&request(&many)), (400, "too many headers"));
}
