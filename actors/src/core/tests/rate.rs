//! The message-rate bucket: over the rate, reading pauses until a token is back;
//! nothing is refused or lost, and a paused connection waits on one deadline.

use super::*;
use crate::core::timers::Timer;

/// 10 packets a second, 3 at once.
fn rate_limits() -> ConnectionLimits {
    limits()
        .with_max_messages_per_s(10)
        .with_max_messages_burst(3)
}

/// How many replies the fake socket took.
fn answered(h: &mut Harness) -> usize {
    h.write_all();
    h.written().len()
}

#[test]
fn over_the_rate_reading_pauses_until_the_bucket_has_a_token_and_nothing_is_lost() {
    let mut h = Harness::new(rate_limits());
    let opened = h.now;
    let mut burst = Vec::new();
    for _ in 0..10 {
        burst.extend(request(b'E', 0));
    }
    h.send(&burst);
    h.feed_all();
    assert_eq!(answered(&mut h), 3, "the bucket starts full: a burst of 3");
    assert!(!h.conn.wants_read(), "reading pauses");
    let resume = opened + Duration::from_millis(100);
    assert_eq!(h.conn.deadline(Timer::Rate), Some(resume));
    h.advance(Duration::from_millis(99));
    assert_eq!(answered(&mut h), 3);
    h.advance(Duration::from_millis(1));
    assert_eq!(answered(&mut h), 4, "one token, one packet");
    for _ in 0..100 {
        if answered(&mut h) == 10 {
            break;
        }
        h.next_deadline();
    }
    assert_eq!(answered(&mut h), 10);
    assert_eq!(
        h.now,
        opened + Duration::from_millis(700),
        "7 beyond the burst at 10/s"
    );
    let t = h.conn.traffic();
    assert_eq!(
        (t.received_packets, t.refused_packets, t.error_packets),
        (10, 0, 0)
    );
    assert_eq!(h.conn.phase(), Phase::Open);
    // The bucket is empty again: the next read waits for the next token.
    assert!(!h.conn.wants_read());
    let next = opened + Duration::from_millis(800);
    assert_eq!(h.conn.deadline(Timer::Rate), Some(next));
    h.advance(next - h.now);
    assert!(h.conn.wants_read());
    assert_eq!(
        h.written().iter().map(|w| w.1).collect::<Vec<_>>(),
        (0..10).collect::<Vec<u32>>(),
        "in order"
    );
    h.check();
}

#[test]
fn a_paused_connection_reads_nothing_until_its_one_deadline() {
    let mut h = Harness::new(rate_limits());
    for _ in 0..5 {
        h.send(&request(b'E', 0));
    }
    h.feed(3 * 3);
    assert_eq!(answered(&mut h), 3);
    assert!(!h.conn.wants_read());
    // The peer's next packets wait in its socket: the harness feeds only a core that
    // wants to read.
    h.feed_all();
    assert_eq!(h.inbound.len(), 2 * 3);
    assert_eq!(h.conn.poll_timeout(), h.conn.deadline(Timer::Rate));
    h.next_deadline();
    assert!(h.conn.wants_read());
    h.feed_all();
    assert_eq!(answered(&mut h), 4);
    h.check();
}

#[test]
fn the_bucket_refills_at_the_rate_up_to_its_size_only() {
    let mut h = Harness::new(rate_limits());
    h.advance(Duration::from_secs(10));
    for _ in 0..5 {
        h.send(&request(b'E', 0));
    }
    h.feed_all();
    assert_eq!(answered(&mut h), 3, "ten quiet seconds still hold 3 tokens");
}

#[test]
fn bad_packets_take_tokens_too() {
    let mut h = Harness::new(rate_limits().with_max_error_packets(100));
    for _ in 0..3 {
        h.send(&request(b'X', 0));
    }
    h.send(&request(b'E', 0));
    h.feed_all();
    assert_eq!(h.conn.error_packets(), 3);
    assert_eq!(answered(&mut h), 3, "three error replies; the echo waits");
    h.next_deadline();
    assert_eq!(answered(&mut h), 4);
}

#[test]
fn without_a_rate_nothing_waits() {
    let mut h = Harness::new(limits());
    for _ in 0..100 {
        h.send(&request(b'E', 0));
    }
    h.feed_all();
    assert_eq!(answered(&mut h), 100);
    assert_eq!(h.conn.deadline(Timer::Rate), None);
}
