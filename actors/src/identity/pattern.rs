//! Group-name patterns with NATS semantics, compiled once.
//!
//! A pattern is dot-separated tokens. `*` stands for exactly one token, a last `>` for one
//! or more, and `{user}` inside a token for the name of the user it is checked for:
//! `chat.*` matches `chat.eu` but not `chat` nor `chat.eu.paris`; `chat.>` matches both
//! of the latter; `user.{user}.>` lets each user into groups under its own name. A user
//! name is substituted as a whole token's worth of text, never as a wildcard: a name
//! holding a dot, `*` or `>` matches only itself, and a pattern with `{user}` matches
//! nothing where no user is known. A group name with an empty token (`a..b`, `.a`, `a.`)
//! matches no pattern.

use std::fmt;
use std::str::FromStr;

/// What `{user}` stands for in a pattern.
const USER: &str = "{user}";

/// A compiled group-name pattern.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    /// The text it was parsed from.
    text: Box<str>,
    /// Its tokens, in order.
    tokens: Box<[Token]>,
}

/// One token of a pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Token {
    /// Exactly this token.
    Literal(Box<str>),
    /// This token with every `{user}` replaced by the user's name: the parts around
    /// the placeholders, in order (one more than the placeholders).
    Templated(Box<[Box<str>]>),
    /// `*`: any one token.
    One,
    /// `>`, last: one or more tokens.
    Rest,
}

/// Why a text is not a pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// The pattern is empty, or one of its tokens is (two dots in a row, a dot at
    /// either end).
    #[error("empty token in pattern {0:?}")]
    EmptyToken(String),
    /// `*` or `>` is part of a longer token.
    #[error("wildcard inside a token in pattern {0:?}: `*` and `>` stand alone")]
    PartialWildcard(String),
    /// `>` is not the last token.
    #[error("`>` before the last token in pattern {0:?}")]
    RestNotLast(String),
    /// A brace that is not part of `{user}`.
    #[error("stray brace in pattern {0:?}: the only placeholder is {{user}}")]
    StrayBrace(String),
}

impl Pattern {
    /// Compiles `text`.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let parts: Vec<&str> = text.split('.').collect();
        let last = parts.len() - 1;
        let tokens = parts
            .iter()
            .enumerate()
            .map(|(i, &part)| {
                let error = || text.to_owned();
                match part {
                    "" => Err(PatternError::EmptyToken(error())),
                    "*" => Ok(Token::One),
                    ">" if i == last => Ok(Token::Rest),
                    ">" => Err(PatternError::RestNotLast(error())),
                    _ if part.contains(['*', '>']) => Err(PatternError::PartialWildcard(error())),
                    _ if part.replace(USER, "").contains(['{', '}']) => {
                        Err(PatternError::StrayBrace(error()))
                    }
                    _ if part.contains(USER) => {
                        Ok(Token::Templated(part.split(USER).map(Box::from).collect()))
                    }
                    _ => Ok(Token::Literal(part.into())),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Pattern {
            text: text.into(),
            tokens,
        })
    }

    /// The text it was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether it matches `group`, with `{user}` standing for `user`.
    pub fn matches(&self, group: &str, user: Option<&str>) -> bool {
        Tokens::split(group, |names| self.matches_tokens(names, user))
    }

    /// Whether it matches the group whose tokens are `names`.
    pub(crate) fn matches_tokens(&self, names: &[&str], user: Option<&str>) -> bool {
        let mut names = names.iter().copied();
        for token in &self.tokens {
            match token {
                // One or more tokens, none of them empty.
                Token::Rest => {
                    let mut rest = names.peekable();
                    return rest.peek().is_some() && rest.all(|name| !name.is_empty());
                }
                Token::One => match names.next() {
                    Some(name) if !name.is_empty() => {}
                    _ => return false,
                },
                Token::Literal(literal) => {
                    if names.next() != Some(literal) {
                        return false;
                    }
                }
                Token::Templated(parts) => {
                    let (Some(name), Some(user)) = (names.next(), user) else {
                        return false;
                    };
                    if !templated(parts, user, name) {
                        return false;
                    }
                }
            }
        }
        names.next().is_none()
    }

    /// Whether it has no wildcard and no placeholder: it matches its own text only.
    pub fn is_literal(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Token::Literal(_)))
    }
}

/// A group name cut into its tokens once, for every pattern it is checked against.
pub(crate) struct Tokens;

impl Tokens {
    /// Tokens kept on the stack; a name with more is cut into a vector.
    const ON_STACK: usize = 16;

    /// Runs `check` on the tokens of `group`, without allocating for a name of at most
    /// 16 tokens.
    pub fn split<T>(group: &str, check: impl FnOnce(&[&str]) -> T) -> T {
        let mut stack = [""; Self::ON_STACK];
        let mut count = 0;
        for name in group.split('.') {
            if count == Self::ON_STACK {
                let names: Vec<&str> = group.split('.').collect();
                return check(&names);
            }
            stack[count] = name;
            count += 1;
        }
        check(&stack[..count])
    }
}

/// Whether `name` is `parts` joined by `user`, compared in place.
fn templated(parts: &[Box<str>], user: &str, name: &str) -> bool {
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        let Some(after) = rest.strip_prefix(&**part) else {
            return false;
        };
        rest = after;
        if i + 1 < parts.len() {
            let Some(after) = rest.strip_prefix(user) else {
                return false;
            };
            rest = after;
        }
    }
    rest.is_empty()
}

impl FromStr for Pattern {
    type Err = PatternError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Pattern::parse(text)
    }
}

impl TryFrom<&str> for Pattern {
    type Error = PatternError;
    fn try_from(text: &str) -> Result<Self, Self::Error> {
        Pattern::parse(text)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pattern").field(&&*self.text).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(text: &str) -> Pattern {
        Pattern::parse(text).unwrap()
    }

    #[test]
    fn the_wildcards_of_nats() {
        assert!(p("chat.*").matches("chat.eu", None));
        assert!(!p("chat.*").matches("chat", None));
        assert!(!p("chat.*").matches("chat.eu.paris", None));
        assert!(p("chat.>").matches("chat.eu", None));
        assert!(p("chat.>").matches("chat.eu.paris", None));
        assert!(!p("chat.>").matches("chat", None));
        assert!(!p("chat.>").matches("chatter.eu", None));
        assert!(p("*.eu").matches("chat.eu", None));
        assert!(p(">").matches("anything.at.all", None));
        assert!(p("*").matches("lobby", None));
        assert!(!p("*").matches("a.b", None));
        assert!(p("lobby").matches("lobby", None));
        assert!(!p("lobby").matches("lobby2", None));
    }

    #[test]
    fn user_stands_for_the_users_name_and_never_for_a_wildcard() {
        let own = p("user.{user}.>");
        assert!(own.matches("user.alice.inbox", Some("alice")));
        assert!(!own.matches("user.bob.inbox", Some("alice")));
        assert!(!own.matches("user.alice.inbox", None), "no user, no match");
        assert!(
            !own.matches("user.a.b.inbox", Some("a.b")),
            "a name is one token"
        );
        assert!(
            !own.matches("user.x.inbox", Some("*")),
            "a name is no wildcard"
        );
        assert!(p("user.{user}").matches("user.*", Some("*")), "only itself");
        let inside = p("inbox-{user}-{user}");
        assert!(inside.matches("inbox-al-al", Some("al")));
        assert!(!inside.matches("inbox-al-bo", Some("al")));
        assert!(!inside.matches("inbox-al-al-", Some("al")));
    }

    #[test]
    fn empty_tokens_in_a_group_match_nothing() {
        for group in ["a..b", ".a", "a.", ""] {
            for pattern in [">", "*", "a.>", "*.b", "a.*"] {
                assert!(!p(pattern).matches(group, None), "{pattern} ~ {group:?}");
            }
        }
    }

    #[test]
    fn malformed_patterns_are_refused_with_a_reason() {
        let err = |text: &str| Pattern::parse(text).unwrap_err();
        assert_eq!(err(""), PatternError::EmptyToken("".into()));
        assert_eq!(err("a..b"), PatternError::EmptyToken("a..b".into()));
        assert_eq!(err("a."), PatternError::EmptyToken("a.".into()));
        assert_eq!(err("a.>.b"), PatternError::RestNotLast("a.>.b".into()));
        assert_eq!(err("a*"), PatternError::PartialWildcard("a*".into()));
        assert_eq!(err("a.b>"), PatternError::PartialWildcard("a.b>".into()));
        assert_eq!(err("{name}"), PatternError::StrayBrace("{name}".into()));
        assert_eq!(err("a.{user"), PatternError::StrayBrace("a.{user".into()));
        assert_eq!(p("a.{user}").to_string(), "a.{user}");
        assert!(err("a..b").to_string().contains("a..b"));
    }

    /// A token of a group name: no dots, no wildcards.
    fn token() -> impl Strategy<Value = String> {
        "[a-z0-9_-]{1,6}"
    }

    /// A group name of one to five tokens.
    fn group() -> impl Strategy<Value = String> {
        prop::collection::vec(token(), 1..5).prop_map(|t| t.join("."))
    }

    proptest! {
        #[test]
        fn a_pattern_without_wildcards_matches_only_itself(
            literal in group(),
            other in group(),
            user in prop::option::of(token()),
        ) {
            let pattern = p(&literal);
            prop_assert!(pattern.is_literal());
            prop_assert!(pattern.matches(&literal, user.as_deref()));
            prop_assert_eq!(pattern.matches(&other, user.as_deref()), other == literal);
        }

        #[test]
        fn a_star_matches_exactly_one_token(
            prefix in group(),
            tokens in prop::collection::vec(token(), 0..4),
        ) {
            let pattern = p(&format!("{prefix}.*"));
            let group = std::iter::once(prefix.clone()).chain(tokens.iter().cloned()).collect::<Vec<_>>().join(".");
            prop_assert_eq!(pattern.matches(&group, None), tokens.len() == 1);
        }

        #[test]
        fn rest_matches_one_or_more_tokens_never_the_empty_tail(
            prefix in group(),
            tokens in prop::collection::vec(token(), 0..4),
        ) {
            let pattern = p(&format!("{prefix}.>"));
            let group = std::iter::once(prefix.clone()).chain(tokens.iter().cloned()).collect::<Vec<_>>().join(".");
            prop_assert_eq!(pattern.matches(&group, None), !tokens.is_empty());
            prop_assert!(!pattern.matches(&prefix, None));
            let trailing = format!("{prefix}.");
            prop_assert!(!pattern.matches(&trailing, None));
        }

        #[test]
        fn user_matches_exactly_the_users_own_name(
            prefix in group(),
            user in token(),
            name in token(),
        ) {
            let pattern = p(&format!("{prefix}.{{user}}"));
            let group = format!("{prefix}.{name}");
            prop_assert_eq!(pattern.matches(&group, Some(&user)), name == user);
        }
    }
}
