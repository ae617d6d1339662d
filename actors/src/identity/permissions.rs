//! What a user may do with named groups: join them and publish to them, each an allow
//! list and a deny list of [`Pattern`]s, where deny wins (NATS's rule).
//!
//! A user's permissions come with its authentication ([`User::new`](super::User::new)).
//! The switchboard checks them itself wherever a connection joins or publishes, for its
//! handler ([`Outbox::try_join`](crate::Outbox::try_join),
//! [`Outbox::try_publish`](crate::Outbox::try_publish)) and for the
//! [`Handle`](crate::Handle) alike, and counts every denial.

use super::pattern::Tokens;
use super::Pattern;
use std::fmt;

/// What a connection asks of a named group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Join it: receive what is published there.
    Join,
    /// Publish to it.
    Publish,
}

impl Access {
    /// `join` or `publish`.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Join => "join",
            Access::Publish => "publish",
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An allow list and a deny list for one kind of access.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Rules {
    /// A group must match one of these...
    allow: Vec<Pattern>,
    /// ...and none of these.
    deny: Vec<Pattern>,
}

impl Rules {
    fn allows(&self, group: &str, user: Option<&str>) -> bool {
        Tokens::split(group, |names| {
            self.allow.iter().any(|p| p.matches_tokens(names, user))
                && !self.deny.iter().any(|p| p.matches_tokens(names, user))
        })
    }
}

/// A user's permissions on named groups: for joining and for publishing, the groups
/// allowed (a group must match one of them) and the groups denied (a group matching
/// one of them is refused, whatever allows it). [`Permissions::none`] (the default)
/// allows nothing; [`Permissions::all`] everything.
///
/// ```
/// use switchboard::identity::{Access, Pattern, Permissions};
///
/// let p = |text: &str| Pattern::parse(text).unwrap();
/// let permissions = Permissions::none()
///     .allow(Access::Join, p("chat.>"))
///     .deny(Access::Join, p("chat.admins"))
///     .allow(Access::Publish, p("chat.*"))
///     .allow(Access::Join, p("user.{user}.>"));
/// assert!(permissions.allows(Access::Join, "chat.eu.paris", Some("alice")));
/// assert!(!permissions.allows(Access::Join, "chat.admins", Some("alice")));
/// assert!(!permissions.allows(Access::Publish, "chat.eu.paris", Some("alice")));
/// assert!(permissions.allows(Access::Join, "user.alice.inbox", Some("alice")));
/// assert!(!permissions.allows(Access::Join, "user.bob.inbox", Some("alice")));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    /// Who may join what.
    join: Rules,
    /// Who may publish where.
    publish: Rules,
    /// Everything is allowed: no pattern is matched at all.
    everything: bool,
}

impl Permissions {
    /// No join and no publish allowed.
    pub fn none() -> Self {
        Permissions::default()
    }

    /// Every join and every publish allowed (an administrator's).
    pub fn all() -> Self {
        Permissions {
            everything: true,
            ..Permissions::default()
        }
    }

    fn rules(&mut self, access: Access) -> &mut Rules {
        match access {
            Access::Join => &mut self.join,
            Access::Publish => &mut self.publish,
        }
    }

    /// These permissions, with groups matching `pattern` allowed for `access` (unless
    /// a deny pattern matches them too).
    #[must_use]
    pub fn allow(mut self, access: Access, pattern: Pattern) -> Self {
        self.rules(access).allow.push(pattern);
        self
    }

    /// These permissions, with groups matching `pattern` refused for `access`, whatever
    /// allows them (on [`Permissions::all`] too).
    #[must_use]
    pub fn deny(mut self, access: Access, pattern: Pattern) -> Self {
        if self.everything {
            // Everything but what is denied from now on.
            self.everything = false;
            for access in [Access::Join, Access::Publish] {
                let anything = Pattern::parse(">").expect("a pattern");
                self.rules(access).allow.push(anything);
            }
        }
        self.rules(access).deny.push(pattern);
        self
    }

    /// Whether `access` to `group` is allowed, with `{user}` standing for `user`.
    pub fn allows(&self, access: Access, group: &str, user: Option<&str>) -> bool {
        if self.everything {
            return true;
        }
        match access {
            Access::Join => self.join.allows(group, user),
            Access::Publish => self.publish.allows(group, user),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(text: &str) -> Pattern {
        Pattern::parse(text).unwrap()
    }

    #[test]
    fn none_allows_nothing_and_all_everything_but_what_it_denies() {
        assert!(!Permissions::none().allows(Access::Join, "lobby", None));
        assert!(Permissions::all().allows(Access::Publish, "a.b.c", Some("x")));
        let all_but = Permissions::all().deny(Access::Publish, p("secret.>"));
        assert!(all_but.allows(Access::Join, "secret.room", None));
        assert!(!all_but.allows(Access::Publish, "secret.room", None));
        assert!(all_but.allows(Access::Publish, "lobby", None));
    }

    #[test]
    fn join_and_publish_are_separate() {
        let only_join = Permissions::none().allow(Access::Join, p("lobby"));
        assert!(only_join.allows(Access::Join, "lobby", None));
        assert!(!only_join.allows(Access::Publish, "lobby", None));
    }

    /// A pattern over a small alphabet of tokens, so that random patterns often match
    /// random groups.
    fn pattern() -> impl Strategy<Value = Pattern> {
        let token = prop::sample::select(vec!["a", "b", "*", "{user}"]);
        (prop::collection::vec(token, 1..4), any::<bool>()).prop_map(|(tokens, rest)| {
            let mut text = tokens.join(".");
            if rest {
                text.push_str(".>");
            }
            p(&text)
        })
    }

    fn group() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(vec!["a", "b", "u"]), 1..6)
            .prop_map(|t| t.join("."))
    }

    proptest! {
        #[test]
        fn deny_always_wins(
            allow in prop::collection::vec(pattern(), 0..4),
            deny in prop::collection::vec(pattern(), 1..4),
            group in group(),
            everything in any::<bool>(),
        ) {
            let mut permissions = match everything {
                true => Permissions::all(),
                false => Permissions::none(),
            };
            for pattern in allow.iter().cloned() {
                permissions = permissions.allow(Access::Join, pattern);
            }
            for pattern in deny.iter().cloned() {
                permissions = permissions.deny(Access::Join, pattern);
            }
            let denied = deny.iter().any(|p| p.matches(&group, Some("u")));
            let allowed = everything || allow.iter().any(|p| p.matches(&group, Some("u")));
            prop_assert_eq!(
                permissions.allows(Access::Join, &group, Some("u")),
                allowed && !denied
            );
            if denied {
                prop_assert!(!permissions.allows(Access::Join, &group, Some("u")));
            }
        }
    }
}
