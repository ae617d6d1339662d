//! What the supervisor writes to the log, recorded by a tracing subscriber.

use super::Fake;
use crate::stats::Stats;
use crate::supervisor::*;
use crate::*;
use actix::Actor;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Records the message of every event.
struct Recorder(Arc<Mutex<Vec<String>>>);

/// Takes an event's message.
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        self.0.lock().unwrap().push(message.0);
    }
}

#[actix_rt::test]
async fn a_burst_of_removals_is_logged_as_its_first_lines_and_one_summary() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry().with(Recorder(events.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);
    let config = SupervisorConfig::default().with_removal_log_lines(5);
    let sup = Supervisor::new(config, Stats::default().start()).start();
    let fakes: Vec<Fake> = (1..=40)
        .map(|id| Fake::register(&sup, id, "test"))
        .collect();
    for fake in &fakes {
        // Something received: a hang-up before any byte is only worth a debug line.
        fake.status.touch_rx(tokio::time::Instant::now());
    }
    for (i, fake) in fakes.iter().enumerate() {
        let reason = match i % 4 {
            0 => RemovalReason::Idle,
            _ => RemovalReason::SlowConsumer,
        };
        let closed = sup
            .send(CloseConnection {
                id: fake.id,
                reason,
            })
            .await;
        assert_eq!(closed.unwrap(), Ok(()));
    }
    let removal_lines = |events: &[String]| {
        events
            .iter()
            .filter(|e| e.starts_with("removed test connection"))
            .count()
    };
    assert_eq!(removal_lines(&events.lock().unwrap()), 5);
    // The summary comes with the next tick, within a second.
    let mut summary = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        summary = events
            .lock()
            .unwrap()
            .iter()
            .find(|e| e.contains("more connections removed"))
            .cloned();
        if summary.is_some() {
            break;
        }
    }
    let summary = summary.expect("a summary within two seconds");
    assert_eq!(
        summary,
        "35 more connections removed in the last 1 s, not logged one by one: \
         idle=8 slow_consumer=27"
    );
    // A removal after the window has a line of its own again.
    let late = Fake::register(&sup, 99, "test");
    late.status.touch_rx(tokio::time::Instant::now());
    let reason = RemovalReason::Closed;
    let closed = sup.send(CloseConnection { id: 99, reason }).await;
    assert_eq!(closed.unwrap(), Ok(()));
    let events = events.lock().unwrap();
    assert_eq!(removal_lines(&events), 6);
    assert_eq!(
        events
            .iter()
            .filter(|e| e.contains("more connections"))
            .count(),
        1
    );
}
