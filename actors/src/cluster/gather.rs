//! CLUSTER_STATS over NATS: every node answers requests on the stats subject with its
//! snapshot; the asking node collects the answers for a bounded time.

use super::link::{Inner, NatsCluster};
use super::subjects;
use crate::Handle;
use async_nats::connection::State;
use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The most answers one gathering keeps.
const MAX_NODES: usize = 10_000;

/// Each node's stats snapshot (as JSON), by node name.
pub type NodeSnapshots = BTreeMap<String, serde_json::Value>;

/// One node's answer to a stats request.
#[derive(Serialize, Deserialize)]
struct Answer {
    /// The answering node.
    node: String,
    /// Its stats snapshot.
    snapshot: serde_json::Value,
}

/// This node's snapshot as JSON.
async fn own_snapshot(board: &Handle) -> serde_json::Value {
    let snapshot = board.stats().await.unwrap_or_default();
    serde_json::to_value(snapshot).unwrap_or_default()
}

/// Answers every stats request with this node's snapshot.
pub(super) async fn answering(inner: Arc<Inner>, board: Handle) {
    let subject = subjects::stats_subject(&inner.prefix);
    let mut requests = match inner.client.subscribe(subject.clone()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cluster: cannot subscribe to {subject}: {e}");
            return;
        }
    };
    while let Some(request) = requests.next().await {
        let Some(reply) = request.reply else { continue };
        let answer = Answer {
            node: inner.node.clone(),
            snapshot: own_snapshot(&board).await,
        };
        let Ok(body) = serde_json::to_vec(&answer) else {
            continue;
        };
        if let Err(e) = inner.client.publish(reply, Bytes::from(body)).await {
            tracing::debug!("cluster: stats answer not sent: {e}");
        }
    }
}

impl NatsCluster {
    /// The stats snapshots of every node that answers within the gather timeout, this
    /// one included (it always is, under its own name, even without NATS).
    pub async fn gather(&self, board: &Handle) -> NodeSnapshots {
        let inner = &self.inner;
        let mut nodes = NodeSnapshots::new();
        nodes.insert(inner.node.clone(), own_snapshot(board).await);
        if inner.client.connection_state() != State::Connected {
            return nodes;
        }
        let inbox = inner.client.new_inbox();
        let mut answers = match inner.client.subscribe(inbox.clone()).await {
            Ok(s) => s,
            Err(_) => return nodes,
        };
        let subject = subjects::stats_subject(&inner.prefix);
        if inner
            .client
            .publish_with_reply(subject, inbox, Bytes::new())
            .await
            .is_err()
        {
            return nodes;
        }
        let deadline = tokio::time::Instant::now() + inner.gather_timeout;
        while nodes.len() < MAX_NODES {
            let Ok(Some(message)) = tokio::time::timeout_at(deadline, answers.next()).await else {
                break;
            };
            if let Ok(answer) = serde_json::from_slice::<Answer>(&message.payload) {
                nodes.entry(answer.node).or_insert(answer.snapshot);
            }
        }
        nodes
    }
}
