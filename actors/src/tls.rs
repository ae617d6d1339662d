//! Helpers for TLS listeners ([`Switchboard::listen_tls`](crate::Switchboard::listen_tls)).
//!
//! To require client certificates, build the listener's `rustls::ServerConfig` with a
//! client-certificate verifier; [`client_verifier`] makes one from a PEM bundle of CA
//! certificates. A client whose certificate is missing or not signed by one of them
//! fails its handshake (the connection is removed as
//! [`TlsHandshake`](crate::RemovalReason::TlsHandshake)); for the others, the handler
//! finds the verified chain in [`Outbox::peer_certificates`](crate::Outbox::peer_certificates)
//! from `on_open` on, and may authenticate the peer from it.
//!
//! ```
//! use std::sync::Arc;
//! use switchboard::rustls::{self, crypto::ring, ServerConfig};
//! # fn keys() -> (Vec<rustls::pki_types::CertificateDer<'static>>,
//! #               rustls::pki_types::PrivateKeyDer<'static>, String) {
//! #     let ca_key = rcgen::KeyPair::generate().unwrap();
//! #     let mut ca = rcgen::CertificateParams::new(Vec::new()).unwrap();
//! #     ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
//! #     let ca = ca.self_signed(&ca_key).unwrap();
//! #     let key = rcgen::KeyPair::generate().unwrap();
//! #     let cert = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap()
//! #         .signed_by(&key, &ca, &ca_key).unwrap();
//! #     let key = rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der());
//! #     (vec![cert.der().clone()], key.into(), ca.pem())
//! # }
//! // The server's chain and key, and the CAs its clients' certificates must chain to.
//! let (chain, key, client_ca_pem) = keys();
//! let verifier = switchboard::tls::client_verifier(client_ca_pem.as_bytes())?;
//! let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
//!     .with_safe_default_protocol_versions()?
//!     .with_client_cert_verifier(verifier)
//!     .with_single_cert(chain, key)?;
//! // board.listen_tls(listener, Arc::new(config), || MyProtocol)
//! # let _ = config;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use std::sync::Arc;

/// Why a PEM bundle of CA certificates could not become a client-certificate verifier.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientCaError {
    /// The bundle is not valid PEM.
    #[error("not valid PEM: {0}")]
    Pem(String),
    /// The bundle holds no certificate.
    #[error("no PEM certificate found")]
    Empty,
    /// A certificate of the bundle cannot be a trust anchor.
    #[error("certificate {index} of the bundle cannot be a CA: {message}")]
    BadCertificate {
        /// Its position in the bundle, from 0.
        index: usize,
        /// What is wrong with it.
        message: String,
    },
    /// rustls refused to build the verifier.
    #[error("client certificate verifier: {0}")]
    Verifier(String),
}

/// A verifier that requires every client to present a certificate chaining to one of
/// the CA certificates in `ca_pem` (a PEM bundle: one or more `CERTIFICATE` blocks),
/// checked with webpki (validity period, key usage, signatures) under the *ring*
/// provider this crate's [`rustls`] is built with. Give it to
/// `ServerConfig::builder_with_provider(..).with_client_cert_verifier`.
pub fn client_verifier(ca_pem: &[u8]) -> Result<Arc<dyn ClientCertVerifier>, ClientCaError> {
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(ca_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| ClientCaError::Pem(e.to_string()))?;
    if certificates.is_empty() {
        return Err(ClientCaError::Empty);
    }
    let mut roots = RootCertStore::empty();
    for (index, certificate) in certificates.into_iter().enumerate() {
        roots
            .add(certificate)
            .map_err(|e| ClientCaError::BadCertificate {
                index,
                message: e.to_string(),
            })?;
    }
    let provider = Arc::new(ring::default_provider());
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| ClientCaError::Verifier(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_empty_bundles_are_refused_by_name() {
        assert!(matches!(client_verifier(b""), Err(ClientCaError::Empty)));
        let private_key_only = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            client_verifier(private_key_only),
            Err(ClientCaError::Empty)
        ));
        let broken = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            client_verifier(broken),
            Err(ClientCaError::Pem(_))
        ));
        let not_der = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = client_verifier(not_der).map(|_| ()).unwrap_err();
        assert!(
            matches!(err, ClientCaError::BadCertificate { index: 0, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_bundle_of_two_cas_builds_a_verifier() {
        let pem = |name: &str| {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            params.self_signed(&key).unwrap().pem()
        };
        let bundle = format!("{}{}", pem("one"), pem("two"));
        let verifier = client_verifier(bundle.as_bytes()).unwrap();
        assert!(verifier.client_auth_mandatory());
        assert_eq!(verifier.root_hint_subjects().len(), 2);
    }
}
