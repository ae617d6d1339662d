//! [`Account`]: who is on the other end of an authenticated connection, as the server
//! knows it: the switchboard's [`User`] (its name and its [`Permissions`] on named
//! groups, which the switchboard itself enforces on every join and publish) and whether
//! it administers the server, which is the server's own notion.

use super::pattern::parse_pattern;
use switchboard::identity::{Access, Pattern, Permissions};
use switchboard::User;

/// The longest user name, in bytes.
pub const MAX_USER_NAME: usize = 64;

/// A user name as the server accepts it (a static user's `name`, a JWT's `sub`, the
/// argument of KICK, a client certificate's common name): 1 to [`MAX_USER_NAME`] bytes,
/// without whitespace or control characters, so that it is one word in `AUTHED <user>`
/// and `KICKED <user> <n>` and cannot break a line. Stricter than the switchboard, which
/// takes any name.
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

/// An authenticated user as the server knows it. Holds no credential; cheap to clone
/// (the user is one shared allocation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The switchboard's user: the name AUTHED answers with and KICK names, and the
    /// permissions the switchboard checks on every join and publish (an admin's allow
    /// everything). The connection is authenticated as exactly this value.
    pub user: User,
    /// May BROADCAST, REPLICATE, STATS, CLUSTER_STATS and KICK, and join and publish
    /// anywhere: the one thing the server knows about a user that the switchboard does
    /// not.
    pub admin: bool,
}

impl Account {
    /// The user called `name` with `permissions`, or, for an admin, permission to join
    /// and publish anywhere (an admin's lists are not consulted).
    pub fn new(name: &str, permissions: Permissions, admin: bool) -> Self {
        let permissions = if admin {
            Permissions::all()
        } else {
            permissions
        };
        Account {
            user: User::new(name, permissions),
            admin,
        }
    }

    /// The user's name.
    pub fn name(&self) -> &str {
        self.user.name()
    }
}

/// The lists of group patterns of a user (a `[[users]]` entry, a JWT's claims), as
/// written.
#[derive(Debug, Clone, Copy, Default)]
pub struct PatternLists<'a> {
    /// Groups the user may JOIN.
    pub join: &'a [String],
    /// Groups the user may not JOIN, whatever `join` says.
    pub join_deny: &'a [String],
    /// Groups the user may PUBLISH to.
    pub publish: &'a [String],
    /// Groups the user may not PUBLISH to, whatever `publish` says.
    pub publish_deny: &'a [String],
}

impl PatternLists<'_> {
    /// The permissions these lists describe (deny wins; empty allow lists allow
    /// nothing), or what is wrong with a pattern, naming its list (`join`,
    /// `publish_deny`, ...).
    pub fn permissions(&self) -> Result<Permissions, String> {
        let lists: [(&str, &[String], Access, bool); 4] = [
            ("join", self.join, Access::Join, true),
            ("join_deny", self.join_deny, Access::Join, false),
            ("publish", self.publish, Access::Publish, true),
            ("publish_deny", self.publish_deny, Access::Publish, false),
        ];
        let mut permissions = Permissions::none();
        for (list, texts, access, allow) in lists {
            for pattern in patterns(list, texts)? {
                permissions = match allow {
                    true => permissions.allow(access, pattern),
                    false => permissions.deny(access, pattern),
                };
            }
        }
        Ok(permissions)
    }
}

/// Parses a list of patterns, naming the list in the error (`join`, `publish_deny`, ...).
fn patterns(list: &str, texts: &[String]) -> Result<Vec<Pattern>, String> {
    texts
        .iter()
        .map(|text| parse_pattern(text).map_err(|e| format!("{list}: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|t| (*t).to_owned()).collect()
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
        let (join, join_deny) = (
            strings(&["chat.>", "user.{user}.>"]),
            strings(&["chat.secret"]),
        );
        let (publish, publish_deny) = (strings(&["chat.*"]), strings(&["chat.announce"]));
        let lists = PatternLists {
            join: &join,
            join_deny: &join_deny,
            publish: &publish,
            publish_deny: &publish_deny,
        };
        let alice = Account::new("alice", lists.permissions().unwrap(), false);
        let (join, publish) = (Access::Join, Access::Publish);
        assert!(alice.user.may(join, "chat.eu"));
        assert!(alice.user.may(join, "user.alice.inbox"));
        assert!(!alice.user.may(join, "user.bob.inbox"));
        assert!(!alice.user.may(join, "chat.secret"));
        assert!(!alice.user.may(join, "lobby"));
        assert!(alice.user.may(publish, "chat.eu"));
        assert!(!alice.user.may(publish, "chat.announce"));
        assert!(!alice.user.may(publish, "chat.eu.paris"));
        let none = Account::new("bob", PatternLists::default().permissions().unwrap(), false);
        assert!(!none.user.may(join, "lobby") && !none.user.may(publish, "lobby"));
    }

    #[test]
    fn an_admin_may_join_and_publish_anywhere_whatever_its_lists() {
        let deny = strings(&["secret"]);
        let lists = PatternLists {
            join_deny: &deny,
            publish_deny: &deny,
            ..PatternLists::default()
        };
        let root = Account::new("root", lists.permissions().unwrap(), true);
        assert!(root.user.may(Access::Join, "secret"));
        assert!(root.user.may(Access::Publish, "secret"));
        assert_eq!(root.name(), "root");
    }

    #[test]
    fn a_malformed_pattern_names_its_list() {
        let bad = strings(&["a.>", "a..b"]);
        let lists = PatternLists {
            join_deny: &bad,
            ..PatternLists::default()
        };
        assert_eq!(
            lists.permissions().unwrap_err(),
            "join_deny: empty token in pattern \"a..b\""
        );
    }
}
