//! The one error type of the API and its one response shape: RFC 9457 `application/problem+json`.
//!
//! Every non-2xx answer, including extractor rejections and the responses of middleware (timeouts,
//! body limits, panics), is a [`Problem`]. Internal detail (database text, panics) never reaches a
//! client: a 5xx is logged once, here, and answered with a generic detail.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The media type of every error response.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The most field errors one response lists.
pub const MAX_FIELD_ERRORS: usize = 50;

/// An RFC 9457 problem document: the body of every error response of this API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "/problems/validation",
    "title": "Invalid request",
    "status": 422,
    "detail": "1 field is invalid",
    "errors": [{"field": "name", "message": "must be 2 to 200 characters"}]
}))]
pub struct Problem {
    /// A URI reference naming the kind of problem (e.g. `/problems/validation`). Stable: clients may
    /// branch on it. The kinds are listed in `docs/problems.md`.
    #[serde(rename = "type")]
    #[schema(value_type = ProblemType)]
    pub kind: String,
    /// A short, human-readable summary of the kind of problem. Stable for a given `type`.
    pub title: String,
    /// The HTTP status code of this response, repeated for convenience.
    pub status: u16,
    /// A human-readable explanation of this occurrence, safe to show to a user.
    pub detail: String,
    /// The individual field problems, when the request had fields at fault (body fields, query or
    /// path parameters), each once and at most 50 (`detail` then says how many more were found).
    /// Empty (and omitted) otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For a conflict with an existing resource (e.g. a duplicate site): which one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub existing: Option<ExistingResource>,
    /// For a refused import: each bad row (the first 1,000) with its field problems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<RowProblem>,
    /// The URL of this occurrence's own record, when it has one (a refused import's
    /// `/v1/imports/{import_id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "/v1/imports/01938f5e-7a1b-7c3d-9e2f-123456789abc")]
    pub instance: Option<String>,
}

/// One refused row of an import and what is wrong with it, in the terms `POST /v1/sites` uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RowProblem {
    /// Where the row starts in the file: its line, counting a CSV header as line 1 (as a
    /// spreadsheet numbers its rows).
    #[schema(minimum = 1, example = 7)]
    pub row: u64,
    /// Its problems, each naming the field (`""` when the row as a whole is at fault, e.g. not
    /// valid JSON).
    pub errors: Vec<FieldError>,
}

/// The kinds of problem (`type` of a [`Problem`]), as `docs/problems.md` lists them.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "the contract's description of a value the server writes as JSON; never built"
)]
pub(crate) enum ProblemType {
    /// 400: malformed JSON, query string or path parameter.
    #[schema(rename = "/problems/bad-request")]
    BadRequest,
    /// 401: no valid credential.
    #[schema(rename = "/problems/unauthorized")]
    Unauthorized,
    /// 403: signed in, but not allowed.
    #[schema(rename = "/problems/forbidden")]
    Forbidden,
    /// 404: nothing at this URL.
    #[schema(rename = "/problems/not-found")]
    NotFound,
    /// 405: the URL exists but not with this method.
    #[schema(rename = "/problems/method-not-allowed")]
    MethodNotAllowed,
    /// 409: a conflict with the current state (a duplicate, a decided claim, ...).
    #[schema(rename = "/problems/conflict")]
    Conflict,
    /// 412: `If-Match` names an older revision.
    #[schema(rename = "/problems/precondition-failed")]
    PreconditionFailed,
    /// 413: the body is too large.
    #[schema(rename = "/problems/payload-too-large")]
    PayloadTooLarge,
    /// 415: the body is not JSON.
    #[schema(rename = "/problems/unsupported-media-type")]
    UnsupportedMediaType,
    /// 422: well-formed, but fields break rules.
    #[schema(rename = "/problems/validation")]
    Validation,
    /// 428: a change needs `If-Match`.
    #[schema(rename = "/problems/precondition-required")]
    PreconditionRequired,
    /// 429: over a rate limit.
    #[schema(rename = "/problems/too-many-requests")]
    TooManyRequests,
    /// 500: a failure the client cannot fix.
    #[schema(rename = "/problems/internal")]
    Internal,
    /// 503: the request took longer than allowed.
    #[schema(rename = "/problems/timeout")]
    Timeout,
    /// 503: the database is not answering, or too many requests are in flight.
    #[schema(rename = "/problems/unavailable")]
    Unavailable,
}

/// What made the duplicate guard take a new site for a listed one.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(
    dead_code,
    reason = "the contract's description of a value the server writes as JSON; never built"
)]
pub(crate) enum DuplicateMatch {
    /// The same NPI, in any ZIP code: the same facility.
    Npi,
    /// In the same ZIP code, the same facility name however it is written.
    Name,
}

/// The resource a request conflicts with. For a duplicate site, also its name and address (so a
/// client can show the member which listing it is and send them there) and what matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExistingResource {
    /// Its identifier.
    pub id: uuid::Uuid,
    /// Its URL, relative to this API.
    #[schema(example = "/v1/sites/01938f5e-7a1b-7c3d-9e2f-123456789abc")]
    pub href: String,
    /// A site's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "Riverside Imaging Center")]
    pub name: Option<String>,
    /// A site's street address (absent when the listing has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "410 W 10th Ave")]
    pub street: Option<String>,
    /// A site's city.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "Columbus")]
    pub city: Option<String>,
    /// A site's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Option<crate::sites::fields::UsStateCode>)]
    pub state: Option<String>,
    /// A site's ZIP code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "43210")]
    pub postal_code: Option<String>,
    /// For a duplicate site, what matched: `npi` (the same NPI, in any ZIP code: the same
    /// facility) or `name` (in the same ZIP code, the same facility name however it is written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Option<DuplicateMatch>)]
    pub matched_on: Option<String>,
}

impl ExistingResource {
    /// Just the resource's identity.
    pub(crate) fn new(id: uuid::Uuid, href: String) -> Self {
        Self {
            id,
            href,
            name: None,
            street: None,
            city: None,
            state: None,
            postal_code: None,
            matched_on: None,
        }
    }
}

/// One problem with one field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// Where the problem is: a JSON path into the body (`offers[0].capacity`), or the name of a query
    /// or path parameter (`limit`). Empty when the request as a whole is at fault.
    pub field: String,
    /// What is wrong with it, written for a person.
    pub message: String,
}

impl FieldError {
    /// A problem with `field`, described by `message`.
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An error on its way to becoming a [`Problem`] response. Boxed: errors travel in `Result`s on
/// every hot path, and the happy path should not pay for their size.
#[derive(Debug)]
pub struct ApiError(Box<Parts>);

#[derive(Debug)]
struct Parts {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    headers: Vec<(HeaderName, HeaderValue)>,
    existing: Option<ExistingResource>,
    rows: Vec<RowProblem>,
    instance: Option<String>,
    /// The underlying cause of a 5xx, logged and never shown.
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ApiError {
    fn new(status: StatusCode, slug: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self(Box::new(Parts {
            status,
            slug,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
            existing: None,
            rows: Vec::new(),
            instance: None,
            source: None,
        }))
    }

    /// 400: the request is malformed (query string, path parameter, JSON syntax).
    pub(crate) fn bad_request(detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request", detail).with_errors(errors)
    }

    /// 422: the request is well-formed but its fields break the rules. Lists every broken rule.
    pub(crate) fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.len() {
            1 => "1 field is invalid".to_owned(),
            n => format!("{n} fields are invalid"),
        };
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid request",
            detail,
        )
        .with_errors(errors)
    }

    /// 401: no credential, or one that is invalid, expired or revoked. `presented` tells whether a
    /// credential was sent (then `WWW-Authenticate` says `invalid_token`).
    pub(crate) fn unauthorized(detail: impl Into<String>, presented: bool) -> Self {
        let challenge = if presented {
            "Bearer error=\"invalid_token\""
        } else {
            "Bearer"
        };
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Not signed in", detail)
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge))
    }

    /// 403: signed in, but not allowed to do this.
    pub(crate) fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed", detail)
    }

    /// 409: the request conflicts with what exists (a taken email, a duplicate site).
    pub(crate) fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    /// 412: `If-Match` names a revision that is no longer current.
    pub(crate) fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition-failed",
            "Precondition failed",
            detail,
        )
    }

    /// 428: the request must be conditional (`If-Match`).
    pub(crate) fn precondition_required(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition-required",
            "Precondition required",
            detail,
        )
    }

    /// 429: too many requests; try again after `retry_after`.
    pub(crate) fn too_many_requests(retry_after: std::time::Duration) -> Self {
        let seconds = retry_after.as_secs().max(1);
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-requests",
            "Too many requests",
            format!("too many requests; try again in {seconds} seconds"),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from(seconds))
    }

    /// 404: nothing is at this URL.
    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 405: the URL exists, the method does not.
    pub(crate) fn method_not_allowed(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            detail,
        )
    }

    /// 413: the body is larger than the configured limit.
    pub(crate) fn payload_too_large(limit_bytes: Option<usize>) -> Self {
        let detail = match limit_bytes {
            Some(limit) => format!("the request body is larger than the limit of {limit} bytes"),
            None => "the request body is larger than this server accepts".to_owned(),
        };
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Request body too large",
            detail,
        )
    }

    /// 415: the body is not JSON.
    pub(crate) fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            detail,
        )
    }

    /// 503: the request took longer than the configured timeout.
    pub(crate) fn timeout() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "Request timed out",
            "the server could not answer in time; try again later",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
    }

    /// 503: a dependency (the database) is not available right now.
    pub(crate) fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("5"))
    }

    /// 503: the server is answering as many requests as it takes at once (`MAX_IN_FLIGHT`).
    pub(crate) fn overloaded() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            "the server is answering as many requests as it takes at once; try again in a second",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
    }

    /// 500: something failed that the client cannot fix. `source` is logged, never shown.
    pub(crate) fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        let mut error = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
            "the server failed to answer this request; it has been logged",
        );
        error.0.source = Some(source.into());
        error
    }

    /// Whether this is the 503 of a database that could not be reached or went away (the same
    /// read may succeed on another server: [`crate::replica::Reads::run`]).
    pub(crate) fn is_database_unavailable(&self) -> bool {
        self.0.slug == "unavailable" && self.0.source.as_ref().is_some_and(|source| source.is::<sqlx::Error>())
    }

    /// A problem for a bare status produced outside the handlers (middleware), keeping its status.
    pub(crate) fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::not_found("no resource at this URL"),
            StatusCode::METHOD_NOT_ALLOWED => Self::method_not_allowed("this URL does not support this method"),
            StatusCode::PAYLOAD_TOO_LARGE => Self::payload_too_large(None),
            StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
                Self::timeout()
            }
            s if s.is_server_error() => Self::internal(format!("bare {s} response from middleware")),
            s => Self::new(s, "http", s.canonical_reason().unwrap_or("Error"), s.to_string()),
        }
    }

    /// Adds field problems.
    pub(crate) fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.0.errors.extend(errors);
        self
    }

    /// Names the existing resource a conflict is about.
    pub(crate) fn with_existing(mut self, existing: ExistingResource) -> Self {
        self.0.existing = Some(existing);
        self
    }

    /// Replaces the detail.
    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.0.detail = detail.into();
        self
    }

    /// Lists a refused import's bad rows, and names its record.
    pub(crate) fn with_rows(mut self, rows: Vec<RowProblem>, instance: String) -> Self {
        self.0.rows = rows;
        self.0.instance = Some(instance);
        self
    }

    /// Adds a response header (e.g. `Retry-After`, `WWW-Authenticate`, `Allow`).
    pub(crate) fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.0.headers.push((name, value));
        self
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The problem document this error answers with. Field errors are listed once each (a
    /// parameter repeated a thousand times is one error) and at most [`MAX_FIELD_ERRORS`] of them,
    /// the detail saying how many more there were: a response stays small whatever was sent.
    pub fn problem(&self) -> Problem {
        let parts = &self.0;
        let mut seen = std::collections::HashSet::new();
        let mut distinct = parts.errors.iter().filter(|e| seen.insert((&e.field, &e.message)));
        let errors: Vec<FieldError> = distinct.by_ref().take(MAX_FIELD_ERRORS).cloned().collect();
        let unlisted = distinct.count();
        let detail = if unlisted > 0 {
            format!(
                "{} (the first {MAX_FIELD_ERRORS} problems are listed, {unlisted} more are not)",
                parts.detail
            )
        } else {
            parts.detail.clone()
        };
        Problem {
            kind: format!("/problems/{}", parts.slug),
            title: parts.title.to_owned(),
            status: parts.status.as_u16(),
            detail,
            errors,
            existing: parts.existing.clone(),
            rows: parts.rows.clone(),
            instance: parts.instance.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.0.status.as_u16(), self.0.title, self.0.detail)
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source.as_deref().map(|e| e as _)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        // 57014 query_canceled: the statement ran past `statement_timeout`, the request timeout.
        if let sqlx::Error::Database(database) = &error
            && database.code().as_deref() == Some("57014")
        {
            tracing::warn!(error = %error, "a statement ran past the request timeout and was cancelled");
            return Self::timeout();
        }
        if matches!(error, sqlx::Error::PoolTimedOut) {
            metrics::counter!(crate::metrics::POOL_TIMEOUTS).increment(1);
        }
        if is_unavailable(&error) {
            tracing::warn!(error = %error, "database unavailable");
            let mut unavailable = Self::unavailable("the database is not available right now; try again shortly");
            unavailable.0.source = Some(error.into());
            return unavailable;
        }
        Self::internal(error)
    }
}

/// Whether `error` says the database cannot be reached or is going away (the request may
/// succeed if retried), rather than that the request or the code is wrong: no connection in time,
/// a broken or refused connection, and the server's own connection and shutdown errors (SQLSTATE
/// class 08, `admin_shutdown`, `crash_shutdown`, `cannot_connect_now`, `too_many_connections`).
fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(database) => database
            .code()
            .is_some_and(|code| code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")),
        _ => false,
    }
}

/// Maps a violated *named* constraint to the problem the client should see, via `on`; any other
/// database error is internal. The one place where constraint names become HTTP answers.
pub(crate) fn constraint_error(error: sqlx::Error, on: impl FnOnce(&str) -> Option<ApiError>) -> ApiError {
    if let sqlx::Error::Database(database_error) = &error
        && let Some(problem) = database_error.constraint().and_then(on)
    {
        return problem;
    }
    ApiError::from(error)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).expect("a Problem always serializes");
        let parts = *self.0;
        // An unavailable database was logged (as a warning) where it was found.
        if let Some(source) = &parts.source
            && parts.slug != "unavailable"
        {
            tracing::error!(status = parts.status.as_u16(), error = %source, "request failed");
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for (name, value) in parts.headers {
            headers.append(name, value);
        }
        (parts.status, headers, body).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_errors_are_503s_with_retry_after() {
        for error in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::NotFound)),
        ] {
            let api = ApiError::from(error);
            assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(api.problem().kind, "/problems/unavailable");
            let response = api.into_response();
            assert!(response.headers().contains_key(header::RETRY_AFTER));
        }
        assert_eq!(
            ApiError::from(sqlx::Error::RowNotFound).status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "a bug is not an outage"
        );
    }

    #[test]
    fn field_errors_are_listed_once_each_and_at_most_fifty() {
        let repeated = vec![FieldError::new("colour", "is not a search parameter"); 1000];
        let problem = ApiError::bad_request("bad", repeated).problem();
        assert_eq!(problem.errors.len(), 1);
        assert_eq!(problem.detail, "bad");
        let many: Vec<FieldError> = (0..85_000)
            .map(|i| FieldError::new(format!("offers.x{i}"), "unknown"))
            .collect();
        let problem = ApiError::validation(many).problem();
        assert_eq!(problem.errors.len(), MAX_FIELD_ERRORS);
        assert_eq!(problem.errors[0].field, "offers.x0");
        assert!(
            problem
                .detail
                .ends_with("(the first 50 problems are listed, 84950 more are not)"),
            "{}",
            problem.detail
        );
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let error = ApiError::internal("duplicate key value violates unique constraint \"secret\"");
        let problem = error.problem();
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.contains("duplicate key"));
    }

    #[test]
    fn validation_counts_fields() {
        let problem = ApiError::validation(vec![FieldError::new("a", "x"), FieldError::new("b", "y")]).problem();
        assert_eq!(problem.detail, "2 fields are invalid");
        assert_eq!(problem.kind, "/problems/validation");
        assert_eq!(problem.errors.len(), 2);
    }

    #[test]
    fn empty_errors_are_omitted() {
        let json = serde_json::to_value(ApiError::not_found("gone").problem()).unwrap();
        assert!(json.get("errors").is_none());
        assert_eq!(json["type"], "/problems/not-found");
    }
}
