//! Conditional requests: `If-None-Match` against a response's entity tag.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

/// Whether `If-None-Match` names `etag` (weak comparison, RFC 9110 13.1.2: `W/` is ignored) or is
/// `*`.
pub(crate) fn matches(headers: &HeaderMap, etag: &str) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let etag = opaque(etag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| tag.trim() == "*" || opaque(tag) == etag)
}

/// `304 Not Modified` with `etag`, when `If-None-Match` names it.
pub(crate) fn not_modified(headers: &HeaderMap, etag: &str) -> Option<Response> {
    if !matches(headers, etag) {
        return None;
    }
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_comparison_lists_and_star() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
            headers
        };
        assert!(matches(&with("\"3\""), "\"3\""));
        assert!(matches(&with("W/\"3\""), "\"3\""));
        assert!(matches(&with("\"1\", W/\"3\""), "W/\"3\""));
        assert!(matches(&with("*"), "\"3\""));
        assert!(!matches(&with("\"4\""), "\"3\""));
        assert!(!matches(&HeaderMap::new(), "\"3\""));
    }
}
