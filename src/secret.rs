//! [`Secret`]: a token, a password or a key that the server holds but never shows; and
//! [`SecretUrl`], a URL that may carry credentials and is shown without them.
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

/// A URL that may carry credentials (the `cluster` URL, `nats://USER:PASSWORD@HOST:PORT`
/// or `nats://TOKEN@HOST:PORT`): printed, debugged and serialized with the password or
/// token replaced by `***`; [`SecretUrl::expose`] gives the URL itself.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// Keeps `url`.
    pub fn new(url: impl Into<String>) -> Self {
        SecretUrl(url.into())
    }

    /// The URL with its credentials, for the one place that dials it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL as it may be printed.
    pub fn redacted(&self) -> String {
        switchboard::cluster::redact_url(&self.0)
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl std::fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::str::FromStr for SecretUrl {
    type Err = std::convert::Infallible;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Ok(SecretUrl::new(url))
    }
}

impl Serialize for SecretUrl {
    /// Redacted, like every other output.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    /// From a string. A value of the wrong type is refused without quoting it.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)
            .map(SecretUrl)
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
    fn a_url_is_shown_without_its_credentials() {
        let url = SecretUrl::new("nats://alice:hunter2@127.0.0.1:4222");
        for shown in [
            format!("{url}"),
            format!("{url:?}"),
            serde_json::to_string(&url).unwrap(),
        ] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("nats://alice:***@127.0.0.1:4222"), "{shown}");
        }
        assert_eq!(url.expose(), "nats://alice:hunter2@127.0.0.1:4222");
        let plain = SecretUrl::new("nats://127.0.0.1:4222");
        assert_eq!(plain.to_string(), "nats://127.0.0.1:4222");
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
