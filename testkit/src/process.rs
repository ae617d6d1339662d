//! Child processes of a test (the server binary, a benchmark run, a NATS server):
//! waiting for one to exit within a limit, and reading a process's memory figures.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Waits for `child` to exit, for at most `limit`; kills it and panics naming `what`
/// if it does not.
pub fn wait_exit(child: &mut Child, what: &str, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait on a child") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {limit:?}");
        }
        std::thread::sleep(crate::POLL);
    }
}

/// A `kB` field of `/proc/PID/status`, in KiB: `VmRSS` (resident memory), `VmHWM` (its
/// peak), `VmData` (private writable memory mapped, touched or not). `None` if the
/// process or the field is not there.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&status, field)
}

/// The `field` of a `/proc/PID/status` text, in KiB.
pub fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// User plus system CPU time a process has used, in clock ticks (`utime + stime` of
/// `/proc/PID/stat`, 100 per second on Linux). `None` if it is not there.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields are counted after the command name, which may hold spaces and `)`.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_in_kib() {
        let status = "Name:\tx\nVmHWM:\t  9000 kB\nVmRSS:\t    5120 kB\nVmData:\t 777 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(5120));
        assert_eq!(parse_status_kib(status, "VmData"), Some(777));
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(9000));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
        assert_eq!(parse_status_kib("VmRSSX:\t1 kB\n", "VmRSS"), None);
    }

    #[test]
    fn this_process_has_memory_and_has_used_cpu() {
        let me = std::process::id();
        assert!(status_kib(me, "VmRSS").is_some_and(|kib| kib > 0));
        assert!(cpu_ticks(me).is_some());
    }
}
