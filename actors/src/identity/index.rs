//! Which connections each user has: one index per switchboard, shared by every thread.
//!
//! A connection enters it when its handler authenticates it and leaves it when it is
//! removed. Both happen on the connection's own thread, under one lock held for a map
//! lookup: the check against the per-user limit and the entry are one step, so two
//! authentications of one user on two threads cannot both pass the limit, and the
//! handler learns the answer at once (no round trip to another actor). Nothing on the
//! per-packet path takes the lock.

use crate::identity::AuthError;
use crate::ConnId;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// The connections of each user.
#[derive(Debug, Default)]
pub(crate) struct Users {
    /// Connections a user may have at once; `None`: any number.
    limit: Option<usize>,
    /// The connections of each user with at least one.
    by_name: Mutex<HashMap<Box<str>, Vec<ConnId>>>,
}

impl Users {
    /// An index allowing each user `limit` connections at once (`None`: any number).
    pub fn new(limit: Option<usize>) -> Self {
        Users {
            limit,
            by_name: Mutex::default(),
        }
    }

    /// Enters connection `id` as one of `user`'s, unless the user has as many as the
    /// limit allows already.
    pub fn admit(&self, user: &str, id: ConnId) -> Result<(), AuthError> {
        let mut by_name = self.lock();
        let ids = by_name.get_mut(user);
        let count = ids.as_ref().map_or(0, |ids| ids.len());
        if self.limit.is_some_and(|limit| count >= limit) {
            return Err(AuthError::UserLimit);
        }
        match ids {
            Some(ids) => ids.push(id),
            None => {
                by_name.insert(user.into(), vec![id]);
            }
        }
        Ok(())
    }

    /// Takes connection `id` out of `user`'s (nothing if it is not in).
    pub fn release(&self, user: &str, id: ConnId) {
        let mut by_name = self.lock();
        if let Some(ids) = by_name.get_mut(user) {
            ids.retain(|&other| other != id);
            if ids.is_empty() {
                by_name.remove(user);
            }
        }
    }

    /// The connections of `user`, in the order they authenticated.
    pub fn connections(&self, user: &str) -> Vec<ConnId> {
        self.lock().get(user).cloned().unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Vec<ConnId>>> {
        // The map is consistent after every statement: a panic elsewhere leaves it usable.
        self.by_name.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    #[test]
    fn a_user_has_at_most_the_limit_and_a_release_frees_a_place() {
        let users = Users::new(Some(2));
        assert_eq!(users.admit("alice", 1), Ok(()));
        assert_eq!(users.admit("alice", 2), Ok(()));
        assert_eq!(users.admit("alice", 3), Err(AuthError::UserLimit));
        assert_eq!(users.admit("bob", 4), Ok(()), "per user");
        assert_eq!(users.connections("alice"), [1, 2]);
        users.release("alice", 1);
        users.release("alice", 1);
        assert_eq!(users.admit("alice", 3), Ok(()));
        assert_eq!(users.connections("alice"), [2, 3]);
        users.release("alice", 2);
        users.release("alice", 3);
        assert!(users.connections("alice").is_empty());
        assert!(
            !users.lock().contains_key("alice"),
            "an empty entry is dropped"
        );
    }

    #[test]
    fn without_a_limit_any_number_pass() {
        let users = Users::new(None);
        for id in 0..1000 {
            assert_eq!(users.admit("alice", id), Ok(()));
        }
        assert_eq!(users.connections("alice").len(), 1000);
    }

    #[test]
    fn authentications_racing_on_many_threads_never_pass_the_limit_together() {
        for _ in 0..200 {
            let users = Arc::new(Users::new(Some(1)));
            let start = Arc::new(Barrier::new(4));
            let threads: Vec<_> = (0..4)
                .map(|id| {
                    let (users, start) = (users.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        users.admit("alice", id).is_ok()
                    })
                })
                .collect();
            let passed = threads
                .into_iter()
                .map(|t| t.join().expect("no panic"))
                .filter(|&ok| ok)
                .count();
            assert_eq!(passed, 1);
            assert_eq!(users.connections("alice").len(), 1);
        }
    }
}
