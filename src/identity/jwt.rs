//! [`JwtVerifier`]: JSON Web Tokens signed with HMAC-SHA256 under `jwt_secret`.
//!
//! Exactly HS256: a token whose header names any other algorithm (`none`, `RS256`,
//! `HS384`, ...) is refused before its signature is looked at, so a token cannot choose
//! how it is checked. The signature is verified by the `jsonwebtoken` crate; the claims
//! are then checked here against a time passed in, never read from the clock, so that
//! every rule is tested deterministically:
//!
//! - `exp` (seconds since the epoch) is required, and the token is valid strictly
//!   before it;
//! - `nbf`, when present, is the first second the token is valid;
//! - `sub`, the user's name, is required and follows [`check_user_name`];
//! - `join` and `publish` are lists of group patterns (default none), and `admin` a
//!   boolean (default false); a malformed pattern refuses the whole token.
//!
//! Errors say which rule refused a token, for a log line; they never quote the token.

use super::user::{check_user_name, Account, PatternLists};
use crate::secret::Secret;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::time::{Duration, SystemTime};

/// Whether `token` has the shape of a JWT: three dot-separated parts of base64url
/// characters. Any other token is a static one.
pub fn looks_like_jwt(token: &[u8]) -> bool {
    let base64url = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
    let mut parts = 0;
    for part in token.split(|b| *b == b'.') {
        if !part.iter().all(base64url) {
            return false;
        }
        parts += 1;
    }
    parts == 3
}

/// Why a JWT was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url parts of JSON (or not UTF-8).
    #[error("malformed token")]
    Malformed,
    /// The header names another algorithm than HS256 (or none at all).
    #[error("algorithm other than HS256")]
    Algorithm,
    /// The signature is not HMAC-SHA256 of the token under `jwt_secret`.
    #[error("bad signature")]
    Signature,
    /// The claims are not what a token must carry (the reason says which).
    #[error("bad claims: {0}")]
    Claims(String),
    /// `exp` has passed.
    #[error("expired")]
    Expired,
    /// `nbf` has not come yet.
    #[error("not valid yet")]
    NotYetValid,
}

/// The claims the server reads; any other claim is ignored.
#[derive(Debug, Deserialize)]
struct Claims {
    /// The user's name.
    sub: Option<String>,
    /// When the token expires, in seconds since the epoch.
    exp: Option<u64>,
    /// When the token becomes valid, in seconds since the epoch.
    nbf: Option<u64>,
    /// Patterns of the groups the user may join.
    #[serde(default)]
    join: Vec<String>,
    /// Patterns of the groups the user may publish to.
    #[serde(default)]
    publish: Vec<String>,
    /// Whether the user is an admin.
    #[serde(default)]
    admin: bool,
}

/// A token that passed: its user, and when the token expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The user named by `sub`, with the token's permissions.
    pub account: Account,
    /// `exp`: from then on the connection must be removed as `token_expired`.
    pub expires: SystemTime,
}

/// Verifies JWTs under one secret.
pub struct JwtVerifier {
    /// The HMAC key: `jwt_secret`.
    key: DecodingKey,
    /// HS256 only; the time claims are checked by [`JwtVerifier::verify`] itself.
    validation: Validation,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtVerifier(HS256, [redacted])")
    }
}

/// `seconds` since the epoch as a time.
fn epoch_seconds(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(seconds))
        .unwrap_or_else(|| SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX)))
}

impl JwtVerifier {
    /// A verifier of tokens signed with `secret`.
    pub fn new(secret: &Secret) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Time is checked against the `now` given to `verify`, not the clock.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        JwtVerifier {
            key: DecodingKey::from_secret(secret.expose()),
            validation,
        }
    }

    /// The user `token` names, if it is a valid HS256 JWT at time `now`.
    pub fn verify(&self, token: &[u8], now: SystemTime) -> Result<Verified, JwtError> {
        let token = std::str::from_utf8(token).map_err(|_| JwtError::Malformed)?;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => JwtError::Algorithm,
                ErrorKind::InvalidSignature => JwtError::Signature,
                ErrorKind::Json(e) if e.is_data() => JwtError::Claims("wrong types".to_owned()),
                _ => JwtError::Malformed,
            })?
            .claims;
        let exp = claims
            .exp
            .ok_or_else(|| JwtError::Claims("no exp".to_owned()))?;
        let expires = epoch_seconds(exp);
        if now >= expires {
            return Err(JwtError::Expired);
        }
        if claims.nbf.is_some_and(|nbf| now < epoch_seconds(nbf)) {
            return Err(JwtError::NotYetValid);
        }
        let name = claims
            .sub
            .ok_or_else(|| JwtError::Claims("no sub".to_owned()))?;
        check_user_name(&name).map_err(|e| JwtError::Claims(format!("sub: {e}")))?;
        let lists = PatternLists {
            join: &claims.join,
            publish: &claims.publish,
            ..PatternLists::default()
        };
        let permissions = lists.permissions().map_err(JwtError::Claims)?;
        Ok(Verified {
            account: Account::new(&name, permissions, claims.admin),
            expires,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::{json, Value};
    use switchboard::identity::{Access, Permissions};

    const SECRET: &str = "a secret of thirty-two bytes....";
    /// The time of every test: 2023-11-14T22:13:20Z.
    const NOW: u64 = 1_700_000_000;

    fn now() -> SystemTime {
        epoch_seconds(NOW)
    }

    fn verifier() -> JwtVerifier {
        JwtVerifier::new(&Secret::new(SECRET))
    }

    /// `claims` signed with `algorithm` under `secret`.
    fn signed(algorithm: Algorithm, secret: &str, claims: &Value) -> String {
        encode(
            &Header::new(algorithm),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    /// `claims` signed with HS256 under the test's secret.
    fn token(claims: Value) -> String {
        signed(Algorithm::HS256, SECRET, &claims)
    }

    fn b64(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A token with `header` as it is, signed with HMAC-SHA256 under the test's secret:
    /// what an attacker who knows a header trick would send.
    fn with_header(header: &Value, claims: &Value) -> String {
        let message = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
        let tag = ring::hmac::sign(&key, message.as_bytes());
        format!("{message}.{}", b64(tag.as_ref()))
    }

    fn valid_claims() -> Value {
        json!({"sub": "alice", "exp": NOW + 60})
    }

    #[test]
    fn a_valid_token_names_its_user_with_its_claims() {
        let claims = json!({
            "sub": "alice", "exp": NOW + 60, "nbf": NOW - 60, "iat": NOW - 60,
            "join": ["chat.>", "user.{user}.>"], "publish": ["chat.*"], "admin": true,
        });
        let verified = verifier().verify(token(claims).as_bytes(), now()).unwrap();
        assert_eq!(verified.account.name(), "alice");
        assert!(verified.account.admin);
        assert_eq!(verified.expires, epoch_seconds(NOW + 60));
        let claims = json!({
            "sub": "alice", "exp": NOW + 60,
            "join": ["chat.>", "user.{user}.>"], "publish": ["chat.*"],
        });
        let user = verifier()
            .verify(token(claims).as_bytes(), now())
            .unwrap()
            .account
            .user;
        assert!(user.may(Access::Join, "user.alice.inbox"));
        assert!(!user.may(Access::Join, "user.bob.inbox"));
        assert!(user.may(Access::Publish, "chat.eu"));
        assert!(!user.may(Access::Publish, "chat.eu.paris"));
    }

    #[test]
    fn claims_default_to_no_permissions_and_no_admin() {
        let verified = verifier()
            .verify(token(valid_claims()).as_bytes(), now())
            .unwrap();
        assert_eq!(verified.account.user.permissions(), &Permissions::none());
        assert!(!verified.account.admin);
    }

    #[test]
    fn alg_none_is_refused() {
        let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
        let body = b64(valid_claims().to_string().as_bytes());
        let unsigned = format!("{header}.{body}.");
        assert!(looks_like_jwt(unsigned.as_bytes()));
        assert!(verifier().verify(unsigned.as_bytes(), now()).is_err());
        // Even with an HS256 signature attached.
        let signed = with_header(&json!({"alg": "none"}), &valid_claims());
        assert!(verifier().verify(signed.as_bytes(), now()).is_err());
    }

    #[test]
    fn another_algorithm_is_refused_even_with_a_good_hmac() {
        // The key confusion attack: an RS256 header over an HMAC made with the secret.
        let rs256 = with_header(&json!({"alg": "RS256", "typ": "JWT"}), &valid_claims());
        assert_eq!(
            verifier().verify(rs256.as_bytes(), now()),
            Err(JwtError::Algorithm)
        );
        // Other HMACs under the right secret: still not HS256.
        for algorithm in [Algorithm::HS384, Algorithm::HS512] {
            let other = signed(algorithm, SECRET, &valid_claims());
            assert_eq!(
                verifier().verify(other.as_bytes(), now()),
                Err(JwtError::Algorithm),
                "{algorithm:?}"
            );
        }
        // The same header trick with HS256 named is accepted: the test signs correctly.
        let hs256 = with_header(&json!({"alg": "HS256"}), &valid_claims());
        assert!(verifier().verify(hs256.as_bytes(), now()).is_ok());
    }

    #[test]
    fn a_bad_signature_is_refused() {
        let good = token(valid_claims());
        let (message, signature) = good.rsplit_once('.').unwrap();
        let mut flipped = signature.as_bytes().to_vec();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let bad = format!("{message}.{}", String::from_utf8(flipped).unwrap());
        assert_eq!(
            verifier().verify(bad.as_bytes(), now()),
            Err(JwtError::Signature)
        );
        // Claims changed after signing.
        let (header, _) = message.split_once('.').unwrap();
        let forged_claims = json!({"sub": "alice", "exp": NOW + 60, "admin": true});
        let forged = format!(
            "{header}.{}.{signature}",
            b64(forged_claims.to_string().as_bytes())
        );
        assert_eq!(
            verifier().verify(forged.as_bytes(), now()),
            Err(JwtError::Signature)
        );
    }

    #[test]
    fn another_secret_is_refused() {
        let other = signed(
            Algorithm::HS256,
            "another secret of 32 bytes......",
            &valid_claims(),
        );
        assert_eq!(
            verifier().verify(other.as_bytes(), now()),
            Err(JwtError::Signature)
        );
    }

    #[test]
    fn expiry_and_not_before_are_checked_against_the_time_given() {
        let verify =
            |claims: Value, at: u64| verifier().verify(token(claims).as_bytes(), epoch_seconds(at));
        let exp = json!({"sub": "alice", "exp": NOW});
        assert!(verify(exp.clone(), NOW - 1).is_ok());
        assert_eq!(verify(exp.clone(), NOW), Err(JwtError::Expired));
        assert_eq!(verify(exp, NOW + 3600), Err(JwtError::Expired));
        let nbf = json!({"sub": "alice", "exp": NOW + 60, "nbf": NOW + 10});
        assert_eq!(verify(nbf.clone(), NOW), Err(JwtError::NotYetValid));
        assert_eq!(verify(nbf.clone(), NOW + 9), Err(JwtError::NotYetValid));
        assert!(verify(nbf, NOW + 10).is_ok());
        // exp is required.
        assert_eq!(
            verify(json!({"sub": "alice"}), NOW),
            Err(JwtError::Claims("no exp".to_owned()))
        );
        assert!(verify(json!({"sub": "alice", "exp": "never"}), NOW).is_err());
    }

    #[test]
    fn sub_is_required_and_1_to_64_bytes() {
        let verify = |claims: Value| verifier().verify(token(claims).as_bytes(), now());
        assert_eq!(
            verify(json!({"exp": NOW + 60})),
            Err(JwtError::Claims("no sub".to_owned()))
        );
        assert!(matches!(
            verify(json!({"sub": "", "exp": NOW + 60})),
            Err(JwtError::Claims(_))
        ));
        let sixty_four = "x".repeat(64);
        assert_eq!(
            verify(json!({"sub": sixty_four, "exp": NOW + 60}))
                .unwrap()
                .account
                .name(),
            sixty_four
        );
        assert!(matches!(
            verify(json!({"sub": "x".repeat(65), "exp": NOW + 60})),
            Err(JwtError::Claims(_))
        ));
        assert!(matches!(
            verify(json!({"sub": "a\nBCAST x", "exp": NOW + 60})),
            Err(JwtError::Claims(_))
        ));
        assert!(verify(json!({"sub": 7, "exp": NOW + 60})).is_err());
    }

    #[test]
    fn a_malformed_pattern_refuses_the_token() {
        let claims = json!({"sub": "alice", "exp": NOW + 60, "join": ["a..b"]});
        assert!(matches!(
            verifier().verify(token(claims).as_bytes(), now()),
            Err(JwtError::Claims(_))
        ));
    }

    #[test]
    fn garbage_is_refused() {
        for garbage in [
            &b""[..],
            b"a.b.c",
            b"....",
            b"not a token",
            b"\xff\xfe.\x00.x",
            b"eyJhbGciOiJIUzI1NiJ9.e30",
            b"eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln",
        ] {
            assert!(
                verifier().verify(garbage, now()).is_err(),
                "{}",
                garbage.escape_ascii()
            );
        }
    }

    #[test]
    fn the_shape_of_a_jwt() {
        assert!(looks_like_jwt(token(valid_claims()).as_bytes()));
        assert!(looks_like_jwt(b"a.b.c"));
        assert!(looks_like_jwt(b"a.b."));
        for other in [
            &b"abc"[..],
            b"a.b",
            b"a.b.c.d",
            b"a.b.c=",
            b"a b.c.d",
            b"a+b.c.d",
            b"",
        ] {
            assert!(!looks_like_jwt(other), "{}", other.escape_ascii());
        }
    }

    #[test]
    fn no_error_quotes_the_token() {
        let secret_looking = token(json!({"sub": "x".repeat(65), "exp": NOW + 60}));
        let err = verifier()
            .verify(secret_looking.as_bytes(), now())
            .unwrap_err();
        assert!(!err.to_string().contains(&secret_looking));
        assert!(!format!("{:?}", verifier()).contains(SECRET));
    }
}
