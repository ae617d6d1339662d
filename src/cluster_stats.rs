//! CLUSTER_STATS (`0x10` / `CSTATS`): the stats snapshots of the cluster's nodes, keyed
//! by node name.
//!
//! Without a cluster, the cluster is this server alone: the answer is
//! `{"nodes": {NODE: <STATS snapshot>}}` under its own node name. [`ClusterStats`] is
//! the one place both protocols ask, so gathering from other nodes changes nothing in
//! them.

use actix::{Addr, MailboxError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use switchboard::{GetStats, Snapshot, Supervisor};

/// The node name a protocol uses when the server gives it none.
pub const DEFAULT_NODE: &str = "local";

/// The body of a CLUSTER_STATS reply.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterSnapshot {
    /// Each node's stats snapshot, by node name; the asking node is always included.
    pub nodes: BTreeMap<String, Snapshot>,
}

/// Answers CLUSTER_STATS for one server; cheap to clone into every connection.
#[derive(Debug, Clone)]
pub struct ClusterStats {
    /// This server's node name: its key in the `nodes` object.
    node: Arc<str>,
}

impl Default for ClusterStats {
    fn default() -> Self {
        ClusterStats::new(DEFAULT_NODE)
    }
}

impl ClusterStats {
    /// Cluster stats for the node called `node`.
    pub fn new(node: impl Into<Arc<str>>) -> Self {
        ClusterStats { node: node.into() }
    }

    /// This server's node name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The snapshots of every node that answers: without a cluster, this one only.
    pub fn gather(
        &self,
        supervisor: Addr<Supervisor>,
    ) -> impl std::future::Future<Output = Result<ClusterSnapshot, MailboxError>> + 'static {
        let node = self.node.to_string();
        async move {
            let snapshot = supervisor.send(GetStats).await?;
            Ok(ClusterSnapshot {
                nodes: BTreeMap::from([(node, snapshot)]),
            })
        }
    }
}

/// A node name for a server started without one: `node-` and 8 random hex digits.
pub fn random_node() -> String {
    format!("node-{:08x}", fastrand::u32(..))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix::Actor;
    use switchboard::{Stats, SupervisorConfig};

    #[test]
    fn random_names_have_the_documented_shape() {
        let name = random_node();
        let hex = name.strip_prefix("node-").unwrap();
        assert_eq!(hex.len(), 8, "{name}");
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()), "{name}");
    }

    #[actix_rt::test]
    async fn alone_it_is_this_node_only() {
        let stats = Stats::default().start();
        let supervisor = Supervisor::new(SupervisorConfig::default(), stats).start();
        let cluster = ClusterStats::new("alpha");
        let snapshot = cluster.gather(supervisor).await.unwrap();
        let json = serde_json::to_value(&snapshot).unwrap();
        let nodes = json["nodes"].as_object().unwrap();
        assert_eq!(nodes.keys().collect::<Vec<_>>(), ["alpha"]);
        assert!(nodes["alpha"]["removed_total"].is_object(), "{json}");
    }
}
