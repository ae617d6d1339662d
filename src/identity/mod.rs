//! Who is on the other end of a connection, and what it may do: the server's policy of
//! PROTOCOL.md "Identity and permissions".
//!
//! - [`Authenticator`] turns the token of an AUTH into an [`Account`]: a JWT
//!   ([`jwt`], HS256 under `jwt_secret`) when the token has a JWT's shape and
//!   `jwt_secret` is set, otherwise a static token of the `[[users]]`
//!   ([`static_users`], compared in constant time).
//! - [`policy`] is the one authorization rule every protocol consults before it runs a
//!   command: from what a connection is ([`Session`]) and what the command needs
//!   ([`Needs`](crate::commands::Needs)) to allowed, denied, or authentication required.
//! - [`Account`] is the switchboard's [`User`](switchboard::User) (its name and its
//!   [`Permissions`](switchboard::identity::Permissions) on named groups, patterns parsed
//!   by [`parse_pattern`], deny winning) and whether it is an admin. Which groups a user
//!   may join and publish to is checked by the switchboard itself, with the one matcher
//!   of its patterns; what only the server has, admin commands and the need to
//!   authenticate, is [`policy`]'s.
//!
//! Everything here is pure: no connection, no clock (the time is passed in), no I/O.

pub mod certificate;
pub mod jwt;
mod pattern;
pub mod policy;
pub mod static_users;
mod user;

pub use jwt::{JwtError, JwtVerifier};
pub use pattern::parse_pattern;
pub use policy::{authorize, Decision, Session};
pub use static_users::StaticUsers;
pub use user::{check_user_name, Account, PatternLists, MAX_USER_NAME};

use std::time::SystemTime;

/// Why a token did not authenticate. On the wire every one of them is `unauthorized`;
/// the detail is for the server's log and never quotes the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The token is empty.
    #[error("empty token")]
    Empty,
    /// No static user has this token.
    #[error("unknown token")]
    Unknown,
    /// A JWT that did not verify.
    #[error("JWT refused: {0}")]
    Jwt(#[from] JwtError),
}

/// A connection's user once its token was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The user.
    pub account: Account,
    /// When the token stops being valid (a JWT's `exp`); `None` for a static token.
    pub expires: Option<SystemTime>,
}

/// The server's users: the static ones and, with `jwt_secret`, anyone holding a valid
/// JWT.
#[derive(Debug, Default)]
pub struct Authenticator {
    /// The `[[users]]` of the configuration.
    users: StaticUsers,
    /// Verifies JWTs; `None` without `jwt_secret`.
    jwt: Option<JwtVerifier>,
}

impl Authenticator {
    /// Authenticates against `users` and, if given, JWTs verified by `jwt`.
    pub fn new(users: StaticUsers, jwt: Option<JwtVerifier>) -> Self {
        Authenticator { users, jwt }
    }

    /// The user `token` names at time `now` (which decides whether a JWT has expired
    /// or is not valid yet).
    pub fn authenticate(&self, token: &[u8], now: SystemTime) -> Result<Authenticated, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Empty);
        }
        if let Some(jwt) = self.jwt.as_ref().filter(|_| jwt::looks_like_jwt(token)) {
            let verified = jwt.verify(token, now)?;
            return Ok(Authenticated {
                account: verified.account,
                expires: Some(verified.expires),
            });
        }
        let account = self.users.find(token).ok_or(AuthError::Unknown)?;
        Ok(Authenticated {
            account,
            expires: None,
        })
    }

    /// The static user called `name` (a client certificate's common name), if any.
    pub fn user_by_name(&self, name: &str) -> Option<Account> {
        self.users.by_name(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use std::time::Duration;

    const SECRET: &str = "a secret of thirty-two bytes....";

    fn authenticator(jwt: bool) -> Authenticator {
        let alice = Account::new("alice", switchboard::identity::Permissions::none(), true);
        Authenticator::new(
            StaticUsers::new([(Secret::new("alice-token"), alice)]),
            jwt.then(|| JwtVerifier::new(&Secret::new(SECRET))),
        )
    }

    fn jwt_for(sub: &str, exp: u64) -> String {
        let claims = serde_json::json!({"sub": sub, "exp": exp});
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn static_tokens_and_jwts() {
        let both = authenticator(true);
        let alice = both.authenticate(b"alice-token", at(100)).unwrap();
        assert_eq!((alice.account.name(), alice.expires), ("alice", None));
        let bob = both
            .authenticate(jwt_for("bob", 200).as_bytes(), at(100))
            .unwrap();
        assert_eq!((bob.account.name(), bob.expires), ("bob", Some(at(200))));
        assert_eq!(
            both.authenticate(jwt_for("bob", 200).as_bytes(), at(200)),
            Err(AuthError::Jwt(JwtError::Expired))
        );
        assert_eq!(both.authenticate(b"", at(100)), Err(AuthError::Empty));
        assert_eq!(
            both.authenticate(b"wrong", at(100)),
            Err(AuthError::Unknown)
        );
    }

    #[test]
    fn without_jwt_secret_a_jwt_is_just_an_unknown_static_token() {
        let static_only = authenticator(false);
        assert_eq!(
            static_only.authenticate(jwt_for("bob", 200).as_bytes(), at(100)),
            Err(AuthError::Unknown)
        );
    }

    #[test]
    fn users_by_name_are_the_static_ones() {
        let both = authenticator(true);
        assert!(both.user_by_name("alice").unwrap().admin);
        assert!(both.user_by_name("bob").is_none());
    }
}
