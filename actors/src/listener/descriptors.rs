//! File descriptors: every accepted connection holds one, and so does everything else
//! the process opens (the HTTP port and its clients, backends, the cluster link, files).
//!
//! At start the switchboard raises the open-file soft limit to the hard limit (as Go's
//! runtime does: the soft limit is often 1024, far below what a connection server
//! needs), and then caps the connections its listeners accept at once at what the limit
//! leaves after the descriptors already open and a reserve
//! ([`SwitchboardConfig::descriptor_reserve`](crate::SwitchboardConfig)). Past the cap,
//! accepting pauses exactly as at `max_connections` (new peers wait in the kernel's
//! backlog), so the listeners never take the descriptors the rest of the process needs.
//! Descriptors the application opens after start come out of the reserve.
//!
//! Should an accept fail anyway for want of descriptors or memory, the accept loop
//! backs off (doubling up to a second) and logs the first failure of a run, then a
//! summary at most every [`LOG_EVERY`] and a line when accepting works again
//! ([`AcceptFailures`]), instead of a line per retry.

use std::io;
use std::time::{Duration, Instant};

/// The open-file limits of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenFileLimit {
    /// The soft limit now in force; `None`: unlimited.
    pub soft: Option<u64>,
    /// The hard limit; `None`: unlimited.
    pub hard: Option<u64>,
}

/// The open-file limits of the process, after raising the soft limit to the hard one
/// if `raise` (when it is lower). Where raising fails (a hard limit the system refuses
/// as a soft one), the soft limit stays as it was.
#[cfg(unix)]
pub(crate) fn open_file_limit(raise: bool) -> OpenFileLimit {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let limit = getrlimit(Resource::Nofile);
    let mut now = OpenFileLimit {
        soft: limit.current,
        hard: limit.maximum,
    };
    let below_hard = match (limit.current, limit.maximum) {
        (Some(soft), Some(hard)) => soft < hard,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if raise && below_hard {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => now.soft = limit.maximum,
            Err(e) => tracing::debug!("open-file limit not raised to {:?}: {e}", limit.maximum),
        }
    }
    now
}

/// Raising is for Unix; elsewhere the limit is unknown.
#[cfg(not(unix))]
pub(crate) fn open_file_limit(_raise: bool) -> OpenFileLimit {
    OpenFileLimit {
        soft: None,
        hard: None,
    }
}

/// What the listeners of a switchboard started with `config` may hold at once: raises
/// the open-file limit (if the configuration says so), and warns when it leaves room
/// for fewer connections than `max_connections`.
pub(crate) fn connection_capacity(config: &crate::SwitchboardConfig) -> usize {
    let limit = open_file_limit(config.raise_open_file_limit);
    let open = open_descriptors().unwrap_or(0);
    let reserve = config.descriptor_reserve;
    let (cap, lowered) = connection_cap(config.max_connections, limit.soft, open, reserve);
    if lowered {
        tracing::warn!(
            max_connections = config.max_connections,
            open_file_limit = limit.soft,
            "max_connections is {}, but the open-file limit of {} leaves room for {cap} \
             connections after {open} open descriptors and a reserve of {reserve}: \
             accepting pauses at {cap}; raise the hard limit (`ulimit -Hn`, systemd's \
             `LimitNOFILE=`) to serve more",
            config.max_connections,
            limit.soft.unwrap_or_default(),
        );
    }
    cap
}

/// Descriptors the process has open now, where the system tells (`/proc/self/fd`,
/// `/dev/fd`); the directory's own descriptor is not counted.
pub(crate) fn open_descriptors() -> Option<usize> {
    ["/proc/self/fd", "/dev/fd"]
        .iter()
        .find_map(|dir| std::fs::read_dir(dir).ok())
        .map(|entries| entries.count().saturating_sub(1))
}

/// How many connections the listeners may hold at once: `max_connections`, or less
/// when the open-file limit `soft` leaves fewer descriptors after the `open` ones and
/// the `reserve`. Answers the cap and whether the limit lowered it.
pub(crate) fn connection_cap(
    max_connections: usize,
    soft: Option<u64>,
    open: usize,
    reserve: usize,
) -> (usize, bool) {
    let Some(soft) = soft else {
        return (max_connections, false);
    };
    let soft = usize::try_from(soft).unwrap_or(usize::MAX);
    let left = soft.saturating_sub(open).saturating_sub(reserve);
    if left < max_connections {
        (left, true)
    } else {
        (max_connections, false)
    }
}

/// The longest pause of the accept loop after a failure.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The first pause after a failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);

/// How often a run of accept failures is summarised in the log.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(10);

/// Whether an accept error concerns only the one connection being accepted (it went
/// away before we took it): then the loop accepts the next at once, as actix-server
/// does.
pub(crate) fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// What the accept loop does after a failure: wait this long, and log this line
/// first, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Backoff {
    /// How long to wait before accepting again.
    pub pause: Duration,
    /// A line for the log (at `warn`), or `None` to stay quiet.
    pub log: Option<String>,
}

/// One listener's run of failed accepts (out of descriptors, say): how long to back
/// off and when to say so. Time is passed in, so the rules are tested without a clock.
#[derive(Debug, Default)]
pub(crate) struct AcceptFailures {
    /// Failures since the last successful accept.
    failures: u64,
    /// Failures not yet mentioned in the log.
    unlogged: u64,
    /// When the log last mentioned this run.
    logged_at: Option<Instant>,
    /// The pause after the last failure.
    pause: Duration,
}

impl AcceptFailures {
    /// An accept on `listener` failed with `error` at `now`.
    pub fn failed(&mut self, now: Instant, listener: &str, error: &io::Error) -> Backoff {
        self.failures += 1;
        self.unlogged += 1;
        self.pause = match self.failures {
            1 => FIRST_BACKOFF,
            _ => (self.pause * 2).min(MAX_BACKOFF),
        };
        let due = self
            .logged_at
            .is_none_or(|at| now.saturating_duration_since(at) >= LOG_EVERY);
        let log = due.then(|| {
            let line = match self.failures {
                1 => format!("accept on {listener} failed: {error}; retrying with backoff"),
                n => format!(
                    "accept on {listener} still failing: {} failures in the last {} s \
                     ({n} in a row): {error}",
                    self.unlogged,
                    LOG_EVERY.as_secs()
                ),
            };
            self.unlogged = 0;
            self.logged_at = Some(now);
            line
        });
        Backoff {
            pause: self.pause,
            log,
        }
    }

    /// An accept succeeded: ends the run; answers a line for the log (at `info`) if
    /// the run was long enough to have been logged more than once.
    pub fn succeeded(&mut self, listener: &str) -> Option<String> {
        if self.failures == 0 {
            return None;
        }
        let failures = std::mem::take(&mut self.failures);
        let line = (failures > 1)
            .then(|| format!("accepting on {listener} again after {failures} failed accepts"));
        *self = AcceptFailures::default();
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emfile() -> io::Error {
        io::Error::from_raw_os_error(24)
    }

    #[test]
    fn the_cap_is_what_the_limit_leaves_after_open_descriptors_and_the_reserve() {
        assert_eq!(
            connection_cap(100_000, Some(20_000), 40, 256),
            (19_704, true)
        );
        assert_eq!(connection_cap(1_000, Some(20_000), 40, 256), (1_000, false));
        assert_eq!(connection_cap(100_000, None, 40, 256), (100_000, false));
        // A limit below what is open and reserved leaves nothing, never a negative.
        assert_eq!(connection_cap(100, Some(200), 150, 256), (0, true));
        assert_eq!(connection_cap(10, Some(u64::MAX), 3, 256), (10, false));
    }

    #[test]
    fn the_pause_doubles_up_to_a_second_and_a_success_ends_the_run() {
        let mut run = AcceptFailures::default();
        let now = Instant::now();
        let pauses: Vec<u128> = (0..10)
            .map(|_| run.failed(now, "frame", &emfile()).pause.as_millis())
            .collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        assert!(run.succeeded("frame").is_some());
        assert_eq!(run.failed(now, "frame", &emfile()).pause.as_millis(), 10);
    }

    #[test]
    fn a_run_of_failures_is_logged_once_then_summarised_every_ten_seconds() {
        let mut run = AcceptFailures::default();
        let start = Instant::now();
        let first = run.failed(start, "frame", &emfile());
        let line = first.log.expect("the first failure is logged");
        assert!(line.contains("accept on frame failed"), "{line}");
        assert!(line.contains("Too many open files") || line.contains("os error 24"));
        // A failure every 100 ms for 25 s: one line at 10 s and one at 20 s, not 250.
        let mut lines = Vec::new();
        for i in 1..=250u32 {
            let at = start + Duration::from_millis(100) * i;
            if let Some(line) = run.failed(at, "frame", &emfile()).log {
                lines.push((i, line));
            }
        }
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].0, 100);
        assert!(
            lines[0].1.contains("100 failures in the last 10 s"),
            "{lines:?}"
        );
        assert!(lines[1].1.contains("(201 in a row)"), "{lines:?}");
        let back = run.succeeded("frame").expect("a long run's end is logged");
        assert!(back.contains("after 251 failed accepts"), "{back}");
        assert_eq!(run.succeeded("frame"), None, "nothing to end");
    }

    #[test]
    fn a_single_failure_is_logged_once_and_its_end_is_not() {
        let mut run = AcceptFailures::default();
        assert!(run.failed(Instant::now(), "line", &emfile()).log.is_some());
        assert_eq!(run.succeeded("line"), None);
    }

    #[test]
    fn only_failures_of_the_one_connection_are_retried_at_once() {
        assert!(is_connection_error(
            &io::ErrorKind::ConnectionAborted.into()
        ));
        assert!(is_connection_error(&io::ErrorKind::Interrupted.into()));
        assert!(!is_connection_error(&emfile()));
        assert!(!is_connection_error(&io::Error::from_raw_os_error(23)));
    }

    #[test]
    fn the_limit_is_raised_to_the_hard_limit_and_descriptors_are_counted() {
        let limit = open_file_limit(true);
        if cfg!(target_os = "linux") {
            assert!(limit.soft.is_some());
            assert_eq!(limit.soft, limit.hard, "raised to the hard limit");
            // Standard input, output and error at least (other tests open more
            // meanwhile, so no exact count here).
            assert!(open_descriptors().is_some_and(|n| n >= 3));
        }
    }
}
