//! Waiting for something that happens elsewhere (another task, thread or process),
//! always within a time limit: the condition is polled every [`POLL`] until it holds,
//! and the test fails naming what never happened, with the last thing seen.
//!
//! The async helpers measure time on tokio's clock, so a test that pauses time
//! (`tokio::time::pause`) waits in virtual time and still ends.
//!
//! A wait is for what a test cannot order. When the test can force an order instead (a
//! reply that must come after what it waits for, a round trip through a mailbox), it
//! should: that is exact, and it is quicker.

use std::future::Future;
use std::time::Duration;

/// How long any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// How often a condition is polled.
pub const POLL: Duration = Duration::from_millis(20);

/// Polls `check` until it holds, for at most [`WAIT`]; panics naming `what` otherwise.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Polls `probe` until it answers `Ok`, for at most `limit`, and returns that value;
/// an `Err` is "not yet", its text what was seen instead, shown if time runs out.
///
/// `probe` may borrow from the test mutably (a client it asks each time):
/// `until("x", WAIT, async || ...)`.
pub async fn until<T>(
    what: &str,
    limit: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(seen) => assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what}; last seen: {seen}"
            ),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Blocks the thread until `check` holds, for at most `limit` of real time; for code
/// outside an async runtime (child processes, a NATS server's monitoring).
pub fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    wait_for(what, limit, || {
        check().then_some(()).ok_or_else(String::new)
    });
}

/// The blocking [`until`]: polls `probe` until it answers `Ok`, for at most `limit` of
/// real time, and returns that value; an `Err` is what was seen instead.
pub fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(seen) => assert!(
                std::time::Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what}; last seen: {seen}"
            ),
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn until_returns_the_first_ok_and_eventually_ends() {
        let mut calls = 0;
        let got = until("the third call", WAIT, async || {
            calls += 1;
            if calls == 3 {
                Ok(calls)
            } else {
                Err(format!("call {calls}"))
            }
        })
        .await;
        assert_eq!(got, 3);
        let started = tokio::time::Instant::now();
        let never = tokio::spawn(eventually("never", || async { false }));
        assert!(never.await.is_err(), "a condition that never holds fails");
        assert!(started.elapsed() >= WAIT);
    }

    #[test]
    #[should_panic(expected = "waiting for nothing")]
    fn wait_until_fails_at_its_limit() {
        wait_until("nothing", Duration::from_millis(50), || false);
    }
}
