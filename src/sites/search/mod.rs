//! `GET /v1/sites`: find sites by modality, region and requirements, page by page.
//!
//! Parse ([`params`]) → plan (the cursor's position, `q`'s words: [`plan`]) → run against the
//! in-memory [`index`] (the matching set, exact total, facets and the page's ids) → respond (the
//! page's sites read by primary key, as a summary or whole).
//!
//! Pages are keyset pages: the cursor carries the last item's sort key and id, so a walk never
//! repeats a site. What a walk sees of concurrent writes: sites inserted or updated during the walk
//! appear if their sort key falls after the cursor and not otherwise; under `-updated_at` (the
//! default) a site updated during the walk moves ahead of the cursor, so a walk that had not yet
//! reached it does not show it (search with `updated_since` to catch up).

pub(crate) mod cursor;
pub(crate) mod index;
pub(crate) mod params;
mod plan;
pub(crate) mod query;
mod respond;
pub(crate) mod text;
pub(crate) mod threads;

use std::collections::BTreeMap;

use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::replica::Reads;
use params::{Facet, Sort};
pub use respond::OfferSummary;
pub(crate) use respond::{SiteHit, Summaries};

/// How many sites match.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct Total {
    /// The count, exact whatever the filters. Counted with a walk's first page: later pages (with
    /// `cursor`) repeat it.
    #[schema(example = 412)]
    pub(crate) value: i64,
    /// `eq`: `value` is exact (totals are always counted exactly; `gte`, at least `value`, is
    /// kept for clients written against earlier versions).
    pub(crate) relation: Relation,
}

/// Whether a count is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Relation {
    /// Exactly `value`.
    Eq,
    /// At least `value`.
    Gte,
}

/// How many sites have one value of a facet.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct FacetCount {
    /// The value (a code, or a state).
    #[schema(example = "ct")]
    pub(crate) value: String,
    /// Sites matching every other filter that have this value.
    #[schema(example = 412)]
    pub(crate) count: i64,
}

/// One page of search results.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct SitePage {
    /// The sites on this page, in the order of `sort`: summaries, or whole sites with `view=full`.
    #[schema(value_type = Vec<SiteHit>)]
    pub(crate) items: Vec<respond::Item>,
    /// Pass as `cursor` (with the same filters) for the next page; `null` on the last page. Also
    /// sent as `Link: <...>; rel="next"`.
    #[schema(required = true)]
    pub(crate) next_cursor: Option<String>,
    /// How many sites match.
    pub(crate) total: Total,
    /// The sort in effect.
    pub(crate) sort: Sort,
    /// Counts per value of each facet asked for in `facets`, under all the other filters; present
    /// when `facets` is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = json!({"modality": [{"value": "ct", "count": 412}, {"value": "mri", "count": 388}]}))]
    pub(crate) facets: Option<BTreeMap<Facet, Vec<FacetCount>>>,
}

/// Searches listed sites. Every filter combines with the others (AND across parameters, OR within
/// a repeated one). Archived sites are never included unless `status=archived` is asked for.
///
/// - `modality` (repeatable): codes or ARRT abbreviations, any case (`CT`, `MR`, `M`, `BD`, `VI`).
/// - `state` (repeatable), `city`, `postal_code` (5 digits match the ZIP, ZIP+4 exactly).
/// - `near` = `LAT,LON` or a 5-digit ZIP; `radius` = a number with `mi` (default) or `km`, at most
///   1000 miles. Distances are great-circle distances on the mean Earth radius (6,371,008.8 m),
///   as maps and haversine calculators give them (within 0.5% of the WGS84 geodesic across the
///   US); the radius filter and distance order use the very distance shown, returned in the unit
///   of `radius` (miles without one).
/// - `site_type`, `payment`, `schedule`, `status` (repeatable); `max_fee_usd` (free and
///   tuition-only sites, and sites that charge a stated fee within it); `insurance_required`,
///   `housing` (any housing help) as booleans; `hipaa_training` (a site accepting either way
///   matches both specific values).
/// - **Unknown values**, one rule for every yes/no and code filter: a filter for a value matches
///   only the sites known to have it, never a site that has not said (`housing=false` is the sites
///   that said they offer no housing). To find the sites that have not said, ask for `unknown`:
///   `housing`, `insurance_required`, `hipaa_training`, `verifier_on_site`, `accepts` and
///   `schedule` (repeatable, so `schedule=evening&schedule=unknown` is "evening, or not stated")
///   take `unknown`, and `payment=unknown` is a payment code of its own.
/// - Offer filters `accepts`, `verifier_on_site`, `accepting` hold for one and the same offer, of a
///   requested modality when `modality` is given: a site that takes independent candidates only for
///   MRI does not match `modality=CT&accepts=independent`.
/// - `q`: typo-tolerant text over name, city and aliases, ranked: every word of `q` (up to 6) must
///   match a word of the site exactly or closely (`radiolgy` finds "Radiology"; numbers match
///   exactly; common words such as `of` and words like nothing listed are left out); `relevance`
///   is the mean similarity of the matched words, 1 when all are exact.
/// - `reported_independent=true`: members' reports, not the listing: sites where at least one
///   member reported being accepted as an independent candidate (each hit's `reports` summarises
///   what members reported, beside what the listing claims).
/// - `updated_since`: RFC 3339.
/// - `sort`: `relevance` (default with `q`), `distance` (default with `near`), `name` (A to Z,
///   ignoring case), `-updated_at` (default otherwise), `-reports` (most members' reports first);
///   ties by id.
/// - `limit` 1 to 100 (default 20), `cursor` from the previous page.
/// - `facets` (repeatable): `modality`, `site_type`, `state`, `payment`, `accepts`, `schedule`,
///   `hipaa_training`, `status`; each counts the values sites have stated (payment's `unknown` is
///   a code of its own, so it is counted).
/// - `view`: `summary` (default) or `full` (each hit the whole site).
///
/// The total is exact for every combination of filters. Pages carry a weak `ETag`; a request with
/// `If-None-Match` naming it is answered `304 Not Modified` while no site has changed. Writes
/// through this instance show in its next search; writes through other instances within about a
/// second.
///
/// A walk through all pages shows every matching site exactly once; sites inserted or updated
/// during the walk show up only if their sort key falls after the cursor (under `-updated_at` an
/// updated site moves ahead of the cursor: catch up with `updated_since`).
#[utoipa::path(
    get,
    path = "/v1/sites",
    tag = "sites",
    params(
        query::SearchFilters,
        query::SearchPaging,
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` of this search's page the client has; 304 while no site has changed."),
    ),
    responses(
        (status = OK, description = "A page of sites.", body = SitePage,
         headers(("Link" = String, description = "`<...>; rel=\"next\"` when there is a next page."),
                 ("ETag" = String, description = "A weak tag of this page: the index's state and the query."))),
        (status = NOT_MODIFIED, description = "No site has changed since the page the client has."),
        (status = BAD_REQUEST, description = "A parameter is malformed, out of range, unknown, or inconsistent with another (each is named).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn search_sites(
    State(state): State<AppState>,
    reads: Reads,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = query.unwrap_or_default();
    let params = params::parse(&query)?;
    state.search.ready(&state.search_pool).await?;
    let etag = respond::etag(&state.search.state_tag(), &query);
    if let Some(response) = crate::http::conditional::not_modified(&headers, &etag) {
        return Ok(response);
    }
    let (params, plan, outcome) = state
        .search_threads
        .run({
            let state = state.clone();
            move || {
                let plan = plan::Plan::new(&state, &params)?;
                let outcome = state.search.read().run(&plan.query(&params));
                Ok::<_, ApiError>((params, plan, outcome))
            }
        })
        .await??;
    let page = respond::page(&state, &reads, &params, &plan, outcome).await?;
    respond::response(page, &query, &etag)
}

/// After a write to sites (their claims, or an import) that succeeded, the index catches up before the
/// response leaves: the writer's next search on this instance sees the write.
pub(crate) async fn catch_up_after_writes(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let writes = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && (path.starts_with("/v1/sites") || path.starts_with("/v1/claims") || path.starts_with("/v1/imports"));
    let response = next.run(request).await;
    if writes
        && response.status().is_success()
        && let Err(error) = state.search.catch_up(&state.pool).await
    {
        tracing::warn!(%error, "the search index could not catch up after a write; the background sync will");
    }
    response
}
