//! The identity keys: `[[users]]` entries and `jwt_secret`, checked and turned into the
//! server's [`Authenticator`].
//!
//! A user's `token` is a [`Secret`] from the moment it is read: no message below quotes
//! one, and two users are said to share a token without saying which it is.

use super::{Config, ConfigError};
use crate::identity::{
    check_user_name, jwt, Account, Authenticator, JwtVerifier, PatternLists, StaticUsers,
};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// One `[[users]]` table of the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// The user's name: answered in AUTHED, named by KICK, matched against a client
    /// certificate's common name, and what `{user}` stands for in its patterns.
    pub name: String,
    /// The static token that authenticates as this user.
    pub token: Secret,
    /// Patterns of the groups the user may JOIN.
    #[serde(default)]
    pub join: Vec<String>,
    /// Patterns of the groups the user may PUBLISH to.
    #[serde(default)]
    pub publish: Vec<String>,
    /// Patterns of the groups the user may not JOIN, whatever `join` allows.
    #[serde(default)]
    pub join_deny: Vec<String>,
    /// Patterns of the groups the user may not PUBLISH to, whatever `publish` allows.
    #[serde(default)]
    pub publish_deny: Vec<String>,
    /// May BROADCAST, REPLICATE, STATS, CLUSTER_STATS, KICK, and join and publish
    /// anywhere.
    #[serde(default)]
    pub admin: bool,
}

/// A refusal of the `users` key.
fn users_error(message: String) -> ConfigError {
    ConfigError::Invalid {
        key: "users",
        message,
    }
}

impl UserEntry {
    /// The user this entry describes, or what is wrong with it.
    fn account(&self) -> Result<Account, String> {
        check_user_name(&self.name).map_err(|e| format!("name {:?}: {e}", self.name))?;
        let name = &self.name;
        let at = |e: String| format!("user {name:?}: {e}");
        if self.token.is_empty() {
            return Err(at("token must not be empty".to_owned()));
        }
        let lists = PatternLists {
            join: &self.join,
            join_deny: &self.join_deny,
            publish: &self.publish,
            publish_deny: &self.publish_deny,
        };
        let permissions = lists.permissions().map_err(at)?;
        Ok(Account::new(name, permissions, self.admin))
    }
}

impl Config {
    /// The server's users and JWT verifier, or `None` when neither `users` nor
    /// `jwt_secret` is set (every connection is then anonymous). Refuses, naming the key,
    /// a malformed entry or pattern, two users with one name or one token, an empty
    /// `jwt_secret`, and a static token that has the shape of a JWT while `jwt_secret`
    /// is set (it would be verified as a JWT, so it could never match).
    pub fn authenticator(&self) -> Result<Option<Authenticator>, ConfigError> {
        if let Some(secret) = &self.jwt_secret {
            if secret.is_empty() {
                return Err(ConfigError::Invalid {
                    key: "jwt_secret",
                    message: "must not be empty".to_owned(),
                });
            }
        }
        let mut names = HashSet::new();
        let mut users = Vec::with_capacity(self.users.len());
        for (i, entry) in self.users.iter().enumerate() {
            let account = entry.account().map_err(users_error)?;
            if !names.insert(entry.name.as_str()) {
                return Err(users_error(format!(
                    "two users are called {:?}",
                    entry.name
                )));
            }
            if let Some(twin) = self.users[..i].iter().find(|u| u.token == entry.token) {
                return Err(users_error(format!(
                    "users {:?} and {:?} have the same token",
                    twin.name, entry.name
                )));
            }
            if self.jwt_secret.is_some() && jwt::looks_like_jwt(entry.token.expose()) {
                return Err(users_error(format!(
                    "user {:?}: the token has the shape of a JWT (three dot-separated \
                     base64url parts), so with jwt_secret set it would be verified as one",
                    entry.name
                )));
            }
            users.push((entry.token.clone(), account));
        }
        if users.is_empty() && self.jwt_secret.is_none() {
            return Ok(None);
        }
        let jwt = self.jwt_secret.as_ref().map(JwtVerifier::new);
        Ok(Some(Authenticator::new(StaticUsers::new(users), jwt)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::parse;
    use std::time::SystemTime;
    use switchboard::identity::Access;

    const ALICE: &str = "[[users]]\nname = \"alice\"\ntoken = \"alice-secret-token\"\n";

    fn refusal(text: &str) -> String {
        parse(text)
            .unwrap()
            .authenticator()
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn users_are_read_with_their_permissions() {
        let config = parse(
            r#"
            [[users]]
            name = "alice"
            token = "alice-secret-token"
            join = ["chat.>", "user.{user}.>"]
            join_deny = ["chat.secret"]
            publish = ["chat.*"]
            publish_deny = ["chat.announce"]

            [[users]]
            name = "root"
            token = "root-secret-token"
            admin = true
            "#,
        )
        .unwrap();
        assert_eq!(config.users.len(), 2);
        assert!(config.users[1].admin && !config.users[0].admin);
        let auth = config.authenticator().unwrap().expect("identity is on");
        let alice = auth
            .authenticate(b"alice-secret-token", SystemTime::now())
            .unwrap()
            .account;
        assert_eq!(alice.name(), "alice");
        assert!(alice.user.may(Access::Join, "user.alice.x"));
        assert!(!alice.user.may(Access::Join, "chat.secret"));
        assert!(alice.user.may(Access::Publish, "chat.eu"));
        assert!(!alice.user.may(Access::Publish, "chat.announce"));
        assert!(
            auth.authenticate(b"root-secret-token", SystemTime::now())
                .unwrap()
                .account
                .admin
        );
    }

    #[test]
    fn no_users_and_no_jwt_secret_is_no_identity() {
        assert!(parse("").unwrap().authenticator().unwrap().is_none());
        assert!(parse("jwt_secret = \"s\"")
            .unwrap()
            .authenticator()
            .unwrap()
            .is_some());
        assert!(parse(ALICE).unwrap().authenticator().unwrap().is_some());
    }

    #[test]
    fn two_users_with_one_name_or_one_token_are_refused() {
        let same_name = format!("{ALICE}[[users]]\nname = \"alice\"\ntoken = \"other\"\n");
        assert_eq!(
            refusal(&same_name),
            "config key \"users\": two users are called \"alice\""
        );
        let same_token =
            format!("{ALICE}[[users]]\nname = \"bob\"\ntoken = \"alice-secret-token\"\n");
        let message = refusal(&same_token);
        assert_eq!(
            message,
            "config key \"users\": users \"alice\" and \"bob\" have the same token"
        );
    }

    #[test]
    fn malformed_entries_are_refused_naming_the_key() {
        let cases = [
            ("[[users]]\nname = \"\"\ntoken = \"t\"\n", "name \"\""),
            ("[[users]]\nname = \"a b\"\ntoken = \"t\"\n", "whitespace"),
            (
                "[[users]]\nname = \"a\"\ntoken = \"\"\n",
                "token must not be empty",
            ),
            (
                "[[users]]\nname = \"a\"\ntoken = \"t\"\njoin = [\"a..b\"]\n",
                "join: empty token in pattern \"a..b\"",
            ),
            (
                "[[users]]\nname = \"a\"\ntoken = \"t\"\npublish_deny = [\"a.>.b\"]\n",
                "publish_deny: `>` before the last token",
            ),
            (
                "jwt_secret = \"s\"\n[[users]]\nname = \"a\"\ntoken = \"x.y.z\"\n",
                "shape of a JWT",
            ),
        ];
        for (text, expected) in cases {
            let message = refusal(text);
            assert!(message.starts_with("config key \"users\": "), "{message}");
            assert!(message.contains(expected), "{message}");
        }
        assert_eq!(
            refusal("jwt_secret = \"\""),
            "config key \"jwt_secret\": must not be empty"
        );
    }

    #[test]
    fn file_errors_name_the_key_and_quote_no_token() {
        for (text, key) in [
            ("[[users]]\nname = \"a\"\n", "users"),
            ("[[users]]\nname = \"a\"\ntoken = 123456789\n", "users"),
            (
                "[[users]]\nname = \"a\"\ntoken = \"t\"\nadmin = \"yes\"\n",
                "users",
            ),
            ("[[users]]\nname = \"a\"\ntokn = \"987654321\"\n", "users"),
            ("jwt_secret = 123456789", "jwt_secret"),
        ] {
            let message = parse(text).unwrap_err().to_string();
            assert!(
                message.starts_with(&format!("config key \"{key}\": ")),
                "{message}"
            );
            assert!(
                !message.contains("123456789") && !message.contains("987654321"),
                "{message}"
            );
        }
    }

    #[test]
    fn no_message_or_debug_output_carries_a_token() {
        let same_token = format!(
            "jwt_secret = \"the-jwt-secret\"\nmetrics_token = \"the-metrics-token\"\n\
             {ALICE}[[users]]\nname = \"bob\"\ntoken = \"alice-secret-token\"\n"
        );
        let config = parse(&same_token).unwrap();
        let debug = format!("{config:?}");
        let json = serde_json::to_string(&config).unwrap();
        let error = config.validate().unwrap_err().to_string();
        for secret in ["alice-secret-token", "the-jwt-secret", "the-metrics-token"] {
            for output in [&debug, &json, &error] {
                assert!(!output.contains(secret), "{secret} in {output}");
            }
        }
    }
}
