//! Who may ask the HTTP port, and with which methods: the bearer token of
//! `metrics_token` (`--metrics-token`), and GET and HEAD only on a read-only port.
//!
//! The token is checked first, before the method and before routing, so a request
//! without it learns nothing, not even which paths or methods exist: every one gets the
//! same empty `401` with `WWW-Authenticate: Bearer`. A request carries the token as
//! `Authorization: Bearer <token>` or as the query parameter `token=<token>` (what lets
//! a browser open the dashboard as `/?token=<token>`; the page then sends the header).
//! Tokens are compared through [`Secret::matches`], in constant time.

use crate::secret::Secret;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpResponse};

/// How the HTTP port admits requests; put it in the app's data and wrap the app with
/// [`admit`].
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The token every request must carry; `None`: anyone may ask.
    pub token: Option<Secret>,
    /// Only GET and HEAD are accepted (`405` for any other method): the port changes
    /// nothing.
    pub read_only: bool,
}

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// On to the routes.
    Pass,
    /// `401` with `WWW-Authenticate: Bearer`, nothing else.
    Unauthorized,
    /// `405` with `Allow: GET, HEAD`.
    MethodNotAllowed,
}

/// The token of an `Authorization` header value of the Bearer scheme (the scheme's
/// name in any case), if it is one.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || value.get(6) != Some(&b' ') {
        return None;
    }
    Some(value[7..].trim_ascii())
}

impl Access {
    /// The verdict on a request with `method`, `authorization` headers and the query
    /// string `query`.
    pub fn judge<'a>(
        &self,
        method: &Method,
        authorization: impl IntoIterator<Item = &'a [u8]>,
        query: &str,
    ) -> Verdict {
        if let Some(token) = &self.token {
            let mut allowed = false;
            // Every candidate is compared, none is skipped once one matched.
            for candidate in authorization.into_iter().filter_map(bearer) {
                allowed |= token.matches(candidate);
            }
            let pairs = web::Query::<Vec<(String, String)>>::from_query(query)
                .map(web::Query::into_inner)
                .unwrap_or_default();
            for (_, value) in pairs.iter().filter(|(name, _)| name == "token") {
                allowed |= token.matches(value.as_bytes());
            }
            if !allowed {
                return Verdict::Unauthorized;
            }
        }
        if self.read_only && method != Method::GET && method != Method::HEAD {
            return Verdict::MethodNotAllowed;
        }
        Verdict::Pass
    }
}

/// The middleware: judges each request by the app's [`Access`] (none: every request
/// passes) and answers the refusals itself.
pub async fn admit(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let verdict = match request.app_data::<web::Data<Access>>() {
        Some(access) => access.judge(
            request.method(),
            request
                .headers()
                .get_all(header::AUTHORIZATION)
                .map(|value| value.as_bytes()),
            request.query_string(),
        ),
        None => Verdict::Pass,
    };
    let refusal = match verdict {
        Verdict::Pass => return Ok(next.call(request).await?.map_into_boxed_body()),
        Verdict::Unauthorized => HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Verdict::MethodNotAllowed => HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, "GET, HEAD"))
            .finish(),
    };
    Ok(request.into_response(refusal))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guarded() -> Access {
        Access {
            token: Some(Secret::new("s3cr3t-token")),
            read_only: true,
        }
    }

    fn judge(access: &Access, method: Method, headers: &[&str], query: &str) -> Verdict {
        access.judge(&method, headers.iter().map(|h| h.as_bytes()), query)
    }

    #[test]
    fn the_token_in_a_bearer_header_or_the_query() {
        let access = guarded();
        for (headers, query) in [
            (&["Bearer s3cr3t-token"][..], ""),
            (&["bearer s3cr3t-token"], ""),
            (&["BEARER  s3cr3t-token "], ""),
            (&["Basic x", "Bearer s3cr3t-token"], ""),
            (&[], "token=s3cr3t-token"),
            (&[], "sort=idle&token=s3cr3t-token&limit=2"),
            (&[], "token=s3cr3t%2Dtoken"),
            (&[], "token=wrong&token=s3cr3t-token"),
        ] {
            assert_eq!(
                judge(&access, Method::GET, headers, query),
                Verdict::Pass,
                "{headers:?} {query}"
            );
        }
    }

    #[test]
    fn anything_else_is_unauthorized_whatever_the_method() {
        let access = guarded();
        for (headers, query) in [
            (&[][..], ""),
            (&["Bearer s3cr3t-toke"], ""),
            (&["Bearer s3cr3t-token2"], ""),
            (&["Bearer"], ""),
            (&["Bearers3cr3t-token"], ""),
            (&["Basic s3cr3t-token"], ""),
            (&["s3cr3t-token"], ""),
            (&[], "token=s3cr3t-toke"),
            (&[], "tok=s3cr3t-token"),
            (&[], "token="),
            (&[], "token=s3cr3t-token%"),
        ] {
            for method in [Method::GET, Method::HEAD, Method::POST, Method::DELETE] {
                assert_eq!(
                    judge(&access, method.clone(), headers, query),
                    Verdict::Unauthorized,
                    "{method} {headers:?} {query}"
                );
            }
        }
    }

    #[test]
    fn a_read_only_port_takes_get_and_head_only() {
        let access = guarded();
        let token = ["Bearer s3cr3t-token"];
        assert_eq!(judge(&access, Method::HEAD, &token, ""), Verdict::Pass);
        for method in [
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
        ] {
            assert_eq!(
                judge(&access, method.clone(), &token, ""),
                Verdict::MethodNotAllowed,
                "{method}"
            );
        }
        let open = Access {
            token: None,
            read_only: true,
        };
        assert_eq!(judge(&open, Method::GET, &[], ""), Verdict::Pass);
        assert_eq!(
            judge(&open, Method::POST, &[], ""),
            Verdict::MethodNotAllowed
        );
        let embedded = Access::default();
        assert_eq!(judge(&embedded, Method::POST, &[], ""), Verdict::Pass);
    }
}
