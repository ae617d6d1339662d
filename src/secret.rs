//! [`Secret`]: a token, a password or a key that the server holds but never shows.
//!
//! Every secret of the configuration (a user's `token`, `jwt_secret`, `metrics_token`)
//! is a `Secret` from the moment it is read, so no error message, log line, `Debug`
//! output or serialized configuration can carry it by accident: all of them print
//! [`REDACTED`]. The only way to the value is [`Secret::expose`], named so that every use
//! is easy to find, and comparing with what a peer sent is [`Secret::matches`], in
//! constant time.

use bytes::Bytes;
use ring::digest::{digest, SHA256};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;

/// What a secret looks like wherever it is printed.
pub const REDACTED: &str = "[redacted]";

/// Secret bytes (a token as a peer sent it, or a string of the configuration): printed,
/// debugged and serialized as [`REDACTED`], compared in constant time.
#[derive(Clone, Default)]
pub struct Secret(Bytes);

impl Secret {
    /// Keeps `value` as a secret.
    pub fn new(value: impl Into<Bytes>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the few places that must hand it on (a key for HMAC, a
    /// token to verify).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `candidate` is this secret, in constant time: the SHA-256 digests of the
    /// two are compared, so the time depends neither on where the first differing byte
    /// is nor on how long the secret is.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let ours = digest(&SHA256, &self.0);
        let theirs = digest(&SHA256, candidate);
        ours.as_ref().ct_eq(theirs.as_ref()).into()
    }
}

impl PartialEq for Secret {
    /// In constant time, like [`Secret::matches`].
    fn eq(&self, other: &Self) -> bool {
        self.matches(&other.0)
    }
}

impl Eq for Secret {}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    /// As [`REDACTED`]: a serialized configuration carries no secret.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    /// From a string. A value of the wrong type is refused without quoting it.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)
            .map(|text| Secret(Bytes::from(text)))
            .map_err(|_| serde::de::Error::custom("expected a string"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret}"), REDACTED);
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(format!("{:?}", Some(&secret)), "Some([redacted])");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"[redacted]\"");
        assert_eq!(secret.expose(), b"hunter2");
    }

    #[test]
    fn compared_by_value() {
        let secret = Secret::new("hunter2");
        assert!(secret.matches(b"hunter2"));
        for other in [&b"hunter3"[..], b"hunter", b"hunter22", b"", b"HUNTER2"] {
            assert!(!secret.matches(other), "{other:?}");
        }
        assert_eq!(secret, Secret::new("hunter2"));
        assert_ne!(secret, Secret::new("hunter"));
        assert!(Secret::default().is_empty() && Secret::default().matches(b""));
    }

    #[test]
    fn a_wrong_type_is_refused_without_quoting_it() {
        #[derive(Debug, Deserialize)]
        struct Holder {
            #[allow(dead_code)]
            token: Secret,
        }
        let err = toml::from_str::<Holder>("token = 12345678").unwrap_err();
        assert!(!err.message().contains("12345678"), "{err}");
        let holder: Holder = toml::from_str("token = \"abc\"").unwrap();
        assert!(holder.token.matches(b"abc"));
    }
}
