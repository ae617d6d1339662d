//! The fan-out of numbered runs of history groups: each run encoded once per protocol
//! present among its members, every message with its offset.

use super::{group_run, ConnId, Encodings, GroupRun, HashMap, Registry};
use crate::history::SeqRun;
use std::sync::Arc;

/// A numbered run of one history group for one member: the run as its sequencer
/// numbered it (group, epoch, first offset, publishers), and its messages encoded for
/// the member's protocol, shared by that protocol's members on the hub's thread.
#[derive(Clone)]
pub(crate) struct NumberedShare {
    /// The run.
    pub run: Arc<SeqRun>,
    /// Its messages in the member's protocol, each with its offset.
    pub packets: Arc<GroupRun>,
}

/// One member's share of a numbered fan-out: its runs, in order.
pub(crate) type NumberedShares<'a, T> = (ConnId, &'a T, Vec<NumberedShare>);

impl<T> Registry<T> {
    /// Fans numbered `runs` out to the members of their groups, the publishers too (a
    /// publisher gets its own message back in the group's order): each run is encoded
    /// once per protocol of its group, with [`GroupEncoder::encode_at`](crate::GroupEncoder::encode_at),
    /// and framed once per WebSocket framing among its members.
    pub fn fan_out_numbered(&self, runs: &[Arc<SeqRun>]) -> Vec<NumberedShares<'_, T>> {
        let mut out: HashMap<ConnId, NumberedShares<'_, T>> = HashMap::new();
        for run in runs {
            let Some((name, room)) = self.rooms.get_key_value(&run.group) else {
                continue;
            };
            for members in room.values() {
                let mut encodings = Encodings::default();
                for &id in members {
                    let Some(joined) = self.joined.get(&id) else {
                        continue;
                    };
                    let packets = encodings.for_member(joined.framing, || {
                        let encoder = &joined.encoder;
                        group_run(
                            encoder
                                .encode_numbered(name, run.first, &run.messages)
                                .collect(),
                        )
                    });
                    out.entry(id)
                        .or_insert_with(|| (id, &joined.target, Vec::new()))
                        .2
                        .push(NumberedShare {
                            run: run.clone(),
                            packets,
                        });
                }
            }
        }
        out.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::groups::group_packets;
    use crate::history::Epoch;
    use crate::GroupEncoder;
    use bytes::Bytes;

    #[test]
    fn every_member_the_publisher_included_gets_the_run_encoded_with_offsets() {
        let plain = GroupEncoder::new(|_, m| Ok(Bytes::copy_from_slice(m)));
        let numbered = plain
            .clone()
            .with_offsets(|_, offset, m| Ok(format!("{offset}:{}", m.escape_ascii()).into()));
        let mut registry = Registry::default();
        registry.join(1, "a".into(), "numbered", numbered.clone(), || ());
        registry.join(2, "a".into(), "numbered", numbered, || ());
        registry.join(3, "a".into(), "plain", plain, || ());
        let run = Arc::new(SeqRun {
            group: "a".into(),
            epoch: Epoch::parse("e").unwrap(),
            first: 7,
            messages: vec![Bytes::from_static(b"x"), Bytes::from_static(b"y")],
            publishers: vec![Some(1), None],
        });
        let mut shares: Vec<(ConnId, Vec<Bytes>)> = registry
            .fan_out_numbered(&[run])
            .into_iter()
            .map(|(id, _, shares)| {
                let packets = shares.iter().flat_map(|s| group_packets(&s.packets));
                (id, packets.map(|p| p.unwrap()).collect())
            })
            .collect();
        shares.sort();
        let texts =
            |t: &[&'static str]| t.iter().map(|t| Bytes::from_static(t.as_bytes())).collect();
        assert_eq!(
            shares,
            [
                (1, texts(&["7:x", "8:y"])),
                (2, texts(&["7:x", "8:y"])),
                (3, texts(&["x", "y"])),
            ]
        );
    }
}
