//! Named groups in the core: own copies in order, membership, encode failures.

use super::*;

#[test]
fn own_publish_copies_come_before_a_later_reply() {
    let mut h = Harness::new(ConnectionLimits::default());
    let mut burst = request(b'J', 0);
    for _ in 0..300 {
        burst.extend(request(b'P', 20));
    }
    burst.extend(request(b'E', 0));
    h.send(&burst);
    h.feed_all();
    h.write_all();
    let written = h.written();
    let seqs: Vec<u32> = written.iter().map(|w| w.1).collect();
    assert_eq!(seqs, (0..301).collect::<Vec<u32>>(), "in request order");
    assert_eq!(
        written[300].2, 5,
        "the reply to the last request comes last"
    );
    assert_eq!(h.memberships, [(GroupName::from(GROUP), true)]);
    assert_eq!(h.published.len(), 300, "every message goes to the others");
    // The others of this protocol get the bytes this connection encoded: once only.
    let mut wire = &h.wire[..];
    for message in &h.published {
        let Some(Ok(packet)) = &message.encoded else {
            panic!("a member's own encoding is handed on");
        };
        let copy;
        (copy, wire) = wire.split_at(packet.len());
        assert_eq!(copy, &packet[..]);
    }
    h.check();
}

#[test]
fn a_publisher_that_is_not_a_member_gets_no_copy() {
    let mut h = Harness::new(ConnectionLimits::default());
    h.send(&request(b'P', 3));
    h.send(&request(b'E', 0));
    h.feed_all();
    h.write_all();
    assert_eq!(h.written().len(), 1, "only the reply");
    assert_eq!(h.published.len(), 1);
    assert!(h.published[0].encoded.is_none(), "nothing encoded here");
    assert_eq!(&h.published[0].message[..], &request(b'P', 3)[2..]);
    h.check();
}

#[test]
fn a_second_join_and_a_leave_of_a_non_member_change_nothing() {
    let mut h = Harness::new(ConnectionLimits::default());
    for command in [b'J', b'J', b'L', b'L', b'P'] {
        h.send(&request(command, 0));
    }
    h.feed_all();
    let g = GroupName::from(GROUP);
    assert_eq!(h.memberships, [(g.clone(), true), (g, false)]);
    assert!(h.published[0].encoded.is_none(), "no longer a member");
    h.write_all();
    assert!(h.wire.is_empty());
    h.check();
}

#[test]
fn an_own_publish_copy_waits_behind_a_deferred_reply() {
    let mut h = Harness::new(ConnectionLimits::default());
    for command in [b'J', b'D', b'P', b'E'] {
        h.send(&request(command, 0));
    }
    h.feed_all();
    h.write_all();
    assert!(h.wire.is_empty(), "nothing overtakes the deferred reply");
    assert_eq!(h.published.len(), 1, "the others need not wait");
    h.fill();
    h.write_all();
    let seqs: Vec<u32> = h.written().iter().map(|w| w.1).collect();
    assert_eq!(seqs, [0, 1, 2]);
    h.check();
}

#[test]
fn an_own_copy_that_cannot_be_encoded_is_a_send_failure() {
    let mut h = Harness::new(ConnectionLimits::default());
    h.send(&request(b'J', 0));
    h.send(&request(b'P', MAX_GROUP_MESSAGE));
    h.feed_all();
    let t = h.conn.traffic();
    assert_eq!((t.refused_packets, t.queued_packets), (1, 0));
    let failures = h.conn.recent_failures(h.now, std::time::SystemTime::now());
    assert!(
        matches!(&failures[0].reason, FailureReason::Refused(SendError::Encode(e)) if e.contains("too long")),
        "{failures:?}"
    );
    assert!(
        matches!(h.published[0].encoded, Some(Err(_))),
        "the others learn it too"
    );
    h.check();
}

#[test]
fn a_group_message_not_encodable_for_this_protocol_is_a_send_failure() {
    let mut h = Harness::new(ConnectionLimits::default());
    h.group_failure();
    let failures = h.conn.recent_failures(h.now, std::time::SystemTime::now());
    assert_eq!(h.conn.traffic().refused_packets, 1);
    assert_eq!(
        failures[0].reason,
        FailureReason::Refused(SendError::Encode("not for this protocol".into()))
    );
    h.check();
}

#[test]
fn the_application_joins_and_leaves_on_the_connections_behalf_until_it_closes() {
    let mut h = Harness::new(ConnectionLimits::default());
    let g = GroupName::from(GROUP);
    let now = h.now;
    assert_eq!(h.conn.join_group(now, g.clone()), Ok(true));
    assert_eq!(h.conn.join_group(now, g.clone()), Ok(false));
    h.pump();
    // The handler sees the membership the application gave it: its publish now comes
    // back to it as its own copy.
    h.send(&request(b'P', 2));
    h.feed_all();
    h.write_all();
    assert_eq!(h.written().len(), 1, "the own copy");
    assert!(
        h.published[0].encoded.is_some(),
        "encoded here, as a member"
    );
    assert_eq!(h.conn.leave_group(now, GROUP), Ok(true));
    assert_eq!(h.conn.leave_group(now, GROUP), Ok(false));
    h.pump();
    assert_eq!(h.memberships, [(g.clone(), true), (g.clone(), false)]);
    h.close(RemovalReason::Idle);
    assert_eq!(
        h.conn.join_group(h.now, g),
        Err(SendError::Closing),
        "a closing connection joins nothing"
    );
    h.check();
}

#[test]
fn a_user_joins_and_publishes_where_allowed_and_a_refusal_is_a_denial_not_an_error() {
    let mut h = Harness::new(limits());
    // Anonymous where nobody must authenticate: anything goes.
    h.send(&request(b'K', 0));
    h.feed_all();
    assert_eq!(h.memberships, [(GroupName::from(SECRET), true)]);
    let mut burst = request(b'A', 0);
    for _ in 0..5 {
        burst.extend(request(b'Q', 3));
    }
    burst.extend(request(b'J', 0));
    burst.extend(request(b'P', 2));
    h.send(&burst);
    h.feed_all();
    h.write_all();
    let denial = 5 + "permission denied: publish secret".len();
    let written = h.written();
    assert_eq!(
        written.len(),
        6,
        "five refusals answered, then the own copy"
    );
    assert!(written[..5].iter().all(|w| w.2 == denial), "{written:?}");
    assert_eq!(h.published.len(), 1, "nothing published to secret");
    assert_eq!(h.published[0].group.as_str(), GROUP);
    let t = h.conn.traffic();
    assert_eq!((t.denied, t.error_packets), (5, 0));
    assert_eq!(
        h.conn.phase(),
        Phase::Open,
        "past max_error_packets, still open"
    );
    h.check();
}

#[test]
fn the_application_is_refused_a_join_the_user_may_not_make_and_the_peer_hears_nothing() {
    let mut h = Harness::new(limits());
    h.send(&request(b'A', 0));
    h.feed_all();
    let refused = h.conn.join_group(h.now, SECRET.into());
    assert_eq!(
        refused,
        Err(SendError::Refused(crate::Refusal::Denied {
            access: crate::identity::Access::Join,
            group: SECRET.into(),
        }))
    );
    assert_eq!(h.conn.join_group(h.now, GROUP.into()), Ok(true));
    h.pump();
    assert_eq!(h.memberships, [(GroupName::from(GROUP), true)]);
    assert_eq!(h.conn.traffic().denied, 1);
    h.write_all();
    assert!(h.written().is_empty(), "the peer did not ask: no reply");
    h.check();
}

#[test]
fn a_connection_that_must_authenticate_may_join_nothing_until_it_did() {
    let mut h = Harness::new(limits().with_auth_timeout(Some(Duration::from_secs(5))));
    h.send(&request(b'J', 0));
    h.feed_all();
    assert!(h.memberships.is_empty());
    assert_eq!(h.conn.traffic().denied, 1);
    h.send(&request(b'A', 0));
    h.send(&request(b'J', 0));
    h.feed_all();
    assert_eq!(h.memberships, [(GroupName::from(GROUP), true)]);
    h.write_all();
    h.check();
}
