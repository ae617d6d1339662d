//! Handing freed memory back to the operating system after a large release.
//!
//! When peers that never read are removed, the bytes their queues held are freed, but
//! glibc's allocator keeps freed memory in its arenas for reuse: measured, 500 such
//! peers left the process at 1,235 MiB resident after they were all gone, and
//! `malloc_trim(0)` brought it to 9 MiB. Nothing of the library's own is kept (every
//! queue, buffer and registry entry of a removed connection is dropped); the memory is
//! free but not returned. So once a second the supervisor looks at the budget of queued
//! bytes, and when the bytes queued have fallen by a sixteenth of the budget (at least
//! 16 MiB) since the last look that trimmed, it asks glibc to trim
//! ([`SwitchboardConfig::trim_memory`](crate::SwitchboardConfig)). Other allocators
//! (jemalloc, mimalloc) return memory by themselves; there it does nothing.
//!
//! The bytes queued need not fall for memory to pile up: while never-reading peers keep
//! the budget exhausted, the supervisor removes the largest queues and others fill the
//! room again, and glibc keeps what the removed ones freed in pieces it does not reuse
//! whole. Measured with 300 such peers under a 64 MiB budget, the process peaked at 143 to
//! 200 MiB resident, of which a `malloc_trim(0)` gave back 45 to 100. So the queues
//! that removals for the budget freed count too: once they add up to the same
//! threshold, the next look trims.

/// Decides when a fall in the bytes queued is worth a trim. Pure: the figures are
/// passed in.
#[derive(Debug)]
pub(crate) struct Trimmer {
    /// The most bytes queued seen since the last trim.
    high: usize,
    /// How far the bytes queued must fall from `high` to trim, and how many bytes the
    /// queues of removed connections must have freed.
    threshold: usize,
    /// Bytes freed by the queues of connections removed for the budget since the last
    /// trim.
    freed: usize,
}

impl Trimmer {
    /// A trimmer for a budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Trimmer {
            high: 0,
            threshold: (limit / 16).max(16 << 20),
            freed: 0,
        }
    }

    /// The queue of a connection removed for the budget freed `bytes`.
    pub fn freed(&mut self, bytes: usize) {
        self.freed = self.freed.saturating_add(bytes);
    }

    /// The bytes queued (or held for queues) now; answers whether to trim now.
    pub fn observe(&mut self, queued: usize) -> bool {
        self.high = self.high.max(queued);
        if self.high - queued < self.threshold && self.freed < self.threshold {
            return false;
        }
        self.high = queued;
        self.freed = 0;
        true
    }
}

/// Returns free memory at the top of the heap and free pages inside it to the
/// operating system (glibc's `malloc_trim`); elsewhere nothing.
pub(crate) fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only walks the allocator's own free lists.
        let released = unsafe { libc::malloc_trim(0) };
        tracing::debug!(released, "freed memory handed back to the system");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fall_of_a_sixteenth_of_the_budget_trims_once() {
        let mut t = Trimmer::new(1 << 30);
        assert_eq!(t.threshold, 64 << 20);
        assert!(!t.observe(0));
        assert!(!t.observe(1 << 30), "growing never trims");
        assert!(!t.observe((1 << 30) - (63 << 20)));
        assert!(t.observe((1 << 30) - (64 << 20)));
        assert!(
            !t.observe((1 << 30) - (100 << 20)),
            "measured from the last trim"
        );
        assert!(t.observe(0));
        assert!(!t.observe(0));
    }

    #[test]
    fn queues_freed_by_removals_trim_though_the_bytes_queued_stay_high() {
        let mut t = Trimmer::new(64 << 20);
        assert!(!t.observe(64 << 20));
        t.freed(10 << 20);
        assert!(!t.observe(64 << 20), "10 MiB freed is not worth it");
        t.freed(6 << 20);
        assert!(t.observe(64 << 20), "16 MiB freed and refilled");
        assert!(!t.observe(64 << 20), "counted from the last trim");
        t.freed(15 << 20);
        assert!(!t.observe(63 << 20));
        assert!(
            t.observe(48 << 20),
            "a fall trims too, and forgets what was freed"
        );
        t.freed(15 << 20);
        assert!(!t.observe(48 << 20));
    }

    #[test]
    fn a_small_budget_trims_after_sixteen_mebibytes() {
        let mut t = Trimmer::new(1 << 20);
        assert!(!t.observe(1 << 20));
        assert!(!t.observe(0), "a megabyte is not worth it");
        assert!(!t.observe(20 << 20));
        assert!(t.observe(4 << 20));
    }
}
