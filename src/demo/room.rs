//! The demo's room scene: members of the named group `lobby` on both protocols.
//!
//! A `frame` member and a `line` member each PUBLISH (`0x0E` / `PUB`) a numbered message
//! now and then; a third member, on `line`, only listens. Every member answers the
//! server's heartbeat PINGs with PONG, so the listener, which never sends anything
//! else, is never idle. The lobby keeps a history: a fourth member drops its connection
//! mid-conversation, stays away while messages are published, and comes back with its
//! position (`JOIN lobby <epoch> <offset>`), recovering what it missed. What each member
//! published and received is recorded in a [`Room`], which the summary judges: every
//! member got every message, in each publisher's order, and the returning one recovered
//! exactly what it missed.

use super::cast::{connect, Names};
use crate::protocols::frame::Frame;
use bytes::{Buf, BytesMut};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

/// The named group the scene plays in.
pub const LOBBY: &str = "lobby";
/// How often a publishing member publishes.
const EVERY: Duration = Duration::from_millis(700);
/// How long the returning member stays away: a few messages are published meanwhile.
const AWAY: Duration = Duration::from_millis(2500);
/// The most bytes a member buffers while a packet is incomplete.
const MAX_BUFFERED: usize = 128 * 1024;
/// The most problems kept per member (the first ones say what went wrong).
const MAX_PROBLEMS: usize = 8;

/// Which protocol a member speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Length-prefixed frames.
    Frame,
    /// Newline-terminated lines.
    Line,
}

/// One member of the room.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    /// Its name in the cast (and the prefix of every message it publishes).
    pub name: &'static str,
    /// Its protocol.
    pub wire: Wire,
    /// Whether it publishes, or only listens.
    pub publishes: bool,
    /// Whether it drops its connection halfway and comes back from its position.
    pub returns: bool,
}

/// The scene's members.
pub const MEMBERS: [Member; 4] = [
    Member {
        name: "room-frame",
        wire: Wire::Frame,
        publishes: true,
        returns: false,
    },
    Member {
        name: "room-line",
        wire: Wire::Line,
        publishes: true,
        returns: false,
    },
    Member {
        name: "room-listener",
        wire: Wire::Line,
        publishes: false,
        returns: false,
    },
    Member {
        name: "room-returner",
        wire: Wire::Line,
        publishes: false,
        returns: true,
    },
];

/// What one member did and saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Whether the server confirmed its JOIN.
    pub joined: bool,
    /// What it published, in order.
    pub published: Vec<String>,
    /// The group messages it received, in order.
    pub received: Vec<String>,
    /// Server PINGs it answered with PONG.
    pub pings: u64,
    /// The lobby's epoch and the offset of the last message it received (or of the
    /// last before its JOIN).
    pub position: Option<(String, u64)>,
    /// For the returning member: the offset it left at, the offset the server said the
    /// lobby was at when it came back, and how many messages it said were recovered
    /// (`RECOVERED <n>`).
    pub recovered: Option<(u64, u64, u64)>,
    /// What went wrong (an error reply, the connection lost), the first few.
    pub problems: Vec<String>,
}

/// What every member did and saw, by name.
#[derive(Debug, Default)]
pub struct Room(Mutex<HashMap<&'static str, Seen>>);

impl Room {
    fn update(&self, name: &'static str, change: impl FnOnce(&mut Seen)) {
        if let Ok(mut seen) = self.0.lock() {
            change(seen.entry(name).or_default());
        }
    }

    fn problem(&self, name: &'static str, what: String) {
        self.update(name, |s| {
            if s.problems.len() < MAX_PROBLEMS {
                s.problems.push(what);
            }
        });
    }

    /// Whether the server confirmed every member's JOIN.
    fn everyone_joined(&self) -> bool {
        let seen = self.seen();
        MEMBERS
            .iter()
            .all(|m| seen.get(m.name).is_some_and(|s| s.joined))
    }

    /// What each member did and saw so far.
    pub fn seen(&self) -> HashMap<&'static str, Seen> {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// Whether `member` received every message published in the room by the scene's
/// members, each once and in each publisher's order, and nothing went wrong for it; the
/// number of those messages it received if so.
pub fn got_everything(seen: &HashMap<&'static str, Seen>, member: &str) -> Option<usize> {
    let mine = seen.get(member)?;
    if !mine.joined || !mine.problems.is_empty() {
        return None;
    }
    let mut total = 0;
    for (publisher, theirs) in seen.iter().filter(|(_, s)| !s.published.is_empty()) {
        let from_them: Vec<&String> = mine
            .received
            .iter()
            .filter(|m| m.split(' ').next() == Some(publisher))
            .collect();
        if from_them.len() != theirs.published.len()
            || from_them
                .iter()
                .zip(&theirs.published)
                .any(|(a, b)| *a != b)
        {
            return None;
        }
        total += from_them.len();
    }
    // Messages from outside the scene (a browser on the chat page) are not its own.
    let from_the_scene = mine
        .received
        .iter()
        .filter(|m| {
            m.split(' ')
                .next()
                .is_some_and(|who| seen.contains_key(who))
        })
        .count();
    (total > 0 && total == from_the_scene).then_some(total)
}

/// What a member heard from the server.
#[derive(Debug, PartialEq, Eq)]
enum Heard {
    /// Its JOIN was confirmed: what follows the group's name (the epoch, the offset and
    /// the recovery's outcome).
    Joined(String),
    /// A message published to the room, with its offset.
    Message(u64, String),
    /// A heartbeat to answer.
    Ping,
    /// An error reply.
    Error(String),
    /// Anything else (broadcasts to the protocol group): ignored.
    Other,
}

impl Wire {
    fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + payload.len());
        out.extend_from_slice(&((payload.len() + 1) as u32).to_be_bytes());
        out.push(opcode);
        out.extend_from_slice(payload);
        out
    }

    /// JOIN of the lobby, from `from` (an epoch and an offset) if given.
    fn join(self, from: Option<&(String, u64)>) -> Vec<u8> {
        let argument = match from {
            Some((epoch, offset)) => format!("{LOBBY} {epoch} {offset}"),
            None => LOBBY.to_owned(),
        };
        match self {
            Wire::Frame => Wire::frame(Frame::JOIN, argument.as_bytes()),
            Wire::Line => format!("JOIN {argument}\n").into_bytes(),
        }
    }

    fn publish(self, text: &str) -> Vec<u8> {
        match self {
            Wire::Frame => {
                let mut payload = vec![LOBBY.len() as u8];
                payload.extend_from_slice(LOBBY.as_bytes());
                payload.extend_from_slice(text.as_bytes());
                Wire::frame(Frame::PUBLISH, &payload)
            }
            Wire::Line => format!("PUB {LOBBY} {text}\n").into_bytes(),
        }
    }

    fn pong(self) -> Vec<u8> {
        match self {
            Wire::Frame => Wire::frame(Frame::PONG, b""),
            Wire::Line => b"PONG\n".to_vec(),
        }
    }

    /// Takes the next complete packet out of `buf`, if there is one; `Err` when the
    /// stream cannot be a stream of this protocol.
    fn next(self, buf: &mut BytesMut) -> Result<Option<Heard>, String> {
        match self {
            Wire::Frame => {
                let Some(len) = buf.get(..4) else {
                    return Ok(None);
                };
                let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
                if len == 0 || len > MAX_BUFFERED {
                    return Err(format!("a frame of {len} bytes"));
                }
                if buf.len() < 4 + len {
                    return Ok(None);
                }
                buf.advance(4);
                let body = buf.split_to(len);
                let payload = &body[1..];
                Ok(Some(match body[0] {
                    Frame::JOINED => {
                        let text = String::from_utf8_lossy(payload);
                        let rest = text.strip_prefix(LOBBY).unwrap_or_default();
                        Heard::Joined(rest.trim_start().to_owned())
                    }
                    Frame::MESSAGE => {
                        let skip = 1 + usize::from(payload.first().copied().unwrap_or(0));
                        let numbered = payload.get(skip..).unwrap_or_default();
                        let (offset, text) = numbered.split_at(numbered.len().min(8));
                        let offset = u64::from_be_bytes(offset.try_into().unwrap_or([0; 8]));
                        Heard::Message(offset, String::from_utf8_lossy(text).into_owned())
                    }
                    Frame::PING => Heard::Ping,
                    Frame::ERROR => Heard::Error(String::from_utf8_lossy(payload).into_owned()),
                    _ => Heard::Other,
                }))
            }
            Wire::Line => {
                let Some(end) = buf.iter().position(|&b| b == b'\n') else {
                    return Ok(None);
                };
                let line = buf.split_to(end + 1);
                let line = String::from_utf8_lossy(&line[..end]).into_owned();
                let prefix = format!("MSG {LOBBY} ");
                let joined = format!("JOINED {LOBBY}");
                Ok(Some(match line.as_str() {
                    "PING" => Heard::Ping,
                    l if l.starts_with(&joined) => {
                        Heard::Joined(l[joined.len()..].trim_start().to_owned())
                    }
                    l if l.starts_with(&prefix) => {
                        let (offset, text) = l[prefix.len()..].split_once(' ').unwrap_or(("", ""));
                        Heard::Message(offset.parse().unwrap_or(0), text.to_owned())
                    }
                    l if l.starts_with("ERR") => Heard::Error(line),
                    _ => Heard::Other,
                }))
            }
        }
    }
}

/// The epoch and offset a JOINED names, and for a recovery JOIN the messages recovered
/// (`Some(None)` when they were lost).
type Stand = ((String, u64), Option<Option<u64>>);

/// Where a JOINED's text (after the group's name) says the lobby stands: its epoch, the
/// offset of the last message before the join, and for a recovery JOIN the number of
/// messages recovered (`None` for a plain JOIN; `Some(None)` when they were lost).
fn stand(text: &str) -> Option<Stand> {
    let words: Vec<&str> = text.split(' ').collect();
    let position = (words.first()?.to_string(), words.get(1)?.parse().ok()?);
    let recovery = match words.get(2..) {
        Some(["RECOVERED", n]) => Some(Some(n.parse().ok()?)),
        Some(["LOST"]) => Some(None),
        Some([]) => None,
        _ => return None,
    };
    Some((position, recovery))
}

/// Plays `member`: joins the lobby, publishes every [`EVERY`] until `until` (if it
/// publishes), answers PINGs and records what it hears until `end`. A returning member
/// drops its connection a third of the way to `until`, stays away for [`AWAY`], and comes
/// back from its position.
pub async fn member(
    addr: SocketAddr,
    names: Names,
    room: std::sync::Arc<Room>,
    member: Member,
    until: Instant,
    end: Instant,
) {
    let name = member.name;
    let mut leave_at = member
        .returns
        .then(|| Instant::now() + until.saturating_duration_since(Instant::now()) / 3);
    let mut s = match connect(addr, name, &names).await {
        Ok(s) => s,
        Err(e) => return room.problem(name, format!("cannot connect: {e}")),
    };
    if let Err(e) = s.write_all(&member.wire.join(None)).await {
        return room.problem(name, format!("JOIN not sent: {e}"));
    }
    let mut buf = BytesMut::with_capacity(4096);
    let mut next_publish = Instant::now();
    let mut sent = 0u64;
    // The offset the member left at, while it is away or coming back.
    let mut left_at: Option<u64> = None;
    loop {
        // Everything complete in the buffer first, then publish, then wait for more.
        loop {
            match member.wire.next(&mut buf) {
                Ok(None) => break,
                Ok(Some(Heard::Joined(text))) => {
                    let Some((position, recovery)) = stand(&text) else {
                        return room.problem(name, format!("JOINED {LOBBY} {text}"));
                    };
                    match (recovery, left_at) {
                        (None, _) => {}
                        (Some(Some(n)), Some(left)) => {
                            room.update(name, |s| s.recovered = Some((left, position.1, n)))
                        }
                        _ => room.problem(name, format!("came back to JOINED {LOBBY} {text}")),
                    }
                    room.update(name, |s| {
                        s.joined = true;
                        s.position = Some(position);
                    });
                }
                Ok(Some(Heard::Message(offset, text))) => room.update(name, |s| {
                    s.received.push(text);
                    if let Some(position) = &mut s.position {
                        position.1 = offset;
                    }
                }),
                Ok(Some(Heard::Ping)) => {
                    if let Err(e) = s.write_all(&member.wire.pong()).await {
                        return room.problem(name, format!("PONG not sent: {e}"));
                    }
                    room.update(name, |s| s.pings += 1);
                }
                Ok(Some(Heard::Error(e))) => room.problem(name, format!("error reply: {e}")),
                Ok(Some(Heard::Other)) => {}
                Err(e) => return room.problem(name, e),
            }
        }
        let now = Instant::now();
        if now >= end {
            return;
        }
        if leave_at.is_some_and(|at| now >= at) {
            // Drops the connection mid-conversation, and comes back from where it was.
            leave_at = None;
            let position = room.seen().get(name).and_then(|s| s.position.clone());
            let Some(position) = position else {
                return room.problem(name, "no position to come back from".to_owned());
            };
            left_at = Some(position.1);
            drop(s);
            buf.clear();
            tokio::time::sleep(AWAY).await;
            s = match connect(addr, name, &names).await {
                Ok(s) => s,
                Err(e) => return room.problem(name, format!("cannot reconnect: {e}")),
            };
            if let Err(e) = s.write_all(&member.wire.join(Some(&position))).await {
                return room.problem(name, format!("JOIN not sent: {e}"));
            }
            continue;
        }
        let publishing = member.publishes && now < until;
        // Publish only once every member is in: each must get every message.
        if publishing && now >= next_publish && !room.everyone_joined() {
            next_publish = now + Duration::from_millis(50);
        } else if publishing && now >= next_publish {
            let text = format!("{name} {sent}");
            room.update(name, |s| s.published.push(text.clone()));
            if let Err(e) = s.write_all(&member.wire.publish(&text)).await {
                return room.problem(name, format!("PUBLISH not sent: {e}"));
            }
            sent += 1;
            next_publish = now + EVERY;
        }
        let wake = match (publishing, leave_at) {
            (true, _) => next_publish.min(end),
            (false, Some(at)) => at.min(end),
            (false, None) => end,
        };
        if buf.len() >= MAX_BUFFERED {
            return room.problem(name, "too much unread input".to_owned());
        }
        // `read_buf` may be cancelled by the timeout without losing bytes.
        match tokio::time::timeout_at(wake, s.read_buf(&mut buf)).await {
            Err(_) => {}
            Ok(Ok(0)) => return room.problem(name, "the server closed the connection".into()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return room.problem(name, format!("read failed: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(joined: bool, published: &[&str], received: &[&str]) -> Seen {
        Seen {
            joined,
            published: published.iter().map(|s| s.to_string()).collect(),
            received: received.iter().map(|s| s.to_string()).collect(),
            ..Seen::default()
        }
    }

    #[test]
    fn a_member_got_everything_only_with_every_message_in_publisher_order() {
        let mut all = HashMap::new();
        all.insert("a", seen(true, &["a 0", "a 1"], &["a 0", "b 0", "a 1"]));
        all.insert("b", seen(true, &["b 0"], &["b 0", "a 1", "a 0"]));
        all.insert("c", seen(true, &[], &["a 0", "a 1"]));
        all.insert("d", seen(false, &[], &["a 0", "b 0", "a 1"]));
        assert_eq!(got_everything(&all, "a"), Some(3));
        assert_eq!(got_everything(&all, "b"), None, "a's messages out of order");
        assert_eq!(got_everything(&all, "c"), None, "b 0 is missing");
        all.insert("e", seen(true, &[], &["a 0", "you: hi", "b 0", "a 1"]));
        assert_eq!(
            got_everything(&all, "e"),
            Some(3),
            "a browser's message aside"
        );
        all.insert("f", seen(true, &[], &["a 0", "b 0", "a 1", "a 1"]));
        assert_eq!(got_everything(&all, "f"), None, "a 1 twice");
        assert_eq!(got_everything(&all, "d"), None, "never joined");
        assert_eq!(got_everything(&all, "nobody"), None);
    }

    #[test]
    fn joined_says_where_the_lobby_stands() {
        assert_eq!(stand("e-1 0"), Some((("e-1".into(), 0), None)));
        assert_eq!(
            stand("e-1 9 RECOVERED 3"),
            Some((("e-1".into(), 9), Some(Some(3))))
        );
        assert_eq!(stand("e-1 9 LOST"), Some((("e-1".into(), 9), Some(None))));
        for bad in ["", "e-1", "e-1 x", "e-1 9 RECOVERED", "e-1 9 MAYBE"] {
            assert_eq!(stand(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn both_wires_parse_what_the_server_sends_a_member() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&Wire::frame(Frame::JOINED, b"lobby e-1 0"));
        buf.extend_from_slice(&Wire::frame(
            Frame::MESSAGE,
            b"\x05lobby\x00\x00\x00\x00\x00\x00\x00\x07hi there",
        ));
        buf.extend_from_slice(&Wire::frame(Frame::PING, b""));
        buf.extend_from_slice(&Wire::frame(Frame::BROADCAST, b"x"));
        buf.extend_from_slice(&[0, 0, 0]);
        let w = Wire::Frame;
        assert_eq!(w.next(&mut buf), Ok(Some(Heard::Joined("e-1 0".into()))));
        assert_eq!(
            w.next(&mut buf),
            Ok(Some(Heard::Message(7, "hi there".into())))
        );
        assert_eq!(w.next(&mut buf), Ok(Some(Heard::Ping)));
        assert_eq!(w.next(&mut buf), Ok(Some(Heard::Other)));
        assert_eq!(w.next(&mut buf), Ok(None), "an incomplete header waits");

        let mut buf = BytesMut::from(
            &b"JOINED lobby e-1 4 RECOVERED 2\nMSG lobby 3 a 1\nPING\nERR no\nBCAST x\nMSG"[..],
        );
        let w = Wire::Line;
        assert_eq!(
            w.next(&mut buf),
            Ok(Some(Heard::Joined("e-1 4 RECOVERED 2".into())))
        );
        assert_eq!(w.next(&mut buf), Ok(Some(Heard::Message(3, "a 1".into()))));
        assert_eq!(w.next(&mut buf), Ok(Some(Heard::Ping)));
        assert_eq!(w.next(&mut buf), Ok(Some(Heard::Error("ERR no".into()))));
        assert_eq!(w.next(&mut buf), Ok(Some(Heard::Other)));
        assert_eq!(w.next(&mut buf), Ok(None), "an incomplete line waits");
    }
}
