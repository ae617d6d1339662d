//! The property test: random sequences of reads (raw echoes among them), deliveries,
//! partial writes, TLS confirmations, timer firings, group actions, denials,
//! authentications, the application's timer and closes (with a goodbye among them),
//! under a message rate and an authentication deadline or without, with every
//! accounting invariant checked after every step.

use super::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// The peer sends one request: a command byte and padding.
    Request(u8, usize),
    /// The peer sends a request the protocol answers raw, with itself, padded.
    Raw(usize),
    /// The peer sends arbitrary bytes.
    Garbage(Vec<u8>),
    /// The core reads up to this many pending bytes.
    Feed(usize),
    /// The socket takes up to this many bytes.
    Write(usize),
    /// A TLS layer confirms up to this many bytes.
    Confirm(usize),
    /// An encoded packet from outside.
    Deliver(usize),
    /// A response from outside, encoded by the connection.
    Respond(usize),
    /// A group message this connection's protocol could not encode.
    GroupFailure,
    /// The oldest deferred reply becomes ready.
    Fill,
    /// The clock moves on and the timer fires.
    Advance(u64),
    /// The clock jumps to the next deadline.
    Deadline,
    Close,
    Eof,
    Fail,
    /// Other connections of the thread charge (true) or release (false) this many
    /// bytes of the budget share, when the test has one.
    Rival(bool, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (prop::sample::select(b"EEBBDXCJLPPNWATtKQ".to_vec()), 0usize..3000)
            .prop_map(|(c, pad)| Op::Request(c, pad)),
        3 => (0usize..3000).prop_map(Op::Raw),
        1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(Op::Garbage),
        6 => (1usize..MAX_FEED).prop_map(Op::Feed),
        6 => (0usize..20_000).prop_map(Op::Write),
        3 => (0usize..20_000).prop_map(Op::Confirm),
        4 => (0usize..3000).prop_map(Op::Deliver),
        2 => (0usize..3000).prop_map(Op::Respond),
        1 => Just(Op::GroupFailure),
        3 => Just(Op::Fill),
        3 => (0u64..3000).prop_map(Op::Advance),
        1 => Just(Op::Deadline),
        1 => Just(Op::Close),
        1 => Just(Op::Eof),
        1 => Just(Op::Fail),
        2 => (any::<bool>(), 0usize..30_000).prop_map(|(take, n)| Op::Rival(take, n)),
    ]
}

/// Which optional rules a run turns on.
#[derive(Debug, Clone, Copy)]
struct Rules {
    /// The idle kinds.
    idle: bool,
    /// A message rate of 20 a second, 5 at once.
    rate: bool,
    /// An authentication deadline of 1.5 s.
    auth: bool,
}

fn rules() -> impl Strategy<Value = Rules> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(idle, rate, auth)| Rules {
        idle,
        rate,
        auth,
    })
}

fn run(tls: bool, rules: Rules, ops: &[Op]) {
    run_with(tls, rules, None, ops)
}

/// Runs `ops`; with `budget`, the core's queue charges a share of a budget of that
/// many bytes for all connections, which other connections of the thread use too.
fn run_with(tls: bool, rules: Rules, budget: Option<usize>, ops: &[Op]) {
    let mut limits = limits();
    if rules.idle {
        limits.idle = IdleLimits {
            read: Some(Duration::from_millis(700)),
            write: Some(Duration::from_millis(900)),
            all: Some(Duration::from_millis(1100)),
        };
    }
    if rules.rate {
        limits = limits
            .with_max_messages_per_s(20)
            .with_max_messages_burst(5);
    }
    if rules.auth {
        limits = limits.with_auth_timeout(Some(Duration::from_millis(1500)));
    }
    let mut h = match budget {
        Some(limit) => Harness::budgeted(limits, tls, OutboundBudget::new(limit).new_share()),
        None => Harness::with(limits, tls),
    };
    h.open();
    h.check();
    for op in ops {
        match op.clone() {
            Op::Request(c, pad) => h.send(&request(c, pad)),
            Op::Raw(pad) => h.raw(pad),
            Op::Garbage(bytes) => h.send(&bytes),
            Op::Feed(n) => h.feed(n),
            Op::Write(n) => h.write(n),
            Op::Confirm(n) => h.confirm(n),
            Op::Deliver(pad) => {
                let _ = h.deliver(pad);
            }
            Op::Respond(pad) => {
                let _ = h.send_response(pad);
            }
            Op::GroupFailure => h.group_failure(),
            Op::Fill => h.fill(),
            Op::Advance(ms) => h.advance(Duration::from_millis(ms)),
            Op::Deadline => {
                h.next_deadline();
            }
            Op::Close => h.close(RemovalReason::Closed),
            Op::Eof => h.eof(),
            Op::Fail => h.fail(),
            Op::Rival(take, n) => {
                if let Some((share, others)) = &mut h.budget {
                    if take && share.try_take(n) {
                        *others += n;
                    } else if !take {
                        let n = n.min(*others);
                        share.give_back(n);
                        *others -= n;
                    }
                }
            }
        }
        h.check();
    }
    // However it ended, a shell that keeps serving the core brings it to a stop
    // with everything accounted for.
    h.close(RemovalReason::Closed);
    h.check();
    for _ in 0..1_000 {
        if h.stopped {
            break;
        }
        h.write(usize::MAX);
        h.confirm(usize::MAX);
        h.next_deadline();
        h.check();
    }
    assert!(h.stopped, "the connection never stopped");
    h.check();
    if let Some((share, others)) = &h.budget {
        assert_eq!(
            share.used(),
            *others,
            "the stopped queue gave every byte back"
        );
    }
}

/// Cases per property test: `CORE_PROPTEST_CASES`, or 256.
pub(super) fn cases() -> u32 {
    std::env::var("CORE_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn every_packet_is_accounted_for_over_plain_tcp(
        rules in rules(),
        ops in prop::collection::vec(op(), 0..200),
    ) {
        run(false, rules, &ops);
    }

    #[test]
    fn every_packet_is_accounted_for_under_a_total_budget(
        tls in any::<bool>(),
        rules in rules(),
        limit in 1usize..48_000,
        ops in prop::collection::vec(op(), 0..200),
    ) {
        run_with(tls, rules, Some(limit), &ops);
    }

    #[test]
    fn every_packet_is_accounted_for_over_tls(
        rules in rules(),
        ops in prop::collection::vec(op(), 0..200),
    ) {
        run(true, rules, &ops);
    }
}
