//! [`Command::from_frame`]: a `frame` request as a command, by its opcode.

use super::group::group_name;
use super::join::join_command;
use super::user::user_name;
use super::Command;
use crate::protocols::frame::Frame;
use crate::secret::Secret;
use bytes::Bytes;
use switchboard::GroupName;

impl Command {
    /// The command a frame asks for, or the reason of its error packet: an opcode that
    /// is not a client's request, a group name that breaks the rule, a PUBLISH payload
    /// whose `name_len` does not fit. Payloads are shared, not copied.
    pub fn from_frame(frame: &Frame) -> Result<Command, String> {
        let payload = &frame.payload;
        match frame.opcode {
            Frame::ECHO => Ok(Command::Echo),
            Frame::BROADCAST => Ok(Command::Broadcast),
            Frame::PING => Ok(Command::Ping(payload.clone())),
            Frame::PONG => Ok(Command::Pong),
            Frame::STATS => Ok(Command::Stats),
            Frame::CLUSTER_STATS => Ok(Command::ClusterStats),
            Frame::REPLICATE => Ok(Command::Replicate(payload.clone())),
            Frame::JOIN => join_command(payload),
            Frame::LEAVE => Ok(Command::Leave(group_name(payload)?)),
            Frame::PUBLISH => {
                let (group, message) = split_publish(payload)?;
                Ok(Command::Publish { group, message })
            }
            // Any payload is a token: a wrong one is refused by AUTH, not by the parser.
            Frame::AUTH => Ok(Command::Auth(Secret::new(payload.clone()))),
            Frame::KICK => Ok(Command::Kick(user_name(payload)?)),
            other => Err(format!("unknown opcode 0x{other:02x}")),
        }
    }
}

/// Splits a PUBLISH payload (`name_len:u8 | name | message`) into its group name and
/// message (sharing the payload's memory), or the error reason.
pub fn split_publish(payload: &Bytes) -> Result<(GroupName, Bytes), String> {
    let Some((&name_len, rest)) = payload.split_first() else {
        return Err("PUBLISH without name_len".to_owned());
    };
    let name_len = usize::from(name_len);
    if name_len == 0 || name_len > rest.len() {
        return Err(format!(
            "bad name_len {name_len} for {} bytes after it",
            rest.len()
        ));
    }
    let name = group_name(&rest[..name_len])?;
    Ok((name, payload.slice(1 + name_len..)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(opcode: u8, payload: &[u8]) -> Result<Command, String> {
        Command::from_frame(&Frame::new(opcode, Bytes::copy_from_slice(payload)))
    }

    #[test]
    fn every_request_opcode_is_a_command() {
        let lobby = GroupName::from("lobby");
        let cases = [
            (Frame::ECHO, &b"e"[..], Command::Echo),
            (Frame::BROADCAST, b"b", Command::Broadcast),
            (Frame::PING, b"p", Command::Ping(Bytes::from_static(b"p"))),
            (Frame::PING, b"", Command::Ping(Bytes::new())),
            (Frame::PONG, b"anything", Command::Pong),
            (Frame::STATS, b"", Command::Stats),
            (Frame::STATS, b"ignored", Command::Stats),
            (Frame::CLUSTER_STATS, b"ignored", Command::ClusterStats),
            (
                Frame::REPLICATE,
                b"r",
                Command::Replicate(Bytes::from_static(b"r")),
            ),
            (Frame::JOIN, b"lobby", Command::Join(lobby.clone())),
            (Frame::LEAVE, b"lobby", Command::Leave(lobby.clone())),
            (
                Frame::PUBLISH,
                b"\x05lobbyhi",
                Command::Publish {
                    group: lobby.clone(),
                    message: Bytes::from_static(b"hi"),
                },
            ),
            (
                Frame::PUBLISH,
                b"\x05lobby",
                Command::Publish {
                    group: lobby,
                    message: Bytes::new(),
                },
            ),
            (Frame::AUTH, b"tok en", Command::Auth(Secret::new("tok en"))),
            (Frame::AUTH, b"", Command::Auth(Secret::default())),
            (
                Frame::AUTH,
                b"\xff",
                Command::Auth(Secret::new(&b"\xff"[..])),
            ),
            (Frame::KICK, b"alice", Command::Kick("alice".to_owned())),
        ];
        for (opcode, payload, command) in cases {
            assert_eq!(parse(opcode, payload), Ok(command), "opcode {opcode:#x}");
        }
    }

    #[test]
    fn published_message_shares_the_payload() {
        let frame = Frame::new(Frame::PUBLISH, &b"\x01gmessage"[..]);
        let Ok(Command::Publish { message, .. }) = Command::from_frame(&frame) else {
            panic!("a publish");
        };
        assert_eq!(message.as_ptr(), frame.payload[2..].as_ptr());
    }

    #[test]
    fn every_malformed_frame_has_its_reason() {
        let mut long = vec![65u8];
        long.extend([b'a'; 65]);
        let cases: [(u8, &[u8], &str); 19] = [
            (0x00, b"", "unknown opcode 0x00"),
            (Frame::STATS_REPLY, b"", "unknown opcode 0x06"),
            (0x07, b"", "unknown opcode 0x07"),
            (Frame::REPLICATE_REPLY, b"", "unknown opcode 0x09"),
            (Frame::JOINED, b"lobby", "unknown opcode 0x0b"),
            (Frame::MESSAGE, b"\x01ax", "unknown opcode 0x0f"),
            (Frame::ERROR, b"x", "unknown opcode 0x7f"),
            (Frame::AUTHED, b"alice", "unknown opcode 0x13"),
            (Frame::KICKED, b"alice 1", "unknown opcode 0x15"),
            (Frame::KICK, b"", "bad user name (empty)"),
            (Frame::KICK, b"a b", "bad user name \"a b\""),
            (Frame::KICK, b"\xffx", "bad user name \"\\xffx\""),
            (0xFF, b"", "unknown opcode 0xff"),
            (Frame::JOIN, b"", "bad group name (empty)"),
            (Frame::LEAVE, b"x/y", "bad group name \"x/y\""),
            (Frame::PUBLISH, b"", "PUBLISH without name_len"),
            (
                Frame::PUBLISH,
                b"\x00lobby",
                "bad name_len 0 for 5 bytes after it",
            ),
            (
                Frame::PUBLISH,
                b"\x06lobby",
                "bad name_len 6 for 5 bytes after it",
            ),
            (Frame::PUBLISH, b"\x03a!bmessage", "bad group name \"a!b\""),
        ];
        for (opcode, payload, reason) in cases {
            assert_eq!(
                parse(opcode, payload),
                Err(reason.to_owned()),
                "{payload:?}"
            );
        }
        let reason = parse(Frame::PUBLISH, &long).unwrap_err();
        assert_eq!(reason, format!("bad group name \"{}\"...", "a".repeat(64)));
    }
}
