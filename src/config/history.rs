//! The history keys: `history_size`, `history_groups`, `history_ttl_ms`,
//! `history_max_bytes`, checked, and the library's [`HistoryConfig`] they make.

use super::{Config, ConfigError};
use std::time::Duration;
use switchboard::history::HistoryConfig;
use switchboard::identity::Pattern;

impl Config {
    /// The patterns of `history_groups`, or the error naming the key: a malformed
    /// pattern, or one with `{user}` (a history belongs to a group, not to a user).
    pub fn history_patterns(&self) -> Result<Vec<Pattern>, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            key: "history_groups",
            message,
        };
        self.history_groups
            .iter()
            .map(|text| {
                if text.contains("{user}") {
                    return Err(invalid(format!(
                        "\"{text}\": {{user}} has no meaning in history_groups"
                    )));
                }
                Pattern::parse(text).map_err(|e| invalid(e.to_string()))
            })
            .collect()
    }

    /// The library's history configuration, or `None` while `history_size` is 0.
    /// Validated patterns are assumed (see [`Config::validate`]).
    pub fn history(&self) -> Option<HistoryConfig> {
        if self.history_size == 0 {
            return None;
        }
        Some(
            HistoryConfig::default()
                .with_groups(self.history_patterns().unwrap_or_default())
                .with_size(self.history_size)
                .with_ttl(Duration::from_millis(self.history_ttl_ms))
                .with_max_bytes(self.history_max_bytes),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::parse;
    use switchboard::identity::Pattern;

    #[test]
    fn history_is_off_until_history_size_is_set() {
        assert!(parse("").unwrap().history().is_none());
        let config = parse(
            "history_size = 10\nhistory_groups = [\"chat.>\", \"news\"]\n\
             history_ttl_ms = 1000\nhistory_max_bytes = 4096\n",
        )
        .unwrap();
        let history = config.history().expect("on");
        assert_eq!(
            (history.size, history.ttl.as_millis(), history.max_bytes),
            (10, 1000, 4096)
        );
        let accepts =
            |groups: &[Pattern], group: &str| groups.iter().any(|p| p.matches(group, None));
        for (group, kept) in [
            ("chat.eu", true),
            ("news", true),
            ("chat", false),
            ("sport", false),
        ] {
            assert_eq!(accepts(&history.groups, group), kept, "{group}");
        }
        let every = parse("history_size = 1\n").unwrap().history().unwrap();
        assert!(accepts(&every.groups, "anything"), "\">\" by default");
    }

    #[test]
    fn a_malformed_pattern_or_user_is_refused_naming_the_key() {
        for groups in ["[\"a..b\"]", "[\"chat.>.x\"]", "[\"user.{user}\"]"] {
            let error = parse(&format!("history_size = 1\nhistory_groups = {groups}\n"))
                .unwrap()
                .validate()
                .unwrap_err()
                .to_string();
            assert!(error.contains("history_groups"), "{groups}: {error}");
        }
    }
}
