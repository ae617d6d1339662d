//! What the demo expects to happen, and whether it did (the misbehaving cast, the room
//! scene): plain data and pure functions.

use super::room;
use switchboard::RemovalReason;

/// A scripted misbehaviour and the removal reasons that count as handling it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// The cast member's name.
    pub who: &'static str,
    /// Any of these removal reasons satisfies the expectation.
    pub reasons: &'static [RemovalReason],
}

/// How one expectation turned out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The cast member's name.
    pub who: &'static str,
    /// What was expected, for the summary.
    pub expected: String,
    /// The reason it was actually removed with, if it was.
    pub removed_with: Option<RemovalReason>,
    /// Whether the expectation was met.
    pub met: bool,
}

/// Judges each expectation against the removals seen (cast member, reason).
pub fn judge(
    expectations: &[Expectation],
    removals: &[(&'static str, RemovalReason)],
) -> Vec<Outcome> {
    expectations
        .iter()
        .map(|e| {
            let removed_with = removals
                .iter()
                .find(|(who, _)| *who == e.who)
                .map(|(_, r)| *r);
            let expected = e
                .reasons
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(" or ");
            Outcome {
                who: e.who,
                expected,
                removed_with,
                met: removed_with.is_some_and(|r| e.reasons.contains(&r)),
            }
        })
        .collect()
}

/// A check that is not a removal (the backend outage), with its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub what: String,
    /// Whether it held.
    pub met: bool,
}

/// The room scene's checks: every member got every message published to the lobby, in
/// order; the member that only listens answered heartbeats and was never removed.
pub fn room_checks(
    seen: &std::collections::HashMap<&'static str, room::Seen>,
    removals: &[(&'static str, RemovalReason)],
) -> Vec<Check> {
    let published: usize = seen.values().map(|s| s.published.len()).sum();
    let mut checks: Vec<Check> = room::MEMBERS
        .iter()
        .map(|m| {
            let got = room::got_everything(seen, m.name);
            let received = seen.get(m.name).map_or(0, |s| s.received.len());
            let problem = seen
                .get(m.name)
                .and_then(|s| s.problems.first())
                .map_or(String::new(), |p| format!("; {p}"));
            Check {
                what: format!(
                    "{} got every message published to {} in order ({received} of {published}{problem})",
                    m.name,
                    room::LOBBY
                ),
                met: got.is_some(),
            }
        })
        .collect();
    for m in room::MEMBERS.iter().filter(|m| m.returns) {
        let recovered = seen.get(m.name).and_then(|s| s.recovered);
        checks.push(Check {
            what: match recovered {
                Some((left, last, n)) => format!(
                    "{} dropped its connection at offset {left}, came back and recovered the {n} messages it missed (through {last})",
                    m.name
                ),
                None => format!("{} dropped its connection and did not recover", m.name),
            },
            met: recovered.is_some_and(|(left, last, n)| n > 0 && n == last - left)
                && room::got_everything(seen, m.name).is_some(),
        });
    }
    let listener = room::MEMBERS.iter().find(|m| !m.publishes && !m.returns);
    if let Some(listener) = listener {
        let pings = seen.get(listener.name).map_or(0, |s| s.pings);
        // Its own hang-up at the end is `peer_closed`; any other reason is the server's.
        let removed = removals
            .iter()
            .find(|(who, r)| *who == listener.name && *r != RemovalReason::PeerClosed);
        checks.push(Check {
            what: format!(
                "{} only listened, answered {pings} heartbeat PINGs, {}",
                listener.name,
                removed.map_or("and was never removed".to_owned(), |(_, r)| format!(
                    "yet was removed: {r}"
                ))
            ),
            met: pings > 0 && removed.is_none(),
        });
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOW: &[RemovalReason] = &[RemovalReason::WriteTimeout, RemovalReason::SlowConsumer];

    #[test]
    fn met_only_with_an_expected_reason() {
        let expectations = [
            Expectation {
                who: "slow",
                reasons: SLOW,
            },
            Expectation {
                who: "bad",
                reasons: &[RemovalReason::ErrorPackets],
            },
            Expectation {
                who: "quiet",
                reasons: &[RemovalReason::Idle],
            },
        ];
        let removals = [
            ("bad", RemovalReason::PeerClosed),
            ("slow", RemovalReason::SlowConsumer),
        ];
        let outcomes = judge(&expectations, &removals);
        assert!(outcomes[0].met);
        assert_eq!(outcomes[0].expected, "write_timeout or slow_consumer");
        assert!(!outcomes[1].met, "removed, but for the wrong reason");
        assert_eq!(outcomes[1].removed_with, Some(RemovalReason::PeerClosed));
        assert!(!outcomes[2].met, "never removed");
        assert_eq!(outcomes[2].removed_with, None);
    }

    #[test]
    fn a_members_first_removal_is_the_one_judged() {
        let expectations = [Expectation {
            who: "slow",
            reasons: SLOW,
        }];
        // Removed for the wrong reason first: a later right one does not make up for it.
        let wrong_first = [
            ("slow", RemovalReason::PeerClosed),
            ("slow", RemovalReason::WriteTimeout),
        ];
        let outcome = &judge(&expectations, &wrong_first)[0];
        assert!(!outcome.met);
        assert_eq!(outcome.removed_with, Some(RemovalReason::PeerClosed));
        // And the other way round: the first removal is the expected one.
        let right_first = [
            ("slow", RemovalReason::SlowConsumer),
            ("slow", RemovalReason::PeerClosed),
        ];
        let outcome = &judge(&expectations, &right_first)[0];
        assert!(outcome.met);
        assert_eq!(outcome.removed_with, Some(RemovalReason::SlowConsumer));
    }

    #[test]
    fn another_members_removal_does_not_count() {
        let expectations = [
            Expectation {
                who: "bad",
                reasons: &[RemovalReason::ErrorPackets],
            },
            Expectation {
                who: "quiet",
                reasons: &[RemovalReason::Idle],
            },
        ];
        // "?" is a removal the demo could not name: it satisfies nobody.
        let removals = [
            ("quiet", RemovalReason::ErrorPackets),
            ("?", RemovalReason::ErrorPackets),
            ("bad", RemovalReason::Idle),
        ];
        let outcomes = judge(&expectations, &removals);
        let summary: Vec<(&str, bool, Option<RemovalReason>)> = outcomes
            .iter()
            .map(|o| (o.who, o.met, o.removed_with))
            .collect();
        assert_eq!(
            summary,
            [
                ("bad", false, Some(RemovalReason::Idle)),
                ("quiet", false, Some(RemovalReason::ErrorPackets)),
            ]
        );
        assert_eq!(outcomes[0].expected, "error_packets");
    }

    #[test]
    fn every_expectation_met_in_the_order_given() {
        let expectations = [
            Expectation {
                who: "quiet",
                reasons: &[RemovalReason::Idle],
            },
            Expectation {
                who: "slow",
                reasons: SLOW,
            },
        ];
        let removals = [
            ("slow", RemovalReason::WriteTimeout),
            ("quiet", RemovalReason::Idle),
        ];
        let outcomes = judge(&expectations, &removals);
        let who: Vec<&str> = outcomes.iter().map(|o| o.who).collect();
        assert_eq!(who, ["quiet", "slow"]);
        assert!(outcomes.iter().all(|o| o.met), "{outcomes:?}");
        assert!(judge(&expectations, &[]).iter().all(|o| !o.met));
    }
}
