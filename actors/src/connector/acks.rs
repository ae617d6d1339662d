//! Matching acks to requests on one dialed connection.
//!
//! A backend answers a connection's requests in the order it received them (our own
//! server keeps reply order even around deferred replies), so the answers can be matched
//! first-in, first-out: the oldest outstanding request owns the next answer. Health
//! checks and application sends share the one queue, because they share the one stream.
//!
//! A request whose deadline passes is **not** removed: its entry stays in place, marked
//! expired, so that its late answer — if it ever comes — is consumed by that entry,
//! counted and ignored. Removing it would hand the late answer to the next request and
//! report a delivery that did not happen. The caller of an expired request has already
//! been told `timeout`, and nothing it is told later can change that. Only a request
//! that was never written (its connection refused it) is cancelled outright.
//!
//! The queue is bounded: a destination that stops answering fills it with expired
//! entries, after which its connection takes no more requests (and its health checks
//! count as missed) until it answers or is closed. Pure data, unit-tested.

use std::collections::VecDeque;

/// One outstanding request.
#[derive(Debug)]
struct Outstanding<W> {
    /// The request's sequence number (increasing in push order).
    seq: u64,
    /// Who waits for the answer; `None` once the deadline passed (the answer is late).
    waiter: Option<W>,
}

/// What the next answer on the connection turned out to answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Matched<W> {
    /// A request still waiting: hand the answer to its waiter.
    Live(u64, W),
    /// A request that already timed out: count the answer and ignore it.
    Late(u64),
    /// Nothing was outstanding: an answer nobody asked for.
    Unmatched,
}

/// The outstanding requests of one connection, oldest first.
#[derive(Debug)]
pub(crate) struct AckQueue<W> {
    /// Requests in the order they were handed to the connection.
    entries: VecDeque<Outstanding<W>>,
    /// Entries kept at most, expired ones included.
    capacity: usize,
    /// Entries that still have a waiter.
    live: usize,
}

impl<W> AckQueue<W> {
    /// An empty queue holding at most `capacity` (at least 1) outstanding requests.
    pub fn new(capacity: usize) -> Self {
        AckQueue {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
            live: 0,
        }
    }

    /// Whether another request may be sent on this connection.
    pub fn has_room(&self) -> bool {
        self.entries.len() < self.capacity
    }

    /// Requests still waiting for their answer.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Outstanding entries, expired ones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Records a request about to be written; gives the waiter back when full.
    /// Sequence numbers must increase from one push to the next.
    pub fn push(&mut self, seq: u64, waiter: W) -> Result<(), W> {
        if !self.has_room() || self.entries.back().is_some_and(|e| e.seq >= seq) {
            return Err(waiter);
        }
        self.entries.push_back(Outstanding {
            seq,
            waiter: Some(waiter),
        });
        self.live += 1;
        Ok(())
    }

    /// Consumes the oldest entry for an answer that just arrived.
    pub fn answer(&mut self) -> Matched<W> {
        match self.entries.pop_front() {
            None => Matched::Unmatched,
            Some(Outstanding {
                seq,
                waiter: Some(w),
            }) => {
                self.live -= 1;
                Matched::Live(seq, w)
            }
            Some(Outstanding { seq, waiter: None }) => Matched::Late(seq),
        }
    }

    /// The deadline of request `seq` passed: returns its waiter (to be told `timeout`)
    /// and keeps the entry to absorb a late answer. `None` if it was already answered,
    /// expired or cancelled.
    pub fn expire(&mut self, seq: u64) -> Option<W> {
        let index = self.index_of(seq)?;
        let waiter = self.entries[index].waiter.take()?;
        self.live -= 1;
        Some(waiter)
    }

    /// Request `seq` was never written: removes it entirely (no answer will come).
    pub fn cancel(&mut self, seq: u64) -> Option<W> {
        let index = self.index_of(seq)?;
        let waiter = self.entries.remove(index)?.waiter;
        if waiter.is_some() {
            self.live -= 1;
        }
        waiter
    }

    /// The connection is gone: every waiter still waiting, oldest first.
    pub fn drain(&mut self) -> Vec<W> {
        self.live = 0;
        self.entries.drain(..).filter_map(|e| e.waiter).collect()
    }

    fn index_of(&self, seq: u64) -> Option<usize> {
        self.entries.binary_search_by_key(&seq, |e| e.seq).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_go_to_requests_in_order() {
        let mut q = AckQueue::new(8);
        q.push(1, "a").unwrap();
        q.push(2, "b").unwrap();
        assert_eq!(q.live(), 2);
        assert_eq!(q.answer(), Matched::Live(1, "a"));
        assert_eq!(q.answer(), Matched::Live(2, "b"));
        assert_eq!(q.answer(), Matched::Unmatched);
        assert_eq!(q.live(), 0);
    }

    /// The late answer of an expired request must never be taken for the answer of the
    /// request sent after it.
    #[test]
    fn a_late_answer_is_consumed_by_its_expired_request() {
        let mut q = AckQueue::new(8);
        q.push(1, "first").unwrap();
        q.push(2, "second").unwrap();
        assert_eq!(q.expire(1), Some("first"));
        assert_eq!(q.expire(1), None, "expires once");
        assert_eq!(q.live(), 1);
        assert_eq!(q.answer(), Matched::Late(1));
        assert_eq!(q.answer(), Matched::Live(2, "second"));
    }

    #[test]
    fn answered_requests_do_not_expire() {
        let mut q = AckQueue::new(8);
        q.push(5, ()).unwrap();
        assert_eq!(q.answer(), Matched::Live(5, ()));
        assert_eq!(q.expire(5), None);
    }

    #[test]
    fn a_cancelled_request_takes_no_answer() {
        let mut q = AckQueue::new(8);
        q.push(1, "a").unwrap();
        q.push(2, "never written").unwrap();
        q.push(3, "c").unwrap();
        assert_eq!(q.cancel(2), Some("never written"));
        assert_eq!(q.answer(), Matched::Live(1, "a"));
        assert_eq!(q.answer(), Matched::Live(3, "c"));
        q.push(4, "d").unwrap();
        q.expire(4);
        assert_eq!(q.cancel(4), None, "an expired entry has no waiter left");
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn bounded_with_expired_entries_counted() {
        let mut q = AckQueue::new(2);
        q.push(1, 1).unwrap();
        q.push(2, 2).unwrap();
        assert_eq!(q.push(3, 3), Err(3));
        q.expire(1);
        q.expire(2);
        assert!(
            !q.has_room(),
            "expired entries still wait for their answers"
        );
        assert_eq!(q.answer(), Matched::Late(1));
        assert!(q.has_room());
        assert_eq!(q.push(2, 9), Err(9), "sequence numbers only grow");
    }

    #[test]
    fn drain_returns_only_live_waiters() {
        let mut q = AckQueue::new(8);
        for seq in 1..=3 {
            q.push(seq, seq).unwrap();
        }
        q.expire(2);
        assert_eq!(q.drain(), vec![1, 3]);
        assert_eq!((q.len(), q.live()), (0, 0));
    }
}
