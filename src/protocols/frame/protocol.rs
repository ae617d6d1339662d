//! [`FrameProtocol`]: the `frame` protocol's handler, one value per connection, and
//! how `frame` writes the server's replies.
//!
//! Every frame is parsed into a [`Command`] and carried out by [`commands::dispatch`],
//! as for every protocol; only a whole ECHO frame is answered from the read buffer,
//! never decoded ([`Protocol::raw_echo`]).

use super::{
    json_frame, message_frame, numbered_frame, stats_frame, Frame, FrameCodec, HEADER_LEN,
};
use crate::backends::{Backends, DeliveryReport};
use crate::cluster_stats::ClusterStats;
use crate::commands::join::joined_text;
use crate::commands::{self, Command, Context, Needs, Replies};
use crate::identity::{authorize, Authenticator, Decision, Session};
use bytes::Bytes;
use serde::Serialize;
use std::fmt::Display;
use std::sync::Arc;
use switchboard::history::Joined;
use switchboard::protocol::Idle;
use switchboard::{GroupEncoder, GroupName, Outbox, Protocol};

/// The `frame` protocol of PROTOCOL.md, one value per connection.
#[derive(Debug, Clone)]
pub struct FrameProtocol {
    /// The largest frame body accepted from a client; longer ones close the connection.
    pub max_frame: usize,
    /// What the commands act on: the backends of REPLICATE, the cluster of
    /// CLUSTER_STATS, the JOIN limit, the users of AUTH; shared by the connections of
    /// a listener (a clone of the protocol is one reference count, not a copy).
    pub context: Arc<Context>,
    /// What this connection is as far as permissions go (anonymous, not authenticated
    /// yet, a user).
    pub session: Session,
}

impl FrameProtocol {
    /// The protocol with bodies of at most `max_frame` bytes, and no backends.
    pub fn new(max_frame: usize) -> Self {
        FrameProtocol::with_backends(max_frame, Backends::default())
    }

    /// The protocol with bodies of at most `max_frame` bytes, replicating to `backends`.
    pub fn with_backends(max_frame: usize, backends: Backends) -> Self {
        FrameProtocol {
            max_frame,
            context: Arc::new(Context {
                backends,
                ..Context::default()
            }),
            session: Session::Anonymous,
        }
    }

    /// The same protocol with connections in at most `max_groups` named groups.
    pub fn with_max_groups(mut self, max_groups: usize) -> Self {
        Arc::make_mut(&mut self.context).max_groups = max_groups;
        self
    }

    /// The same protocol answering CLUSTER_STATS with `cluster`.
    pub fn with_cluster(mut self, cluster: ClusterStats) -> Self {
        Arc::make_mut(&mut self.context).cluster = cluster;
        self
    }

    /// The same protocol with identity: every connection must AUTH against
    /// `authenticator` before anything but PING and PONG (`None`: every connection is
    /// anonymous).
    pub fn with_authenticator(mut self, authenticator: Option<Arc<Authenticator>>) -> Self {
        self.session = Session::new(authenticator.is_some());
        Arc::make_mut(&mut self.context).authenticator = authenticator;
        self
    }
}

impl Protocol for FrameProtocol {
    const NAME: &'static str = "frame";
    type Request = Frame;
    type Response = Frame;
    type Codec = FrameCodec;

    fn codec(&self) -> FrameCodec {
        FrameCodec::new(self.max_frame)
    }

    /// An ECHO is answered with the frame as it arrived, never decoded: any body of at
    /// most `max_frame` bytes whose first byte is the ECHO opcode, on a connection
    /// allowed to ECHO (others take the decoded path, which refuses it).
    fn raw_echo(&mut self, inbound: &[u8]) -> Option<usize> {
        if !matches!(authorize(&self.session, Needs::Identity), Decision::Allow) {
            return None;
        }
        let length = usize::try_from(u32::from_be_bytes(
            inbound.get(..HEADER_LEN)?.try_into().ok()?,
        ))
        .ok()?;
        if length == 0 || length > self.max_frame {
            return None;
        }
        let total = HEADER_LEN.checked_add(length)?;
        (inbound.len() >= total && inbound.get(HEADER_LEN) == Some(&Frame::ECHO)).then_some(total)
    }

    fn handle(&mut self, frame: Frame, out: &mut Outbox<Frame>) {
        let parsed = Command::from_frame(&frame);
        commands::dispatch::<Self>(parsed, frame, &self.context, &mut self.session, out);
    }

    fn error_reply(&self, reason: &str) -> Option<Frame> {
        Some(Self::error(reason))
    }

    /// A MESSAGE frame; every message fits one (frames sent have no size limit).
    fn group_encoder(&self) -> Option<GroupEncoder> {
        Some(
            GroupEncoder::new(message_frame).with_offsets(|group, offset, message| {
                numbered_frame(group, Some(offset), message)
            }),
        )
    }

    /// The heartbeat: nothing was received for `heartbeat_ms`, so ask for a PONG.
    fn on_idle(&mut self, idle: Idle, out: &mut Outbox<Frame>) {
        commands::heartbeat::<Self>(idle, out);
    }

    /// A client certificate naming a user authenticates the connection at once.
    fn on_open(&mut self, out: &mut Outbox<Frame>) {
        commands::certificate_user(&self.context, &mut self.session, out);
    }

    /// The one timer the server sets: the token's expiry.
    fn on_timer(&mut self, out: &mut Outbox<Frame>) {
        commands::token_expired(out);
    }
}

/// The server's answers as frames: each a reply opcode with its payload.
impl Replies for FrameProtocol {
    type Packet = Frame;

    /// PONG with the PING's payload.
    fn pong(payload: Bytes) -> Frame {
        Frame::new(Frame::PONG, payload)
    }

    /// An empty PING.
    fn ping() -> Frame {
        Frame::new(Frame::PING, Bytes::new())
    }

    /// JOINED with the group name.
    fn joined(group: &GroupName) -> Frame {
        Frame::new(
            Frame::JOINED,
            Bytes::copy_from_slice(group.as_str().as_bytes()),
        )
    }

    /// JOINED with `<name> <epoch> <offset>` (and ` RECOVERED <n>` or ` LOST`).
    fn joined_history(joined: &Joined) -> Frame {
        Frame::new(Frame::JOINED, joined_text(joined).into_bytes())
    }

    /// LEFT with the group name.
    fn left(group: &GroupName) -> Frame {
        Frame::new(
            Frame::LEFT,
            Bytes::copy_from_slice(group.as_str().as_bytes()),
        )
    }

    /// STATS_REPLY with the snapshot as JSON.
    fn stats<S: Serialize, E: Display>(answer: Result<S, E>) -> Frame {
        stats_frame(answer)
    }

    /// CLUSTER_STATS_REPLY with `{"nodes": ...}` as JSON.
    fn cluster_stats<S: Serialize, E: Display>(answer: Result<S, E>) -> Frame {
        json_frame(Frame::CLUSTER_STATS_REPLY, answer)
    }

    /// REPLICATE_REPLY with the report as JSON.
    fn replicated(report: &DeliveryReport) -> Frame {
        report.to_frame()
    }

    /// AUTHED with the user's name.
    fn authed(user: &str) -> Frame {
        Frame::new(Frame::AUTHED, Bytes::copy_from_slice(user.as_bytes()))
    }

    /// KICKED with `<name> <n>`.
    fn kicked(user: &str, removed: usize) -> Frame {
        Frame::new(Frame::KICKED, format!("{user} {removed}"))
    }

    /// ERROR with the reason as UTF-8.
    fn error(reason: &str) -> Frame {
        Frame::error(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::testing::{handle_all, handle_on, only, outbox, running_outbox, wire};
    use switchboard::protocol::Action;
    use switchboard::GroupName;

    #[test]
    fn a_whole_echo_frame_is_answered_raw_and_nothing_else_is() {
        let mut protocol = FrameProtocol::new(8);
        let echo = wire(Frame::ECHO, b"abc");
        let mut two = echo.clone();
        two.extend_from_slice(&wire(Frame::PING, b"x"));
        assert_eq!(protocol.raw_echo(&echo), Some(echo.len()));
        assert_eq!(protocol.raw_echo(&two), Some(echo.len()));
        // Incomplete, another opcode, empty, past max_frame: left to the codec.
        for short in 0..echo.len() {
            assert_eq!(protocol.raw_echo(&echo[..short]), None, "{short} bytes");
        }
        assert_eq!(protocol.raw_echo(&wire(Frame::PING, b"abc")), None);
        assert_eq!(protocol.raw_echo(&[0, 0, 0, 0, Frame::ECHO]), None);
        assert_eq!(
            protocol
                .raw_echo(&wire(Frame::ECHO, &[1; 7]))
                .map(|n| n - 4),
            Some(8)
        );
        assert_eq!(protocol.raw_echo(&wire(Frame::ECHO, &[1; 8])), None);
        assert_eq!(
            protocol.raw_echo(&[0xff, 0xff, 0xff, 0xff, Frame::ECHO]),
            None
        );
    }

    #[test]
    fn authed_and_kicked_frames() {
        assert_eq!(
            FrameProtocol::authed("alice"),
            Frame::new(Frame::AUTHED, &b"alice"[..])
        );
        assert_eq!(
            FrameProtocol::kicked("alice", 2),
            Frame::new(Frame::KICKED, &b"alice 2"[..])
        );
    }

    #[test]
    fn error_frame_carries_reason() {
        let frame = FrameProtocol::new(64)
            .error_reply("frame too large")
            .unwrap();
        assert_eq!(frame, Frame::new(Frame::ERROR, &b"frame too large"[..]));
    }

    /// Runs `handle` for one frame on a fresh outbox and returns the actions.
    fn handle(frame: Frame) -> Vec<Action<Frame>> {
        handle_all(&mut FrameProtocol::new(64), [frame])
    }

    #[test]
    fn echo_ping_and_broadcast() {
        let echo = Frame::new(Frame::ECHO, &b"e"[..]);
        assert!(matches!(only(handle(echo.clone())), Action::Reply(f) if f == echo));
        let bcast = Frame::new(Frame::BROADCAST, &b"b"[..]);
        assert!(matches!(only(handle(bcast.clone())), Action::Broadcast(f) if f == bcast));
        let pong = Frame::new(Frame::PONG, &b"p"[..]);
        let ping = Frame::new(Frame::PING, &b"p"[..]);
        assert!(matches!(only(handle(ping)), Action::Reply(f) if f == pong));
    }

    #[test]
    fn replicate_without_backends_reports_nobody() {
        let reply = only(handle(Frame::new(Frame::REPLICATE, &b"r"[..])));
        assert!(matches!(reply, Action::Reply(f) if f == DeliveryReport::default().to_frame()));
    }

    #[actix_rt::test]
    async fn stats_is_deferred_json() {
        let stats = Frame::new(Frame::STATS, Bytes::new());
        let actions = handle_on(&mut FrameProtocol::new(64), &mut running_outbox(), [stats]);
        let Action::Defer(reply) = only(actions) else {
            panic!("STATS must be deferred");
        };
        let frame = reply.await;
        assert_eq!(frame.opcode, Frame::STATS_REPLY);
        let json: serde_json::Value = serde_json::from_slice(&frame.payload).unwrap();
        assert!(json.get("connections").is_some(), "{json}");
    }

    #[actix_rt::test]
    async fn cluster_stats_is_deferred_json_under_the_node_name() {
        let mut out = running_outbox();
        let mut protocol = FrameProtocol::new(64).with_cluster(ClusterStats::new("n1"));
        protocol.handle(Frame::new(Frame::CLUSTER_STATS, &b"ignored"[..]), &mut out);
        let Action::Defer(reply) = only(out.take()) else {
            panic!("CLUSTER_STATS must be deferred");
        };
        let frame = reply.await;
        assert_eq!(frame.opcode, Frame::CLUSTER_STATS_REPLY);
        let json: serde_json::Value = serde_json::from_slice(&frame.payload).unwrap();
        assert!(json["nodes"]["n1"]["connections"].is_object(), "{json}");
        assert_eq!(json["nodes"].as_object().unwrap().len(), 1, "{json}");
    }

    #[test]
    fn pong_is_taken_silently() {
        for payload in [&b""[..], &b"anything"[..]] {
            assert!(handle(Frame::new(Frame::PONG, payload)).is_empty());
        }
    }

    #[test]
    fn read_idle_sends_an_empty_ping_and_other_kinds_nothing() {
        let mut out = outbox();
        let mut protocol = FrameProtocol::new(64);
        protocol.on_idle(Idle::Write, &mut out);
        protocol.on_idle(Idle::All, &mut out);
        assert!(out.take().is_empty());
        protocol.on_idle(Idle::Read, &mut out);
        let ping = Frame::new(Frame::PING, Bytes::new());
        assert!(matches!(only(out.take()), Action::Reply(f) if f == ping));
    }

    #[test]
    fn server_and_unknown_opcodes_are_bad_packets() {
        for op in [
            0x00,
            Frame::STATS_REPLY,
            0x07,
            Frame::REPLICATE_REPLY,
            Frame::CLUSTER_STATS_REPLY,
            Frame::ERROR,
            0xFF,
        ] {
            let action = only(handle(Frame::new(op, Bytes::new())));
            let expected = format!("unknown opcode 0x{op:02x}");
            assert!(
                matches!(action, Action::Bad(r) if r == expected),
                "opcode {op:#x}"
            );
        }
    }

    #[test]
    fn join_twice_leave_twice_and_publish() {
        let join = Frame::new(Frame::JOIN, &b"lobby"[..]);
        let leave = Frame::new(Frame::LEAVE, &b"lobby"[..]);
        let publish = Frame::new(Frame::PUBLISH, &b"\x05lobbyhi"[..]);
        let actions = handle_all(
            &mut FrameProtocol::new(64),
            [
                join.clone(),
                join,
                publish.clone(),
                leave.clone(),
                leave,
                publish,
            ],
        );
        let joined = Frame::new(Frame::JOINED, &b"lobby"[..]);
        let left = Frame::new(Frame::LEFT, &b"lobby"[..]);
        let lobby = GroupName::from("lobby");
        assert_eq!(
            actions.len(),
            8,
            "one join, one leave, four replies, two publishes"
        );
        assert!(matches!(&actions[0], Action::Join(g) if *g == lobby));
        assert!(matches!(&actions[1], Action::Reply(f) if *f == joined));
        assert!(
            matches!(&actions[2], Action::Reply(f) if *f == joined),
            "joined again"
        );
        assert!(
            matches!(&actions[3], Action::Publish { group, message, member: true }
            if *group == lobby && &message[..] == b"hi")
        );
        assert!(matches!(&actions[4], Action::Leave(g) if *g == lobby));
        assert!(matches!(&actions[5], Action::Reply(f) if *f == left));
        assert!(
            matches!(&actions[6], Action::Reply(f) if *f == left),
            "left, not a member"
        );
        assert!(matches!(&actions[7], Action::Publish { member: false, .. }));
    }

    #[test]
    fn bad_names_and_name_lens_are_bad_packets() {
        let long = vec![b'a'; 65];
        let mut bad = vec![
            Frame::new(Frame::JOIN, Bytes::new()),
            Frame::new(Frame::JOIN, &b"a b"[..]),
            Frame::new(Frame::JOIN, &b"caf\xc3\xa9"[..]),
            Frame::new(Frame::JOIN, long.clone()),
            Frame::new(Frame::LEAVE, &b"x/y"[..]),
            Frame::new(Frame::PUBLISH, Bytes::new()),
            Frame::new(Frame::PUBLISH, &b"\x00lobby"[..]),
            Frame::new(Frame::PUBLISH, &b"\x06lobby"[..]),
            Frame::new(Frame::PUBLISH, &b"\x03a!bmessage"[..]),
        ];
        let mut publish_long = vec![65u8];
        publish_long.extend(&long);
        bad.push(Frame::new(Frame::PUBLISH, publish_long));
        for frame in bad {
            let actions = handle_all(&mut FrameProtocol::new(64), [frame.clone()]);
            assert!(matches!(only(actions), Action::Bad(_)), "{frame:?}");
        }
        let max = vec![b'Z'; 64];
        let actions = handle_all(&mut FrameProtocol::new(64), [Frame::new(Frame::JOIN, max)]);
        assert!(matches!(&actions[0], Action::Join(_)), "64 bytes is a name");
        let reason = crate::commands::group::group_name(&[b'/'; 200]).unwrap_err();
        assert!(
            reason.len() < 64 + 32 && reason.ends_with("..."),
            "{reason}"
        );
    }

    #[test]
    fn a_join_beyond_max_groups_is_too_many() {
        let mut protocol = FrameProtocol::new(64).with_max_groups(2);
        let joins: Vec<Frame> = ["a", "b", "a", "c"]
            .iter()
            .map(|name| Frame::new(Frame::JOIN, name.as_bytes().to_vec()))
            .collect();
        let actions = handle_all(&mut protocol, joins);
        assert_eq!(actions.len(), 6);
        assert!(matches!(&actions[4], Action::Reply(f) if f.opcode == Frame::JOINED));
        assert!(matches!(&actions[5], Action::Bad(r) if r == "too many groups"));
    }

    #[test]
    fn a_message_frame_carries_name_len_name_and_message() {
        let lobby = GroupName::from("lobby");
        let packet = FrameProtocol::new(64)
            .group_encoder()
            .unwrap()
            .encode(&lobby, b"two\nlines")
            .unwrap();
        assert_eq!(
            &packet[..],
            &wire(Frame::MESSAGE, b"\x05lobbytwo\nlines")[..]
        );
        let (group, message) =
            crate::commands::split_publish(&Bytes::copy_from_slice(&packet[5..])).unwrap();
        assert_eq!((group, &message[..]), (lobby, &b"two\nlines"[..]));
        let huge = GroupName::new("g".repeat(256));
        assert!(
            message_frame(&huge, b"x").is_err(),
            "a name_len is one byte"
        );
    }
}
