//! Sites: the listing. Members add sites they know; coordinators register and keep their own
//! facility's listing current; administrators verify listings and approve claims.

pub(crate) mod claims;
pub(crate) mod duplicates;
pub mod export;
pub(crate) mod fields;
pub(crate) mod history;
pub mod input;
pub mod model;
pub(crate) mod queries;
pub mod search;

use axum::Json as JsonResponse;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use sqlx::PgConnection;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, FieldError, Problem};
use crate::extract::{Json, Path};
use crate::idempotency::{self, Claim, Stored};
use crate::openapi::responses::{
    BadId, BadJsonOrId, NotAdmin, NotSiteEditor, SiteNotFound, StaleRevision, Unauthenticated,
};
use crate::replica::Reads;
use crate::vocabulary::{SiteChangeKind, SiteSource, SiteStatus};
use input::{OFFER_FIELDS, SITE_FIELDS, ValidSite, read_site};
use model::{NewSite, Site, SitePatch};
use queries::Coordinates;

/// The site routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_site, search::search_sites))
        .routes(routes!(export::export_sites))
        .routes(routes!(get_site, update_site, archive_site))
        .routes(routes!(verify_site))
        .routes(routes!(restore_site))
        .routes(routes!(history::list_site_history))
        .merge(claims::router())
}

/// The URL of a site.
pub(crate) fn site_href(site_id: Uuid) -> String {
    format!("/v1/sites/{site_id}")
}

/// A site response: the body with its `ETag`.
fn site_response(status: StatusCode, mut site: Site, threshold: u32) -> Response {
    site.disclose(threshold);
    let mut response = (status, JsonResponse(&site)).into_response();
    if let Ok(etag) = HeaderValue::from_str(&site.etag()) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// Coordinates for a site: the request's, else its ZIP's centroid, else none (with a notice).
pub(crate) fn coordinates_for(site: &ValidSite) -> (Option<Coordinates>, Vec<String>) {
    if let Some((latitude, longitude)) = site.coordinates {
        return (
            Some(Coordinates {
                latitude,
                longitude,
                source: "request",
            }),
            Vec::new(),
        );
    }
    match crate::geo::zip_place(site.postal_code.zip5()) {
        Some(place) => (
            Some(Coordinates {
                latitude: place.latitude,
                longitude: place.longitude,
                source: place.source.coordinates_source(),
            }),
            Vec::new(),
        ),
        None => (
            None,
            vec![format!(
                "ZIP code {} is in neither the Census ZIP areas nor GeoNames' ZIP places, so the site has no \
                 coordinates and radius searches will not find it; set latitude and longitude to place it",
                site.postal_code.zip5()
            )],
        ),
    }
}

/// The editable fields of a stored site as JSON: the document a merge patch applies to. Derived
/// coordinates are left out, so they are derived again when the ZIP code changes.
pub(crate) fn editable_json(site: &Site) -> Value {
    let mut full = serde_json::to_value(site).expect("a site serializes");
    let object = full.as_object_mut().expect("a site is an object");
    if site.coordinates_source.as_deref() != Some("request") {
        object.remove("latitude");
        object.remove("longitude");
    }
    let mut editable: Map<String, Value> = object
        .iter()
        .filter(|(key, value)| SITE_FIELDS.contains(&key.as_str()) && !is_empty(value))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    if let Some(Value::Object(offers)) = editable.get_mut("offers") {
        for offer in offers.values_mut() {
            if let Value::Object(fields) = offer {
                fields.retain(|key, value| OFFER_FIELDS.contains(&key.as_str()) && !is_empty(value));
            }
        }
    }
    Value::Object(editable)
}

/// What [`editable_json`] gives for `site` once it is stored with `coordinates` (its offers as
/// `site.offers` keeps them), computed before it is: an import records a new site's history
/// entry from it while the file streams in.
pub(crate) fn editable_json_of(site: &ValidSite, coordinates: Option<Coordinates>) -> Result<Value, ApiError> {
    let (columns, _) = queries::EditableColumns::of(site, coordinates)?;
    let Value::Object(mut columns) = columns else {
        return Err(ApiError::internal("a site's columns are an object"));
    };
    if coordinates.map(|c| c.source) != Some("request") {
        columns.remove("latitude");
        columns.remove("longitude");
    }
    let mut editable: Map<String, Value> = columns
        .into_iter()
        .filter(|(key, value)| SITE_FIELDS.contains(&key.as_str()) && !is_empty(value))
        .collect();
    let Value::Object(mut offers) = queries::offers_object(&site.offers) else {
        return Err(ApiError::internal("offers are an object"));
    };
    for offer in offers.values_mut() {
        if let Value::Object(fields) = offer {
            fields.retain(|key, value| OFFER_FIELDS.contains(&key.as_str()) && !is_empty(value));
        }
    }
    editable.insert("offers".to_owned(), Value::Object(offers));
    Ok(Value::Object(editable))
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// Field-by-field differences, `{field: {old, new}}`; offers compare per modality
/// (`offers.ct`).
pub(crate) fn diff(before: &Value, after: &Value) -> Value {
    let empty = Map::new();
    let before = before.as_object().unwrap_or(&empty);
    let after = after.as_object().unwrap_or(&empty);
    let mut changes = Map::new();
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let (old, new) = (before.get(key), after.get(key));
        if key == "offers" {
            let nested = diff(old.unwrap_or(&Value::Null), new.unwrap_or(&Value::Null));
            for (modality, change) in nested.as_object().into_iter().flatten() {
                changes.insert(format!("offers.{modality}"), change.clone());
            }
        } else if old != new {
            changes.insert(key.clone(), json!({"old": old, "new": new}));
        }
    }
    Value::Object(changes)
}

/// Adds the duplicate guard's override, if any, to a change's record (`duplicate_override`).
pub(crate) fn record_override(changes: &mut Value, overridden: Option<Value>) {
    if let (Some(changes), Some(overridden)) = (changes.as_object_mut(), overridden) {
        changes.insert("duplicate_override".to_owned(), overridden);
    }
}

/// 403 unless the caller manages the site or is an administrator.
async fn authorize_edit(conn: &mut PgConnection, caller: &Caller, site_id: Uuid) -> Result<(), ApiError> {
    if caller.is_admin() || queries::is_manager(conn, site_id, caller.account_id).await? {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only this site's managers and administrators may change it",
        ))
    }
}

/// Adds a site. A member adding a site they know gets an `unverified` listing with `source =
/// member`; a coordinator registering their facility (`"manage": true`) also becomes its manager
/// (`source = coordinator`, still `unverified` until an administrator verifies it).
///
/// A facility that is already listed is refused (409, naming the listed site); a coordinator
/// registering a different facility that the guard takes for a listed one by its name, or an
/// administrator, may send `duplicate_override_reason` to create it anyway (see
/// docs/duplicates.md).
///
/// Send an `Idempotency-Key` header to make retries safe: the same key and body within 24 hours
/// return the original response and create nothing.
#[utoipa::path(
    post,
    path = "/v1/sites",
    tag = "sites",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: 1 to 255 visible ASCII characters, e.g. a UUID.")),
    request_body = NewSite,
    responses(
        (status = CREATED, description = "The new site; `Location` and `ETag` are set.", body = Site,
         headers(("Location" = String, description = "The site's URL."), ("ETag" = String, description = "Its revision."))),
        (status = BAD_REQUEST, description = "Malformed JSON or `Idempotency-Key`.", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = FORBIDDEN, description = "`duplicate_override_reason` was sent by a caller who is neither registering the facility as its coordinator (`\"manage\": true`) nor an administrator; `errors` names the field.", body = Problem, content_type = "application/problem+json"),
        (status = CONFLICT, description = "The facility is already listed: a site with the same NPI, or in the same ZIP code a site with the same facility name however it is written (case, punctuation, abbreviations, word order, one typo); different facilities sharing generic words are not duplicates. `existing` names the listed site with its address, and `matched_on` says what matched. A coordinator registering the facility (`\"manage\": true`) or an administrator may override a `name` match with `duplicate_override_reason`; an `npi` match cannot be overridden.", body = Problem, content_type = "application/problem+json"),
        (status = UNPROCESSABLE_ENTITY, description = "Fields break rules (all listed), or the `Idempotency-Key` was used for another request.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_site(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let key = idempotency::key(&headers)?;
    let (site, manage, reason) = read_new_site(&body)?;
    if reason.is_some() && !manage && !caller.is_admin() {
        return Err(ApiError::forbidden(
            "only a coordinator registering their own facility (`\"manage\": true`) or an administrator may \
             override the duplicate guard",
        )
        .with_errors(vec![FieldError::new(
            duplicates::OVERRIDE_FIELD,
            "may be sent only with `\"manage\": true` or by an administrator",
        )]));
    }

    let mut tx = state.pool.begin().await?;
    if let Some(key) = &key {
        let fingerprint = idempotency::fingerprint("POST", "/v1/sites", &body);
        if let Claim::Replay(stored) = idempotency::claim(&mut tx, caller.account_id, key, &fingerprint).await? {
            return Ok(stored.into_response());
        }
    }
    let overridden = duplicates::guard(&mut tx, &site, None, reason.as_deref()).await?;
    let site_id = Uuid::now_v7();
    let (coordinates, notices) = coordinates_for(&site);
    let source = if manage {
        SiteSource::Coordinator
    } else {
        SiteSource::Member
    };
    let mut created = queries::insert(&mut tx, site_id, &site, coordinates, source, caller.account_id).await?;
    if manage {
        queries::add_manager(&mut *tx, site_id, caller.account_id).await?;
    }
    let mut changes = diff(&Value::Object(Map::new()), &editable_json(&created));
    record_override(&mut changes, overridden);
    queries::record_change(&mut *tx, site_id, caller.account_id, SiteChangeKind::Create, &changes).await?;
    created.notices = notices;

    let body = serde_json::to_vec(&created).map_err(ApiError::internal)?;
    let stored = Stored::new(
        StatusCode::CREATED,
        body,
        Some(site_href(site_id)),
        Some(created.etag()),
    );
    if let Some(key) = &key {
        idempotency::finish(&mut tx, caller.account_id, key, &stored).await?;
    }
    tx.commit().await?;
    Ok(stored.into_response())
}

/// A create's body: the site, whether the caller manages it, and a reason to override the
/// duplicate guard; every problem of the three reported together.
pub(crate) fn read_new_site(body: &Value) -> Result<(ValidSite, bool, Option<String>), ApiError> {
    let Value::Object(mut document) = body.clone() else {
        return Err(ApiError::validation(vec![FieldError::new("", "must be a JSON object")]));
    };
    let manage = document.remove("manage");
    let reason = duplicates::read_override(document.remove(duplicates::OVERRIDE_FIELD));
    let mut errors = Vec::new();
    let manage = match manage {
        None | Some(Value::Null) => false,
        Some(Value::Bool(manage)) => manage,
        Some(_) => {
            errors.push(FieldError::new("manage", "must be true or false"));
            false
        }
    };
    let reason = reason.unwrap_or_else(|error| {
        errors.push(error);
        None
    });
    match read_site(&Value::Object(document)) {
        Ok(site) if errors.is_empty() => Ok((site, manage, reason)),
        Ok(_) => Err(ApiError::validation(errors)),
        Err(mut found) => {
            errors.append(&mut found);
            Err(ApiError::validation(errors))
        }
    }
}

/// One site, public. Archived sites stay readable (`status = archived`). Answers `304 Not
/// Modified` when `If-None-Match` names the current `ETag`.
#[utoipa::path(
    get,
    path = "/v1/sites/{site_id}",
    tag = "sites",
    params(
        ("site_id" = Uuid, Path, description = "The site."),
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` the client has; 304 if still current."),
    ),
    responses(
        (status = OK, description = "The site, with its `ETag`.", body = Site, headers(("ETag" = String, description = "Its revision."))),
        (status = NOT_MODIFIED, description = "The client's copy is current."),
        BadId,
        SiteNotFound,
    )
)]
pub(crate) async fn get_site(
    State(state): State<AppState>,
    reads: Reads,
    Path(site_id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Public reads: the replica's, or the searches' pool (writes keep the main pool to themselves).
    let site = reads
        .run(|mut conn| async move { queries::load(&mut conn, site_id).await })
        .await?
        .ok_or_else(|| ApiError::not_found("no site has this id"))?;
    if let Some(response) = crate::http::conditional::not_modified(&headers, &site.etag()) {
        return Ok(response);
    }
    Ok(site_response(StatusCode::OK, site, state.config.stats_min_respondents))
}

/// `If-Match`: required on PATCH (428 without), 412 when it names no current revision. Strong
/// comparison: weak tags never match.
fn check_if_match(headers: &HeaderMap, version: i64, required: bool) -> Result<(), ApiError> {
    crate::http::conditional::check_if_match(headers, version, required, "site", "GET /v1/sites/{site_id}")
}

/// Changes a site (its managers and administrators). The body is a JSON merge patch; `If-Match`
/// with the current `ETag` is required. Every change is recorded in the site's history. A change
/// to a verified listing's identity (`name`, `street`, `postal_code`, `npi`) by anyone but an
/// administrator puts it back to `unverified` (recorded as a `status` change), so "verified"
/// always means checked as the listing now reads.
#[utoipa::path(
    patch,
    path = "/v1/sites/{site_id}",
    tag = "sites",
    security(("bearer" = [])),
    params(
        ("site_id" = Uuid, Path, description = "The site."),
        ("If-Match" = String, Header, description = "The site's current `ETag`."),
    ),
    request_body(content = SitePatch, content_type = "application/merge-patch+json"),
    responses(
        (status = OK, description = "The updated site, with its new `ETag`.", body = Site, headers(("ETag" = String, description = "Its new revision."))),
        BadJsonOrId,
        Unauthenticated,
        NotSiteEditor,
        SiteNotFound,
        (status = CONFLICT, description = "The site is archived, or the change (of name, ZIP code or NPI) would make it a duplicate of another listed site, which `existing` names as for `POST /v1/sites`; a `name` match may be overridden with `duplicate_override_reason`.", body = Problem, content_type = "application/problem+json"),
        StaleRevision,
        (status = UNPROCESSABLE_ENTITY, description = "The patched site breaks rules (all listed); nothing was changed.", body = Problem, content_type = "application/problem+json"),
        (status = PRECONDITION_REQUIRED, description = "`If-Match` is missing.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn update_site(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<Uuid>,
    headers: HeaderMap,
    Json(patch): Json<Value>,
) -> Result<Response, ApiError> {
    let mut tx = state.pool.begin().await?;
    let (version, status, current) = lock_for_edit(&mut tx, &caller, site_id).await?;
    let before = editable_json(&current);
    let (site, reason) = read_patched_site(&before, patch)?;
    // After the content is read: a patch that could never apply is a 422 whatever its `If-Match`
    // (the precondition is about applying it, RFC 9110 13.2.1).
    check_if_match(&headers, version, true)?;
    let overridden = guard_new_identity(&mut tx, &site, &current, reason.as_deref()).await?;
    let (coordinates, notices) = coordinates_for(&site);
    // The statistics count a report under its site's state and type: when those change, the
    // site's respondents are counted again.
    let recount = if site.state.as_str() != current.state || site.site_type != current.site_type {
        let respondents = crate::reports::tally::respondents_at(&mut tx, site_id).await?;
        Some(crate::reports::tally::Recount::begin(&mut tx, respondents).await?)
    } else {
        None
    };
    queries::sync_offers(&mut tx, site_id, &site.offers).await?;
    let mut updated = queries::update(&mut tx, site_id, &site, coordinates).await?;
    if let Some(recount) = recount {
        recount.finish(&mut tx).await?;
    }
    let mut changes = diff(&before, &editable_json(&updated));
    if changes.as_object().is_some_and(Map::is_empty) {
        // Nothing changed: keep the revision (and the history) as they were.
        tx.rollback().await?;
        return Ok(site_response(
            StatusCode::OK,
            current,
            state.config.stats_min_respondents,
        ));
    }
    if status == SiteStatus::Verified && !caller.is_admin() && changes_identity(&changes) {
        updated = unverify(&mut tx, site_id, &mut changes).await?;
    }
    record_override(&mut changes, overridden);
    queries::record_change(&mut *tx, site_id, caller.account_id, SiteChangeKind::Update, &changes).await?;
    tx.commit().await?;
    updated.notices = notices;
    Ok(site_response(
        StatusCode::OK,
        updated,
        state.config.stats_min_respondents,
    ))
}

/// Locks a site the caller may edit and reads it: its revision, status and stored fields. An
/// archived site is a 409.
async fn lock_for_edit(
    tx: &mut PgConnection,
    caller: &Caller,
    site_id: Uuid,
) -> Result<(i64, SiteStatus, Site), ApiError> {
    let (version, status) = queries::lock(&mut *tx, site_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no site has this id"))?;
    authorize_edit(&mut *tx, caller, site_id).await?;
    if status == SiteStatus::Archived {
        return Err(ApiError::conflict(
            "the site is archived; an administrator can restore it first",
        ));
    }
    let current = queries::load(&mut *tx, site_id)
        .await?
        .ok_or_else(|| ApiError::internal("a locked site vanished"))?;
    Ok((version, status, current))
}

/// The duplicate guard, when a patch changes what it matches on (name, ZIP code or NPI); the
/// override it accepted, if any.
async fn guard_new_identity(
    tx: &mut PgConnection,
    site: &ValidSite,
    current: &Site,
    reason: Option<&str>,
) -> Result<Option<Value>, ApiError> {
    let npi = site.npi.as_ref().map(|npi| npi.as_str());
    if site.name != current.name
        || Some(site.postal_code.zip5()) != current.postal_code.get(..5)
        || npi != current.details.npi.as_deref()
    {
        return duplicates::guard(tx, site, Some(current.site_id), reason).await;
    }
    Ok(None)
}

/// Puts a verified site back to `unverified` (recorded in `changes` as a `status` change) and
/// reads it again.
async fn unverify(tx: &mut PgConnection, site_id: Uuid, changes: &mut Value) -> Result<Site, ApiError> {
    queries::unverify(&mut *tx, site_id).await?;
    if let Some(changes) = changes.as_object_mut() {
        changes.insert(
            "status".to_owned(),
            json!({"old": SiteStatus::Verified, "new": SiteStatus::Unverified}),
        );
    }
    queries::load(&mut *tx, site_id)
        .await?
        .ok_or_else(|| ApiError::internal("a locked site vanished"))
}

/// The stored site (its editable fields, `before`) with `patch` applied, read again whole by the
/// rules of a new site; and the reason to override the duplicate guard.
fn read_patched_site(before: &Value, patch: Value) -> Result<(ValidSite, Option<String>), ApiError> {
    let Value::Object(mut patch) = patch else {
        return Err(ApiError::validation(vec![FieldError::new(
            "",
            "must be a JSON object (a merge patch)",
        )]));
    };
    // Not a field of the site: a managers' or administrators' reason to let a change through.
    let reason = duplicates::read_override(patch.remove(duplicates::OVERRIDE_FIELD));
    match (input::read_patched_site(before, &patch), reason) {
        (Ok(site), Ok(reason)) => Ok((site, reason)),
        (site, reason) => {
            let mut errors: Vec<FieldError> = reason.err().into_iter().collect();
            errors.extend(site.err().into_iter().flatten());
            Err(ApiError::validation(errors))
        }
    }
}

/// Whether `changes` change who the site is (name, street, ZIP, NPI): "verified" means checked as
/// it now reads, so such a change by anyone but an administrator needs checking again.
fn changes_identity(changes: &Value) -> bool {
    ["name", "street", "postal_code", "npi"]
        .iter()
        .any(|field| changes.get(field).is_some())
}

/// Archives a site (its managers and administrators): it leaves search results but stays readable
/// with `status = archived`; an administrator can restore it. `If-Match` is honoured when sent.
#[utoipa::path(
    delete,
    path = "/v1/sites/{site_id}",
    tag = "sites",
    security(("bearer" = [])),
    params(
        ("site_id" = Uuid, Path, description = "The site."),
        ("If-Match" = Option<String>, Header, description = "Archive only if this is still the current `ETag`."),
    ),
    responses(
        (status = OK, description = "The archived site.", body = Site),
        BadId,
        Unauthenticated,
        NotSiteEditor,
        SiteNotFound,
        StaleRevision,
    )
)]
pub(crate) async fn archive_site(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    change_status(&state, &caller, site_id, &headers, StatusChange::Archive).await
}

/// Verifies a site (administrators): `status = verified`, with who and when.
#[utoipa::path(
    post,
    path = "/v1/sites/{site_id}/verify",
    tag = "sites",
    security(("bearer" = [])),
    params(
        ("site_id" = Uuid, Path, description = "The site."),
        ("If-Match" = Option<String>, Header, description = "Change only if this is still the current `ETag`."),
    ),
    responses(
        (status = OK, description = "The verified site.", body = Site),
        BadId,
        Unauthenticated,
        NotAdmin,
        SiteNotFound,
        StaleRevision,
        (status = CONFLICT, description = "The site is archived; restore it first.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn verify_site(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    change_status(&state, &caller, site_id, &headers, StatusChange::Verify).await
}

/// Restores an archived site (administrators): back to `verified` if it had been verified, else
/// `unverified`.
#[utoipa::path(
    post,
    path = "/v1/sites/{site_id}/restore",
    tag = "sites",
    security(("bearer" = [])),
    params(
        ("site_id" = Uuid, Path, description = "The site."),
        ("If-Match" = Option<String>, Header, description = "Change only if this is still the current `ETag`."),
    ),
    responses(
        (status = OK, description = "The restored site.", body = Site),
        BadId,
        Unauthenticated,
        NotAdmin,
        SiteNotFound,
        StaleRevision,
        (status = CONFLICT, description = "The site is not archived.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn restore_site(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    change_status(&state, &caller, site_id, &headers, StatusChange::Restore).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusChange {
    Archive,
    Verify,
    Restore,
}

async fn change_status(
    state: &AppState,
    caller: &Caller,
    site_id: Uuid,
    headers: &HeaderMap,
    change: StatusChange,
) -> Result<Response, ApiError> {
    let mut tx = state.pool.begin().await?;
    let (version, status) = queries::lock(&mut tx, site_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no site has this id"))?;
    match change {
        StatusChange::Archive => authorize_edit(&mut tx, caller, site_id).await?,
        StatusChange::Verify | StatusChange::Restore => caller.require_admin()?,
    }
    check_if_match(headers, version, false)?;
    let current = queries::load(&mut tx, site_id)
        .await?
        .ok_or_else(|| ApiError::internal("a locked site vanished"))?;
    let (new_status, verified_by, kind) = match (change, status) {
        // Archiving twice is a no-op.
        (StatusChange::Archive, SiteStatus::Archived) => {
            return Ok(site_response(
                StatusCode::OK,
                current,
                state.config.stats_min_respondents,
            ));
        }
        (StatusChange::Archive, _) => (SiteStatus::Archived, None, SiteChangeKind::Archive),
        (StatusChange::Verify, SiteStatus::Archived) => {
            return Err(ApiError::conflict(
                "the site is archived; restore it before verifying it",
            ));
        }
        (StatusChange::Verify, _) => (SiteStatus::Verified, Some(caller.account_id), SiteChangeKind::Verify),
        (StatusChange::Restore, SiteStatus::Archived) => {
            let restored = if current.verified_at.is_some() {
                SiteStatus::Verified
            } else {
                SiteStatus::Unverified
            };
            (restored, None, SiteChangeKind::Restore)
        }
        (StatusChange::Restore, _) => return Err(ApiError::conflict("the site is not archived")),
    };
    queries::set_status(&mut tx, site_id, new_status, verified_by).await?;
    let changes = json!({"status": {"old": status, "new": new_status}});
    queries::record_change(&mut *tx, site_id, caller.account_id, kind, &changes).await?;
    let updated = queries::load(&mut tx, site_id)
        .await?
        .ok_or_else(|| ApiError::internal("a locked site vanished"))?;
    tx.commit().await?;
    Ok(site_response(
        StatusCode::OK,
        updated,
        state.config.stats_min_respondents,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_name_fields_and_offers() {
        let before = json!({"name": "A", "payment": "free", "offers": {"ct": {"capacity": 1}, "mri": {}}});
        let after = json!({"name": "B", "payment": "free", "offers": {"ct": {"capacity": 2}, "mammography": {}}});
        let changes = diff(&before, &after);
        assert_eq!(changes["name"], json!({"old": "A", "new": "B"}));
        assert_eq!(
            changes["offers.ct"],
            json!({"old": {"capacity": 1}, "new": {"capacity": 2}})
        );
        assert_eq!(changes["offers.mri"]["new"], Value::Null);
        assert_eq!(changes["offers.mammography"]["old"], Value::Null);
        assert!(changes.get("payment").is_none());
    }
}
