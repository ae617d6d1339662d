//! [`Command::from_line`]: a `line` request as a command, by its first word.
//!
//! A line is a word, then optionally one space and the argument. Error reasons quote at
//! most [`MAX_QUOTED`] bytes of what the client sent.

use super::group::group_name;
use super::join::join_command;
use super::user::user_name;
use super::Command;
use crate::secret::Secret;
use bytes::Bytes;

/// At most this many bytes of client text are quoted in an error reason.
pub const MAX_QUOTED: usize = 64;

impl Command {
    /// The command a line asks for (line ending excluded), or the reason of its error
    /// packet: an unknown word, an argument where none is taken or none where one is, a
    /// group name that breaks the rule.
    pub fn from_line(line: &str) -> Result<Command, String> {
        let (word, argument) = match line.split_once(' ') {
            Some((word, argument)) => (word, Some(argument)),
            None => (line, None),
        };
        match (word, argument) {
            ("ECHO", _) => Ok(Command::Echo),
            ("BCAST", _) => Ok(Command::Broadcast),
            ("PING", None) => Ok(Command::Ping(Bytes::new())),
            // The answer to the server's PING, whatever follows it: never an error.
            ("PONG", _) => Ok(Command::Pong),
            ("STATS", None) => Ok(Command::Stats),
            ("CSTATS", None) => Ok(Command::ClusterStats),
            ("PING" | "STATS" | "CSTATS", Some(_)) => Err(format!("{word} takes no argument")),
            ("JOIN", Some(argument)) => join_command(argument.as_bytes()),
            ("LEAVE", Some(name)) => Ok(Command::Leave(group_name(name.as_bytes())?)),
            ("PUB", Some(argument)) => {
                // `PUB <name>` alone publishes an empty message.
                let (name, text) = argument.split_once(' ').unwrap_or((argument, ""));
                Ok(Command::Publish {
                    group: group_name(name.as_bytes())?,
                    message: Bytes::copy_from_slice(text.as_bytes()),
                })
            }
            // A bare AUTH has an empty token: refused by AUTH, not by the parser.
            ("AUTH", token) => Ok(Command::Auth(Secret::new(
                token.unwrap_or_default().to_owned(),
            ))),
            ("KICK", Some(name)) => Ok(Command::Kick(user_name(name.as_bytes())?)),
            ("KICK", None) => Err("KICK takes a user name".to_owned()),
            ("JOIN" | "LEAVE", None) => Err(format!("{word} takes a group name")),
            ("PUB", None) => Err("PUB takes a group name".to_owned()),
            _ => Err(unknown_command(line)),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard::GroupName;

    #[test]
    fn every_command_is_parsed() {
        let lobby = GroupName::from("lobby");
        let publish = |message: &'static [u8]| Command::Publish {
            group: lobby.clone(),
            message: Bytes::from_static(message),
        };
        let cases = [
            ("ECHO", Command::Echo),
            ("ECHO ", Command::Echo),
            ("ECHO hello world", Command::Echo),
            ("BCAST", Command::Broadcast),
            ("BCAST hi", Command::Broadcast),
            ("PING", Command::Ping(Bytes::new())),
            ("PONG", Command::Pong),
            ("STATS", Command::Stats),
            ("CSTATS", Command::ClusterStats),
            ("JOIN lobby", Command::Join(lobby.clone())),
            ("LEAVE lobby", Command::Leave(lobby.clone())),
            ("PUB lobby hello there", publish(b"hello there")),
            ("PUB lobby ", publish(b"")),
            ("PUB lobby", publish(b"")),
            ("PONG x", Command::Pong),
            ("PONG ", Command::Pong),
            ("PUB lobby  two", publish(b" two")),
            ("AUTH s3cr3t", Command::Auth(Secret::new("s3cr3t"))),
            ("AUTH a b", Command::Auth(Secret::new("a b"))),
            ("AUTH ", Command::Auth(Secret::default())),
            ("AUTH", Command::Auth(Secret::default())),
            ("KICK alice", Command::Kick("alice".to_owned())),
        ];
        for (line, command) in cases {
            assert_eq!(Command::from_line(line), Ok(command), "{line:?}");
        }
    }

    #[test]
    fn every_malformed_line_has_its_reason() {
        let cases = [
            ("", "unknown command (empty)"),
            (" PING", "unknown command (empty)"),
            ("echo hi", "unknown command \"echo\""),
            ("ECHOX", "unknown command \"ECHOX\""),
            ("ERR x", "unknown command \"ERR\""),
            ("REPLICATE x", "unknown command \"REPLICATE\""),
            ("PING x", "PING takes no argument"),
            ("PING ", "PING takes no argument"),
            ("STATS now", "STATS takes no argument"),
            ("CSTATS now", "CSTATS takes no argument"),
            ("JOIN", "JOIN takes a group name"),
            ("LEAVE", "LEAVE takes a group name"),
            ("JOIN ", "bad group name (empty)"),
            ("JOIN a b", "bad group name \"a b\""),
            ("JOIN caf\u{e9}", "bad group name \"caf\\xc3\\xa9\""),
            ("LEAVE a/b", "bad group name \"a/b\""),
            ("PUB", "PUB takes a group name"),
            ("PUB ", "bad group name (empty)"),
            ("PUB bad!name text", "bad group name \"bad!name\""),
            ("KICK", "KICK takes a user name"),
            ("KICK ", "bad user name (empty)"),
            ("KICK a b", "bad user name \"a b\""),
            ("AUTHED alice", "unknown command \"AUTHED\""),
            ("KICKED alice 1", "unknown command \"KICKED\""),
        ];
        for (line, reason) in cases {
            assert_eq!(Command::from_line(line), Err(reason.to_owned()), "{line:?}");
        }
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
        assert_eq!(Command::from_line(&long), Err(reason));
    }
}
