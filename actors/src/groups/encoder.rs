//! How one protocol writes a message published to a named group.

use super::GroupName;
use crate::User;
use bytes::Bytes;
use std::fmt;
use std::sync::Arc;

/// The signature of a group encoder's function.
type EncodeFn = dyn Fn(&GroupName, &[u8], Option<&User>) -> Result<Bytes, String> + Send + Sync;

/// The signature of the function writing a message of a history group, with its offset.
type NumberedFn = dyn Fn(&GroupName, u64, &[u8]) -> Result<Bytes, String> + Send + Sync;

/// How a message published to a named group is written on one protocol's wire: the
/// complete packet (framing included) for `(group, message)`, or why this message
/// cannot be sent in this protocol (the reason is recorded as each member's send
/// failure).
///
/// It is a value rather than a trait method so that it can carry the protocol's
/// configuration (a line protocol's `max_line`, say) and run on another thread: each
/// hub encodes each message once per protocol present among its members of the group.
/// Connections of one protocol name are expected to hand out encoders that agree; a
/// hub uses the encoder of one member of each protocol.
///
/// An encoder made with [`with_publisher`](Self::with_publisher) also sees the user
/// the publishing connection authenticated as, so a chat can write who said what
/// without packing the name into every message.
/// Messages of a group with a history (see [`history`](crate::history)) carry an
/// offset; an encoder made [`with_offsets`](Self::with_offsets) writes it, and one
/// without writes them like any other message (with no publisher: a history does not
/// keep who published).
#[derive(Clone)]
pub struct GroupEncoder(Arc<EncodeFn>, Option<Arc<NumberedFn>>);

impl GroupEncoder {
    /// An encoder running `encode(group, message)`.
    pub fn new(
        encode: impl Fn(&GroupName, &[u8]) -> Result<Bytes, String> + Send + Sync + 'static,
    ) -> Self {
        GroupEncoder(
            Arc::new(move |group, message, _| encode(group, message)),
            None,
        )
    }

    /// An encoder running `encode(group, message, publisher)`, where `publisher` is the
    /// user the publishing connection authenticated as: `None` for a connection that
    /// did not, for [`Handle::publish`](crate::Handle::publish) from outside any
    /// connection, and for messages from other servers of a cluster.
    pub fn with_publisher(
        encode: impl Fn(&GroupName, &[u8], Option<&User>) -> Result<Bytes, String>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        GroupEncoder(Arc::new(encode), None)
    }

    /// This encoder, writing the messages of history groups with
    /// `numbered(group, offset, message)`.
    #[must_use]
    pub fn with_offsets(
        mut self,
        numbered: impl Fn(&GroupName, u64, &[u8]) -> Result<Bytes, String> + Send + Sync + 'static,
    ) -> Self {
        self.1 = Some(Arc::new(numbered));
        self
    }

    /// The packet for `message` numbered `offset` in the history of `group`, or why
    /// there is none.
    pub fn encode_at(
        &self,
        group: &GroupName,
        offset: u64,
        message: &[u8],
    ) -> Result<Bytes, String> {
        match &self.1 {
            Some(numbered) => numbered(group, offset, message),
            None => self.encode(group, message),
        }
    }

    /// The packets of `messages`, numbered from `first` on in the history of `group`:
    /// how both a live run and a recovery's replay are written.
    pub(crate) fn encode_numbered<'a>(
        &'a self,
        group: &'a GroupName,
        first: u64,
        messages: &'a [Bytes],
    ) -> impl Iterator<Item = Result<Bytes, String>> + 'a {
        (first..)
            .zip(messages)
            .map(move |(offset, message)| self.encode_at(group, offset, message))
    }

    /// The encoder of a protocol that takes no group messages: every message is a send
    /// failure for its members.
    pub(crate) fn unsupported(protocol: &'static str) -> Self {
        GroupEncoder::new(move |_, _| Err(format!("{protocol} has no group encoding")))
    }

    /// The packet for `message` published to `group` by no user, or why there is none.
    pub fn encode(&self, group: &GroupName, message: &[u8]) -> Result<Bytes, String> {
        (self.0)(group, message, None)
    }

    /// The packet for `message` published to `group` by `publisher`, or why there is
    /// none.
    pub fn encode_from(
        &self,
        group: &GroupName,
        message: &[u8],
        publisher: Option<&User>,
    ) -> Result<Bytes, String> {
        (self.0)(group, message, publisher)
    }
}

impl fmt::Debug for GroupEncoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GroupEncoder")
    }
}
