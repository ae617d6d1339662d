//! What a connection keeps of what it reads: a buffer the size of what is left, a read
//! handed over whole and handed back when nothing of it is kept.

use super::*;

#[test]
fn what_is_left_of_a_large_read_keeps_a_buffer_of_its_own_size() {
    let mut h = Harness::new(limits());
    // One read: many whole requests, then the first 12 bytes of one more.
    for _ in 0..400 {
        h.send(&request(b'E', 20));
    }
    let mut partial = (MAX_BODY as u16).to_be_bytes().to_vec();
    partial.extend([b'E'; 10]);
    h.send(&partial);
    let read = h.inbound.len();
    h.feed_all();
    assert_eq!(h.conn.read_buffered(), 12);
    assert!(
        h.conn.read_capacity() < 1024,
        "{} bytes kept after a read of {read}",
        h.conn.read_capacity()
    );
    // The rest of the packet arrives and is answered.
    let written = h.conn.traffic().queued_packets;
    h.send(&[b'.'; MAX_BODY - 10]);
    h.feed_all();
    assert_eq!(h.conn.traffic().queued_packets, written + 1);
    assert_eq!(h.conn.read_capacity(), 0);
    h.check();
}

#[test]
fn a_read_handed_over_whole_is_decoded_where_it_is_and_comes_back_when_nothing_is_kept() {
    // Whole requests (the buffer comes back), whole requests and the start of one more
    // (moved to a buffer of its own size, the read's coming back; or, in a small read,
    // kept where it is), then the rest handed over after what is kept (copied).
    let echo = request(b'E', 300);
    for (whole, tail, kept) in [(40, 0, false), (40, 200, false), (3, 250, true)] {
        let mut h = Harness::new(limits());
        let mut read: Vec<u8> = echo.repeat(whole);
        read.extend_from_slice(&echo[..tail]);
        let back = h.conn.handle_read_buf(h.now, BytesMut::from(&read[..]));
        h.pump();
        assert_eq!(h.conn.read_buffered(), tail);
        assert_eq!(back.is_none(), kept, "{whole} whole, {tail} bytes more");
        assert!(back.is_none_or(|buf| buf.is_empty()), "handed back empty");
        // The rest of the last request (or one more whole), handed over too: copied
        // after what is kept.
        let rest = BytesMut::from(&echo[tail..]);
        let back = h.conn.handle_read_buf(h.now, rest);
        h.pump();
        assert!(back.is_some_and(|buf| buf.is_empty()));
        assert_eq!(h.conn.read_buffered(), 0);
        h.write_all();
        let answered = whole + 1;
        assert_eq!(
            h.written().len(),
            answered,
            "{whole} whole, {tail} bytes more"
        );
        let t = h.conn.traffic();
        assert_eq!(t.received_bytes, (read.len() + echo.len() - tail) as u64);
        assert_eq!(t.received_packets, answered as u64);
        h.check();
    }
}

#[test]
fn an_incomplete_frame_reserves_only_what_arrived() {
    let mut h = Harness::new(limits());
    // Announces the largest body, sends ten bytes of it.
    let mut partial = (MAX_BODY as u16).to_be_bytes().to_vec();
    partial.extend([b'E'; 10]);
    h.send(&partial);
    h.feed_all();
    assert_eq!(h.conn.read_buffered(), 12);
    assert!(h.conn.read_capacity() < 1024, "{}", h.conn.read_capacity());
}
