//! TLS for end-to-end tests: a self-signed certificate made when the test runs (its PEM
//! files in a temporary directory, for `tls_cert` and `tls_key`) and real rustls clients
//! (tokio-rustls) that trust it, speaking `frame` and `line` inside TLS.
#![allow(dead_code)]

use super::{encode, STATS, STATS_REPLY, WAIT};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// A self-signed certificate for `localhost`, written out as PEM files.
pub struct TestCert {
    /// Holds the PEM files for as long as the certificate is used.
    dir: tempfile::TempDir,
    /// The certificate (`tls_cert`).
    pub cert: PathBuf,
    /// Its private key (`tls_key`).
    pub key: PathBuf,
    /// A client configuration that trusts the certificate.
    client: Arc<ClientConfig>,
}

impl TestCert {
    pub fn new() -> TestCert {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, certified.cert.pem()).unwrap();
        std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(certified.cert.der().to_vec()))
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        TestCert {
            dir,
            cert,
            key,
            client: Arc::new(client),
        }
    }

    /// The TOML lines that turn TLS on with this certificate.
    pub fn config(&self) -> String {
        format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
            self.cert.display(),
            self.key.display()
        )
    }

    /// A TLS connection to `addr`, handshake done.
    pub async fn connect(&self, addr: SocketAddr) -> TlsStream<TcpStream> {
        let connector = TlsConnector::from(self.client.clone());
        let name = ServerName::try_from("localhost").unwrap();
        tokio::time::timeout(WAIT, async {
            let tcp = TcpStream::connect(addr).await?;
            connector.connect(name, tcp).await
        })
        .await
        .expect("TLS connect timed out")
        .expect("TLS connect failed")
    }

    pub async fn frame(&self, addr: SocketAddr) -> TlsFrameClient {
        TlsFrameClient {
            stream: self.connect(addr).await,
        }
    }

    pub async fn line(&self, addr: SocketAddr) -> TlsLineClient {
        let (reader, writer) = tokio::io::split(self.connect(addr).await);
        TlsLineClient {
            reader: BufReader::new(reader),
            writer,
        }
    }
}

/// A `frame` client inside TLS.
pub struct TlsFrameClient {
    pub stream: TlsStream<TcpStream>,
}

impl TlsFrameClient {
    pub async fn send(&mut self, opcode: u8, payload: &[u8]) {
        self.stream
            .write_all(&encode(opcode, payload))
            .await
            .unwrap();
        self.stream.flush().await.unwrap();
    }

    /// The next frame; panics on EOF or after `WAIT`.
    pub async fn recv(&mut self) -> (u8, Vec<u8>) {
        tokio::time::timeout(WAIT, async {
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len).await?;
            let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
            self.stream.read_exact(&mut body).await?;
            let payload = body.split_off(1);
            Ok::<_, std::io::Error>((body[0], payload))
        })
        .await
        .expect("no frame in time")
        .expect("connection closed")
    }

    /// The stats snapshot.
    pub async fn stats(&mut self) -> Value {
        self.send(STATS, b"").await;
        let (op, payload) = self.recv().await;
        assert_eq!(op, STATS_REPLY);
        serde_json::from_slice(&payload).unwrap()
    }

    /// Polls the stats until `check` holds, for at most `WAIT`.
    pub async fn stats_until(&mut self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let snap = self.stats().await;
            if check(&snap) {
                return snap;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "stats never showed {what}: {snap}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// A `line` client inside TLS.
pub struct TlsLineClient {
    pub reader: BufReader<ReadHalf<TlsStream<TcpStream>>>,
    pub writer: WriteHalf<TlsStream<TcpStream>>,
}

impl TlsLineClient {
    pub async fn send(&mut self, line: &str) {
        let bytes = format!("{line}\n");
        self.writer.write_all(bytes.as_bytes()).await.unwrap();
        self.writer.flush().await.unwrap();
    }

    /// The next line without its ending, or None at EOF.
    pub async fn recv(&mut self) -> Option<String> {
        let mut s = String::new();
        let n = tokio::time::timeout(WAIT, self.reader.read_line(&mut s))
            .await
            .expect("no line in time")
            .unwrap_or(0);
        (n > 0).then(|| s.trim_end_matches('\n').to_string())
    }
}
