//! TLS for end-to-end tests: the shared self-signed certificate (its PEM files for
//! `tls_cert` and `tls_key`) and real rustls clients (tokio-rustls) that trust it,
//! speaking `frame` and `line` inside TLS.
#![allow(dead_code)]

use super::{FrameClient, LineClient, WAIT};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::TlsConnector;

/// A self-signed certificate for `localhost` (the shared one of `switchboard-testkit`),
/// with the server's configuration keys and clients that trust it.
pub struct TestCert {
    /// The certificate, its PEM files and its rustls configurations.
    pub inner: switchboard_testkit::TestCert,
    /// A client configuration that trusts the certificate (TLS 1.2 and 1.3).
    client: Arc<ClientConfig>,
}

impl TestCert {
    pub fn new() -> TestCert {
        let inner = switchboard_testkit::TestCert::localhost();
        let client = inner.client_config();
        TestCert { inner, client }
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
        self.connect_with(addr, self.client.clone())
            .await
            .expect("TLS connect failed")
    }

    /// A TLS connection to `addr` with the client configuration `client` (one that
    /// offers only some versions), or the handshake's error.
    pub async fn connect_with(
        &self,
        addr: SocketAddr,
        client: Arc<ClientConfig>,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let connector = TlsConnector::from(client);
        tokio::time::timeout(WAIT, async {
            let tcp = TcpStream::connect(addr).await?;
            connector
                .connect(switchboard_testkit::TestCert::server_name(), tcp)
                .await
        })
        .await
        .expect("TLS connect timed out")
    }

    /// A `frame` client inside TLS.
    pub async fn frame(&self, addr: SocketAddr) -> TlsFrameClient {
        FrameClient::over(self.connect(addr).await)
    }

    /// A `line` client inside TLS.
    pub async fn line(&self, addr: SocketAddr) -> TlsLineClient {
        let (reader, writer) = tokio::io::split(self.connect(addr).await);
        LineClient::over(reader, writer)
    }
}

/// The shared certificate's files (`cert`, `key`) and configurations.
impl std::ops::Deref for TestCert {
    type Target = switchboard_testkit::TestCert;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

/// A `frame` client inside TLS.
pub type TlsFrameClient = FrameClient<TlsStream<TcpStream>>;

/// A `line` client inside TLS.
pub type TlsLineClient =
    LineClient<ReadHalf<TlsStream<TcpStream>>, WriteHalf<TlsStream<TcpStream>>>;

impl TestCert {
    /// A client configuration trusting the server's certificate that presents the
    /// client certificate chain of the PEM file `cert`, with its key in `key`.
    pub fn client_with_certificate(
        &self,
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> Arc<ClientConfig> {
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain = CertificateDer::pem_file_iter(cert)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let mut roots = tokio_rustls::rustls::RootCertStore::empty();
        roots.add(self.cert_der.clone()).unwrap();
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap();
        Arc::new(config)
    }

    /// A `line` client inside TLS, with the client configuration `client`.
    pub async fn line_with(&self, addr: SocketAddr, client: Arc<ClientConfig>) -> TlsLineClient {
        let stream = self
            .connect_with(addr, client)
            .await
            .expect("TLS connect failed");
        let (reader, writer) = tokio::io::split(stream);
        LineClient::over(reader, writer)
    }
}
