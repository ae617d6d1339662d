//! [`StaticUsers`]: the `[[users]]` of the configuration, found by token in constant time.
//!
//! A token is looked up without revealing, through timing, which user it belongs to or
//! how much of a token was right: each configured token is kept as its SHA-256 digest,
//! the token presented is digested once, and that digest is compared with every user's
//! digest in constant time, without stopping at a match or a mismatch. Comparing
//! digests, all 32 bytes long, also hides the tokens' lengths.

use super::user::Account;
use crate::secret::Secret;
use ring::digest::{digest, SHA256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// A SHA-256 digest.
type Digest = [u8; 32];

/// The static users, each with the digest of its token.
#[derive(Debug, Default)]
pub struct StaticUsers {
    /// Every user with the digest of its token, in the order of the configuration.
    users: Vec<(Digest, Account)>,
}

/// The SHA-256 digest of `bytes`.
fn sha256(bytes: &[u8]) -> Digest {
    let mut out = [0; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

impl StaticUsers {
    /// The users, each with its token. Tokens are expected distinct (the configuration
    /// refuses two users with one token); if two were equal, the first user would win.
    pub fn new(users: impl IntoIterator<Item = (Secret, Account)>) -> Self {
        StaticUsers {
            users: users
                .into_iter()
                .map(|(token, account)| (sha256(token.expose()), account))
                .collect(),
        }
    }

    /// The user whose token is `token`, if any, in time independent of which user that
    /// is and of how close a wrong token came.
    pub fn find(&self, token: &[u8]) -> Option<Account> {
        let presented = sha256(token);
        let mut found = u64::MAX;
        // Every digest is compared, in full, and the index of a match is selected
        // without a branch; the order of the users does not change the time taken.
        for (index, (digest, _)) in self.users.iter().enumerate().rev() {
            let hit = digest.ct_eq(&presented);
            found.conditional_assign(&(index as u64), hit);
        }
        let index = usize::try_from(found).ok()?;
        self.users.get(index).map(|(_, account)| account.clone())
    }

    /// The user called `name`, if any (for a client certificate's common name).
    pub fn by_name(&self, name: &str) -> Option<Account> {
        self.users
            .iter()
            .find(|(_, account)| account.name() == name)
            .map(|(_, account)| account.clone())
    }

    /// Whether there are no static users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard::identity::Permissions;

    fn user(name: &str) -> Account {
        Account::new(name, Permissions::none(), false)
    }

    fn table() -> StaticUsers {
        StaticUsers::new([
            (Secret::new("alice-token"), user("alice")),
            (Secret::new("bob-token"), user("bob")),
            (Secret::new("b"), user("carol")),
        ])
    }

    #[test]
    fn each_token_finds_its_user() {
        let users = table();
        let name = |token: &[u8]| users.find(token).map(|u| u.name().to_owned());
        assert_eq!(name(b"alice-token").as_deref(), Some("alice"));
        assert_eq!(name(b"bob-token").as_deref(), Some("bob"));
        assert_eq!(name(b"b").as_deref(), Some("carol"));
    }

    #[test]
    fn near_misses_find_nobody() {
        let users = table();
        for token in [
            &b""[..],
            b"alice-toke",
            b"alice-token ",
            b"Alice-token",
            b"bob",
            b"bob-token\n",
            b"\xffbob-token",
        ] {
            assert!(users.find(token).is_none(), "{token:?}");
        }
        assert!(StaticUsers::default().find(b"anything").is_none());
    }

    #[test]
    fn equal_tokens_find_the_first_user() {
        let users = StaticUsers::new([
            (Secret::new("same"), user("first")),
            (Secret::new("same"), user("second")),
        ]);
        assert_eq!(users.find(b"same").unwrap().name(), "first");
    }

    #[test]
    fn by_name() {
        assert_eq!(table().by_name("bob").unwrap().name(), "bob");
        assert!(table().by_name("dave").is_none());
    }
}
