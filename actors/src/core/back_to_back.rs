//! Packets lying back to back in one buffer: how a hub hands the same broadcast to
//! many members.
//!
//! The work that is the same for every member is done once, here: the packets are
//! copied into one allocation (so each member's queue takes them as one shared slice
//! instead of copying them) and their sizes are counted in runs of one size (so each
//! member records where its packets end with a few entries instead of looking at
//! every packet). A member that has room for the whole batch then admits it in a
//! constant number of steps, whatever its length.

use bytes::{Bytes, BytesMut};

/// Packets in order, each a slice of one shared buffer.
#[derive(Debug, Clone)]
pub struct BackToBack {
    /// The buffer the packets lie in.
    whole: Bytes,
    /// The packets, in order.
    packets: Vec<Bytes>,
    /// The packets' sizes as runs of one size (size, count), when the packets cover
    /// `whole` exactly, back to back, and none is empty; `None` otherwise (each packet is
    /// then looked at on its own).
    runs: Option<Vec<(u64, u64)>>,
}

impl BackToBack {
    /// Copies `packets` into one new buffer.
    pub fn copy_of(packets: &[Bytes]) -> Self {
        let mut buf = BytesMut::with_capacity(packets.iter().map(Bytes::len).sum());
        for packet in packets {
            buf.extend_from_slice(packet);
        }
        let mut rest = buf.freeze();
        let whole = rest.clone();
        let packets = packets.iter().map(|p| rest.split_to(p.len())).collect();
        Self::from_parts(whole, packets)
    }

    /// Packets said to lie in `whole`; those that do not are still delivered, each
    /// looked at on its own.
    pub fn from_parts(whole: Bytes, packets: Vec<Bytes>) -> Self {
        let runs = tile(&whole, &packets);
        BackToBack {
            whole,
            packets,
            runs,
        }
    }

    /// The buffer the packets lie in.
    pub fn whole(&self) -> &Bytes {
        &self.whole
    }

    /// The packets, in order.
    pub fn packets(&self) -> &[Bytes] {
        &self.packets
    }

    /// The packets' sizes in runs of one size, when they cover the buffer exactly.
    pub(crate) fn runs(&self) -> Option<&[(u64, u64)]> {
        self.runs.as_deref()
    }
}

/// Packets a hub hands to many members of its thread: as they came (a few members, or
/// packets of which some are refusals to record), or copied back to back.
#[derive(Debug)]
pub enum Handout<T> {
    /// As they came.
    Packets(T),
    /// Copied into one buffer of the hub's thread: each member's queue takes them as a
    /// slice of it, and its reference count is touched by that thread alone.
    Copied(BackToBack),
}

/// The sizes of `packets` in runs of one size, if they are non-empty slices that
/// cover `whole` exactly, in order.
fn tile(whole: &Bytes, packets: &[Bytes]) -> Option<Vec<(u64, u64)>> {
    let mut at = whole.as_ptr() as usize;
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for packet in packets {
        if packet.is_empty() || packet.as_ptr() as usize != at {
            return None;
        }
        at += packet.len();
        let size = packet.len() as u64;
        match runs.last_mut() {
            Some((last, count)) if *last == size => *count += 1,
            _ => runs.push((size, 1)),
        }
    }
    (at == whole.as_ptr() as usize + whole.len()).then_some(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_tiles_its_buffer_in_runs() {
        let packets: Vec<Bytes> = ["aaaa", "bbbb", "cc", "dddd", "eeee"]
            .into_iter()
            .map(|s| Bytes::from_static(s.as_bytes()))
            .collect();
        let batch = BackToBack::copy_of(&packets);
        assert_eq!(&batch.whole()[..], b"aaaabbbbccddddeeee");
        assert_eq!(batch.packets(), &packets[..]);
        assert_eq!(batch.runs(), Some(&[(4, 2), (2, 1), (4, 2)][..]));
    }

    #[test]
    fn packets_that_do_not_tile_the_buffer_have_no_runs() {
        let whole = Bytes::from_static(b"aaaabbbb");
        let mut rest = whole.clone();
        let (a, b) = (rest.split_to(4), rest.split_to(4));
        let copied = Bytes::from(b.to_vec());
        for packets in [
            vec![a.clone(), copied],                       // lies elsewhere
            vec![b.clone(), a.clone()],                    // out of order
            vec![a.clone()],                               // leaves bytes over
            vec![a.clone(), whole.slice(4..4), b.clone()], // an empty packet
        ] {
            assert_eq!(BackToBack::from_parts(whole.clone(), packets).runs(), None);
        }
        assert_eq!(
            BackToBack::from_parts(whole.clone(), vec![a, b]).runs(),
            Some(&[(4, 2)][..])
        );
        assert_eq!(BackToBack::copy_of(&[]).runs(), Some(&[][..]));
    }
}
