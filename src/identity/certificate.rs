//! [`common_name`]: the user a client certificate names, by its subject's common name.
//!
//! With `tls_client_ca`, the TLS listeners accept only clients whose certificate chains
//! to one of those CAs (the switchboard's verifier checks the chain, the validity period
//! and the signatures); a verified certificate whose subject common name is the name of
//! one of the `[[users]]` authenticates its connection as that user. The name is read
//! here with `x509-parser`; a certificate with no common name, or with more than one,
//! names nobody.

use x509_parser::prelude::{FromDer, X509Certificate};

/// The subject common name of the DER certificate `der`, if it has exactly one that is
/// a string.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, certificate) = X509Certificate::from_der(der).ok()?;
    let mut names = certificate.subject().iter_common_name();
    let name = names.next()?.as_str().ok()?.to_owned();
    names.next().is_none().then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(names: Option<&str>) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
        let mut subject = rcgen::DistinguishedName::new();
        subject.push(rcgen::DnType::OrganizationName, "test");
        if let Some(name) = names {
            subject.push(rcgen::DnType::CommonName, name);
        }
        params.distinguished_name = subject;
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn the_one_common_name_names_the_user() {
        // (Two common names name nobody: tests/client_certificates.rs, made by openssl.)
        let alice = certificate(Some("alice"));
        assert_eq!(common_name(&alice).as_deref(), Some("alice"));
        assert_eq!(common_name(&certificate(None)), None);
        assert_eq!(common_name(b"not a certificate"), None);
    }
}
