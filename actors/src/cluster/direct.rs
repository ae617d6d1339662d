//! Sends to one connection anywhere in a cluster: each node answers requests on its own
//! subject (see [`subjects`](super::subjects) for the subject and the wire form) by
//! handing the packet to its connection; the asking node waits a bounded time for the
//! outcome.

use super::link::{Inner, NatsCluster};
use super::{subjects, GlobalId};
use crate::{ConnId, Handle, Protocol, SendError};
use async_nats::client::RequestErrorKind;
use async_nats::connection::State;
use bytes::Bytes;
use futures_util::StreamExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Answers the send requests for this node's connections, one at a time and in arrival
/// order (so sends from one node to one connection keep their order). A request bigger
/// than the cluster's buffer is refused without touching the connection.
pub(super) async fn answering(inner: Arc<Inner>, board: Handle) {
    let subject = subjects::conn_subject(&inner.prefix, &inner.node);
    let mut requests = match inner.client.subscribe(subject.clone()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cluster: cannot subscribe to {subject}: {e}");
            return;
        }
    };
    while let Some(request) = requests.next().await {
        inner.counters.received.fetch_add(1, Ordering::Relaxed);
        let answer = match subjects::parse_send_request(&request.payload) {
            None => subjects::malformed_answer(),
            Some((_, packet)) if packet.len() > inner.max_bytes => {
                subjects::send_answer(&Err(SendError::OverBudget {
                    queued: 0,
                    packet: packet.len(),
                    limit: inner.max_bytes,
                }))
            }
            Some((id, packet)) => subjects::send_answer(&board.send_encoded(id, packet).await),
        };
        let Some(reply) = request.reply else { continue };
        if let Err(e) = inner.client.publish(reply, answer).await {
            tracing::debug!("cluster: send answer not sent: {e}");
        }
    }
}

/// Takes `len` bytes of the budget for sends waiting for an answer, and gives them back
/// when dropped.
struct InFlight<'a> {
    /// The link whose budget is taken.
    inner: &'a Inner,
    /// The bytes taken.
    len: usize,
}

impl<'a> InFlight<'a> {
    /// The budget for `len` more bytes, or the refusal if it would go past the limit.
    fn take(inner: &'a Inner, len: usize) -> Result<Self, SendError> {
        let queued = inner.direct_bytes.fetch_add(len, Ordering::Relaxed);
        let taken = InFlight { inner, len };
        if queued.saturating_add(len) > inner.max_bytes {
            return Err(SendError::OverBudget {
                queued,
                packet: len,
                limit: inner.max_bytes,
            });
        }
        Ok(taken)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.inner
            .direct_bytes
            .fetch_sub(self.len, Ordering::Relaxed);
    }
}

impl NatsCluster {
    /// The cluster-wide name of this node's connection `id`: what another node passes to
    /// [`send_to`](Self::send_to) to reach it.
    pub fn global_id(&self, id: ConnId) -> GlobalId {
        GlobalId {
            node: self.inner.node_name.clone(),
            id,
        }
    }

    /// Sends `response` to connection `to`, on this node or on any other node of the
    /// cluster, for applications whose connections talk to each other across servers
    /// (a chat's private message, a game's invitation).
    ///
    /// On this node it is [`Handle::send_to`] on `board` (the switchboard this link was
    /// started with): the connection's own codec encodes it. For another node it is
    /// encoded once here, by the codec of `protocol` (pass a value configured like that
    /// node's listener), then handed over as by
    /// [`send_encoded_to`](Self::send_encoded_to). Sends from one node to one
    /// connection, each awaited before the next, arrive in order.
    ///
    /// Refusals are those of [`Handle::send_to`], carried back from the other node
    /// (`UnknownConnection`, `Closing`, `OverBudget`...), and:
    /// - [`SendError::Encode`]: the codec of `protocol` refused the value; nothing was
    ///   sent;
    /// - [`SendError::OverBudget`]: also when the packet is bigger than what the cluster
    ///   buffers ([`ClusterConfig::buffer_bytes`](super::ClusterConfig::buffer_bytes),
    ///   counting every send still waiting for its answer, or NATS's largest message);
    ///   nothing was sent;
    /// - [`SendError::Unreachable`]: no answer from the node, at once when this node is
    ///   not connected to NATS or nobody has that node name, else after
    ///   [`ClusterConfig::send_timeout`](super::ClusterConfig::send_timeout) (a quarter
    ///   more at most when the request could not even be handed to the NATS client).
    ///
    /// A send to another node counts in the cluster's `published_total` (handed to NATS)
    /// or `failed_total` (not handed over: disconnected, over the buffer), and in the
    /// other node's `received_total`. Sends to another node need the feature `nats` and
    /// must run inside the tokio runtime the link was started on.
    pub async fn send_to<P>(
        &self,
        board: &Handle,
        to: &GlobalId,
        protocol: &P,
        response: P::Response,
    ) -> Result<(), SendError>
    where
        P: Protocol,
        P::Response: Send,
    {
        if *to.node == *self.inner.node {
            return board.send_to::<P>(to.id, response).await;
        }
        let packet = crate::connector::encode(protocol, response).map_err(SendError::Encode)?;
        self.send_encoded_to(board, to, packet).await
    }

    /// Hands `packet`, already in the wire format of connection `to`'s protocol (framing
    /// included), to that connection, on this node ([`Handle::send_encoded`] on `board`)
    /// or on another one: for callers that hold encoded bytes already (a relay). Refused
    /// as [`send_to`](Self::send_to) says (but for `Encode`); an empty packet is
    /// [`SendError::Empty`] before anything is sent.
    pub async fn send_encoded_to(
        &self,
        board: &Handle,
        to: &GlobalId,
        packet: Bytes,
    ) -> Result<(), SendError> {
        let inner = &self.inner;
        if *to.node == *inner.node {
            return board.send_encoded(to.id, packet).await;
        }
        if packet.is_empty() {
            return Err(SendError::Empty);
        }
        let unreachable = |reason: String| SendError::Unreachable {
            node: to.node.to_string(),
            reason,
        };
        let failed = || inner.counters.failed.fetch_add(1, Ordering::Relaxed);
        if inner.client.connection_state() != State::Connected {
            failed();
            return Err(unreachable("not connected to NATS".to_owned()));
        }
        let most = inner.client.max_payload().saturating_sub(8);
        if packet.len() > most {
            failed();
            return Err(SendError::OverBudget {
                queued: 0,
                packet: packet.len(),
                limit: most,
            });
        }
        let _budget = InFlight::take(inner, packet.len()).inspect_err(|_| {
            failed();
        })?;
        let subject = subjects::conn_subject(&inner.prefix, &to.node);
        let request = async_nats::Request::new()
            .payload(subjects::send_request(to.id, &packet))
            .timeout(Some(inner.send_timeout));
        // The client's own timeout covers the wait for the answer once the request is
        // handed over; this one, a little longer so that it fires only when handing
        // over took long (the client's command buffer full), bounds the whole send.
        let answer = tokio::time::timeout(
            inner.send_timeout + inner.send_timeout / 4,
            inner.client.send_request(subject, request),
        )
        .await;
        let Ok(answer) = answer else {
            failed();
            return Err(unreachable(format!(
                "the request could not be handed to NATS within {:?}",
                inner.send_timeout
            )));
        };
        let handed = match &answer {
            Ok(_) => true,
            Err(e) => matches!(
                e.kind(),
                RequestErrorKind::TimedOut | RequestErrorKind::NoResponders
            ),
        };
        match handed {
            true => inner.counters.published.fetch_add(1, Ordering::Relaxed),
            false => failed(),
        };
        match answer {
            Ok(message) => subjects::parse_send_answer(&to.node, to.id, &message.payload),
            Err(e) => Err(unreachable(match e.kind() {
                RequestErrorKind::TimedOut => {
                    format!("no answer within {:?}", inner.send_timeout)
                }
                RequestErrorKind::NoResponders => "no node of that name is listening".to_owned(),
                _ => e.to_string(),
            })),
        }
    }
}
