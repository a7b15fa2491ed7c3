//! The SQL of accounts.

use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use super::Account;
use super::fields::{DisplayName, Email};
use crate::auth::{Caller, Credential, Role};
use crate::error::{ApiError, constraint_error};

/// Inserts an account; 409 when the email is taken.
pub(crate) async fn create(
    executor: impl PgExecutor<'_>,
    email: &Email,
    display_name: &DisplayName,
    password_hash: &str,
    role: Role,
) -> Result<Account, ApiError> {
    sqlx::query_as!(
        Account,
        r#"insert into account (account_id, email, display_name, password_hash, role)
           values ($1, $2, $3, $4, $5)
           returning account_id, email, display_name, role as "role: Role", disabled, created_at, updated_at"#,
        Uuid::now_v7(),
        email.as_str(),
        display_name.as_str(),
        password_hash,
        role as Role,
    )
    .fetch_one(executor)
    .await
    .map_err(|error| {
        constraint_error(error, |constraint| {
            (constraint == "account_email_key").then(|| ApiError::conflict("an account with this email already exists"))
        })
    })
}

/// The account with this id.
pub(crate) async fn find(executor: impl PgExecutor<'_>, account_id: Uuid) -> Result<Option<Account>, ApiError> {
    Ok(sqlx::query_as!(
        Account,
        r#"select account_id, email, display_name, role as "role: Role", disabled, created_at, updated_at
             from account where account_id = $1"#,
        account_id,
    )
    .fetch_optional(executor)
    .await?)
}

/// The email and stored password hash of an account.
pub(crate) async fn password_hash(
    executor: impl PgExecutor<'_>,
    account_id: Uuid,
) -> Result<Option<(String, String)>, ApiError> {
    let row = sqlx::query!(
        "select email, password_hash from account where account_id = $1",
        account_id
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.map(|row| (row.email, row.password_hash)))
}

/// The id and password hash of the enabled account with this email, for signing in.
pub(crate) async fn credentials_by_email(
    executor: impl PgExecutor<'_>,
    email: &Email,
) -> Result<Option<(Uuid, String)>, ApiError> {
    let row = sqlx::query!(
        "select account_id, password_hash from account where email = $1 and not disabled",
        email.as_str(),
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.map(|row| (row.account_id, row.password_hash)))
}

/// Applies the caller's own changes. A new password also revokes every other session of the
/// account, in the same transaction.
pub(crate) async fn update_own(
    pool: &PgPool,
    caller: &Caller,
    display_name: Option<&DisplayName>,
    password_hash: Option<&str>,
) -> Result<Account, ApiError> {
    let mut tx = pool.begin().await?;
    let account = sqlx::query_as!(
        Account,
        r#"update account
              set display_name = coalesce($2, display_name),
                  password_hash = coalesce($3, password_hash)
            where account_id = $1
            returning account_id, email, display_name, role as "role: Role", disabled, created_at, updated_at"#,
        caller.account_id,
        display_name.map(DisplayName::as_str),
        password_hash,
    )
    .fetch_one(&mut *tx)
    .await?;
    if password_hash.is_some() {
        let keep = match caller.credential {
            Credential::Session(session_id) => Some(session_id),
            Credential::ApiKey(_) => None,
        };
        sqlx::query!(
            "update session set revoked_at = now()
              where account_id = $1 and revoked_at is null and session_id is distinct from $2",
            caller.account_id,
            keep,
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(account)
}

/// A page of accounts after `after` (by id, which is time-ordered).
pub(crate) async fn list(
    executor: impl PgExecutor<'_>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Account>, ApiError> {
    Ok(sqlx::query_as!(
        Account,
        r#"select account_id, email, display_name, role as "role: Role", disabled, created_at, updated_at
             from account
            where ($1::uuid is null or account_id > $1)
            order by account_id
            limit $2"#,
        after,
        limit,
    )
    .fetch_all(executor)
    .await?)
}

/// Applies an administrator's changes; `None` when there is no such account.
pub(crate) async fn update_by_admin(
    executor: impl PgExecutor<'_>,
    account_id: Uuid,
    role: Option<&Role>,
    disabled: Option<&bool>,
) -> Result<Option<Account>, ApiError> {
    Ok(sqlx::query_as!(
        Account,
        r#"update account
              set role = coalesce($2, role),
                  disabled = coalesce($3, disabled)
            where account_id = $1
            returning account_id, email, display_name, role as "role: Role", disabled, created_at, updated_at"#,
        account_id,
        role.copied() as Option<Role>,
        disabled.copied(),
    )
    .fetch_optional(executor)
    .await?)
}

/// Locks the enabled administrators other than `account_id` (so two cannot leave at once and
/// leave none); how many there are.
pub(crate) async fn lock_other_admins(conn: &mut sqlx::PgConnection, account_id: Uuid) -> Result<usize, ApiError> {
    let others = sqlx::query_scalar!(
        "select account_id from account where role = 'admin' and not disabled and account_id <> $1
          order by account_id for update",
        account_id
    )
    .fetch_all(conn)
    .await?;
    Ok(others.len())
}

/// Deletes an account; its sessions, keys, managed sites and claims go with it (the schema's
/// cascades), and the rows that name it keep no link (set null).
pub(crate) async fn delete(executor: impl PgExecutor<'_>, account_id: Uuid) -> Result<(), ApiError> {
    sqlx::query!("delete from account where account_id = $1", account_id)
        .execute(executor)
        .await?;
    Ok(())
}
