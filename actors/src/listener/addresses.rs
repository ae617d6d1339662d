//! Connections at once per peer address, counted over every listener of a switchboard
//! (Netty's `UniqueIpFilter`, which allows one, generalised to a limit).
//!
//! The accept loop takes an [`AddressPlace`] for each new connection; the connection
//! holds it for as long as its actor lives and gives it back when dropped, however it
//! ends (removed, stopped with its thread, or never started because its worker was
//! gone). A connection whose address has no place left is still accepted and answered,
//! but refused (see the listener). Only the accept path takes the lock, once per
//! connection; nothing per packet.
//!
//! An IPv4 peer reached through an IPv6 socket (`::ffff:a.b.c.d`) counts as the IPv4
//! address, so a dual-stack listener and an IPv4 one share its count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// How many connections each address has now, bounded by a limit.
#[derive(Debug)]
pub(crate) struct AddressCounts {
    /// Connections at once from one address.
    limit: usize,
    /// Addresses with at least one connection, and how many; an address whose last
    /// connection ends leaves the map, so it holds only addresses connected now.
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in its address's count; dropping it gives the place back.
#[derive(Debug)]
pub(crate) struct AddressPlace {
    /// The counts it was taken from.
    counts: Arc<AddressCounts>,
    /// The address it counts for (canonical: IPv4-mapped IPv6 as IPv4).
    address: IpAddr,
}

impl AddressCounts {
    /// Counts allowing `limit` connections at once per address.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(AddressCounts {
            limit,
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// A place for one more connection from `address`, or `None` when it already has
    /// `limit` connections.
    pub fn try_take(self: &Arc<Self>, address: IpAddr) -> Option<AddressPlace> {
        let address = address.to_canonical();
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(address).or_insert(0);
        if *count >= self.limit {
            if *count == 0 {
                // A limit of 0 admits nobody: leave no empty entry behind.
                counts.remove(&address);
            }
            return None;
        }
        *count += 1;
        Some(AddressPlace {
            counts: self.clone(),
            address,
        })
    }

    /// Connections from `address` now.
    #[cfg(test)]
    fn count(&self, address: IpAddr) -> usize {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.get(&address.to_canonical()).copied().unwrap_or(0)
    }

    /// Addresses with at least one connection now.
    #[cfg(test)]
    fn addresses(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn give_back(&self, address: IpAddr) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&address);
            }
        }
    }
}

impl Drop for AddressPlace {
    fn drop(&mut self) {
        self.counts.give_back(self.address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    #[test]
    fn each_address_gets_the_limit_and_a_place_given_back_is_free_again() {
        let counts = AddressCounts::new(2);
        let a1 = counts.try_take(v4(2)).expect("first from .2");
        let _a2 = counts.try_take(v4(2)).expect("second from .2");
        assert!(counts.try_take(v4(2)).is_none(), "third from .2");
        // Another address has its own count.
        let b1 = counts.try_take(v4(3)).expect("first from .3");
        assert_eq!((counts.count(v4(2)), counts.count(v4(3))), (2, 1));
        drop(a1);
        assert_eq!(counts.count(v4(2)), 1);
        assert!(
            counts.try_take(v4(2)).is_some(),
            "a freed place is taken again"
        );
        drop(b1);
        assert_eq!(counts.count(v4(3)), 0);
    }

    #[test]
    fn an_ipv4_mapped_peer_counts_as_its_ipv4_address() {
        let counts = AddressCounts::new(1);
        let _v4 = counts.try_take(v4(2)).unwrap();
        let mapped = IpAddr::V6(Ipv4Addr::new(127, 0, 0, 2).to_ipv6_mapped());
        assert!(counts.try_take(mapped).is_none());
        // A real IPv6 address is another address.
        assert!(counts.try_take(IpAddr::V6(Ipv6Addr::LOCALHOST)).is_some());
    }

    #[test]
    fn a_limit_of_zero_admits_nobody_and_keeps_nothing() {
        let counts = AddressCounts::new(0);
        assert!(counts.try_take(v4(2)).is_none());
        assert_eq!(counts.addresses(), 0);
    }

    proptest! {
        /// Over any sequence of connections opening and ending, from a few addresses:
        /// no address ever has more than the limit, each count equals its live
        /// places, a refusal happens only at the limit, and nothing is left once all
        /// are gone.
        #[test]
        fn counts_match_the_live_places(
            limit in 0usize..4,
            steps in proptest::collection::vec((any::<bool>(), 0u8..3, any::<prop::sample::Index>()), 0..200),
        ) {
            let counts = AddressCounts::new(limit);
            let mut live: Vec<(u8, AddressPlace)> = Vec::new();
            for (open, address, pick) in steps {
                if open || live.is_empty() {
                    let before = live.iter().filter(|(a, _)| *a == address).count();
                    match counts.try_take(v4(address)) {
                        Some(place) => {
                            prop_assert!(before < limit);
                            live.push((address, place));
                        }
                        None => prop_assert_eq!(before, limit),
                    }
                } else {
                    live.swap_remove(pick.index(live.len()));
                }
                for a in 0..3 {
                    let n = live.iter().filter(|(b, _)| *b == a).count();
                    prop_assert_eq!(counts.count(v4(a)), n);
                    prop_assert!(n <= limit);
                }
            }
            live.clear();
            prop_assert_eq!(counts.addresses(), 0);
        }
    }
}
