//! Sessions: signing in (a bearer token) and signing out; the caller's own sessions and API keys
//! ([`mine`]).

pub(crate) mod mine;

use axum::Json as JsonResponse;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::AppState;
use crate::accounts::fields::Email;
use crate::accounts::{self, Account};
use crate::auth::token::{self, Kind};
use crate::auth::{Caller, Credential, NO_STORE, password};
use crate::error::{ApiError, Problem};
use crate::extract::Json;
use crate::http::ClientAddr;
use crate::openapi::responses::{BadJson, Unauthenticated};

/// The session routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_session))
        .routes(routes!(delete_current_session))
        .routes(routes!(mine::list_my_sessions))
        .routes(routes!(mine::delete_my_session))
}

/// Email and password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignIn {
    /// The account's email (any case).
    #[schema(example = "ann.lee@example.org", format = Email, max_length = 254)]
    pub(crate) email: String,
    /// The account's password.
    #[schema(example = "correct horse battery staple", format = Password, max_length = 256)]
    pub(crate) password: String,
}

/// How a token is sent: `Authorization: Bearer <token>`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) enum TokenType {
    /// The only kind.
    Bearer,
}

/// A new session. The token is shown only here, once: keep it secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Session {
    /// Send as `Authorization: Bearer <token>`. Starts with `cst_`.
    pub(crate) token: String,
    /// Always `Bearer`.
    pub(crate) token_type: TokenType,
    /// After this instant the token no longer works; sign in again.
    pub(crate) expires_at: DateTime<Utc>,
    /// The signed-in account.
    pub(crate) account: Account,
}

/// Signs in with email and password and returns a bearer token.
///
/// A wrong email and a wrong password get the same 401 after the same work, so answers do not tell
/// which accounts exist. Attempts are limited per email and per client address (429 with
/// `Retry-After`).
#[utoipa::path(
    post,
    path = "/v1/sessions",
    tag = "sessions",
    request_body = SignIn,
    responses(
        (status = CREATED, description = "Signed in.", body = Session),
        BadJson,
        (status = UNAUTHORIZED, description = "The email or password is incorrect.", body = Problem, content_type = "application/problem+json"),
        (status = UNPROCESSABLE_ENTITY, description = "A field is missing or has the wrong type.", body = Problem, content_type = "application/problem+json"),
        (status = TOO_MANY_REQUESTS, description = "Too many attempts; see `Retry-After`.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_session(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Json(body): Json<SignIn>,
) -> Result<impl IntoResponse, ApiError> {
    let email = Email::parse("email", &body.email).ok();
    let entered = email.as_ref().map_or(body.email.trim(), |e| e.as_str());
    crate::auth::rate_limit::check_password_attempt(&state.limits.sign_in, entered, addr)?;

    let stored = match &email {
        Some(email) => accounts::queries::credentials_by_email(&state.pool, email).await?,
        None => None,
    };
    let (account_id, hash) = stored.map_or((None, None), |(id, hash)| (Some(id), Some(hash)));
    let matches = password::verify(body.password, hash).await?;
    let account_id = match account_id {
        Some(account_id) if matches => account_id,
        _ => return Err(ApiError::unauthorized("the email or password is incorrect", false)),
    };

    let secret = token::generate(Kind::Session);
    let expires_at = Utc::now() + state.config.session_ttl();
    let mut tx = state.pool.begin().await?;
    sqlx::query!(
        "insert into session (session_id, account_id, token_hash, expires_at) values ($1, $2, $3, $4)",
        Uuid::now_v7(),
        account_id,
        &secret.hash,
        expires_at,
    )
    .execute(&mut *tx)
    .await?;
    let account = accounts::queries::find(&mut *tx, account_id)
        .await?
        .ok_or_else(|| ApiError::internal("the account vanished while signing in"))?;
    tx.commit().await?;
    let session = Session {
        token: secret.plain,
        token_type: TokenType::Bearer,
        expires_at,
        account,
    };
    Ok((StatusCode::CREATED, [NO_STORE], JsonResponse(session)))
}

/// Signs out: revokes the session whose token authenticated this request.
#[utoipa::path(
    delete,
    path = "/v1/sessions/current",
    tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = NO_CONTENT, description = "The token no longer works."),
        Unauthenticated,
        (status = NOT_FOUND, description = "The request was authenticated with an API key, not a session; revoke keys with `DELETE /v1/api-keys/{api_key_id}`.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete_current_session(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let Credential::Session(session_id) = caller.credential else {
        return Err(ApiError::not_found(
            "this request used an API key, not a session; revoke keys with DELETE /v1/api-keys/{api_key_id}",
        ));
    };
    sqlx::query!(
        "update session set revoked_at = now() where session_id = $1 and revoked_at is null",
        session_id,
    )
    .execute(&state.pool)
    .await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
    ))
}

/// Deletes sessions that expired, or were revoked more than a day ago (the periodic purge,
/// [`crate::maintenance`]); returns how many. Neither kind signs anything in.
pub(crate) async fn purge_expired(executor: impl sqlx::PgExecutor<'_>) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query!("delete from session where expires_at < now() or revoked_at < now() - interval '1 day'")
            .execute(executor)
            .await?
            .rows_affected(),
    )
}
