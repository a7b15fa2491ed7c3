//! `Idempotency-Key` for creating requests: a retry with the same key and body gets the original
//! response, byte for byte, and creates nothing; the same key with another body is refused.
//!
//! Keys are scoped to the calling account and kept for 24 hours (then deleted by the hourly purge,
//! [`crate::maintenance`]). The claim on a key is a row
//! inserted in the request's own transaction: a concurrent request with the same key waits on that
//! row, then finds the stored response once the first commits (or takes over if it failed).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::{ApiError, FieldError};

/// The request header.
pub(crate) const HEADER: &str = "idempotency-key";

/// The key a request carries, if any; 400 when it is not 1 to 255 visible ASCII characters.
pub(crate) fn key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(key.to_owned()))
        }
        _ => Err(ApiError::bad_request(
            "the Idempotency-Key header must be 1 to 255 visible ASCII characters (a UUID is ideal)",
            vec![FieldError::new(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            )],
        )),
    }
}

/// A fingerprint of what the request asks for.
pub(crate) fn fingerprint(method: &str, path: &str, body: &serde_json::Value) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b" ");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    // serde_json's maps are sorted, so equal documents serialize equally.
    hasher.update(body.to_string().as_bytes());
    hasher.finalize().to_vec()
}

/// A response kept for replay.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    response_status: i32,
    response_body: Vec<u8>,
    response_location: Option<String>,
    response_etag: Option<String>,
}

impl Stored {
    /// A response to keep.
    pub(crate) fn new(status: StatusCode, body: Vec<u8>, location: Option<String>, etag: Option<String>) -> Self {
        Self {
            response_status: i32::from(status.as_u16()),
            response_body: body,
            response_location: location,
            response_etag: etag,
        }
    }
}

impl IntoResponse for Stored {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.response_status as u16).unwrap_or(StatusCode::OK);
        let mut response = (status, self.response_body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in [
            (header::LOCATION, self.response_location),
            (header::ETAG, self.response_etag),
        ] {
            if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                headers.insert(name, value);
            }
        }
        response
    }
}

/// What claiming a key found.
pub(crate) enum Claim {
    /// The key is new: go ahead, then [`finish`] in the same transaction.
    Fresh,
    /// The key was used for this same request: answer with the stored response.
    Replay(Stored),
}

/// Deletes every key past its 24 hours (the periodic purge, [`crate::maintenance`]); returns how
/// many.
pub(crate) async fn purge_expired(executor: impl sqlx::PgExecutor<'_>) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query!("delete from idempotency_key where created_at < now() - interval '24 hours'")
            .execute(executor)
            .await?
            .rows_affected(),
    )
}

/// Claims `key` for this request inside `conn`'s transaction.
pub(crate) async fn claim(
    conn: &mut PgConnection,
    account_id: Uuid,
    key: &str,
    fingerprint: &[u8],
) -> Result<Claim, ApiError> {
    // A key older than 24 hours is free again: its row is taken over as if new. A live one is left
    // as it is (waiting, if its request is still under way, for that request to end).
    let inserted = sqlx::query!(
        "insert into idempotency_key (account_id, key, request_hash) values ($1, $2, $3)
         on conflict (account_id, key) do update
            set request_hash = excluded.request_hash, created_at = now(), response_status = null,
                response_body = null, response_location = null, response_etag = null
          where idempotency_key.created_at < now() - interval '24 hours'",
        account_id,
        key,
        fingerprint,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Claim::Fresh);
    }
    let found = sqlx::query!(
        "select request_hash, response_status from idempotency_key where account_id = $1 and key = $2",
        account_id,
        key,
    )
    .fetch_one(&mut *conn)
    .await?;
    if found.request_hash != fingerprint {
        return Err(ApiError::validation(vec![FieldError::new(
            "Idempotency-Key",
            "was already used with a different request; use a new key for a new request",
        )]));
    }
    if found.response_status.is_none() {
        return Err(ApiError::internal(
            "an idempotency key was committed without its response",
        ));
    }
    let stored = sqlx::query_as!(
        Stored,
        r#"select response_status as "response_status!", response_body as "response_body!",
                  response_location, response_etag
             from idempotency_key where account_id = $1 and key = $2"#,
        account_id,
        key,
    )
    .fetch_one(conn)
    .await?;
    Ok(Claim::Replay(stored))
}

/// Stores the response of a [`Claim::Fresh`] request, in its transaction.
pub(crate) async fn finish(
    conn: &mut PgConnection,
    account_id: Uuid,
    key: &str,
    stored: &Stored,
) -> Result<(), ApiError> {
    sqlx::query!(
        "update idempotency_key
            set response_status = $3, response_body = $4, response_location = $5, response_etag = $6
          where account_id = $1 and key = $2",
        account_id,
        key,
        stored.response_status,
        &stored.response_body,
        stored.response_location.as_deref(),
        stored.response_etag.as_deref(),
    )
    .execute(conn)
    .await?;
    Ok(())
}
