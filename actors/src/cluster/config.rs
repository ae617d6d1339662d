//! How a node joins a cluster over NATS ([`ClusterConfig`]: the server's URL, the
//! node's name, the bounds and delays of the link), and why a link could not start.

use super::subjects::{self, MAX_NODE_LEN};
use super::url::NatsUrl;
use std::time::Duration;

/// How a node joins a cluster.
#[derive(Clone)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// The NATS server, `nats://HOST:PORT`, optionally with credentials:
    /// `nats://USER:PASSWORD@HOST:PORT` or `nats://TOKEN@HOST:PORT` (see
    /// [`redact_url`](super::redact_url), which is how it is printed).
    pub url: String,
    /// This node's name: unique in the cluster, 1 to 255 bytes.
    pub node: String,
    /// The first token of every subject: clusters sharing a NATS server with different
    /// prefixes do not see each other. Default: `switchboard`.
    pub prefix: String,
    /// The first reconnect delay. Default: 100 ms.
    pub reconnect_min: Duration,
    /// The longest reconnect delay: once NATS is back, cross-node delivery resumes
    /// within about this long. Default: 5 s.
    pub reconnect_max: Duration,
    /// Outgoing messages that may wait for the client; one more is a failure.
    /// Default: 65,536.
    pub buffer: usize,
    /// Outgoing bytes (payloads) that may wait for the client; past it a message is a
    /// failure. Sends to other nodes' connections waiting for their answer have a
    /// budget of the same size, and a node refuses a send request bigger than it.
    /// Default: 16 MiB.
    pub buffer_bytes: usize,
    /// Commands the client may hold while (re)connecting. Default: 2048.
    pub client_capacity: usize,
    /// Incoming messages one subscription may hold before the client drops them.
    /// Default: 65,536.
    pub subscription_capacity: usize,
    /// How long a stats gathering waits for the other nodes' answers. Default: 1 s.
    pub gather_timeout: Duration,
    /// How long a send to a connection on another node
    /// ([`NatsCluster::send_to`](super::NatsCluster::send_to)) waits for that node's answer before it is
    /// [`SendError::Unreachable`](crate::SendError::Unreachable); a request the NATS
    /// client cannot take at once may wait a quarter more. Default: 1 s.
    pub send_timeout: Duration,
}

crate::config::setters!(ClusterConfig {
    with_prefix => prefix: String,
    with_reconnect_min => reconnect_min: Duration,
    with_reconnect_max => reconnect_max: Duration,
    with_buffer => buffer: usize,
    with_buffer_bytes => buffer_bytes: usize,
    with_client_capacity => client_capacity: usize,
    with_subscription_capacity => subscription_capacity: usize,
    with_gather_timeout => gather_timeout: Duration,
    with_send_timeout => send_timeout: Duration,
});

impl ClusterConfig {
    /// A node called `node` joining the cluster at `url`, with the default bounds.
    pub fn new(url: impl Into<String>, node: impl Into<String>) -> Self {
        ClusterConfig {
            url: url.into(),
            node: node.into(),
            prefix: subjects::DEFAULT_PREFIX.to_owned(),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            buffer: 65_536,
            buffer_bytes: 16 * 1024 * 1024,
            client_capacity: 2048,
            subscription_capacity: 65_536,
            gather_timeout: Duration::from_secs(1),
            send_timeout: Duration::from_secs(1),
        }
    }

    /// Checks the URL and the node name. No error quotes the URL's credentials.
    pub fn validate(&self) -> Result<(), ClusterError> {
        NatsUrl::parse(&self.url)?;
        if self.node.is_empty() || self.node.len() > MAX_NODE_LEN {
            return Err(ClusterError::Node(format!(
                "{:?} must be 1 to {MAX_NODE_LEN} bytes",
                self.node
            )));
        }
        Ok(())
    }
}

impl std::fmt::Debug for ClusterConfig {
    /// Every field, the URL [`redact_url`](super::redact_url)ed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("url", &super::redact_url(&self.url))
            .field("node", &self.node)
            .field("prefix", &self.prefix)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .field("buffer", &self.buffer)
            .field("buffer_bytes", &self.buffer_bytes)
            .field("client_capacity", &self.client_capacity)
            .field("subscription_capacity", &self.subscription_capacity)
            .field("gather_timeout", &self.gather_timeout)
            .field("send_timeout", &self.send_timeout)
            .finish()
    }
}

/// Why a cluster link could not start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClusterError {
    /// The URL is not a usable `nats://HOST:PORT`.
    #[error("{0}")]
    Url(String),
    /// The node name cannot be carried in messages.
    #[error("node name {0}")]
    Node(String),
}
