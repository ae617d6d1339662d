//! The cluster link over NATS: one client connection per node, which publishes this
//! node's group messages and broadcasts in order, and subscribes to a group's subject
//! only while this node has members of the group.
//!
//! Bounds: messages wait for the client in a channel of [`ClusterConfig::buffer`]
//! places and [`ClusterConfig::buffer_bytes`] bytes, and the client holds at most
//! [`ClusterConfig::client_capacity`] commands
//! while it reconnects; a message that finds either full, or finds the client
//! disconnected, is counted in `failed_total` and dropped. Each subscription holds at
//! most [`ClusterConfig::subscription_capacity`] messages not yet handed to the
//! supervisor; past that the client drops them and reports a slow consumer, counted in
//! `slow_consumer_total`. The client reconnects by itself, forever, with a delay
//! doubling from [`ClusterConfig::reconnect_min`] to [`ClusterConfig::reconnect_max`],
//! and subscribes again to everything this node is interested in.
//!
//! Sends to one connection on another node ([`NatsCluster::send_to`]) do not go through
//! that channel: each is a request that waits at most [`ClusterConfig::send_timeout`]
//! for its answer, and the packets of those waiting may total at most
//! [`ClusterConfig::buffer_bytes`]; one more is refused before it is sent.

use super::config::{ClusterConfig, ClusterError};
use super::subjects;
use super::url::{Credentials, NatsUrl};
use super::{ClusterBroadcast, ClusterCounters, ClusterDeliver, ClusterHook, Interest};
use crate::{Handle, Published, Supervisor};
use actix::Addr;
use async_nats::connection::State;
use async_nats::{Client, ClientError, ConnectErrorKind, ConnectOptions, Event};
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

/// The link's counters, shared with its tasks.
#[derive(Debug, Default)]
pub(super) struct Counters {
    /// Messages handed to the client.
    pub(super) published: AtomicU64,
    /// Messages received from other nodes.
    pub(super) received: AtomicU64,
    /// Messages for other nodes dropped.
    pub(super) failed: AtomicU64,
    /// Slow-consumer incidents.
    slow: AtomicU64,
    /// Connections to NATS lost (NATS stopped, the network broke, or NATS cut this
    /// node off as a slow consumer).
    disconnects: AtomicU64,
}

/// What the link's handle and its tasks share.
pub(super) struct Inner {
    /// This node's name.
    pub(super) node: String,
    /// This node's name again, shared by the global ids it hands out.
    pub(super) node_name: Arc<str>,
    /// The subject prefix.
    pub(super) prefix: String,
    /// The NATS client (reconnecting by itself).
    pub(super) client: Client,
    /// Outgoing messages, in order, to the publishing task.
    out: mpsc::Sender<(String, Bytes)>,
    /// Payload bytes in `out` now.
    queued_bytes: AtomicUsize,
    /// The most payload bytes `out` may hold, and sends to other nodes' connections
    /// waiting for their answer.
    pub(super) max_bytes: usize,
    /// Packet bytes of sends to other nodes' connections waiting for their answer.
    pub(super) direct_bytes: AtomicUsize,
    /// Interest changes not yet carried out: the latest wish for each group.
    pending: Mutex<HashMap<Interest, bool>>,
    /// Wakes the task that carries out interest changes.
    wake: Notify,
    /// The figures (shared with the client's event callback).
    pub(super) counters: Arc<Counters>,
    /// How long a stats gathering waits.
    pub(super) gather_timeout: Duration,
    /// How long a send to another node's connection waits for the answer.
    pub(super) send_timeout: Duration,
}

/// A node's link to its cluster over NATS; cheap to clone. Attach it to a switchboard
/// with [`NatsCluster::attach`].
#[derive(Clone)]
pub struct NatsCluster {
    /// The shared state.
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for NatsCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsCluster")
            .field("node", &self.inner.node)
            .field("prefix", &self.inner.prefix)
            .field("connected", &self.connected())
            .finish()
    }
}

impl NatsCluster {
    /// Connects to NATS in the background (an unreachable server is retried, never an
    /// error) and starts the link's tasks on the current tokio runtime: publishing,
    /// following interest, answering stats requests with the snapshot of the
    /// switchboard behind `board`, and handing sends from other nodes to its
    /// connections.
    /// Fails only on a bad URL or node name. Call it inside a tokio runtime (an actix
    /// system is one); it does not wait for NATS.
    ///
    /// Credentials in the URL are handed to the client as credentials, never as part of
    /// the address it dials and logs. A NATS server that refuses them is retried like
    /// an unreachable one (the node serves on its own meanwhile, its messages for other
    /// nodes counted as failed), each refusal logged at `warn`.
    pub fn start(config: ClusterConfig, board: &Handle) -> Result<NatsCluster, ClusterError> {
        let supervisor = board.supervisor().clone();
        config.validate()?;
        let url = NatsUrl::parse(&config.url)?;
        let counters = Arc::new(Counters::default());
        let events = counters.clone();
        let node_for_log = config.node.clone();
        let (min, max) = (
            config.reconnect_min,
            config.reconnect_max.max(config.reconnect_min),
        );
        let options = match url.credentials {
            None => ConnectOptions::new(),
            Some(Credentials::UserPassword { user, password }) => {
                ConnectOptions::new().user_and_password(user, password)
            }
            Some(Credentials::Token(token)) => ConnectOptions::new().token(token),
        };
        let refused = [
            ConnectErrorKind::AuthorizationViolation.to_string(),
            ConnectErrorKind::Authentication.to_string(),
        ];
        let options = options
            .name(format!("switchboard {}", config.node))
            .retry_on_initial_connect()
            .max_reconnects(None)
            .client_capacity(config.client_capacity.max(1))
            .subscription_capacity(config.subscription_capacity.max(1))
            .connection_timeout(max.max(Duration::from_millis(500)))
            .reconnect_delay_callback(move |attempts| {
                let doublings = u32::try_from(attempts.saturating_sub(1)).unwrap_or(u32::MAX).min(16);
                min.saturating_mul(1 << doublings).min(max)
            })
            .event_callback(move |event| {
                let counters = events.clone();
                let node = node_for_log.clone();
                let refused = refused.clone();
                async move {
                    match event {
                        Event::SlowConsumer(sid) => {
                            counters.slow.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!("cluster node {node}: slow consumer on subscription {sid}, messages dropped");
                        }
                        Event::Connected => tracing::info!("cluster node {node}: connected to NATS"),
                        Event::Disconnected => {
                            counters.disconnects.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!("cluster node {node}: disconnected from NATS");
                        }
                        Event::ClientError(ClientError::Other(kind)) if refused.contains(&kind) => {
                            tracing::warn!("cluster node {node}: NATS refused this node's credentials ({kind}); serving on its own, retrying");
                        }
                        Event::ServerError(e) => tracing::warn!("cluster node {node}: NATS: {e}"),
                        Event::ClientError(e) => tracing::debug!("cluster node {node}: {e}"),
                        other => tracing::info!("cluster node {node}: {other}"),
                    }
                }
            });
        // With retry_on_initial_connect the client connects in its own task: the
        // future completes at its first poll.
        let client = options
            .connect(url.server.as_str())
            .now_or_never()
            .ok_or_else(|| {
                ClusterError::Url(format!("{:?}: the client did not start", url.server))
            })?
            .map_err(|e| ClusterError::Url(format!("{:?}: {e}", url.server)))?;
        let (out, rx) = mpsc::channel(config.buffer.max(1));
        let inner = Arc::new(Inner {
            node_name: Arc::from(config.node.as_str()),
            node: config.node,
            prefix: config.prefix,
            client,
            out,
            queued_bytes: AtomicUsize::new(0),
            max_bytes: config.buffer_bytes.max(1),
            direct_bytes: AtomicUsize::new(0),
            pending: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            counters,
            gather_timeout: config.gather_timeout,
            send_timeout: config.send_timeout,
        });
        let link = NatsCluster { inner };
        tokio::spawn(publishing(link.inner.clone(), rx));
        tokio::spawn(following(link.inner.clone(), supervisor.clone()));
        tokio::spawn(super::gather::answering(link.inner.clone(), board.clone()));
        tokio::spawn(super::direct::answering(link.inner.clone(), board.clone()));
        Ok(link)
    }

    /// Attaches the link to the switchboard behind `board`: from now on it carries that
    /// switchboard's publishes and broadcasts.
    pub fn attach(&self, board: &Handle) {
        board
            .supervisor()
            .do_send(super::AttachCluster(Arc::new(self.clone())));
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// Whether the client is connected to NATS now.
    pub fn connected(&self) -> bool {
        self.inner.client.connection_state() == State::Connected
    }

    fn send(&self, subject: String, body: &Bytes) {
        let inner = &self.inner;
        if inner.client.connection_state() != State::Connected {
            // Nothing is kept for later: NATS is not there to take it.
            inner.counters.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let len = body.len();
        let queued = inner.queued_bytes.fetch_add(len, Ordering::Relaxed);
        if queued + len > inner.max_bytes || inner.out.try_send((subject, body.clone())).is_err() {
            inner.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            inner.counters.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl ClusterHook for NatsCluster {
    fn published(&self, messages: &[Published]) {
        for m in messages {
            let subject = subjects::group_subject(&self.inner.prefix, m.group.as_str());
            self.send(subject, &m.message);
        }
    }

    fn broadcast(&self, protocol: &'static str, packets: &[Bytes]) {
        let subject = subjects::broadcast_subject(&self.inner.prefix, protocol);
        for packet in packets {
            self.send(subject.clone(), packet);
        }
    }

    fn interest(&self, interest: Interest, present: bool) {
        if let Ok(mut pending) = self.inner.pending.lock() {
            pending.insert(interest, present);
        }
        self.inner.wake.notify_one();
    }

    fn counters(&self) -> ClusterCounters {
        let c = &self.inner.counters;
        ClusterCounters {
            node: self.inner.node.clone(),
            connected: self.connected(),
            published_total: c.published.load(Ordering::Relaxed),
            received_total: c.received.load(Ordering::Relaxed),
            failed_total: c.failed.load(Ordering::Relaxed),
            slow_consumer_total: c.slow.load(Ordering::Relaxed),
            disconnects_total: c.disconnects.load(Ordering::Relaxed),
        }
    }
}

/// The most payload bytes one NATS message carries (unless one message alone is more).
const MAX_NATS_BYTES: usize = 64 * 1024;

/// Hands outgoing messages to the client in order: consecutive messages for one subject
/// that are waiting already go out as one NATS message. While the client is not
/// connected each message is a failure.
async fn publishing(inner: Arc<Inner>, mut rx: mpsc::Receiver<(String, Bytes)>) {
    let mut next = rx.recv().await;
    while let Some((subject, first)) = next.take() {
        let mut size = first.len();
        let mut bodies = vec![first];
        loop {
            match rx.try_recv() {
                Ok((s, body)) if s == subject && size + body.len() <= MAX_NATS_BYTES => {
                    size += body.len();
                    bodies.push(body);
                }
                Ok(other) => {
                    next = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        inner.queued_bytes.fetch_sub(size, Ordering::Relaxed);
        let count = bodies.len() as u64;
        let counters = &inner.counters;
        let sent = inner.client.connection_state() == State::Connected
            && match inner
                .client
                .publish(subject, subjects::wrap(&inner.node, &bodies))
                .await
            {
                Ok(()) => true,
                Err(e) => {
                    tracing::debug!("cluster publish failed: {e}");
                    false
                }
            };
        match sent {
            true => counters.published.fetch_add(count, Ordering::Relaxed),
            false => counters.failed.fetch_add(count, Ordering::Relaxed),
        };
        if next.is_none() {
            next = rx.recv().await;
        }
    }
}

/// Subscribes to a group's subject when this node gains members of it and unsubscribes
/// when it has none left.
async fn following(inner: Arc<Inner>, supervisor: Addr<Supervisor>) {
    let mut readers: HashMap<Interest, JoinHandle<()>> = HashMap::new();
    loop {
        inner.wake.notified().await;
        let changes = match inner.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => return,
        };
        for (interest, present) in changes {
            if !present {
                if let Some(reader) = readers.remove(&interest) {
                    // Dropping the subscription unsubscribes it.
                    reader.abort();
                }
                continue;
            }
            if readers.contains_key(&interest) {
                continue;
            }
            let subject = match &interest {
                Interest::Group(g) => subjects::group_subject(&inner.prefix, g.as_str()),
                Interest::Protocol(p) => subjects::broadcast_subject(&inner.prefix, p),
            };
            match inner.client.subscribe(subject.clone()).await {
                Ok(subscription) => {
                    let reader = tokio::spawn(reading(
                        inner.clone(),
                        interest.clone(),
                        subscription,
                        supervisor.clone(),
                    ));
                    readers.insert(interest, reader);
                }
                Err(e) => tracing::warn!("cluster: cannot subscribe to {subject}: {e}"),
            }
        }
    }
}

/// The most messages handed to the supervisor at once.
const MAX_BATCH: usize = 1024;

/// Delivers what other nodes send to one subject to this node's members, in order:
/// whatever has arrived is handed over as one batch, and the next batch waits until
/// the supervisor has taken this one. A supervisor that falls behind thus leaves
/// messages in the subscription's bounded buffer, and the client drops and reports
/// them past it (a slow consumer).
async fn reading(
    inner: Arc<Inner>,
    interest: Interest,
    mut subscription: async_nats::Subscriber,
    supervisor: Addr<Supervisor>,
) {
    let mut batch = Vec::new();
    while let Some(first) = subscription.next().await {
        let mut message = Some(first);
        while let Some(m) = message.take() {
            match subjects::unwrap(&m.payload) {
                // Our own messages: their local members already have them.
                Some((node, bodies)) if node != inner.node => batch.extend(bodies),
                _ => {}
            }
            if batch.len() < MAX_BATCH {
                message = subscription.next().now_or_never().flatten();
            }
        }
        if batch.is_empty() {
            continue;
        }
        let count = batch.len() as u64;
        inner.counters.received.fetch_add(count, Ordering::Relaxed);
        let messages = std::mem::take(&mut batch);
        let delivered = match &interest {
            Interest::Group(group) => supervisor
                .send(ClusterDeliver {
                    group: group.clone(),
                    messages,
                })
                .await
                .map(drop),
            Interest::Protocol(protocol) => supervisor
                .send(ClusterBroadcast {
                    protocol,
                    packets: messages,
                })
                .await
                .map(drop),
        };
        if delivered.is_err() {
            // The supervisor has stopped: the server is going away.
            return;
        }
    }
}
