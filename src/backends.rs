//! The server's backends: one [`Destination`] per configured address, and REPLICATE.
//!
//! Each backend is another server speaking `frame`. The front keeps one connection to
//! each (a pool of one sender, requests pipelined on it), health-checks it with a PING
//! every `health_interval_ms`, and answers REPLICATE by sending the payload to every
//! backend at once as a PING and waiting at most `ack_timeout_ms` for each PONG
//! (PROTOCOL.md "REPLICATE"). Policy only: the dialling, pooling, ack matching and
//! redialling are the library's.

use crate::config::Config;
use crate::protocols::frame::{Frame, FrameCodec};
use bytes::Bytes;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use switchboard::connector::{
    encode, send_to_many, Answer, Backend, Destination, DestinationConfig, PoolConfig,
    StopDestination, Target,
};
use switchboard::{Outbox, Protocol, Switchboard};

/// The payload of a backend health check.
const HEALTH_PAYLOAD: &[u8] = b"health";

/// Requests in flight on one backend connection at most.
const MAX_IN_FLIGHT: usize = 256;

/// The `frame` protocol as the front speaks it to a backend: it sends PINGs and reads
/// PONGs (acks) and ERRORs (refusals); anything else the backend sends (a BROADCAST
/// from one of its clients, say) is ignored.
#[derive(Debug, Clone)]
pub struct FrameBackend {
    /// The largest frame body accepted from the backend.
    pub max_frame: usize,
}

impl Protocol for FrameBackend {
    const NAME: &'static str = "backend";
    type Request = Frame;
    type Response = Frame;
    type Codec = FrameCodec;

    fn codec(&self) -> FrameCodec {
        FrameCodec::new(self.max_frame)
    }

    fn handle(&mut self, frame: Frame, _: &mut Outbox<Frame>) {
        tracing::debug!("backend sent opcode 0x{:02x}; ignored", frame.opcode);
    }
}

impl Backend for FrameBackend {
    fn classify(&self, frame: &Frame) -> Answer {
        match frame.opcode {
            Frame::PONG => Answer::Ack,
            Frame::ERROR => Answer::Refused(String::from_utf8_lossy(&frame.payload).into_owned()),
            _ => Answer::Unsolicited,
        }
    }

    fn health_check(&self) -> Frame {
        Frame::new(Frame::PING, HEALTH_PAYLOAD)
    }
}

/// How each backend destination runs, from the server's configuration.
pub fn destination_config(config: &Config) -> DestinationConfig {
    let pool = PoolConfig::default()
        .with_max_senders(1)
        .with_max_in_flight(MAX_IN_FLIGHT)
        .with_acquire_timeout(config.ack_timeout())
        .with_max_age(None)
        .with_max_uses(None);
    DestinationConfig::default()
        .with_pool(pool)
        .with_connect_timeout(config.ack_timeout().max(Duration::from_millis(100)))
        .with_health_interval(config.health_interval())
        .with_health_timeout(config.ack_timeout())
        .with_max_failures(config.backend_max_failures)
        .with_reconnect_min(config.reconnect_min())
        .with_reconnect_max(config.reconnect_max())
        .with_max_outstanding(MAX_IN_FLIGHT * 2)
}

/// The configured backends; cheap to clone into every `frame` connection.
#[derive(Clone, Default)]
pub struct Backends {
    /// One destination per backend, in configuration order.
    targets: Arc<[Target]>,
    /// How each destination is stopped.
    stops: Arc<[actix::Recipient<StopDestination>]>,
    /// How long REPLICATE waits for the acks.
    ack_timeout: Duration,
    /// The largest frame body: bounds the replicated PING frames' codec.
    max_frame: usize,
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.targets.iter().map(|t| t.name.as_str()).collect();
        f.debug_struct("Backends")
            .field("targets", &names)
            .field("ack_timeout", &self.ack_timeout)
            .finish()
    }
}

impl Backends {
    /// Starts a destination for every backend of `config` on the current arbiter.
    pub fn start(board: &Switchboard, config: &Config) -> Backends {
        let protocol = FrameBackend {
            max_frame: config.max_frame,
        };
        let settings = destination_config(config);
        let (targets, stops): (Vec<Target>, Vec<_>) = config
            .backends
            .iter()
            .map(|&address| {
                let protocol = protocol.clone();
                let addr =
                    Destination::start(address, board, settings.clone(), move || protocol.clone());
                let target = Target {
                    name: address.to_string(),
                    transmit: addr.clone().recipient(),
                };
                (target, addr.recipient())
            })
            .unzip();
        Backends {
            targets: targets.into(),
            stops: stops.into(),
            ack_timeout: config.ack_timeout(),
            max_frame: config.max_frame,
        }
    }

    /// Whether no backend is configured.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Sends `payload` to every backend as a PING and reports who answered with a PONG
    /// within `ack_timeout_ms`.
    pub async fn replicate(&self, payload: Bytes) -> DeliveryReport {
        if self.targets.is_empty() {
            return DeliveryReport::default();
        }
        let ping = Frame::new(Frame::PING, payload);
        let packet = match encode(
            &FrameBackend {
                max_frame: self.max_frame,
            },
            ping,
        ) {
            Ok(packet) => packet,
            Err(e) => return self.all_faulty(&format!("io error: {e}")),
        };
        let delivery = send_to_many(&self.targets, packet, true, self.ack_timeout).await;
        DeliveryReport {
            acked: delivery.acked,
            faulty: delivery
                .faulty
                .into_iter()
                .map(|f| Faulty {
                    member: f.member,
                    reason: f.fault.to_string(),
                })
                .collect(),
        }
    }

    /// Every backend faulty with `reason`.
    fn all_faulty(&self, reason: &str) -> DeliveryReport {
        let faulty = self.targets.iter().map(|t| Faulty {
            member: t.name.clone(),
            reason: reason.to_owned(),
        });
        DeliveryReport {
            acked: Vec::new(),
            faulty: faulty.collect(),
        }
    }

    /// Stops every destination: their connections close and they dial no more.
    pub fn stop(&self) {
        for stop in self.stops.iter() {
            stop.do_send(StopDestination);
        }
    }
}

/// One backend that did not ack a REPLICATE, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Faulty {
    /// The backend's address, as configured.
    pub member: String,
    /// Why it did not ack (`timeout`, `not connected`, ...).
    pub reason: String,
}

/// The JSON body of a REPLICATE reply: who acked and who did not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// Backends that answered the replicated PING with a PONG in time.
    pub acked: Vec<String>,
    /// Backends that did not, each with its reason.
    pub faulty: Vec<Faulty>,
}

impl DeliveryReport {
    /// The report as a REPLICATE_REPLY frame (an ERROR frame if it cannot be encoded).
    pub fn to_frame(&self) -> Frame {
        match serde_json::to_vec(self) {
            Ok(json) => Frame::new(Frame::REPLICATE_REPLY, json),
            Err(e) => {
                tracing::warn!("delivery report not encodable: {e}");
                Frame::error("delivery report unavailable")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pongs_are_acks_and_errors_refusals() {
        let backend = FrameBackend { max_frame: 64 };
        assert_eq!(
            backend.classify(&Frame::new(Frame::PONG, &b"x"[..])),
            Answer::Ack
        );
        assert_eq!(
            backend.classify(&Frame::error("frame too large")),
            Answer::Refused("frame too large".to_owned())
        );
        assert_eq!(
            backend.classify(&Frame::new(Frame::BROADCAST, &b"b"[..])),
            Answer::Unsolicited
        );
        assert_eq!(backend.health_check().opcode, Frame::PING);
    }

    #[test]
    fn config_keys_reach_the_destinations() {
        let config = Config {
            ack_timeout_ms: 300,
            health_interval_ms: 100,
            backend_max_failures: 3,
            reconnect_min_ms: 10,
            reconnect_max_ms: 200,
            ..Config::default()
        };
        let d = destination_config(&config);
        assert_eq!(d.health_interval, Duration::from_millis(100));
        assert_eq!(d.health_timeout, Duration::from_millis(300));
        assert_eq!(d.max_failures, 3);
        assert_eq!(
            (d.reconnect_min, d.reconnect_max),
            (Duration::from_millis(10), Duration::from_millis(200))
        );
        assert_eq!(d.pool.max_senders, 1, "one connection per backend");
    }

    #[actix_rt::test]
    async fn no_backends_report_empty_lists() {
        let report = Backends::default()
            .replicate(Bytes::from_static(b"x"))
            .await;
        assert_eq!(report, DeliveryReport::default());
    }

    #[test]
    fn empty_delivery_report_matches_protocol() {
        let frame = DeliveryReport::default().to_frame();
        assert_eq!(frame.opcode, Frame::REPLICATE_REPLY);
        assert_eq!(&frame.payload[..], br#"{"acked":[],"faulty":[]}"#);
    }

    #[test]
    fn delivery_report_json_shape() {
        let report = DeliveryReport {
            acked: vec!["127.0.0.1:9001".to_owned()],
            faulty: vec![Faulty {
                member: "127.0.0.1:9002".to_owned(),
                reason: "timeout".to_owned(),
            }],
        };
        let json: serde_json::Value = serde_json::from_slice(&report.to_frame().payload).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"acked": ["127.0.0.1:9001"],
                               "faulty": [{"member": "127.0.0.1:9002", "reason": "timeout"}]})
        );
    }
}
