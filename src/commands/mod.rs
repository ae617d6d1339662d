//! The server's commands, one set for both protocols: parsed first, applied second.
//!
//! A request is first parsed into a [`Command`] ([`Command::from_frame`],
//! [`Command::from_line`]), which checks everything that can be checked without the
//! connection: that the command exists, that its arguments are well formed, that a group
//! name follows the rule of [`group`]. A request that is not a command yields the reason
//! of its error packet instead. Then [`dispatch`] carries the command out with
//! [`Command::apply`], the same code whatever the protocol; what differs between the
//! protocols, how a PONG, a JOINED or a JSON answer is written, is each one's
//! [`Replies`]. [`Command::needs`] names what a command asks to be allowed to do: the
//! question a permission check answers between the two steps, in [`dispatch`].

mod apply;
mod from_frame;
mod from_line;
pub mod group;
pub mod join;
mod replies;
mod user;

pub use apply::{dispatch, heartbeat};
pub use from_frame::split_publish;
pub use from_line::{truncate, MAX_QUOTED};
pub use replies::Replies;
pub use user::user_name;

use crate::backends::Backends;
use crate::cluster_stats::ClusterStats;
use crate::identity::Authenticator;
use crate::secret::Secret;
use bytes::Bytes;
use group::DEFAULT_MAX_GROUPS;
use std::sync::Arc;
use switchboard::GroupName;

/// One command of the server, parsed from a request of either protocol.
///
/// ECHO and BROADCAST carry nothing: what they send is the request itself, byte for
/// byte, which [`dispatch`] is given alongside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// ECHO: the request goes back to its sender as it came.
    Echo,
    /// BROADCAST (`BCAST`): the request goes, as it came, to every connection of the
    /// sender's protocol, the sender included.
    Broadcast,
    /// PING: answered with a PONG carrying this payload (a line PING has none).
    Ping(Bytes),
    /// PONG: the answer to the server's heartbeat; receiving it was the point.
    Pong,
    /// STATS: answered with the stats snapshot as JSON.
    Stats,
    /// CLUSTER_STATS (`CSTATS`): answered with every node's snapshot as JSON.
    ClusterStats,
    /// REPLICATE (`frame` only): this payload to every backend, answered with who acked.
    Replicate(Bytes),
    /// JOIN: the connection joins the group (a member already: nothing changes) and is
    /// answered JOINED.
    Join(GroupName),
    /// A recovery JOIN (`JOIN <name> <epoch> <offset>`) of a history group: the
    /// connection joins from that position and is answered JOINED with RECOVERED and
    /// the missed messages, or LOST; a member already is answered like a plain JOIN.
    JoinFrom {
        /// The group.
        group: GroupName,
        /// Where the connection left off.
        from: switchboard::history::Position,
    },
    /// LEAVE: the connection leaves the group (member or not) and is answered LEFT.
    Leave(GroupName),
    /// PUBLISH (`PUB`): the message to every member of the group; no answer.
    Publish {
        /// The group published to.
        group: GroupName,
        /// The message, as each member's protocol will encode it.
        message: Bytes,
    },
    /// AUTH: authenticate with this token (a static user's, or a JWT); answered AUTHED
    /// with the user's name.
    Auth(Secret),
    /// KICK: remove every connection of this user; answered KICKED with how many.
    Kick(String),
}

/// What running a command asks to be allowed to do: the one question a permission check
/// answers before [`Command::apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs<'a> {
    /// Nothing: a connection may always do it (AUTH, PING, PONG).
    Nothing,
    /// An identified connection, where the server identifies them; nothing more (ECHO,
    /// LEAVE).
    Identity,
    /// To join this group (JOIN).
    Join(&'a GroupName),
    /// To publish to this group (PUBLISH).
    Publish(&'a GroupName),
    /// To administer the server; the command's name in lower case (`broadcast`,
    /// `replicate`, `stats`, `cstats`, `kick`), for a refusal to quote.
    Admin(&'static str),
}

impl Command {
    /// What running this command asks to be allowed to do.
    pub fn needs(&self) -> Needs<'_> {
        match self {
            Command::Ping(_) | Command::Pong | Command::Auth(_) => Needs::Nothing,
            Command::Echo | Command::Leave(_) => Needs::Identity,
            Command::Join(group) | Command::JoinFrom { group, .. } => Needs::Join(group),
            Command::Publish { group, .. } => Needs::Publish(group),
            Command::Broadcast => Needs::Admin("broadcast"),
            Command::Replicate(_) => Needs::Admin("replicate"),
            Command::Stats => Needs::Admin("stats"),
            Command::ClusterStats => Needs::Admin("cstats"),
            Command::Kick(_) => Needs::Admin("kick"),
        }
    }
}

/// What commands act on besides the connection; one per connection, cheap to clone.
#[derive(Debug, Clone)]
pub struct Context {
    /// Where REPLICATE sends to; with none, REPLICATE reports two empty lists.
    pub backends: Backends,
    /// Answers CLUSTER_STATS under this server's node name.
    pub cluster: ClusterStats,
    /// Named groups a connection may be in at once; a JOIN beyond is refused.
    pub max_groups: usize,
    /// Who may connect: with it, every connection must AUTH first; without it, every
    /// connection is anonymous and AUTH is refused.
    pub authenticator: Option<Arc<Authenticator>>,
}

impl Default for Context {
    /// No backends, no cluster (the node is called `local`), at most
    /// [`DEFAULT_MAX_GROUPS`] groups per connection, no identity.
    fn default() -> Self {
        Context {
            backends: Backends::default(),
            cluster: ClusterStats::default(),
            max_groups: DEFAULT_MAX_GROUPS,
            authenticator: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_names_what_it_needs() {
        let lobby = GroupName::from("lobby");
        let cases = [
            (Command::Ping(Bytes::new()), Needs::Nothing),
            (Command::Pong, Needs::Nothing),
            (Command::Echo, Needs::Identity),
            (Command::Leave(lobby.clone()), Needs::Identity),
            (Command::Join(lobby.clone()), Needs::Join(&lobby)),
            (
                Command::JoinFrom {
                    group: lobby.clone(),
                    from: switchboard::history::Position {
                        epoch: switchboard::history::Epoch::parse("e").unwrap(),
                        offset: 0,
                    },
                },
                Needs::Join(&lobby),
            ),
            (
                Command::Publish {
                    group: lobby.clone(),
                    message: Bytes::new(),
                },
                Needs::Publish(&lobby),
            ),
            (Command::Broadcast, Needs::Admin("broadcast")),
            (Command::Replicate(Bytes::new()), Needs::Admin("replicate")),
            (Command::Stats, Needs::Admin("stats")),
            (Command::ClusterStats, Needs::Admin("cstats")),
            (Command::Auth(Secret::new("t")), Needs::Nothing),
            (Command::Kick("alice".to_owned()), Needs::Admin("kick")),
        ];
        for (command, needs) in &cases {
            assert_eq!(command.needs(), *needs, "{command:?}");
        }
    }
}
