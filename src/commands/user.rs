//! The user-name argument of KICK, as both protocols read it.

use crate::identity::{check_user_name, MAX_USER_NAME};

/// A user name as KICK takes it ([`check_user_name`]), or the error reason, quoting at
/// most [`MAX_USER_NAME`] bytes of what the client sent.
pub fn user_name(name: &[u8]) -> Result<String, String> {
    let checked = std::str::from_utf8(name)
        .map_err(|_| ())
        .and_then(|name| check_user_name(name).map_err(|_| ()).map(|()| name));
    if let Ok(name) = checked {
        return Ok(name.to_owned());
    }
    if name.is_empty() {
        return Err("bad user name (empty)".to_owned());
    }
    let quoted = &name[..name.len().min(MAX_USER_NAME)];
    let ellipsis = if quoted.len() < name.len() { "..." } else { "" };
    Err(format!(
        "bad user name \"{}\"{ellipsis}",
        quoted.escape_ascii()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_name_is_one_word_of_1_to_64_bytes() {
        for name in ["alice", "auth0|42", "caf\u{e9}", &"x".repeat(64)] {
            assert_eq!(user_name(name.as_bytes()).as_deref(), Ok(name));
        }
        let cases: [(&[u8], &str); 4] = [
            (b"", "bad user name (empty)"),
            (b"a b", "bad user name \"a b\""),
            (b"a\nb", "bad user name \"a\\nb\""),
            (b"\xff", "bad user name \"\\xff\""),
        ];
        for (name, reason) in cases {
            assert_eq!(user_name(name), Err(reason.to_owned()));
        }
        let long = user_name(&[b'x'; 200]).unwrap_err();
        assert_eq!(long, format!("bad user name \"{}\"...", "x".repeat(64)));
    }
}
