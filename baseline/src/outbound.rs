//! One connection's outbound queue, shared by its reader (replies), every broadcaster
//! and its writer task.
//!
//! Senders append under a short mutex: small packets are copied into one tail buffer
//! (so a burst of replies becomes one slice), large ones are queued as shared [`Bytes`]
//! without a copy. The writer takes everything queued in one swap and writes it with
//! vectored writes outside the lock. The queue is bounded in bytes (written bytes are
//! released as the socket takes them): a packet that would pass [`MAX_QUEUED`] is
//! refused and the sender aborts the connection as a slow consumer.

use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use tokio::sync::Notify;

/// Bytes queued for one peer at most (PROTOCOL.md's default `max_outbound_bytes`).
pub const MAX_QUEUED: usize = 4 * 1024 * 1024;
/// The reader stops reading its peer above this many queued bytes...
pub const PAUSE_ABOVE: usize = MAX_QUEUED / 2;
/// ...and resumes at or below this many.
pub const RESUME_AT: usize = MAX_QUEUED / 4;
/// Packets smaller than this are copied into the tail buffer.
pub const COALESCE_BELOW: usize = 1024;
/// Smallest allocation of a fresh tail buffer.
const TAIL_BLOCK: usize = 4 * 1024;

/// Why a packet was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// It would pass [`MAX_QUEUED`]: the peer is a slow consumer.
    Full,
    /// The connection is closing or aborted.
    Closed,
}

/// What the writer found when it came for data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Data was moved into the writer's list.
    Data,
    /// Nothing queued; wait for [`Outbound::writer_wait`].
    Empty,
    /// Closing and everything was written: shut the socket.
    Finished,
    /// Aborted: drop everything and close at once.
    Aborted,
}

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Accepting packets.
    Open,
    /// Accepting nothing more; the writer flushes what is queued.
    Closing,
    /// Accepting nothing; queued data is dropped.
    Aborted,
}

/// What the mutex protects.
#[derive(Debug)]
struct Pending {
    /// Large packets and sealed tails, oldest first.
    chunks: VecDeque<Bytes>,
    /// Small packets coalesced after the chunks.
    tail: BytesMut,
    /// Whether packets are accepted.
    phase: Phase,
}

/// The queue of one connection.
#[derive(Debug)]
pub struct Outbound {
    /// Queued packets and the phase.
    pending: Mutex<Pending>,
    /// Bytes accepted and not yet taken by the socket (including those the writer holds).
    queued: AtomicUsize,
    /// Set once aborted, for checks without the lock.
    aborted: AtomicBool,
    /// Wakes the writer: data arrived (queue was empty), closing, or aborted.
    wake_writer: Notify,
    /// Wakes a paused reader: the queue drained to [`RESUME_AT`], or aborted.
    drained: Notify,
}

impl Default for Outbound {
    fn default() -> Self {
        Outbound {
            pending: Mutex::new(Pending {
                chunks: VecDeque::new(),
                tail: BytesMut::new(),
                phase: Phase::Open,
            }),
            queued: AtomicUsize::new(0),
            aborted: AtomicBool::new(false),
            wake_writer: Notify::new(),
            drained: Notify::new(),
        }
    }
}

impl Outbound {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Bytes queued and not yet written.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Whether the connection was aborted.
    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    /// Queues a copy of `bytes` (one or more whole frames).
    pub fn push_slice(&self, bytes: &[u8]) -> Result<(), Refused> {
        self.push_with(bytes.len(), |p| append_tail(&mut p.tail, bytes))
    }

    /// Queues `bytes` (one or more whole frames): copied if small, shared if large.
    pub fn push_bytes(&self, bytes: &Bytes) -> Result<(), Refused> {
        if bytes.len() < COALESCE_BELOW {
            return self.push_slice(bytes);
        }
        self.push_with(bytes.len(), |p| {
            if !p.tail.is_empty() {
                let sealed = std::mem::take(&mut p.tail).freeze();
                p.chunks.push_back(sealed);
            }
            p.chunks.push_back(bytes.clone());
        })
    }

    fn push_with(&self, len: usize, add: impl FnOnce(&mut Pending)) -> Result<(), Refused> {
        if len == 0 {
            return Ok(());
        }
        let mut pending = self.lock();
        if pending.phase != Phase::Open {
            return Err(Refused::Closed);
        }
        let queued = self.queued.load(Ordering::Acquire);
        if queued + len > MAX_QUEUED {
            return Err(Refused::Full);
        }
        self.queued.fetch_add(len, Ordering::AcqRel);
        let was_empty = pending.chunks.is_empty() && pending.tail.is_empty();
        add(&mut pending);
        drop(pending);
        if was_empty {
            self.wake_writer.notify_one();
        }
        Ok(())
    }

    /// Moves everything queued into `into` (which must be empty).
    pub fn take(&self, into: &mut VecDeque<Bytes>) -> Taken {
        let mut pending = self.lock();
        if pending.phase == Phase::Aborted {
            return Taken::Aborted;
        }
        if !pending.tail.is_empty() {
            // Take the whole buffer (not `split`, which would keep its spare capacity
            // allocated for an idle connection).
            let sealed = std::mem::take(&mut pending.tail).freeze();
            pending.chunks.push_back(sealed);
        }
        if pending.chunks.is_empty() {
            if pending.phase == Phase::Closing {
                return Taken::Finished;
            }
            return Taken::Empty;
        }
        std::mem::swap(into, &mut pending.chunks);
        Taken::Data
    }

    /// The socket took `n` bytes.
    pub fn written(&self, n: usize) {
        let before = self.queued.fetch_sub(n, Ordering::AcqRel);
        if before > RESUME_AT && before - n <= RESUME_AT {
            self.drained.notify_one();
        }
    }

    /// Waits until there is something for the writer to do.
    pub async fn writer_wait(&self) {
        self.wake_writer.notified().await;
    }

    /// Waits (a paused reader) until the queue drained to [`RESUME_AT`] or was aborted.
    pub async fn wait_drained(&self) {
        while self.queued() > RESUME_AT && !self.is_aborted() {
            self.drained.notified().await;
        }
    }

    /// Accepts nothing more; the writer flushes what is queued, then shuts the socket.
    pub fn close(&self) {
        let mut pending = self.lock();
        if pending.phase == Phase::Open {
            pending.phase = Phase::Closing;
        }
        drop(pending);
        self.wake_writer.notify_one();
    }

    /// Drops everything queued and makes the writer close at once.
    pub fn abort(&self) {
        let mut pending = self.lock();
        pending.phase = Phase::Aborted;
        pending.chunks.clear();
        pending.tail = BytesMut::new();
        drop(pending);
        self.aborted.store(true, Ordering::Release);
        self.wake_writer.notify_one();
        self.drained.notify_one();
    }
}

/// Appends to the tail, allocating in blocks so that a run of small packets does not
/// reallocate for each.
fn append_tail(tail: &mut BytesMut, bytes: &[u8]) {
    if tail.capacity() - tail.len() < bytes.len() {
        tail.reserve(bytes.len().max(TAIL_BLOCK));
    }
    tail.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(out: &Outbound) -> Vec<u8> {
        let mut taken = VecDeque::new();
        assert_eq!(out.take(&mut taken), Taken::Data);
        let bytes: Vec<u8> = taken.iter().flat_map(|b| b.iter().copied()).collect();
        out.written(bytes.len());
        bytes
    }

    #[test]
    fn keeps_order_of_small_and_large() {
        let out = Outbound::default();
        out.push_slice(b"ab").unwrap();
        out.push_bytes(&Bytes::from(vec![b'L'; 2000])).unwrap();
        out.push_slice(b"c").unwrap();
        let mut expected = b"ab".to_vec();
        expected.extend([b'L'; 2000]);
        expected.push(b'c');
        assert_eq!(drain(&out), expected);
        assert_eq!(out.queued(), 0);
        assert_eq!(out.take(&mut VecDeque::new()), Taken::Empty);
    }

    #[test]
    fn refuses_past_the_budget_and_after_close() {
        let out = Outbound::default();
        out.push_bytes(&Bytes::from(vec![0u8; MAX_QUEUED])).unwrap();
        assert_eq!(out.push_slice(b"x"), Err(Refused::Full));
        out.close();
        assert_eq!(out.push_slice(b""), Ok(()));
        assert_eq!(out.push_slice(b"x"), Err(Refused::Closed));
        assert_eq!(drain(&out).len(), MAX_QUEUED);
        assert_eq!(out.take(&mut VecDeque::new()), Taken::Finished);
    }

    #[test]
    fn abort_drops_everything() {
        let out = Outbound::default();
        out.push_slice(b"abc").unwrap();
        out.abort();
        assert!(out.is_aborted());
        assert_eq!(out.take(&mut VecDeque::new()), Taken::Aborted);
    }
}
