//! API keys: long-lived bearer credentials for integrations (a school's or a hospital system's
//! script), each owned by one account and acting as it.

use axum::Json as JsonResponse;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

mod queries;

use crate::AppState;
use crate::auth::token::{self, Kind};
use crate::auth::{Caller, Credential, NO_STORE};
use crate::error::{ApiError, FieldError, Problem};
use crate::extract::{Json, Path};
use crate::openapi::responses::{BadId, BadJson, Unauthenticated};

/// Live keys one account may hold.
const MAX_KEYS_PER_ACCOUNT: i64 = 20;

/// The API key routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_api_key, list_api_keys))
        .routes(routes!(delete_api_key))
}

/// A key as listed: everything but the secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct ApiKey {
    /// Stable identifier, for revoking.
    pub(crate) api_key_id: Uuid,
    /// What the key is for, as its owner named it.
    #[schema(example = "enrollment sync script")]
    pub(crate) name: String,
    /// The first characters of the key (`csk_` and 8 more), to recognise it.
    #[schema(example = "csk_3f9a0c1d")]
    pub(crate) prefix: String,
    /// When it was created.
    pub(crate) created_at: DateTime<Utc>,
    /// When it last authenticated a request (updated at most once a minute); `null` if never.
    pub(crate) last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked; `null` while it works.
    pub(crate) revoked_at: Option<DateTime<Utc>>,
}

/// A new key. `key` is shown only here, once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct NewApiKeySecret {
    /// The key's details.
    #[serde(flatten)]
    pub(crate) api_key: ApiKey,
    /// The secret: send as `Authorization: Bearer <key>`. Starts with `csk_`.
    pub(crate) key: String,
}

/// Naming a new key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewApiKey {
    /// What the key is for, 1 to 100 characters.
    #[schema(example = "enrollment sync script", min_length = 1, max_length = 100)]
    pub(crate) name: String,
}

/// The caller's keys, newest first, revoked ones included.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ApiKeyList {
    /// The keys.
    pub(crate) items: Vec<ApiKey>,
}

/// Creates an API key for the caller's account. Needs a session: a key cannot mint more keys, so a
/// leaked key cannot entrench itself.
#[utoipa::path(
    post,
    path = "/v1/api-keys",
    tag = "api-keys",
    security(("bearer" = [])),
    request_body = NewApiKey,
    responses(
        (status = CREATED, description = "The key, shown once.", body = NewApiKeySecret),
        BadJson,
        Unauthenticated,
        (status = FORBIDDEN, description = "The request was authenticated with an API key.", body = Problem, content_type = "application/problem+json"),
        (status = UNPROCESSABLE_ENTITY, description = "A bad name, or the account already has 20 live keys.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewApiKey>,
) -> Result<impl IntoResponse, ApiError> {
    if let Credential::ApiKey(_) = caller.credential {
        return Err(ApiError::forbidden(
            "API keys are created with a session (sign in), not with another key",
        ));
    }
    let name = body.name.trim();
    if !(1..=100).contains(&name.chars().count()) || name.chars().any(char::is_control) {
        return Err(ApiError::validation(vec![FieldError::new(
            "name",
            "must be 1 to 100 characters, without control characters",
        )]));
    }
    let secret = token::generate(Kind::ApiKey);
    let prefix = secret.plain[..12].to_owned();
    let mut tx = state.pool.begin().await?;
    if queries::lock_and_count_live(&mut tx, caller.account_id).await? >= MAX_KEYS_PER_ACCOUNT {
        return Err(ApiError::validation(vec![FieldError::new(
            "name",
            format!("this account already has {MAX_KEYS_PER_ACCOUNT} live keys; revoke one first"),
        )]));
    }
    let api_key = queries::insert(&mut *tx, caller.account_id, name, &prefix, &secret.hash).await?;
    tx.commit().await?;
    let body = NewApiKeySecret {
        api_key,
        key: secret.plain,
    };
    Ok((StatusCode::CREATED, [NO_STORE], JsonResponse(body)))
}

/// Lists the caller's own keys (never the secrets).
#[utoipa::path(
    get,
    path = "/v1/api-keys",
    tag = "api-keys",
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The caller's keys.", body = ApiKeyList),
        Unauthenticated,
    )
)]
pub(crate) async fn list_api_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let items = queries::list(&state.pool, caller.account_id).await?;
    Ok(([NO_STORE], JsonResponse(ApiKeyList { items })))
}

/// Revokes one of the caller's keys. Another account's key answers 404, as if it did not exist.
#[utoipa::path(
    delete,
    path = "/v1/api-keys/{api_key_id}",
    tag = "api-keys",
    security(("bearer" = [])),
    params(("api_key_id" = Uuid, Path, description = "The key to revoke.")),
    responses(
        (status = NO_CONTENT, description = "The key no longer works (revoking twice is fine)."),
        BadId,
        Unauthenticated,
        (status = NOT_FOUND, description = "The caller has no key with this id.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(api_key_id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    let found = queries::revoke(&state.pool, api_key_id, caller.account_id).await?;
    if !found {
        return Err(ApiError::not_found("you have no API key with this id"));
    }
    Ok((StatusCode::NO_CONTENT, [NO_STORE]))
}
