//! One run of group messages as the members of one protocol get it: encoded once, on
//! the first member that needs it, and framed once per WebSocket framing among them.
//!
//! Both fan-outs use it, the plain one and the numbered one of history groups, so a
//! WebSocket member gets every group message as one message of its framing whichever
//! path it took.

use super::{group_packets, group_run, GroupRun};
use crate::websocket::Framing;
use std::sync::Arc;

/// A run's packets for the members of one protocol, made as they are asked for.
#[derive(Default)]
pub(super) struct Encodings {
    /// The run in the protocol's encoding, once a member asked for it.
    encoded: Option<Arc<GroupRun>>,
    /// The encoded run framed as WebSocket messages, one per framing asked for.
    framed: Vec<(Framing, Arc<GroupRun>)>,
}

impl Encodings {
    /// The run for a member with `framing` (`None` on a stream): what `encode` makes,
    /// called at most once, framed as one WebSocket message per packet for a
    /// WebSocket member.
    pub fn for_member(
        &mut self,
        framing: Option<Framing>,
        encode: impl FnOnce() -> GroupRun,
    ) -> Arc<GroupRun> {
        let encoded = self
            .encoded
            .get_or_insert_with(|| Arc::new(encode()))
            .clone();
        let Some(framing) = framing else {
            return encoded;
        };
        if let Some((_, run)) = self.framed.iter().find(|(f, _)| *f == framing) {
            return run.clone();
        }
        let run = Arc::new(frame_run(framing, &encoded));
        self.framed.push((framing, run.clone()));
        run
    }
}

/// `run` framed as WebSocket messages by `framing`: a message that could not be
/// encoded, or cannot be one message, is a send failure.
fn frame_run(framing: Framing, run: &GroupRun) -> GroupRun {
    let framed = group_packets(run).map(|packet| match packet {
        Ok(packet) => framing.frame(&packet),
        Err(crate::SendError::Encode(reason)) => Err(reason),
        Err(other) => Err(other.to_string()),
    });
    group_run(framed.collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::{MessageKind, PacketMapping};
    use bytes::Bytes;

    fn texts(run: &GroupRun) -> Vec<Result<Bytes, String>> {
        group_packets(run)
            .map(|p| p.map_err(|e| e.to_string()))
            .collect()
    }

    #[test]
    fn encoded_once_and_framed_once_per_framing() {
        let line = Framing {
            kind: MessageKind::Text,
            mapping: PacketMapping::Line,
        };
        let verbatim = Framing {
            kind: MessageKind::Binary,
            mapping: PacketMapping::Verbatim,
        };
        let mut encodings = Encodings::default();
        let mut calls = 0;
        let mut encode = || {
            calls += 1;
            group_run(vec![
                Ok(Bytes::from_static(b"a\n")),
                Ok(Bytes::from_static(b"b")),
            ])
        };
        let stream = encodings.for_member(None, &mut encode);
        let text = encodings.for_member(Some(line), &mut encode);
        let again = encodings.for_member(Some(line), &mut encode);
        let binary = encodings.for_member(Some(verbatim), &mut encode);
        assert_eq!(calls, 1);
        assert!(Arc::ptr_eq(&text, &again));
        assert_eq!(
            texts(&stream),
            [Ok(Bytes::from_static(b"a\n")), Ok(Bytes::from_static(b"b"))]
        );
        // A text frame (0x81) of the line without its ending; a packet that is not
        // one line cannot be one message.
        let framed = texts(&text);
        assert_eq!(framed[0], Ok(Bytes::from_static(b"\x81\x01a")));
        assert!(framed[1].is_err());
        assert_eq!(
            texts(&binary),
            [
                Ok(Bytes::from_static(b"\x82\x02a\n")),
                Ok(Bytes::from_static(b"\x82\x01b"))
            ]
        );
    }
}
