//! How removals reach the log: one line each while they are few, a count by reason once
//! they come in bursts.
//!
//! In each one-second window, the first
//! [`SupervisorConfig::removal_log_lines`](crate::config::SupervisorConfig) removals get a
//! line of their own; the rest are counted by reason and summarised in one line when
//! the window ends (by the next removal after it, or by the supervisor's once-a-second
//! tick). A flood of removals, 18,400 a second say, then costs two dozen lines a second
//! instead of megabytes, and still names its first victims. Every removal is counted
//! in the stats and announced to subscribers whatever the log says. Time is passed in,
//! so the rules are tested without a clock.

use crate::RemovalReason;
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

/// The window the line budget is counted in.
pub(crate) const WINDOW: Duration = Duration::from_secs(1);

/// Decides which removals get their own log line.
#[derive(Debug)]
pub(crate) struct RemovalLog {
    /// Lines of their own per window.
    lines_per_window: u32,
    /// When the current window began; `None` before the first removal.
    window_start: Option<Instant>,
    /// Lines written in the current window.
    lines: u32,
    /// Removals of the current window counted instead of written, by reason.
    counted: BTreeMap<&'static str, u64>,
}

/// The removals of one window that were counted instead of written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    /// How many, all reasons together.
    pub total: u64,
    /// How many per reason, by name, in name order.
    pub by_reason: Vec<(&'static str, u64)>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} more connections removed in the last {} s, not logged one by one:",
            self.total,
            WINDOW.as_secs()
        )?;
        for (reason, count) in &self.by_reason {
            write!(f, " {reason}={count}")?;
        }
        Ok(())
    }
}

impl RemovalLog {
    /// A log giving `lines_per_window` removals a line each per window.
    pub fn new(lines_per_window: u32) -> Self {
        RemovalLog {
            lines_per_window,
            window_start: None,
            lines: 0,
            counted: BTreeMap::new(),
        }
    }

    /// A removal for `reason` at `now`: whether it gets its own line, and the summary
    /// of the window that ended before it, if that window counted any.
    pub fn removed(&mut self, now: Instant, reason: RemovalReason) -> (bool, Option<Summary>) {
        let ended = self.tick(now);
        if self.window_start.is_none() {
            self.window_start = Some(now);
        }
        if self.lines < self.lines_per_window {
            self.lines += 1;
            return (true, ended);
        }
        *self.counted.entry(reason.as_str()).or_default() += 1;
        (false, ended)
    }

    /// The time is `now`: if the current window has ended, a new one begins at the next
    /// removal, and the ended window's summary is answered if it counted any.
    pub fn tick(&mut self, now: Instant) -> Option<Summary> {
        let start = self.window_start?;
        if now.saturating_duration_since(start) < WINDOW {
            return None;
        }
        self.window_start = None;
        self.lines = 0;
        let counted = std::mem::take(&mut self.counted);
        let total = counted.values().sum();
        (total > 0).then(|| Summary {
            total,
            by_reason: counted.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RemovalReason::{Idle, PeerClosed, SlowConsumer};

    #[test]
    fn the_first_removals_of_a_window_get_a_line_and_the_rest_a_summary() {
        let mut log = RemovalLog::new(3);
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let own: Vec<bool> = (0..10)
            .map(|i| log.removed(ms(i), [PeerClosed, Idle][i as usize % 2]).0)
            .collect();
        assert_eq!(own.iter().filter(|o| **o).count(), 3);
        assert!(own[..3].iter().all(|o| *o), "the first three: {own:?}");
        assert_eq!(log.tick(ms(999)), None, "the window is not over");
        let summary = log.tick(ms(1000)).expect("seven counted");
        assert_eq!(summary.total, 7);
        assert_eq!(summary.by_reason, [("idle", 4), ("peer_closed", 3)]);
        assert_eq!(
            summary.to_string(),
            "7 more connections removed in the last 1 s, not logged one by one: \
             idle=4 peer_closed=3"
        );
        assert_eq!(log.tick(ms(5000)), None, "said once");
    }

    #[test]
    fn a_window_ends_at_the_next_removal_too_and_a_new_one_begins_there() {
        let mut log = RemovalLog::new(1);
        let t0 = Instant::now();
        assert_eq!(log.removed(t0, Idle), (true, None));
        assert_eq!(log.removed(t0, SlowConsumer), (false, None));
        // Much later: the next removal ends the old window and starts its own.
        let later = t0 + Duration::from_secs(30);
        let (own, ended) = log.removed(later, Idle);
        assert!(own);
        assert_eq!(ended.map(|s| s.by_reason), Some(vec![("slow_consumer", 1)]));
        assert!(!log.removed(later + Duration::from_millis(999), Idle).0);
        assert!(log.removed(later + WINDOW, Idle).0);
    }

    #[test]
    fn few_removals_are_all_written_and_never_summarised() {
        let mut log = RemovalLog::new(10);
        let t0 = Instant::now();
        for i in 0..100u32 {
            // Five a second, for twenty seconds.
            let at = t0 + Duration::from_millis(200) * i;
            assert_eq!(log.removed(at, PeerClosed), (true, None));
        }
        assert_eq!(log.tick(t0 + Duration::from_secs(60)), None);
    }

    #[test]
    fn a_flood_costs_the_line_budget_and_one_summary_per_window() {
        let mut log = RemovalLog::new(10);
        let t0 = Instant::now();
        let (mut lines, mut summaries, mut summarised) = (0, 0, 0);
        // 18,400 removals a second for three seconds.
        for i in 0..55_200u64 {
            let at = t0 + Duration::from_micros(i * 1_000_000 / 18_400);
            let (own, ended) = log.removed(at, PeerClosed);
            lines += u64::from(own);
            if let Some(summary) = ended {
                summaries += 1;
                summarised += summary.total;
            }
        }
        if let Some(summary) = log.tick(t0 + Duration::from_secs(4)) {
            summaries += 1;
            summarised += summary.total;
        }
        assert_eq!(lines, 30);
        assert_eq!(summaries, 3);
        assert_eq!(
            lines + summarised,
            55_200,
            "every removal is written or counted"
        );
    }

    #[test]
    fn a_budget_of_zero_summarises_everything() {
        let mut log = RemovalLog::new(0);
        let t0 = Instant::now();
        assert!(!log.removed(t0, Idle).0);
        assert_eq!(log.tick(t0 + WINDOW).map(|s| s.total), Some(1));
    }
}
