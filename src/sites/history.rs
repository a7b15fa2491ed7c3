//! A site's change history: who changed what, when, with old and new values.

use axum::Json as JsonResponse;
use axum::extract::State;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::authorize_edit;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{Path, Query};
use crate::openapi::responses::{NotSiteEditor, SiteNotFound, Unauthenticated};
use crate::vocabulary::SiteChangeKind;

/// One recorded change.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct SiteChange {
    /// Stable identifier.
    pub(crate) site_change_id: Uuid,
    /// What happened.
    pub(crate) kind: SiteChangeKind,
    /// Who made the change (`null` once that account is deleted).
    #[schema(required = true)]
    pub(crate) account_id: Option<Uuid>,
    /// The changed fields: `{"field": {"old": ..., "new": ...}}`; offers appear as
    /// `offers.<modality>`. Claim decisions carry the claim and claimant. A `create` or `update`
    /// let through the duplicate guard by `duplicate_override_reason` carries
    /// `duplicate_override`: `{"reason": ..., "existing": {"id": ..., "name": ...}}`, the site it
    /// was taken for.
    #[schema(value_type = SiteChanges, example = json!({"payment": {"old": "free", "new": "fee"}, "offers.ct": {"old": {"capacity": 1}, "new": {"capacity": 2}}}))]
    pub(crate) changes: serde_json::Value,
    /// When.
    pub(crate) created_at: DateTime<Utc>,
}

/// What one change changed: each changed field (offers as `offers.<modality>`) with its old and
/// new value, and for claim decisions and duplicate overrides the entries named here.
pub(crate) struct SiteChanges;

impl utoipa::PartialSchema for SiteChanges {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
        use utoipa::openapi::{Ref, RefOr};
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "What one change changed: each changed field (offers as `offers.<modality>`) with its old and \
                 new value (`FieldChange`); a claim decision carries `claim`, a change let through the \
                 duplicate guard carries `duplicate_override`, a change written by an import carries `import`, and a change of an experience report \
                 carries `report` (which report) with its changed fields as `report.<field>` (a comment by \
                 its length only).",
            ))
            .property("claim", Ref::from_schema_name("ClaimChange"))
            .property("duplicate_override", Ref::from_schema_name("DuplicateOverride"))
            .property("import", Ref::from_schema_name("ImportChange"))
            .property("report", Ref::from_schema_name("ReportChange"))
            .additional_properties(Some(AdditionalProperties::RefOr(RefOr::Ref(Ref::from_schema_name(
                "FieldChange",
            )))))
            .into()
    }
}

impl ToSchema for SiteChanges {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        use utoipa::PartialSchema;
        schemas.push(("ClaimChange".into(), ClaimChange::schema()));
        schemas.push(("DuplicateOverride".into(), DuplicateOverride::schema()));
        schemas.push(("ImportChange".into(), ImportChange::schema()));
        schemas.push(("OverriddenSite".into(), OverriddenSite::schema()));
        schemas.push(("FieldChange".into(), FieldChange::schema()));
        schemas.push(("ReportChange".into(), ReportChange::schema()));
        schemas.push(("ClaimStatus".into(), crate::vocabulary::ClaimStatus::schema()));
    }
}

/// The import that wrote a change (`changes.import` of a `create` or `update`).
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "the contract's description of a value the server writes as JSON"
)]
pub(crate) struct ImportChange {
    /// The import.
    id: Uuid,
    /// Its record, `/v1/imports/{import_id}`.
    #[schema(example = "/v1/imports/01938f5e-7a1b-7c3d-9e2f-123456789abc")]
    href: String,
}

/// A field's value before and after a change (`null` where there was or is none).
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "the contract's description of a value the server writes as JSON; never built"
)]
pub(crate) struct FieldChange {
    /// The value before.
    #[schema(value_type = serde_json::Value, required = true)]
    pub(crate) old: (),
    /// The value after.
    #[schema(value_type = serde_json::Value, required = true)]
    pub(crate) new: (),
}

/// A claim decision, as its history entry records it.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "the contract's description of a value the server writes as JSON; never built"
)]
pub(crate) struct ClaimChange {
    /// The claim.
    pub(crate) site_claim_id: Uuid,
    /// The claimant.
    pub(crate) account_id: Uuid,
    /// The decision.
    #[schema(value_type = crate::vocabulary::ClaimStatus)]
    pub(crate) status: String,
}

/// The experience report a change was about, as its history entry records it.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "the contract's description of a value the server writes as JSON; never built"
)]
pub(crate) struct ReportChange {
    /// The report.
    pub(crate) site_report_id: Uuid,
    /// Its modality.
    pub(crate) modality: crate::vocabulary::Modality,
    /// Its year.
    pub(crate) year: i16,
}

/// Why a site the duplicate guard took for a listed one was created or changed anyway.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "the contract's description of a value the server writes as JSON; never built"
)]
pub(crate) struct DuplicateOverride {
    /// The reason given.
    pub(crate) reason: String,
    /// The listed site it was taken for.
    pub(crate) existing: OverriddenSite,
}

/// The listed site a duplicate override was about.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "the contract's description of a value the server writes as JSON; never built"
)]
pub(crate) struct OverriddenSite {
    /// Its identifier.
    pub(crate) id: Uuid,
    /// Its name then.
    pub(crate) name: String,
}

/// One page of history, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct SiteChangePage {
    /// The changes on this page.
    pub(crate) items: Vec<SiteChange>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    #[schema(required = true)]
    pub(crate) next_cursor: Option<String>,
}

/// Paging through history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub(crate) limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
}

/// A site's history, newest first (its managers and administrators).
#[utoipa::path(
    get,
    path = "/v1/sites/{site_id}/history",
    tag = "sites",
    security(("bearer" = [])),
    params(("site_id" = Uuid, Path, description = "The site."), HistoryQuery),
    responses(
        (status = OK, description = "A page of changes.", body = SiteChangePage),
        (status = BAD_REQUEST, description = "A malformed id, `limit` or `cursor`.", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        NotSiteEditor,
        SiteNotFound,
    )
)]
pub(crate) async fn list_site_history(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<Uuid>,
    Query(query): Query<HistoryQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let (limit, before) = crate::pagination::page(query.limit, query.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let exists = sqlx::query_scalar!(
        r#"select exists (select 1 from site where site_id = $1) as "exists!""#,
        site_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    if !exists {
        return Err(ApiError::not_found("no site has this id"));
    }
    authorize_edit(&mut conn, &caller, site_id).await?;
    let mut items = sqlx::query_as!(
        SiteChange,
        r#"select site_change_id, kind as "kind: SiteChangeKind", account_id, changes, created_at
           from site_change
          where site_id = $1 and ($2::uuid is null or site_change_id < $2)
          order by site_change_id desc
          limit $3"#,
        site_id,
        before,
        i64::from(limit) + 1,
    )
    .fetch_all(&mut *conn)
    .await?;
    let next_cursor = crate::pagination::next_cursor(&mut items, limit, |change| change.site_change_id);
    Ok(JsonResponse(SiteChangePage { items, next_cursor }))
}
