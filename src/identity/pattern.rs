//! [`parse_pattern`]: a group pattern of the permissions (`chat.*`, `chat.>`,
//! `user.{user}.>`) as the server accepts it from its configuration or a JWT.
//!
//! Patterns are the switchboard's ([`Pattern`]: NATS semantics, compiled once, matched
//! by the switchboard on every join and publish). The server is stricter about what it
//! accepts: outside `*`, `>` and `{user}`, a pattern holds only the characters of a
//! group name (`A-Z a-z 0-9 _ -` between the dots), so that a pattern that could never
//! match a group (`chat.é`, `room/1`) is refused at start, naming the key, instead of
//! silently allowing nothing.

use switchboard::identity::Pattern;

/// What `{user}` is written as in a pattern.
const USER: &str = "{user}";

/// Whether `c` may appear in a group name's token.
fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Parses `text` as a pattern, or says what is wrong with it.
pub fn parse_pattern(text: &str) -> Result<Pattern, String> {
    let pattern = Pattern::parse(text).map_err(|e| e.to_string())?;
    let literal = text.split('.').filter(|token| !matches!(*token, "*" | ">"));
    for token in literal {
        if let Some(bad) = token.replace(USER, "").chars().find(|c| !name_char(*c)) {
            return Err(format!(
                "{bad:?} cannot be part of a group name, in pattern {text:?}"
            ));
        }
    }
    Ok(pattern)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, group: &str) -> bool {
        parse_pattern(pattern)
            .unwrap()
            .matches(group, Some("alice"))
    }

    #[test]
    fn the_examples_of_the_protocol() {
        assert!(matches("chat.*", "chat.eu"));
        assert!(!matches("chat.*", "chat"));
        assert!(!matches("chat.*", "chat.eu.paris"));
        assert!(matches("chat.>", "chat.eu"));
        assert!(matches("chat.>", "chat.eu.paris"));
        assert!(!matches("chat.>", "chat"));
        assert!(matches("user.{user}.>", "user.alice.inbox"));
        assert!(!matches("user.{user}.>", "user.bob.inbox"));
        assert!(!matches("user.{user}.>", "user.alice"));
        assert!(matches("room-{user}", "room-alice"));
    }

    #[test]
    fn malformed_patterns_say_why() {
        for bad in [
            "",
            ".",
            "a.",
            ".a",
            "a..b",
            "a.>.b",
            ">.a",
            "a*",
            "a.b*",
            "a>",
            "a b",
            "a/b",
            "{user",
            "{users}",
            "é",
            "chat.{user}!",
        ] {
            assert!(parse_pattern(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "a",
            "a.b",
            "*",
            ">",
            "a.*",
            "a.>",
            "*.>",
            "{user}",
            "x.{user}-{user}.>",
            "A-Z_09",
        ] {
            assert!(parse_pattern(good).is_ok(), "{good:?} refused");
        }
        assert_eq!(
            parse_pattern("a/b").unwrap_err(),
            "'/' cannot be part of a group name, in pattern \"a/b\""
        );
        assert_eq!(
            parse_pattern("a.>.b").unwrap_err(),
            "`>` before the last token in pattern \"a.>.b\""
        );
    }
}
