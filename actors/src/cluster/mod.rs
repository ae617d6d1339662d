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

mod hook;
pub mod subjects;

#[cfg(feature = "nats")]
mod gather;
#[cfg(feature = "nats")]
mod link;

pub use hook::ClusterCounters;
pub(crate) use hook::{AttachCluster, ClusterBroadcast, ClusterDeliver, ClusterHook, Interest};

#[cfg(feature = "nats")]
pub use gather::NodeSnapshots;
#[cfg(feature = "nats")]
pub use link::{ClusterConfig, ClusterError, NatsCluster};
