//! The deadlines an application turns on: the authentication deadline and the
//! application's own timer, with exact boundaries on a clock moved by hand.

use super::*;
use crate::core::timers::Timer;

fn auth_limits() -> ConnectionLimits {
    limits().with_auth_timeout(Some(Duration::from_secs(2)))
}

#[test]
fn a_connection_that_does_not_authenticate_is_removed_at_the_deadline_after_the_error_reply() {
    let mut h = Harness::new(auth_limits());
    let opened = h.now;
    h.open();
    assert_eq!(
        h.conn.deadline(Timer::Auth),
        Some(opened + Duration::from_secs(2))
    );
    // Anything but an authentication leaves the deadline where it is.
    h.send(&request(b'E', 0));
    h.feed_all();
    h.advance(Duration::from_millis(1999));
    assert_eq!(h.conn.phase(), Phase::Open);
    h.advance(Duration::from_millis(1));
    assert_eq!(h.removals, [RemovalReason::AuthTimeout]);
    assert_eq!(*h.log.closed.borrow(), [RemovalReason::AuthTimeout]);
    h.write_all();
    let written = h.written();
    assert_eq!(written.len(), 3, "welcome, echo, then the error reply");
    assert_eq!(
        written[2].2,
        5 + "authentication timeout".len(),
        "the error reply comes last"
    );
    h.run_to_stop();
    h.check();
}

#[test]
fn authenticating_before_the_deadline_clears_it_for_good() {
    let mut h = Harness::new(auth_limits());
    h.open();
    h.advance(Duration::from_millis(1999));
    // The authentication read one nanosecond before the deadline beats it: the core
    // clears the deadline while it carries out the handler's actions.
    h.now += Duration::from_nanos(999_999);
    h.send(&request(b'A', 0));
    h.feed_all();
    assert_eq!(h.conn.deadline(Timer::Auth), None);
    h.write_all();
    h.advance(Duration::from_secs(60));
    assert_eq!(h.conn.phase(), Phase::Open);
    assert!(h.removals.is_empty());
    assert_eq!(
        h.conn.outbox_user().map(|u| u.name().to_owned()),
        Some(USER.to_owned())
    );
    // A connection authenticates once.
    h.send(&request(b'A', 0));
    h.feed_all();
    assert_eq!(h.conn.error_packets(), 1);
    h.check();
}

#[test]
fn without_an_auth_timeout_nobody_needs_to_authenticate() {
    let mut h = Harness::new(limits());
    h.open();
    assert_eq!(h.conn.deadline(Timer::Auth), None);
    h.write_all();
    h.advance(Duration::from_secs(3600));
    assert_eq!(h.conn.phase(), Phase::Open);
}

#[test]
fn the_application_timer_calls_on_timer_once_at_its_instant() {
    let mut h = Harness::new(limits());
    let asked = h.now;
    h.send(&request(b'T', 3));
    h.feed_all();
    assert_eq!(
        h.conn.poll_timeout(),
        Some(asked + Duration::from_millis(300))
    );
    h.advance(Duration::from_millis(299));
    assert_eq!(h.log.timers.get(), 0);
    h.advance(Duration::from_millis(1));
    assert_eq!(h.log.timers.get(), 1);
    h.write_all();
    assert_eq!(h.written().len(), 1, "on_timer's reply");
    h.advance(Duration::from_secs(10));
    assert_eq!(h.log.timers.get(), 1, "once");
    h.check();
}

#[test]
fn setting_the_timer_again_replaces_it_and_cancelling_stops_it() {
    let mut h = Harness::new(limits());
    let mut burst = request(b'T', 5);
    burst.extend(request(b'T', 2));
    h.send(&burst);
    h.feed_all();
    h.advance(Duration::from_millis(200));
    assert_eq!(h.log.timers.get(), 1, "the second one replaced the first");
    h.advance(Duration::from_millis(300));
    assert_eq!(h.log.timers.get(), 1);
    let mut burst = request(b'T', 1);
    burst.extend(request(b't', 0));
    h.send(&burst);
    h.feed_all();
    assert_eq!(h.conn.deadline(Timer::Application), None);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.log.timers.get(), 1, "cancelled");
    h.check();
}

#[test]
fn a_closing_connection_keeps_no_application_timer() {
    let mut h = Harness::new(limits());
    h.send(&request(b'T', 5));
    h.feed_all();
    h.close(RemovalReason::Closed);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.log.timers.get(), 0);
    h.run_to_stop();
    h.check();
}
