//! TLS for both listeners: the certificate chain and private key of `tls_cert` and
//! `tls_key` (PEM files) made into a rustls server configuration, TLS 1.2 and 1.3 only,
//! requiring a client certificate signed by one of the CAs of `tls_client_ca` when that
//! key is set.
//!
//! Every error names the key and the file at fault, so that the server can report it
//! and exit with status 2 before listening.

use crate::config::Config;
use std::path::Path;
use std::sync::Arc;
use switchboard::rustls::crypto::ring;
use switchboard::rustls::pki_types::pem::PemObject;
use switchboard::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use switchboard::rustls::server::danger::ClientCertVerifier;
use switchboard::rustls::{self, ServerConfig};

/// A TLS setting that cannot be used, naming the key and file at fault.
#[derive(Debug, thiserror::Error)]
#[error("config key \"{key}\" (\"{}\"): {message}", file.display())]
pub struct TlsError {
    /// `tls_cert`, `tls_key` or `tls_client_ca`.
    pub key: &'static str,
    /// The file that key names.
    pub file: std::path::PathBuf,
    /// What is wrong with it.
    pub message: String,
}

impl TlsError {
    fn new(key: &'static str, file: &Path, message: impl Into<String>) -> Self {
        TlsError {
            key,
            file: file.to_owned(),
            message: message.into(),
        }
    }
}

/// The TLS configuration `config` asks for: `None` without `tls_cert` and `tls_key`.
/// (Only one of the two is refused by [`Config::validate`].)
pub fn from_config(config: &Config) -> Result<Option<Arc<ServerConfig>>, TlsError> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            server_config_with(cert, key, config.tls_client_ca.as_deref()).map(Some)
        }
        _ => Ok(None),
    }
}

/// A server configuration for the chain in `cert` and the private key in `key`.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    server_config_with(cert, key, None)
}

/// The verifier of client certificates signed by one of the CAs in the PEM file
/// `client_ca`.
fn client_verifier(client_ca: &Path) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let error = |message: String| TlsError::new("tls_client_ca", client_ca, message);
    let pem = std::fs::read(client_ca).map_err(|e| error(format!("cannot read: {e}")))?;
    switchboard::tls::client_verifier(&pem).map_err(|e| error(e.to_string()))
}

/// [`server_config`], requiring client certificates signed by a CA of `client_ca`
/// when given.
fn server_config_with(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let verifier = client_ca.map(client_verifier).transpose()?;
    let read_error = |name, file, e: rustls::pki_types::pem::Error| match e {
        rustls::pki_types::pem::Error::Io(e) => {
            TlsError::new(name, file, format!("cannot read: {e}"))
        }
        rustls::pki_types::pem::Error::NoItemsFound => {
            TlsError::new(name, file, "no PEM item of the right kind found")
        }
        e => TlsError::new(name, file, format!("not valid PEM: {e}")),
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|items| items.collect::<Result<Vec<_>, _>>())
        .map_err(|e| read_error("tls_cert", cert, e))?;
    if chain.is_empty() {
        return Err(TlsError::new("tls_cert", cert, "no PEM certificate found"));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| read_error("tls_key", key, e))?;
    let builder = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::new("tls_cert", cert, e.to_string()))?;
    let builder = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    builder
        .with_single_cert(chain, private)
        .map(Arc::new)
        .map_err(|e| {
            let message = format!("does not fit the certificate in tls_cert: {e}");
            TlsError::new("tls_key", key, message)
        })
}
