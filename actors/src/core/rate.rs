//! The message-rate token bucket, in its one-instant form (the generic cell rate
//! algorithm): a bucket of `burst` tokens refilled at `per_second` is fully described by
//! the instant at which it will be full again, so a connection keeps one stamp for it.
//!
//! Taking a token at `now` moves that instant to `max(full_at, now) + interval`. A token
//! is available while the bucket is short of at most `burst - 1` tokens, that is from
//! `full_at - (burst - 1) * interval` on. Over the rate the connection does not refuse
//! anything: it stops reading until that instant (a deadline of the core), and the peer
//! is slowed by TCP flow control.

use crate::ConnectionLimits;
use std::time::{Duration, Instant};

/// A message rate: the time one token takes to come back, and the bucket's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate {
    /// The time one token takes to refill: a second over the rate (at least 1 ns).
    interval: Duration,
    /// Tokens the bucket holds when full (at least 1).
    burst: u32,
}

impl Rate {
    /// The rate `limits` set, or `None` when it is off.
    pub fn of(limits: &ConnectionLimits) -> Option<Rate> {
        let per_second = limits.max_messages_per_s;
        if per_second == 0 {
            return None;
        }
        let burst = match limits.max_messages_burst {
            0 => per_second,
            burst => burst,
        };
        let nanos = (1_000_000_000 / u64::from(per_second)).max(1);
        Some(Rate {
            interval: Duration::from_nanos(nanos),
            burst,
        })
    }

    /// When the bucket is full again after one more token is taken at `now` from a
    /// bucket full at `full_at`.
    pub fn take(&self, full_at: Instant, now: Instant) -> Instant {
        full_at.max(now) + self.interval
    }

    /// From when a bucket full at `full_at` has a token to give.
    pub fn next_token(&self, full_at: Instant, born: Instant) -> Instant {
        let short = self.interval.saturating_mul(self.burst - 1);
        full_at.checked_sub(short).map_or(born, |at| at.max(born))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_second: u32, burst: u32) -> Rate {
        let limits = ConnectionLimits::default()
            .with_max_messages_per_s(per_second)
            .with_max_messages_burst(burst);
        Rate::of(&limits).expect("a rate")
    }

    /// Takes tokens at `now` while one is available; answers how many.
    fn drain(rate: Rate, full_at: &mut Instant, born: Instant, now: Instant) -> u32 {
        let mut taken = 0;
        while rate.next_token(*full_at, born) <= now && taken < 10_000 {
            *full_at = rate.take(*full_at, now);
            taken += 1;
        }
        taken
    }

    #[test]
    fn off_by_default_and_the_burst_defaults_to_the_rate() {
        assert_eq!(Rate::of(&ConnectionLimits::default()), None);
        let limits = ConnectionLimits::default().with_max_messages_per_s(20);
        let rate = Rate::of(&limits).unwrap();
        assert_eq!(rate.burst, 20);
        assert_eq!(rate.interval, Duration::from_millis(50));
    }

    #[test]
    fn a_full_bucket_gives_its_burst_at_once_then_one_token_per_interval() {
        let born = Instant::now();
        let rate = rate(200, 50);
        let mut full_at = born;
        assert_eq!(
            drain(rate, &mut full_at, born, born),
            50,
            "the bucket starts full"
        );
        let next = rate.next_token(full_at, born);
        assert_eq!(next, born + Duration::from_millis(5), "one interval later");
        let just_before = next - Duration::from_nanos(1);
        assert_eq!(drain(rate, &mut full_at, born, just_before), 0);
        assert_eq!(drain(rate, &mut full_at, born, next), 1);
        // A second later, 200 tokens came back, but the bucket holds only 50.
        let later = next + Duration::from_secs(1);
        assert_eq!(drain(rate, &mut full_at, born, later), 50);
    }

    #[test]
    fn over_a_long_run_the_rate_holds_to_the_token() {
        let born = Instant::now();
        let rate = rate(200, 50);
        let mut full_at = born;
        let mut taken = drain(rate, &mut full_at, born, born);
        let mut now = born;
        // A peer that always has more to send, served whenever a token is due.
        while taken < 1_000 {
            now = rate.next_token(full_at, born);
            taken += drain(rate, &mut full_at, born, now);
        }
        // 950 packets beyond the burst at 200 a second: 4.75 s.
        assert_eq!(now - born, Duration::from_millis(4_750));
    }

    #[test]
    fn a_rate_past_a_token_a_nanosecond_still_limits() {
        let rate = rate(u32::MAX, 1);
        assert_eq!(rate.interval, Duration::from_nanos(1));
        let born = Instant::now();
        let full_at = rate.take(born, born);
        assert_eq!(
            rate.next_token(full_at, born),
            born + Duration::from_nanos(1)
        );
    }
}
