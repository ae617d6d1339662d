//! [`Pattern`]: a group pattern of the permissions, `chat.*`, `chat.>`, `user.{user}.>`.
//!
//! A pattern is a group name whose dot-separated tokens may be `*` (exactly one token) or,
//! as the last token, `>` (one or more tokens); `{user}` in a token stands for the name of
//! the user the pattern is checked for. [`Pattern::parse`] refuses anything else with a
//! reason, which is how a configuration file or a JWT with a malformed pattern is
//! refused; [`Pattern::matches`] is the one question the permissions ask.
//!
//! The matching below is the server's stand-in until the switchboard library's own
//! pattern type is available; the server then parses and matches with the library's
//! type behind this same interface, and the private `stand_in` module goes.

use std::fmt;

/// A group pattern, parsed and checked.
#[derive(Clone, PartialEq, Eq)]
pub struct Pattern {
    /// The pattern as written, for messages.
    text: String,
}

impl Pattern {
    /// Parses `text`, or says what is wrong with it.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        stand_in::check(text)?;
        Ok(Pattern {
            text: text.to_owned(),
        })
    }

    /// Whether the group called `group` matches the pattern for the user called `user`
    /// (whose name stands for `{user}`).
    pub fn matches(&self, group: &str, user: &str) -> bool {
        stand_in::matches(&self.text, group, user)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.text)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The stand-in for the library's pattern type: the syntax check and the matching.
mod stand_in {
    /// What `{user}` is written as in a pattern.
    const USER: &str = "{user}";

    /// Whether `c` may appear in a group name's token.
    fn name_char(c: char) -> bool {
        c.is_ascii_alphanumeric() || c == '_' || c == '-'
    }

    /// Checks the syntax of a pattern.
    pub(super) fn check(text: &str) -> Result<(), String> {
        if text.is_empty() {
            return Err("empty pattern".to_owned());
        }
        let tokens: Vec<&str> = text.split('.').collect();
        for (i, token) in tokens.iter().enumerate() {
            let last = i + 1 == tokens.len();
            match *token {
                "" => return Err(format!("{text:?} has an empty token")),
                "*" => {}
                ">" if last => {}
                ">" => return Err(format!("{text:?}: '>' must be the last token")),
                literal => {
                    let rest = literal.replace(USER, "");
                    if let Some(bad) = rest.chars().find(|c| !name_char(*c)) {
                        return Err(format!(
                            "{text:?}: {bad:?} is not allowed in a token (wildcards \
                             are whole tokens, '*' or a last '>')"
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether `group` matches `pattern` (checked) for `user`. Wildcards match
    /// non-empty tokens only; `{user}` is replaced inside one token, so a user name
    /// holding a dot or a wildcard can never widen what the pattern matches.
    pub(super) fn matches(pattern: &str, group: &str, user: &str) -> bool {
        let mut group = group.split('.');
        for token in pattern.split('.') {
            let Some(actual) = group.next() else {
                return false;
            };
            let matched = match token {
                ">" => return !actual.is_empty() && group.all(|t| !t.is_empty()),
                "*" => !actual.is_empty(),
                literal if literal.contains(USER) => literal.replace(USER, user) == actual,
                literal => literal == actual,
            };
            if !matched {
                return false;
            }
        }
        group.next().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, group: &str) -> bool {
        Pattern::parse(pattern).unwrap().matches(group, "alice")
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
    }

    #[test]
    fn literals_and_single_tokens() {
        assert!(matches("lobby", "lobby"));
        assert!(!matches("lobby", "lobby2"));
        assert!(!matches("lobby", "lobby.x"));
        assert!(matches("*", "lobby"));
        assert!(!matches("*", "a.b"));
        assert!(matches(">", "a.b.c"));
        assert!(matches("*.*", "a.b"));
        assert!(matches("a.*.c", "a.b.c"));
        assert!(!matches("a.*.c", "a.b.d"));
        assert!(matches("room-{user}", "room-alice"));
        assert!(!matches("room-{user}", "room-bob"));
    }

    #[test]
    fn wildcards_never_match_empty_tokens() {
        assert!(!matches("chat.*", "chat."));
        assert!(!matches("chat.>", "chat."));
        assert!(!matches("chat.>", "chat.a..b"));
        assert!(!matches("*", ""));
    }

    #[test]
    fn a_user_name_cannot_widen_a_pattern() {
        let own = Pattern::parse("user.{user}.>").unwrap();
        assert!(!own.matches("user.a.b.x", "a.b"));
        assert!(!own.matches("user.bob.x", "*"));
        assert!(!own.matches("user.bob.x", ">"));
    }

    #[test]
    fn malformed_patterns_say_why() {
        for bad in [
            "", ".", "a.", ".a", "a..b", "a.>.b", ">.a", "a*", "a.b*", "a>", "a b", "a/b", "{user",
            "{users}", "é",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad:?} accepted");
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
        ] {
            assert!(Pattern::parse(good).is_ok(), "{good:?} refused");
        }
        assert_eq!(
            Pattern::parse("a.>.b").unwrap_err(),
            "\"a.>.b\": '>' must be the last token"
        );
    }
}
