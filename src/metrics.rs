//! The stats snapshot as Prometheus metrics, in the OpenMetrics text format.
//!
//! The stats actor already holds every figure, so nothing is counted twice here: each
//! scrape takes a [`Snapshot`], maps it to plain [`Family`] values ([`families`], a pure
//! function), and lets the official client, `prometheus-client`, write them as constant
//! counters and gauges ([`encode`]). Per-protocol figures carry a `protocol` label,
//! removals a `protocol` and a `reason` label; every removal reason is listed for every
//! group, at zero until it happens, so rates work from the first scrape.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use switchboard::stats::GroupSnapshot;
use switchboard::{RemovalReason, Snapshot, Traffic};

/// The media type of [`encode`]'s output, for the HTTP `Content-Type` header.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether a family only goes up, or goes up and down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up; its sample is written as `<name>_total`.
    Counter,
    /// Goes up and down; its sample is written as `<name>`.
    Gauge,
}

/// One labelled value of a family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Label names and values, in the order they are written.
    pub labels: Vec<(&'static str, String)>,
    /// The value at the time of the snapshot.
    pub value: u64,
}

/// One metric family: a name, its help text, its kind and its samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// The metric name (a counter's samples get the `_total` suffix when written).
    pub name: &'static str,
    /// The `# HELP` text.
    pub help: &'static str,
    /// Counter or gauge.
    pub kind: Kind,
    /// One sample per label set.
    pub samples: Vec<Sample>,
}

/// A per-protocol counter taken from a group's figures.
type GroupFigure = fn(&GroupSnapshot) -> u64;

/// The per-protocol counters: name, help, and where the figure comes from.
const GROUP_COUNTERS: [(&str, &str, GroupFigure); 11] = [
    (
        "switchboard_accepted_connections",
        "Connections ever registered",
        |g| g.accepted,
    ),
    (
        "switchboard_sent_bytes",
        "Bytes the sockets accepted for peers",
        |g| g.traffic.sent_bytes,
    ),
    ("switchboard_received_bytes", "Bytes read from peers", |g| {
        g.traffic.received_bytes
    }),
    (
        "switchboard_sent_packets",
        "Packets written completely to sockets",
        |g| g.traffic.sent_packets,
    ),
    (
        "switchboard_received_packets",
        "Packets decoded from peers, bad ones included",
        |g| g.traffic.received_packets,
    ),
    ("switchboard_error_packets", "Packets judged bad", |g| {
        g.traffic.error_packets
    }),
    (
        "switchboard_queued_packets",
        "Packets accepted into outbound queues",
        |g| g.traffic.queued_packets,
    ),
    (
        "switchboard_dropped_packets",
        "Packets accepted into a queue and never written",
        |g| g.traffic.dropped_packets,
    ),
    (
        "switchboard_refused_packets",
        "Packets refused before queueing",
        |g| g.traffic.refused_packets,
    ),
    (
        "switchboard_denied",
        "Requests refused for want of permission",
        |g| g.traffic.denied,
    ),
    (
        "switchboard_send_failures",
        "Packets refused or dropped",
        |g| Traffic::send_failures(&g.traffic),
    ),
];

/// The `protocol` label of a group.
fn protocol_label(protocol: &str) -> Vec<(&'static str, String)> {
    vec![("protocol", protocol.to_owned())]
}

/// The metric families of `snapshot`. Empty families (no protocol, no backend) are left
/// out; the named-group gauges are always there.
pub fn families(snapshot: &Snapshot) -> Vec<Family> {
    let groups = &snapshot.protocols;
    let per_group = |figure: &dyn Fn(&GroupSnapshot) -> u64| -> Vec<Sample> {
        groups
            .iter()
            .map(|(protocol, group)| Sample {
                labels: protocol_label(protocol),
                value: figure(group),
            })
            .collect()
    };
    let mut out = vec![Family {
        name: "switchboard_connections",
        help: "Connections registered now",
        kind: Kind::Gauge,
        samples: per_group(&|g| g.connections),
    }];
    out.extend(GROUP_COUNTERS.iter().map(|&(name, help, figure)| Family {
        name,
        help,
        kind: Kind::Counter,
        samples: per_group(&figure),
    }));
    out.push(Family {
        name: "switchboard_removed_connections",
        help: "Connections removed, by reason",
        kind: Kind::Counter,
        samples: groups
            .iter()
            .flat_map(|(protocol, group)| {
                RemovalReason::ALL.iter().map(move |reason| Sample {
                    labels: vec![
                        ("protocol", (*protocol).to_owned()),
                        ("reason", reason.as_str().to_owned()),
                    ],
                    value: group.removed.get(reason.as_str()).copied().unwrap_or(0),
                })
            })
            .collect(),
    });
    out.push(Family {
        name: "switchboard_backend_up",
        help: "Whether a backend is up (1) or down (0)",
        kind: Kind::Gauge,
        samples: snapshot
            .backends
            .iter()
            .map(|(backend, state)| Sample {
                labels: vec![("backend", backend.clone())],
                value: u64::from(*state == "up"),
            })
            .collect(),
    });
    out.retain(|family| !family.samples.is_empty());
    for (name, help, value) in [
        (
            "switchboard_groups",
            "Named groups with at least one member",
            snapshot.groups,
        ),
        (
            "switchboard_group_members",
            "Memberships in named groups",
            snapshot.group_members,
        ),
    ] {
        out.push(Family {
            name,
            help,
            kind: Kind::Gauge,
            samples: vec![Sample {
                labels: Vec::new(),
                value,
            }],
        });
    }
    if let Some(cluster) = &snapshot.cluster {
        out.extend(cluster_families(cluster));
    }
    out
}

/// The cluster link's figures, labelled with this node's name.
fn cluster_families(cluster: &switchboard::cluster::ClusterCounters) -> Vec<Family> {
    let node = || vec![("node", cluster.node.clone())];
    let one = |name, help, kind, value| Family {
        name,
        help,
        kind,
        samples: vec![Sample {
            labels: node(),
            value,
        }],
    };
    vec![
        one(
            "switchboard_cluster_connected",
            "Whether the cluster link is connected (1) or not (0)",
            Kind::Gauge,
            u64::from(cluster.connected),
        ),
        one(
            "switchboard_cluster_published",
            "Messages handed to the cluster for other nodes",
            Kind::Counter,
            cluster.published_total,
        ),
        one(
            "switchboard_cluster_received",
            "Messages received from other nodes",
            Kind::Counter,
            cluster.received_total,
        ),
        one(
            "switchboard_cluster_failed",
            "Messages for other nodes that could not be handed to the cluster",
            Kind::Counter,
            cluster.failed_total,
        ),
        one(
            "switchboard_cluster_slow_consumer",
            "Times the cluster transport dropped messages read too slowly",
            Kind::Counter,
            cluster.slow_consumer_total,
        ),
        one(
            "switchboard_cluster_disconnects",
            "Times the connection to the cluster transport was lost",
            Kind::Counter,
            cluster.disconnects_total,
        ),
    ]
}

/// Writes fixed families on each scrape (a snapshot does not change once taken).
#[derive(Debug)]
struct SnapshotCollector(Vec<Family>);

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in &self.0 {
            let metric_type = match family.kind {
                Kind::Counter => MetricType::Counter,
                Kind::Gauge => MetricType::Gauge,
            };
            let mut metric =
                encoder.encode_descriptor(family.name, family.help, None, metric_type)?;
            for sample in &family.samples {
                if sample.labels.is_empty() {
                    // An unlabelled metric: `name value`, not `name{} value`.
                    match family.kind {
                        Kind::Counter => ConstCounter::new(sample.value).encode(metric)?,
                        Kind::Gauge => ConstGauge::new(sample.value).encode(metric)?,
                    }
                    break;
                }
                let labelled = metric.encode_family(&sample.labels)?;
                match family.kind {
                    Kind::Counter => ConstCounter::new(sample.value).encode(labelled)?,
                    Kind::Gauge => ConstGauge::new(sample.value).encode(labelled)?,
                }
            }
        }
        Ok(())
    }
}

/// `snapshot` in the OpenMetrics text format, ending with `# EOF`.
pub fn encode(snapshot: &Snapshot) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(families(snapshot))));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn snapshot() -> Snapshot {
        let frame = GroupSnapshot {
            connections: 2,
            accepted: 5,
            removed: BTreeMap::from([("idle", 3)]),
            traffic: Traffic {
                sent_bytes: 1234,
                refused_packets: 1,
                dropped_packets: 2,
                ..Traffic::default()
            },
            send_failures: 3,
        };
        Snapshot {
            protocols: BTreeMap::from([("frame", frame), ("line", GroupSnapshot::default())]),
            backends: BTreeMap::from([("127.0.0.1:9001".to_owned(), "down")]),
            ..Snapshot::default()
        }
    }

    fn family<'a>(families: &'a [Family], name: &str) -> &'a Family {
        families.iter().find(|f| f.name == name).unwrap()
    }

    #[test]
    fn every_group_and_every_reason_is_listed() {
        let families = families(&snapshot());
        let removed = family(&families, "switchboard_removed_connections");
        assert_eq!(removed.samples.len(), 2 * RemovalReason::ALL.len());
        let idle = removed
            .samples
            .iter()
            .find(|s| s.labels[0].1 == "frame" && s.labels[1].1 == "idle")
            .unwrap();
        assert_eq!(idle.value, 3);
        let sent = family(&families, "switchboard_sent_bytes");
        assert_eq!(sent.kind, Kind::Counter);
        assert_eq!(sent.samples[0].labels, protocol_label("frame"));
        assert_eq!(sent.samples[0].value, 1234);
        assert_eq!(
            family(&families, "switchboard_send_failures").samples[0].value,
            3
        );
        assert_eq!(
            family(&families, "switchboard_backend_up").samples[0].value,
            0
        );
    }

    #[test]
    fn empty_snapshot_has_no_empty_families() {
        let names: Vec<&str> = families(&Snapshot::default())
            .iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, ["switchboard_groups", "switchboard_group_members"]);
    }

    #[test]
    fn cluster_figures_appear_only_with_a_cluster() {
        let without = encode(&snapshot()).unwrap();
        assert!(!without.contains("switchboard_cluster"), "{without}");
        let snap = Snapshot {
            cluster: Some(switchboard::cluster::ClusterCounters {
                node: "a".to_owned(),
                connected: true,
                published_total: 5,
                received_total: 7,
                failed_total: 2,
                slow_consumer_total: 0,
                disconnects_total: 1,
            }),
            ..snapshot()
        };
        let text = encode(&snap).unwrap();
        assert!(
            text.contains("switchboard_cluster_connected{node=\"a\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("switchboard_cluster_failed_total{node=\"a\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("switchboard_cluster_received_total{node=\"a\"} 7\n"),
            "{text}"
        );
    }

    #[test]
    fn named_groups_are_gauges() {
        let snap = Snapshot {
            groups: 2,
            group_members: 9,
            ..snapshot()
        };
        let text = encode(&snap).unwrap();
        assert!(text.contains("# TYPE switchboard_groups gauge\n"), "{text}");
        assert!(text.contains("switchboard_groups 2\n"), "{text}");
        assert!(text.contains("switchboard_group_members 9\n"), "{text}");
    }

    #[test]
    fn text_has_types_totals_labels_and_eof() {
        let text = encode(&snapshot()).unwrap();
        assert!(
            text.contains("# TYPE switchboard_sent_bytes counter\n"),
            "{text}"
        );
        assert!(text.contains("switchboard_sent_bytes_total{protocol=\"frame\"} 1234\n"));
        assert!(text.contains("# TYPE switchboard_connections gauge\n"));
        assert!(text.contains("switchboard_connections{protocol=\"line\"} 0\n"));
        assert!(text.contains(
            "switchboard_removed_connections_total{protocol=\"frame\",reason=\"idle\"} 3\n"
        ));
        assert!(text.contains("switchboard_backend_up{backend=\"127.0.0.1:9001\"} 0\n"));
        assert!(text.ends_with("# EOF\n"));
    }
}
