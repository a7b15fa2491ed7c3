//! `GET /v1/stats`: the ASRT survey's figures, counted live from members' reports.
//!
//! Respondents are counted as the survey did: a member counts once in a breakdown if any of their
//! matching reports does, and in every category any of those reports falls in, so multi-valued
//! categories may add up to more than 100%. No filter or one filter is read from the running
//! counts ([`super::tally`]); several filters together count the matching reports afresh.
//!
//! Disclosure control: a breakdown of fewer than `STATS_MIN_RESPONDENTS` respondents is withheld
//! (`insufficient_data`), and within a shown one a category of 1 to 4 respondents is `"<5"`.

use std::collections::BTreeMap;

use axum::Json as JsonResponse;
use axum::extract::State;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::tally::{self, Facts, Filter, Filters, GroupBy};
use crate::AppState;
use crate::error::{ApiError, FieldError, Problem};
use crate::extract::Query;
use crate::replica::Reads;
use crate::sites::fields::{UsState, UsStateCode};
use crate::vocabulary::{CodeSet, HipaaSource, Modality, Route, SiteType};

/// Filtering and grouping the statistics.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatsQuery {
    /// Only reports of rotations in this modality.
    #[param(value_type = Option<Modality>)]
    pub(crate) modality: Option<String>,
    /// Only reports of rotations at sites in this state (USPS code, any case).
    #[param(value_type = Option<UsStateCode>)]
    pub(crate) state: Option<String>,
    /// Only reports of rotations at this type of site.
    #[param(value_type = Option<SiteType>)]
    pub(crate) site_type: Option<String>,
    /// Only rotations in this year or later.
    #[param(minimum = 1970, maximum = 2100)]
    pub(crate) since: Option<String>,
    /// Only rotations in this year or earlier.
    #[param(minimum = 1970, maximum = 2100)]
    pub(crate) until: Option<String>,
    /// Also break the figures down by `state`, `modality` or `year` (each group under the same
    /// disclosure rule).
    #[param(value_type = Option<GroupBy>)]
    pub(crate) group_by: Option<String>,
}

/// The filters a request applied, as read.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub(crate) struct StatsFilters {
    /// `modality`, when given.
    #[schema(required = true)]
    pub(crate) modality: Option<Modality>,
    /// `state`, when given (upper case).
    #[schema(required = true, value_type = Option<UsStateCode>)]
    pub(crate) state: Option<String>,
    /// `site_type`, when given.
    #[schema(required = true)]
    pub(crate) site_type: Option<SiteType>,
    /// `since`, when given.
    #[schema(required = true)]
    pub(crate) since: Option<i16>,
    /// `until`, when given.
    #[schema(required = true)]
    pub(crate) until: Option<i16>,
}

/// A category count: exact, or `"<5"` for 1 to 4 respondents (withheld so that nobody can be
/// singled out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum Count {
    /// 0, or 5 and more.
    Exact(u32),
    /// 1 to 4.
    Few(FewerThanFive),
}

/// The marker of a count of 1 to 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) enum FewerThanFive {
    #[serde(rename = "<5")]
    FewerThanFive,
}

/// How many respondents of a breakdown fall in a category, and their share.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub(crate) struct Share {
    /// The respondents in the category.
    pub(crate) count: Count,
    /// Their share of the breakdown's respondents, in percent with one decimal; `null` when the
    /// count is `"<5"`.
    #[schema(required = true, example = 78.9)]
    pub(crate) percent: Option<f64>,
}

/// The survey's site-type categories.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct SiteTypeShares {
    /// Hospitals, including critical access hospitals.
    pub(crate) hospital: Share,
    /// Outpatient imaging and breast centers.
    pub(crate) imaging_center: Share,
    /// Large and multi-specialty clinics.
    pub(crate) large_clinic: Share,
    /// Mobile imaging and other settings.
    pub(crate) other: Share,
}

/// Where HIPAA training came from.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct HipaaSourceShares {
    pub(crate) employer: Share,
    pub(crate) clinical_facility: Share,
    pub(crate) educational_program: Share,
    pub(crate) online: Share,
    pub(crate) unspecified: Share,
}

/// How members got into their rotations.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct RouteShares {
    pub(crate) employer: Share,
    pub(crate) educational_program: Share,
    pub(crate) non_employer_provider: Share,
    pub(crate) other: Share,
}

/// Every survey category of one breakdown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct Categories {
    /// The site type of the rotation, in the survey's grouping (multi-valued).
    pub(crate) site_type: SiteTypeShares,
    /// Trained with a health care provider that was not their employer (the route
    /// `non_employer_provider`).
    pub(crate) non_employer_provider: Share,
    /// Paid for the clinical experience.
    pub(crate) paid: Share,
    /// Where HIPAA training came from (multi-valued across a member's reports).
    pub(crate) hipaa_source: HipaaSourceShares,
    /// Did not need liability insurance.
    pub(crate) insurance_not_needed: Share,
    /// How they got in (multi-valued).
    pub(crate) route: RouteShares,
    /// Accepted as an independent candidate.
    pub(crate) accepted_independent: Share,
    /// Would recommend the site.
    pub(crate) would_recommend: Share,
}

/// The figures of one breakdown (all matching respondents, or one group), or why they are
/// withheld.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct Breakdown {
    /// `true` when fewer than `min_respondents` respondents match: `respondents` and
    /// `categories` are then `null`.
    pub(crate) insufficient_data: bool,
    /// Distinct members with at least one matching report.
    #[schema(required = true)]
    pub(crate) respondents: Option<u32>,
    /// The categories.
    #[schema(required = true)]
    pub(crate) categories: Option<Categories>,
}

/// One group of a `group_by`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct Group {
    /// The group: a state code, a modality code or a year.
    #[schema(example = "OH")]
    pub(crate) key: String,
    /// Its figures.
    #[serde(flatten)]
    pub(crate) breakdown: Breakdown,
}

/// A category whose shares may add up to more than 100%.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MultiValued {
    SiteType,
    HipaaSource,
    Route,
}

/// The listing's own figures: listed sites (not archived, not demo data) under the request's
/// `modality`, `state` and `site_type` (`since` and `until` are about reports).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub(crate) struct Listings {
    /// Listed sites.
    pub(crate) sites: i64,
    /// Those with an offer (of `modality`, when given) that accepts independent candidates.
    pub(crate) accepting_independent: i64,
    /// Sites per modality they offer.
    pub(crate) by_modality: BTreeMap<Modality, i64>,
    /// Sites per state.
    #[schema(value_type = BTreeMap<String, i64>)]
    pub(crate) by_state: BTreeMap<String, i64>,
}

/// The survey's figures over members' reports.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct Statistics {
    /// The filters applied.
    pub(crate) filters: StatsFilters,
    /// The grouping asked for, if any.
    #[schema(required = true)]
    pub(crate) group_by: Option<GroupBy>,
    /// The disclosure threshold: breakdowns of fewer respondents are withheld.
    #[schema(example = 10)]
    pub(crate) min_respondents: u32,
    /// The categories whose shares may add up to more than 100%: a respondent counts in each of
    /// them any of their reports falls in.
    pub(crate) multi_valued: Vec<MultiValued>,
    /// All matching respondents.
    pub(crate) overall: Breakdown,
    /// Per group of `group_by`, by key (empty without `group_by`).
    pub(crate) groups: Vec<Group>,
    /// What the listing says: sites by modality and state, and those accepting independent
    /// candidates.
    pub(crate) listings: Listings,
}

/// The survey's figures, live from members' reports: respondents (distinct members with a
/// matching report) per category, with a breakdown by `group_by`. Hidden reports and reports of
/// demo sites never count. A breakdown of fewer than `min_respondents` respondents (the
/// `STATS_MIN_RESPONDENTS` setting, default 10, never below 5) is withheld and marked
/// `insufficient_data`; within a shown one a category of 1 to 4 respondents is `"<5"` with no
/// percentage.
#[utoipa::path(
    get,
    path = "/v1/stats",
    tag = "statistics",
    params(StatsQuery),
    responses(
        (status = OK, description = "The figures.", body = Statistics),
        (status = BAD_REQUEST, description = "A malformed parameter (named in `errors`), or `since` after `until`.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_stats(
    State(state): State<AppState>,
    reads: Reads,
    Query(query): Query<StatsQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let (filters, group_by) = read_query(&query)?;
    let threshold = state.config.stats_min_respondents;
    let filters_ref = &filters;
    let counts = reads
        .run(|mut conn| async move { counts(&mut conn, filters_ref, group_by).await })
        .await?;
    let listings = listings(&state, &filters).await?;
    let overall = breakdown(counts.get("").map_or(&BTreeMap::new(), |c| c), threshold);
    let groups = counts
        .iter()
        .filter(|(key, _)| !key.is_empty())
        .map(|(key, categories)| Group {
            key: key.clone(),
            breakdown: breakdown(categories, threshold),
        })
        .collect();
    Ok(JsonResponse(Statistics {
        filters,
        group_by,
        min_respondents: threshold,
        multi_valued: vec![MultiValued::SiteType, MultiValued::HipaaSource, MultiValued::Route],
        overall,
        groups,
        listings,
    }))
}

/// The listing's figures under the request's site filters, from the search index.
async fn listings(state: &AppState, filters: &StatsFilters) -> Result<Listings, ApiError> {
    state.search.ready(&state.search_pool).await?;
    let counts = state
        .search
        .read()
        .listing_counts(filters.modality, filters.state.as_deref(), filters.site_type);
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    Ok(Listings {
        sites: count(counts.sites),
        accepting_independent: count(counts.accepting_independent),
        by_modality: counts.by_modality.into_iter().map(|(m, n)| (m, count(n))).collect(),
        by_state: counts.by_state.into_iter().map(|(s, n)| (s, count(n))).collect(),
    })
}

/// A 400 naming the parameter.
fn bad(parameter: &str, message: impl Into<String>) -> ApiError {
    let message = message.into();
    ApiError::bad_request(
        format!("query parameter `{parameter}` {message}"),
        vec![FieldError::new(parameter, message)],
    )
}

/// The filters and grouping of a request.
fn read_query(query: &StatsQuery) -> Result<(StatsFilters, Option<GroupBy>), ApiError> {
    fn code<T: CodeSet>(parameter: &str, raw: Option<&str>) -> Result<Option<T>, ApiError> {
        raw.map(|raw| T::from_code(raw).ok_or_else(|| bad(parameter, format!("must be one of: {}", T::allowed()))))
            .transpose()
    }
    let year = |parameter: &str, raw: Option<&str>| {
        raw.map(|raw| {
            raw.parse::<i16>()
                .ok()
                .filter(|y| (1970..=2100).contains(y))
                .ok_or_else(|| bad(parameter, "must be a year from 1970 to 2100"))
        })
        .transpose()
    };
    let state = query
        .state
        .as_deref()
        .map(|raw| {
            UsState::parse(raw)
                .map(|s| s.as_str().to_owned())
                .map_err(|message| bad("state", message))
        })
        .transpose()?;
    let filters = StatsFilters {
        modality: code("modality", query.modality.as_deref())?,
        state,
        site_type: code("site_type", query.site_type.as_deref())?,
        since: year("since", query.since.as_deref())?,
        until: year("until", query.until.as_deref())?,
    };
    if let (Some(since), Some(until)) = (filters.since, filters.until)
        && since > until
    {
        return Err(bad("since", "must not be after `until`"));
    }
    let group_by = match query.group_by.as_deref() {
        None => None,
        Some("state") => Some(GroupBy::State),
        Some("modality") => Some(GroupBy::Modality),
        Some("year") => Some(GroupBy::Year),
        Some(_) => return Err(bad("group_by", "must be one of: state, modality, year")),
    };
    Ok((filters, group_by))
}

/// The one filter the running counts can answer, if no more than one is given.
fn single_filter(filters: &StatsFilters) -> Option<Filter> {
    let given = [
        filters.modality.map(Filter::Modality),
        filters.state.clone().map(Filter::State),
        filters.site_type.map(Filter::SiteType),
        filters.since.map(Filter::Since),
        filters.until.map(Filter::Until),
    ];
    let mut given = given.into_iter().flatten();
    match (given.next(), given.next()) {
        (None, _) => Some(Filter::All),
        (Some(filter), None) => Some(filter),
        _ => None,
    }
}

/// Respondents per group (`""`: all) and category.
type Counts = BTreeMap<String, BTreeMap<String, i64>>;

/// The counts of the breakdowns asked for: from the running counts when they can answer, else
/// by counting the matching reports.
async fn counts(
    conn: &mut sqlx::PgConnection,
    filters: &StatsFilters,
    group_by: Option<GroupBy>,
) -> Result<Counts, ApiError> {
    let group = group_by.map_or("", GroupBy::code);
    let mut counts = Counts::new();
    if let Some(filter) = single_filter(filters) {
        let (filter, low, high) = filter.key();
        let rows = sqlx::query!(
            // The folded counts and the changes not folded yet, as `report_tally_now` has them,
            // summed straight into the groups and categories (not per key first, as the view does).
            r#"select group_value as "group_value!", category as "category!", sum(respondents)::int8 as "respondents!"
                 from (select group_value, category, respondents
                         from report_tally
                        where filter = $1 and group_by in ('', $2) and bound between $3 and $4
                       union all
                       select d.group_value, d.category, d.respondents
                         from report_tally_change c,
                              unnest(c.filter, c.group_by, c.group_value, c.category, c.bound, c.respondents)
                                as d (filter, group_by, group_value, category, bound, respondents)
                        where d.filter = $1 and d.group_by in ('', $2) and d.bound between $3 and $4) counted
                group by group_value, category
               having sum(respondents) > 0"#,
            filter,
            group,
            low,
            high,
        )
        .fetch_all(conn)
        .await?;
        for row in rows {
            counts
                .entry(row.group_value)
                .or_default()
                .insert(row.category, row.respondents);
        }
        return Ok(counts);
    }
    let facts = matching_facts(conn, filters).await?;
    for ((_, group_by, group_value, category, _), n) in tally::count(&facts, Filters::Unfiltered) {
        if group_by.is_empty() || group_by == group {
            counts.entry(group_value).or_default().insert(category, n);
        }
    }
    Ok(counts)
}

/// The counted reports matching every filter.
pub(crate) async fn matching_facts(
    conn: &mut sqlx::PgConnection,
    filters: &StatsFilters,
) -> Result<Vec<Facts>, sqlx::Error> {
    sqlx::query_as!(
        Facts,
        r#"select r.respondent_id, r.modality as "modality: Modality", s.state,
                  s.site_type as "site_type: SiteType", r.year, r.route as "route: Vec<Route>", r.paid,
                  r.hipaa_source as "hipaa_source: HipaaSource", r.insurance_needed, r.accepted_independent,
                  r.would_recommend
             from site_report r
             join site s on s.site_id = r.site_id
            where r.hidden_at is null and s.source <> 'demo'
              and ($1::text is null or r.modality = $1)
              and ($2::text is null or s.state = $2)
              and ($3::text is null or s.site_type = $3)
              and ($4::int2 is null or r.year >= $4)
              and ($5::int2 is null or r.year <= $5)"#,
        filters.modality as Option<Modality>,
        filters.state,
        filters.site_type as Option<SiteType>,
        filters.since,
        filters.until,
    )
    .fetch_all(conn)
    .await
}

/// A breakdown from its counts, under the disclosure rule.
pub(crate) fn breakdown(counts: &BTreeMap<String, i64>, threshold: u32) -> Breakdown {
    let respondents = counts.get("respondents").copied().unwrap_or(0);
    let respondents = u32::try_from(respondents).unwrap_or(u32::MAX);
    if respondents < threshold {
        return Breakdown {
            insufficient_data: true,
            respondents: None,
            categories: None,
        };
    }
    let share = |category: String| {
        let n = u32::try_from(counts.get(&category).copied().unwrap_or(0)).unwrap_or(u32::MAX);
        share(n, respondents)
    };
    let site = |code: &str| share(format!("site_type:{code}"));
    let hipaa = |source: HipaaSource| share(format!("hipaa_source:{}", source.code()));
    let route = |route: Route| share(format!("route:{}", route.code()));
    Breakdown {
        insufficient_data: false,
        respondents: Some(respondents),
        categories: Some(Categories {
            site_type: SiteTypeShares {
                hospital: site("hospital"),
                imaging_center: site("imaging_center"),
                large_clinic: site("large_clinic"),
                other: site("other"),
            },
            non_employer_provider: route(Route::NonEmployerProvider),
            paid: share("paid".to_owned()),
            hipaa_source: HipaaSourceShares {
                employer: hipaa(HipaaSource::Employer),
                clinical_facility: hipaa(HipaaSource::ClinicalFacility),
                educational_program: hipaa(HipaaSource::EducationalProgram),
                online: hipaa(HipaaSource::Online),
                unspecified: hipaa(HipaaSource::Unspecified),
            },
            insurance_not_needed: share("insurance_not_needed".to_owned()),
            route: RouteShares {
                employer: route(Route::Employer),
                educational_program: route(Route::EducationalProgram),
                non_employer_provider: route(Route::NonEmployerProvider),
                other: route(Route::Other),
            },
            accepted_independent: share("accepted_independent".to_owned()),
            would_recommend: share("would_recommend".to_owned()),
        }),
    }
}

/// `n` of `of` respondents: `"<5"` for 1 to 4, else the count and its percentage (one decimal).
pub(crate) fn share(n: u32, of: u32) -> Share {
    if (1..5).contains(&n) {
        return Share {
            count: Count::Few(FewerThanFive::FewerThanFive),
            percent: None,
        };
    }
    let percent = if of == 0 {
        0.0
    } else {
        (f64::from(n) * 1000.0 / f64::from(of)).round() / 10.0
    };
    Share {
        count: Count::Exact(n),
        percent: Some(percent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_counts_are_withheld_and_shares_have_one_decimal() {
        assert_eq!(share(3, 100).count, Count::Few(FewerThanFive::FewerThanFive));
        assert_eq!(share(3, 100).percent, None);
        assert_eq!(share(0, 100).percent, Some(0.0));
        assert_eq!(share(789, 1000).percent, Some(78.9));
        assert_eq!(share(5, 7).percent, Some(71.4));
        let few = BTreeMap::from([("respondents".to_owned(), 9)]);
        assert!(breakdown(&few, 10).insufficient_data);
        let enough = BTreeMap::from([("respondents".to_owned(), 10), ("paid".to_owned(), 3)]);
        let shown = breakdown(&enough, 10);
        assert_eq!(shown.respondents, Some(10));
        assert_eq!(
            shown.categories.unwrap().paid.count,
            Count::Few(FewerThanFive::FewerThanFive)
        );
    }

    #[test]
    fn one_filter_is_read_from_the_running_counts_and_two_are_not() {
        let mut filters = StatsFilters::default();
        assert_eq!(single_filter(&filters), Some(Filter::All));
        filters.since = Some(2020);
        assert_eq!(single_filter(&filters), Some(Filter::Since(2020)));
        filters.modality = Some(Modality::Ct);
        assert_eq!(single_filter(&filters), None);
    }
}
