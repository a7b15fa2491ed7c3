//! Experience reports: a member reports what one rotation at a site really asked of them (the
//! ASRT survey's questions), everyone reads them, and the statistics count them.
//!
//! Every write runs in one transaction: the site locked first, then the respondent
//! ([`tally::Recount`]), the report written, the running counts adjusted and the change recorded
//! in the site's history. Comments are never copied into the history (a hidden comment must not
//! live on there): a comment change is recorded by its length.

pub(crate) mod input;
pub(crate) mod model;
pub(crate) mod queries;
pub(crate) mod stats;
pub(crate) mod summary;
pub mod tally;

use axum::Json as JsonResponse;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sqlx::PgConnection;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, MaybeCaller};
use crate::error::{ApiError, FieldError, Problem};
use crate::extract::{Json, Path, Query};
use crate::openapi::responses::{BadId, BadJsonOrId, NotAdmin, SiteNotFound, StaleRevision, Unauthenticated};
use crate::replica::Reads;
use crate::vocabulary::{CodeSet, Modality, SiteChangeKind};
use input::{REPORT_FIELDS, ValidReport, read_patched_report, read_report};
use model::{HideReport, NewReport, ReportPatch, SiteReport, SiteReportPage};
use tally::Recount;

/// The report routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_report, list_reports))
        .routes(routes!(get_report, update_report, delete_report))
        .routes(routes!(hide_report, unhide_report))
        .routes(routes!(stats::get_stats))
}

/// The URL of a report.
fn report_href(site_id: Uuid, site_report_id: Uuid) -> String {
    format!("/v1/sites/{site_id}/reports/{site_report_id}")
}

/// A report response: the body with its `ETag`.
fn report_response(status: StatusCode, report: &SiteReport) -> Response {
    let mut response = (status, JsonResponse(report)).into_response();
    if let Ok(etag) = HeaderValue::from_str(&report.etag()) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// Locks the site a write is about (first, before its respondents: one order for every writer).
async fn lock_site(conn: &mut PgConnection, site_id: Uuid) -> Result<(), ApiError> {
    crate::sites::queries::lock(conn, site_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no site has this id"))?;
    Ok(())
}

/// The report, locked, or 404.
async fn find_locked(conn: &mut PgConnection, site_id: Uuid, site_report_id: Uuid) -> Result<SiteReport, ApiError> {
    queries::find(conn, site_id, site_report_id, true)
        .await?
        .ok_or_else(|| ApiError::not_found("this site has no report with this id"))
}

/// 422 unless the site offers the modality or did once.
async fn check_modality(conn: &mut PgConnection, site_id: Uuid, modality: Modality) -> Result<(), ApiError> {
    offered(queries::offers_or_offered(conn, site_id, modality).await?, modality)
}

/// Locks the site (404 without one), then 422 unless it offers the modality or did once.
async fn lock_site_offering(
    conn: &mut PgConnection,
    site_id: Uuid,
    modality: Modality,
) -> Result<queries::LockedSite, ApiError> {
    let site = queries::lock_site_offering(conn, site_id, modality)
        .await?
        .ok_or_else(|| ApiError::not_found("no site has this id"))?;
    offered(site.offered, modality)?;
    Ok(site)
}

fn offered(offered: bool, modality: Modality) -> Result<(), ApiError> {
    if offered {
        Ok(())
    } else {
        Err(ApiError::validation(vec![FieldError::new(
            "modality",
            format!(
                "this site neither offers nor has offered {} ({}); report a modality it trained you in",
                modality.display(),
                modality.code()
            ),
        )]))
    }
}

/// The fields of a report a patch applies to.
fn editable_json(report: &SiteReport) -> Value {
    let full = serde_json::to_value(report).expect("a report serializes");
    let fields = full
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(key, value)| REPORT_FIELDS.contains(&key.as_str()) && !value.is_null())
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    Value::Object(fields)
}

/// A value as the history records it: a comment by its length only.
fn recorded(field: &str, value: Option<&Value>) -> Value {
    match (field, value) {
        (_, None) => Value::Null,
        ("comment", Some(Value::String(text))) => json!(format!("({} characters)", text.chars().count())),
        (_, Some(value)) => value.clone(),
    }
}

/// The history entry of a report change: which report, and each changed field as
/// `report.<field>` with its old and new value.
fn report_changes(report: &SiteReport, before: &Value, after: &Value) -> Value {
    let mut changes = Map::new();
    changes.insert(
        "report".to_owned(),
        json!({"site_report_id": report.site_report_id, "modality": report.modality, "year": report.year}),
    );
    for field in REPORT_FIELDS.iter() {
        let (old, new) = (before.get(*field), after.get(*field));
        if old != new {
            changes.insert(
                format!("report.{field}"),
                json!({"old": recorded(field, old), "new": recorded(field, new)}),
            );
        }
    }
    Value::Object(changes)
}

/// Who the history names for a report change: nobody when the author stays anonymous (the
/// site's managers read the history).
fn recorded_author(caller: &Caller, report: &ValidReport) -> Option<Uuid> {
    (!report.anonymous).then_some(caller.account_id)
}

/// Reports a rotation at a site (signed-in members). One report per member, site, modality and
/// year. The comment is public: never write patient data or anyone's identifiers; comments that
/// look like they hold some (dates of birth, record numbers, contact details) are refused.
#[utoipa::path(
    post,
    path = "/v1/sites/{site_id}/reports",
    tag = "reports",
    security(("bearer" = [])),
    params(("site_id" = Uuid, Path, description = "The site.")),
    request_body = NewReport,
    responses(
        (status = CREATED, description = "The report; `Location` and `ETag` are set.", body = SiteReport,
         headers(("Location" = String, description = "The report's URL."), ("ETag" = String, description = "Its revision."))),
        BadJsonOrId,
        Unauthenticated,
        SiteNotFound,
        (status = CONFLICT, description = "The caller already reported a rotation at this site for this modality and year.", body = Problem, content_type = "application/problem+json"),
        (status = UNPROCESSABLE_ENTITY, description = "Fields break rules (all listed), the site never offered the modality, or the comment looks like it holds an identifier.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_report(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<Uuid>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let report = read_report(&body).map_err(ApiError::validation)?;
    let mut tx = state.pool.begin().await?;
    let site = lock_site_offering(&mut tx, site_id, report.modality).await?;
    let (respondent, recount) = Recount::begin_for_account(&mut tx, caller.account_id).await?;
    let site_report_id = Uuid::now_v7();
    queries::save(&mut tx, site_report_id, site_id, respondent, &report).await?;
    let tally = recount.changes_adding((!site.demo).then(|| report.facts(respondent, site)));
    // Written by this transaction, so no lock is needed to read it.
    let created = queries::find(&mut tx, site_id, site_report_id, false)
        .await?
        .ok_or_else(|| ApiError::internal("a report written in this transaction vanished"))?;
    let changes = report_changes(&created, &Value::Object(Map::new()), &editable_json(&created));
    let author = recorded_author(&caller, &report);
    summary::refresh_and_record(&mut tx, site_id, author, SiteChangeKind::ReportCreate, &changes, tally).await?;
    tx.commit().await?;
    metrics::counter!(crate::metrics::REPORTS_WRITTEN, "action" => "created").increment(1);
    let mut response = report_response(StatusCode::CREATED, &created);
    if let Ok(location) = HeaderValue::from_str(&report_href(site_id, site_report_id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Filtering and paging a site's reports.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportQuery {
    /// Only reports of this modality.
    #[param(value_type = Option<Modality>)]
    pub(crate) modality: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub(crate) limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
}

/// A site's reports, newest first; public. Hidden reports are left out, except for their author
/// and administrators (who see `hidden`).
#[utoipa::path(
    get,
    path = "/v1/sites/{site_id}/reports",
    tag = "reports",
    params(("site_id" = Uuid, Path, description = "The site."), ReportQuery),
    responses(
        (status = OK, description = "A page of reports.", body = SiteReportPage),
        (status = BAD_REQUEST, description = "A malformed id, `modality`, `limit` or `cursor`.", body = Problem, content_type = "application/problem+json"),
        SiteNotFound,
    )
)]
pub(crate) async fn list_reports(
    reads: Reads,
    MaybeCaller(caller): MaybeCaller,
    Path(site_id): Path<Uuid>,
    Query(query): Query<ReportQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let modality = match query.modality.as_deref() {
        None => None,
        Some(code) => Some(Modality::from_code(code).ok_or_else(|| {
            ApiError::bad_request(
                format!("query parameter `modality` must be one of: {}", Modality::allowed()),
                vec![FieldError::new(
                    "modality",
                    format!("must be one of: {}", Modality::allowed()),
                )],
            )
        })?),
    };
    let (limit, before) = crate::pagination::page(query.limit, query.cursor.as_deref())?;
    let viewer = caller.map(|c| c.account_id);
    let admin = caller.is_some_and(|c| c.is_admin());
    let mut items = reads
        .run(|mut conn| async move {
            let exists = sqlx::query_scalar!(
                r#"select exists (select 1 from site where site_id = $1) as "exists!""#,
                site_id
            )
            .fetch_one(&mut *conn)
            .await?;
            if !exists {
                return Err(ApiError::not_found("no site has this id"));
            }
            queries::page(
                &mut *conn,
                site_id,
                modality,
                viewer,
                admin,
                before,
                i64::from(limit) + 1,
            )
            .await
        })
        .await?;
    let next_cursor = crate::pagination::next_cursor(&mut items, limit, |report| report.site_report_id);
    Ok(JsonResponse(SiteReportPage { items, next_cursor }))
}

/// One report; public unless hidden (then only its author and administrators). Answers `304 Not
/// Modified` when `If-None-Match` names the current `ETag`.
#[utoipa::path(
    get,
    path = "/v1/sites/{site_id}/reports/{site_report_id}",
    tag = "reports",
    params(
        ("site_id" = Uuid, Path, description = "The site."),
        ("site_report_id" = Uuid, Path, description = "The report."),
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` the client has; 304 if still current."),
    ),
    responses(
        (status = OK, description = "The report, with its `ETag`.", body = SiteReport, headers(("ETag" = String, description = "Its revision."))),
        (status = NOT_MODIFIED, description = "The client's copy is current."),
        BadId,
        (status = NOT_FOUND, description = "No such site or report (or it is hidden).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_report(
    reads: Reads,
    MaybeCaller(caller): MaybeCaller,
    Path((site_id, site_report_id)): Path<(Uuid, Uuid)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let report = reads
        .run(|mut conn| async move { queries::find(&mut conn, site_id, site_report_id, false).await })
        .await?
        .filter(|report| report.hidden.is_none() || caller.is_some_and(|c| may_see_hidden(&c, report)))
        .ok_or_else(|| ApiError::not_found("this site has no report with this id"))?;
    if let Some(response) = crate::http::conditional::not_modified(&headers, &report.etag()) {
        return Ok(response);
    }
    Ok(report_response(StatusCode::OK, &report))
}

fn may_see_hidden(caller: &Caller, report: &SiteReport) -> bool {
    caller.is_admin() || report.author_account_id == Some(caller.account_id)
}

/// Changes a report (its author only). The body is a JSON merge patch; `If-Match` with the
/// report's current `ETag` is required; the result must meet the rules of a new report.
#[utoipa::path(
    patch,
    path = "/v1/sites/{site_id}/reports/{site_report_id}",
    tag = "reports",
    security(("bearer" = [])),
    params(
        ("site_id" = Uuid, Path, description = "The site."),
        ("site_report_id" = Uuid, Path, description = "The report."),
        ("If-Match" = String, Header, description = "The report's current `ETag`."),
    ),
    request_body(content = ReportPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = OK, description = "The changed report, with its new `ETag`.", body = SiteReport, headers(("ETag" = String, description = "Its new revision."))),
        BadJsonOrId,
        Unauthenticated,
        (status = FORBIDDEN, description = "The caller did not write this report.", body = Problem, content_type = "application/problem+json"),
        (status = NOT_FOUND, description = "No such site or report.", body = Problem, content_type = "application/problem+json"),
        (status = CONFLICT, description = "The change would make it a second report of the same modality and year at this site.", body = Problem, content_type = "application/problem+json"),
        StaleRevision,
        (status = UNPROCESSABLE_ENTITY, description = "The changed report breaks rules (all listed); nothing was changed.", body = Problem, content_type = "application/problem+json"),
        (status = PRECONDITION_REQUIRED, description = "`If-Match` is missing.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn update_report(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, site_report_id)): Path<(Uuid, Uuid)>,
    headers: HeaderMap,
    Json(patch): Json<Value>,
) -> Result<Response, ApiError> {
    let mut tx = state.pool.begin().await?;
    lock_site(&mut tx, site_id).await?;
    let current = find_locked(&mut tx, site_id, site_report_id).await?;
    if current.author_account_id != Some(caller.account_id) {
        return Err(ApiError::forbidden("only the report's author may change it"));
    }
    let before = editable_json(&current);
    let report = read_patched_report(&before, &patch).map_err(ApiError::validation)?;
    crate::http::conditional::check_if_match(
        &headers,
        current.version,
        true,
        "report",
        "GET /v1/sites/{site_id}/reports/{site_report_id}",
    )?;
    if report.modality != current.modality {
        check_modality(&mut tx, site_id, report.modality).await?;
    }
    let recount = Recount::begin(&mut tx, vec![current.respondent_id]).await?;
    queries::save(&mut tx, site_report_id, site_id, current.respondent_id, &report).await?;
    let updated = find_locked(&mut tx, site_id, site_report_id).await?;
    let changes = report_changes(&updated, &before, &editable_json(&updated));
    if changes.as_object().is_some_and(|c| c.len() == 1) {
        // Nothing changed: keep the revision (and the history) as they were.
        tx.rollback().await?;
        return Ok(report_response(StatusCode::OK, &current));
    }
    let tally = recount.changes(&mut tx).await?;
    let author = recorded_author(&caller, &report);
    summary::refresh_and_record(&mut tx, site_id, author, SiteChangeKind::ReportUpdate, &changes, tally).await?;
    tx.commit().await?;
    metrics::counter!(crate::metrics::REPORTS_WRITTEN, "action" => "updated").increment(1);
    Ok(report_response(StatusCode::OK, &updated))
}

/// Deletes a report (its author or an administrator); it leaves the statistics at once.
/// `If-Match` is honoured when sent.
#[utoipa::path(
    delete,
    path = "/v1/sites/{site_id}/reports/{site_report_id}",
    tag = "reports",
    security(("bearer" = [])),
    params(
        ("site_id" = Uuid, Path, description = "The site."),
        ("site_report_id" = Uuid, Path, description = "The report."),
        ("If-Match" = Option<String>, Header, description = "The report's current `ETag`, to delete only that revision."),
    ),
    responses(
        (status = NO_CONTENT, description = "Deleted."),
        BadId,
        Unauthenticated,
        (status = FORBIDDEN, description = "The caller is neither the report's author nor an administrator.", body = Problem, content_type = "application/problem+json"),
        (status = NOT_FOUND, description = "No such site or report.", body = Problem, content_type = "application/problem+json"),
        StaleRevision,
    )
)]
pub(crate) async fn delete_report(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, site_report_id)): Path<(Uuid, Uuid)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let mut tx = state.pool.begin().await?;
    lock_site(&mut tx, site_id).await?;
    let current = find_locked(&mut tx, site_id, site_report_id).await?;
    let author = current.author_account_id == Some(caller.account_id);
    if !author && !caller.is_admin() {
        return Err(ApiError::forbidden(
            "only the report's author or an administrator may delete it",
        ));
    }
    crate::http::conditional::check_if_match(
        &headers,
        current.version,
        false,
        "report",
        "GET /v1/sites/{site_id}/reports/{site_report_id}",
    )?;
    let recount = Recount::begin(&mut tx, vec![current.respondent_id]).await?;
    queries::delete(&mut *tx, site_report_id).await?;
    let tally = recount.changes(&mut tx).await?;
    let changes =
        json!({"report": {"site_report_id": site_report_id, "modality": current.modality, "year": current.year}});
    let recorded_by = (!(author && current.anonymous)).then_some(caller.account_id);
    summary::refresh_and_record(
        &mut tx,
        site_id,
        recorded_by,
        SiteChangeKind::ReportDelete,
        &changes,
        tally,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Hides a report (administrators), e.g. for patient data in its comment: it leaves the public
/// list and the statistics; its author still sees it, with the reason.
#[utoipa::path(
    post,
    path = "/v1/sites/{site_id}/reports/{site_report_id}/hide",
    tag = "reports",
    security(("bearer" = [])),
    params(
        ("site_id" = Uuid, Path, description = "The site."),
        ("site_report_id" = Uuid, Path, description = "The report."),
    ),
    request_body = HideReport,
    responses(
        (status = OK, description = "The hidden report.", body = SiteReport, headers(("ETag" = String, description = "Its new revision."))),
        BadJsonOrId,
        Unauthenticated,
        NotAdmin,
        (status = NOT_FOUND, description = "No such site or report.", body = Problem, content_type = "application/problem+json"),
        (status = CONFLICT, description = "The report is hidden already.", body = Problem, content_type = "application/problem+json"),
        (status = UNPROCESSABLE_ENTITY, description = "The reason is too short or too long.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn hide_report(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, site_report_id)): Path<(Uuid, Uuid)>,
    Json(body): Json<HideReport>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let reason = body.reason.trim();
    if !(3..=500).contains(&reason.chars().count()) || reason.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::validation(vec![FieldError::new(
            "reason",
            "must be 3 to 500 characters without control characters: say why the report is hidden",
        )]));
    }
    set_hidden(&state, &caller, site_id, site_report_id, Some(reason)).await
}

/// Shows a hidden report again (administrators).
#[utoipa::path(
    delete,
    path = "/v1/sites/{site_id}/reports/{site_report_id}/hide",
    tag = "reports",
    security(("bearer" = [])),
    params(
        ("site_id" = Uuid, Path, description = "The site."),
        ("site_report_id" = Uuid, Path, description = "The report."),
    ),
    responses(
        (status = OK, description = "The report, shown again.", body = SiteReport, headers(("ETag" = String, description = "Its new revision."))),
        BadId,
        Unauthenticated,
        NotAdmin,
        (status = NOT_FOUND, description = "No such site or report.", body = Problem, content_type = "application/problem+json"),
        (status = CONFLICT, description = "The report is not hidden.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn unhide_report(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, site_report_id)): Path<(Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    set_hidden(&state, &caller, site_id, site_report_id, None).await
}

/// Hides (`Some(reason)`) or shows a report, recounting its respondent and recording it.
async fn set_hidden(
    state: &AppState,
    caller: &Caller,
    site_id: Uuid,
    site_report_id: Uuid,
    reason: Option<&str>,
) -> Result<Response, ApiError> {
    let mut tx = state.pool.begin().await?;
    lock_site(&mut tx, site_id).await?;
    let current = find_locked(&mut tx, site_id, site_report_id).await?;
    match (current.hidden.is_some(), reason.is_some()) {
        (true, true) => return Err(ApiError::conflict("the report is hidden already")),
        (false, false) => return Err(ApiError::conflict("the report is not hidden")),
        _ => {}
    }
    let recount = Recount::begin(&mut tx, vec![current.respondent_id]).await?;
    queries::set_hidden(&mut *tx, site_report_id, caller.account_id, reason).await?;
    let tally = recount.changes(&mut tx).await?;
    let (kind, changes) = match reason {
        Some(reason) => (
            SiteChangeKind::ReportHide,
            json!({"report": {"site_report_id": site_report_id, "modality": current.modality, "year": current.year},
                   "report.hidden_reason": {"old": null, "new": reason}}),
        ),
        None => (
            SiteChangeKind::ReportUnhide,
            json!({"report": {"site_report_id": site_report_id, "modality": current.modality, "year": current.year},
                   "report.hidden_reason": {"old": current.hidden.as_ref().map(|h| h.reason.clone()), "new": null}}),
        ),
    };
    summary::refresh_and_record(&mut tx, site_id, Some(caller.account_id), kind, &changes, tally).await?;
    let report = find_locked(&mut tx, site_id, site_report_id).await?;
    tx.commit().await?;
    Ok(report_response(StatusCode::OK, &report))
}

/// A leaving member's reports: deleted (and recounted), or kept anonymised. Either way each is
/// recorded in its site's history, naming no one. Runs in the account deletion's transaction.
pub(crate) async fn on_account_deletion(
    conn: &mut PgConnection,
    account_id: Uuid,
    reports: crate::accounts::LeavingReports,
) -> Result<(), ApiError> {
    let Some(respondent) = queries::respondent_of_account(&mut *conn, account_id).await? else {
        return Ok(());
    };
    // The sites first, then the respondent: the order of every report write.
    for site_id in queries::sites_of(&mut *conn, respondent).await? {
        lock_site(conn, site_id).await?;
    }
    let recount = Recount::begin(conn, vec![respondent]).await?;
    let (kind, gone) = match reports {
        crate::accounts::LeavingReports::Delete => (
            SiteChangeKind::ReportDelete,
            queries::delete_all(&mut *conn, respondent).await?,
        ),
        crate::accounts::LeavingReports::KeepAnonymised => (
            SiteChangeKind::ReportUpdate,
            queries::anonymise_all(&mut *conn, respondent).await?,
        ),
    };
    recount.finish(conn).await?;
    let mut sites: Vec<Uuid> = gone.iter().map(|(_, site_id, _, _)| *site_id).collect();
    sites.sort();
    sites.dedup();
    for site_id in sites {
        summary::refresh(conn, site_id).await?;
    }
    for (site_report_id, site_id, modality, year) in gone {
        let mut changes = json!({"report": {"site_report_id": site_report_id, "modality": modality, "year": year}});
        if kind == SiteChangeKind::ReportUpdate {
            changes["report.anonymous"] = json!({"old": false, "new": true});
        }
        crate::sites::queries::record_change(&mut *conn, site_id, None, kind, &changes).await?;
    }
    Ok(())
}

/// Counts every report afresh: the statistics' running counts ([`tally::rebuild`]) and every
/// site's summary; returns how many rows and summaries were written.
pub async fn recount(pool: &sqlx::PgPool) -> Result<(u64, u64), sqlx::Error> {
    let rows = tally::rebuild(pool).await?;
    let sites = summary::refresh_all(pool).await?;
    Ok((rows, sites))
}
