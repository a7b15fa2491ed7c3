//! Who is calling: the one bearer-credential extractor, roles, and the secrets behind them.
//!
//! Handlers say what they need by extracting [`Caller`] (must be signed in), or [`MaybeCaller`]
//! (public, but may answer differently when signed in), then `caller.require_admin()` or an
//! ownership check in the query's `where`.

pub mod password;
pub(crate) mod rate_limit;
pub mod token;

use axum::extract::FromRequestParts;
use axum::http::{HeaderValue, header, request::Parts};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;

/// A global role. Managing a site is not a role but a relation ("account manages site").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "account_role", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub(crate) enum Role {
    /// A technologist or coordinator: may add sites, report experiences, manage their own sites.
    Member,
    /// Verifies listings, approves claims, manages accounts.
    Admin,
}

/// Which credential the caller presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credential {
    /// A session token (`cst_...`), with its id.
    Session(Uuid),
    /// An API key (`csk_...`), with its id.
    ApiKey(Uuid),
}

/// A signed-in caller: a valid, unexpired, unrevoked credential of an enabled account.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caller {
    /// The account.
    pub(crate) account_id: Uuid,
    /// Its role.
    pub(crate) role: Role,
    /// The credential used for this request.
    pub(crate) credential: Credential,
}

impl Caller {
    /// 403 unless the caller is an admin.
    pub(crate) fn require_admin(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Member => Err(ApiError::forbidden("this operation is for administrators")),
        }
    }

    /// Whether the caller is an admin.
    pub(crate) fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match MaybeCaller::from_request_parts(parts, state).await? {
            MaybeCaller(Some(caller)) => Ok(caller),
            MaybeCaller(None) => Err(ApiError::unauthorized(
                "this operation needs a signed-in caller: send `Authorization: Bearer <token or API key>`",
                false,
            )),
        }
    }
}

/// The caller if a credential was presented; anonymous otherwise. A credential that is presented
/// but not valid is still a 401: a client must learn that its token stopped working.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MaybeCaller(pub Option<Caller>);

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(Self(Some(*caller)));
        }
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Ok(Self(None));
        };
        let invalid = || ApiError::unauthorized("the bearer credential is invalid, expired or revoked", true);
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(invalid)?;
        let (kind, hash) = token::parse(presented).ok_or_else(invalid)?;
        let caller = lookup(&state.pool, kind, &hash).await?.ok_or_else(invalid)?;
        // The request's log line names the account (never the credential).
        tracing::Span::current().record("account_id", tracing::field::display(caller.account_id));
        parts.extensions.insert(caller);
        Ok(Self(Some(caller)))
    }
}

/// Finds the live credential with this hash and its enabled account.
async fn lookup(pool: &sqlx::PgPool, kind: token::Kind, hash: &[u8]) -> Result<Option<Caller>, ApiError> {
    let row = match kind {
        token::Kind::Session => {
            // Records use like API keys below: at most once a minute per session.
            sqlx::query!(
                r#"with live as (
                     select a.account_id, a.role, s.session_id
                       from session s join account a on a.account_id = s.account_id
                      where s.token_hash = $1 and s.revoked_at is null and s.expires_at > now() and not a.disabled
                 ), touched as (
                     update session set last_used_at = now()
                      where session_id = (select session_id from live)
                        and last_used_at < now() - interval '1 minute'
                 )
                 select account_id as "account_id!", role as "role!: Role", session_id as "credential_id!"
                   from live"#,
                hash,
            )
            .fetch_optional(pool)
            .await?
            .map(|row| (row.account_id, row.role, Credential::Session(row.credential_id)))
        }
        token::Kind::ApiKey => {
            // Records use, at most once a minute per key, so reads do not each become a write.
            sqlx::query!(
                r#"with key as (
                     select k.api_key_id, k.account_id, a.role, k.last_used_at
                       from api_key k join account a on a.account_id = k.account_id
                      where k.key_hash = $1 and k.revoked_at is null and not a.disabled
                 ), touched as (
                     update api_key set last_used_at = now()
                      where api_key_id = (select api_key_id from key)
                        and (last_used_at is null or last_used_at < now() - interval '1 minute')
                 )
                 select account_id as "account_id!", role as "role!: Role", api_key_id as "credential_id!"
                   from key"#,
                hash,
            )
            .fetch_optional(pool)
            .await?
            .map(|row| (row.account_id, row.role, Credential::ApiKey(row.credential_id)))
        }
    };
    Ok(row.map(|(account_id, role, credential)| Caller {
        account_id,
        role,
        credential,
    }))
}

/// `Cache-Control: no-store`, for every response that carries or concerns credentials.
pub(crate) const NO_STORE: (header::HeaderName, HeaderValue) =
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
