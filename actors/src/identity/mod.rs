//! Who is on the other end of a connection: a [`User`], once the protocol's handler
//! authenticated it with [`Outbox::authenticate`](crate::Outbox::authenticate).
//!
//! How a peer proves who it is (a token, a password, a JSON Web Token, a client
//! certificate) is the application's policy; the library keeps the outcome. From the
//! moment a handler authenticates its connection, the user is known everywhere the
//! connection is: its listings ([`MemberInfo::user`](crate::MemberInfo::user)), its
//! removal ([`ConnectionRemoved::user`](crate::ConnectionRemoved::user)), its log span,
//! the group messages it publishes ([`GroupEncoder::with_publisher`](crate::GroupEncoder::with_publisher)),
//! and the [`Handle`](crate::Handle)'s per-user operations
//! ([`connections_of`](crate::Handle::connections_of),
//! [`send_to_user`](crate::Handle::send_to_user),
//! [`close_user`](crate::Handle::close_user)). The switchboard keeps which connections
//! each user has, and enforces
//! [`max_connections_per_user`](crate::SwitchboardConfig::max_connections_per_user)
//! there, atomically.
//!
//! A user comes with its [`Permissions`] on named groups: [`Pattern`]s with NATS
//! semantics for the groups it may join and publish to, and for those it may not
//! (deny wins). The switchboard checks them on every join and publish, for handlers and
//! for the [`Handle`](crate::Handle) alike, and counts each denial (`denied_total`).

mod index;
mod pattern;
mod permissions;

pub(crate) use index::Users;
pub use pattern::{Pattern, PatternError};
pub use permissions::{Access, Permissions};

use serde::{Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

/// An authenticated user: its name and its permissions on named groups. Cheap to
/// clone (one shared allocation).
#[derive(Clone, PartialEq, Eq)]
pub struct User(Arc<UserInner>);

/// What a [`User`] shares between its clones.
#[derive(PartialEq, Eq)]
struct UserInner {
    /// The name the application knows the user by.
    name: Box<str>,
    /// What it may do with named groups.
    permissions: Permissions,
}

impl User {
    /// The user called `name`, with `permissions` on named groups
    /// ([`Permissions::all`] for one the application does not restrict,
    /// [`Permissions::none`] for one that may join and publish nowhere).
    pub fn new(name: impl Into<Box<str>>, permissions: Permissions) -> Self {
        User(Arc::new(UserInner {
            name: name.into(),
            permissions,
        }))
    }

    /// The user's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// What the user may do with named groups.
    pub fn permissions(&self) -> &Permissions {
        &self.0.permissions
    }

    /// Whether the user may `access` the named group `group` (`{user}` in its patterns
    /// standing for its name).
    pub fn may(&self, access: Access, group: &str) -> bool {
        self.0.permissions.allows(access, group, Some(self.name()))
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("User").field(&self.name()).finish()
    }
}

/// Serialized as its name.
impl Serialize for User {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl fmt::Display for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why [`Outbox::authenticate`](crate::Outbox::authenticate) refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The connection authenticated before: its user does not change.
    #[error("already authenticated")]
    AlreadyAuthenticated,
    /// The user has as many connections as
    /// [`max_connections_per_user`](crate::SwitchboardConfig::max_connections_per_user)
    /// allows: the connection gets the protocol's error reply for this message and is
    /// removed ([`RemovalReason::UserLimit`](crate::RemovalReason::UserLimit)); the
    /// user's other connections stay.
    #[error("too many connections for this user")]
    UserLimit,
}
