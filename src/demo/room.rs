//! The demo's room scene: members of the named group `lobby` on both protocols.
//!
//! A `frame` member and a `line` member each PUBLISH (`0x0E` / `PUB`) a numbered message
//! now and then; a third member, on `line`, only listens. Every member answers the
//! server's heartbeat PINGs with PONG, so the listener, which never sends anything
//! else, is never idle. What each member published and received is recorded in a
//! [`Room`], which the summary judges: every member got every message, in each
//! publisher's order.

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
}

/// The scene's members.
pub const MEMBERS: [Member; 3] = [
    Member {
        name: "room-frame",
        wire: Wire::Frame,
        publishes: true,
    },
    Member {
        name: "room-line",
        wire: Wire::Line,
        publishes: true,
    },
    Member {
        name: "room-listener",
        wire: Wire::Line,
        publishes: false,
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
    /// Its JOIN was confirmed.
    Joined,
    /// A message published to the room.
    Message(String),
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

    fn join(self) -> Vec<u8> {
        match self {
            Wire::Frame => Wire::frame(Frame::JOIN, LOBBY.as_bytes()),
            Wire::Line => format!("JOIN {LOBBY}\n").into_bytes(),
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
                    Frame::JOINED => Heard::Joined,
                    Frame::MESSAGE => {
                        let skip = 1 + usize::from(payload.first().copied().unwrap_or(0));
                        let text = payload.get(skip..).unwrap_or_default();
                        Heard::Message(String::from_utf8_lossy(text).into_owned())
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
                Ok(Some(match line.as_str() {
                    "PING" => Heard::Ping,
                    l if l == format!("JOINED {LOBBY}") => Heard::Joined,
                    l if l.starts_with(&prefix) => Heard::Message(l[prefix.len()..].to_owned()),
                    l if l.starts_with("ERR") => Heard::Error(line),
                    _ => Heard::Other,
                }))
            }
        }
    }
}

/// Plays `member`: joins the lobby, publishes every [`EVERY`] until `until` (if it
/// publishes), answers PINGs and records what it hears until `end`.
pub async fn member(
    addr: SocketAddr,
    names: Names,
    room: std::sync::Arc<Room>,
    member: Member,
    until: Instant,
    end: Instant,
) {
    let name = member.name;
    let mut s = match connect(addr, name, &names).await {
        Ok(s) => s,
        Err(e) => return room.problem(name, format!("cannot connect: {e}")),
    };
    if let Err(e) = s.write_all(&member.wire.join()).await {
        return room.problem(name, format!("JOIN not sent: {e}"));
    }
    let mut buf = BytesMut::with_capacity(4096);
    let mut next_publish = Instant::now();
    let mut sent = 0u64;
    loop {
        // Everything complete in the buffer first, then publish, then wait for more.
        loop {
            match member.wire.next(&mut buf) {
                Ok(None) => break,
                Ok(Some(Heard::Joined)) => room.update(name, |s| s.joined = true),
                Ok(Some(Heard::Message(text))) => room.update(name, |s| s.received.push(text)),
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
        let wake = if publishing {
            next_publish.min(end)
        } else {
            end
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
    fn both_wires_parse_what_the_server_sends_a_member() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&Wire::frame(Frame::JOINED, b"lobby"));
        buf.extend_from_slice(&Wire::frame(Frame::MESSAGE, b"\x05lobbyhi there"));
        buf.extend_from_slice(&Wire::frame(Frame::PING, b""));
        buf.extend_from_slice(&Wire::frame(Frame::BROADCAST, b"x"));
        buf.extend_from_slice(&[0, 0, 0]);
        let w = Wire::Frame;
        assert_eq!(w.next(&mut buf), Ok(Some(Heard::Joined)));
        assert_eq!(
            w.next(&mut buf),
            Ok(Some(Heard::Message("hi there".into())))
        );
        assert_eq!(w.next(&mut buf), Ok(Some(Heard::Ping)));
        assert_eq!(w.next(&mut buf), Ok(Some(Heard::Other)));
        assert_eq!(w.next(&mut buf), Ok(None), "an incomplete header waits");

        let mut buf =
            BytesMut::from(&b"JOINED lobby\nMSG lobby a 1\nPING\nERR no\nBCAST x\nMSG"[..]);
        let w = Wire::Line;
        assert_eq!(w.next(&mut buf), Ok(Some(Heard::Joined)));
        assert_eq!(w.next(&mut buf), Ok(Some(Heard::Message("a 1".into()))));
        assert_eq!(w.next(&mut buf), Ok(Some(Heard::Ping)));
        assert_eq!(w.next(&mut buf), Ok(Some(Heard::Error("ERR no".into()))));
        assert_eq!(w.next(&mut buf), Ok(Some(Heard::Other)));
        assert_eq!(w.next(&mut buf), Ok(None), "an incomplete line waits");
    }
}
