//! Request extractors whose rejections are [`ApiError`] problems naming the field at fault.
//!
//! Handlers use these instead of axum's own `Json`, `Query` and `Path`, whose rejections are plain
//! text. Responses still use `axum::Json`.

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// The configured body limit, put in each request's extensions by [`crate::http::with_middleware`]
/// so rejections can state it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit(pub usize);

/// A JSON request body of type `T`.
///
/// Rejects with 415 when the content type is not JSON, 413 when the body is over the limit, 400 when
/// the body is not JSON at all, and 422 naming the field (as a JSON path) when JSON does not fit `T`
/// (wrong type, missing or unknown field).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::unsupported_media_type(
                "the request body must be JSON, sent with `Content-Type: application/json`",
            ));
        }
        let limit = req.extensions().get::<BodyLimit>().map(|limit| limit.0);
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large(limit)
            } else {
                ApiError::bad_request("the request body could not be read", Vec::new())
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

/// An optional JSON body: a request without `Content-Type` and body is `None`.
impl<T, S> axum::extract::OptionalFromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let empty = !req.headers().contains_key(header::CONTENT_TYPE)
            && req
                .headers()
                .get(header::CONTENT_LENGTH)
                .is_none_or(|length| length.as_bytes() == b"0");
        if empty {
            return Ok(None);
        }
        <Self as FromRequest<S>>::from_request(req, state).await.map(Some)
    }
}

fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Deserializes a JSON body, turning serde's errors into problems that name the field.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first, so a malformed document is a 400 whatever its shape; then the shape, field by
    // field.
    let document: serde_json::Value = serde_json::from_slice(bytes).map_err(|error| {
        let message = without_position(&error.to_string());
        ApiError::bad_request(
            format!(
                "the request body is not valid JSON (line {}, column {}): {message}",
                error.line(),
                error.column()
            ),
            Vec::new(),
        )
    })?;
    // Every body of this API is an object. (serde would also read a struct from an array of its
    // fields in order, so `[]` must not get that far.)
    if !document.is_object() {
        return Err(ApiError::validation(vec![FieldError::new("", "must be a JSON object")]));
    }
    serde_path_to_error::deserialize(document).map_err(|error| {
        let field = json_path(&error.path().to_string());
        let message = without_position(&error.inner().to_string());
        ApiError::validation(vec![FieldError::new(field, message)])
    })
}

/// serde_path_to_error prints the root as `.`; a problem names it as the empty string.
fn json_path(path: &str) -> String {
    if path == "." { String::new() } else { path.to_owned() }
}

/// serde_json appends " at line L column C" to every message; the problem carries the field instead.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// A query string deserialized into `T`. Rejects with 400 naming the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or("")).map(Query)
    }
}

/// Deserializes a query string, turning errors into 400 problems that name the parameter.
pub(crate) fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let field = json_path(&error.path().to_string());
        let message = error.inner().to_string();
        let detail = if field.is_empty() {
            format!("the query string is invalid: {message}")
        } else {
            format!("query parameter `{field}` is invalid: {message}")
        };
        ApiError::bad_request(detail, vec![FieldError::new(field, message)])
    })
}

/// Path parameters deserialized into `T`. Rejects with 400 naming the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(PathRejection::FailedToDeserializePathParams(error)) => {
                use axum::extract::path::ErrorKind;
                let kind = error.into_kind();
                let (field, message) = match &kind {
                    ErrorKind::ParseErrorAtKey { key, expected_type, .. } => {
                        (key.clone(), format!("is not a valid {}", friendly_type(expected_type)))
                    }
                    ErrorKind::DeserializeError { key, message, .. } => {
                        (key.clone(), format!("is not valid: {message}"))
                    }
                    ErrorKind::InvalidUtf8InPathParam { key } => (key.clone(), "is not valid UTF-8".to_owned()),
                    ErrorKind::ParseError { expected_type, .. } => (
                        String::new(),
                        format!("is not a valid {}", friendly_type(expected_type)),
                    ),
                    ErrorKind::Message(message) => (String::new(), message.clone()),
                    _ => return Err(ApiError::internal(format!("path extraction failed: {kind}"))),
                };
                let detail = if field.is_empty() {
                    format!("the URL path {message}")
                } else {
                    format!("path parameter `{field}` {message}")
                };
                Err(ApiError::bad_request(detail, vec![FieldError::new(field, message)]))
            }
            Err(other) => Err(ApiError::internal(format!("path extraction failed: {other}"))),
        }
    }
}

/// Rust type names mean nothing to a client: name the shape instead.
fn friendly_type(rust_type: &str) -> &str {
    match rust_type {
        t if t.ends_with("Uuid") => "UUID",
        "u8" | "u16" | "u32" | "u64" | "usize" => "non-negative integer",
        "i8" | "i16" | "i32" | "i64" | "isize" => "integer",
        "f32" | "f64" => "number",
        "bool" => "boolean (true or false)",
        _ => "value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    #[test]
    fn wrong_type_names_the_nested_field() {
        let problem = parse_json::<Sample>(br#"{"name":"x","inner":{"count":-1}}"#)
            .unwrap_err()
            .problem();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors[0].field, "inner.count");
        assert!(!problem.errors[0].message.contains("line"), "{problem:?}");
    }

    #[test]
    fn unknown_field_is_rejected_by_name() {
        let problem = parse_json::<Sample>(br#"{"name":"x","nmae":"y"}"#)
            .unwrap_err()
            .problem();
        assert_eq!(problem.status, 422);
        assert!(problem.errors[0].message.contains("nmae"), "{problem:?}");
    }

    #[test]
    fn syntax_errors_are_bad_requests() {
        for body in [&br#"{"name":"#[..], b"", b"{} trailing", b"[1,]"] {
            let problem = parse_json::<Sample>(body).unwrap_err().problem();
            assert_eq!(problem.status, 400, "{body:?}: {problem:?}");
            assert!(problem.errors.is_empty());
        }
    }

    #[test]
    fn missing_field_is_a_validation_error() {
        let problem = parse_json::<Sample>(b"{}").unwrap_err().problem();
        assert_eq!(problem.status, 422);
        assert!(problem.errors[0].message.contains("name"), "{problem:?}");
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Paging {
        limit: Option<u32>,
    }

    #[test]
    fn query_errors_name_the_parameter() {
        let problem = parse_query::<Paging>("limit=abc").unwrap_err().problem();
        assert_eq!(problem.status, 400);
        assert_eq!(problem.errors[0].field, "limit");
        assert!(parse_query::<Paging>("limit=5").unwrap().limit == Some(5));
    }

    #[test]
    fn json_content_types() {
        let mut headers = axum::http::HeaderMap::new();
        assert!(!is_json(&headers));
        for (value, ok) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
        ] {
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(is_json(&headers), ok, "{value}");
        }
    }
}
