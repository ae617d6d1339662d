//! CLUSTER_STATS (`0x10` / `CSTATS`): the stats snapshots of the cluster's nodes, keyed
//! by node name.
//!
//! Without a cluster, the cluster is this server alone: the answer is
//! `{"nodes": {NODE: <STATS snapshot>}}` under its own node name. With one, every node
//! that answers over NATS within one second is listed too (see
//! [`NatsCluster::gather`]). [`ClusterStats`] is the one place both protocols ask.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use switchboard::cluster::NatsCluster;
use switchboard::{Handle, Stopped};

/// The node name a protocol uses when the server gives it none.
pub const DEFAULT_NODE: &str = "local";

/// The body of a CLUSTER_STATS reply.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterSnapshot {
    /// Each node's stats snapshot, by node name; the asking node is always included.
    pub nodes: BTreeMap<String, serde_json::Value>,
}

/// Answers CLUSTER_STATS for one server; cheap to clone into every connection.
#[derive(Debug, Clone)]
pub struct ClusterStats {
    /// This server's node name: its key in the `nodes` object.
    node: Arc<str>,
    /// The link to the other nodes, when the server is in a cluster.
    link: Option<NatsCluster>,
}

impl Default for ClusterStats {
    fn default() -> Self {
        ClusterStats::new(DEFAULT_NODE)
    }
}

impl ClusterStats {
    /// Cluster stats for the node called `node`.
    pub fn new(node: impl Into<Arc<str>>) -> Self {
        ClusterStats {
            node: node.into(),
            link: None,
        }
    }

    /// Cluster stats gathered over `link` (named after its node).
    pub fn with_link(link: NatsCluster) -> Self {
        ClusterStats {
            node: link.node().into(),
            link: Some(link),
        }
    }

    /// This server's node name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The snapshots of every node that answers: without a cluster, this one only.
    pub fn gather(
        &self,
        board: Handle,
    ) -> impl std::future::Future<Output = Result<ClusterSnapshot, Stopped>> + 'static {
        let node = self.node.to_string();
        let link = self.link.clone();
        async move {
            if let Some(link) = link {
                return Ok(ClusterSnapshot {
                    nodes: link.gather(&board).await,
                });
            }
            let snapshot = board.stats().await?;
            let snapshot = serde_json::to_value(snapshot).unwrap_or_default();
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

    #[test]
    fn random_names_have_the_documented_shape() {
        let name = random_node();
        let hex = name.strip_prefix("node-").unwrap();
        assert_eq!(hex.len(), 8, "{name}");
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()), "{name}");
    }

    #[actix_rt::test]
    async fn alone_it_is_this_node_only() {
        let board = switchboard::Switchboard::start(
            switchboard::SwitchboardConfig::default().with_workers(0),
        );
        let cluster = ClusterStats::new("alpha");
        let snapshot = cluster.gather(board.handle().clone()).await.unwrap();
        let json = serde_json::to_value(&snapshot).unwrap();
        let nodes = json["nodes"].as_object().unwrap();
        assert_eq!(nodes.keys().collect::<Vec<_>>(), ["alpha"]);
        assert!(nodes["alpha"]["removed_total"].is_object(), "{json}");
    }
}
