//! The URL of the NATS server a node joins: `nats://HOST:PORT`, optionally with
//! credentials, `nats://USER:PASSWORD@HOST:PORT` or `nats://TOKEN@HOST:PORT`
//! (percent-encoded where they hold reserved characters).
//!
//! The credentials are taken out of the URL before the NATS client sees it and handed to
//! it as credentials, so the address the client logs carries none; and wherever the URL
//! is printed (an error, a `Debug` of the configuration) it is [`redact_url`]ed first:
//! the password or token becomes `***`.

use super::config::ClusterError;
use async_nats::ServerAddr;
use percent_encoding::percent_decode_str;
use std::str::FromStr;

/// What stands for a password or token in a printed URL.
const HIDDEN: &str = "***";

/// `url` with its password or token replaced by `***` (`nats://alice:***@host:4222`,
/// `nats://***@host:4222`); anything without credentials unchanged. Works on any text,
/// a malformed URL included, so that an error quoting it is safe to print.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    // The last '@' ends the credentials, whatever characters they hold.
    let Some(at) = rest.rfind('@') else {
        return url.to_owned();
    };
    let (userinfo, host) = (&rest[..at], &rest[at + 1..]);
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}{user}:{HIDDEN}@{host}"),
        None => format!("{scheme}{HIDDEN}@{host}"),
    }
}

/// Credentials for the NATS server, as the client takes them.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum Credentials {
    /// `USER:PASSWORD@`.
    UserPassword {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// `TOKEN@`.
    Token(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::UserPassword { user, .. } => write!(f, "UserPassword({user}:{HIDDEN})"),
            Credentials::Token(_) => write!(f, "Token({HIDDEN})"),
        }
    }
}

/// A cluster URL taken apart: where the server is, and how to authenticate to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NatsUrl {
    /// `nats://HOST:PORT`, without credentials: what the client dials and may log.
    pub(super) server: String,
    /// The credentials the URL carried, if any.
    pub(super) credentials: Option<Credentials>,
}

/// One percent-decoded part of the credentials, or an error naming which.
fn decode(part: &str, what: &str) -> Result<String, ClusterError> {
    percent_decode_str(part)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| ClusterError::Url(format!("the {what} in the URL is not UTF-8 once decoded")))
}

impl NatsUrl {
    /// Takes `url` apart, or says what is wrong with it (quoting it redacted).
    pub(super) fn parse(url: &str) -> Result<NatsUrl, ClusterError> {
        let shown = || format!("{:?}", redact_url(url));
        let rest = url
            .strip_prefix("nats://")
            .ok_or_else(|| ClusterError::Url(format!("{} is not a nats:// URL", shown())))?;
        let (userinfo, host) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        if host.is_empty() || host.contains(['/', ',', '?', '#']) {
            return Err(ClusterError::Url(format!(
                "{} is not a nats://HOST:PORT URL",
                shown()
            )));
        }
        let server = format!("nats://{host}");
        ServerAddr::from_str(&server)
            .map_err(|e| ClusterError::Url(format!("{}: {e}", shown())))?;
        let credentials = match userinfo {
            None => None,
            Some(userinfo) => Some(match userinfo.split_once(':') {
                Some((user, password)) => {
                    if user.is_empty() {
                        return Err(ClusterError::Url(format!("{}: the user is empty", shown())));
                    }
                    Credentials::UserPassword {
                        user: decode(user, "user")?,
                        password: decode(password, "password")?,
                    }
                }
                None if userinfo.is_empty() => {
                    return Err(ClusterError::Url(format!(
                        "{}: the token is empty",
                        shown()
                    )))
                }
                None => Credentials::Token(decode(userinfo, "token")?),
            }),
        };
        Ok(NatsUrl {
            server,
            credentials,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_hidden_wherever_the_url_is_printed() {
        let cases = [
            ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
            (
                "nats://alice:s3cr3t@127.0.0.1:4222",
                "nats://alice:***@127.0.0.1:4222",
            ),
            ("nats://t0ken@127.0.0.1:4222", "nats://***@127.0.0.1:4222"),
            ("nats://alice:pa/ss@w:rd@host:1", "nats://alice:***@host:1"),
            ("nats://to/ken@host:1", "nats://***@host:1"),
            ("http://alice:s3cr3t@host:1", "http://alice:***@host:1"),
            ("alice:s3cr3t@host:1", "alice:***@host:1"),
            ("nats://:s3cr3t@host:1", "nats://:***@host:1"),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn a_url_is_taken_apart() {
        let plain = NatsUrl::parse("nats://127.0.0.1:4222").unwrap();
        assert_eq!(plain.server, "nats://127.0.0.1:4222");
        assert_eq!(plain.credentials, None);
        let user = NatsUrl::parse("nats://alice:s3cr%40t%3A@127.0.0.1:4222").unwrap();
        assert_eq!(user.server, "nats://127.0.0.1:4222");
        assert_eq!(
            user.credentials,
            Some(Credentials::UserPassword {
                user: "alice".into(),
                password: "s3cr@t:".into()
            })
        );
        let token = NatsUrl::parse("nats://t0ken@localhost:4222").unwrap();
        assert_eq!(token.credentials, Some(Credentials::Token("t0ken".into())));
        assert_eq!(token.server, "nats://localhost:4222");
        let empty_password = NatsUrl::parse("nats://alice:@h:1").unwrap();
        assert!(matches!(
            empty_password.credentials,
            Some(Credentials::UserPassword { password, .. }) if password.is_empty()
        ));
    }

    #[test]
    fn errors_never_quote_a_secret() {
        for bad in [
            "http://alice:s3cr3t@127.0.0.1:4222",
            "nats://alice:s3cr3t@",
            "nats://alice:s3cr3t@h:1/x",
            "nats://:s3cr3t@h:1",
            "nats://@h:1",
            "nats://alice:s3cr3t%ff@h:1",
            "nats://alice:s3cr3t@h:notaport",
        ] {
            let err = NatsUrl::parse(bad).unwrap_err().to_string();
            assert!(!err.contains("s3cr3t"), "{bad}: {err}");
        }
    }

    #[test]
    fn debug_hides_the_credentials() {
        let url = NatsUrl::parse("nats://alice:s3cr3t@h:1").unwrap();
        assert!(!format!("{url:?}").contains("s3cr3t"));
        let url = NatsUrl::parse("nats://s3cr3t@h:1").unwrap();
        assert!(!format!("{url:?}").contains("s3cr3t"));
    }
}
