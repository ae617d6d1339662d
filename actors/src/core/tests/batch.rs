//! Batch admission against one-by-one admission: two cores with the same limits get
//! the same random history; wherever one of them is handed a run of packets at once
//! ([`Conn::deliver_all`], or [`Conn::deliver_shared`] with the packets back to back
//! in one buffer), the other is handed the same packets one at a time
//! ([`Conn::deliver`], and [`Conn::group_refused`] for a message its protocol could not
//! encode). After every step both must look the same from outside: counters, failure
//! record, queue (down to its slices, or its bytes once a run was shared), phase,
//! removal, deadlines, read and write wishes, events, and the bytes they finally write.

use super::property::cases;
use super::*;
use crate::core::BackToBack;
use crate::groups::GroupPacket;
use crate::SendFailure;
use proptest::prelude::*;
use std::time::SystemTime;

/// One packet of a run.
#[derive(Debug, Clone)]
enum Item {
    /// Encoded bytes of this length (0: an empty packet, refused on its own).
    Packet(usize),
    /// A group message this connection's protocol could not encode.
    Unencodable,
}

/// One step of both cores' shared history.
#[derive(Debug, Clone)]
enum Step {
    /// A run of packets: at once on one core, one by one on the other; `own` offers
    /// them as the connection's own (admitted while closing) instead of from outside.
    Run(Vec<Item>, bool, Offer),
    /// The socket takes up to this many bytes.
    Write(usize),
    /// The clock moves on this many milliseconds and the timer fires.
    Advance(u64),
    /// Someone closes the connection (it flushes, then lingers).
    Close,
    /// The socket fails.
    Fail,
}

/// How a run is offered at once.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Offer {
    /// As group messages ([`Conn::deliver_all`]).
    Group,
    /// As encoded packets only, unencodable ones left out ([`Conn::deliver_all`]).
    Plain,
    /// As encoded packets lying back to back in one buffer ([`Conn::deliver_shared`]).
    Shared,
    /// Like `Shared`, but every third packet lies elsewhere.
    Gaps,
}

fn item(coalesce_below: usize) -> impl Strategy<Value = Item> {
    prop_oneof![
        1 => Just(Item::Packet(0)),
        1 => Just(Item::Unencodable),
        12 => (1..coalesce_below.max(2)).prop_map(Item::Packet),
        3 => (coalesce_below..2 * coalesce_below + 500).prop_map(Item::Packet),
        1 => (coalesce_below..coalesce_below + 3000).prop_map(Item::Packet),
    ]
}

fn step(coalesce_below: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (
            prop::collection::vec(item(coalesce_below), 0..150),
            any::<bool>(),
            prop::sample::select(vec![Offer::Group, Offer::Plain, Offer::Shared, Offer::Gaps]),
        )
            .prop_map(|(items, own, offer)| Step::Run(items, own, offer)),
        5 => (0usize..40_000).prop_map(Step::Write),
        2 => (0u64..3000).prop_map(Step::Advance),
        1 => Just(Step::Close),
        1 => Just(Step::Fail),
    ]
}

/// Limits, and a history that stays within them.
fn case() -> impl Strategy<Value = (ConnectionLimits, Vec<Step>)> {
    (1usize..300, 0usize..200_000, 1usize..100_000).prop_flat_map(|(coalesce, max, pause)| {
        let limits = ConnectionLimits {
            max_outbound_bytes: max,
            read_pause_bytes: pause,
            coalesce_below: coalesce,
            max_failure_records: 16,
            ..limits()
        };
        (Just(limits), prop::collection::vec(step(coalesce), 0..40))
    })
}

/// A core with the test protocol, opened at `now`.
fn core(limits: &ConnectionLimits, now: Instant) -> Conn<TestProto> {
    let log = Rc::new(Log::default());
    let mut conn = Conn::new(TestProto { log }, outbox(), Arc::new(limits.clone()), now);
    conn.handle_open(now);
    conn
}

/// What a core looks like from outside, its events taken.
#[derive(Debug, PartialEq)]
struct Seen {
    traffic: Traffic,
    failures: Vec<SendFailure>,
    phase: Phase,
    removal: Option<RemovalReason>,
    queued_bytes: usize,
    queued_packets: usize,
    /// The queue's slices, as they would be written.
    slices: Vec<Vec<u8>>,
    retained: usize,
    timeout: Option<Instant>,
    wants_read: bool,
    wants_write: bool,
    events: Vec<String>,
}

fn seen(conn: &mut Conn<TestProto>, now: Instant) -> Seen {
    let mut events = Vec::new();
    while let Some(event) = conn.poll_event() {
        events.push(match event {
            Event::Report(traffic) => format!("report {traffic:?}"),
            Event::Removed(reason) => format!("removed {reason:?}"),
            Event::Authenticated(user) => format!("authenticated {user}"),
            Event::Broadcast(packets) => format!("broadcast {}", packets.len()),
            Event::Join(group, _) => format!("join {group:?}"),
            Event::Leave(group) => format!("leave {group:?}"),
            Event::Publish(messages) => format!("publish {}", messages.len()),
            Event::HistoryJoin { group, .. } => format!("history join {group:?}"),
            Event::Sequence(messages) => format!("sequence {}", messages.len()),
            Event::Defer { seq, .. } => format!("defer {seq}"),
            Event::ShutdownWrite => "shutdown write".into(),
            Event::Stop => "stop".into(),
        });
    }
    // Room for every slice the queue holds (at most one per packet, and the tail), so
    // that two queues are compared whole.
    let mut dst = vec![IoSlice::new(&[]); conn.queued_packets() + 2];
    let slices = match conn.poll_transmit(&mut dst, usize::MAX) {
        Transmit::Slices(n) => dst[..n].iter().map(|s| s.to_vec()).collect(),
        Transmit::Nothing => Vec::new(),
        Transmit::File(_) => panic!("no file was offered"),
    };
    Seen {
        traffic: conn.traffic(),
        failures: conn.recent_failures(now, SystemTime::UNIX_EPOCH),
        phase: conn.phase(),
        removal: conn.removal(),
        queued_bytes: conn.queued_bytes(),
        queued_packets: conn.queued_packets(),
        slices,
        retained: conn.retained_capacity(),
        timeout: conn.poll_timeout(),
        wants_read: conn.wants_read(),
        wants_write: conn.wants_write(),
        events,
    }
}

/// Asserts that two cores look the same (with `shared`, down to the queued bytes but
/// not how they are cut, nor the buffers kept).
fn same(mut batch: Seen, mut single: Seen, shared: bool, after: impl std::fmt::Debug) {
    if shared {
        for seen in [&mut batch, &mut single] {
            seen.slices = vec![seen.slices.concat()];
            seen.retained = 0;
        }
    }
    assert_eq!(batch, single, "after {after:?}");
}

/// `packets` copied back to back into one buffer, and the slices of it that are the
/// packets; with `gaps`, every third packet is a copy lying elsewhere instead.
fn back_to_back(packets: &[Bytes], gaps: bool) -> BackToBack {
    if !gaps {
        return BackToBack::copy_of(packets);
    }
    let whole = Bytes::from(packets.concat());
    let mut rest = whole.clone();
    let slices = packets
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let slice = rest.split_to(p.len());
            match i % 3 == 1 {
                true => Bytes::from(slice.to_vec()),
                false => slice,
            }
        })
        .collect();
    BackToBack::from_parts(whole, slices)
}

/// The socket takes up to `budget` bytes of what `conn` offers (however its queue
/// cuts them into slices); returns them.
fn write(conn: &mut Conn<TestProto>, now: Instant, budget: usize) -> Vec<u8> {
    let mut taken = Vec::new();
    for _ in 0..1000 {
        let mut dst = [IoSlice::new(&[]); 64];
        let left = budget - taken.len();
        let now_taken: Vec<u8> = match conn.poll_transmit(&mut dst, left) {
            Transmit::Slices(n) => dst[..n].iter().flat_map(|s| s.iter().copied()).collect(),
            _ => Vec::new(),
        };
        if now_taken.is_empty() {
            break;
        }
        conn.handle_written(now, now_taken.len(), now_taken.len());
        taken.extend(now_taken);
    }
    taken
}

/// The packets of a run: each distinct, so that any reordering shows in the bytes.
fn packets(items: &[Item], first: &mut u8) -> Vec<GroupPacket> {
    items
        .iter()
        .map(|item| match *item {
            Item::Packet(len) => {
                *first = first.wrapping_add(1);
                Ok(Bytes::from(vec![*first; len]))
            }
            Item::Unencodable => Err(SendError::Encode("not for this protocol".into())),
        })
        .collect()
}

fn one_by_one(
    conn: &mut Conn<TestProto>,
    now: Instant,
    run: &[GroupPacket],
    origin: Origin,
) -> usize {
    let mut queued = 0;
    for packet in run {
        match packet {
            Ok(packet) => queued += conn.deliver(now, packet.clone(), origin).is_ok() as usize,
            Err(error) => conn.group_refused(now, error.clone()),
        }
    }
    queued
}

fn same_as_one_by_one(limits: &ConnectionLimits, steps: &[Step]) {
    let mut now = Instant::now();
    let (mut batch, mut single) = (core(limits, now), core(limits, now));
    let mut first = 0u8;
    // Once a run was queued as shared slices, the queues hold the same bytes in
    // differently cut slices, with different buffers kept.
    let mut shared = false;
    assert_eq!(seen(&mut batch, now), seen(&mut single, now));
    for step in steps {
        match step {
            Step::Run(items, own, offer) => {
                let origin = if *own { Origin::Own } else { Origin::External };
                let mut run = packets(items, &mut first);
                if *offer != Offer::Group {
                    run.retain(Result::is_ok);
                }
                let plain: Vec<Bytes> = run.iter().flatten().cloned().collect();
                let queued = match offer {
                    Offer::Group => batch.deliver_all(now, &run, origin),
                    Offer::Plain => batch.deliver_all(now, &plain, origin),
                    Offer::Shared | Offer::Gaps => {
                        shared = true;
                        let shared = back_to_back(&plain, *offer == Offer::Gaps);
                        batch.deliver_shared(now, &shared, origin)
                    }
                };
                assert_eq!(queued, one_by_one(&mut single, now, &run, origin), "queued");
            }
            Step::Write(budget) => {
                assert_eq!(
                    write(&mut batch, now, *budget),
                    write(&mut single, now, *budget)
                );
            }
            Step::Advance(ms) => {
                now += Duration::from_millis(*ms);
                batch.handle_timeout(now);
                single.handle_timeout(now);
            }
            Step::Close => {
                batch.close(now, RemovalReason::Closed);
                single.close(now, RemovalReason::Closed);
            }
            Step::Fail => {
                let failure = FailureReason::Io("reset".into());
                batch.handle_failure(now, RemovalReason::IoError, failure.clone());
                single.handle_failure(now, RemovalReason::IoError, failure);
            }
        }
        same(seen(&mut batch, now), seen(&mut single, now), shared, step);
    }
    // Whatever is left is written the same.
    for _ in 0..100 {
        let taken = write(&mut batch, now, usize::MAX);
        assert_eq!(taken, write(&mut single, now, usize::MAX));
        if taken.is_empty() {
            break;
        }
    }
    same(
        seen(&mut batch, now),
        seen(&mut single, now),
        shared,
        "at the end",
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn a_run_is_admitted_exactly_as_one_packet_at_a_time((limits, steps) in case()) {
        same_as_one_by_one(&limits, &steps);
    }
}

/// A run that passes the byte limit midway: the packets before the limit are queued,
/// the one past it is refused and makes the peer a slow consumer (dropping what was
/// queued), and the rest are refused without a record, as the connection is done.
#[test]
fn a_run_past_the_limit_refuses_from_the_packet_that_passes_it() {
    let limits = ConnectionLimits {
        max_outbound_bytes: 1000,
        ..limits()
    };
    let mut now = Instant::now();
    let mut conn = core(&limits, now);
    while !write(&mut conn, now, usize::MAX).is_empty() {}
    now += Duration::from_millis(1);
    let run: Vec<Bytes> = (0..6u8).map(|i| Bytes::from(vec![i; 300])).collect();
    assert_eq!(conn.deliver_all(now, &run, Origin::External), 3);
    let t = conn.traffic();
    assert_eq!(
        (t.queued_packets, t.refused_packets),
        (3 + 1, 1),
        "welcome + 3 queued"
    );
    assert_eq!(
        t.dropped_packets, 3,
        "the queued ones are dropped with the removal"
    );
    assert_eq!(conn.removal(), Some(RemovalReason::SlowConsumer));
    assert_eq!(conn.phase(), Phase::Done(RemovalReason::SlowConsumer));
    let failures = conn.recent_failures(now, SystemTime::UNIX_EPOCH);
    assert_eq!(failures.len(), 4);
    assert!(matches!(
        failures[0].reason,
        FailureReason::Refused(SendError::OverBudget {
            queued: 900,
            packet: 300,
            limit: 1000
        })
    ));
}
