//! A connection's name across a cluster: the node it is registered on and its id there.
//!
//! Connection ids ([`ConnId`]) are handed out by each server on its own, so two nodes
//! may both have a connection 7. A [`GlobalId`] adds the node's name, which is unique in
//! a cluster, and so names one connection of the whole cluster. It is written `node/id`
//! (`chat-1/7`): the form to store, log or hand to another node, and parsed back with
//! [`str::parse`].

use crate::ConnId;
use serde::{Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::subjects::MAX_NODE_LEN;

/// One connection of a cluster: the node it is registered on and its id there.
/// Cheap to clone (the node name is shared). Written `node/id`; node names may contain
/// `/` themselves, the id being what follows the last one.
///
/// ```
/// use switchboard::cluster::GlobalId;
///
/// let id = GlobalId::new("chat-1", 7);
/// assert_eq!(id.to_string(), "chat-1/7");
/// assert_eq!("chat-1/7".parse::<GlobalId>(), Ok(id));
/// assert!("chat-1".parse::<GlobalId>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GlobalId {
    /// The name of the node the connection is registered on.
    pub node: Arc<str>,
    /// The connection's id on that node.
    pub id: ConnId,
}

impl GlobalId {
    /// Connection `id` of node `node`.
    pub fn new(node: impl Into<Arc<str>>, id: ConnId) -> Self {
        GlobalId {
            node: node.into(),
            id,
        }
    }
}

impl fmt::Display for GlobalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.node, self.id)
    }
}

/// Why a text is not a [`GlobalId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GlobalIdError {
    /// There is no `/` between a node name and an id.
    #[error("{0:?} is not node/id: no '/'")]
    NoSlash(String),
    /// The node name is empty or longer than a cluster allows (255 bytes).
    #[error("{0:?}: the node name must be 1 to 255 bytes")]
    Node(String),
    /// What follows the last `/` is not a decimal connection id.
    #[error("{0:?}: the id after the last '/' is not a number from 0 to 2^64-1")]
    Id(String),
}

impl FromStr for GlobalId {
    type Err = GlobalIdError;

    /// Parses `node/id`, the form [`Display`](fmt::Display) writes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (node, id) = s
            .rsplit_once('/')
            .ok_or_else(|| GlobalIdError::NoSlash(s.to_owned()))?;
        if node.is_empty() || node.len() > MAX_NODE_LEN {
            return Err(GlobalIdError::Node(s.to_owned()));
        }
        // `u64::from_str` takes a leading `+`; a written id never has one.
        if !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(GlobalIdError::Id(s.to_owned()));
        }
        let id = id.parse().map_err(|_| GlobalIdError::Id(s.to_owned()))?;
        Ok(GlobalId::new(node, id))
    }
}

impl Serialize for GlobalId {
    /// As its `node/id` text.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_it_writes_and_refuses_the_rest_by_name() {
        let cases: &[(&str, Result<GlobalId, GlobalIdError>)] = &[
            ("a/0", Ok(GlobalId::new("a", 0))),
            (
                "a/b/18446744073709551615",
                Ok(GlobalId::new("a/b", u64::MAX)),
            ),
            ("node-1/007", Ok(GlobalId::new("node-1", 7))),
            ("a", Err(GlobalIdError::NoSlash("a".into()))),
            ("/1", Err(GlobalIdError::Node("/1".into()))),
            ("a/", Err(GlobalIdError::Id("a/".into()))),
            ("a/+1", Err(GlobalIdError::Id("a/+1".into()))),
            ("a/-1", Err(GlobalIdError::Id("a/-1".into()))),
            ("a/1 ", Err(GlobalIdError::Id("a/1 ".into()))),
            (
                "a/18446744073709551616",
                Err(GlobalIdError::Id("a/18446744073709551616".into())),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(&text.parse::<GlobalId>(), expected, "{text}");
        }
        let long = format!("{}/1", "n".repeat(256));
        assert_eq!(
            long.parse::<GlobalId>(),
            Err(GlobalIdError::Node(long.clone()))
        );
        let longest = format!("{}/1", "n".repeat(255));
        assert!(longest.parse::<GlobalId>().is_ok());
    }

    #[test]
    fn serializes_as_its_text() {
        let json = serde_json::to_string(&GlobalId::new("a.b", 42)).unwrap();
        assert_eq!(json, "\"a.b/42\"");
    }

    proptest::proptest! {
        #[test]
        fn display_and_parse_round_trip(node in "\\PC{1,40}", id in proptest::num::u64::ANY) {
            let global = GlobalId::new(node.as_str(), id);
            let text = global.to_string();
            proptest::prop_assert_eq!(text.parse::<GlobalId>(), Ok(global));
        }
    }
}
