//! TLS end to end through the real binary: both listeners speak TLS with `tls_cert` and
//! `tls_key`, a client that does not complete a handshake is removed as
//! `tls_handshake`, a slow consumer over TLS is still removed with bounded memory, and
//! a bad TLS setting stops the server before it listens.

mod support;
#[path = "support/tls.rs"]
mod tls_support;

use std::time::{Duration, Instant};
use support::*;
use tls_support::TestCert;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn echo_over_tls_on_both_listeners() {
    let cert = TestCert::new();
    let server = Server::start(&cert.config());
    let mut frame = cert.frame(server.frame).await;
    frame.send(ECHO, b"hello over tls").await;
    assert_eq!(frame.recv().await, (ECHO, b"hello over tls".to_vec()));
    // Several records' worth each, and more than one write's worth in all.
    for i in 0..4u8 {
        let big = vec![i; 60_000];
        frame.send(ECHO, &big).await;
        let (op, payload) = frame.recv().await;
        assert!(op == ECHO && payload == big, "echo {i} came back different");
    }

    let mut a = cert.line(server.line).await;
    let mut b = cert.line(server.line).await;
    a.send("ECHO hello line").await;
    assert_eq!(a.recv().await.as_deref(), Some("ECHO hello line"));
    b.send("PING").await;
    assert_eq!(b.recv().await.as_deref(), Some("PONG"));
    a.send("BCAST to all").await;
    assert_eq!(a.recv().await.as_deref(), Some("BCAST to all"));
    assert_eq!(b.recv().await.as_deref(), Some("BCAST to all"));

    let snap = frame.stats().await;
    assert_eq!(snap["connections"]["frame"], 1, "{snap}");
    assert_eq!(snap["connections"]["line"], 2, "{snap}");
    assert_eq!(snap["removed_total"]["tls_handshake"], 0, "{snap}");
}

#[tokio::test]
async fn plain_text_clients_are_refused_and_counted() {
    let cert = TestCert::new();
    let server = Server::start(&cert.config());
    let mut plain = FrameClient::connect(server.frame).await;
    plain.send(PING, b"in the clear").await;
    plain.expect_closed().await;
    let mut plain_line = LineClient::connect(server.line).await;
    plain_line.send("PING").await;
    let mut answer = String::new();
    while let Some(line) = plain_line.recv().await {
        answer.push_str(&line);
    }
    assert!(
        !answer.contains("PONG"),
        "a plain-text client was served: {answer:?}"
    );

    let mut tls = cert.frame(server.frame).await;
    let snap = stats_until(&mut tls, "two handshake failures", |s| {
        s["removed_total"]["tls_handshake"] == 2
    })
    .await;
    assert!(snap["accepted_total"].as_u64() >= Some(3), "{snap}");
    assert_eq!(snap["connections"]["frame"], 1, "{snap}");
    assert_eq!(snap["connections"]["line"], 0, "{snap}");
}

#[tokio::test]
async fn a_silent_client_is_removed_after_the_handshake_timeout() {
    let cert = TestCert::new();
    let server = Server::start(&format!(
        "{}tls_handshake_timeout_ms = 300\n",
        cert.config()
    ));
    let started = Instant::now();
    let mut silent = FrameClient::connect(server.frame).await;
    silent.expect_closed().await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
    let mut tls = cert.frame(server.frame).await;
    let snap = stats_until(&mut tls, "the silent client's removal", |s| {
        s["removed_total"]["tls_handshake"] == 1
    })
    .await;
    assert_eq!(snap["removed_total"]["peer_closed"], 0, "{snap}");
    // A client that completes its handshake in time is not affected by the deadline.
    tokio::time::sleep(Duration::from_millis(600)).await;
    tls.send(ECHO, b"still here").await;
    assert_eq!(tls.recv().await, (ECHO, b"still here".to_vec()));
}

#[tokio::test]
async fn a_slow_consumer_over_tls_is_removed_with_bounded_memory() {
    const MAX_OUTBOUND: u64 = 1024 * 1024;
    let cert = TestCert::new();
    let server = Server::start(&format!(
        "{}write_timeout_ms = 1000\nmax_outbound_bytes = {MAX_OUTBOUND}\n",
        cert.config()
    ));
    let mut good = cert.frame(server.frame).await;
    good.send(PING, b"").await;
    assert_eq!(good.recv().await.0, PONG);
    let rss_before = server.rss_kib();
    let mut slow = cert.connect(server.frame).await;
    let request = encode(ECHO, &vec![1u8; 60_000]);
    // Up to 60 MB of echo requests whose replies are never read: the server must stop
    // reading and remove the peer, not buffer the replies (nor their records).
    let writer = tokio::spawn(async move {
        for _ in 0..1000 {
            let sent = tokio::time::timeout(Duration::from_secs(3), async {
                slow.write_all(&request).await?;
                slow.flush().await
            })
            .await;
            if !matches!(sent, Ok(Ok(()))) {
                break;
            }
        }
    });
    for i in 0..20u32 {
        good.send(ECHO, &i.to_be_bytes()).await;
        assert_eq!(good.recv().await, (ECHO, i.to_be_bytes().to_vec()));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let snap = stats_until(&mut good, "the slow client's removal", |s| {
        s["removed_total"]["write_timeout"] == 1 || s["removed_total"]["slow_consumer"] == 1
    })
    .await;
    tokio::time::timeout(WAIT, writer).await.unwrap().unwrap();
    let growth_kib = server.rss_kib().saturating_sub(rss_before);
    assert!(
        growth_kib < MAX_OUTBOUND / 1024 + 6 * 1024,
        "server grew by {growth_kib} KiB: {snap}"
    );
    assert_eq!(snap["removed_total"]["tls_handshake"], 0, "{snap}");
    good.send(ECHO, b"after").await;
    assert_eq!(good.recv().await, (ECHO, b"after".to_vec()));
}

fn serve_args<'a>(tls: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["serve", "--frame", "127.0.0.1:0", "--line", "127.0.0.1:0"];
    args.extend_from_slice(tls);
    args
}

#[test]
fn only_one_of_cert_and_key_exits_2_naming_the_keys() {
    let cert = TestCert::new();
    let cert_path = cert.cert.to_str().unwrap();
    let (status, stderr) = run_to_exit(&serve_args(&["--tls-cert", cert_path]));
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("tls_cert") && stderr.contains("tls_key"),
        "{stderr}"
    );
    let key_path = cert.key.to_str().unwrap();
    let (status, stderr) = run_to_exit(&serve_args(&["--tls-key", key_path]));
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("tls_cert"), "{stderr}");
}

#[test]
fn an_unreadable_or_unparseable_file_exits_2_naming_it() {
    let cert = TestCert::new();
    let key_path = cert.key.to_str().unwrap();
    let missing = "/nonexistent/switchboard-cert.pem";
    let (status, stderr) =
        run_to_exit(&serve_args(&["--tls-cert", missing, "--tls-key", key_path]));
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(missing) && stderr.contains("tls_cert"),
        "{stderr}"
    );

    let garbage = cert.key.with_file_name("garbage.pem");
    std::fs::write(&garbage, "this is not PEM\n").unwrap();
    let garbage_path = garbage.to_str().unwrap();
    let cert_path = cert.cert.to_str().unwrap();
    let (status, stderr) = run_to_exit(&serve_args(&[
        "--tls-cert",
        cert_path,
        "--tls-key",
        garbage_path,
    ]));
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(garbage_path) && stderr.contains("tls_key"),
        "{stderr}"
    );
    // A certificate file given as the key holds no key.
    let (status, stderr) = run_to_exit(&serve_args(&[
        "--tls-cert",
        cert_path,
        "--tls-key",
        cert_path,
    ]));
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("tls_key"), "{stderr}");
}

#[tokio::test]
async fn a_tls_1_2_client_is_served() {
    let cert = TestCert::new();
    let server = Server::start(&cert.config());
    let only_1_2 = cert.client_config_for(&[&tokio_rustls::rustls::version::TLS12]);
    let stream = cert
        .connect_with(server.frame, only_1_2)
        .await
        .expect("a TLS 1.2 handshake");
    assert_eq!(
        stream.get_ref().1.protocol_version(),
        Some(tokio_rustls::rustls::ProtocolVersion::TLSv1_2)
    );
    let mut frame = FrameClient::over(stream);
    frame.send(ECHO, b"over 1.2").await;
    assert_eq!(frame.recv().await, (ECHO, b"over 1.2".to_vec()));
    // The default client still gets 1.3.
    let tls13 = cert.connect(server.line).await;
    assert_eq!(
        tls13.get_ref().1.protocol_version(),
        Some(tokio_rustls::rustls::ProtocolVersion::TLSv1_3)
    );
}

/// A ClientHello of TLS 1.`minor - 1` (`minor` 1 is TLS 1.0, 2 is 1.1, 3 is 1.2) written
/// by hand (RFC 5246, section 7.4.1.2) as a client that knows nothing newer sends it:
/// no `supported_versions` extension, a handshake record versioned TLS 1.0. It offers
/// ECDHE suites with AES-128 (GCM, which the server has, and CBC) and the extensions a
/// TLS 1.2 server needs to pick one (signature algorithms, groups, point formats), so
/// that its version is the only thing that can make the server refuse it.
fn client_hello(minor: u8) -> Vec<u8> {
    fn extension(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(data);
    }
    let mut hello = vec![3, minor]; // client_version
    hello.extend_from_slice(&[0x5a; 32]); // random
    hello.push(0); // session_id: empty
                   // ECDHE-ECDSA- and ECDHE-RSA-AES128-GCM-SHA256, ECDHE-ECDSA-AES128-SHA.
    hello.extend_from_slice(&[0, 6, 0xc0, 0x2b, 0xc0, 0x2f, 0xc0, 0x09]);
    hello.extend_from_slice(&[1, 0]); // compression_methods: null
    let mut extensions = Vec::new();
    // signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256.
    extension(&mut extensions, 13, &[0, 6, 4, 3, 8, 4, 4, 1]);
    // supported_groups: x25519, secp256r1.
    extension(&mut extensions, 10, &[0, 4, 0, 0x1d, 0, 0x17]);
    // ec_point_formats: uncompressed.
    extension(&mut extensions, 11, &[1, 0]);
    hello.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    hello.extend_from_slice(&extensions);
    let mut handshake = vec![1]; // client_hello
    handshake.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16, 3, 1];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

/// Sends the hand-written ClientHello of TLS 1.`minor - 1` and returns the first
/// record of the answer (header and body), or what came before the connection closed.
async fn answer_to_hello(addr: std::net::SocketAddr, minor: u8) -> Vec<u8> {
    let mut client = FrameClient::connect(addr).await;
    client.send_raw(&client_hello(minor)).await;
    let mut header = [0u8; 5];
    if client.stream.read_exact(&mut header).await.is_err() {
        return Vec::new();
    }
    let len = u16::from_be_bytes([header[3], header[4]]);
    let mut body = Vec::new();
    let mut rest = (&mut client.stream).take(u64::from(len));
    let read = tokio::time::timeout(WAIT, rest.read_to_end(&mut body)).await;
    assert!(
        matches!(read, Ok(Ok(n)) if n == usize::from(len)),
        "not a record: {header:02x?} then {body:02x?}"
    );
    [&header[..], &body].concat()
}

#[tokio::test]
async fn tls_1_1_and_1_0_clients_are_refused_with_a_protocol_version_alert() {
    let cert = TestCert::new();
    let server = Server::start(&cert.config());
    // The same hello as TLS 1.2 is answered with a ServerHello: it is well formed.
    let answer = answer_to_hello(server.frame, 3).await;
    assert!(
        answer.len() > 5 && answer[0] == 0x16 && answer[5] == 2,
        "TLS 1.2: answered {answer:02x?}"
    );
    for minor in [2u8, 1] {
        // One fatal alert (2), protocol_version (70): never a ServerHello.
        let answer = answer_to_hello(server.frame, minor).await;
        assert_eq!(
            (answer.first(), answer.get(5..7)),
            (Some(&0x15), Some(&[2u8, 70][..])),
            "TLS 1.{}: answered {answer:02x?}",
            minor - 1
        );
    }
    let mut tls = cert.frame(server.frame).await;
    let snap = stats_until(&mut tls, "the refusals counted", |s| {
        s["removed_total"]["tls_handshake"].as_u64() >= Some(2)
    })
    .await;
    assert_eq!(snap["connections"]["frame"], 1, "{snap}");
}

#[tokio::test]
async fn sent_bytes_count_application_bytes_and_a_silent_close_is_no_handshake_failure() {
    let cert = TestCert::new();
    let server = Server::start_with_args(&cert.config(), &["--metrics", "127.0.0.1:0"]);
    let metrics = server.metrics.unwrap();
    // Connected and closed without a byte: a probe, not a failed handshake.
    drop(tokio::net::TcpStream::connect(server.frame).await.unwrap());
    let snap = http_stats_until(metrics, "the probe's removal", WAIT, |s| {
        s["accepted_total"] == 1 && s["connections"]["frame"] == 0
    });
    assert_eq!(snap["removed_total"]["tls_handshake"], 0, "{snap}");
    let closed = snap["removed_total"]["peer_closed"].as_u64().unwrap()
        + snap["removed_total"]["io_error"].as_u64().unwrap();
    assert_eq!(closed, 1, "{snap}");
    // One ECHO of 100 bytes: the application bytes of its reply (a 4-byte length, the
    // opcode, the payload), not the TLS records around them.
    let mut client = cert.frame(server.frame).await;
    client.send(ECHO, &[7u8; 100]).await;
    assert_eq!(client.recv().await, (ECHO, vec![7u8; 100]));
    http_stats_until(metrics, "the reply counted", WAIT, |s| {
        s["sent_bytes_total"] == 105
    });
}
