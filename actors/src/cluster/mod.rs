//! Groups across servers: what the supervisor tells a cluster link, and what a link
//! hands back.
//!
//! A cluster link carries what is published or broadcast on this server to the other
//! servers of a cluster, and delivers theirs here. The supervisor hands it every message
//! published to a named group and every broadcast to a protocol group (after delivering
//! them locally as usual), and says when this server starts or stops having members of
//! a group (its *interest*), so a link only listens for groups this server has members
//! of. Messages from other servers are delivered locally and never handed to the link
//! again.
//!
//! With the cargo feature `nats`, `NatsCluster` is such a link over a NATS server
//! (one subject per named group and per protocol group, see [`subjects`]), and
//! `NatsCluster::gather` collects the stats snapshots of every node.
//!
//! Connection ids are per node; a [`GlobalId`] (`node/id`) names one connection of the
//! whole cluster. `NatsCluster::global_id` gives this node's connections theirs, and
//! `NatsCluster::send_to` sends to a connection on any node: on this one through the
//! switchboard's handle, to another as a NATS request answered by that node alone
//! (with the outcome: delivered, or why not), so a caller learns that a connection
//! does not exist, is closing or is over its budget on the other node just as on
//! this one. A node that does not answer within the link's send timeout, or NATS being
//! unreachable, is `SendError::Unreachable`: a send never hangs and nothing is buffered
//! beyond the link's byte budget.

mod global_id;
mod hook;
pub mod subjects;

#[cfg(feature = "nats")]
mod config;
#[cfg(feature = "nats")]
mod direct;
#[cfg(feature = "nats")]
mod gather;
#[cfg(feature = "nats")]
mod link;
#[cfg(feature = "nats")]
mod url;

pub use global_id::{GlobalId, GlobalIdError};
pub use hook::ClusterCounters;
pub(crate) use hook::{AttachCluster, ClusterBroadcast, ClusterDeliver, ClusterHook, Interest};

#[cfg(feature = "nats")]
pub use config::{ClusterConfig, ClusterError};
#[cfg(feature = "nats")]
pub use gather::NodeSnapshots;
#[cfg(feature = "nats")]
pub use link::NatsCluster;
#[cfg(feature = "nats")]
pub use url::redact_url;
