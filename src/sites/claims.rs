//! Claims: a coordinator asks to manage an existing listing; an administrator approves (the
//! claimant becomes a manager) or rejects. A site may have several managers.

use axum::Json as JsonResponse;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::queries;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, FieldError, Problem};
use crate::extract::{Json, Path, Query};
use crate::openapi::responses::{BadJsonOrId, ClaimDecided, ClaimNotFound, NotAdmin, SiteNotFound, Unauthenticated};
use crate::vocabulary::{ClaimStatus, CodeSet, SiteChangeKind, SiteStatus};

/// The claim routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_claim))
        .routes(routes!(list_claims))
        .routes(routes!(approve_claim))
        .routes(routes!(reject_claim))
}

/// A request to manage a site.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct Claim {
    /// Stable identifier.
    pub(crate) site_claim_id: Uuid,
    /// The site claimed.
    pub(crate) site_id: Uuid,
    /// The site's name, for an administrator's list.
    #[schema(example = "Riverside Imaging Center")]
    pub(crate) site_name: String,
    /// The claimant.
    pub(crate) account_id: Uuid,
    /// Why the claimant should manage the site.
    #[schema(example = "I am the CT clinical coordinator; my work email is jlee@riverside.example.org")]
    pub(crate) justification: String,
    /// Where the claim stands.
    pub(crate) status: ClaimStatus,
    /// The administrator who decided; `null` while pending.
    #[schema(required = true)]
    pub(crate) decided_by: Option<Uuid>,
    /// When it was decided; `null` while pending.
    #[schema(required = true)]
    pub(crate) decided_at: Option<DateTime<Utc>>,
    /// The administrator's note; `null` without one.
    #[schema(required = true)]
    pub(crate) decision_note: Option<String>,
    /// When the claim was made.
    pub(crate) created_at: DateTime<Utc>,
}

/// Asking to manage a site.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewClaim {
    /// Who you are at the facility and how an administrator can check it (work email, role), 10 to
    /// 1000 characters.
    #[schema(
        min_length = 10,
        max_length = 1000,
        example = "I am the CT clinical coordinator; my work email is jlee@riverside.example.org"
    )]
    pub(crate) justification: String,
}

/// An administrator's decision.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClaimDecision {
    /// An optional note to the claimant (1 to 1000 characters, no control characters but line
    /// breaks).
    #[schema(min_length = 1, max_length = 1000)]
    pub(crate) note: Option<String>,
}

/// Filtering and paging claims.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClaimQuery {
    /// Which claims: `pending` (default), `approved` or `rejected`.
    #[param(value_type = Option<ClaimStatus>)]
    pub(crate) status: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub(crate) limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
}

/// One page of claims, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ClaimPage {
    /// The claims on this page.
    pub(crate) items: Vec<Claim>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true)]
    pub(crate) next_cursor: Option<String>,
}

/// Asks to manage a site: for coordinators of a facility someone else listed.
#[utoipa::path(
    post,
    path = "/v1/sites/{site_id}/claims",
    tag = "claims",
    security(("bearer" = [])),
    params(("site_id" = Uuid, Path, description = "The site to manage.")),
    request_body = NewClaim,
    responses(
        (status = CREATED, description = "The pending claim.", body = Claim),
        BadJsonOrId,
        Unauthenticated,
        SiteNotFound,
        (status = CONFLICT, description = "The caller already manages the site or has a pending claim on it, or the site is archived.", body = Problem, content_type = "application/problem+json"),
        (status = UNPROCESSABLE_ENTITY, description = "The justification is too short or too long.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_claim(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<Uuid>,
    Json(body): Json<NewClaim>,
) -> Result<impl IntoResponse, ApiError> {
    let justification = body.justification.trim();
    if !(10..=1000).contains(&justification.chars().count())
        || justification.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(ApiError::validation(vec![FieldError::new(
            "justification",
            "must be 10 to 1000 characters without control characters: say who you are at the facility and how to check it",
        )]));
    }
    let mut tx = state.pool.begin().await?;
    let (_, status) = queries::lock(&mut tx, site_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no site has this id"))?;
    if status == SiteStatus::Archived {
        return Err(ApiError::conflict("the site is archived"));
    }
    if queries::is_manager(&mut *tx, site_id, caller.account_id).await? {
        return Err(ApiError::conflict("you already manage this site"));
    }
    let claim_id = Uuid::now_v7();
    queries::insert_claim(&mut *tx, claim_id, site_id, caller.account_id, justification).await?;
    let claim = find(&mut tx, claim_id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, JsonResponse(claim)))
}

async fn find(conn: &mut sqlx::PgConnection, claim_id: Uuid) -> Result<Claim, ApiError> {
    queries::claim(conn, claim_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no claim has this id"))
}

/// Lists claims by status, oldest first (administrators).
#[utoipa::path(
    get,
    path = "/v1/claims",
    tag = "claims",
    security(("bearer" = [])),
    params(ClaimQuery),
    responses(
        (status = OK, description = "A page of claims.", body = ClaimPage),
        (status = BAD_REQUEST, description = "A malformed `status`, `limit` or `cursor`.", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        NotAdmin,
    )
)]
pub(crate) async fn list_claims(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ClaimQuery>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let status = match query.status.as_deref() {
        None => ClaimStatus::Pending,
        Some(code) => ClaimStatus::from_code(code).ok_or_else(|| {
            ApiError::bad_request(
                format!("query parameter `status` must be one of: {}", ClaimStatus::allowed()),
                vec![FieldError::new(
                    "status",
                    format!("must be one of: {}", ClaimStatus::allowed()),
                )],
            )
        })?,
    };
    let (limit, after) = crate::pagination::page(query.limit, query.cursor.as_deref())?;
    let mut items = queries::claims(&state.pool, status, after, i64::from(limit) + 1).await?;
    let next_cursor = crate::pagination::next_cursor(&mut items, limit, |claim| claim.site_claim_id);
    Ok(JsonResponse(ClaimPage { items, next_cursor }))
}

/// Approves a pending claim (administrators): the claimant becomes a manager of the site.
#[utoipa::path(
    post,
    path = "/v1/claims/{site_claim_id}/approve",
    tag = "claims",
    security(("bearer" = [])),
    params(("site_claim_id" = Uuid, Path, description = "The claim.")),
    request_body(content = Option<ClaimDecision>, description = "An optional note."),
    responses(
        (status = OK, description = "The approved claim.", body = Claim),
        BadJsonOrId,
        Unauthenticated,
        NotAdmin,
        ClaimNotFound,
        ClaimDecided,
        (status = UNPROCESSABLE_ENTITY, description = "The note is too long or the body has unknown fields.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn approve_claim(
    State(state): State<AppState>,
    caller: Caller,
    Path(claim_id): Path<Uuid>,
    body: Option<Json<ClaimDecision>>,
) -> Result<impl IntoResponse, ApiError> {
    decide(
        &state,
        &caller,
        claim_id,
        body.map(|Json(d)| d).unwrap_or_default(),
        true,
    )
    .await
}

/// Rejects a pending claim (administrators).
#[utoipa::path(
    post,
    path = "/v1/claims/{site_claim_id}/reject",
    tag = "claims",
    security(("bearer" = [])),
    params(("site_claim_id" = Uuid, Path, description = "The claim.")),
    request_body(content = Option<ClaimDecision>, description = "An optional note."),
    responses(
        (status = OK, description = "The rejected claim.", body = Claim),
        BadJsonOrId,
        Unauthenticated,
        NotAdmin,
        ClaimNotFound,
        ClaimDecided,
        (status = UNPROCESSABLE_ENTITY, description = "The note is too long or the body has unknown fields.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn reject_claim(
    State(state): State<AppState>,
    caller: Caller,
    Path(claim_id): Path<Uuid>,
    body: Option<Json<ClaimDecision>>,
) -> Result<impl IntoResponse, ApiError> {
    decide(
        &state,
        &caller,
        claim_id,
        body.map(|Json(d)| d).unwrap_or_default(),
        false,
    )
    .await
}

async fn decide(
    state: &AppState,
    caller: &Caller,
    claim_id: Uuid,
    decision: ClaimDecision,
    approve: bool,
) -> Result<JsonResponse<Claim>, ApiError> {
    caller.require_admin()?;
    let note = match decision.note.as_deref().map(str::trim) {
        Some(note) if note.chars().count() > 1000 || note.chars().any(|c| c.is_control() && c != '\n') => {
            return Err(ApiError::validation(vec![FieldError::new(
                "note",
                "must be at most 1000 characters, without control characters",
            )]));
        }
        Some("") | None => None,
        Some(note) => Some(note.to_owned()),
    };
    let mut tx = state.pool.begin().await?;
    let (site_id, claimant, status) = queries::lock_claim(&mut tx, claim_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no claim has this id"))?;
    if status != ClaimStatus::Pending {
        return Err(ApiError::conflict(format!("the claim was already {status}")));
    }
    let (new_status, kind) = if approve {
        (ClaimStatus::Approved, SiteChangeKind::ClaimApproved)
    } else {
        (ClaimStatus::Rejected, SiteChangeKind::ClaimRejected)
    };
    queries::decide_claim(&mut *tx, claim_id, new_status, caller.account_id, note.as_deref()).await?;
    if approve {
        queries::add_manager(&mut *tx, site_id, claimant).await?;
    }
    let changes = json!({"claim": {"site_claim_id": claim_id, "account_id": claimant, "status": new_status}});
    queries::record_change(&mut *tx, site_id, caller.account_id, kind, &changes).await?;
    let claim = find(&mut tx, claim_id).await?;
    tx.commit().await?;
    Ok(JsonResponse(claim))
}
