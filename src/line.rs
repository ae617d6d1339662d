//! The `line` protocol of PROTOCOL.md: newline-terminated text commands.
//!
//! [`LineCodec`] wraps tokio-util's `LinesCodec` and fixes two things for this
//! protocol: the `max_line` limit does not count the line ending (`LinesCodec` counts a
//! `\r` before the `\n` as part of the line), and a line that is not UTF-8 is a bad
//! packet rather than a stream error. An over-long line is fatal
//! ([`LineError::TooLong`]) and from then on all input is discarded.
//! [`LineProtocol`] answers `ECHO`, `BCAST`, `PING`, `STATS`, `CSTATS`, `JOIN`, `LEAVE`
//! and `PUB`, takes a client's `PONG` silently, and sends the heartbeat `PING` when the
//! connection is idle.

use crate::cluster_stats::ClusterStats;
use crate::frame::{group_name, join_group, DEFAULT_MAX_GROUPS};
use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use std::io;
use switchboard::protocol::Idle;
use switchboard::{GroupEncoder, GroupName, Inbound, Outbox, Protocol, Snapshot};
use tokio_util::codec::{Decoder, Encoder, LinesCodec, LinesCodecError};

/// At most this many bytes of client text are quoted in an error reason.
pub const MAX_QUOTED: usize = 64;

/// Why the line codec gave up on a stream.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// A line longer than `max_line` bytes; the stream is not trusted any more.
    #[error("line too long")]
    TooLong,
    /// The transport failed (required by tokio-util's codec traits).
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Cuts a byte stream into lines and encodes lines to send.
#[derive(Debug, Clone)]
pub struct LineCodec {
    /// Finds the line endings; its limit is `max_line + 1` so that a `\r` before the
    /// `\n` fits, and the exact limit is checked here.
    inner: LinesCodec,
    /// The longest line accepted, in bytes, not counting `\n` or `\r\n`.
    max_line: usize,
    /// Set once a line was too long: from then on all input is discarded.
    poisoned: bool,
}

impl LineCodec {
    /// A codec that accepts lines of at most `max_line` bytes (line ending excluded).
    pub fn new(max_line: usize) -> Self {
        LineCodec {
            inner: LinesCodec::new_with_max_length(max_line.saturating_add(1)),
            max_line,
            poisoned: false,
        }
    }

    /// The longest line accepted, in bytes, not counting the line ending.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Whether an over-long line was seen and all input is now discarded.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Whether the first line in `src` is `max_line + 1` bytes without a `\r`, which
    /// the inner codec lets through and this protocol refuses.
    fn one_over_limit(&self, src: &BytesMut) -> bool {
        let Some(newline_at) = self.max_line.checked_add(1) else {
            return false;
        };
        src.get(newline_at) == Some(&b'\n') && src.get(self.max_line) != Some(&b'\r')
    }

    /// Discards all input from now on and reports the over-long line.
    fn refuse(&mut self, src: &mut BytesMut) -> Result<Option<Inbound<String>>, LineError> {
        self.poisoned = true;
        src.clear();
        Err(LineError::TooLong)
    }
}

impl Decoder for LineCodec {
    type Item = Inbound<String>;
    type Error = LineError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, LineError> {
        if self.poisoned {
            src.clear();
            return Ok(None);
        }
        // Only meaningful if the line decoded now is the one ending at max_line + 1.
        let one_over = self.one_over_limit(src);
        let before = src.len();
        let decoded = self.inner.decode(src);
        let consumed = before - src.len();
        let at_limit = Some(consumed) == self.max_line.checked_add(2);
        match decoded {
            Ok(Some(line)) if line.len() > self.max_line => self.refuse(src),
            Ok(Some(line)) => Ok(Some(Inbound::Request(line))),
            Ok(None) => Ok(None),
            Err(LinesCodecError::MaxLineLengthExceeded) => self.refuse(src),
            Err(LinesCodecError::Io(_)) if at_limit && one_over => self.refuse(src),
            Err(LinesCodecError::Io(e)) if e.kind() == io::ErrorKind::InvalidData => {
                Ok(Some(Inbound::Bad("invalid utf-8".to_owned())))
            }
            Err(LinesCodecError::Io(e)) => Err(LineError::Io(e)),
        }
    }

    /// At end of stream an unterminated line is dropped: lines end with `\n`.
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, LineError> {
        let item = self.decode(src)?;
        if item.is_none() {
            src.clear();
        }
        Ok(item)
    }
}

impl Encoder<String> for LineCodec {
    type Error = LineError;

    fn encode(&mut self, line: String, dst: &mut BytesMut) -> Result<(), LineError> {
        dst.reserve(line.len() + 1);
        dst.put_slice(line.as_bytes());
        dst.put_u8(b'\n');
        Ok(())
    }
}

/// `s` cut to at most `max` bytes, at a char boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The error reason for a line that is not a command, quoting a bounded prefix of it.
fn unknown_command(line: &str) -> String {
    let word = line.split(' ').next().unwrap_or_default();
    if word.is_empty() {
        return "unknown command (empty)".to_owned();
    }
    let quoted = truncate(word, MAX_QUOTED);
    let ellipsis = if quoted.len() < word.len() { "..." } else { "" };
    format!("unknown command {quoted:?}{ellipsis}")
}

/// The STATS reply for the supervisor's answer: one line of JSON, or an `ERR` line.
pub fn stats_line<S: Serialize>(answer: Result<S, impl std::fmt::Display>) -> String {
    let json = answer
        .map_err(|e| e.to_string())
        .and_then(|snapshot| serde_json::to_string(&snapshot).map_err(|e| e.to_string()));
    json.unwrap_or_else(|e| {
        tracing::warn!("stats unavailable: {e}");
        "ERR stats unavailable".to_owned()
    })
}

/// The `MSG <name> <text>` line for `message` published to `group`, encoded, or why the
/// message cannot be a line: it is not UTF-8, holds a line break, or makes the line
/// longer than `max_line`.
pub fn message_line(group: &GroupName, message: &[u8], max_line: usize) -> Result<Bytes, String> {
    let text = std::str::from_utf8(message).map_err(|_| "message is not UTF-8".to_owned())?;
    if text.contains(['\n', '\r']) {
        return Err("message holds a line break".to_owned());
    }
    let len = "MSG ".len() + group.as_str().len() + 1 + text.len();
    if len > max_line {
        return Err(format!(
            "line of {len} bytes is longer than max_line {max_line}"
        ));
    }
    let mut line = BytesMut::with_capacity(len + 1);
    line.put_slice(b"MSG ");
    line.put_slice(group.as_str().as_bytes());
    line.put_u8(b' ');
    line.put_slice(text.as_bytes());
    line.put_u8(b'\n');
    Ok(line.freeze())
}

/// The `line` protocol of PROTOCOL.md, one value per connection.
#[derive(Debug, Clone)]
pub struct LineProtocol {
    /// The longest line accepted from a client; longer ones close the connection.
    pub max_line: usize,
    /// Answers `CSTATS` under this server's node name.
    pub cluster: ClusterStats,
    /// Named groups this connection may be in at once; a `JOIN` beyond is refused.
    pub max_groups: usize,
}

impl LineProtocol {
    /// The protocol with lines of at most `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        LineProtocol {
            max_line,
            cluster: ClusterStats::default(),
            max_groups: DEFAULT_MAX_GROUPS,
        }
    }

    /// The same protocol with connections in at most `max_groups` named groups.
    pub fn with_max_groups(self, max_groups: usize) -> Self {
        LineProtocol { max_groups, ..self }
    }

    /// `JOIN <name>`: `JOINED <name>`, or an error packet.
    fn join(&self, name: &str, out: &mut Outbox<String>) {
        match group_name(name.as_bytes()) {
            Ok(group) => match join_group(out, group, self.max_groups) {
                Ok(()) => out.reply(format!("JOINED {name}")),
                Err(reason) => out.bad_packet(reason),
            },
            Err(reason) => out.bad_packet(reason),
        }
    }

    /// `LEAVE <name>`: `LEFT <name>` (member or not), or an error packet.
    fn leave(&self, name: &str, out: &mut Outbox<String>) {
        match group_name(name.as_bytes()) {
            Ok(group) => {
                out.leave(group.as_str());
                out.reply(format!("LEFT {name}"));
            }
            Err(reason) => out.bad_packet(reason),
        }
    }

    /// `PUB <name> <text>`: no reply; the text to every member of the group.
    fn publish(&self, rest: &str, out: &mut Outbox<String>) {
        let Some((name, text)) = rest.split_once(' ') else {
            return out.bad_packet("PUB takes a group name and a message");
        };
        match group_name(name.as_bytes()) {
            Ok(group) => out.publish(group, Bytes::copy_from_slice(text.as_bytes())),
            Err(reason) => out.bad_packet(reason),
        }
    }

    /// The same protocol answering `CSTATS` with `cluster`.
    pub fn with_cluster(self, cluster: ClusterStats) -> Self {
        LineProtocol { cluster, ..self }
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
        let command = line.split(' ').next().unwrap_or_default();
        match (command, line.len() == command.len()) {
            ("ECHO", _) => out.reply(line),
            ("BCAST", _) => out.broadcast(line),
            ("PING", true) => out.reply("PONG".to_owned()),
            // The answer to a heartbeat: receiving it was the point.
            ("PONG", true) => {}
            ("STATS", true) => {
                let board = out.handle().clone();
                out.defer(async move { stats_line::<Snapshot>(board.stats().await) });
            }
            ("CSTATS", true) => {
                let gather = self.cluster.gather(out.handle().clone());
                out.defer(async move { stats_line(gather.await) });
            }
            ("PING" | "PONG" | "STATS" | "CSTATS", false) => {
                out.bad_packet(format!("{command} takes no argument"))
            }
            ("JOIN", false) => self.join(&line[command.len() + 1..], out),
            ("LEAVE", false) => self.leave(&line[command.len() + 1..], out),
            ("PUB", false) => self.publish(&line[command.len() + 1..], out),
            ("JOIN" | "LEAVE", true) => out.bad_packet(format!("{command} takes a group name")),
            ("PUB", true) => out.bad_packet("PUB takes a group name and a message"),
            _ => out.bad_packet(unknown_command(&line)),
        }
    }

    fn error_reply(&self, reason: &str) -> Option<String> {
        Some(format!("ERR {reason}"))
    }

    /// `MSG <name> <text>`, within this connection's `max_line`.
    fn group_encoder(&self) -> Option<GroupEncoder> {
        let max_line = self.max_line;
        Some(GroupEncoder::new(move |group, message| {
            message_line(group, message, max_line)
        }))
    }

    /// The heartbeat: nothing was received for `heartbeat_ms`, so ask for a `PONG`.
    fn on_idle(&mut self, idle: Idle, out: &mut Outbox<String>) {
        if idle == Idle::Read {
            out.reply("PING".to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard::protocol::Action;

    fn decode_all(codec: &mut LineCodec, buf: &mut BytesMut) -> Vec<Inbound<String>> {
        let mut out = Vec::new();
        while let Some(item) = codec.decode(buf).unwrap() {
            out.push(item);
        }
        out
    }

    fn req(s: &str) -> Inbound<String> {
        Inbound::Request(s.to_owned())
    }

    #[test]
    fn lf_and_crlf_lines() {
        let mut codec = LineCodec::new(16);
        let mut buf = BytesMut::from(&b"PING\r\nECHO a b\nSTATS\r\n\r\npartial"[..]);
        let items = decode_all(&mut codec, &mut buf);
        assert_eq!(
            items,
            vec![req("PING"), req("ECHO a b"), req("STATS"), req("")]
        );
        assert_eq!(&buf[..], b"partial");
    }

    #[test]
    fn split_reads_one_byte_at_a_time() {
        let mut codec = LineCodec::new(16);
        let mut buf = BytesMut::new();
        let mut items = Vec::new();
        for byte in b"ECHO hi\r\nPING\n" {
            buf.put_u8(*byte);
            items.extend(decode_all(&mut codec, &mut buf));
        }
        assert_eq!(items, vec![req("ECHO hi"), req("PING")]);
    }

    #[test]
    fn exactly_max_line_is_accepted_with_either_ending() {
        let line = "x".repeat(8);
        for ending in ["\n", "\r\n"] {
            let mut codec = LineCodec::new(8);
            let mut buf = BytesMut::from(format!("{line}{ending}").as_bytes());
            assert_eq!(decode_all(&mut codec, &mut buf), vec![req(&line)]);
        }
    }

    #[test]
    fn max_line_plus_one_is_refused_with_either_ending() {
        let line = "x".repeat(9);
        for ending in ["\n", "\r\n", ""] {
            let mut codec = LineCodec::new(8);
            let mut buf = BytesMut::from(format!("{line}{ending}+").as_bytes());
            let err = codec.decode(&mut buf).unwrap_err();
            assert_eq!(err.to_string(), "line too long", "ending {ending:?}");
            assert!(codec.is_poisoned());
        }
    }

    #[test]
    fn over_long_without_newline_is_refused_early() {
        let mut codec = LineCodec::new(8);
        let mut buf = BytesMut::from(&b"0123456789"[..]);
        assert!(matches!(codec.decode(&mut buf), Err(LineError::TooLong)));
    }

    #[test]
    fn after_too_long_everything_is_discarded() {
        let mut codec = LineCodec::new(4);
        let mut buf = BytesMut::from(&b"ECHO long\nPING\n"[..]);
        assert!(codec.decode(&mut buf).is_err());
        buf.extend_from_slice(b"PING\n");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert!(buf.is_empty());
    }

    #[test]
    fn invalid_utf8_is_bad_then_next_line_decodes() {
        let mut codec = LineCodec::new(16);
        let mut buf = BytesMut::from(&b"ECHO \xff\xfe\r\nPING\n"[..]);
        let items = decode_all(&mut codec, &mut buf);
        assert_eq!(
            items,
            vec![Inbound::Bad("invalid utf-8".to_owned()), req("PING")]
        );
    }

    #[test]
    fn invalid_utf8_at_the_limit_is_still_judged_by_length() {
        // max_line bytes + CRLF: within the limit, so only a bad packet.
        let mut codec = LineCodec::new(4);
        let mut buf = BytesMut::from(&b"\xff\xff\xff\xff\r\nPING\n"[..]);
        assert_eq!(
            decode_all(&mut codec, &mut buf),
            vec![Inbound::Bad("invalid utf-8".to_owned()), req("PING")]
        );
        // max_line + 1 bytes + LF: too long, whatever the content.
        let mut codec = LineCodec::new(4);
        let mut buf = BytesMut::from(&b"\xff\xff\xff\xff\xff\nPING\n"[..]);
        assert!(matches!(codec.decode(&mut buf), Err(LineError::TooLong)));
    }

    #[test]
    fn incomplete_line_reserves_nothing() {
        let mut codec = LineCodec::new(8192);
        let mut buf = BytesMut::with_capacity(16);
        buf.extend_from_slice(b"ECHO not yet");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert_eq!(&buf[..], b"ECHO not yet");
        assert!(buf.capacity() < 1024, "capacity {}", buf.capacity());
    }

    #[test]
    fn unterminated_line_at_eof_is_dropped() {
        let mut codec = LineCodec::new(16);
        let mut buf = BytesMut::from(&b"PING\nPIN"[..]);
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), Some(req("PING")));
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
        assert!(buf.is_empty());
    }

    #[test]
    fn encoder_appends_newline() {
        let mut codec = LineCodec::new(16);
        let mut buf = BytesMut::new();
        codec.encode("PONG".to_owned(), &mut buf).unwrap();
        codec.encode(String::new(), &mut buf).unwrap();
        assert_eq!(&buf[..], b"PONG\n\n");
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("abc", 64), "abc");
        assert_eq!(truncate("abcdef", 3), "abc");
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("ééé", 4), "éé");
    }

    #[test]
    fn unknown_command_reason_is_bounded() {
        assert_eq!(unknown_command("FOO bar"), "unknown command \"FOO\"");
        assert_eq!(unknown_command(""), "unknown command (empty)");
        let long = "Z".repeat(10_000);
        let reason = unknown_command(&long);
        assert!(reason.len() < MAX_QUOTED + 32, "{reason}");
        assert!(reason.ends_with("\"..."));
    }

    #[test]
    fn error_reply_is_err_line() {
        let reply = LineProtocol::new(8).error_reply("line too long");
        assert_eq!(reply.as_deref(), Some("ERR line too long"));
    }

    #[test]
    fn stats_line_is_json_or_err() {
        let ok = stats_line(Ok::<_, switchboard::Stopped>(
            serde_json::json!({"accepted_total": 1}),
        ));
        assert_eq!(ok, r#"{"accepted_total":1}"#);
        assert_eq!(
            stats_line::<u8>(Err(switchboard::Stopped)),
            "ERR stats unavailable"
        );
    }

    /// Runs `handle` for one line on a fresh outbox and returns the actions.
    fn handle(line: &str) -> Vec<Action<String>> {
        let supervisor = switchboard::Switchboard::start(
            switchboard::SwitchboardConfig::default().with_workers(0),
        )
        .handle()
        .clone();
        let peer = "127.0.0.1:1".parse().unwrap();
        let mut out = Outbox::new(1, peer, supervisor);
        LineProtocol::new(64).handle(line.to_owned(), &mut out);
        out.take()
    }

    fn only(actions: Vec<Action<String>>) -> Action<String> {
        assert_eq!(actions.len(), 1, "one action expected");
        actions.into_iter().next().unwrap()
    }

    #[actix_rt::test]
    async fn commands_are_answered() {
        for line in ["ECHO hello world", "ECHO", "ECHO "] {
            assert!(matches!(only(handle(line)), Action::Reply(r) if r == line));
        }
        assert!(matches!(only(handle("BCAST hi")), Action::Broadcast(r) if r == "BCAST hi"));
        assert!(matches!(only(handle("PING")), Action::Reply(r) if r == "PONG"));
    }

    #[actix_rt::test]
    async fn stats_is_deferred_json_line() {
        let Action::Defer(reply) = only(handle("STATS")) else {
            panic!("STATS must be deferred");
        };
        let line = reply.await;
        assert!(!line.contains('\n'));
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(json.get("connections").is_some(), "{json}");
    }

    #[actix_rt::test]
    async fn cstats_is_deferred_json_line_under_the_node_name() {
        let supervisor = switchboard::Switchboard::start(
            switchboard::SwitchboardConfig::default().with_workers(0),
        )
        .handle()
        .clone();
        let mut out = Outbox::new(1, "127.0.0.1:1".parse().unwrap(), supervisor);
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

    #[actix_rt::test]
    async fn pong_is_taken_silently() {
        assert!(handle("PONG").is_empty());
    }

    #[actix_rt::test]
    async fn read_idle_sends_ping_and_other_kinds_nothing() {
        let supervisor = switchboard::Switchboard::start(
            switchboard::SwitchboardConfig::default().with_workers(0),
        )
        .handle()
        .clone();
        let mut out = Outbox::new(1, "127.0.0.1:1".parse().unwrap(), supervisor);
        let mut protocol = LineProtocol::new(64);
        protocol.on_idle(Idle::Write, &mut out);
        protocol.on_idle(Idle::All, &mut out);
        assert!(out.take().is_empty());
        protocol.on_idle(Idle::Read, &mut out);
        assert!(matches!(only(out.take()), Action::Reply(r) if r == "PING"));
    }

    #[actix_rt::test]
    async fn anything_else_is_a_bad_packet() {
        for line in [
            "",
            "PING x",
            "STATS now",
            "CSTATS now",
            "PONG x",
            "echo hi",
            "ECHOX",
            "ERR x",
        ] {
            assert!(matches!(only(handle(line)), Action::Bad(_)), "{line:?}");
        }
    }

    /// Runs `handle` for each line on one outbox and returns the actions.
    fn handle_all(protocol: &mut LineProtocol, lines: &[&str]) -> Vec<Action<String>> {
        let supervisor = switchboard::Switchboard::start(
            switchboard::SwitchboardConfig::default().with_workers(0),
        )
        .handle()
        .clone();
        let mut out = Outbox::new(1, "127.0.0.1:1".parse().unwrap(), supervisor);
        for line in lines {
            protocol.handle((*line).to_owned(), &mut out);
        }
        out.take()
    }

    #[actix_rt::test]
    async fn join_leave_and_pub() {
        let lines = [
            "JOIN lobby",
            "JOIN lobby",
            "PUB lobby hello there",
            "LEAVE lobby",
            "LEAVE lobby",
            "PUB lobby ",
        ];
        let actions = handle_all(&mut LineProtocol::new(64), &lines);
        let lobby = GroupName::from("lobby");
        assert_eq!(actions.len(), 8);
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
        assert!(
            matches!(&actions[7], Action::Publish { message, member: false, .. }
            if message.is_empty())
        );
    }

    #[actix_rt::test]
    async fn bad_group_commands_are_bad_packets() {
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
            "PUB lobby",
            "PUB bad!name text",
        ] {
            let actions = handle_all(&mut LineProtocol::new(64), &[line]);
            assert!(matches!(only(actions), Action::Bad(_)), "{line:?}");
        }
        let mut protocol = LineProtocol::new(64).with_max_groups(1);
        let actions = handle_all(&mut protocol, &["JOIN a", "JOIN b"]);
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
