//! The budget of outbound bytes queued for all connections together: what keeps
//! clients that never read from adding up to an out-of-memory, where the per-connection
//! limit alone would allow `max_outbound_bytes` times the number of connections.
//!
//! The budget is exact (the bytes queued in every connection's outbound queue never
//! add up to more than its limit, and every byte taken is given back when written or
//! dropped) and takes no lock and no shared atomic per packet. It is split in shares:
//! each thread that runs connections has one [`BudgetShare`], and the queues of that
//! thread's connections charge and release it with plain arithmetic. A share takes
//! bytes from the global pool only when it runs out, a little more than it needs at
//! a time (at most [`chunk`](OutboundBudget::chunk) more, and less the closer the pool
//! is to empty), and gives back what it holds beyond two chunks. Holding at most two
//! chunks unused per thread is what lets most packets skip the pool.
//!
//! When a share cannot get what a packet needs, the packet is refused
//! ([`SendError::TotalOverBudget`](crate::SendError::TotalOverBudget), recorded like
//! any refusal), and the budget calls its exhaustion hook once until someone calls
//! [`reclaimed`](OutboundBudget::reclaimed): in a switchboard, the supervisor then
//! removes the connections with the most queued bytes as slow consumers until the
//! bytes they free cover the refused packet. Meanwhile every share gives back all it
//! holds unused at its next release (rebalancing), so the pool is not left empty
//! because other threads sit on their spare chunks.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak as RcWeak};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};

/// What the budget calls when a share could not get the bytes a packet needs.
type ExhaustedHook = Box<dyn Fn(usize) + Send + Sync>;

/// The budget of bytes queued for all connections together, shared by every thread.
pub struct OutboundBudget {
    /// Bytes the queues may hold together.
    limit: usize,
    /// Bytes no share holds.
    free: AtomicUsize,
    /// How much more than it needs a share takes at once.
    chunk: usize,
    /// A share was refused and nobody has made room since: shares give back all they
    /// hold unused, and the hook is not called again.
    exhausted: AtomicBool,
    /// Who makes room when the pool runs out.
    hook: OnceLock<ExhaustedHook>,
}

impl std::fmt::Debug for OutboundBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundBudget")
            .field("limit", &self.limit)
            .field("free", &self.free.load(Ordering::Relaxed))
            .field("chunk", &self.chunk)
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// The share of each budget this thread holds, so every connection of a thread
    /// charges the same one.
    static SHARES: RefCell<Vec<(Weak<OutboundBudget>, RcWeak<BudgetShare>)>> =
        const { RefCell::new(Vec::new()) };
}

impl OutboundBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(OutboundBudget {
            limit,
            free: AtomicUsize::new(limit),
            chunk: (limit / 256).clamp(4 * 1024, 256 * 1024),
            exhausted: AtomicBool::new(false),
            hook: OnceLock::new(),
        })
    }

    /// Sets what is called, with the size of the packet that did not fit, when a share
    /// runs out; it is called once until [`reclaimed`](Self::reclaimed). Answers false
    /// (and changes nothing) if a hook was set already.
    pub fn on_exhausted(&self, hook: impl Fn(usize) + Send + Sync + 'static) -> bool {
        self.hook.set(Box::new(hook)).is_ok()
    }

    /// Room was made (or decided on) after an exhaustion: the hook may be called again.
    pub fn reclaimed(&self) {
        self.exhausted.store(false, Ordering::SeqCst);
    }

    /// Bytes the queues may hold together.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How much more than it needs a share takes from the pool at once: 1/256 of the
    /// limit, between 4 KiB and 256 KiB.
    pub fn chunk(&self) -> usize {
        self.chunk
    }

    /// Bytes no share holds: the limit less what is queued and what shares keep unused
    /// (at most two chunks each).
    pub fn unclaimed(&self) -> usize {
        self.free.load(Ordering::SeqCst)
    }

    /// This thread's share, created at its first use. Every connection of a thread
    /// charges the same share; it gives its bytes back when the last one is dropped.
    pub fn local_share(self: &Arc<Self>) -> Rc<BudgetShare> {
        SHARES.with(|shares| {
            let mut shares = shares.borrow_mut();
            shares.retain(|(budget, share)| budget.strong_count() > 0 && share.strong_count() > 0);
            let found = shares
                .iter()
                .find(|(budget, _)| std::ptr::eq(budget.as_ptr(), Arc::as_ptr(self)))
                .and_then(|(_, share)| share.upgrade());
            found.unwrap_or_else(|| {
                let share = self.new_share();
                shares.push((Arc::downgrade(self), Rc::downgrade(&share)));
                share
            })
        })
    }

    /// A share of its own (not this thread's): for a core driven by hand.
    pub fn new_share(self: &Arc<Self>) -> Rc<BudgetShare> {
        Rc::new(BudgetShare {
            budget: self.clone(),
            held: Cell::new(0),
            used: Cell::new(0),
        })
    }

    /// Takes `need` bytes from the pool, and up to a chunk more while the pool is far
    /// from empty (at most half of what would be left); answers what was taken, or
    /// `None` when even `need` is not there.
    fn take(&self, need: usize) -> Option<usize> {
        let mut taken = 0;
        let result = self
            .free
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |free| {
                let left = free.checked_sub(need)?;
                taken = need + self.chunk.min(left / 2);
                Some(free - taken)
            });
        result.ok().map(|_| taken)
    }

    fn give(&self, bytes: usize) {
        if bytes > 0 {
            self.free.fetch_add(bytes, Ordering::SeqCst);
        }
    }

    fn refused(&self, packet: usize) {
        if !self.exhausted.swap(true, Ordering::SeqCst) {
            if let Some(hook) = self.hook.get() {
                hook(packet);
            }
        }
    }
}

/// One thread's share of an [`OutboundBudget`]: the outbound queues of that thread's
/// connections charge it for every byte they hold and release it as bytes are written
/// or dropped. It is not `Send`: a share is used by one thread only.
#[derive(Debug)]
pub struct BudgetShare {
    /// The budget it is a share of.
    budget: Arc<OutboundBudget>,
    /// Bytes taken from the pool.
    held: Cell<usize>,
    /// Of those, bytes queues hold now.
    used: Cell<usize>,
}

impl BudgetShare {
    /// Charges `bytes` a queue is about to hold; answers false (and charges nothing)
    /// when the budget has no room for them.
    pub fn try_take(&self, bytes: usize) -> bool {
        let (held, used) = (self.held.get(), self.used.get());
        let unused = held - used;
        if bytes > unused {
            let Some(taken) = self.budget.take(bytes - unused) else {
                self.budget.refused(bytes);
                return false;
            };
            self.held.set(held + taken);
        }
        self.used.set(used + bytes);
        true
    }

    /// Releases `bytes` a queue no longer holds (written or dropped). What the share
    /// then holds unused beyond two chunks goes back to the pool, and all of it while
    /// the budget is exhausted.
    pub fn give_back(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let used = self.used.get().saturating_sub(bytes);
        self.used.set(used);
        let unused = self.held.get() - used;
        let chunk = self.budget.chunk;
        let keep = match self.budget.exhausted.load(Ordering::Relaxed) {
            true => 0,
            false if unused > 2 * chunk => chunk,
            false => unused,
        };
        if unused > keep {
            self.held.set(used + keep);
            self.budget.give(unused - keep);
        }
    }

    /// Bytes the queues charging this share hold now.
    pub fn used(&self) -> usize {
        self.used.get()
    }

    /// Bytes taken from the pool: what the queues hold plus what is kept unused.
    pub fn held(&self) -> usize {
        self.held.get()
    }

    /// The budget it is a share of.
    pub fn budget(&self) -> &Arc<OutboundBudget> {
        &self.budget
    }
}

impl Drop for BudgetShare {
    fn drop(&mut self) {
        self.budget.give(self.held.get());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Mutex;

    #[test]
    fn a_share_takes_a_chunk_more_than_it_needs_and_keeps_at_most_two() {
        let budget = OutboundBudget::new(1 << 20);
        let chunk = budget.chunk();
        assert_eq!(chunk, 4096);
        let share = budget.new_share();
        assert!(share.try_take(100));
        assert_eq!((share.used(), share.held()), (100, 100 + chunk));
        // Within what it holds: the pool is not touched.
        assert!(share.try_take(chunk));
        assert_eq!(budget.unclaimed(), (1 << 20) - 100 - chunk);
        // Released bytes stay until more than two chunks are unused.
        share.give_back(chunk);
        assert_eq!(share.held(), 100 + chunk);
        assert!(share.try_take(3 * chunk));
        share.give_back(3 * chunk + 100);
        assert_eq!((share.used(), share.held()), (0, chunk));
        drop(share);
        assert_eq!(budget.unclaimed(), 1 << 20, "all back");
    }

    #[test]
    fn the_budget_is_never_passed_and_a_refusal_calls_the_hook_once() {
        let budget = OutboundBudget::new(64 * 1024);
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = calls.clone();
        assert!(budget.on_exhausted(move |packet| seen.lock().unwrap().push(packet)));
        assert!(!budget.on_exhausted(|_| {}), "one hook");
        let (a, b) = (budget.new_share(), budget.new_share());
        assert!(a.try_take(40 * 1024));
        assert!(b.try_take(20 * 1024));
        assert!(a.used() + b.used() <= budget.limit());
        // 60 KiB queued: 4 KiB left, wherever the shares keep it.
        assert!(!b.try_take(5 * 1024));
        assert!(!a.try_take(5 * 1024));
        assert_eq!(*calls.lock().unwrap(), [5 * 1024], "once until reclaimed");
        assert_eq!(
            (a.used(), b.used()),
            (40 * 1024, 20 * 1024),
            "refusals charge nothing"
        );
        // While exhausted, a release gives back everything unused.
        a.give_back(10 * 1024);
        assert_eq!(a.held(), a.used());
        assert!(
            b.try_take(5 * 1024),
            "the freed bytes reach the other share"
        );
        budget.reclaimed();
        assert!(!b.try_take(64 * 1024));
        assert_eq!(calls.lock().unwrap().len(), 2);
    }

    #[test]
    fn each_thread_has_one_share_and_a_new_one_after_the_last_is_dropped() {
        let budget = OutboundBudget::new(1 << 20);
        let one = budget.local_share();
        let two = budget.local_share();
        assert!(Rc::ptr_eq(&one, &two));
        let other = OutboundBudget::new(1 << 20);
        assert!(!Rc::ptr_eq(&one, &other.local_share()), "one per budget");
        let there = budget.clone();
        let elsewhere = std::thread::spawn(move || {
            let share = there.local_share();
            assert!(share.try_take(10));
            share.used()
        });
        assert_eq!(elsewhere.join().unwrap(), 10);
        assert_eq!(
            budget.unclaimed(),
            1 << 20,
            "the thread's share gave its bytes back"
        );
        assert!(one.try_take(5));
        drop((one, two));
        assert_eq!(budget.local_share().used(), 0, "a fresh share");
    }

    proptest! {
        /// Any sequence of charges and releases on a few shares: what the queues hold
        /// never passes the limit, every byte is in the pool or held by a share, a
        /// share keeps at most two chunks unused (none while exhausted), a charge is
        /// refused only when the pool cannot cover it, and everything is back at the end.
        #[test]
        fn bytes_are_conserved_and_the_limit_holds(
            limit in 1usize..200_000,
            steps in proptest::collection::vec((0usize..3, any::<bool>(), 0usize..60_000), 0..300),
        ) {
            let budget = OutboundBudget::new(limit);
            let shares: Vec<_> = (0..3).map(|_| budget.new_share()).collect();
            for (i, take, bytes) in steps {
                let share = &shares[i];
                let released = bytes.min(share.used());
                if take {
                    let unused = share.held() - share.used();
                    let coverable = bytes <= unused + budget.unclaimed();
                    prop_assert_eq!(share.try_take(bytes), coverable);
                } else {
                    share.give_back(released);
                }
                let used: usize = shares.iter().map(|s| s.used()).sum();
                let held: usize = shares.iter().map(|s| s.held()).sum();
                prop_assert!(used <= limit);
                prop_assert_eq!(held + budget.unclaimed(), limit);
                for s in &shares {
                    prop_assert!(s.used() <= s.held());
                }
                if !take && released > 0 {
                    let unused = share.held() - share.used();
                    prop_assert!(unused <= 2 * budget.chunk());
                    if budget.exhausted.load(Ordering::SeqCst) {
                        prop_assert_eq!(unused, 0);
                    }
                }
            }
            for s in &shares {
                s.give_back(s.used());
            }
            drop(shares);
            prop_assert_eq!(budget.unclaimed(), limit);
        }
    }
}
