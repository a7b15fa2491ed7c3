//! The caller's own credentials: live sessions and API keys in one list, each revocable.
//!
//! One list, because to the account holder both are "something signed in as me": a browser, a
//! phone, a script. Only live credentials are listed (revoked and expired ones sign nothing in;
//! `GET /v1/api-keys` still shows revoked keys).

use axum::Json as JsonResponse;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, Credential, NO_STORE};
use crate::error::{ApiError, Problem};
use crate::extract::{Path, Query};
use crate::openapi::responses::{BadId, Unauthenticated};

/// What kind of credential signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CredentialKind {
    /// A session from signing in (`cst_...`); it expires.
    Session,
    /// An API key (`csk_...`); it works until revoked.
    ApiKey,
}

/// A live session or API key of the caller's account (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct ActiveCredential {
    /// The session's or key's id: revoke it with `DELETE /v1/me/sessions/{id}`.
    pub(crate) id: Uuid,
    /// A session or an API key.
    pub(crate) kind: CredentialKind,
    /// Whether this is the credential that authenticated this request.
    pub(crate) current: bool,
    /// An API key's name; `null` for a session.
    #[schema(example = "enrollment sync script")]
    pub(crate) name: Option<String>,
    /// An API key's first characters (`csk_` and 8 more); `null` for a session.
    #[schema(example = "csk_3f9a0c1d")]
    pub(crate) prefix: Option<String>,
    /// When the session began (signing in) or the key was created.
    pub(crate) created_at: DateTime<Utc>,
    /// When it last authenticated a request, to the minute (it is recorded at most once a minute).
    /// A session counts signing in as a use; `null` only for an API key never used.
    pub(crate) last_used_at: Option<DateTime<Utc>>,
    /// When a session stops working; `null` for an API key, which does not expire.
    pub(crate) expires_at: Option<DateTime<Utc>>,
}

/// A page of the caller's live credentials, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ActiveCredentialPage {
    /// The credentials on this page.
    pub(crate) items: Vec<ActiveCredential>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true)]
    pub(crate) next_cursor: Option<String>,
}

/// Paging the caller's credentials.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActiveCredentialQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub(crate) limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
}

/// Lists the caller's live sessions and API keys, newest first, with when each was last used and
/// which one is making this request. Sessions and keys share one list and one id space (both are
/// UUIDv7, so newest first is by id).
#[utoipa::path(
    get,
    path = "/v1/me/sessions",
    tag = "sessions",
    security(("bearer" = [])),
    params(ActiveCredentialQuery),
    responses(
        (status = OK, description = "A page of the caller's live credentials.", body = ActiveCredentialPage),
        (status = BAD_REQUEST, description = "A malformed `limit` or `cursor`, or an unknown parameter.", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
    )
)]
pub(crate) async fn list_my_sessions(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ActiveCredentialQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let (limit, before) = crate::pagination::page(query.limit, query.cursor.as_deref())?;
    let rows = sqlx::query!(
        r#"select id as "id!", is_session as "is_session!", name, prefix, created_at as "created_at!",
                  last_used_at, expires_at
             from (
             select session_id as id, true as is_session, null::text as name, null::text as prefix,
                    created_at, last_used_at, expires_at
               from session
              where account_id = $1 and revoked_at is null and expires_at > now()
             union all
             select api_key_id, false, name, prefix, created_at, last_used_at, null::timestamptz
               from api_key
              where account_id = $1 and revoked_at is null
         ) live
         where $2::uuid is null or id < $2
         order by id desc
         limit $3"#,
        caller.account_id,
        before,
        i64::from(limit) + 1,
    )
    .fetch_all(&state.pool)
    .await?;
    let current = match caller.credential {
        Credential::Session(id) | Credential::ApiKey(id) => id,
    };
    let mut items: Vec<ActiveCredential> = rows
        .into_iter()
        .map(|row| ActiveCredential {
            id: row.id,
            kind: if row.is_session {
                CredentialKind::Session
            } else {
                CredentialKind::ApiKey
            },
            current: row.id == current,
            name: row.name,
            prefix: row.prefix,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
        })
        .collect();
    let next_cursor = crate::pagination::next_cursor(&mut items, limit, |item| item.id);
    Ok(([NO_STORE], JsonResponse(ActiveCredentialPage { items, next_cursor })))
}

/// Revokes one of the caller's sessions or API keys: it stops working at once. Revoking the
/// current session signs out. Needs a session: a leaked API key must not be able to keep signing
/// its owner out (which would stop them revoking it). An id that is not one of the caller's
/// credentials answers 404, whoever it belongs to.
#[utoipa::path(
    delete,
    path = "/v1/me/sessions/{id}",
    tag = "sessions",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The session or API key to revoke (`id` from `GET /v1/me/sessions`).")),
    responses(
        (status = NO_CONTENT, description = "It no longer works (revoking twice is fine)."),
        BadId,
        Unauthenticated,
        (status = FORBIDDEN, description = "The request was authenticated with an API key; sign in to revoke credentials here (a key can still be revoked with `DELETE /v1/api-keys/{api_key_id}`).", body = Problem, content_type = "application/problem+json"),
        (status = NOT_FOUND, description = "The caller has no session or API key with this id.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete_my_session(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    if let Credential::ApiKey(_) = caller.credential {
        return Err(ApiError::forbidden(
            "credentials are revoked here with a session (sign in), not with an API key",
        ));
    }
    let found = sqlx::query_scalar!(
        r#"with sessions as (
             update session set revoked_at = coalesce(revoked_at, now())
              where session_id = $1 and account_id = $2
             returning 1
         ), keys as (
             update api_key set revoked_at = coalesce(revoked_at, now())
              where api_key_id = $1 and account_id = $2
             returning 1
         )
         select exists (select 1 from sessions) or exists (select 1 from keys) as "found!""#,
        id,
        caller.account_id,
    )
    .fetch_one(&state.pool)
    .await?;
    if !found {
        return Err(ApiError::not_found("you have no session or API key with this id"));
    }
    Ok((StatusCode::NO_CONTENT, [NO_STORE]))
}
