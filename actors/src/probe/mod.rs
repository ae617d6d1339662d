//! Latency histograms, arrival stamps (on Linux with glibc), and with the `probe`
//! feature, where a request's time goes inside the server.
//!
//! With the feature, every plain-TCP connection asks the kernel to stamp what it
//! receives (`SO_TIMESTAMPNS`) and reads with `recvmsg`, and each read whose requests
//! queued replies is followed to the first write after it. Three histograms, in
//! nanoseconds, weighted by the requests the read decoded:
//!
//! - `wait`: from the arrival of the read's last segment (the kernel's stamp) to the
//!   read: time the bytes waited for their connection's turn (the worker busy with
//!   other connections, or not running at all);
//! - `turn`: from the read to the write that carried the replies: time in the turn
//!   (decoding, handling, the other rounds of the turn, a write held back for flush
//!   consolidation);
//! - `total`: the two together, the server's share of a round trip.
//!
//! Each worker thread records into histograms of its own (one uncontended lock per
//! record); `report()` adds them up and says how the requests were spread over the
//! threads. Without the feature nothing is recorded and
//! connections read with `recv` as always: the feature costs nothing when off.

#[cfg(all(feature = "probe", not(all(target_os = "linux", target_env = "gnu"))))]
compile_error!("the probe feature needs Linux with glibc (SO_TIMESTAMPNS through libc)");

mod histogram;
#[cfg(feature = "probe")]
mod recording;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod stamp;

pub use histogram::Histogram;
#[cfg(feature = "probe")]
pub use recording::report;
#[cfg(feature = "probe")]
pub(crate) use recording::Pending;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub use stamp::{enable_timestamps, recv_stamped};

/// The server's share of round trips, by phase (see the module's documentation).
#[derive(Debug, Clone, Default)]
pub struct Phases {
    /// From a read's arrival to the read.
    pub wait: Histogram,
    /// From the read to the write carrying its replies.
    pub turn: Histogram,
    /// Both together.
    pub total: Histogram,
    /// Reads that had no arrival stamp (their requests are in `turn` only).
    pub unstamped: u64,
}

impl Phases {
    /// Adds everything recorded in `other`.
    pub fn merge(&mut self, other: &Phases) {
        self.wait.merge(&other.wait);
        self.turn.merge(&other.turn);
        self.total.merge(&other.total);
        self.unstamped += other.unstamped;
    }

    /// One JSON object: per phase the requests recorded and p50, p90, p99, p999 and
    /// the maximum in microseconds.
    pub fn to_json(&self) -> String {
        let phase = |h: &Histogram| {
            let us = |ns: u64| (ns as f64 / 100.0).round() / 10.0;
            format!(
                "{{\"requests\":{},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{}}}",
                h.count(),
                us(h.quantile(0.5)),
                us(h.quantile(0.9)),
                us(h.quantile(0.99)),
                us(h.quantile(0.999)),
                us(h.max())
            )
        };
        format!(
            "{{\"wait\":{},\"turn\":{},\"total\":{},\"unstamped_reads\":{}}}",
            phase(&self.wait),
            phase(&self.turn),
            phase(&self.total),
            self.unstamped
        )
    }
}

/// What the probe recorded: every thread's phases added up, and the requests each
/// thread recorded (an uneven spread of connections over the workers shows there).
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every thread's phases together.
    pub phases: Phases,
    /// Requests recorded per thread (`turn`), in the order the threads first recorded.
    pub per_thread: Vec<u64>,
}

impl Report {
    /// The phases' JSON object (see [`Phases::to_json`]) with `per_thread` added.
    pub fn to_json(&self) -> String {
        let phases = self.phases.to_json();
        let threads: Vec<String> = self.per_thread.iter().map(u64::to_string).collect();
        format!(
            "{},\"per_thread\":[{}]}}",
            &phases[..phases.len() - 1],
            threads.join(",")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lists_threads() {
        let mut phases = Phases::default();
        phases.turn.record_n(10, 5);
        let report = Report {
            phases,
            per_thread: vec![2, 3],
        };
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["per_thread"], serde_json::json!([2, 3]));
        assert_eq!(json["turn"]["requests"], 5);
    }

    #[test]
    fn phases_merge_and_print() {
        let mut a = Phases::default();
        a.wait.record_n(2_000, 3);
        a.turn.record(1_500_000);
        let mut b = Phases::default();
        b.total.record(7);
        b.unstamped = 2;
        a.merge(&b);
        let json: serde_json::Value = serde_json::from_str(&a.to_json()).unwrap();
        assert_eq!(json["wait"]["requests"], 3);
        assert_eq!(json["wait"]["p50_us"], 2.0);
        assert_eq!(json["turn"]["max_us"], 1500.0);
        assert_eq!(json["total"]["requests"], 1);
        assert_eq!(json["unstamped_reads"], 2);
    }
}
