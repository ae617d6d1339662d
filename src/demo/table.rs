//! The demo's live table: a stats snapshot rendered as plain text lines.

use std::collections::BTreeMap;
use switchboard::Snapshot;

/// Renders the table shown every second (no escape codes: the caller clears the
/// screen when standard output is a terminal).
pub fn render(elapsed_s: u64, snap: &Snapshot) -> Vec<String> {
    let mut lines = vec![format!("switchboard demo  t={elapsed_s:>3}s")];
    lines.push(format!(
        "  {:<8} {:>6} {:>12} {:>10} {:>12} {:>10}",
        "protocol", "conns", "sent B", "sent pkts", "recv B", "recv pkts"
    ));
    for (name, group) in &snap.protocols {
        lines.push(format!(
            "  {:<8} {:>6} {:>12} {:>10} {:>12} {:>10}",
            name,
            group.connections,
            group.traffic.sent_bytes,
            group.traffic.sent_packets,
            group.traffic.received_bytes,
            group.traffic.received_packets
        ));
    }
    lines.push(format!("  removed: {}", nonzero(&snap.removed_total)));
    // Dialed groups (backends) are left out of `removed_total`: their removals apart.
    for (name, group) in &snap.protocols {
        if !snap.connections.contains_key(name) {
            lines.push(format!("  {name} removed: {}", nonzero(&group.removed)));
        }
    }
    let backends: Vec<String> = snap
        .backends
        .iter()
        .map(|(a, s)| format!("{a} {s}"))
        .collect();
    lines.push(format!(
        "  backends: {}",
        if backends.is_empty() {
            "none".to_string()
        } else {
            backends.join(", ")
        }
    ));
    lines.push(format!(
        "  send failures: {}  error packets: {}",
        snap.send_failures_total, snap.error_packets_total
    ));
    lines
}

/// The counts above zero as `reason=n`, or `none`.
fn nonzero(counts: &BTreeMap<&'static str, u64>) -> String {
    let shown: Vec<String> = counts
        .iter()
        .filter(|(_, &n)| n > 0)
        .map(|(reason, n)| format!("{reason}={n}"))
        .collect();
    if shown.is_empty() {
        "none".to_string()
    } else {
        shown.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_groups_removals_and_backends() {
        let mut snap = Snapshot::default();
        snap.protocols.insert("frame", Default::default());
        snap.connections.insert("frame", 0);
        let mut backend = switchboard::stats::GroupSnapshot::default();
        backend.removed.insert("health_check", 3);
        snap.protocols.insert("backend", backend);
        snap.removed_total.insert("idle", 1);
        snap.removed_total.insert("io_error", 0);
        snap.backends.insert("127.0.0.1:9".into(), "down");
        snap.send_failures_total = 4;
        let text = render(7, &snap).join("\n");
        assert!(text.contains("t=  7s"));
        assert!(text.contains("frame"));
        assert!(text.contains("removed: idle=1"), "{text}");
        assert!(!text.contains("io_error"), "zero counts are left out");
        assert!(text.contains("127.0.0.1:9 down"));
        assert!(
            text.contains("backend removed: health_check=3"),
            "a dialed group's removals apart: {text}"
        );
        assert!(!text.contains("frame removed"), "{text}");
        assert!(text.contains("send failures: 4"));
    }
}
