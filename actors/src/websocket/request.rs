//! The handshake request as the application sees it: path, query and headers, kept so
//! that a connection can be authenticated from them (a bearer token, a cookie, a
//! query parameter) when it opens.

use std::fmt;

/// One header of the request.
#[derive(Clone, PartialEq, Eq)]
struct Field {
    /// Its name in lower case (header names are case-insensitive).
    name: String,
    /// Its value as sent, surrounding whitespace removed; not necessarily UTF-8.
    value: Box<[u8]>,
}

/// The HTTP request that opened a WebSocket connection.
///
/// Its `Debug` output shows header names but not the values of `Authorization`,
/// `Cookie` and `Sec-WebSocket-Key`, so that logging a request leaks no secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// The path of the request target (`/chat`), without the query.
    path: String,
    /// What follows the `?` of the target, if there is one.
    query: Option<String>,
    /// Every header, in the order sent.
    fields: Vec<Field>,
}

/// Headers whose values `Debug` leaves out.
const SECRET: [&str; 4] = [
    "authorization",
    "cookie",
    "proxy-authorization",
    "sec-websocket-key",
];

impl Request {
    /// A request for `target` (path and query) with `headers`, as read from the wire.
    pub(crate) fn new<'a>(
        target: &str,
        headers: impl Iterator<Item = (&'a str, &'a [u8])>,
    ) -> Self {
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query.to_owned())),
            None => (target, None),
        };
        Request {
            path: path.to_owned(),
            query,
            fields: headers
                .map(|(name, value)| Field {
                    name: name.to_ascii_lowercase(),
                    value: value.trim_ascii().into(),
                })
                .collect(),
        }
    }

    /// The path of the request target, such as `/chat` (never empty: it starts with
    /// `/`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query, what follows the `?` of the target, as sent (not percent-decoded).
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The first value of the query parameter `name` (`token` in `?token=abc&x=1`),
    /// as sent (not percent-decoded); `Some("")` for a parameter without `=`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query()?
            .split('&')
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    /// The first value of header `name` (any case), if it is present and UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        std::str::from_utf8(self.header_bytes(name)?).ok()
    }

    /// The first value of header `name` (any case) as bytes.
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|field| field.name.eq_ignore_ascii_case(name))
            .map(|field| &*field.value)
    }

    /// Every header as (lower-case name, value), in the order sent.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.fields
            .iter()
            .map(|field| (field.name.as_str(), &*field.value))
    }

    /// The value of cookie `name` from the `Cookie` headers.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .filter(|field| field.name == "cookie")
            .filter_map(|field| std::str::from_utf8(&field.value).ok())
            .flat_map(|cookies| cookies.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.trim_matches('"'))
    }

    /// The bearer token of an `Authorization: Bearer <token>` header.
    pub fn bearer_token(&self) -> Option<&str> {
        let value = self.header("authorization")?;
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|token| !token.is_empty())
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Headers<'a>(&'a [Field]);
        impl fmt::Debug for Headers<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut map = f.debug_map();
                for field in self.0 {
                    if SECRET.contains(&field.name.as_str()) {
                        map.entry(&field.name, &"<redacted>");
                    } else {
                        map.entry(&field.name, &String::from_utf8_lossy(&field.value));
                    }
                }
                map.finish()
            }
        }
        f.debug_struct("Request")
            .field("path", &self.path)
            .field("query", &self.query.as_ref().map(|_| "<redacted>"))
            .field("headers", &Headers(&self.fields))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &str, headers: &[(&str, &str)]) -> Request {
        Request::new(target, headers.iter().map(|(n, v)| (*n, v.as_bytes())))
    }

    #[test]
    fn path_query_and_parameters() {
        let r = request("/chat/room?token=abc&flag&x=1&token=second", &[]);
        assert_eq!(r.path(), "/chat/room");
        assert_eq!(r.query(), Some("token=abc&flag&x=1&token=second"));
        assert_eq!(r.query_param("token"), Some("abc"));
        assert_eq!(r.query_param("flag"), Some(""));
        assert_eq!(r.query_param("missing"), None);
        let plain = request("/", &[]);
        assert_eq!((plain.path(), plain.query()), ("/", None));
        assert_eq!(plain.query_param("token"), None);
    }

    #[test]
    fn headers_by_any_case_cookies_and_bearer_tokens() {
        let r = request(
            "/",
            &[
                ("Authorization", "Bearer  t0k3n "),
                ("Cookie", "a=1; session=\"s3cr3t\"; b=2"),
                ("X-Custom", " value "),
            ],
        );
        assert_eq!(r.header("authorization"), Some("Bearer  t0k3n"));
        assert_eq!(r.header("X-CUSTOM"), Some("value"));
        assert_eq!(r.bearer_token(), Some("t0k3n"));
        assert_eq!(r.cookie("session"), Some("s3cr3t"));
        assert_eq!(r.cookie("b"), Some("2"));
        assert_eq!(r.cookie("c"), None);
        assert_eq!(r.headers().count(), 3);
        assert_eq!(r.headers().next().map(|(n, _)| n), Some("authorization"));
        assert_eq!(
            request("/", &[("Authorization", "Basic abc")]).bearer_token(),
            None
        );
        assert_eq!(
            request("/", &[("Authorization", "Bearer ")]).bearer_token(),
            None
        );
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let r = request(
            "/?token=querysecret",
            &[
                ("Authorization", "Bearer t0k3n"),
                ("Cookie", "session=s3cr3t"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("Host", "example.com"),
            ],
        );
        let shown = format!("{r:?}");
        for secret in ["t0k3n", "s3cr3t", "querysecret", "dGhlIHNhbXBsZSBub25jZQ"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("example.com"), "{shown}");
        assert!(shown.contains("authorization"), "{shown}");
    }
}
