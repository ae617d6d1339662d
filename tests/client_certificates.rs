//! End to end, PROTOCOL.md "Identity and permissions", client certificates: with
//! `tls_client_ca` the TLS listeners require a client certificate signed by one of
//! those CAs, and one whose subject common name is a user's `name` authenticates the
//! connection from its first byte. The CAs and certificates are made by `openssl`, as an
//! operator would, in a temporary directory.

mod support;
#[path = "support/tls.rs"]
mod tls_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;
use tls_support::TestCert;

/// Runs `openssl` with `args` in `dir`; panics with its output if it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed (scripts/test.sh installs it)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A directory of certificates made by openssl.
struct Certificates {
    dir: tempfile::TempDir,
}

const EC: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];

impl Certificates {
    fn new() -> Certificates {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("client.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
        )
        .unwrap();
        let certificates = Certificates { dir };
        certificates.ca("ca");
        certificates.ca("rogue-ca");
        certificates
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A self-signed CA: `<name>.pem` and `<name>.key`.
    fn ca(&self, name: &str) {
        let (pem, key, subject) = (
            format!("{name}.pem"),
            format!("{name}.key"),
            format!("/CN={name}"),
        );
        let mut args = vec!["req", "-x509", "-nodes", "-days", "2", "-subj", &subject];
        args.extend(EC);
        args.extend(["-keyout", &key, "-out", &pem]);
        openssl(self.dir.path(), &args);
    }

    /// A client certificate with the subject `subject` signed by the CA `ca`:
    /// `<name>.pem` and `<name>.key`.
    fn client(&self, name: &str, subject: &str, ca: &str) -> (PathBuf, PathBuf) {
        let (csr, pem, key) = (
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.key"),
        );
        let mut args = vec!["req", "-new", "-nodes", "-subj", subject];
        args.extend(EC);
        args.extend(["-keyout", &key, "-out", &csr]);
        openssl(self.dir.path(), &args);
        let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
        openssl(
            self.dir.path(),
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_pem,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "client.ext",
                "-out",
                &pem,
            ],
        );
        (self.path(&pem), self.path(&key))
    }
}

const USERS: &str = r#"
[[users]]
name = "alice"
token = "alice-token"
join = ["chat.*"]
[[users]]
name = "root"
token = "root-token"
admin = true
"#;

fn server(certificates: &Certificates, tls: &TestCert) -> Server {
    let config = format!(
        "{}tls_client_ca = \"{}\"\n{USERS}",
        tls.config(),
        certificates.path("ca.pem").display()
    );
    Server::start_with_args(&config, &["--metrics", "127.0.0.1:0"])
}

#[tokio::test]
async fn a_certificate_naming_a_user_authenticates_from_the_first_byte() {
    let certificates = Certificates::new();
    let tls = TestCert::new();
    let server = server(&certificates, &tls);
    let (cert, key) = certificates.client("alice", "/CN=alice/O=test", "ca");
    let alice = tls.client_with_certificate(&cert, &key);
    let mut line = tls.line_with(server.line, alice.clone()).await;
    line.send("JOIN chat.x").await;
    assert_eq!(line.recv().await.as_deref(), Some("JOINED chat.x"));
    line.send("JOIN lobby").await;
    assert_eq!(
        line.recv().await.as_deref(),
        Some("ERR permission denied: join lobby")
    );
    line.send("AUTH root-token").await;
    assert_eq!(
        line.recv().await.as_deref(),
        Some("ERR already authenticated")
    );
    let mut frame = FrameClient::over(tls.connect_with(server.frame, alice).await.unwrap());
    frame.send(ECHO, b"no AUTH needed").await;
    assert_eq!(frame.recv().await, (ECHO, b"no AUTH needed".to_vec()));
    let (status, body) =
        switchboard_testkit::http::get(server.metrics.unwrap(), "/connections?protocol=frame");
    assert_eq!(status, 200);
    assert!(body.contains(r#""user":"alice""#), "{body}");
}

#[tokio::test]
async fn a_certificate_authenticates_a_wss_connection_and_none_is_refused() {
    use switchboard_testkit::ws::{request, WsClient};
    let certificates = Certificates::new();
    let tls = TestCert::new();
    let config = format!(
        "{}tls_client_ca = \"{}\"\nws_line = \"127.0.0.1:0\"\n{USERS}",
        tls.config(),
        certificates.path("ca.pem").display()
    );
    let server = Server::start_with_args(&config, &["--metrics", "127.0.0.1:0"]);
    let wss = server.ws_line.expect("ws_line listening");
    let (cert, key) = certificates.client("alice", "/CN=alice", "ca");
    let alice = tls.client_with_certificate(&cert, &key);
    let mut ws = WsClient::over(tls.connect_with(wss, alice).await.unwrap());
    let head = ws.handshake(&request("/", "")).await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    ws.send_text("JOIN chat.x").await;
    assert_eq!(ws.recv_text().await, "JOINED chat.x");
    ws.send_text("JOIN lobby").await;
    assert_eq!(ws.recv_text().await, "ERR permission denied: join lobby");
    // Without a certificate, no WebSocket: the TLS handshake fails, or (TLS 1.3) the
    // first read ends.
    let refused = match tls.connect_with(wss, tls.client_config()).await {
        Err(_) => true,
        Ok(stream) => WsClient::over(stream)
            .handshake(&request("/", ""))
            .await
            .is_empty(),
    };
    assert!(refused, "a wss client without a certificate was served");
    http_stats_until(server.metrics.unwrap(), "one failed handshake", WAIT, |s| {
        s["removed_total"]["tls_handshake"] == 1
    });
}

#[tokio::test]
async fn a_certificate_naming_nobody_must_still_authenticate() {
    let certificates = Certificates::new();
    let tls = TestCert::new();
    let server = server(&certificates, &tls);
    for (name, subject) in [
        ("stranger", "/CN=stranger"),
        // Two common names name nobody, whichever comes first.
        ("twice", "/CN=alice/CN=root"),
        ("nameless", "/O=test"),
    ] {
        let (cert, key) = certificates.client(name, subject, "ca");
        let config = tls.client_with_certificate(&cert, &key);
        let mut line = tls.line_with(server.line, config.clone()).await;
        line.send("ECHO hi").await;
        assert_eq!(
            line.recv().await.as_deref(),
            Some("ERR authentication required"),
            "{subject}"
        );
        assert_eq!(line.recv().await, None);
        let mut line = tls.line_with(server.line, config).await;
        line.send("AUTH alice-token").await;
        assert_eq!(
            line.recv().await.as_deref(),
            Some("AUTHED alice"),
            "{subject}"
        );
    }
}

#[tokio::test]
async fn no_certificate_or_another_cas_fails_the_handshake() {
    let certificates = Certificates::new();
    let tls = TestCert::new();
    let server = server(&certificates, &tls);
    let (cert, key) = certificates.client("mallory", "/CN=root", "rogue-ca");
    let rogue = tls.client_with_certificate(&cert, &key);
    let configs = [("none", tls.client_config()), ("another CA's", rogue)];
    for (what, config) in configs {
        // Under TLS 1.3 the client may think the handshake done before the server has
        // checked its certificate: the refusal then comes as the first read.
        let refused = match tls.connect_with(server.line, config).await {
            Err(_) => true,
            Ok(stream) => {
                let (reader, writer) = tokio::io::split(stream);
                let mut line = LineClient::over(reader, writer);
                line.send("PING").await;
                line.recv().await.is_none()
            }
        };
        assert!(refused, "a client with {what} certificate was served");
    }
    http_stats_until(
        server.metrics.unwrap(),
        "two failed handshakes",
        WAIT,
        |s| s["removed_total"]["tls_handshake"] == 2,
    );
}

#[test]
fn a_ca_file_that_is_not_pem_is_refused_at_start_naming_the_key() {
    let tls = TestCert::new();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("ca.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    let config_file = dir.path().join("serve.toml");
    std::fs::write(
        &config_file,
        format!(
            "frame = \"127.0.0.1:0\"\nline = \"127.0.0.1:0\"\n{}tls_client_ca = \"{}\"\n",
            tls.config(),
            bad.display()
        ),
    )
    .unwrap();
    let (status, stderr) = run_to_exit(&["serve", "--config", config_file.to_str().unwrap()]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("config key \"tls_client_ca\""), "{stderr}");
}
