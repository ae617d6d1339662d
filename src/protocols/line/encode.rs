//! The lines the server builds besides echoes: a JSON answer, and a group message
//! (`MSG`).

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use switchboard::GroupName;

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
    numbered_line(group, None, message, max_line)
}

/// The `MSG <name> <offset> <text>` line of a history group's message (`MSG <name>
/// <text>` without an offset), or why it cannot be a line, as for [`message_line`].
pub fn numbered_line(
    group: &GroupName,
    offset: Option<u64>,
    message: &[u8],
    max_line: usize,
) -> Result<Bytes, String> {
    let text = std::str::from_utf8(message).map_err(|_| "message is not UTF-8".to_owned())?;
    if text.contains(['\n', '\r']) {
        return Err("message holds a line break".to_owned());
    }
    let offset = offset.map(|o| o.to_string());
    let numbered = offset.as_ref().map_or(0, |o| o.len() + 1);
    let len = "MSG ".len() + group.as_str().len() + 1 + numbered + text.len();
    if len > max_line {
        return Err(format!(
            "line of {len} bytes is longer than max_line {max_line}"
        ));
    }
    let mut line = BytesMut::with_capacity(len + 1);
    line.put_slice(b"MSG ");
    line.put_slice(group.as_str().as_bytes());
    line.put_u8(b' ');
    if let Some(offset) = offset {
        line.put_slice(offset.as_bytes());
        line.put_u8(b' ');
    }
    line.put_slice(text.as_bytes());
    line.put_u8(b'\n');
    Ok(line.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

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
