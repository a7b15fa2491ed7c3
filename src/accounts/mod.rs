//! Accounts: sign-up, the caller's own account (`/v1/me`), and administration of all accounts.

pub(crate) mod fields;
pub(crate) mod queries;

use axum::Json as JsonResponse;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, NO_STORE, Role, password};
use crate::error::{ApiError, FieldError, Problem};
use crate::extract::{Json, Path, Query};
use crate::openapi::responses::{BadJson, NotAdmin, Unauthenticated};
use crate::patch::Patch;
use fields::{DisplayName, Email, Password};

/// The account routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_account, list_accounts))
        .routes(routes!(get_me, update_me, delete_me))
        .routes(routes!(update_account))
}

/// An account, as its owner and administrators see it. Never includes the password.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Account {
    /// Stable identifier.
    pub account_id: Uuid,
    /// Sign-in address, lower-cased.
    #[schema(example = "ann.lee@example.org")]
    pub email: String,
    /// Name shown to others (e.g. on experience reports).
    #[schema(example = "Ann Lee, RT(R)")]
    pub(crate) display_name: String,
    /// `member` or `admin`. Coordinating a site is not a role: see a site's managers.
    pub(crate) role: Role,
    /// A disabled account cannot sign in, and its sessions and API keys stop working.
    pub(crate) disabled: bool,
    /// When the account was created.
    pub(crate) created_at: DateTime<Utc>,
    /// When the account last changed.
    pub(crate) updated_at: DateTime<Utc>,
}

/// Sign-up: a new member account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewAccount {
    /// Sign-in address; unique regardless of case.
    #[schema(example = "ann.lee@example.org", format = Email, max_length = 254)]
    pub(crate) email: String,
    /// Name shown to others, 1 to 100 characters.
    #[schema(example = "Ann Lee, RT(R)", min_length = 1, max_length = 100)]
    pub(crate) display_name: String,
    /// 12 to 256 characters, not easily guessed (no common, repetitive or sequential password,
    /// nor one made of the email or name: the `zxcvbn` estimator must score it 3 of 4 or more).
    /// Stored only as an Argon2id hash.
    #[schema(example = "correct horse battery staple", min_length = 12, max_length = 256, format = Password)]
    pub(crate) password: String,
}

/// Changes to the caller's own account. Role and disabled flag are not among them: sending either
/// is a 422, never silently ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MePatch {
    /// A new display name (1 to 100 characters).
    #[serde(default)]
    #[schema(value_type = Option<String>, nullable = false, min_length = 1, max_length = 100, example = "Ann Lee, RT(R)(CT)")]
    pub(crate) display_name: Patch<String>,
    /// A new password (12 to 256 characters, not easily guessed, as at sign-up); requires
    /// `current_password`. Signs out every other
    /// session.
    #[serde(default)]
    #[schema(value_type = Option<String>, nullable = false, format = Password, min_length = 12, max_length = 256)]
    pub(crate) password: Patch<String>,
    /// The current password, required to set a new one.
    #[serde(default)]
    #[schema(value_type = Option<String>, nullable = false, format = Password, max_length = 256)]
    pub(crate) current_password: Patch<String>,
}

/// What happens to a leaving member's experience reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LeavingReports {
    /// Deleted, and taken out of the statistics.
    Delete,
    /// Kept, shown without a name and linked to no account; they still count in the statistics
    /// (as one respondent).
    KeepAnonymised,
}

/// Deleting one's own account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountDeletion {
    /// The account's password, to confirm.
    #[schema(format = Password, max_length = 256)]
    pub(crate) password: String,
    /// What to do with your experience reports.
    pub(crate) reports: LeavingReports,
}

/// An administrator's changes to an account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountPatch {
    /// A new role.
    #[serde(default)]
    #[schema(value_type = Option<Role>, nullable = false)]
    pub(crate) role: Patch<Role>,
    /// Disable (true) or re-enable (false) the account.
    #[serde(default)]
    #[schema(value_type = Option<bool>, nullable = false)]
    pub(crate) disabled: Patch<bool>,
}

/// Paging through accounts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub(crate) limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
}

/// One page of accounts, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct AccountPage {
    /// The accounts on this page.
    pub(crate) items: Vec<Account>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(required = true)]
    pub(crate) next_cursor: Option<String>,
}

/// Signs up a member. Anyone may call it; the new account has the `member` role.
#[utoipa::path(
    post,
    path = "/v1/accounts",
    tag = "accounts",
    request_body = NewAccount,
    responses(
        (status = CREATED, description = "The account was created. Sign in with `POST /v1/sessions`.", body = Account),
        BadJson,
        (status = CONFLICT, description = "An account with this email exists.", body = Problem, content_type = "application/problem+json"),
        (status = UNPROCESSABLE_ENTITY, description = "A field breaks a rule; every one is listed.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_account(
    State(state): State<AppState>,
    Json(body): Json<NewAccount>,
) -> Result<impl IntoResponse, ApiError> {
    let email = Email::parse("email", &body.email);
    let display_name = DisplayName::parse("display_name", &body.display_name);
    let password = Password::parse("password", body.password, &[&body.email, &body.display_name]);
    let (email, display_name, password) = match (email, display_name, password) {
        (Ok(e), Ok(d), Ok(p)) => (e, d, p),
        (e, d, p) => {
            let errors = [e.err(), d.err(), p.err()].into_iter().flatten().collect();
            return Err(ApiError::validation(errors));
        }
    };
    let hash = password::hash(password.into_inner()).await?;
    let account = queries::create(&state.pool, &email, &display_name, &hash, Role::Member).await?;
    Ok((StatusCode::CREATED, [NO_STORE], JsonResponse(account)))
}

/// The caller's own account.
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The caller's account.", body = Account),
        Unauthenticated,
    )
)]
pub(crate) async fn get_me(State(state): State<AppState>, caller: Caller) -> Result<impl IntoResponse, ApiError> {
    let account = queries::find(&state.pool, caller.account_id)
        .await?
        .ok_or_else(|| ApiError::not_found("the account no longer exists"))?;
    Ok(([NO_STORE], JsonResponse(account)))
}

/// Changes the caller's display name or password.
#[utoipa::path(
    patch,
    path = "/v1/me",
    tag = "accounts",
    security(("bearer" = [])),
    request_body = MePatch,
    responses(
        (status = OK, description = "The updated account.", body = Account),
        BadJson,
        Unauthenticated,
        (status = UNPROCESSABLE_ENTITY, description = "A field breaks a rule, is not changeable here (`role`, `disabled`), or `current_password` is wrong.", body = Problem, content_type = "application/problem+json"),
        (status = TOO_MANY_REQUESTS, description = "Too many password checks for this account or address (`current_password` counts like a sign-in); see `Retry-After`.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn update_me(
    State(state): State<AppState>,
    caller: Caller,
    crate::http::ClientAddr(addr): crate::http::ClientAddr,
    Json(body): Json<MePatch>,
) -> Result<impl IntoResponse, ApiError> {
    let mut errors = Vec::new();
    let display_name = non_null("display_name", body.display_name, &mut errors).and_then(|raw| {
        DisplayName::parse("display_name", &raw)
            .map_err(|e| errors.push(e))
            .ok()
    });
    let password_sent = body.password.is_present();
    let new_password = non_null("password", body.password, &mut errors).and_then(|raw| {
        let name = display_name.as_ref().map(|n| n.as_str().to_owned()).unwrap_or_default();
        Password::parse("password", raw, &[&name])
            .map_err(|e| errors.push(e))
            .ok()
    });
    let current_sent = body.current_password.is_present();
    let current_password = non_null("current_password", body.current_password, &mut errors);
    if current_password.as_ref().is_some_and(|c| c.chars().count() > 256) {
        errors.push(FieldError::new("current_password", "must be at most 256 characters"));
    }
    if password_sent && !current_sent {
        errors.push(FieldError::new("current_password", "is required to set a new password"));
    }
    if current_sent && !password_sent {
        errors.push(FieldError::new(
            "current_password",
            "is only accepted with `password` (to set a new one)",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }

    let new_hash = match (new_password, current_password) {
        (Some(new_password), Some(current)) => {
            let stored = queries::password_hash(&state.pool, caller.account_id).await?;
            // The same allowance as signing in: a stolen session cannot guess the password faster.
            let email = stored.as_ref().map_or("", |(email, _)| email.as_str());
            crate::auth::rate_limit::check_password_attempt(&state.limits.sign_in, email, addr)?;
            if !password::verify(current, stored.map(|(_, hash)| hash)).await? {
                return Err(ApiError::validation(vec![FieldError::new(
                    "current_password",
                    "is not the current password",
                )]));
            }
            Some(password::hash(new_password.into_inner()).await?)
        }
        _ => None,
    };
    let account = queries::update_own(&state.pool, &caller, display_name.as_ref(), new_hash.as_deref()).await?;
    Ok(([NO_STORE], JsonResponse(account)))
}

/// Deletes the caller's account, after checking its password: its sessions and API keys stop
/// working at once, it stops managing its sites and its pending claims go. Its experience reports
/// are deleted or kept anonymised (`reports`), and the statistics follow. The site histories keep
/// their entries, naming no one. The only administrator cannot leave (409) until another exists.
#[utoipa::path(
    delete,
    path = "/v1/me",
    tag = "accounts",
    security(("bearer" = [])),
    request_body = AccountDeletion,
    responses(
        (status = NO_CONTENT, description = "The account is gone."),
        BadJson,
        Unauthenticated,
        (status = CONFLICT, description = "The caller is the only administrator.", body = Problem, content_type = "application/problem+json"),
        (status = UNPROCESSABLE_ENTITY, description = "The password is wrong or too long.", body = Problem, content_type = "application/problem+json"),
        (status = TOO_MANY_REQUESTS, description = "Too many password checks for this account or address; see `Retry-After`.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete_me(
    State(state): State<AppState>,
    caller: Caller,
    crate::http::ClientAddr(addr): crate::http::ClientAddr,
    Json(body): Json<AccountDeletion>,
) -> Result<StatusCode, ApiError> {
    if body.password.chars().count() > 256 {
        return Err(ApiError::validation(vec![FieldError::new(
            "password",
            "must be at most 256 characters",
        )]));
    }
    let stored = queries::password_hash(&state.pool, caller.account_id).await?;
    let email = stored.as_ref().map_or("", |(email, _)| email.as_str());
    crate::auth::rate_limit::check_password_attempt(&state.limits.sign_in, email, addr)?;
    if !password::verify(body.password, stored.map(|(_, hash)| hash)).await? {
        return Err(ApiError::validation(vec![FieldError::new(
            "password",
            "is not the account's password",
        )]));
    }
    let mut tx = state.pool.begin().await?;
    if caller.is_admin() && queries::lock_other_admins(&mut tx, caller.account_id).await? == 0 {
        return Err(ApiError::conflict(
            "you are the only administrator: make another account an administrator first",
        ));
    }
    crate::reports::on_account_deletion(&mut tx, caller.account_id, body.reports).await?;
    queries::delete(&mut *tx, caller.account_id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists every account, oldest first (administrators only).
#[utoipa::path(
    get,
    path = "/v1/accounts",
    tag = "accounts",
    security(("bearer" = [])),
    params(AccountQuery),
    responses(
        (status = OK, description = "A page of accounts.", body = AccountPage),
        (status = BAD_REQUEST, description = "A malformed `limit` or `cursor`.", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        NotAdmin,
    )
)]
pub(crate) async fn list_accounts(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<AccountQuery>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let (limit, after) = crate::pagination::page(query.limit, query.cursor.as_deref())?;
    let mut items = queries::list(&state.pool, after, i64::from(limit) + 1).await?;
    let next_cursor = crate::pagination::next_cursor(&mut items, limit, |account| account.account_id);
    Ok(([NO_STORE], JsonResponse(AccountPage { items, next_cursor })))
}

/// Changes an account's role or disabled flag (administrators only). Administrators cannot demote
/// or disable themselves, so the last one cannot lock everybody out.
#[utoipa::path(
    patch,
    path = "/v1/accounts/{account_id}",
    tag = "accounts",
    security(("bearer" = [])),
    params(("account_id" = Uuid, Path, description = "The account to change.")),
    request_body = AccountPatch,
    responses(
        (status = OK, description = "The updated account.", body = Account),
        (status = BAD_REQUEST, description = "The body is not valid JSON, or the id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        NotAdmin,
        (status = NOT_FOUND, description = "No such account.", body = Problem, content_type = "application/problem+json"),
        (status = UNPROCESSABLE_ENTITY, description = "A field breaks a rule.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn update_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(account_id): Path<Uuid>,
    Json(body): Json<AccountPatch>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let mut errors = Vec::new();
    let role = non_null("role", body.role, &mut errors);
    let disabled = non_null("disabled", body.disabled, &mut errors);
    if account_id == caller.account_id {
        if role.is_some_and(|role| role != Role::Admin) {
            errors.push(FieldError::new("role", "administrators cannot demote themselves"));
        }
        if disabled == Some(true) {
            errors.push(FieldError::new("disabled", "administrators cannot disable themselves"));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let account = queries::update_by_admin(&state.pool, account_id, role.as_ref(), disabled.as_ref())
        .await?
        .ok_or_else(|| ApiError::not_found("no account has this id"))?;
    Ok(([NO_STORE], JsonResponse(account)))
}

/// A PATCH field that may be left out but not cleared: the value if sent, `None` if absent, and a
/// recorded problem for `null`.
fn non_null<T>(field: &str, patch: Patch<T>, errors: &mut Vec<FieldError>) -> Option<T> {
    match patch {
        Patch::Absent => None,
        Patch::Null => {
            errors.push(FieldError::new(field, "cannot be null"));
            None
        }
        Patch::Value(value) => Some(value),
    }
}

/// Creates an administrator with a random one-time password, for `clinical-sites admin create`.
/// Returns the password, which is shown once and never stored in clear.
pub async fn create_admin(pool: &sqlx::PgPool, email: &str, display_name: &str) -> Result<(Account, String), String> {
    let email = Email::parse("email", email).map_err(|e| format!("--email {}", e.message))?;
    let display_name =
        DisplayName::parse("display_name", display_name).map_err(|e| format!("--display-name {}", e.message))?;
    let one_time = crate::auth::token::generate(crate::auth::token::Kind::Session).plain[4..36].to_owned();
    let hash = password::hash(one_time.clone()).await.map_err(|e| e.to_string())?;
    let account = queries::create(pool, &email, &display_name, &hash, Role::Admin)
        .await
        .map_err(|e| e.to_string())?;
    Ok((account, one_time))
}
