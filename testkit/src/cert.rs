//! A self-signed certificate for `localhost`, made when the test runs: as PEM files (for
//! a server configured by file names), as DER, and as rustls configurations (a server
//! that presents it, clients that trust it), all on the `ring` provider.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};
use std::path::PathBuf;
use std::sync::Arc;

/// A fresh self-signed certificate for `localhost` and its key.
pub struct TestCert {
    /// Holds the PEM files for as long as the certificate is used.
    _dir: tempfile::TempDir,
    /// The certificate as a PEM file (a server's `tls_cert`).
    pub cert: PathBuf,
    /// Its private key as a PEM file (`tls_key`).
    pub key: PathBuf,
    /// The certificate, DER.
    pub cert_der: CertificateDer<'static>,
    /// The private key, PKCS#8 DER.
    key_der: Vec<u8>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TestCert {
    /// Makes a certificate for `localhost` and writes its PEM files.
    pub fn localhost() -> TestCert {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()])
            .expect("rcgen makes a certificate");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, certified.cert.pem()).expect("write cert.pem");
        std::fs::write(&key, certified.key_pair.serialize_pem()).expect("write key.pem");
        TestCert {
            _dir: dir,
            cert,
            key,
            cert_der: certified.cert.der().clone(),
            key_der: certified.key_pair.serialize_der(),
        }
    }

    /// The name the certificate is for.
    pub fn server_name() -> ServerName<'static> {
        ServerName::try_from("localhost").expect("a valid name")
    }

    /// A server configuration presenting the certificate, rustls's safe default
    /// versions (TLS 1.2 and 1.3).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.cert_der.clone()], key)
            .expect("the key fits the certificate");
        Arc::new(config)
    }

    /// A client configuration trusting the certificate, rustls's safe default versions.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.client_config_for(rustls::DEFAULT_VERSIONS)
    }

    /// A client configuration trusting the certificate that offers only `versions`
    /// (`&[&rustls::version::TLS12]` for a TLS 1.2 client).
    pub fn client_config_for(
        &self,
        versions: &[&'static SupportedProtocolVersion],
    ) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots
            .add(self.cert_der.clone())
            .expect("the certificate is a valid root");
        let config = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .expect("the ring provider supports the versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }
}
