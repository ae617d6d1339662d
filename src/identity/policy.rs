//! [`authorize`]: the one rule deciding whether a connection may run a command, for
//! every protocol and transport.
//!
//! It answers from two things only: what the connection is ([`Session`]: anonymous on a
//! server without identity, not authenticated yet, or a user) and what the command needs
//! ([`Needs`], from [`Command::needs`](crate::commands::Command::needs)):
//!
//! | session \ needs      | nothing | identity | join / publish `g`      | admin `c`         |
//! |----------------------|---------|----------|--------------------------|-------------------|
//! | anonymous            | allow   | allow    | allow                    | allow (not `kick`) |
//! | not authenticated    | allow   | authentication required | authentication required | authentication required |
//! | user                 | allow   | allow    | by its patterns (deny wins) | denied          |
//! | admin user           | allow   | allow    | allow                    | allow             |
//!
//! On a server without identity nobody has a user name, so nobody is an admin either:
//! KICK, the one command that acts on users, is denied to everyone there.

use super::user::Account;
use crate::commands::Needs;
use switchboard::identity::Access;

/// What a connection is, as far as permissions go.
///
/// The user itself is the switchboard's: a connection becomes [`Session::User`] only
/// once [`Outbox::authenticate`](switchboard::Outbox::authenticate) took the account's
/// user, so the two cannot disagree, and the switchboard enforces the user's group
/// permissions on every join and publish with the same patterns this module reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Session {
    /// The server has no `users` and no `jwt_secret`: everything but KICK is allowed.
    Anonymous,
    /// The server has identity and this connection has not authenticated (yet): only
    /// AUTH, PING and PONG are allowed.
    Unauthenticated,
    /// The connection authenticated as this account.
    User(Account),
}

impl Session {
    /// How a new connection starts: [`Session::Unauthenticated`] on a server with
    /// identity, [`Session::Anonymous`] otherwise.
    pub fn new(identity: bool) -> Self {
        if identity {
            Session::Unauthenticated
        } else {
            Session::Anonymous
        }
    }

    /// The account, once authenticated.
    pub fn account(&self) -> Option<&Account> {
        match self {
            Session::User(account) => Some(account),
            Session::Anonymous | Session::Unauthenticated => None,
        }
    }
}

/// The verdict on one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run it.
    Allow,
    /// The connection must authenticate first: it is answered `authentication
    /// required` and removed as `unauthorized`.
    AuthenticationRequired,
    /// Not for this user: answered `permission denied: <what>`, counted as a denial,
    /// never as an error packet; the connection stays. `what` is `join <name>`,
    /// `publish <name>` or the admin command's name.
    Denied(String),
}

impl Decision {
    /// The text of the error packet that answers this decision, if it refuses.
    pub fn refusal(&self) -> Option<String> {
        match self {
            Decision::Allow => None,
            Decision::AuthenticationRequired => Some("authentication required".to_owned()),
            Decision::Denied(what) => Some(format!("permission denied: {what}")),
        }
    }
}

/// The admin command that only exists with identity: it acts on users.
const KICK: &str = "kick";

/// Whether a connection that is `session` may do what `needs` names.
#[inline]
pub fn authorize(session: &Session, needs: Needs<'_>) -> Decision {
    match (session, needs) {
        (_, Needs::Nothing) => Decision::Allow,
        (Session::Anonymous, Needs::Admin(KICK)) => Decision::Denied(KICK.to_owned()),
        (Session::Anonymous, _) => Decision::Allow,
        (Session::Unauthenticated, _) => Decision::AuthenticationRequired,
        (Session::User(_), Needs::Identity) => Decision::Allow,
        (Session::User(account), Needs::Admin(command)) => {
            allow_if(account.admin, || command.to_owned())
        }
        // The user's own patterns (an admin's allow everything), as the switchboard
        // checks them again when the join or publish is carried out.
        (Session::User(account), Needs::Join(group)) => {
            allow_if(account.user.may(Access::Join, group.as_str()), || {
                format!("join {}", group.as_str())
            })
        }
        (Session::User(account), Needs::Publish(group)) => {
            allow_if(account.user.may(Access::Publish, group.as_str()), || {
                format!("publish {}", group.as_str())
            })
        }
    }
}

/// [`Decision::Allow`] if `allowed`, else denied with `what`.
fn allow_if(allowed: bool, what: impl FnOnce() -> String) -> Decision {
    if allowed {
        Decision::Allow
    } else {
        Decision::Denied(what())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::PatternLists;
    use switchboard::GroupName;

    fn user(name: &str, admin: bool) -> Session {
        let list =
            |texts: &[&str]| -> Vec<String> { texts.iter().map(|t| (*t).to_owned()).collect() };
        let (join, join_deny) = (list(&["chat.>", "user.{user}.>"]), list(&["chat.secret"]));
        let (publish, publish_deny) = (list(&["chat.*"]), list(&["chat.announce"]));
        let lists = PatternLists {
            join: &join,
            join_deny: &join_deny,
            publish: &publish,
            publish_deny: &publish_deny,
        };
        Session::User(Account::new(name, lists.permissions().unwrap(), admin))
    }

    #[test]
    fn the_table() {
        let chat = GroupName::from("chat.eu");
        let secret = GroupName::from("chat.secret");
        let own = GroupName::from("user.alice.inbox");
        let other = GroupName::from("user.bob.inbox");
        let announce = GroupName::from("chat.announce");
        let deep = GroupName::from("chat.eu.paris");
        let alice = user("alice", false);
        let admin = user("root", true);
        let allow = Decision::Allow;
        let required = Decision::AuthenticationRequired;
        let denied = |what: &str| Decision::Denied(what.to_owned());
        let cases: Vec<(&Session, Needs, Decision)> = vec![
            // Anonymous: everything as before identity existed, but KICK.
            (&Session::Anonymous, Needs::Nothing, allow.clone()),
            (&Session::Anonymous, Needs::Identity, allow.clone()),
            (&Session::Anonymous, Needs::Join(&secret), allow.clone()),
            (&Session::Anonymous, Needs::Publish(&secret), allow.clone()),
            (
                &Session::Anonymous,
                Needs::Admin("broadcast"),
                allow.clone(),
            ),
            (
                &Session::Anonymous,
                Needs::Admin("replicate"),
                allow.clone(),
            ),
            (&Session::Anonymous, Needs::Admin("stats"), allow.clone()),
            (&Session::Anonymous, Needs::Admin("cstats"), allow.clone()),
            (&Session::Anonymous, Needs::Admin("kick"), denied("kick")),
            // Not authenticated: AUTH, PING and PONG only.
            (&Session::Unauthenticated, Needs::Nothing, allow.clone()),
            (&Session::Unauthenticated, Needs::Identity, required.clone()),
            (
                &Session::Unauthenticated,
                Needs::Join(&chat),
                required.clone(),
            ),
            (
                &Session::Unauthenticated,
                Needs::Publish(&chat),
                required.clone(),
            ),
            (
                &Session::Unauthenticated,
                Needs::Admin("stats"),
                required.clone(),
            ),
            (
                &Session::Unauthenticated,
                Needs::Admin("kick"),
                required.clone(),
            ),
            // A user: its patterns, deny wins, no admin command.
            (&alice, Needs::Nothing, allow.clone()),
            (&alice, Needs::Identity, allow.clone()),
            (&alice, Needs::Join(&chat), allow.clone()),
            (&alice, Needs::Join(&deep), allow.clone()),
            (&alice, Needs::Join(&own), allow.clone()),
            (&alice, Needs::Join(&other), denied("join user.bob.inbox")),
            (&alice, Needs::Join(&secret), denied("join chat.secret")),
            (&alice, Needs::Publish(&chat), allow.clone()),
            (
                &alice,
                Needs::Publish(&deep),
                denied("publish chat.eu.paris"),
            ),
            (
                &alice,
                Needs::Publish(&announce),
                denied("publish chat.announce"),
            ),
            (&alice, Needs::Admin("broadcast"), denied("broadcast")),
            (&alice, Needs::Admin("replicate"), denied("replicate")),
            (&alice, Needs::Admin("stats"), denied("stats")),
            (&alice, Needs::Admin("cstats"), denied("cstats")),
            (&alice, Needs::Admin("kick"), denied("kick")),
            // An admin: everything, whatever its patterns.
            (&admin, Needs::Join(&secret), allow.clone()),
            (&admin, Needs::Join(&other), allow.clone()),
            (&admin, Needs::Publish(&announce), allow.clone()),
            (&admin, Needs::Admin("broadcast"), allow.clone()),
            (&admin, Needs::Admin("kick"), allow.clone()),
        ];
        for (session, needs, decision) in cases {
            assert_eq!(authorize(session, needs), decision, "{session:?} {needs:?}");
        }
    }

    #[test]
    fn refusals_are_the_protocol_texts() {
        assert_eq!(Decision::Allow.refusal(), None);
        assert_eq!(
            Decision::AuthenticationRequired.refusal().as_deref(),
            Some("authentication required")
        );
        assert_eq!(
            Decision::Denied("join lobby".to_owned())
                .refusal()
                .as_deref(),
            Some("permission denied: join lobby")
        );
    }

    #[test]
    fn sessions_start_by_whether_the_server_has_identity() {
        assert_eq!(Session::new(false), Session::Anonymous);
        assert_eq!(Session::new(true), Session::Unauthenticated);
        assert!(Session::new(true).account().is_none());
        assert_eq!(user("alice", false).account().unwrap().name(), "alice");
    }
}
