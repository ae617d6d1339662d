//! Named groups as both protocols see them: the name rule, and the JOIN limit.

use switchboard::history::{Joined, Position};
use switchboard::{GroupName, Outbox};

/// The longest group name, in bytes.
pub const MAX_GROUP_NAME: usize = 64;

/// The named groups one connection may be in unless configured otherwise.
pub const DEFAULT_MAX_GROUPS: usize = 64;

/// A group name as PROTOCOL.md allows it (1 to 64 bytes of `A-Z a-z 0-9 . _ -`), or the
/// error reason, quoting at most 64 bytes of what the client sent.
pub fn group_name(name: &[u8]) -> Result<GroupName, String> {
    let allowed = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
    if (1..=MAX_GROUP_NAME).contains(&name.len()) && name.iter().all(allowed) {
        // All ASCII, so this never replaces anything.
        return Ok(GroupName::new(String::from_utf8_lossy(name)));
    }
    if name.is_empty() {
        return Err("bad group name (empty)".to_owned());
    }
    let quoted = &name[..name.len().min(MAX_GROUP_NAME)];
    let ellipsis = if quoted.len() < name.len() { "..." } else { "" };
    Err(format!(
        "bad group name \"{}\"{ellipsis}",
        quoted.escape_ascii()
    ))
}

/// JOIN for both protocols: joins `group` unless the connection is a member already
/// (then nothing changes); refuses with `too many groups` when it is in `max_groups`.
pub fn join_group<R>(
    out: &mut Outbox<R>,
    group: GroupName,
    max_groups: usize,
) -> Result<(), &'static str> {
    if out.is_member(group.as_str()) {
        return Ok(());
    }
    if out.group_count() >= max_groups {
        return Err("too many groups");
    }
    out.join(group);
    Ok(())
}

/// JOIN of a history group for both protocols, from `from` for a recovery JOIN: the
/// reply (`reply`) waits until the group's history said where it stands; refused with
/// `too many groups` like any JOIN.
pub fn join_history<R>(
    out: &mut Outbox<R>,
    group: GroupName,
    from: Option<Position>,
    max_groups: usize,
    reply: impl FnOnce(&Joined) -> R + 'static,
) -> Result<(), &'static str> {
    if !out.is_member(group.as_str()) && out.group_count() >= max_groups {
        return Err("too many groups");
    }
    out.join_from(group, from, reply);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::testing::outbox;

    #[test]
    fn a_name_is_1_to_64_bytes_of_the_allowed_characters() {
        for name in ["a", "lobby", "A-Z.a_z-09", &"Z".repeat(64)] {
            assert_eq!(group_name(name.as_bytes()).unwrap().as_str(), name);
        }
        let cases: [(&[u8], &str); 5] = [
            (b"", "bad group name (empty)"),
            (b"a b", "bad group name \"a b\""),
            (b"x/y", "bad group name \"x/y\""),
            (b"caf\xc3\xa9", "bad group name \"caf\\xc3\\xa9\""),
            (b"\n", "bad group name \"\\n\""),
        ];
        for (name, reason) in cases {
            assert_eq!(group_name(name), Err(reason.to_owned()), "{name:?}");
        }
    }

    #[test]
    fn a_quoted_name_is_bounded() {
        let reason = group_name(&[b'a'; 65]).unwrap_err();
        assert_eq!(reason, format!("bad group name \"{}\"...", "a".repeat(64)));
        let reason = group_name(&[b'/'; 200]).unwrap_err();
        assert!(
            reason.len() < 64 + 32 && reason.ends_with("..."),
            "{reason}"
        );
    }

    #[test]
    fn a_join_beyond_max_groups_is_refused_and_a_rejoin_is_not() {
        let mut out = outbox::<()>();
        assert_eq!(join_group(&mut out, GroupName::from("a"), 1), Ok(()));
        assert_eq!(join_group(&mut out, GroupName::from("a"), 1), Ok(()));
        assert_eq!(
            join_group(&mut out, GroupName::from("b"), 1),
            Err("too many groups")
        );
        assert_eq!(out.take().len(), 1, "one join");
        assert_eq!(
            join_group(&mut out, GroupName::from("b"), 0),
            Err("too many groups")
        );
    }
}
