//! The limits an [`OutboundQueue`](super::OutboundQueue) enforces, and its answers when
//! a packet would pass them.

/// Limits of one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Bytes queued at most; a packet that would pass it is refused.
    pub max_bytes: usize,
    /// Packets smaller than this are copied into the tail buffer (coalesced).
    pub coalesce_below: usize,
    /// A tail buffer this large is sealed as a chunk and a new one is started.
    pub chunk_size: usize,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            max_bytes: 4 * 1024 * 1024,
            coalesce_below: 1024,
            chunk_size: 64 * 1024,
        }
    }
}

/// A packet the queue refused: it would take the queue past its byte limit, or (with
/// `total`) the bytes of all connections together past their budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget {
    /// Bytes already queued.
    pub queued: usize,
    /// Size of the refused packet.
    pub packet: usize,
    /// The limit passed: the queue's, or with `total` the budget's.
    pub limit: usize,
    /// The budget of all connections together refused it, not the queue's own limit.
    pub total: bool,
}

impl From<OverBudget> for crate::SendError {
    fn from(o: OverBudget) -> Self {
        match o.total {
            false => crate::SendError::OverBudget {
                queued: o.queued,
                packet: o.packet,
                limit: o.limit,
            },
            true => crate::SendError::TotalOverBudget {
                packet: o.packet,
                limit: o.limit,
            },
        }
    }
}

/// Why [`OutboundQueue::encode_with`](super::OutboundQueue::encode_with) did not queue a packet.
#[derive(Debug)]
pub enum EncodeRefused<E> {
    /// The encoder failed; nothing was queued.
    Encode(E),
    /// The encoded packet would pass the byte limit; nothing was queued.
    OverBudget(OverBudget),
}
