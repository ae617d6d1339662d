//! Carrying out a parsed [`Command`] on a connection's outbox, the same for every
//! protocol: [`dispatch`] (the one path from a parsed request to its effect, through the
//! authorization policy), [`Command::apply`], and the [`heartbeat`].

use super::group::{join_group, join_history};
use super::{Command, Context, Replies};
use crate::backends::DeliveryReport;
use crate::identity::{authorize, Decision, Session};
use crate::secret::Secret;
use std::time::SystemTime;
use switchboard::protocol::Idle;
use switchboard::{Outbox, RemovalReason};

/// Carries out one request: `parsed` is what [`Command::from_frame`] or
/// [`Command::from_line`] made of it, `request` the request itself (what ECHO and
/// BROADCAST send, byte for byte), `session` what the connection is as far as
/// permissions go. A request that is not a command is an error packet with the parser's
/// reason.
///
/// Every request of every protocol passes here once parsed, and [`authorize`] decides
/// whether it runs: a command the connection may not run is answered with its refusal
/// (`permission denied: ...`, not an error packet) and not carried out; one that needs
/// an authenticated connection, on a connection that has not authenticated, is answered
/// `authentication required` and the connection is removed as `unauthorized`.
pub fn dispatch<W: Replies>(
    parsed: Result<Command, String>,
    request: W::Packet,
    context: &Context,
    session: &mut Session,
    out: &mut Outbox<W::Packet>,
) {
    let command = match parsed {
        Ok(command) => command,
        Err(reason) => return out.bad_packet(reason),
    };
    if let Command::JoinFrom { group, .. } = &command {
        // Malformed before anything is asked of the permissions.
        if !out.handle().has_history(group.as_str()) {
            return out.bad_packet(format!("no history for {group}"));
        }
    }
    let decision = authorize(session, command.needs());
    if let Some(refusal) = decision.refusal() {
        out.reply(W::error(&refusal));
        if decision == Decision::AuthenticationRequired {
            out.close(RemovalReason::Unauthorized);
        }
        return;
    }
    command.apply::<W>(request, context, session, out);
}

/// The heartbeat: nothing was received for `heartbeat_ms`, so ask for a PONG. Other
/// kinds of idleness send nothing.
pub fn heartbeat<W: Replies>(idle: Idle, out: &mut Outbox<W::Packet>) {
    if idle == Idle::Read {
        out.reply(W::ping());
    }
}

impl Command {
    /// Carries the command out on `out`, writing its answers as `W` does. `request` is
    /// the request the command was parsed from: ECHO and BROADCAST send it unchanged;
    /// AUTH changes `session`. Whether the connection may run it is [`dispatch`]'s
    /// question, asked before.
    pub fn apply<W: Replies>(
        self,
        request: W::Packet,
        context: &Context,
        session: &mut Session,
        out: &mut Outbox<W::Packet>,
    ) {
        match self {
            Command::Echo => out.reply(request),
            Command::Broadcast => out.broadcast(request),
            Command::Ping(payload) => out.reply(W::pong(payload)),
            // The answer to a heartbeat: receiving it was the point.
            Command::Pong => {}
            Command::Stats => {
                let board = out.handle().clone();
                out.defer(async move { W::stats(board.stats().await) });
            }
            Command::ClusterStats => {
                let gather = context.cluster.gather(out.handle().clone());
                out.defer(async move { W::cluster_stats(gather.await) });
            }
            Command::Replicate(_) if context.backends.is_empty() => {
                out.reply(W::replicated(&DeliveryReport::default()))
            }
            Command::Replicate(payload) => {
                let backends = context.backends.clone();
                out.defer(async move { W::replicated(&backends.replicate(payload).await) });
            }
            Command::Join(group) if out.handle().has_history(group.as_str()) => {
                if let Err(reason) =
                    join_history(out, group, None, context.max_groups, W::joined_history)
                {
                    out.bad_packet(reason);
                }
            }
            Command::JoinFrom { group, from } => {
                if let Err(reason) = join_history(
                    out,
                    group,
                    Some(from),
                    context.max_groups,
                    W::joined_history,
                ) {
                    out.bad_packet(reason);
                }
            }
            Command::Join(group) => match join_group(out, group.clone(), context.max_groups) {
                Ok(()) => out.reply(W::joined(&group)),
                Err(reason) => out.bad_packet(reason),
            },
            Command::Leave(group) => {
                out.leave(group.as_str());
                out.reply(W::left(&group));
            }
            Command::Publish { group, message } => out.publish(group, message),
            Command::Auth(token) => authenticate::<W>(&token, context, session, out),
            // Only an admin gets here, and only a server with identity has admins; such
            // a server does not start until the switchboard can find a user's
            // connections.
            Command::Kick(_) => out.reply(W::error("KICK is not supported yet")),
        }
    }
}

/// AUTH: an error packet on a server without identity or a connection that already
/// authenticated; otherwise the token names a user (answered AUTHED) or the connection
/// is answered `unauthorized` and removed as such.
fn authenticate<W: Replies>(
    token: &Secret,
    context: &Context,
    session: &mut Session,
    out: &mut Outbox<W::Packet>,
) {
    let Some(authenticator) = &context.authenticator else {
        return out.bad_packet("authentication not enabled");
    };
    if session.user().is_some() {
        return out.bad_packet("already authenticated");
    }
    match authenticator.authenticate(token.expose(), SystemTime::now()) {
        Ok(authenticated) => {
            out.reply(W::authed(&authenticated.user.name));
            *session = Session::User(authenticated.user);
        }
        Err(why) => {
            tracing::debug!(peer = %out.peer(), "AUTH refused: {why}");
            out.reply(W::error("unauthorized"));
            out.close(RemovalReason::Unauthorized);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::identity::{Authenticator, Pattern, Permissions, StaticUsers, User};
    use crate::protocols::frame::{Frame, FrameProtocol};
    use crate::protocols::line::LineProtocol;
    use crate::protocols::testing::{handle_all, wire};
    use crate::secret::Secret;
    use std::sync::Arc;
    use switchboard::protocol::Action;
    use switchboard::{Protocol, RemovalReason};

    /// What the actions were, in a form tests compare.
    #[derive(Debug, PartialEq, Eq)]
    enum Did {
        Reply(String),
        Bad(String),
        Join(String),
        Publish(String),
        Close(RemovalReason),
        Other,
    }

    fn did(actions: Vec<Action<String>>) -> Vec<Did> {
        actions
            .into_iter()
            .map(|action| match action {
                Action::Reply(line) => Did::Reply(line),
                Action::Bad(reason) => Did::Bad(reason),
                Action::Join(group) => Did::Join(group.as_str().to_owned()),
                Action::Publish { group, .. } => Did::Publish(group.as_str().to_owned()),
                Action::Close(reason) => Did::Close(reason),
                _ => Did::Other,
            })
            .collect()
    }

    fn reply(line: &str) -> Did {
        Did::Reply(line.to_owned())
    }

    /// alice may join `chat.>` but not `chat.secret`; root is an admin.
    fn authenticator() -> Arc<Authenticator> {
        let chat = |texts: &[&str]| texts.iter().map(|t| Pattern::parse(t).unwrap()).collect();
        let alice = User {
            name: "alice".to_owned(),
            permissions: Permissions {
                join: chat(&["chat.>"]),
                join_deny: chat(&["chat.secret"]),
                publish: chat(&["chat.>"]),
                publish_deny: Vec::new(),
            },
            admin: false,
        };
        let root = User {
            name: "root".to_owned(),
            permissions: Permissions::default(),
            admin: true,
        };
        Arc::new(Authenticator::new(
            StaticUsers::new([
                (Secret::new("alice-token"), alice),
                (Secret::new("root-token"), root),
            ]),
            None,
        ))
    }

    fn with_identity() -> LineProtocol {
        LineProtocol::new(256).with_authenticator(Some(authenticator()))
    }

    #[test]
    fn without_identity_auth_is_an_error_packet_and_kick_is_denied() {
        let actions = handle_all(
            &mut LineProtocol::new(256),
            ["AUTH anything", "AUTH", "KICK alice", "STATS x", "ECHO hi"],
        );
        assert_eq!(
            did(actions),
            [
                Did::Bad("authentication not enabled".to_owned()),
                Did::Bad("authentication not enabled".to_owned()),
                reply("ERR permission denied: kick"),
                Did::Bad("STATS takes no argument".to_owned()),
                reply("ECHO hi"),
            ]
        );
    }

    #[test]
    fn before_auth_only_auth_ping_and_pong() {
        for line in [
            "ECHO hi",
            "JOIN chat.eu",
            "LEAVE chat.eu",
            "PUB chat.eu x",
            "BCAST x",
            "STATS",
            "CSTATS",
            "KICK bob",
        ] {
            let actions = handle_all(&mut with_identity(), ["PING", "PONG", line]);
            assert_eq!(
                did(actions),
                [
                    reply("PONG"),
                    reply("ERR authentication required"),
                    Did::Close(RemovalReason::Unauthorized),
                ],
                "{line}"
            );
        }
    }

    #[test]
    fn a_wrong_or_empty_token_is_unauthorized() {
        for line in ["AUTH wrong", "AUTH", "AUTH ", "AUTH alice-token "] {
            assert_eq!(
                did(handle_all(&mut with_identity(), [line])),
                [
                    reply("ERR unauthorized"),
                    Did::Close(RemovalReason::Unauthorized)
                ],
                "{line}"
            );
        }
    }

    #[test]
    fn a_user_joins_and_publishes_by_its_patterns() {
        let actions = handle_all(
            &mut with_identity(),
            [
                "AUTH alice-token",
                "JOIN chat.eu",
                "JOIN chat.secret",
                "PUB chat.eu hi",
                "PUB lobby hi",
                "LEAVE lobby",
                "AUTH alice-token",
                "BCAST x",
                "KICK root",
                "ECHO still here",
            ],
        );
        assert_eq!(
            did(actions),
            [
                reply("AUTHED alice"),
                Did::Join("chat.eu".to_owned()),
                reply("JOINED chat.eu"),
                reply("ERR permission denied: join chat.secret"),
                Did::Publish("chat.eu".to_owned()),
                reply("ERR permission denied: publish lobby"),
                reply("LEFT lobby"),
                Did::Bad("already authenticated".to_owned()),
                reply("ERR permission denied: broadcast"),
                reply("ERR permission denied: kick"),
                reply("ECHO still here"),
            ]
        );
    }

    #[test]
    fn an_admin_may_do_anything() {
        let actions = handle_all(
            &mut with_identity(),
            [
                "AUTH root-token",
                "JOIN chat.secret",
                "PUB anywhere x",
                "KICK alice",
            ],
        );
        assert_eq!(
            did(actions),
            [
                reply("AUTHED root"),
                Did::Join("chat.secret".to_owned()),
                reply("JOINED chat.secret"),
                Did::Publish("anywhere".to_owned()),
                reply("ERR KICK is not supported yet"),
            ]
        );
    }

    #[test]
    fn a_raw_echo_waits_for_authentication() {
        let echo = wire(Frame::ECHO, b"hi");
        let mut anonymous = FrameProtocol::new(64);
        assert_eq!(anonymous.raw_echo(&echo), Some(echo.len()));
        let mut protocol = FrameProtocol::new(64).with_authenticator(Some(authenticator()));
        assert_eq!(protocol.raw_echo(&echo), None, "decoded, and refused there");
        let actions = handle_all(
            &mut protocol,
            [
                Frame::new(Frame::AUTH, &b"alice-token"[..]),
                Frame::new(Frame::JOIN, &b"chat.secret"[..]),
            ],
        );
        assert!(
            matches!(&actions[0], Action::Reply(f) if *f == Frame::new(Frame::AUTHED, &b"alice"[..]))
        );
        assert!(
            matches!(&actions[1], Action::Reply(f) if *f == Frame::error("permission denied: join chat.secret"))
        );
        assert_eq!(protocol.raw_echo(&echo), Some(echo.len()));
    }
}
