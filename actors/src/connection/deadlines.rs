//! One timer per worker thread for the earliest deadline of each of its connections.
//!
//! A connection's core keeps all of its deadlines and says when the earliest falls
//! (`Conn::poll_timeout`); the shell registers that instant here, with the waker of its
//! task, instead of arming a timer of its own (actix's `run_later` boxes a timer future
//! per arming, which an idle connection would hold for its whole life). The worker's
//! one driver task sleeps until the earliest registered instant, wakes every
//! connection whose instant has come, and remembers how far it fired: a woken
//! connection sees its instant at or before that mark and runs its core's
//! `handle_timeout`. An entry costs a connection one slot of an ordered map, and
//! moving a deadline is one removal and one insertion.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;
use tokio::time::Sleep;

thread_local! {
    /// The deadlines of this worker's connections.
    static WHEEL: RefCell<Wheel> = RefCell::new(Wheel::default());
}

/// The registered deadlines of one worker thread.
#[derive(Default)]
struct Wheel {
    /// Each connection's earliest deadline, with the waker of its task; the key's
    /// second half names the task (its waker's data pointer), which makes the key
    /// unique however many switchboards share the thread.
    entries: BTreeMap<(Instant, usize), Waker>,
    /// Every entry at or before this instant has been woken (and removed).
    fired_through: Option<Instant>,
    /// The driver task's waker, once it ran; `None` while there is no driver.
    driver: Option<Waker>,
    /// A driver task runs on this thread (spawned, and not dropped with its runtime).
    running: bool,
    /// When the driver's sleep ends, if it sleeps.
    sleeping_until: Option<Instant>,
}

/// The key of the deadline `at` of the task `waker` wakes.
fn key(at: Instant, waker: &Waker) -> (Instant, usize) {
    (at, waker.data() as usize)
}

/// Registers `at` as the deadline of the connection whose task `waker` wakes: it is
/// woken once `at` has come, and [`fired`] then says so. A deadline already passed
/// wakes it at once.
pub(super) fn arm(at: Instant, waker: &Waker) {
    let spawn = WHEEL.with(|wheel| {
        let mut wheel = wheel.borrow_mut();
        if wheel.fired_through.is_some_and(|through| at <= through) {
            waker.wake_by_ref();
            return false;
        }
        wheel.entries.insert(key(at, waker), waker.clone());
        if wheel.sleeping_until.is_none_or(|until| at < until) {
            // Earlier than the driver sleeps for (or it sleeps for nothing).
            if let Some(driver) = &wheel.driver {
                driver.wake_by_ref();
            }
        }
        !std::mem::replace(&mut wheel.running, true)
    });
    if spawn {
        actix_rt::spawn(Driver {
            sleep: Box::pin(tokio::time::sleep_until(tokio::time::Instant::now())),
        });
    }
}

/// Withdraws the deadline `at` of the connection whose task `waker` wakes, if it is
/// still registered.
pub(super) fn cancel(at: Instant, waker: &Waker) {
    // During the thread's own teardown the table may be gone already: nothing to do.
    let _ = WHEEL.try_with(|wheel| {
        if let Ok(mut wheel) = wheel.try_borrow_mut() {
            wheel.entries.remove(&key(at, waker));
        }
    });
}

/// Whether the deadline `at` has come: the driver woke its connection for it.
pub(super) fn fired(at: Instant) -> bool {
    WHEEL.with(|wheel| {
        let wheel = wheel.borrow();
        wheel.fired_through.is_some_and(|through| at <= through)
    })
}

/// The worker's one timer task.
struct Driver {
    /// Sleeps until the earliest registered deadline (reset as it moves).
    sleep: Pin<Box<Sleep>>,
}

impl Future for Driver {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut due = Vec::new();
        loop {
            let now = tokio::time::Instant::now().into_std();
            let next = WHEEL.with(|wheel| {
                let mut wheel = wheel.borrow_mut();
                if !wheel
                    .driver
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    wheel.driver = Some(cx.waker().clone());
                }
                while let Some(entry) = wheel.entries.first_entry() {
                    if entry.key().0 > now {
                        break;
                    }
                    due.push(entry.remove());
                }
                wheel.fired_through = Some(now);
                let next = wheel.entries.first_key_value().map(|((at, _), _)| *at);
                wheel.sleeping_until = next;
                next
            });
            // Woken outside the table: a woken task only gets scheduled.
            due.drain(..).for_each(Waker::wake);
            let Some(next) = next else {
                return Poll::Pending;
            };
            self.sleep
                .as_mut()
                .reset(tokio::time::Instant::from_std(next));
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

impl Drop for Driver {
    /// Its runtime is going away: the next runtime on this thread starts another, and
    /// the wakers of this one's tasks are let go.
    fn drop(&mut self) {
        let _ = WHEEL.try_with(|wheel| {
            if let Ok(mut wheel) = wheel.try_borrow_mut() {
                *wheel = Wheel::default();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    use std::task::Wake;
    use std::time::Duration;

    /// A task's waker that counts its wakes.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    fn woken(count: &Arc<Count>) -> usize {
        count.0.load(SeqCst)
    }

    #[test]
    fn each_deadline_wakes_its_task_once_it_has_come_and_a_cancelled_one_never() {
        actix_rt::System::new().block_on(async {
            tokio::time::pause();
            let start = tokio::time::Instant::now().into_std();
            let at = |ms| start + Duration::from_millis(ms);
            let (a, b, c) = (
                Arc::new(Count::default()),
                Arc::new(Count::default()),
                Arc::new(Count::default()),
            );
            let (wa, wb, wc) = (
                Waker::from(a.clone()),
                Waker::from(b.clone()),
                Waker::from(c.clone()),
            );
            arm(at(100), &wa);
            arm(at(50), &wb);
            arm(at(200), &wc);
            cancel(at(200), &wc);

            tokio::time::sleep(Duration::from_millis(60)).await;
            assert_eq!((woken(&a), woken(&b)), (0, 1), "the earlier one only");
            assert!(fired(at(50)) && !fired(at(100)));

            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!((woken(&a), woken(&b)), (1, 1));
            assert!(fired(at(100)));

            tokio::time::sleep(Duration::from_millis(200)).await;
            assert_eq!(woken(&c), 0, "cancelled");
            assert_eq!((woken(&a), woken(&b)), (1, 1), "each once");

            // One already passed wakes at once; one earlier than the driver's sleep
            // wakes it earlier.
            arm(at(100), &wa);
            assert_eq!(woken(&a), 2);
            let now = tokio::time::Instant::now().into_std();
            arm(now + Duration::from_secs(60), &wb);
            arm(now + Duration::from_millis(10), &wc);
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert_eq!((woken(&b), woken(&c)), (1, 1));
        });
    }
}
