//! How a cluster names its NATS subjects and wraps its messages.
//!
//! Subjects, under a prefix (`switchboard` by default):
//! - `PREFIX.group.TOKEN`: messages published to a named group;
//! - `PREFIX.broadcast.TOKEN`: packets broadcast to a protocol group;
//! - `PREFIX.stats`: stats requests, answered by every node;
//! - `PREFIX.conn.NODE`: requests to send to one connection of node `NODE` (its name as
//!   a token), answered by that node alone.
//!
//! A group name made only of `A-Z a-z 0-9 _ -` is its own token; any other name (one
//! with a `.`, which NATS reads as a token separator, say) is `%` followed by its bytes
//! in hex, which no plain name can collide with.
//!
//! A NATS message carries one or more messages of one subject, in order, after the name
//! of the node that sent them (so a node can ignore its own):
//! `node_len:u8 | node | (len:u32 big-endian | body)*`.
//!
//! A request to send to one connection is `id:u64 big-endian | packet`: the connection's
//! id on the answering node, then the packet already in the wire format of the
//! connection's protocol (framing included). The answer is one status byte, then what
//! that status carries (integers big-endian):
//!
//! | byte | meaning                                  | then                                      |
//! |------|------------------------------------------|-------------------------------------------|
//! | 0    | handed to the connection's queue         |                                           |
//! | 1    | no connection has that id               |                                           |
//! | 2    | the connection is closing                |                                           |
//! | 3    | over a byte budget                       | `queued:u64 packet:u64 limit:u64`         |
//! | 4    | empty packet                             |                                           |
//! | 5    | the connection actor or server stopped   |                                           |
//! | 6    | not encodable                            | the reason, UTF-8                         |
//! | 7    | the request is not `id | packet`         |                                           |
//! | 255  | another refusal                          | its text, UTF-8                           |
//!
//! An answer the asking node cannot read (a status it does not know, from a newer
//! version say) is [`SendError::Unreachable`] naming it.

use crate::{ConnId, SendError};
use bytes::{BufMut, Bytes, BytesMut};

/// The default subject prefix.
pub const DEFAULT_PREFIX: &str = "switchboard";

/// The longest node name a message can carry.
pub const MAX_NODE_LEN: usize = 255;

/// A subject token for `name`.
pub fn token(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        return name.to_owned();
    }
    let mut out = String::with_capacity(1 + 2 * name.len());
    out.push('%');
    for b in name.bytes() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The subject of the named group `group`.
pub fn group_subject(prefix: &str, group: &str) -> String {
    format!("{prefix}.group.{}", token(group))
}

/// The subject of broadcasts to the group of `protocol`.
pub fn broadcast_subject(prefix: &str, protocol: &str) -> String {
    format!("{prefix}.broadcast.{}", token(protocol))
}

/// The subject stats requests go to.
pub fn stats_subject(prefix: &str) -> String {
    format!("{prefix}.stats")
}

/// The subject on which node `node` takes sends to its connections.
pub fn conn_subject(prefix: &str, node: &str) -> String {
    format!("{prefix}.conn.{}", token(node))
}

/// The request to send `packet` to connection `id`: `id:u64 | packet`.
pub fn send_request(id: ConnId, packet: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(8 + packet.len());
    out.put_u64(id);
    out.put_slice(packet);
    out.freeze()
}

/// The connection id and the packet of a send request, or `None` if it is shorter than
/// an id.
pub fn parse_send_request(request: &Bytes) -> Option<(ConnId, Bytes)> {
    let id = request.get(..8)?;
    let id = u64::from_be_bytes(id.try_into().ok()?);
    Some((id, request.slice(8..)))
}

/// The answer that carries `outcome` back to the asking node.
pub fn send_answer(outcome: &Result<(), SendError>) -> Bytes {
    let mut out = BytesMut::with_capacity(25);
    match outcome {
        Ok(()) => out.put_u8(0),
        Err(SendError::UnknownConnection(_)) => out.put_u8(1),
        Err(SendError::Closing) => out.put_u8(2),
        Err(SendError::OverBudget {
            queued,
            packet,
            limit,
        }) => {
            out.put_u8(3);
            for n in [queued, packet, limit] {
                out.put_u64(u64::try_from(*n).unwrap_or(u64::MAX));
            }
        }
        Err(SendError::Empty) => out.put_u8(4),
        Err(SendError::Stopped) => out.put_u8(5),
        Err(SendError::Encode(reason)) => {
            out.put_u8(6);
            out.put_slice(reason.as_bytes());
        }
        Err(other) => {
            out.put_u8(255);
            out.put_slice(other.to_string().as_bytes());
        }
    }
    out.freeze()
}

/// The answer to a request that is not `id | packet`.
pub fn malformed_answer() -> Bytes {
    Bytes::from_static(&[7])
}

/// The outcome an answer from node `node` carries, for a send to its connection `id`.
pub fn parse_send_answer(node: &str, id: ConnId, answer: &[u8]) -> Result<(), SendError> {
    let unreadable = || SendError::Unreachable {
        node: node.to_owned(),
        reason: format!("unreadable answer ({} bytes)", answer.len()),
    };
    let text = |rest: &[u8]| String::from_utf8_lossy(rest).into_owned();
    let (&status, rest) = answer.split_first().ok_or_else(unreadable)?;
    match (status, rest.len()) {
        (0, 0) => Ok(()),
        (1, 0) => Err(SendError::UnknownConnection(id)),
        (2, 0) => Err(SendError::Closing),
        (3, 24) => {
            let n = |at: usize| {
                let bytes: [u8; 8] = rest[at..at + 8].try_into().unwrap_or_default();
                usize::try_from(u64::from_be_bytes(bytes)).unwrap_or(usize::MAX)
            };
            Err(SendError::OverBudget {
                queued: n(0),
                packet: n(8),
                limit: n(16),
            })
        }
        (4, 0) => Err(SendError::Empty),
        (5, 0) => Err(SendError::Stopped),
        (6, _) => Err(SendError::Encode(text(rest))),
        (7, 0) => Err(SendError::Unreachable {
            node: node.to_owned(),
            reason: "it could not read the request".to_owned(),
        }),
        (255, _) => Err(SendError::Unreachable {
            node: node.to_owned(),
            reason: format!("refused: {}", text(rest)),
        }),
        _ => Err(unreadable()),
    }
}

/// `bodies` wrapped with the sender's node name (at most [`MAX_NODE_LEN`] bytes; longer
/// names are cut, which the link's constructor prevents).
pub fn wrap(node: &str, bodies: &[Bytes]) -> Bytes {
    let node = &node.as_bytes()[..node.len().min(MAX_NODE_LEN)];
    let size: usize = bodies.iter().map(|b| 4 + b.len()).sum();
    let mut out = BytesMut::with_capacity(1 + node.len() + size);
    out.put_u8(node.len() as u8);
    out.put_slice(node);
    for body in bodies {
        out.put_u32(u32::try_from(body.len()).unwrap_or(u32::MAX));
        out.put_slice(body);
    }
    out.freeze()
}

/// The sender's node name and the bodies of a wrapped message, or `None` if it is not
/// one.
pub fn unwrap(message: &Bytes) -> Option<(&str, Vec<Bytes>)> {
    let len = usize::from(*message.first()?);
    let node = message.get(1..1 + len)?;
    let node = std::str::from_utf8(node).ok()?;
    let mut at = 1 + len;
    let mut bodies = Vec::new();
    while at < message.len() {
        let size = message.get(at..at + 4)?;
        let size = u32::from_be_bytes([size[0], size[1], size[2], size[3]]) as usize;
        let end = (at + 4).checked_add(size)?;
        if end > message.len() {
            return None;
        }
        bodies.push(message.slice(at + 4..end));
        at = end;
    }
    Some((node, bodies))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_their_own_token_others_are_hex() {
        assert_eq!(group_subject("sb", "lobby-1_A"), "sb.group.lobby-1_A");
        assert_eq!(group_subject("sb", "a.b"), "sb.group.%612e62");
        assert_eq!(token("*"), "%2a");
        assert_eq!(token(">"), "%3e");
        assert_eq!(token(""), "%");
        assert_ne!(token("612e62"), token("a.b"));
        assert_eq!(broadcast_subject("sb", "frame"), "sb.broadcast.frame");
        assert_eq!(stats_subject("sb"), "sb.stats");
        assert_eq!(conn_subject("sb", "node-1"), "sb.conn.node-1");
        assert_eq!(conn_subject("sb", "a.*"), "sb.conn.%612e2a");
    }

    #[test]
    fn send_requests_carry_the_id_then_the_packet() {
        let request = send_request(0x0102_0304_0506_0708, b"hi\n");
        assert_eq!(&request[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        let (id, packet) = parse_send_request(&request).unwrap();
        assert_eq!((id, &packet[..]), (0x0102_0304_0506_0708, &b"hi\n"[..]));
        let (_, empty) = parse_send_request(&send_request(9, b"")).unwrap();
        assert!(empty.is_empty());
        assert!(parse_send_request(&Bytes::from_static(&[0; 7])).is_none());
    }

    #[test]
    fn send_answers_carry_each_refusal_back() {
        let outcomes = [
            Ok(()),
            Err(SendError::UnknownConnection(42)),
            Err(SendError::Closing),
            Err(SendError::OverBudget {
                queued: 10,
                packet: 20,
                limit: 25,
            }),
            Err(SendError::Empty),
            Err(SendError::Stopped),
            Err(SendError::Encode("bad".to_owned())),
        ];
        for outcome in outcomes {
            let answer = send_answer(&outcome);
            assert_eq!(parse_send_answer("b", 42, &answer), outcome);
        }
        assert_eq!(&send_answer(&Ok(()))[..], &[0]);
        assert_eq!(&send_answer(&Err(SendError::Closing))[..], &[2]);
        let other = send_answer(&Err(SendError::WrongProtocol {
            protocol: "talk",
            given: "u32",
        }));
        assert_eq!(other[0], 255);
        let unreachable = |reason: &str| {
            Err(SendError::Unreachable {
                node: "b".to_owned(),
                reason: reason.to_owned(),
            })
        };
        assert_eq!(
            parse_send_answer("b", 1, &other),
            unreachable("refused: connection speaks talk, whose responses are not u32")
        );
        assert_eq!(
            parse_send_answer("b", 1, &malformed_answer()),
            unreachable("it could not read the request")
        );
        assert_eq!(
            parse_send_answer("b", 1, &[]),
            unreachable("unreadable answer (0 bytes)")
        );
        assert_eq!(
            parse_send_answer("b", 1, &[9]),
            unreachable("unreadable answer (1 bytes)")
        );
        assert_eq!(
            parse_send_answer("b", 1, &[3, 0]),
            unreachable("unreadable answer (2 bytes)")
        );
        assert_eq!(
            parse_send_answer("b", 1, &[0, 0]),
            unreachable("unreadable answer (2 bytes)")
        );
    }

    #[test]
    fn wrapped_messages_carry_their_node_and_bodies_in_order() {
        let bodies = [
            Bytes::from_static(b"hello"),
            Bytes::new(),
            Bytes::from_static(b"world"),
        ];
        let m = wrap("node-a", &bodies);
        let (node, got) = unwrap(&m).unwrap();
        assert_eq!(node, "node-a");
        assert_eq!(got, bodies);
        assert_eq!(unwrap(&wrap("n", &[])).unwrap().1, Vec::<Bytes>::new());
        assert!(unwrap(&Bytes::new()).is_none());
        assert!(unwrap(&Bytes::from_static(&[5, b'a'])).is_none());
        assert!(unwrap(&Bytes::from_static(&[1, 0xff])).is_none());
        // A body running past the end, or a cut length.
        assert!(unwrap(&Bytes::from_static(&[1, b'n', 0, 0, 0, 9, b'x'])).is_none());
        assert!(unwrap(&Bytes::from_static(&[1, b'n', 0, 0])).is_none());
    }
}
