//! Carrying out a parsed [`Command`] on a connection's outbox, the same for every
//! protocol: [`dispatch`] (the one path from a parsed request to its effect, through the
//! authorization policy), [`Command::apply`], and the [`heartbeat`].

use super::group::{join_group, join_history};
use super::{Command, Context, Replies};
use crate::backends::DeliveryReport;
use crate::identity::{authorize, certificate, Decision, Session};
use crate::secret::Secret;
use std::time::SystemTime;
use switchboard::identity::AuthError;
use switchboard::protocol::Idle;
use switchboard::{Outbox, RemovalReason};

/// Carries out one request: `parsed` is what [`Command::from_frame`] or
/// [`Command::from_line`] made of it, `request` the request itself (what ECHO and
/// BROADCAST send, byte for byte), `session` what the connection is as far as
/// permissions go. A request that is not a command is an error packet with the parser's
/// reason.
///
/// Every request of every protocol passes here once parsed, and [`authorize`] decides
/// whether it runs: a command the connection may not run is refused with
/// [`Outbox::deny`] (`permission denied: ...`, counted in `denied_total`, never an error
/// packet) and not carried out; one that needs an authenticated connection, on a
/// connection that has not authenticated, is answered `authentication required` and the
/// connection is removed as `unauthorized`.
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
    let refusal = decision.refusal().unwrap_or_default();
    match decision {
        Decision::Allow => command.apply::<W>(request, context, session, out),
        Decision::AuthenticationRequired => {
            out.close_with_error(RemovalReason::Unauthorized, refusal)
        }
        Decision::Denied(_) => out.deny(refusal),
    }
}

/// The heartbeat: nothing was received for `heartbeat_ms`, so ask for a PONG. Other
/// kinds of idleness send nothing.
pub fn heartbeat<W: Replies>(idle: Idle, out: &mut Outbox<W::Packet>) {
    if idle == Idle::Read {
        out.reply(W::ping());
    }
}

/// A connection opened: under TLS with client certificates, a verified certificate
/// whose subject common name is one of the static users authenticates the connection
/// as that user before its first request (AUTH is then `already authenticated`). Any
/// other connection authenticates with AUTH as usual.
pub fn certificate_user<R>(context: &Context, session: &mut Session, out: &mut Outbox<R>) {
    let Some(authenticator) = &context.authenticator else {
        return;
    };
    let Some(name) = out
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|certificate| certificate::common_name(certificate))
    else {
        return;
    };
    let Some(account) = authenticator.user_by_name(&name) else {
        return;
    };
    // Over the user's connection limit the switchboard answers and removes it.
    if out.authenticate(account.user.clone()).is_ok() {
        tracing::debug!(peer = %out.peer(), user = %name, "authenticated by its certificate");
        *session = Session::User(account);
    }
}

/// The connection's timer fell: the only one the server sets is its token's expiry
/// (a JWT's `exp`), so the connection is told `token expired` and removed as such.
pub fn token_expired<R>(out: &mut Outbox<R>) {
    out.close_with_error(RemovalReason::TokenExpired, "token expired");
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
                if let Err(refused) =
                    join_history(out, group, None, context.max_groups, W::joined_history)
                {
                    refused.answer(out);
                }
            }
            Command::JoinFrom { group, from } => {
                if let Err(refused) = join_history(
                    out,
                    group,
                    Some(from),
                    context.max_groups,
                    W::joined_history,
                ) {
                    refused.answer(out);
                }
            }
            Command::Join(group) => match join_group(out, group.clone(), context.max_groups) {
                Ok(()) => out.reply(W::joined(&group)),
                Err(refused) => refused.answer(out),
            },
            Command::Leave(group) => {
                out.leave(group.as_str());
                out.reply(W::left(&group));
            }
            // The switchboard checks the user's permission again, and answers a refusal.
            Command::Publish { group, message } => out.publish(group, message),
            Command::Auth(token) => authenticate::<W>(&token, context, session, out),
            Command::Kick(user) => kick::<W>(user, out),
        }
    }
}

/// AUTH: an error packet on a server without identity or a connection that already
/// authenticated; otherwise the token names a user (answered AUTHED, and a JWT's expiry
/// set as the connection's timer) or the connection is answered `unauthorized` and
/// removed as such. The user's connection limit is the switchboard's: over it, the
/// switchboard answers and removes the connection itself.
fn authenticate<W: Replies>(
    token: &Secret,
    context: &Context,
    session: &mut Session,
    out: &mut Outbox<W::Packet>,
) {
    let Some(authenticator) = &context.authenticator else {
        return out.bad_packet("authentication not enabled");
    };
    if session.account().is_some() {
        return out.bad_packet("already authenticated");
    }
    let now = SystemTime::now();
    let authenticated = match authenticator.authenticate(token.expose(), now) {
        Ok(authenticated) => authenticated,
        Err(why) => {
            tracing::debug!(peer = %out.peer(), "AUTH refused: {why}");
            return out.close_with_error(RemovalReason::Unauthorized, "unauthorized");
        }
    };
    let account = authenticated.account;
    match out.authenticate(account.user.clone()) {
        Ok(()) => {}
        // Answered `too many connections for this user` and closed by the switchboard.
        Err(AuthError::UserLimit) => return,
        Err(other) => return out.bad_packet(other.to_string()),
    }
    out.reply(W::authed(account.name()));
    if let Some(expires) = authenticated.expires {
        // Already past (the token expired as it was checked): the timer falls at once.
        out.set_timer(expires.duration_since(now).unwrap_or_default());
    }
    *session = Session::User(account);
}

/// KICK: every connection of `user` on this server is told `kicked` and removed as
/// such, in one call to the switchboard; answered KICKED with how many, once they are.
fn kick<W: Replies>(user: String, out: &mut Outbox<W::Packet>) {
    let board = out.handle().clone();
    out.defer(async move {
        match board
            .close_user(&user, RemovalReason::Kicked, Some("kicked"))
            .await
        {
            Ok(removed) => W::kicked(&user, removed),
            Err(stopped) => W::error(&stopped.to_string()),
        }
    });
}

#[cfg(test)]
mod tests {
    use crate::identity::{Account, Authenticator, JwtVerifier, PatternLists, StaticUsers};
    use crate::protocols::frame::{Frame, FrameProtocol};
    use crate::protocols::line::LineProtocol;
    use crate::protocols::testing::{handle_all, outbox, wire};
    use crate::secret::Secret;
    use std::sync::Arc;
    use std::time::Duration;
    use switchboard::protocol::Action;
    use switchboard::{Protocol, RemovalReason};

    /// What the actions were, in a form tests compare.
    #[derive(Debug, PartialEq, Eq)]
    enum Did {
        Reply(String),
        Bad(String),
        Deny(String),
        Join(String),
        Publish(String),
        CloseWithError(RemovalReason, String),
        Authenticate(String),
        Timer(Option<Duration>),
        Defer,
        Other,
    }

    fn did(actions: Vec<Action<String>>) -> Vec<Did> {
        actions
            .into_iter()
            .map(|action| match action {
                Action::Reply(line) => Did::Reply(line),
                Action::Bad(reason) => Did::Bad(reason),
                Action::Deny(reason) => Did::Deny(reason),
                Action::Join(group) => Did::Join(group.as_str().to_owned()),
                Action::Publish { group, .. } => Did::Publish(group.as_str().to_owned()),
                Action::CloseWithError(reason, message) => Did::CloseWithError(reason, message),
                Action::Authenticate(user) => Did::Authenticate(user.name().to_owned()),
                Action::SetTimer(after) => Did::Timer(after),
                Action::Defer(_) => Did::Defer,
                _ => Did::Other,
            })
            .collect()
    }

    fn reply(line: &str) -> Did {
        Did::Reply(line.to_owned())
    }

    fn deny(reason: &str) -> Did {
        Did::Deny(reason.to_owned())
    }

    fn strings(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|t| (*t).to_owned()).collect()
    }

    const JWT_SECRET: &str = "a secret of thirty-two bytes....";

    /// alice may join `chat.>` but not `chat.secret`; root is an admin; JWTs under
    /// [`JWT_SECRET`].
    fn authenticator() -> Arc<Authenticator> {
        let (chat, secret) = (strings(&["chat.>"]), strings(&["chat.secret"]));
        let lists = PatternLists {
            join: &chat,
            join_deny: &secret,
            publish: &chat,
            publish_deny: &[],
        };
        let alice = Account::new("alice", lists.permissions().unwrap(), false);
        let root = Account::new("root", switchboard::identity::Permissions::none(), true);
        Arc::new(Authenticator::new(
            StaticUsers::new([
                (Secret::new("alice-token"), alice),
                (Secret::new("root-token"), root),
            ]),
            Some(JwtVerifier::new(&Secret::new(JWT_SECRET))),
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
                deny("permission denied: kick"),
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
                    Did::CloseWithError(
                        RemovalReason::Unauthorized,
                        "authentication required".to_owned()
                    ),
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
                [Did::CloseWithError(
                    RemovalReason::Unauthorized,
                    "unauthorized".to_owned()
                )],
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
                Did::Authenticate("alice".to_owned()),
                reply("AUTHED alice"),
                Did::Join("chat.eu".to_owned()),
                reply("JOINED chat.eu"),
                deny("permission denied: join chat.secret"),
                Did::Publish("chat.eu".to_owned()),
                deny("permission denied: publish lobby"),
                reply("LEFT lobby"),
                Did::Bad("already authenticated".to_owned()),
                deny("permission denied: broadcast"),
                deny("permission denied: kick"),
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
                Did::Authenticate("root".to_owned()),
                reply("AUTHED root"),
                Did::Join("chat.secret".to_owned()),
                reply("JOINED chat.secret"),
                Did::Publish("anywhere".to_owned()),
                Did::Defer,
            ]
        );
    }

    /// A JWT for `sub` expiring `in_seconds` from now, under [`JWT_SECRET`].
    fn jwt(sub: &str, in_seconds: i64) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let claims = serde_json::json!({"sub": sub, "exp": now + in_seconds});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn a_jwt_sets_the_connections_timer_to_its_expiry() {
        let token = jwt("carol", 100);
        let actions = did(handle_all(&mut with_identity(), [format!("AUTH {token}")]));
        let [Did::Authenticate(name), Did::Reply(authed), Did::Timer(Some(after))] = &actions[..]
        else {
            panic!("{actions:?}");
        };
        assert_eq!((name.as_str(), authed.as_str()), ("carol", "AUTHED carol"));
        assert!(
            *after > Duration::from_secs(98) && *after <= Duration::from_secs(100),
            "{after:?}"
        );
        // A static token does not expire.
        let actions = did(handle_all(&mut with_identity(), ["AUTH alice-token"]));
        assert_eq!(actions.len(), 2, "{actions:?}");
        // An expired one is refused like any wrong token.
        let expired = jwt("carol", -1);
        assert_eq!(
            did(handle_all(
                &mut with_identity(),
                [format!("AUTH {expired}")]
            )),
            [Did::CloseWithError(
                RemovalReason::Unauthorized,
                "unauthorized".to_owned()
            )]
        );
    }

    #[test]
    fn the_timer_is_the_token_expiry() {
        let mut out = outbox();
        let mut protocol = with_identity();
        protocol.on_timer(&mut out);
        assert_eq!(
            did(out.take()),
            [Did::CloseWithError(
                RemovalReason::TokenExpired,
                "token expired".to_owned()
            )]
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
            matches!(&actions[1], Action::Reply(f) if *f == Frame::new(Frame::AUTHED, &b"alice"[..]))
        );
        assert!(
            matches!(&actions[2], Action::Deny(reason) if reason == "permission denied: join chat.secret")
        );
        assert_eq!(protocol.raw_echo(&echo), Some(echo.len()));
    }
}
