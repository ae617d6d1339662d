//! The name of a named group: a value, cheap to clone and compare.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

/// The name of a named group: cheap to clone (one shared allocation), compared by
/// content. Which names are acceptable is the application's rule, not the library's.
#[derive(Clone, Eq, PartialOrd, Ord)]
pub struct GroupName(Arc<str>);

impl PartialEq for GroupName {
    fn eq(&self, other: &Self) -> bool {
        // Clones of one name (a run of messages to one group) compare without reading it.
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl std::hash::Hash for GroupName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As the text hashes: a set of names is searched by text (`Borrow<str>`).
        self.as_str().hash(state);
    }
}

impl GroupName {
    /// The group called `name`.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        GroupName(name.into())
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for GroupName {
    fn from(name: &str) -> Self {
        GroupName::new(name)
    }
}

impl From<String> for GroupName {
    fn from(name: String) -> Self {
        GroupName::new(name)
    }
}

impl Borrow<str> for GroupName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for GroupName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_compare_and_hash_by_their_text() {
        let (a, b) = (
            GroupName::from("room"),
            GroupName::from(String::from("room")),
        );
        assert_eq!(a, b);
        assert_ne!(a, GroupName::from("other"));
        let set: HashSet<GroupName> = [a].into();
        assert!(set.contains("room"));
        assert!(set.contains(&b));
    }
}
