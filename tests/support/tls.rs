//! TLS for end-to-end tests: a self-signed certificate made when the test runs (its PEM
//! files in a temporary directory, for `tls_cert` and `tls_key`) and real rustls clients
//! (tokio-rustls) that trust it, speaking `frame` and `line` inside TLS.
#![allow(dead_code)]

use super::{FrameClient, LineClient, WAIT};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{BufReader, ReadHalf, WriteHalf};
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

    /// A `frame` client inside TLS.
    pub async fn frame(&self, addr: SocketAddr) -> TlsFrameClient {
        FrameClient::over(self.connect(addr).await)
    }

    /// A `line` client inside TLS.
    pub async fn line(&self, addr: SocketAddr) -> TlsLineClient {
        let (reader, writer) = tokio::io::split(self.connect(addr).await);
        LineClient {
            reader: BufReader::new(reader),
            writer,
        }
    }
}

/// A `frame` client inside TLS.
pub type TlsFrameClient = FrameClient<TlsStream<TcpStream>>;

/// A `line` client inside TLS.
pub type TlsLineClient =
    LineClient<ReadHalf<TlsStream<TcpStream>>, WriteHalf<TlsStream<TcpStream>>>;
