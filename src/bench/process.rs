//! The server's (and the generator's own) CPU time and resident memory, from `/proc`.
//!
//! CPU time is `utime + stime` of `/proc/PID/stat` divided by the clock tick rate
//! (`sysconf(_SC_CLK_TCK)`, 100 on Linux), so it has a resolution of 10 ms; resident
//! memory is `VmRSS` of `/proc/PID/status`. What the scheduler did to the server's
//! threads (time they were runnable but waited for a CPU, context switches) is summed
//! over `/proc/PID/task/*/schedstat` and `.../status`: threads that end during the run
//! are left out.

use super::BenchError;

/// A process to measure: a pid, or the generator itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proc {
    /// Another process.
    Pid(u32),
    /// This process.
    Myself,
}

impl Proc {
    fn path(self, file: &str) -> String {
        match self {
            Proc::Pid(pid) => format!("/proc/{pid}/{file}"),
            Proc::Myself => format!("/proc/self/{file}"),
        }
    }

    /// User plus system CPU seconds used so far.
    pub fn cpu_seconds(self) -> Result<f64, BenchError> {
        let path = self.path("stat");
        let stat =
            std::fs::read_to_string(&path).map_err(BenchError::io(format!("read {path}")))?;
        let ticks = parse_cpu_ticks(&stat)
            .ok_or_else(|| BenchError::Protocol(format!("unexpected format of {path}")))?;
        Ok(ticks as f64 / clock_ticks_per_second())
    }

    /// Resident memory in KiB.
    pub fn rss_kib(self) -> Result<u64, BenchError> {
        let path = self.path("status");
        let status =
            std::fs::read_to_string(&path).map_err(BenchError::io(format!("read {path}")))?;
        parse_vm_rss_kib(&status).ok_or_else(|| BenchError::Protocol(format!("no VmRSS in {path}")))
    }
}

/// What the scheduler did to a process's threads so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sched {
    /// Nanoseconds its threads were runnable and waited for a CPU.
    pub runqueue_wait_ns: u64,
    /// Times its threads gave up the CPU themselves (waiting for I/O or a lock).
    pub voluntary_switches: u64,
    /// Times the scheduler took the CPU from them.
    pub involuntary_switches: u64,
}

impl Sched {
    /// Per-thread figures of process `pid` summed.
    pub fn of(pid: u32) -> Result<Sched, BenchError> {
        let dir = format!("/proc/{pid}/task");
        let tasks = std::fs::read_dir(&dir).map_err(BenchError::io(format!("read {dir}")))?;
        let mut sum = Sched::default();
        for task in tasks.flatten() {
            let path = task.path();
            // A thread that ended meanwhile has no files any more: it is left out.
            let (Ok(schedstat), Ok(status)) = (
                std::fs::read_to_string(path.join("schedstat")),
                std::fs::read_to_string(path.join("status")),
            ) else {
                continue;
            };
            sum.runqueue_wait_ns += parse_runqueue_wait(&schedstat).unwrap_or(0);
            sum.voluntary_switches +=
                status_field(&status, "voluntary_ctxt_switches:").unwrap_or(0);
            sum.involuntary_switches +=
                status_field(&status, "nonvoluntary_ctxt_switches:").unwrap_or(0);
        }
        Ok(sum)
    }
}

/// The run-queue wait (second field, nanoseconds) of a `schedstat` line.
pub fn parse_runqueue_wait(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().nth(1)?.parse().ok()
}

/// The number after `key` on its line of a `/proc/.../status` file.
fn status_field(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))?
        .trim()
        .parse()
        .ok()
}

/// Clock ticks per second of `/proc/PID/stat` times.
fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// `utime + stime` (fields 14 and 15) of a `/proc/PID/stat` line. The command name
/// (field 2) may hold spaces and parentheses, so fields are counted after the last `)`.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The `VmRSS` of a `/proc/PID/status` file, in KiB.
pub fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// CPU seconds of the server (when its pid is known) and of the generator over one
/// measured interval, and what the scheduler did to the server meanwhile.
#[derive(Debug, Clone, Copy)]
pub struct CpuWatch {
    /// The server, if its pid was given: its CPU seconds and scheduler figures at the
    /// start.
    server: Option<(Proc, f64, Sched)>,
    /// The generator's own CPU seconds at the start.
    myself: f64,
}

/// What a [`CpuWatch`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuUsed {
    /// The server's CPU seconds, if its pid was given.
    pub server: Option<f64>,
    /// The generator's CPU seconds.
    pub bench: f64,
    /// What the scheduler did to the server's threads, if its pid was given.
    pub sched: Option<Sched>,
}

impl CpuWatch {
    /// Starts measuring now.
    pub fn start(pid: Option<u32>) -> Result<Self, BenchError> {
        let server = match pid {
            Some(pid) => Some((
                Proc::Pid(pid),
                Proc::Pid(pid).cpu_seconds()?,
                Sched::of(pid)?,
            )),
            None => None,
        };
        Ok(CpuWatch {
            server,
            myself: Proc::Myself.cpu_seconds()?,
        })
    }

    /// CPU seconds used since the start.
    pub fn stop(&self) -> Result<CpuUsed, BenchError> {
        let (server, sched) = match self.server {
            Some((proc, start, before)) => {
                let after = match proc {
                    Proc::Pid(pid) => Sched::of(pid)?,
                    Proc::Myself => before,
                };
                let sched = Sched {
                    runqueue_wait_ns: after
                        .runqueue_wait_ns
                        .saturating_sub(before.runqueue_wait_ns),
                    voluntary_switches: after
                        .voluntary_switches
                        .saturating_sub(before.voluntary_switches),
                    involuntary_switches: after
                        .involuntary_switches
                        .saturating_sub(before.involuntary_switches),
                };
                (
                    Some(super::round3(proc.cpu_seconds()? - start)),
                    Some(sched),
                )
            }
            None => (None, None),
        };
        Ok(CpuUsed {
            server,
            bench: super::round3(Proc::Myself.cpu_seconds()? - self.myself),
            sched,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_after_a_tricky_name() {
        let stat = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 31 0 0 20 0";
        assert_eq!(parse_cpu_ticks(stat), Some(281));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn vm_rss() {
        let status = "Name:\tx\nVmPeak:\t  100 kB\nVmRSS:\t    5120 kB\nThreads: 3\n";
        assert_eq!(parse_vm_rss_kib(status), Some(5120));
        assert_eq!(parse_vm_rss_kib("Name: x\n"), None);
    }

    #[test]
    fn own_figures_are_readable() {
        assert!(Proc::Myself.cpu_seconds().unwrap() >= 0.0);
        assert!(Proc::Myself.rss_kib().unwrap() > 0);
        let sched = Sched::of(std::process::id()).unwrap();
        assert!(
            sched.voluntary_switches + sched.involuntary_switches > 0,
            "{sched:?}"
        );
    }

    #[test]
    fn schedstat_and_status_fields() {
        assert_eq!(
            parse_runqueue_wait("156759161 928002639 557\n"),
            Some(928002639)
        );
        assert_eq!(parse_runqueue_wait("12"), None);
        let status = "voluntary_ctxt_switches:\t458\nnonvoluntary_ctxt_switches:\t99\n";
        assert_eq!(status_field(status, "voluntary_ctxt_switches:"), Some(458));
        assert_eq!(
            status_field(status, "nonvoluntary_ctxt_switches:"),
            Some(99)
        );
    }
}
