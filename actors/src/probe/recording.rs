//! The recording half of the probe: the reads of a connection still waiting for the
//! write that carries their replies, and each worker thread's histograms.

use super::{Phases, Report};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// Every thread's histograms, for [`report`].
static ALL: Mutex<Vec<Arc<Mutex<Phases>>>> = Mutex::new(Vec::new());

thread_local! {
    /// This thread's histograms: only this thread records into them, so their lock is
    /// never contended but by [`report`].
    static MINE: Arc<Mutex<Phases>> = {
        let mine = Arc::<Mutex<Phases>>::default();
        ALL.lock().unwrap_or_else(PoisonError::into_inner).push(mine.clone());
        mine
    };
}

/// Everything recorded so far: every thread's phases added up, and each thread's share.
pub fn report() -> Report {
    let mut report = Report::default();
    for phases in ALL.lock().unwrap_or_else(PoisonError::into_inner).iter() {
        let phases = phases.lock().unwrap_or_else(PoisonError::into_inner);
        report.phases.merge(&phases);
        report.per_thread.push(phases.turn.count());
    }
    report
}

/// Reads followed at once; more are folded into the last.
const PENDING: usize = 4;

/// One read waiting for its write.
#[derive(Debug, Clone, Copy)]
struct Read {
    /// When the read returned.
    at: Instant,
    /// How long its last segment had waited in the socket, if stamped.
    waited: Option<Duration>,
    /// Requests it decoded.
    requests: u64,
}

/// A connection's reads whose replies are queued and not yet written.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// The reads, oldest first.
    reads: [Option<Read>; PENDING],
}

impl Pending {
    /// A read at `at` (stamped `arrived`) decoded `requests` that queued replies.
    pub(crate) fn read(&mut self, at: Instant, arrived: Option<SystemTime>, requests: u64) {
        let waited = arrived.map(|t| SystemTime::now().duration_since(t).unwrap_or_default());
        let read = Read {
            at,
            waited,
            requests,
        };
        match self.reads.iter_mut().find(|r| r.is_none()) {
            Some(free) => *free = Some(read),
            // Full: its requests are counted with the latest read.
            None => {
                if let Some(last) = &mut self.reads[PENDING - 1] {
                    last.requests += requests;
                }
            }
        }
    }

    /// A write at `at` carried the replies of every pending read: records them.
    pub(crate) fn written(&mut self, at: Instant) {
        if self.reads[0].is_none() {
            return;
        }
        MINE.with(|mine| {
            let mut phases = mine.lock().unwrap_or_else(PoisonError::into_inner);
            for read in self.reads.iter_mut().filter_map(Option::take) {
                let turn = at.saturating_duration_since(read.at);
                phases.turn.record_n(nanos(turn), read.requests);
                match read.waited {
                    Some(waited) => {
                        phases.wait.record_n(nanos(waited), read.requests);
                        phases.total.record_n(nanos(waited + turn), read.requests);
                    }
                    None => phases.unstamped += 1,
                }
            }
        });
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_recorded_at_their_write() {
        let before = MINE.with(|m| m.lock().unwrap().clone());
        let mut pending = Pending::default();
        let start = Instant::now();
        let arrived = SystemTime::now() - Duration::from_millis(3);
        pending.read(start, Some(arrived), 16);
        pending.read(start + Duration::from_millis(1), None, 2);
        pending.written(start + Duration::from_millis(5));
        // Nothing pending any more: a second write records nothing.
        pending.written(start + Duration::from_millis(9));
        let after = MINE.with(|m| m.lock().unwrap().clone());
        assert_eq!(after.turn.count() - before.turn.count(), 18);
        assert_eq!(after.wait.count() - before.wait.count(), 16);
        assert_eq!(after.unstamped - before.unstamped, 1);
        assert!(after.wait.max() >= 3_000_000, "{}", after.wait.max());
        assert!(after.total.max() >= 8_000_000, "{}", after.total.max());
        assert!(report().phases.turn.count() >= 18);
    }

    #[test]
    fn a_full_list_folds_into_the_last_read() {
        let mut pending = Pending::default();
        let now = Instant::now();
        for _ in 0..PENDING + 2 {
            pending.read(now, None, 1);
        }
        assert_eq!(pending.reads[PENDING - 1].unwrap().requests, 3);
    }
}
