//! Conditional requests: `If-None-Match` against a response's entity tag, and `If-Match` against
//! a resource's revision.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::error::ApiError;

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

/// `If-Match` against a resource whose `ETag` is its quoted `version`: 428 when `required` and
/// missing, 412 (with the current `ETag`) when it names no current revision. Strong comparison:
/// weak tags never match. `what` names the resource ("site") and `read` where its ETag is read.
pub(crate) fn check_if_match(
    headers: &HeaderMap,
    version: i64,
    required: bool,
    what: &str,
    read: &str,
) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        if required {
            return Err(ApiError::precondition_required(format!(
                "send If-Match with the {what}'s current ETag (from {read}), so concurrent edits cannot overwrite \
                 each other"
            )));
        }
        return Ok(());
    };
    let current = format!("\"{version}\"");
    // A site's `ETag` may carry its reports' revision after the listing's (`"3.2"`): members'
    // reports never make an edit of the listing stale.
    let of_version = |tag: &str| {
        tag == current
            || tag
                .strip_prefix(&current[..current.len() - 1])
                .and_then(|rest| rest.strip_prefix('.'))
                .and_then(|rest| rest.strip_suffix('"'))
                .is_some_and(|reports| !reports.is_empty() && reports.bytes().all(|b| b.is_ascii_digit()))
    };
    let matches = value
        .to_str()
        .map(|tags| tags.split(',').map(str::trim).any(|tag| tag == "*" || of_version(tag)))
        .unwrap_or(false);
    if matches {
        Ok(())
    } else {
        Err(ApiError::precondition_failed(format!(
            "the {what} changed since you read it (its ETag no longer matches); GET it again and reapply your change"
        ))
        .with_header(header::ETAG, HeaderValue::from_str(&current).expect("a quoted number")))
    }
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
