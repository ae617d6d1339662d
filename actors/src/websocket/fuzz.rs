//! Property tests of the reader: random client streams, valid and not, fed whole and
//! in random pieces. The reader never panics, never holds more than the size limit
//! of its own nor more than one incomplete frame in the buffer (`testing::feed`
//! checks both after every piece), reads the same however the stream is cut, and
//! hands out every valid message exactly as it was sent.

use super::testing::{feed_with, frame};
use super::{Incoming, Message, MessageKind, MessageReader};
use bytes::Bytes;
use proptest::prelude::*;

/// The size limit of these tests: small, so that random messages cross it.
const LIMIT: usize = 300;

/// A valid message, cut into fragments, with control frames between them.
#[derive(Debug, Clone)]
struct Sent {
    kind: MessageKind,
    payload: Vec<u8>,
    /// Where the payload is cut into fragments (sorted offsets).
    cuts: Vec<usize>,
    /// A Ping or Pong payload to send after each fragment but the last, if any.
    controls: Vec<Option<(bool, Vec<u8>)>>,
}

fn sent() -> impl Strategy<Value = Sent> {
    let payload = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..LIMIT).prop_map(|p| (MessageKind::Binary, p)),
        "\\PC{0,80}"
            .prop_filter("within the limit", |s| s.len() <= LIMIT)
            .prop_map(|s| (MessageKind::Text, s.into_bytes())),
    ];
    (
        payload,
        proptest::collection::vec(any::<prop::sample::Index>(), 0..5),
        proptest::collection::vec(
            proptest::option::of((
                any::<bool>(),
                proptest::collection::vec(any::<u8>(), 0..=125),
            )),
            5,
        ),
    )
        .prop_map(|((kind, payload), cuts, controls)| {
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(payload.len() + 1)).collect();
            cuts.sort_unstable();
            Sent {
                kind,
                payload,
                cuts,
                controls,
            }
        })
}

/// The client's frames for `messages`, and what the reader must hand out for them.
fn stream(messages: &[Sent]) -> (Vec<u8>, Vec<Incoming>) {
    let mut bytes = Vec::new();
    let mut expected = Vec::new();
    for m in messages {
        let mut bounds = vec![0];
        bounds.extend(&m.cuts);
        bounds.push(m.payload.len());
        let pieces: Vec<&[u8]> = bounds.windows(2).map(|w| &m.payload[w[0]..w[1]]).collect();
        for (i, piece) in pieces.iter().enumerate() {
            let last = i + 1 == pieces.len();
            let opcode = if i == 0 { m.kind.opcode().bits() } else { 0 };
            bytes.extend(frame(if last { 0x80 | opcode } else { opcode }, piece));
            if let (false, Some(Some((is_ping, payload)))) = (last, m.controls.get(i)) {
                bytes.extend(frame(if *is_ping { 0x89 } else { 0x8A }, payload));
                let payload = Bytes::copy_from_slice(payload);
                expected.push(if *is_ping {
                    Incoming::Ping(payload)
                } else {
                    Incoming::Pong(payload)
                });
            }
        }
        expected.push(Incoming::Message(Message {
            kind: m.kind,
            payload: Bytes::copy_from_slice(&m.payload),
        }));
    }
    (bytes, expected)
}

/// A frame with random header bits (any opcode, reserved bits, mask or not) and a
/// length that may or may not match its payload.
fn wild_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u8>(),
        any::<bool>(),
        prop_oneof![
            0u64..130,
            120u64..70_000,
            Just(u64::MAX >> 1),
            Just(u64::MAX)
        ],
        proptest::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(b0, masked, len, payload)| {
            let mut out = vec![b0];
            let m = if masked { 0x80 } else { 0 };
            match len {
                0..=125 => out.push(m | len as u8),
                126..=65_535 => {
                    out.push(m | 126);
                    out.extend_from_slice(&(len as u16).to_be_bytes());
                }
                _ => {
                    out.push(m | 127);
                    out.extend_from_slice(&len.to_be_bytes());
                }
            }
            if masked {
                out.extend_from_slice(&[9, 8, 7, 6]);
            }
            out.extend(payload);
            out
        })
}

/// What a reader handed out, and the violation (code, reason) that stopped it.
type Outcome = (Vec<Incoming>, Option<(u16, &'static str)>);

/// What fresh readers make of `bytes` fed in pieces of each size drawn, then whole,
/// then a byte at a time; each read both ways (messages split off, and left in place).
fn reads(bytes: &[u8], sizes: &[usize]) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for size in sizes.iter().copied().chain([usize::MAX, 1]) {
        for in_place in [false, true] {
            let mut reader = MessageReader::new(LIMIT, None);
            let (got, stopped) = feed_with(&mut reader, bytes, size, in_place);
            outcomes.push((got, stopped.map(|v| (v.code().0, v.reason()))));
        }
    }
    outcomes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn valid_messages_round_trip_exactly_however_the_stream_is_cut(
        messages in proptest::collection::vec(sent(), 0..6),
        sizes in proptest::collection::vec(1usize..64, 1..4),
    ) {
        let (bytes, expected) = stream(&messages);
        for (got, stopped) in reads(&bytes, &sizes) {
            prop_assert_eq!(stopped, None);
            prop_assert_eq!(&got, &expected);
        }
    }

    #[test]
    fn any_stream_reads_the_same_however_it_is_cut_within_the_bounds(
        frames in proptest::collection::vec(
            prop_oneof![
                3 => wild_frame(),
                1 => sent().prop_map(|m| stream(&[m]).0),
                1 => proptest::collection::vec(any::<u8>(), 0..40),
            ],
            0..8,
        ),
        sizes in proptest::collection::vec(1usize..50, 1..4),
    ) {
        let bytes = frames.concat();
        let outcomes = reads(&bytes, &sizes);
        for outcome in &outcomes[1..] {
            prop_assert_eq!(outcome, &outcomes[0]);
        }
        // Every message handed out is within the limit, and text is UTF-8.
        for incoming in &outcomes[0].0 {
            if let Incoming::Message(m) = incoming {
                prop_assert!(m.payload.len() <= LIMIT);
                if m.kind == MessageKind::Text {
                    prop_assert!(std::str::from_utf8(&m.payload).is_ok());
                }
            }
        }
    }

    #[test]
    fn one_corrupted_byte_in_a_valid_stream_never_breaks_the_bounds(
        messages in proptest::collection::vec(sent(), 1..4),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        sizes in proptest::collection::vec(1usize..50, 1..3),
    ) {
        let (mut bytes, _) = stream(&messages);
        let i = at.index(bytes.len());
        bytes[i] ^= flip;
        let outcomes = reads(&bytes, &sizes);
        for outcome in &outcomes[1..] {
            prop_assert_eq!(outcome, &outcomes[0]);
        }
    }
}
