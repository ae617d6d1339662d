//! How long to wait before re-dialling a destination: exponential backoff with full
//! jitter.
//!
//! Attempt `n` waits a uniformly random time between `min` and
//! `min(max, min * 2^(n+1))`. The randomness is the point: when many destinations fail
//! together (a switch reboots, a rack loses power) their redials must not march in step
//! and hit the peers in synchronised waves. Even the first redial is jittered (between
//! `min` and `2 * min`), because the first wave is the one most likely to be synchronised.
//!
//! Pure data: the caller supplies the random number generator, so the bounds and the
//! spread are unit-tested without timers.

use std::time::Duration;

/// The exponent stops growing here: `2^31` times any base is past every sensible `max`.
const MAX_DOUBLINGS: u32 = 31;

/// Backoff state of one destination: the bounds and how many attempts failed in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    /// The shortest wait (`reconnect_min`).
    min: Duration,
    /// The longest wait (`reconnect_max`); never below `min`.
    max: Duration,
    /// Redials since the destination last answered; picks the jitter window.
    attempt: u32,
}

impl Backoff {
    /// Backoff between `min` and `max` (a `max` below `min` is raised to `min`).
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max: max.max(min),
            attempt: 0,
        }
    }

    /// The wait before the next redial; each call widens the window for the one after.
    pub fn next_delay(&mut self, rng: &mut fastrand::Rng) -> Duration {
        let delay = self.delay_at(self.attempt, rng.f64());
        self.attempt = self.attempt.saturating_add(1);
        delay
    }

    /// Starts over from the narrowest window (the destination answered again).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Redials since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The window `[low, high]` that attempt `attempt` draws its wait from.
    pub fn window(&self, attempt: u32) -> (Duration, Duration) {
        // A zero minimum would never grow by doubling: double from 1 ms instead.
        let base = self.min.max(Duration::from_millis(1));
        let factor = 1u32 << attempt.saturating_add(1).min(MAX_DOUBLINGS);
        let high = base.saturating_mul(factor).min(self.max).max(self.min);
        (self.min, high)
    }

    /// The wait for attempt `attempt` given a uniform sample `unit` in `[0, 1]`.
    pub fn delay_at(&self, attempt: u32, unit: f64) -> Duration {
        let (low, high) = self.window(attempt);
        low + (high - low).mul_f64(unit.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn windows_double_up_to_the_maximum() {
        let backoff = Backoff::new(ms(100), ms(5000));
        assert_eq!(backoff.window(0), (ms(100), ms(200)));
        assert_eq!(backoff.window(1), (ms(100), ms(400)));
        assert_eq!(backoff.window(5), (ms(100), ms(5000)));
        assert_eq!(backoff.window(u32::MAX), (ms(100), ms(5000)));
    }

    #[test]
    fn every_delay_stays_within_the_bounds() {
        let mut backoff = Backoff::new(ms(100), ms(5000));
        let mut rng = fastrand::Rng::with_seed(7);
        for attempt in 0..200 {
            let (low, high) = backoff.window(attempt);
            let delay = backoff.next_delay(&mut rng);
            assert!(
                delay >= low && delay <= high,
                "attempt {attempt}: {delay:?}"
            );
            assert!(delay >= ms(100) && delay <= ms(5000));
        }
        assert_eq!(backoff.delay_at(3, 0.0), ms(100));
        assert_eq!(backoff.delay_at(3, 1.0), ms(1600));
        assert_eq!(backoff.delay_at(3, 7.0), ms(1600), "samples are clamped");
    }

    #[test]
    fn reset_returns_to_the_first_window() {
        let mut backoff = Backoff::new(ms(10), ms(1000));
        let mut rng = fastrand::Rng::with_seed(1);
        for _ in 0..5 {
            backoff.next_delay(&mut rng);
        }
        assert_eq!(backoff.attempt(), 5);
        backoff.reset();
        assert!(backoff.next_delay(&mut rng) <= ms(20));
    }

    #[test]
    fn degenerate_bounds_are_safe() {
        let zero = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(zero.delay_at(0, 0.5), Duration::ZERO);
        let fixed = Backoff::new(ms(50), ms(50));
        assert_eq!(fixed.delay_at(9, 0.9), ms(50));
        let inverted = Backoff::new(ms(50), ms(10));
        assert_eq!(inverted.window(4), (ms(50), ms(50)));
        let from_zero = Backoff::new(Duration::ZERO, ms(100));
        assert_eq!(from_zero.window(2), (Duration::ZERO, ms(8)));
    }

    /// 100 destinations fail at the same instant, each with its own generator (as each
    /// destination actor has): their first redials must be spread over the window.
    #[test]
    fn simultaneous_failures_do_not_redial_in_step() {
        let (min, max) = (ms(100), ms(5000));
        let delays: Vec<Duration> = (0..100)
            .map(|_| Backoff::new(min, max).next_delay(&mut fastrand::Rng::new()))
            .collect();
        let (low, high) = Backoff::new(min, max).window(0);
        let quarter = (high - low) / 4;
        assert!(delays.iter().all(|d| *d >= low && *d <= high));
        let mut distinct = delays.clone();
        distinct.sort();
        distinct.dedup();
        assert!(
            distinct.len() > 50,
            "only {} distinct delays",
            distinct.len()
        );
        assert!(delays.iter().any(|d| *d < low + quarter), "none early");
        assert!(delays.iter().any(|d| *d > high - quarter), "none late");
        // The same holds for a later wave.
        let third: Vec<Duration> = (0..100)
            .map(|_| {
                let mut b = Backoff::new(min, max);
                let mut rng = fastrand::Rng::new();
                b.next_delay(&mut rng);
                b.next_delay(&mut rng);
                b.next_delay(&mut rng)
            })
            .collect();
        let (_, high3) = Backoff::new(min, max).window(2);
        assert!(third.iter().all(|d| *d >= min && *d <= high3));
        assert!(third.iter().any(|d| *d > high3 - (high3 - min) / 4));
        assert!(third.iter().any(|d| *d < min + (high3 - min) / 4));
    }
}
