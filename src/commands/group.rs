//! Named groups as both protocols see them: the name rule, the JOIN limit, and the
//! PUBLISH payload of `frame`.

use bytes::Bytes;
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

/// Splits a PUBLISH payload into its group name and message (sharing the payload's
/// memory), or the error reason.
pub fn split_publish(payload: &Bytes) -> Result<(GroupName, Bytes), String> {
    let Some((&name_len, rest)) = payload.split_first() else {
        return Err("PUBLISH without name_len".to_owned());
    };
    let name_len = usize::from(name_len);
    if name_len == 0 || name_len > rest.len() {
        return Err(format!(
            "bad name_len {name_len} for {} bytes after it",
            rest.len()
        ));
    }
    let name = group_name(&rest[..name_len])?;
    Ok((name, payload.slice(1 + name_len..)))
}
