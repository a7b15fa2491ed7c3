//! The SQL of a search: one filter builder shared by the page, the total and every facet, and the
//! keyset conditions of each sort. Built with `QueryBuilder` because the statement's shape changes
//! with the filters given; every value is a bound parameter.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use super::params::{Facet, SearchParams, Sort, Wanted};
use super::tally;
use super::text::{self, TextQuery};
use crate::error::ApiError;
use crate::geo;
use crate::sites::model::Site;
use crate::sites::queries::SITE_COLUMNS;
use crate::vocabulary::{HipaaTraining, Housing, LiabilityInsurance, Payment, SiteStatus};

/// Totals that are counted (not read from the tally) are exact up to this many matches, then
/// reported as a lower bound. Measured at a million sites (docs/performance.md, "Totals"): counting
/// 1001 matches of a radius or text search cost more than the rest of the search together; 101
/// costs a tenth of that.
pub const TOTAL_BOUND: i64 = 100;

/// One matching site, whole, with its sort keys.
#[derive(sqlx::FromRow)]
pub struct Hit {
    #[sqlx(flatten)]
    pub site: Site,
    /// Metres from `near`, when given.
    pub distance_m: Option<f64>,
    /// Text match, 0 to 1, when `q` is given.
    pub score: Option<f32>,
    /// How many sites match (counted up to `TOTAL_BOUND + 1`, or read from the tally), when asked
    /// for.
    pub total: Option<i64>,
    /// The facets asked for, as JSON text of `[facet index, value, count]` rows (every row carries
    /// it; text, so only the first row's is parsed, by [`facets_of`]).
    pub facets: Option<String>,
    /// Windowed statements: how many rows the window held (distance order's window of nearest
    /// matches, or relevance order's window of one word combination), and, in distance order, the
    /// farthest one (selected by those statements only, hence the defaults; a test walks through
    /// more equal distances than a window holds, and the totals test counts text windows).
    #[sqlx(default)]
    pub window_rows: Option<i64>,
    #[sqlx(default)]
    pub window_last: Option<f64>,
}

impl Hit {
    pub fn site_id(&self) -> Uuid {
        self.site.site_id
    }
}

/// A search: its parameters and, with `q`, the query's words resolved against the dictionary.
pub struct Search<'a> {
    pub params: &'a SearchParams,
    pub text: Option<TextQuery>,
}

impl Search<'_> {
    /// Whether only listed (not archived) sites are searched: `site_word.listed` then answers the
    /// status filter.
    fn listed_only(&self) -> bool {
        !self.params.effective_statuses().contains(&SiteStatus::Archived)
    }

    /// Whether the search filters on more than its text (and the default status), so its word
    /// matches must be checked against the sites.
    fn filters_sites(&self) -> bool {
        let p = self.params;
        let text_only = SearchParams {
            q: p.q.clone(),
            sort: p.sort,
            limit: p.limit,
            cursor: p.cursor.clone(),
            facets: p.facets.clone(),
            ..SearchParams::default()
        };
        *p != text_only
    }

    /// The word combinations' matches as `(site_id, score)`, each site once, in a `union all`;
    /// only listed sites with `listed_only`.
    fn push_matches(&self, qb: &mut QueryBuilder<Postgres>, text: &TextQuery, listed_only: bool) {
        qb.push("select null::uuid as site_id, null::float4 as score where false");
        for combo in text.combos() {
            qb.push(" union all ");
            text::push_combo(qb, &combo, listed_only);
        }
    }
}

/// `site s`, or, with `q`, the matching sites of every word combination as `tq (site_id, score)`
/// joined to `site s`.
fn push_source(qb: &mut QueryBuilder<Postgres>, search: &Search, listed_only: bool) {
    let Some(text) = &search.text else {
        qb.push("site s");
        return;
    };
    qb.push("(");
    search.push_matches(qb, text, listed_only);
    qb.push(") tq join site s on s.site_id = tq.site_id");
}

/// Whether this search's statements plan alike for all values, so a generic plan serves them (the
/// pool of [`crate::db::generic_plan_pool`]), among searches of listed sites only (the archived ones
/// have a partial index of their own, which only a plan for the value can choose):
/// - filters only on the tally's dimensions, one state at most, and facets the tally counts: the
///   total and facets come from the tally, and the page from the one index for the order;
/// - or nearest first, filtered only on what the earth index carries (modality, payment,
///   insurance), without facets: the page and its total come from that index's nearest-first scan,
///   the only plan such a search has.
///
/// (Text searches plan per execution: a generic plan for `q` was faster in most benchmark runs, but
/// in one, at 100,000 sites, it was 15 times slower; docs/performance.md.)
pub fn plans_alike(search: &Search) -> bool {
    let p = search.params;
    search.listed_only()
        && ((tally::serves_total(search)
            && p.states.len() <= 1
            && p.facets.iter().all(|facet| tally::serves(search, *facet)))
            || nearest_from_the_earth_index(search))
}

/// Nearest first, without text or facets, filtered only on the columns the earth index carries.
fn nearest_from_the_earth_index(search: &Search) -> bool {
    let p = search.params;
    let carried = SearchParams {
        near: p.near,
        radius_m: p.radius_m,
        unit: p.unit,
        modalities: p.modalities.clone(),
        payments: p.payments.clone(),
        insurance_required: p.insurance_required,
        statuses: p.statuses.clone(),
        sort: p.sort,
        limit: p.limit,
        cursor: p.cursor.clone(),
        ..SearchParams::default()
    };
    search.text.is_none() && p.near.is_some() && p.effective_sort() == Sort::Distance && *p == carried
}

/// Where the previous page ended.
#[derive(Debug, Clone)]
pub enum After {
    Name(String, Uuid),
    Updated(DateTime<Utc>, Uuid),
    Distance(f64, Uuid),
    Score(f32, Uuid),
}

/// The centre of `near` as a `cube`, computed here as `ll_to_earth` would compute it
/// ([`geo::earth_point`]): planning then folds a C function, not `earthdistance`'s SQL functions.
/// A sub-select, so a generic plan also builds the cube once per statement, not once per row (and
/// at 1M sites the radius scan of a custom plan ran faster with it too: 0.97 -> 0.66 ms).
fn push_point(qb: &mut QueryBuilder<Postgres>, p: &SearchParams) {
    let near = p.near.expect("only called with near");
    qb.push("(select cube(")
        .push_bind(geo::earth_point(near.latitude, near.longitude).to_vec())
        .push("::float8[]))");
}

/// The great-circle distance in metres on the mean Earth sphere from `near` to a site, from the
/// chord between their `ll_to_earth` points on `earthdistance`'s sphere: the central angle
/// `2 asin(chord / 2R)` is the same on both spheres, so the distance is the mean diameter times
/// `asin(chord / earthdistance's diameter)` ([`geo::distance_from_chord_m`], the same arithmetic).
/// The page shows it, the radius filter and the cursor compare it, and the window sorts by it; the
/// KNN order (`<->`, the chord) agrees, a distance growing with its chord. Written in C functions:
/// `earth_distance` is `sec_to_gc(cube_distance(..))`, an SQL function PostgreSQL cannot inline
/// here and so runs for every row as a small query of its own.
fn push_distance(qb: &mut QueryBuilder<Postgres>, p: &SearchParams) {
    let (mean_diameter, earthdistance_diameter) = (2.0 * geo::MEAN_EARTH_RADIUS_M, 2.0 * geo::EARTHDISTANCE_RADIUS_M);
    qb.push(format!("({mean_diameter}::float8 * asin(least(cube_distance("));
    push_point(qb, p);
    qb.push(format!(
        ", ll_to_earth(s.latitude, s.longitude)) / {earthdistance_diameter}::float8, 1::float8)))"
    ));
}

/// The bounding cube around `near` that holds every site within `radius_m` (on the mean sphere),
/// as `earth_box` builds one, computed here: the centre give or take the chord of the radius
/// ([`geo::chord_m`]), and a millimetre more, so that rounding in the last bits never lets the
/// box leave out a site the distance filter admits (the distance decides; the box only narrows
/// the index scan).
fn push_box(qb: &mut QueryBuilder<Postgres>, p: &SearchParams, radius_m: f64) {
    let near = p.near.expect("only called with near");
    let centre = geo::earth_point(near.latitude, near.longitude);
    let reach = geo::chord_m(radius_m) + 0.001;
    qb.push("(select cube(")
        .push_bind(centre.map(|c| c - reach).to_vec())
        .push("::float8[], ")
        .push_bind(centre.map(|c| c + reach).to_vec())
        .push("::float8[]))");
}

/// ` and ...` for every filter, except the one a facet counts over.
pub fn push_filters(qb: &mut QueryBuilder<Postgres>, p: &SearchParams, except: Option<Facet>) {
    if except != Some(Facet::Status) {
        let statuses = p.effective_statuses();
        if statuses.contains(&SiteStatus::Archived) {
            qb.push(" and s.status = any(").push_bind(statuses).push(")");
        } else {
            // Written as the search indexes' predicate, so the planner can use them.
            qb.push(" and s.status <> 'archived'");
            if !(statuses.contains(&SiteStatus::Unverified) && statuses.contains(&SiteStatus::Verified)) {
                qb.push(" and s.status = any(").push_bind(statuses).push(")");
            }
        }
    }
    let modalities = if except == Some(Facet::Modality) {
        &[][..]
    } else {
        &p.modalities[..]
    };
    if !modalities.is_empty() {
        let bits = modalities.iter().fold(0, |bits, m| bits | m.bit());
        qb.push(" and s.modality_mask & ").push_bind(bits).push(" <> 0");
    }
    // Offer-level filters hold for one and the same offer (of a requested modality, if any).
    let accepts = if except == Some(Facet::Accepts) {
        None
    } else {
        p.accepts
    };
    if accepts.is_some() || p.verifier_on_site.is_some() || p.accepting.is_some() {
        qb.push(" and exists (select 1 from site_offer o where o.site_id = s.site_id");
        push_offer_filters(qb, p, modalities, accepts);
        qb.push(")");
    }
    if except != Some(Facet::State) {
        match p.states.as_slice() {
            [] => {}
            // `=` rather than `= any` lets the (state, sort key) indexes return rows in order.
            [state] => {
                qb.push(" and s.state = ").push_bind(state.clone());
            }
            states => {
                qb.push(" and s.state = any(").push_bind(states.to_vec()).push(")");
            }
        }
    }
    if let Some(city) = &p.city {
        qb.push(" and lower(s.city) = lower(").push_bind(city.clone()).push(")");
    }
    if let Some(postal_code) = &p.postal_code {
        if postal_code.len() == 5 {
            qb.push(" and s.zip5 = ").push_bind(postal_code.clone());
        } else {
            qb.push(" and s.postal_code = ").push_bind(postal_code.clone());
        }
    }
    if except != Some(Facet::SiteType) && !p.site_types.is_empty() {
        qb.push(" and s.site_type = any(")
            .push_bind(p.site_types.clone())
            .push(")");
    }
    if except != Some(Facet::Payment) && !p.payments.is_empty() {
        qb.push(" and s.payment = any(").push_bind(p.payments.clone()).push(")");
    }
    // Unknown values: a filter for a value matches only sites known to have it; `unknown` matches
    // exactly the sites that have not said (params::Wanted).
    if let Some(max_fee) = p.max_fee_usd {
        // Free and tuition-only sites pass; a site that charges must state a fee within the budget;
        // a site whose payment is unknown does not pass.
        qb.push(" and (s.payment = any(")
            .push_bind(vec![Payment::Free, Payment::ProgramTuition])
            .push(") or (s.payment = ")
            .push_bind(Payment::Fee)
            .push(" and s.fee_usd <= ")
            .push_bind(max_fee)
            .push("))");
    }
    match p.insurance_required {
        Some(Wanted::Value(required)) => {
            let wanted = if required {
                LiabilityInsurance::Required
            } else {
                LiabilityInsurance::NotRequired
            };
            qb.push(" and s.liability_insurance = ").push_bind(wanted);
        }
        Some(Wanted::Unknown) => {
            qb.push(" and s.liability_insurance is null");
        }
        None => {}
    }
    match p.hipaa_training.filter(|_| except != Some(Facet::HipaaTraining)) {
        Some(Wanted::Value(hipaa)) => {
            // A site that accepts either way matches both specific wishes.
            let accepted = match hipaa {
                HipaaTraining::Either => vec![HipaaTraining::Either],
                specific => vec![specific, HipaaTraining::Either],
            };
            qb.push(" and s.hipaa_training = any(").push_bind(accepted).push(")");
        }
        Some(Wanted::Unknown) => {
            qb.push(" and s.hipaa_training is null");
        }
        None => {}
    }
    match p.housing {
        Some(Wanted::Value(true)) => {
            qb.push(" and s.housing = any(")
                .push_bind(vec![Housing::Free, Housing::Paid, Housing::HelpFinding])
                .push(")");
        }
        Some(Wanted::Value(false)) => {
            qb.push(" and s.housing = ").push_bind(Housing::None);
        }
        Some(Wanted::Unknown) => {
            qb.push(" and s.housing is null");
        }
        None => {}
    }
    if except != Some(Facet::Schedule) && !p.schedules.is_empty() {
        let known: Vec<_> = p
            .schedules
            .iter()
            .filter_map(|s| match s {
                Wanted::Value(schedule) => Some(*schedule),
                Wanted::Unknown => None,
            })
            .collect();
        let unknown = p.schedules.contains(&Wanted::Unknown);
        qb.push(" and (");
        if !known.is_empty() {
            qb.push("s.schedule && ").push_bind(known);
        }
        if unknown {
            qb.push(if p.schedules.len() > 1 { " or " } else { "" })
                .push("cardinality(s.schedule) = 0");
        }
        qb.push(")");
    }
    if let Some(since) = p.updated_since {
        qb.push(" and s.updated_at >= ").push_bind(since);
    }
    if p.near.is_some() {
        qb.push(" and s.latitude is not null");
        if let Some(radius) = p.radius_m {
            qb.push(" and ");
            push_box(qb, p, radius);
            qb.push(" @> ll_to_earth(s.latitude, s.longitude) and ");
            push_distance(qb, p);
            qb.push(" <= ").push_bind(radius).push("::float8");
        }
    }
}

fn push_offer_filters(
    qb: &mut QueryBuilder<Postgres>,
    p: &SearchParams,
    modalities: &[crate::vocabulary::Modality],
    accepts: Option<Wanted<crate::vocabulary::Accepts>>,
) {
    if !modalities.is_empty() {
        qb.push(" and o.modality = any(")
            .push_bind(modalities.to_vec())
            .push(")");
    }
    match accepts {
        Some(Wanted::Value(accepts)) => {
            qb.push(" and ").push_bind(accepts).push(" = any(o.accepts)");
        }
        Some(Wanted::Unknown) => {
            qb.push(" and cardinality(o.accepts) = 0");
        }
        None => {}
    }
    match p.verifier_on_site {
        Some(Wanted::Value(verifier)) => {
            qb.push(" and o.verifier_on_site = ").push_bind(verifier);
        }
        Some(Wanted::Unknown) => {
            qb.push(" and o.verifier_on_site is null");
        }
        None => {}
    }
    if let Some(accepting) = p.accepting {
        qb.push(" and o.accepting = ").push_bind(accepting);
    }
}

/// What a page statement computes besides its rows, once, in the same statement (each row carries
/// it).
#[derive(Clone, Copy)]
pub struct Extras<'a> {
    /// The total (a walk's first page).
    pub count: bool,
    /// These facets' counts.
    pub facets: &'a [Facet],
}

impl Extras<'_> {
    const NONE: Extras<'static> = Extras {
        count: false,
        facets: &[],
    };
}

/// Up to `fetch` matches after `after`, whole, in the sort's order (ties by id). Every row also
/// carries the `extras` asked for.
pub async fn page(
    conn: &mut PgConnection,
    search: &Search<'_>,
    sort: Sort,
    after: Option<&After>,
    fetch: i64,
    extras: Extras<'_>,
) -> Result<Vec<Hit>, ApiError> {
    match sort {
        Sort::Name | Sort::UpdatedDesc => Ok(ordered(conn, search, sort, after, fetch, extras).await?),
        Sort::Relevance => Ok(ranked(conn, search, after, fetch, extras).await?),
        Sort::Distance => nearest(conn, search, after, fetch, extras).await,
    }
}

/// `select <site with its offers>, distance_m, score<more>, total, facets from ` (the caller adds the
/// source, and with `more` the columns it names).
fn push_select(qb: &mut QueryBuilder<Postgres>, search: &Search, more: &str, extras: Extras) {
    qb.push("select ").push(SITE_COLUMNS).push(", ");
    push_keys(qb, search);
    qb.push(more);
    push_extras(qb, search, extras);
}

/// `distance_m, score` of a row of `site s` (joined to the text matches `tq` with `q`).
fn push_keys(qb: &mut QueryBuilder<Postgres>, search: &Search) {
    let p = search.params;
    if p.near.is_some() {
        push_distance(qb, p);
    } else {
        qb.push("null::float8");
    }
    qb.push(" as distance_m, ");
    qb.push(if search.text.is_some() {
        "tq.score"
    } else {
        "null::float4 as score"
    });
}

/// `, total, facets from `.
fn push_extras(qb: &mut QueryBuilder<Postgres>, search: &Search, extras: Extras) {
    qb.push(", ");
    if extras.count {
        qb.push("(");
        push_count(qb, search);
        qb.push(")");
    } else {
        qb.push("null::int8");
    }
    qb.push(" as total, ");
    if extras.facets.is_empty() {
        qb.push("null::json");
    } else {
        qb.push("(select coalesce(json_agg(json_build_array(f.i, f.value, f.count)), '[]') from (");
        push_facets(qb, search, extras.facets);
        qb.push(") f)::text");
    }
    qb.push(" as facets from ");
}

/// `select count(*) ...` of the matches, up to `TOTAL_BOUND + 1`, or their exact number from the
/// tally when it can answer.
fn push_count(qb: &mut QueryBuilder<Postgres>, search: &Search) {
    if tally::serves_total(search) {
        return tally::push_total(qb, search.params);
    }
    if let Some(text) = search.text.as_ref().filter(|_| !search.filters_sites()) {
        // Text alone: the word index answers without visiting the sites.
        qb.push("select count(*) from (select 1 from (");
        search.push_matches(qb, text, search.listed_only());
        qb.push(") tq limit ").push_bind(TOTAL_BOUND + 1).push(") matches");
        return;
    }
    qb.push("select count(*) from (select 1 from ");
    push_source(qb, search, search.listed_only());
    qb.push(" where true");
    push_filters(qb, search.params, None);
    qb.push(" limit ").push_bind(TOTAL_BOUND + 1).push(") matches");
}

/// Name and recency orders: a plain keyset on `(key, id)`.
async fn ordered(
    conn: &mut PgConnection,
    search: &Search<'_>,
    sort: Sort,
    after: Option<&After>,
    fetch: i64,
    extras: Extras<'_>,
) -> Result<Vec<Hit>, sqlx::Error> {
    let mut qb = QueryBuilder::new("");
    push_select(&mut qb, search, "", extras);
    push_source(&mut qb, search, search.listed_only());
    qb.push(" where true");
    push_filters(&mut qb, search.params, None);
    match after {
        Some(After::Name(name, id)) => {
            qb.push(" and (s.name, s.site_id) > (")
                .push_bind(name.clone())
                .push(", ")
                .push_bind(*id)
                .push(")");
        }
        Some(After::Updated(at, id)) => {
            qb.push(" and (s.updated_at, s.site_id) < (")
                .push_bind(*at)
                .push(", ")
                .push_bind(*id)
                .push(")");
        }
        _ => {}
    }
    qb.push(match sort {
        Sort::Name => " order by s.name, s.site_id",
        _ => " order by s.updated_at desc, s.site_id desc",
    });
    qb.push(" limit ").push_bind(fetch);
    qb.build_query_as().fetch_all(conn).await
}

/// Relevance order: each word combination's sites in id order, after the cursor, filtered and
/// limited on their own (a merge of `site_word` index ranges), then merged by `(score desc, id)`.
///
/// A first page of one combination whose total is counted takes a window of that combination's
/// first `TOTAL_BOUND + 1` sites: its size is the total, and the page its first `fetch`, so the
/// merge runs once, not once for the page and again for the count (at a million sites, 1.7 -> 1.4
/// ms; docs/performance.md, "Totals"). With several combinations the window would read up to
/// `TOTAL_BOUND + 1` sites of each, so those count on their own.
async fn ranked(
    conn: &mut PgConnection,
    search: &Search<'_>,
    after: Option<&After>,
    fetch: i64,
    extras: Extras<'_>,
) -> Result<Vec<Hit>, sqlx::Error> {
    let combos = search.text.as_ref().map(TextQuery::combos).unwrap_or_default();
    let (listed_only, filters_sites) = (search.listed_only(), search.filters_sites());
    let count_window = extras.count && after.is_none() && combos.len() == 1 && !tally::serves_total(search);
    let per_combo = if count_window {
        fetch.max(TOTAL_BOUND + 1)
    } else {
        fetch
    };
    let mut qb = QueryBuilder::new("");
    if count_window {
        qb.push("with w as materialized (");
    } else {
        push_select(&mut qb, search, "", extras);
        qb.push("(");
    }
    qb.push("select null::uuid as site_id, null::float4 as score where false");
    for combo in &combos {
        let position = match after {
            Some(After::Score(score, id)) => match combo.score.total_cmp(score) {
                std::cmp::Ordering::Greater => continue,
                std::cmp::Ordering::Equal => Some(*id),
                std::cmp::Ordering::Less => None,
            },
            _ => None,
        };
        qb.push(" union all (");
        text::push_combo(&mut qb, combo, listed_only);
        if filters_sites {
            qb.push(" and exists (select 1 from site s where s.site_id = w0.site_id");
            push_filters(&mut qb, search.params, None);
            qb.push(")");
        }
        if let Some(id) = position {
            qb.push(" and w0.site_id > ").push_bind(id);
        }
        qb.push(" order by w0.site_id limit ").push_bind(per_combo).push(")");
    }
    if count_window {
        qb.push(") ");
        // The window's size is the total: `Extras::count` is answered here, not by a count.
        push_select(
            &mut qb,
            search,
            ", window_.window_rows",
            Extras { count: false, ..extras },
        );
        qb.push("(select * from w order by w.score desc, w.site_id limit ")
            .push_bind(fetch)
            .push(
                ") tq join site s on s.site_id = tq.site_id, \
                 lateral (select count(*) as window_rows from w) window_",
            );
    } else {
        qb.push(") tq join site s on s.site_id = tq.site_id");
    }
    qb.push(" order by tq.score desc, tq.site_id limit ").push_bind(fetch);
    let mut hits: Vec<Hit> = qb.build_query_as().fetch_all(conn).await?;
    if count_window {
        for hit in &mut hits {
            hit.total = hit.window_rows;
        }
    }
    Ok(hits)
}

/// Distance order: an index-ordered (KNN) scan, which cannot also order by id. A window of the
/// nearest matches, ids and distances only (from the earth index alone where the filters allow, so
/// no plan visits the table for candidates), is taken with a margin and sorted by `(distance, id)`;
/// only the page's sites are fetched whole. When a group of equal distances might be cut at the
/// page's end, the window is taken again with a larger margin, so every page is exact. A first
/// page's counted total is the size of a window of at least `TOTAL_BOUND + 1`.
async fn nearest(
    conn: &mut PgConnection,
    search: &Search<'_>,
    after: Option<&After>,
    fetch: i64,
    extras: Extras<'_>,
) -> Result<Vec<Hit>, ApiError> {
    let p = search.params;
    let key = |hit: &Hit| hit.distance_m.unwrap_or(f64::MAX);
    let mut margin = 16;
    // A total that must be counted is the window's size: its first TOTAL_BOUND + 1 matches are as
    // many as a count would read, and the window reads them anyway.
    let count_window = extras.count && after.is_none() && !tally::serves_total(search);
    let extras = Extras {
        count: extras.count && !count_window,
        ..extras
    };
    // The total and facets of the first statement, for every row of the page.
    let mut once: Option<(Option<i64>, Option<_>)> = None;
    loop {
        let window = if count_window {
            (fetch + margin).max(TOTAL_BOUND + 1)
        } else {
            fetch + margin
        };
        let mut qb = QueryBuilder::new("with w as materialized (select s.site_id, ");
        push_keys(&mut qb, search);
        qb.push(" from ");
        push_source(&mut qb, search, search.listed_only());
        qb.push(" where true");
        push_filters(&mut qb, p, None);
        if let Some(After::Distance(distance, id)) = after {
            qb.push(" and (");
            push_distance(&mut qb, p);
            qb.push(" > ").push_bind(*distance).push("::float8 or (");
            push_distance(&mut qb, p);
            qb.push(" = ")
                .push_bind(*distance)
                .push("::float8 and s.site_id > ")
                .push_bind(*id)
                .push("))");
        }
        qb.push(" order by ll_to_earth(s.latitude, s.longitude) <-> ");
        push_point(&mut qb, p);
        qb.push(" limit ").push_bind(window);
        qb.push(") select ")
            .push(SITE_COLUMNS)
            .push(", page.distance_m, page.score, window_.window_rows, window_.window_last");
        push_extras(&mut qb, search, if once.is_none() { extras } else { Extras::NONE });
        qb.push("(select * from w order by w.distance_m, w.site_id limit ")
            .push_bind(fetch)
            .push(
                ") page join site s on s.site_id = page.site_id, \
                 lateral (select count(*) as window_rows, max(w.distance_m) as window_last from w) window_ \
                 order by page.distance_m, page.site_id",
            );
        let mut hits: Vec<Hit> = qb.build_query_as().fetch_all(&mut *conn).await?;
        if once.is_none() {
            let (total, facets) = hits
                .first()
                .map(|hit| (hit.total, hit.facets.clone()))
                .unwrap_or_default();
            let total = if count_window {
                Some(hits.first().and_then(|hit| hit.window_rows).unwrap_or(0))
            } else {
                total
            };
            once = Some((total, facets));
        }
        // Ordered so by the database too; here by the very keys the cursor carries.
        hits.sort_by(|a, b| key(a).total_cmp(&key(b)).then(a.site_id().cmp(&b.site_id())));
        let window_rows = hits.first().and_then(|hit| hit.window_rows).unwrap_or(0);
        let window_last = hits.first().and_then(|hit| hit.window_last);
        let complete = window_rows < window
            || hits
                .get(fetch as usize - 1)
                .zip(window_last)
                .is_none_or(|(boundary, last)| key(boundary) < last);
        if complete {
            hits.truncate(fetch as usize);
            let (total, facets) = once.unwrap_or_default();
            for hit in &mut hits {
                hit.total = total;
                hit.facets.clone_from(&facets);
            }
            return Ok(hits);
        }
        margin *= 8;
    }
}

/// The total from a first page's rows: `(count, exact)`, exact up to [`TOTAL_BOUND`] when
/// counted, and exact when read from the tally.
pub fn total_of(search: &Search, hits: &[Hit]) -> (i64, bool) {
    let count = hits.first().and_then(|hit| hit.total).unwrap_or(0);
    if count > TOTAL_BOUND && !tally::serves_total(search) {
        (TOTAL_BOUND, false)
    } else {
        (count, true)
    }
}

/// `select i, value, count` for each of `facets` (`i` its index), in a `union all`.
fn push_facets(qb: &mut QueryBuilder<Postgres>, search: &Search, facets: &[Facet]) {
    qb.push("select null::int4 as i, null::text as value, null::int8 as count where false");
    for (i, facet) in facets.iter().enumerate() {
        qb.push(format!(" union all select {i}, f.* from ("));
        push_facet(qb, search, *facet);
        qb.push(") f");
    }
}

/// Counts per value of each of `facets` under every other filter, in one statement: for a page
/// without rows, which cannot carry them.
pub async fn facets(conn: &mut PgConnection, search: &Search<'_>, facets: &[Facet]) -> Result<FacetCounts, ApiError> {
    let mut qb = QueryBuilder::new("");
    push_facets(&mut qb, search, facets);
    let rows: Vec<(i32, String, i64)> = qb.build_query_as().fetch_all(conn).await?;
    let rows = rows
        .into_iter()
        .filter_map(|(i, value, count)| Some((usize::try_from(i).ok()?, value, count)));
    Ok(facet_counts(facets, rows))
}

/// Counts per value of each facet asked for.
pub type FacetCounts = BTreeMap<Facet, BTreeMap<String, i64>>;

/// The facet counts a page's first row carries, if it has rows.
pub fn facets_of(facets: &[Facet], hits: &[Hit]) -> Result<Option<FacetCounts>, ApiError> {
    let Some(json) = hits.first().and_then(|hit| hit.facets.as_deref()) else {
        return Ok(None);
    };
    let rows: Vec<(usize, String, i64)> = serde_json::from_str(json)
        .map_err(|error| ApiError::internal(format!("facet counts from the database: {error}")))?;
    Ok(Some(facet_counts(facets, rows)))
}

/// Facet rows `(index into facets, value, count)` by facet and value; every facet asked for is
/// present, also without rows.
pub fn facet_counts(facets: &[Facet], rows: impl IntoIterator<Item = (usize, String, i64)>) -> FacetCounts {
    let mut counts: FacetCounts = facets.iter().map(|f| (*f, BTreeMap::new())).collect();
    for (i, value, count) in rows {
        if let Some(facet) = facets.get(i) {
            counts.entry(*facet).or_default().insert(value, count);
        }
    }
    counts
}

/// `select value, count ... group by 1` for one facet: from the tally when it can answer, else by
/// counting the matching sites.
fn push_facet(qb: &mut QueryBuilder<Postgres>, search: &Search, facet: Facet) {
    if tally::serves(search, facet) {
        return tally::push_facet(qb, search.params, facet);
    }
    let p = search.params;
    // The status facet counts every status, archived ones too.
    let listed_only = facet != Facet::Status && search.listed_only();
    let source = |qb: &mut QueryBuilder<Postgres>| push_source(qb, search, listed_only);
    match facet {
        Facet::Modality if p.has_offer_filters() => {
            qb.push("select o.modality as value, count(distinct s.site_id) from ");
            source(qb);
            qb.push(" join site_offer o on o.site_id = s.site_id");
            push_offer_filters(qb, p, &[], p.accepts);
            qb.push(" where true");
        }
        Facet::Modality => {
            qb.push("select m as value, count(*) from ");
            source(qb);
            qb.push(" cross join unnest(s.modalities) m where true");
        }
        Facet::Accepts => {
            qb.push("select a as value, count(distinct s.site_id) from ");
            source(qb);
            qb.push(" join site_offer o on o.site_id = s.site_id");
            push_offer_filters(qb, p, &p.modalities, None);
            qb.push(" cross join unnest(o.accepts) a where true");
        }
        Facet::Schedule => {
            qb.push("select v as value, count(*) from ");
            source(qb);
            qb.push(" cross join unnest(s.schedule) v where true");
        }
        Facet::HipaaTraining => {
            // Counted as the filter matches: a site accepting either way counts for both values.
            qb.push("select v.value, count(*) from ");
            source(qb);
            qb.push(
                " join (values ('provided_by_site'), ('bring_own_certificate'), ('either')) v(value) \
                 on s.hipaa_training = v.value or (s.hipaa_training = 'either' and v.value <> 'either') where true",
            );
        }
        Facet::SiteType | Facet::State | Facet::Payment | Facet::Status => {
            let column = match facet {
                Facet::SiteType => "s.site_type",
                Facet::State => "s.state",
                Facet::Payment => "s.payment",
                _ => "s.status",
            };
            qb.push(format!("select {column} as value, count(*) from "));
            source(qb);
            qb.push(format!(" where {column} is not null"));
        }
    }
    push_filters(qb, p, Some(facet));
    qb.push(" group by 1");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sites::search::params::parse;

    fn alike(query: &str) -> bool {
        let params = parse(query).unwrap();
        plans_alike(&Search {
            params: &params,
            text: None,
        })
    }

    #[test]
    fn only_searches_with_a_single_plan_share_generic_plans() {
        for query in [
            "",
            "modality=CT&state=OH",
            "modality=CT&state=OH&facets=modality,site_type,payment,state,status",
            "site_type=hospital&payment=free&status=verified&sort=name",
            "modality=CT&state=OH&cursor=x",
            "near=43210",
            "modality=CT&near=43210&radius=60mi&payment=free&insurance_required=false",
            "modality=CT&modality=MR&near=40,-83&radius=100km&status=verified&cursor=x",
        ] {
            assert!(alike(query), "{query}");
        }
        for query in [
            "q=riverside%20radiolgy",
            "q=radiology&state=OH",
            "q=radiology&sort=name",
            "q=radiology&facets=state",
            "q=radiology&status=archived",
            "near=43210&sort=name",
            "near=43210&state=OH",
            "near=43210&accepts=independent",
            "near=43210&facets=modality",
            "near=43210&q=radiology",
            "near=43210&status=archived",
            "modality=CT&modality=MR",
            "state=OH&state=MI",
            "status=archived",
            "state=OH&city=Columbus",
            "modality=CT&accepts=independent",
            "insurance_required=false",
            "modality=CT&facets=accepts",
            "updated_since=2026-01-01T00:00:00Z",
        ] {
            assert!(!alike(query), "{query}");
        }
    }
}
