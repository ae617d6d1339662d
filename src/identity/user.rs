//! [`User`]: who is on the other end of an authenticated connection, and what it may do
//! with groups ([`Permissions`]).

use super::pattern::Pattern;

/// The longest user name, in bytes.
pub const MAX_USER_NAME: usize = 64;

/// A user name as the server accepts it (a static user's `name`, a JWT's `sub`, the
/// argument of KICK): 1 to [`MAX_USER_NAME`] bytes, without whitespace or control
/// characters, so that it is one word in `AUTHED <user>` and `KICKED <user> <n>` and
/// cannot break a line.
pub fn check_user_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a user name must not be empty".to_owned());
    }
    if name.len() > MAX_USER_NAME {
        return Err(format!(
            "a user name is at most {MAX_USER_NAME} bytes, not {}",
            name.len()
        ));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a user name has no whitespace or control characters".to_owned());
    }
    Ok(())
}

/// Which groups a user may join and publish to: allowed by a pattern of the allow list
/// and by none of the deny list (deny wins). Empty allow lists allow nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    /// Groups the user may JOIN.
    pub join: Vec<Pattern>,
    /// Groups the user may not JOIN, whatever `join` says.
    pub join_deny: Vec<Pattern>,
    /// Groups the user may PUBLISH to.
    pub publish: Vec<Pattern>,
    /// Groups the user may not PUBLISH to, whatever `publish` says.
    pub publish_deny: Vec<Pattern>,
}

impl Permissions {
    /// Whether `user` may join `group`.
    pub fn may_join(&self, group: &str, user: &str) -> bool {
        allowed(&self.join, &self.join_deny, group, user)
    }

    /// Whether `user` may publish to `group`.
    pub fn may_publish(&self, group: &str, user: &str) -> bool {
        allowed(&self.publish, &self.publish_deny, group, user)
    }
}

/// Allowed by one pattern of `allow` and none of `deny`.
fn allowed(allow: &[Pattern], deny: &[Pattern], group: &str, user: &str) -> bool {
    let hit = |p: &Pattern| p.matches(group, user);
    allow.iter().any(hit) && !deny.iter().any(hit)
}

/// An authenticated user: its name and what it may do. Holds no credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The name the server answers AUTHED with, and that KICK names.
    pub name: String,
    /// The groups it may join and publish to (an admin's are not consulted).
    pub permissions: Permissions,
    /// May BROADCAST, REPLICATE, STATS, CLUSTER_STATS and KICK, and join and publish
    /// anywhere.
    pub admin: bool,
}

/// Parses a list of patterns, naming the list in the error (`join`, `publish_deny`, ...).
pub fn patterns(list: &str, texts: &[String]) -> Result<Vec<Pattern>, String> {
    texts
        .iter()
        .map(|text| Pattern::parse(text).map_err(|e| format!("{list} pattern {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(texts: &[&str]) -> Vec<Pattern> {
        texts.iter().map(|t| Pattern::parse(t).unwrap()).collect()
    }

    #[test]
    fn user_names() {
        for good in [
            "a",
            "alice",
            "auth0|1234",
            "a.b@example.com",
            &"x".repeat(64),
        ] {
            assert_eq!(check_user_name(good), Ok(()), "{good:?}");
        }
        for bad in ["", "a b", "a\nb", "a\rb", "tab\t", "\u{0}", &"x".repeat(65)] {
            assert!(check_user_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn deny_wins_and_nothing_is_allowed_by_default() {
        let permissions = Permissions {
            join: list(&["chat.>", "user.{user}.>"]),
            join_deny: list(&["chat.secret"]),
            publish: list(&["chat.*"]),
            publish_deny: list(&["chat.announce"]),
        };
        assert!(permissions.may_join("chat.eu", "alice"));
        assert!(permissions.may_join("user.alice.inbox", "alice"));
        assert!(!permissions.may_join("user.bob.inbox", "alice"));
        assert!(!permissions.may_join("chat.secret", "alice"));
        assert!(!permissions.may_join("lobby", "alice"));
        assert!(permissions.may_publish("chat.eu", "alice"));
        assert!(!permissions.may_publish("chat.announce", "alice"));
        assert!(!permissions.may_publish("chat.eu.paris", "alice"));
        let none = Permissions::default();
        assert!(!none.may_join("lobby", "alice") && !none.may_publish("lobby", "alice"));
    }

    #[test]
    fn a_malformed_pattern_names_its_list() {
        let err = patterns("join_deny", &["a.>".into(), "a..b".into()]).unwrap_err();
        assert_eq!(err, "join_deny pattern \"a..b\" has an empty token");
    }
}
