//! The query and the ordering of `GET /connections`, as pure functions.
//!
//! Like NATS's `/connz`, the listing is read-only and paged: `sort` picks the figure
//! connections are ranked by (largest first), `offset` skips that many, `limit` bounds
//! the page (default [`DEFAULT_LIMIT`], never more than [`MAX_LIMIT`]), and `protocol`
//! narrows it to one group. Anything else in the query is refused with a message naming
//! the parameter, so a typo is not silently ignored.

use switchboard::MemberInfo;

/// Connections listed when the query names no `limit`.
pub const DEFAULT_LIMIT: usize = 20;

/// The most connections one answer lists, whatever `limit` asks: every answer stays
/// bounded in size and in the reports it waits for.
pub const MAX_LIMIT: usize = 1000;

/// The figure connections are ranked by; ties go to the lowest id, so pages are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Bytes waiting in the outbound queue (the default: slow consumers first).
    Queued,
    /// Time since the peer last sent anything.
    Idle,
    /// Error packets counted so far.
    Errors,
    /// Bytes the socket accepted since the connection opened.
    Sent,
}

impl SortKey {
    /// Every key, in the order the refusal message lists them.
    pub const ALL: [SortKey; 4] = [
        SortKey::Queued,
        SortKey::Idle,
        SortKey::Errors,
        SortKey::Sent,
    ];

    /// The key's name in the query and in the answer.
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Queued => "queued",
            SortKey::Idle => "idle",
            SortKey::Errors => "errors",
            SortKey::Sent => "sent",
        }
    }

    /// The key called `name`.
    pub fn parse(name: &str) -> Option<SortKey> {
        SortKey::ALL.into_iter().find(|key| key.as_str() == name)
    }

    /// The figure of `info` this key ranks by.
    pub fn figure(self, info: &MemberInfo) -> u64 {
        match self {
            SortKey::Queued => info.queued_bytes as u64,
            SortKey::Idle => info.idle_ms,
            SortKey::Errors => u64::from(info.error_packets),
            SortKey::Sent => info.sent_bytes,
        }
    }
}

/// Why a `/connections` query was refused; the message is the 400 answer's `error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A parameter the endpoint does not know.
    #[error("unknown parameter {0:?}: expected sort, limit, offset or protocol")]
    Unknown(String),
    /// A parameter given twice.
    #[error("parameter {0:?} is given more than once")]
    Repeated(String),
    /// A `sort` that names no key.
    #[error("sort must be one of queued, idle, errors, sent; got {0:?}")]
    BadSort(String),
    /// A `limit` or `offset` that is not a whole number.
    #[error("{name} must be a whole number of connections; got {value:?}")]
    BadNumber {
        /// `limit` or `offset`.
        name: &'static str,
        /// What the query said.
        value: String,
    },
    /// An empty `protocol`.
    #[error("protocol must name a protocol group; got an empty value")]
    EmptyProtocol,
}

/// A checked `/connections` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingQuery {
    /// What connections are ranked by.
    pub sort: SortKey,
    /// How many ranked connections to skip.
    pub offset: usize,
    /// How many to list, already capped at [`MAX_LIMIT`].
    pub limit: usize,
    /// Only this protocol group; every group when absent.
    pub protocol: Option<String>,
}

impl Default for ListingQuery {
    fn default() -> Self {
        ListingQuery {
            sort: SortKey::Queued,
            offset: 0,
            limit: DEFAULT_LIMIT,
            protocol: None,
        }
    }
}

/// `value` as a whole number, or the refusal naming `name`.
fn number(name: &'static str, value: &str) -> Result<usize, QueryError> {
    value.parse().map_err(|_| QueryError::BadNumber {
        name,
        value: value.to_owned(),
    })
}

impl ListingQuery {
    /// The query of the decoded `pairs` (name, value), or why it is refused.
    pub fn parse(pairs: &[(String, String)]) -> Result<ListingQuery, QueryError> {
        let mut query = ListingQuery::default();
        let mut seen: Vec<&str> = Vec::with_capacity(4);
        for (name, value) in pairs {
            if seen.contains(&name.as_str()) {
                return Err(QueryError::Repeated(name.clone()));
            }
            match name.as_str() {
                "sort" => {
                    query.sort =
                        SortKey::parse(value).ok_or_else(|| QueryError::BadSort(value.clone()))?
                }
                "limit" => query.limit = number("limit", value)?.min(MAX_LIMIT),
                "offset" => query.offset = number("offset", value)?,
                "protocol" if value.is_empty() => return Err(QueryError::EmptyProtocol),
                "protocol" => query.protocol = Some(value.clone()),
                _ => return Err(QueryError::Unknown(name.clone())),
            }
            seen.push(name);
        }
        Ok(query)
    }
}

/// Ranks `members` by `sort` (largest first, ties by lowest id) and keeps the page of
/// at most `limit` after `offset`; answers how many there were in all, and the page.
pub fn page(
    mut members: Vec<MemberInfo>,
    sort: SortKey,
    offset: usize,
    limit: usize,
) -> (usize, Vec<MemberInfo>) {
    let total = members.len();
    let rank = |m: &MemberInfo| (std::cmp::Reverse(sort.figure(m)), m.id);
    let end = offset.saturating_add(limit).min(total);
    if end == 0 {
        return (total, Vec::new());
    }
    // Only the first `end` need ordering: select them in linear time, then sort those.
    if end < total {
        members.select_nth_unstable_by_key(end - 1, rank);
        members.truncate(end);
    }
    members.sort_unstable_by_key(rank);
    let page = members.into_iter().skip(offset).collect();
    (total, page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &[(&str, &str)]) -> Vec<(String, String)> {
        query
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn member(id: u64, queued_bytes: usize, idle_ms: u64, errors: u32, sent: u64) -> MemberInfo {
        MemberInfo {
            id,
            protocol: "frame",
            peer: ([127, 0, 0, 1], 1000 + id as u16).into(),
            queued_bytes,
            error_packets: errors,
            idle_ms,
            sent_bytes: sent,
            user: None,
        }
    }

    #[test]
    fn defaults_and_every_parameter() {
        assert_eq!(ListingQuery::parse(&[]).unwrap(), ListingQuery::default());
        let query = ListingQuery::parse(&pairs(&[
            ("sort", "sent"),
            ("limit", "5"),
            ("offset", "10"),
            ("protocol", "line"),
        ]))
        .unwrap();
        assert_eq!(query.sort, SortKey::Sent);
        assert_eq!((query.limit, query.offset), (5, 10));
        assert_eq!(query.protocol.as_deref(), Some("line"));
    }

    #[test]
    fn limit_is_capped() {
        let query = ListingQuery::parse(&pairs(&[("limit", "1000000")])).unwrap();
        assert_eq!(query.limit, MAX_LIMIT);
    }

    #[test]
    fn refusals_name_the_parameter() {
        let refused = |q: &[(&str, &str)]| ListingQuery::parse(&pairs(q)).unwrap_err();
        assert_eq!(
            refused(&[("sort", "name")]),
            QueryError::BadSort("name".into())
        );
        assert!(matches!(
            refused(&[("limit", "-1")]),
            QueryError::BadNumber { name: "limit", .. }
        ));
        assert!(matches!(
            refused(&[("offset", "99999999999999999999999")]),
            QueryError::BadNumber { name: "offset", .. }
        ));
        assert_eq!(
            refused(&[("limt", "3")]),
            QueryError::Unknown("limt".into())
        );
        assert_eq!(
            refused(&[("limit", "3"), ("limit", "4")]),
            QueryError::Repeated("limit".into())
        );
        assert_eq!(refused(&[("protocol", "")]), QueryError::EmptyProtocol);
        assert!(refused(&[("sort", "x")]).to_string().contains("queued"));
    }

    #[test]
    fn pages_rank_largest_first_with_ties_by_id() {
        let members = vec![
            member(1, 10, 500, 0, 7),
            member(2, 30, 100, 2, 7),
            member(3, 20, 900, 1, 9),
            member(4, 30, 0, 0, 1),
        ];
        let ids = |sort, offset, limit| -> Vec<u64> {
            let (total, page) = page(members.clone(), sort, offset, limit);
            assert_eq!(total, 4);
            page.iter().map(|m| m.id).collect()
        };
        assert_eq!(ids(SortKey::Queued, 0, 10), vec![2, 4, 3, 1]);
        assert_eq!(ids(SortKey::Idle, 0, 10), vec![3, 1, 2, 4]);
        assert_eq!(ids(SortKey::Errors, 0, 10), vec![2, 3, 1, 4]);
        assert_eq!(ids(SortKey::Sent, 0, 10), vec![3, 1, 2, 4]);
        assert_eq!(ids(SortKey::Queued, 1, 2), vec![4, 3]);
        assert_eq!(ids(SortKey::Queued, 4, 2), Vec::<u64>::new());
        assert_eq!(ids(SortKey::Queued, usize::MAX, 2), Vec::<u64>::new());
        assert_eq!(ids(SortKey::Queued, 0, 0), Vec::<u64>::new());
        assert_eq!(ids(SortKey::Idle, 2, 5), vec![2, 4]);
        assert_eq!(ids(SortKey::Sent, 0, 1), vec![3]);
        assert_eq!(ids(SortKey::Errors, 1, usize::MAX), vec![3, 1, 4]);
    }
}
