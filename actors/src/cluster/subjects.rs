//! How a cluster names its NATS subjects and wraps its messages.
//!
//! Subjects, under a prefix (`switchboard` by default):
//! - `PREFIX.group.TOKEN`: messages published to a named group;
//! - `PREFIX.broadcast.TOKEN`: packets broadcast to a protocol group;
//! - `PREFIX.stats`: stats requests, answered by every node.
//!
//! A group name made only of `A-Z a-z 0-9 _ -` is its own token; any other name (one
//! with a `.`, which NATS reads as a token separator, say) is `%` followed by its bytes
//! in hex, which no plain name can collide with.
//!
//! A NATS message carries one or more messages of one subject, in order, after the name
//! of the node that sent them (so a node can ignore its own):
//! `node_len:u8 | node | (len:u32 big-endian | body)*`.

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
