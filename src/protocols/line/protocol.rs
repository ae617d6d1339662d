//! [`LineProtocol`]: the `line` protocol's handler, one value per connection, and how
//! `line` writes the server's replies.
//!
//! Every line is parsed into a [`Command`] and carried out by [`commands::dispatch`],
//! as for every protocol.

use super::{message_line, numbered_line, stats_line, LineCodec};
use crate::backends::DeliveryReport;
use crate::cluster_stats::ClusterStats;
use crate::commands::join::joined_text;
use crate::commands::{self, Command, Context, Replies};
use crate::identity::{Authenticator, Session};
use bytes::Bytes;
use serde::Serialize;
use std::fmt::Display;
use std::sync::Arc;
use switchboard::history::Joined;
use switchboard::protocol::Idle;
use switchboard::{GroupEncoder, GroupName, Outbox, Protocol};

/// The `line` protocol of PROTOCOL.md, one value per connection.
#[derive(Debug, Clone)]
pub struct LineProtocol {
    /// The longest line accepted from a client; longer ones close the connection.
    pub max_line: usize,
    /// What the commands act on: the cluster of `CSTATS`, the `JOIN` limit, the users
    /// of `AUTH`; shared by the connections of a listener (a clone of the protocol is
    /// one reference count, not a copy).
    pub context: Arc<Context>,
    /// What this connection is as far as permissions go (anonymous, not authenticated
    /// yet, a user).
    pub session: Session,
}

impl LineProtocol {
    /// The protocol with lines of at most `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        LineProtocol {
            max_line,
            context: Arc::default(),
            session: Session::Anonymous,
        }
    }

    /// The same protocol with connections in at most `max_groups` named groups.
    pub fn with_max_groups(mut self, max_groups: usize) -> Self {
        Arc::make_mut(&mut self.context).max_groups = max_groups;
        self
    }

    /// The same protocol answering `CSTATS` with `cluster`.
    pub fn with_cluster(mut self, cluster: ClusterStats) -> Self {
        Arc::make_mut(&mut self.context).cluster = cluster;
        self
    }

    /// The same protocol with identity: every connection must `AUTH` against
    /// `authenticator` before anything but `PING` and `PONG` (`None`: every connection
    /// is anonymous).
    pub fn with_authenticator(mut self, authenticator: Option<Arc<Authenticator>>) -> Self {
        self.session = Session::new(authenticator.is_some());
        Arc::make_mut(&mut self.context).authenticator = authenticator;
        self
    }
}

impl Protocol for LineProtocol {
    const NAME: &'static str = "line";
    type Request = String;
    type Response = String;
    type Codec = LineCodec;

    fn codec(&self) -> LineCodec {
        LineCodec::new(self.max_line)
    }

    fn handle(&mut self, line: String, out: &mut Outbox<String>) {
        let parsed = Command::from_line(&line);
        commands::dispatch::<Self>(parsed, line, &self.context, &mut self.session, out);
    }

    fn error_reply(&self, reason: &str) -> Option<String> {
        Some(Self::error(reason))
    }

    /// `MSG <name> <text>`, within this connection's `max_line`.
    fn group_encoder(&self) -> Option<GroupEncoder> {
        let max_line = self.max_line;
        let plain = GroupEncoder::new(move |group, message| message_line(group, message, max_line));
        Some(plain.with_offsets(move |group, offset, message| {
            numbered_line(group, Some(offset), message, max_line)
        }))
    }

    /// The heartbeat: nothing was received for `heartbeat_ms`, so ask for a `PONG`.
    fn on_idle(&mut self, idle: Idle, out: &mut Outbox<String>) {
        commands::heartbeat::<Self>(idle, out);
    }

    /// A client certificate naming a user authenticates the connection at once.
    fn on_open(&mut self, out: &mut Outbox<String>) {
        commands::certificate_user(&self.context, &mut self.session, out);
    }

    /// The one timer the server sets: the token's expiry.
    fn on_timer(&mut self, out: &mut Outbox<String>) {
        commands::token_expired(out);
    }
}

/// The server's answers as lines (the codec adds the line ending).
impl Replies for LineProtocol {
    type Packet = String;

    /// `PONG` (a line PING has no payload).
    fn pong(_payload: Bytes) -> String {
        "PONG".to_owned()
    }

    /// `PING`.
    fn ping() -> String {
        "PING".to_owned()
    }

    /// `JOINED <name>`.
    fn joined(group: &GroupName) -> String {
        format!("JOINED {}", group.as_str())
    }

    /// `JOINED <name> <epoch> <offset>`, with ` RECOVERED <n>` or ` LOST`.
    fn joined_history(joined: &Joined) -> String {
        format!("JOINED {}", joined_text(joined))
    }

    /// `LEFT <name>`.
    fn left(group: &GroupName) -> String {
        format!("LEFT {}", group.as_str())
    }

    /// The snapshot as one line of JSON.
    fn stats<S: Serialize, E: Display>(answer: Result<S, E>) -> String {
        stats_line(answer)
    }

    /// `{"nodes": ...}` as one line of JSON.
    fn cluster_stats<S: Serialize, E: Display>(answer: Result<S, E>) -> String {
        stats_line(answer)
    }

    /// The report as one line of JSON (`line` has no REPLICATE request of its own).
    fn replicated(report: &DeliveryReport) -> String {
        serde_json::to_string(report).unwrap_or_else(|e| {
            tracing::warn!("delivery report not encodable: {e}");
            "ERR delivery report unavailable".to_owned()
        })
    }

    /// `AUTHED <user>`.
    fn authed(user: &str) -> String {
        format!("AUTHED {user}")
    }

    /// `KICKED <user> <n>`.
    fn kicked(user: &str, removed: usize) -> String {
        format!("KICKED {user} {removed}")
    }

    /// `ERR <reason>`.
    fn error(reason: &str) -> String {
        format!("ERR {reason}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::testing::{handle_all, handle_on, only, outbox, running_outbox};
    use switchboard::protocol::Action;
    use switchboard::GroupName;

    #[test]
    fn error_reply_is_err_line() {
        let reply = LineProtocol::new(8).error_reply("line too long");
        assert_eq!(reply.as_deref(), Some("ERR line too long"));
    }

    #[test]
    fn replies_are_lines_without_their_ending() {
        let lobby = GroupName::from("lobby");
        assert_eq!(LineProtocol::joined(&lobby), "JOINED lobby");
        assert_eq!(LineProtocol::left(&lobby), "LEFT lobby");
        assert_eq!(LineProtocol::pong(Bytes::new()), "PONG");
        assert_eq!(LineProtocol::authed("alice"), "AUTHED alice");
        assert_eq!(LineProtocol::kicked("alice", 3), "KICKED alice 3");
        assert_eq!(
            LineProtocol::replicated(&DeliveryReport::default()),
            r#"{"acked":[],"faulty":[]}"#
        );
    }

    /// Runs `handle` for one line on a fresh outbox and returns the actions.
    fn handle(line: &str) -> Vec<Action<String>> {
        handle_all(&mut LineProtocol::new(64), [line])
    }

    #[test]
    fn commands_are_answered() {
        for line in ["ECHO hello world", "ECHO", "ECHO "] {
            assert!(matches!(only(handle(line)), Action::Reply(r) if r == line));
        }
        assert!(matches!(only(handle("BCAST hi")), Action::Broadcast(r) if r == "BCAST hi"));
        assert!(matches!(only(handle("PING")), Action::Reply(r) if r == "PONG"));
    }

    #[actix_rt::test]
    async fn stats_is_deferred_json_line() {
        let actions = handle_on(&mut LineProtocol::new(64), &mut running_outbox(), ["STATS"]);
        let Action::Defer(reply) = only(actions) else {
            panic!("STATS must be deferred");
        };
        let line = reply.await;
        assert!(!line.contains('\n'));
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(json.get("connections").is_some(), "{json}");
    }

    #[actix_rt::test]
    async fn cstats_is_deferred_json_line_under_the_node_name() {
        let mut out = running_outbox();
        let mut protocol = LineProtocol::new(64).with_cluster(ClusterStats::new("n1"));
        protocol.handle("CSTATS".to_owned(), &mut out);
        let Action::Defer(reply) = only(out.take()) else {
            panic!("CSTATS must be deferred");
        };
        let line = reply.await;
        assert!(!line.contains('\n'));
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(json["nodes"]["n1"]["connections"].is_object(), "{json}");
    }

    #[test]
    fn pong_is_taken_silently() {
        for line in ["PONG", "PONG ", "PONG x y"] {
            assert!(handle(line).is_empty(), "{line:?}");
        }
    }

    #[test]
    fn read_idle_sends_ping_and_other_kinds_nothing() {
        let mut out = outbox();
        let mut protocol = LineProtocol::new(64);
        protocol.on_idle(Idle::Write, &mut out);
        protocol.on_idle(Idle::All, &mut out);
        assert!(out.take().is_empty());
        protocol.on_idle(Idle::Read, &mut out);
        assert!(matches!(only(out.take()), Action::Reply(r) if r == "PING"));
    }

    #[test]
    fn anything_else_is_a_bad_packet() {
        for line in [
            "",
            "PING x",
            "STATS now",
            "CSTATS now",
            "echo hi",
            "ECHOX",
            "ERR x",
        ] {
            assert!(matches!(only(handle(line)), Action::Bad(_)), "{line:?}");
        }
    }

    #[test]
    fn join_leave_and_pub() {
        let lines = [
            "JOIN lobby",
            "JOIN lobby",
            "PUB lobby hello there",
            "LEAVE lobby",
            "LEAVE lobby",
            "PUB lobby ",
            "PUB lobby",
        ];
        let actions = handle_all(&mut LineProtocol::new(64), lines);
        let lobby = GroupName::from("lobby");
        assert_eq!(actions.len(), 9);
        assert!(matches!(&actions[0], Action::Join(g) if *g == lobby));
        assert!(matches!(&actions[1], Action::Reply(r) if r == "JOINED lobby"));
        assert!(matches!(&actions[2], Action::Reply(r) if r == "JOINED lobby"));
        assert!(
            matches!(&actions[3], Action::Publish { group, message, member: true }
            if *group == lobby && &message[..] == b"hello there")
        );
        assert!(matches!(&actions[4], Action::Leave(g) if *g == lobby));
        assert!(matches!(&actions[5], Action::Reply(r) if r == "LEFT lobby"));
        assert!(matches!(&actions[6], Action::Reply(r) if r == "LEFT lobby"));
        for publish in &actions[7..] {
            assert!(
                matches!(publish, Action::Publish { message, member: false, .. }
                if message.is_empty())
            );
        }
    }

    #[test]
    fn bad_group_commands_are_bad_packets() {
        let long = format!("JOIN {}", "a".repeat(65));
        for line in [
            "JOIN",
            "JOIN ",
            "JOIN a b",
            "JOIN caf\u{e9}",
            long.as_str(),
            "LEAVE",
            "LEAVE a/b",
            "PUB",
            "PUB ",
            "PUB bad!name text",
        ] {
            let actions = handle_all(&mut LineProtocol::new(64), [line]);
            assert!(matches!(only(actions), Action::Bad(_)), "{line:?}");
        }
        let mut protocol = LineProtocol::new(64).with_max_groups(1);
        let actions = handle_all(&mut protocol, ["JOIN a", "JOIN b"]);
        assert!(matches!(&actions[2], Action::Bad(r) if r == "too many groups"));
    }

    #[test]
    fn a_message_that_cannot_be_a_line_is_refused() {
        let lobby = GroupName::from("lobby");
        let encoder = LineProtocol::new(16).group_encoder().unwrap();
        assert_eq!(
            &encoder.encode(&lobby, b"012345").unwrap()[..],
            b"MSG lobby 012345\n"
        );
        for bad in [&b"0123456"[..], b"a\nb", b"a\rb", b"\xff"] {
            assert!(encoder.encode(&lobby, bad).is_err(), "{bad:?}");
        }
    }
}
