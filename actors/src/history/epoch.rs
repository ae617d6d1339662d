//! Epochs: the name of one incarnation of a group's history on this server.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The longest epoch, in bytes.
pub const MAX_EPOCH: usize = 64;

/// The name of one incarnation of a group's history on this server: 1 to 64 bytes of
/// `A-Z a-z 0-9 . _ -`. Offsets mean something only together with their epoch; a new
/// epoch starts whenever the server can no longer vouch for the old offsets (it
/// restarted, or a group without members had every message of its history expire).
/// Cheap to clone, compared by content.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Epoch(Arc<str>);

/// Text that is not an epoch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an epoch is 1 to 64 bytes of A-Z a-z 0-9 . _ -")]
pub struct EpochError;

impl Epoch {
    /// The epoch written as `text`, if it follows the rule.
    pub fn parse(text: &str) -> Result<Epoch, EpochError> {
        let allowed = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
        if (1..=MAX_EPOCH).contains(&text.len()) && text.bytes().all(|b| allowed(&b)) {
            return Ok(Epoch(text.into()));
        }
        Err(EpochError)
    }

    /// The epoch as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Epoch {
    type Err = EpochError;
    fn from_str(text: &str) -> Result<Epoch, EpochError> {
        Epoch::parse(text)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl serde::Serialize for Epoch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Where new epochs come from: a random name for this run of the process, then a
/// counter, so no two histories of one run share an epoch and a restarted server
/// names its histories differently from its previous run.
#[derive(Debug)]
pub(crate) struct Epochs {
    /// This run's random part.
    run: String,
    /// The next history's number.
    next: AtomicU64,
}

impl Epochs {
    /// A source of epochs for this run.
    pub fn new() -> Self {
        // fastrand's generator is seeded from the process's random hasher keys; the
        // clock is mixed in so that two runs in one instant still differ.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let run = fastrand::u64(..) ^ nanos.rotate_left(17);
        Epochs {
            run: format!("{run:016x}"),
            next: AtomicU64::new(1),
        }
    }

    /// A new epoch, never handed out before by this source.
    pub fn next(&self) -> Epoch {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        // 16 + 1 + at most 20 bytes: always within the rule.
        Epoch(format!("{}-{n}", self.run).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_follow_the_rule_and_never_repeat() {
        let a = Epochs::new();
        let b = Epochs::new();
        let (a1, a2, b1) = (a.next(), a.next(), b.next());
        assert_ne!(a1, a2);
        assert_ne!(a1, b1, "another run names its histories differently");
        for epoch in [&a1, &a2, &b1] {
            assert_eq!(Epoch::parse(epoch.as_str()).as_ref(), Ok(epoch));
        }
    }

    #[test]
    fn only_the_allowed_text_is_an_epoch() {
        for good in ["a", "A-Z.a_z-09", &"e".repeat(64)] {
            assert_eq!(Epoch::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "a b", "x/y", "caf\u{e9}", &"e".repeat(65), "1\n"] {
            assert_eq!(Epoch::parse(bad), Err(EpochError), "{bad:?}");
        }
    }
}
