//! Connections accepted with [`Switchboard::listen_tls`], driven by a real rustls client
//! over loopback: file regions are read and encrypted in order with the packets around
//! them, the bytes counted as sent are the application's, and a graceful close ends
//! with `close_notify`.

mod common;

use common::{eventually, record_removals, until, TestCert, TestProto, WAIT};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;
use switchboard::config::{ConnectionLimits, SupervisorConfig};
use switchboard::rustls::{self, ClientConfig, ClientConnection};
use switchboard::{RemovalReason, Switchboard, SwitchboardConfig};

type TlsClient = BufReader<rustls::StreamOwned<ClientConnection, TcpStream>>;

/// A blocking TLS client; every read gives up after 5 s so a test always ends.
fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> TlsClient {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let conn = ClientConnection::new(config, TestCert::server_name()).unwrap();
    BufReader::new(rustls::StreamOwned::new(conn, tcp))
}

fn send(client: &mut TlsClient, line: &str) {
    let stream = client.get_mut();
    stream.write_all(format!("{line}\n").as_bytes()).unwrap();
    stream.flush().unwrap();
}

fn start(limits: ConnectionLimits) -> (Switchboard, SocketAddr, Arc<ClientConfig>) {
    let board = Switchboard::start(
        SwitchboardConfig::default()
            .with_connection(limits)
            .with_supervisor(SupervisorConfig::default())
            .with_max_connections(100)
            .with_workers(1),
    );
    let cert = TestCert::localhost();
    let (server, client) = (cert.server_config(), cert.client_config());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let handle = board.listen_tls(listener, server, || TestProto).unwrap();
    (board, handle.local_addr, client)
}

fn limits() -> ConnectionLimits {
    ConnectionLimits::default().with_stats_interval(Duration::from_millis(20))
}

#[actix_rt::test]
async fn a_file_region_is_encrypted_in_order_and_counted_as_application_bytes() {
    let (board, addr, client) = start(limits().with_flush_budget(64 * 1024));
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let content: Vec<u8> = (0..1024 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    file.write_all(&content).unwrap();
    let path = file.path().display().to_string();
    let expected_len = "head\n".len() + content.len() + "late\ntail\n".len();
    let got = tokio::task::spawn_blocking(move || {
        let mut c = connect(addr, client);
        send(&mut c, "ECHO head");
        send(&mut c, &format!("FILE {path}"));
        send(&mut c, "LATER late");
        send(&mut c, "ECHO tail");
        let mut got = vec![0u8; expected_len];
        c.read_exact(&mut got).unwrap();
        got
    })
    .await
    .unwrap();
    let mut expected = b"head\n".to_vec();
    expected.extend_from_slice(&content);
    expected.extend_from_slice(b"late\ntail\n");
    assert!(got == expected, "the stream differs from what was sent");
    let sup = board.handle().clone();
    eventually("the traffic report", || {
        let sup = sup.clone();
        async move { sup.stats().await.unwrap().sent_packets_total == 4 }
    })
    .await;
    let snap = sup.stats().await.unwrap();
    // Application bytes, not the larger count of encrypted bytes on the wire.
    assert_eq!(snap.sent_bytes_total, expected_len as u64);
    assert_eq!(snap.send_failures_total, 0);
}

#[actix_rt::test]
async fn a_close_flushes_the_replies_then_sends_close_notify() {
    let (board, addr, client) = start(limits());
    let removed = record_removals(board.handle());
    let lines = tokio::task::spawn_blocking(move || {
        let mut c = connect(addr, client);
        send(&mut c, "ECHO one");
        send(&mut c, "BIG 300000");
        send(&mut c, "BYE");
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            // A close without close_notify would read as an error (UnexpectedEof).
            match c.read_line(&mut line) {
                Ok(0) => return Ok(lines),
                Ok(_) => lines.push(line.len()),
                Err(e) => return Err(e.to_string()),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(lines, Ok(vec!["one\n".len(), 300_001]));
    let reason = until("the removal", WAIT, async || {
        let seen = removed.seen().await;
        seen.first().map(|r| r.reason).ok_or("nothing".to_owned())
    })
    .await;
    assert_eq!(reason, RemovalReason::Closed);
}

#[actix_rt::test]
async fn a_plain_text_peer_is_removed_as_tls_handshake() {
    let (board, addr, _client) = start(limits());
    let removed = record_removals(board.handle());
    let answer = tokio::task::spawn_blocking(move || {
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        tcp.write_all(b"ECHO hi\n").unwrap();
        let mut answer = Vec::new();
        let _ = tcp.read_to_end(&mut answer);
        answer
    })
    .await
    .unwrap();
    assert!(
        !answer.windows(2).any(|w| w == b"hi"),
        "served in the clear"
    );
    let reason = until("the removal", WAIT, async || {
        let seen = removed.seen().await;
        seen.first().map(|r| r.reason).ok_or("nothing".to_owned())
    })
    .await;
    assert_eq!(reason, RemovalReason::TlsHandshake);
}
