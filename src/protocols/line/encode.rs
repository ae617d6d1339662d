//! The lines the server builds: a JSON answer, a group message (`MSG`), and the bounded
//! quotes of client text in error reasons.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use switchboard::GroupName;

/// At most this many bytes of client text are quoted in an error reason.
pub const MAX_QUOTED: usize = 64;

/// `s` cut to at most `max` bytes, at a char boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The error reason for a line that is not a command, quoting a bounded prefix of it.
pub(super) fn unknown_command(line: &str) -> String {
    let word = line.split(' ').next().unwrap_or_default();
    if word.is_empty() {
        return "unknown command (empty)".to_owned();
    }
    let quoted = truncate(word, MAX_QUOTED);
    let ellipsis = if quoted.len() < word.len() { "..." } else { "" };
    format!("unknown command {quoted:?}{ellipsis}")
}

/// The STATS reply for the supervisor's answer: one line of JSON, or an `ERR` line.
pub fn stats_line<S: Serialize>(answer: Result<S, impl std::fmt::Display>) -> String {
    let json = answer
        .map_err(|e| e.to_string())
        .and_then(|snapshot| serde_json::to_string(&snapshot).map_err(|e| e.to_string()));
    json.unwrap_or_else(|e| {
        tracing::warn!("stats unavailable: {e}");
        "ERR stats unavailable".to_owned()
    })
}

/// The `MSG <name> <text>` line for `message` published to `group`, encoded, or why the
/// message cannot be a line: it is not UTF-8, holds a line break, or makes the line
/// longer than `max_line`.
pub fn message_line(group: &GroupName, message: &[u8], max_line: usize) -> Result<Bytes, String> {
    let text = std::str::from_utf8(message).map_err(|_| "message is not UTF-8".to_owned())?;
    if text.contains(['\n', '\r']) {
        return Err("message holds a line break".to_owned());
    }
    let len = "MSG ".len() + group.as_str().len() + 1 + text.len();
    if len > max_line {
        return Err(format!(
            "line of {len} bytes is longer than max_line {max_line}"
        ));
    }
    let mut line = BytesMut::with_capacity(len + 1);
    line.put_slice(b"MSG ");
    line.put_slice(group.as_str().as_bytes());
    line.put_u8(b' ');
    line.put_slice(text.as_bytes());
    line.put_u8(b'\n');
    Ok(line.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("abc", 64), "abc");
        assert_eq!(truncate("abcdef", 3), "abc");
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("ééé", 4), "éé");
    }

    #[test]
    fn unknown_command_reason_is_bounded() {
        assert_eq!(unknown_command("FOO bar"), "unknown command \"FOO\"");
        assert_eq!(unknown_command(""), "unknown command (empty)");
        let long = "Z".repeat(10_000);
        let reason = unknown_command(&long);
        assert!(reason.len() < MAX_QUOTED + 32, "{reason}");
        assert!(reason.ends_with("\"..."));
    }

    #[test]
    fn stats_line_is_json_or_err() {
        let ok = stats_line(Ok::<_, switchboard::Stopped>(
            serde_json::json!({"accepted_total": 1}),
        ));
        assert_eq!(ok, r#"{"accepted_total":1}"#);
        assert_eq!(
            stats_line::<u8>(Err(switchboard::Stopped)),
            "ERR stats unavailable"
        );
    }
}
