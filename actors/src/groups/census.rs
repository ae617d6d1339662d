//! How many named groups the switchboard has, and the cap on them: one count per group,
//! shared by every thread.
//!
//! A connection enters a group's count when its handler (or the application, on its
//! behalf) joins it, and leaves it when it leaves the group or is removed, all on its
//! own thread, under one lock held for a map lookup: the check against
//! `max_groups_total` and the entry are one step, so joins racing on many threads never
//! create one group past the cap, and the handler learns the answer at once. Joins and
//! leaves take the lock; nothing on the per-packet path does.

use super::GroupName;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// The named groups with at least one member, and how many members each has.
#[derive(Debug)]
pub(crate) struct Census {
    /// Groups there may be at once.
    limit: usize,
    /// Members of each group with at least one.
    members: Mutex<HashMap<GroupName, u32>>,
}

/// Joining would create one group more than the cap allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

impl Census {
    /// A census allowing `limit` groups at once.
    pub fn new(limit: usize) -> Self {
        Census {
            limit,
            members: Mutex::default(),
        }
    }

    /// Counts one more member of `group`, unless that would create a group past the cap.
    pub fn enter(&self, group: &GroupName) -> Result<(), Full> {
        let mut members = self.lock();
        if let Some(count) = members.get_mut(group) {
            *count += 1;
            return Ok(());
        }
        if members.len() >= self.limit {
            return Err(Full);
        }
        members.insert(group.clone(), 1);
        Ok(())
    }

    /// Counts one member less of each of `groups`: a group without members is gone.
    pub fn leave<'a>(&self, groups: impl IntoIterator<Item = &'a GroupName>) {
        let mut members = self.lock();
        for group in groups {
            if let Some(count) = members.get_mut(group) {
                *count -= 1;
                if *count == 0 {
                    members.remove(group);
                }
            }
        }
    }

    /// Named groups with at least one member.
    #[cfg(test)]
    pub fn groups(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<GroupName, u32>> {
        // The map is consistent after every statement: a panic elsewhere leaves it usable.
        self.members.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    #[test]
    fn a_new_group_past_the_cap_is_refused_and_a_known_one_always_taken() {
        let census = Census::new(2);
        let (a, b, c) = (
            GroupName::from("a"),
            GroupName::from("b"),
            GroupName::from("c"),
        );
        assert_eq!(census.enter(&a), Ok(()));
        assert_eq!(census.enter(&b), Ok(()));
        assert_eq!(census.enter(&c), Err(Full));
        assert_eq!(census.enter(&a), Ok(()), "a second member creates nothing");
        census.leave([&b]);
        assert_eq!(census.groups(), 1, "b lost its last member");
        assert_eq!(census.enter(&c), Ok(()));
        census.leave([&a]);
        assert_eq!(census.groups(), 2, "a keeps a member");
        census.leave([&a, &c]);
        assert_eq!(census.groups(), 0);
        census.leave([&a]);
        assert_eq!(census.groups(), 0, "leaving twice changes nothing");
    }

    #[test]
    fn a_cap_of_zero_allows_no_group() {
        assert_eq!(Census::new(0).enter(&"a".into()), Err(Full));
    }

    #[test]
    fn joins_racing_on_many_threads_never_create_a_group_past_the_cap() {
        for _ in 0..100 {
            let census = Arc::new(Census::new(3));
            let start = Arc::new(Barrier::new(8));
            let threads: Vec<_> = (0..8)
                .map(|i| {
                    let (census, start) = (census.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        census.enter(&GroupName::from(format!("g{i}"))).is_ok()
                    })
                })
                .collect();
            let passed = threads
                .into_iter()
                .map(|t| t.join().expect("no panic"))
                .filter(|&ok| ok)
                .count();
            assert_eq!(passed, 3);
            assert_eq!(census.groups(), 3);
        }
    }
}
