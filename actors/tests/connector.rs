//! The outbound side: destination actors dialing scripted fake backends on loopback,
//! driven through their messages.

mod common;
mod fake_backend;

use actix::Addr;
use bytes::Bytes;
use common::{eventually, Recording};
use fake_backend::{answering, refusing_addr, silent, FakeBackend, Lines};
use std::sync::Arc;
use std::time::Duration;
use switchboard::connector::*;
use switchboard::*;
use tokio::time::Instant;

/// A switchboard whose removals are recorded.
struct Board {
    board: Switchboard,
    removed: Recording<ConnectionRemoved>,
}

impl Board {
    fn start() -> Board {
        let board = Switchboard::start(SwitchboardConfig::default().with_workers(1));
        let removed = common::record_removals(board.handle());
        Board { board, removed }
    }

    fn dial(
        &self,
        addr: std::net::SocketAddr,
        config: DestinationConfig,
    ) -> Addr<Destination<Lines>> {
        Destination::start(addr, &self.board, config, || Lines)
    }

    async fn removals(&self, reason: RemovalReason) -> usize {
        let removed = self.removed.seen().await;
        removed
            .iter()
            .filter(|r| r.protocol == "backend" && r.reason == reason)
            .count()
    }

    async fn stats(&self) -> Snapshot {
        self.board.handle().stats().await.unwrap()
    }
}

/// Quick timings so that every test ends within a few seconds.
fn config() -> DestinationConfig {
    DestinationConfig::default()
        .with_pool(
            PoolConfig::default()
                .with_max_senders(1)
                .with_max_in_flight(8)
                .with_acquire_timeout(Duration::from_millis(500))
                .with_max_age(None)
                .with_max_uses(None),
        )
        .with_connect_timeout(Duration::from_millis(500))
        .with_health_interval(Duration::from_secs(60))
        .with_health_timeout(Duration::from_millis(200))
        .with_max_failures(2)
        .with_reconnect_min(Duration::from_millis(20))
        .with_reconnect_max(Duration::from_millis(200))
}

fn ping(text: &str) -> Bytes {
    encode(&Lines, format!("PING {text}")).unwrap()
}

async fn transmit(
    dest: &Addr<Destination<Lines>>,
    text: &str,
    timeout: Duration,
) -> Result<(), Fault> {
    dest.send(Transmit {
        packet: ping(text),
        wait_for_ack: true,
        deadline: Instant::now() + timeout,
    })
    .await
    .unwrap()
}

async fn report(dest: &Addr<Destination<Lines>>) -> DestinationReport {
    dest.send(Describe).await.unwrap()
}

async fn until_up(dest: &Addr<Destination<Lines>>, up: bool) {
    eventually(
        if up {
            "destination up"
        } else {
            "destination down"
        },
        || async { report(dest).await.up == up },
    )
    .await;
}

#[actix_rt::test]
async fn an_answered_send_is_acked_and_the_sender_returns_to_connected() {
    let backend = FakeBackend::start("127.0.0.1:0".parse().unwrap(), answering());
    let board = Board::start();
    let dest = board.dial(backend.addr, config());
    until_up(&dest, true).await;
    assert_eq!(transmit(&dest, "one", Duration::from_secs(2)).await, Ok(()));
    let r = report(&dest).await;
    assert_eq!(r.state, SenderState::Connected);
    assert_eq!(r.senders.len(), 1);
    assert_eq!(r.senders[0].served, 1);
    assert_eq!(r.idle, vec![r.senders[0].id]);
    assert_eq!(backend.count("PING one"), 1);
    let snap = board.stats().await;
    assert_eq!(snap.backends[&backend.addr.to_string()], "up");
    assert!(
        !snap.connections.contains_key("backend"),
        "dialed, not accepted"
    );
    assert_eq!(snap.accepted_total, 0);
    assert_eq!(snap.protocols["backend"].connections, 1);
}

#[actix_rt::test]
async fn without_an_ack_the_send_times_out_and_the_sender_awaits_meanwhile() {
    let backend = FakeBackend::start("127.0.0.1:0".parse().unwrap(), silent());
    let board = Board::start();
    let dest = board.dial(backend.addr, config());
    eventually("connected", || async {
        report(&dest).await.state == SenderState::Connected
    })
    .await;
    let send = dest.send(Transmit {
        packet: ping("lost"),
        wait_for_ack: true,
        deadline: Instant::now() + Duration::from_secs(1),
    });
    eventually("awaiting the ack", || async {
        report(&dest).await.state == SenderState::AwaitingAck
    })
    .await;
    assert_eq!(send.await.unwrap(), Err(Fault::Timeout));
    assert_eq!(report(&dest).await.senders[0].in_flight, 0);
}

/// The late ack of a timed-out request must be counted and ignored, never taken for the
/// answer to the request sent after it.
#[actix_rt::test]
async fn a_late_ack_is_counted_and_ignored_never_delivered_by_surprise() {
    let script: fake_backend::Script = Arc::new(|line| match line {
        "PING slow" => Some((Duration::from_millis(400), "PONG slow".to_owned())),
        "PING refused" => Some((Duration::ZERO, "ERR nope".to_owned())),
        other => other
            .strip_prefix("PING")
            .map(|rest| (Duration::ZERO, format!("PONG{rest}"))),
    });
    let backend = FakeBackend::start("127.0.0.1:0".parse().unwrap(), script);
    let board = Board::start();
    let dest = board.dial(backend.addr, config());
    until_up(&dest, true).await;
    assert_eq!(
        transmit(&dest, "slow", Duration::from_millis(150)).await,
        Err(Fault::Timeout)
    );
    // Sent before the slow ack arrives; the backend refuses it. Had the slow ack been
    // taken for its answer, it would be reported delivered.
    assert_eq!(
        transmit(&dest, "refused", Duration::from_secs(2)).await,
        Err(Fault::Refused("nope".to_owned()))
    );
    let r = report(&dest).await;
    assert_eq!(r.late_acks, 1, "{r:?}");
    assert_eq!(r.unmatched_answers, 0);
    assert_eq!(
        transmit(&dest, "fine", Duration::from_secs(2)).await,
        Ok(())
    );
    assert!(report(&dest).await.up);
}

#[actix_rt::test]
async fn a_refused_connection_is_not_connected_and_redials_within_the_backoff_bounds() {
    let addr = refusing_addr();
    let board = Board::start();
    let cfg = config();
    let dest = board.dial(addr, cfg.clone());
    eventually("two failed dials", || async {
        report(&dest).await.dial_failures >= 2
    })
    .await;
    assert_eq!(
        transmit(&dest, "x", Duration::from_secs(1)).await,
        Err(Fault::NotConnected)
    );
    let r = report(&dest).await;
    assert!(!r.up);
    assert_eq!(r.state, SenderState::NotConnected);
    assert!(r.last_dial_error.is_some());
    let delay = r.last_backoff.unwrap();
    assert!(
        delay >= cfg.reconnect_min && delay <= cfg.reconnect_max,
        "{delay:?}"
    );
    assert_eq!(board.stats().await.backends[&addr.to_string()], "down");
    // It comes up once something listens there.
    let backend = FakeBackend::start(addr, answering());
    until_up(&dest, true).await;
    assert_eq!(transmit(&dest, "y", Duration::from_secs(2)).await, Ok(()));
    drop(backend);
}

#[actix_rt::test]
async fn a_backend_that_accepts_and_never_answers_fails_its_health_checks() {
    let backend = FakeBackend::start("127.0.0.1:0".parse().unwrap(), silent());
    let board = Board::start();
    let dest = board.dial(
        backend.addr,
        config()
            .with_health_interval(Duration::from_millis(50))
            .with_health_timeout(Duration::from_millis(50)),
    );
    eventually("a sender evicted", || async {
        report(&dest).await.evicted >= 1
    })
    .await;
    assert!(!report(&dest).await.up, "never answered, never up");
    eventually("the removal announced", || async {
        board.removals(RemovalReason::HealthCheck).await >= 1
    })
    .await;
    let snap = board.stats().await;
    assert_eq!(snap.backends[&backend.addr.to_string()], "down");
    assert_eq!(
        snap.removed_total["health_check"], 0,
        "accepted connections only"
    );
    // It keeps redialling, with growing delays, because it never answered.
    eventually("redialled", || async {
        backend.accepted.load(std::sync::atomic::Ordering::Relaxed) >= 2
    })
    .await;
}

/// A health check that may wait no time can never be answered in time: however fast the
/// backend answers, every check counts as missed and the destination never comes up.
#[actix_rt::test]
async fn a_zero_health_timeout_is_never_met_however_fast_the_answer() {
    let backend = FakeBackend::start("127.0.0.1:0".parse().unwrap(), answering());
    let board = Board::start();
    let dest = board.dial(
        backend.addr,
        config()
            .with_health_interval(Duration::from_millis(50))
            .with_health_timeout(Duration::ZERO),
    );
    let until = Instant::now() + Duration::from_millis(600);
    while Instant::now() < until {
        let r = report(&dest).await;
        assert!(
            !r.up,
            "a check that may wait 0 ms was taken as answered: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        backend.count("PING health") >= 2,
        "the backend was checked (and answered at once)"
    );
    eventually("a sender evicted for missed checks", || async {
        report(&dest).await.evicted >= 1
    })
    .await;
    eventually("the removal announced", || async {
        board.removals(RemovalReason::HealthCheck).await >= 1
    })
    .await;
    let snap = board.stats().await;
    assert_eq!(snap.backends[&backend.addr.to_string()], "down");
}

#[actix_rt::test]
async fn an_exhausted_pool_answers_no_sender_available() {
    let backend = FakeBackend::start("127.0.0.1:0".parse().unwrap(), silent());
    let board = Board::start();
    let dest = board.dial(
        backend.addr,
        config().with_pool(
            config()
                .pool
                .with_max_senders(1)
                .with_max_in_flight(1)
                .with_acquire_timeout(Duration::from_millis(100)),
        ),
    );
    eventually("connected", || async {
        report(&dest).await.state == SenderState::Connected
    })
    .await;
    let first = dest.send(Transmit {
        packet: ping("first"),
        wait_for_ack: true,
        deadline: Instant::now() + Duration::from_secs(2),
    });
    let second = transmit(&dest, "second", Duration::from_secs(2)).await;
    assert_eq!(second, Err(Fault::NoSenderAvailable));
    let r = report(&dest).await;
    assert_eq!((r.idle.len(), r.busy.len()), (0, 1), "{r:?}");
    assert_eq!(backend.count("PING second"), 0, "never sent");
    assert_eq!(first.await.unwrap(), Err(Fault::Timeout));
}

#[actix_rt::test]
async fn a_sender_that_served_enough_is_retired_and_replaced() {
    let backend = FakeBackend::start("127.0.0.1:0".parse().unwrap(), answering());
    let board = Board::start();
    let dest = board.dial(
        backend.addr,
        config().with_pool(config().pool.with_max_uses(Some(2))),
    );
    until_up(&dest, true).await;
    let first_id = report(&dest).await.senders[0].id;
    for i in 0..3 {
        let r = transmit(&dest, &i.to_string(), Duration::from_secs(2)).await;
        assert_eq!(r, Ok(()), "{i}: {:#?}", report(&dest).await);
    }
    let r = report(&dest).await;
    assert_eq!(r.retired, 1, "{r:?}");
    assert!(r.dials >= 2);
    assert!(r.senders.iter().all(|s| s.id != first_id), "{r:?}");
    assert!(r.up, "retiring is not failing");
    assert_eq!(
        backend.accepted.load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    eventually("the retired sender's removal", || async {
        board.removals(RemovalReason::Closed).await == 1
    })
    .await;
}

#[actix_rt::test]
async fn a_broken_connection_marks_the_backend_down_until_it_answers_again() {
    let backend = FakeBackend::start("127.0.0.1:0".parse().unwrap(), answering());
    let addr = backend.addr;
    let board = Board::start();
    let dest = board.dial(addr, config());
    until_up(&dest, true).await;
    backend.stop();
    drop(backend);
    until_up(&dest, false).await;
    eventually("removal as io_error", || async {
        board.removals(RemovalReason::IoError).await == 1
    })
    .await;
    assert_eq!(board.stats().await.backends[&addr.to_string()], "down");
    let restarted = FakeBackend::start(addr, answering());
    until_up(&dest, true).await;
    assert_eq!(
        transmit(&dest, "again", Duration::from_secs(2)).await,
        Ok(())
    );
    assert_eq!(board.stats().await.backends[&addr.to_string()], "up");
    drop(restarted);
}

#[actix_rt::test]
async fn send_to_many_names_every_destination_once() {
    let good = FakeBackend::start("127.0.0.1:0".parse().unwrap(), answering());
    let quiet = FakeBackend::start(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(|line| {
            (line == "PING health").then(|| (Duration::ZERO, "PONG health".to_owned()))
        }),
    );
    let nowhere = refusing_addr();
    let board = Board::start();
    let targets: Vec<Target> = [good.addr, quiet.addr, nowhere]
        .iter()
        .map(|&addr| Target {
            name: addr.to_string(),
            transmit: board.dial(addr, config()).recipient(),
        })
        .collect();
    // Wait until the two listening ones answered their first health check.
    eventually("both up", || async {
        let snap = board.stats().await;
        [good.addr, quiet.addr]
            .iter()
            .all(|a| snap.backends.get(&a.to_string()) == Some(&"up"))
    })
    .await;
    let delivery = send_to_many(&targets, ping("all"), true, Duration::from_millis(300)).await;
    assert_eq!(delivery.acked, vec![good.addr.to_string()]);
    assert_eq!(
        delivery.faulty,
        vec![
            FaultyMember {
                member: quiet.addr.to_string(),
                fault: Fault::Timeout
            },
            FaultyMember {
                member: nowhere.to_string(),
                fault: Fault::NotConnected
            },
        ]
    );
    assert!(
        send_to_many(&[], ping("none"), true, Duration::from_millis(10))
            .await
            .is_complete()
    );
    // Without acks (for packets the backend does not answer), queued is enough.
    let note = encode(&Lines, "NOTE fire".to_owned()).unwrap();
    let queued = send_to_many(&targets[..2], note, false, Duration::from_millis(300)).await;
    assert_eq!(queued.acked.len(), 2, "{queued:?}");
    eventually("both notes read", || async {
        good.count("NOTE fire") == 1 && quiet.count("NOTE fire") == 1
    })
    .await;
}

#[actix_rt::test]
async fn a_stopped_destination_closes_its_senders_and_dials_no_more() {
    let backend = FakeBackend::start("127.0.0.1:0".parse().unwrap(), answering());
    let board = Board::start();
    let dest = board.dial(backend.addr, config());
    until_up(&dest, true).await;
    dest.send(StopDestination).await.unwrap();
    eventually("the sender's removal", || async {
        board.removals(RemovalReason::Shutdown).await == 1
    })
    .await;
    assert!(dest.send(Describe).await.is_err(), "stopped");
    assert_eq!(
        backend.accepted.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}
