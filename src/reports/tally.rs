//! The statistics' running counts (`report_tally`), kept exact by the writes themselves.
//!
//! A respondent's *contribution* is the set of tally keys they count in: for each filter a report
//! of theirs matches (none, its modality, its site's state and type, `since`, `until`), each group
//! it falls in (none, state, modality, year) and each category it shows (respondents, the site's
//! survey category, paid, HIPAA source, ...). Counting respondents rather than reports is then a
//! union: a member with two CT reports counts once under `modality:ct`. For `since` and `until`
//! the key also carries the respondent's latest (earliest) matching year, so `since = Y` is the
//! sum of the rows with `bound >= Y`.
//!
//! Every write that can change what a respondent counts in runs [`Recount::begin`] before and
//! [`Recount::finish`] after, in its transaction: the difference of the two contributions is
//! applied to the rows, in key order (so concurrent writers never deadlock on them). A test
//! compares the rows with a fresh count of every report after random writes.

use std::collections::BTreeMap;

use sqlx::PgConnection;
use uuid::Uuid;

use crate::vocabulary::{CodeSet, HipaaSource, Modality, Route, SiteType, SurveyCategory};

/// Maps keyed by names and interned keys, which come from the service's own codes and stored
/// values, never an attacker's choice of many: a fast hash (a report write hashes a few thousand).
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

/// What the statistics read of one counted report (not hidden, not on a demo site).
#[derive(Debug, Clone)]
pub(crate) struct Facts {
    pub(crate) respondent_id: Uuid,
    pub(crate) modality: Modality,
    pub(crate) state: String,
    pub(crate) site_type: SiteType,
    pub(crate) year: i16,
    pub(crate) route: Vec<Route>,
    pub(crate) paid: bool,
    pub(crate) hipaa_source: HipaaSource,
    pub(crate) insurance_needed: bool,
    pub(crate) accepted_independent: Option<bool>,
    pub(crate) would_recommend: Option<bool>,
}

/// A filter of the statistics, as the tally stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Filter {
    All,
    Modality(Modality),
    State(String),
    SiteType(SiteType),
    Since(i16),
    Until(i16),
}

impl Filter {
    /// The tally's `filter` column, and the range of `bound` that matches.
    pub(crate) fn key(&self) -> (String, i16, i16) {
        match self {
            Self::All => (String::new(), 0, 0),
            Self::Modality(m) => (format!("modality:{}", m.code()), 0, 0),
            Self::State(s) => (format!("state:{s}"), 0, 0),
            Self::SiteType(t) => (format!("site_type:{}", t.code()), 0, 0),
            Self::Since(year) => ("since".to_owned(), *year, i16::MAX),
            Self::Until(year) => ("until".to_owned(), i16::MIN, *year),
        }
    }
}

/// A grouping of the statistics (`group_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum GroupBy {
    State,
    Modality,
    Year,
}

impl GroupBy {
    /// The tally's `group_by` column.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::State => "state",
            Self::Modality => "modality",
            Self::Year => "year",
        }
    }
}

/// The snake_case code of a survey category, as tally categories and the statistics name it.
pub(crate) fn survey_code(category: SurveyCategory) -> &'static str {
    match category {
        SurveyCategory::Hospital => "hospital",
        SurveyCategory::ImagingCenter => "imaging_center",
        SurveyCategory::LargeClinic => "large_clinic",
        SurveyCategory::Other => "other",
    }
}

/// The categories one report shows.
pub(crate) fn categories(report: &Facts) -> Vec<String> {
    let mut out = vec![
        "respondents".to_owned(),
        format!("site_type:{}", survey_code(report.site_type.survey_category())),
        format!("hipaa_source:{}", report.hipaa_source.code()),
    ];
    out.extend(report.route.iter().map(|route| format!("route:{}", route.code())));
    let flags = [
        (report.paid, "paid"),
        (!report.insurance_needed, "insurance_not_needed"),
        (report.accepted_independent == Some(true), "accepted_independent"),
        (report.would_recommend == Some(true), "would_recommend"),
    ];
    out.extend(flags.iter().filter(|(on, _)| *on).map(|(_, name)| (*name).to_owned()));
    out
}

/// One row's key: filter, group_by, group value, category, bound.
pub(crate) type Key = (String, &'static str, String, String, i16);

/// Which filters a count is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filters {
    /// Every filter the tally keeps.
    Tally,
    /// None (the reports were filtered already).
    Unfiltered,
}

/// How a filter keeps its bound: a respondent's latest matching year (`since`), earliest
/// (`until`), or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    None,
    Latest,
    Earliest,
}

/// Names interned as small numbers while counting (a million reports make hundreds of millions
/// of keys; numbers sort and hash fast, strings do not).
#[derive(Default)]
struct Names {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Names {
    fn id(&mut self, name: String) -> u32 {
        if let Some(id) = self.ids.get(&name) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }
}

/// The `group_by` codes, as the tally's keys hold them.
fn group_by_code(code: &str) -> &'static str {
    match code {
        "state" => "state",
        "modality" => "modality",
        "year" => "year",
        _ => "",
    }
}

/// A key while counting: the interned filter, group and category, and the bound.
type Interned = (u32, u32, u32, i16);

impl Names {
    /// The tally key an interned key stands for.
    fn key(&self, (filter, group, category, bound): Interned) -> Key {
        let (group_by, group_value) = self.names[group as usize].split_once('\0').unwrap_or_default();
        (
            self.names[filter as usize].clone(),
            group_by_code(group_by),
            group_value.to_owned(),
            self.names[category as usize].clone(),
            bound,
        )
    }
}

/// Respondents per key over `reports` (of any number of respondents): each respondent counts
/// once in each key any of their reports falls in, with their latest (`since`) or earliest
/// (`until`) year as the bound.
pub(crate) fn count(reports: &[Facts], filters: Filters) -> BTreeMap<Key, i64> {
    let mut names = Names::default();
    let counts = count_interned(reports, filters, &mut names);
    counts.into_iter().map(|(key, n)| (names.key(key), n)).collect()
}

/// [`count`] with its keys left interned in `names`: what a write's recount compares, so that
/// only the keys whose counts change are ever spelled out.
fn count_interned(reports: &[Facts], filters: Filters, names: &mut Names) -> HashMap<Interned, i64> {
    let mut order: Vec<&Facts> = reports.iter().collect();
    order.sort_by_key(|report| report.respondent_id);
    let mut counts: HashMap<Interned, i64> = HashMap::default();
    // (filter, group, category, bound kind, year) of one respondent's reports.
    let mut entries: Vec<(u32, u32, u32, Bound, i16)> = Vec::new();
    for respondent in order.chunk_by(|a, b| a.respondent_id == b.respondent_id) {
        entries.clear();
        for report in respondent {
            let mut report_filters = vec![(names.id(String::new()), Bound::None)];
            if filters == Filters::Tally {
                report_filters.extend([
                    (names.id(format!("modality:{}", report.modality.code())), Bound::None),
                    (names.id(format!("state:{}", report.state)), Bound::None),
                    (names.id(format!("site_type:{}", report.site_type.code())), Bound::None),
                    (names.id("since".to_owned()), Bound::Latest),
                    (names.id("until".to_owned()), Bound::Earliest),
                ]);
            }
            let groups = [
                names.id("\0".to_owned()),
                names.id(format!("state\0{}", report.state)),
                names.id(format!("modality\0{}", report.modality.code())),
                names.id(format!("year\0{}", report.year)),
            ];
            let categories: Vec<u32> = categories(report).into_iter().map(|c| names.id(c)).collect();
            for (filter, bound) in &report_filters {
                for group in groups {
                    for category in &categories {
                        entries.push((*filter, group, *category, *bound, report.year));
                    }
                }
            }
        }
        entries.sort_unstable_by_key(|(f, g, c, _, _)| (*f, *g, *c));
        for run in entries.chunk_by(|a, b| (a.0, a.1, a.2) == (b.0, b.1, b.2)) {
            let years = run.iter().map(|entry| entry.4);
            let bound = match run[0].3 {
                Bound::None => 0,
                Bound::Latest => years.max().unwrap_or(0),
                Bound::Earliest => years.min().unwrap_or(0),
            };
            *counts.entry((run[0].0, run[0].1, run[0].2, bound)).or_insert(0) += 1;
        }
    }
    counts
}

/// The counted reports of `respondents`.
pub(crate) async fn facts_of(conn: &mut PgConnection, respondents: &[Uuid]) -> Result<Vec<Facts>, sqlx::Error> {
    sqlx::query_as!(
        Facts,
        r#"select r.respondent_id, r.modality as "modality: Modality", s.state,
                  s.site_type as "site_type: SiteType", r.year, r.route as "route: Vec<Route>", r.paid,
                  r.hipaa_source as "hipaa_source: HipaaSource", r.insurance_needed, r.accepted_independent,
                  r.would_recommend
             from site_report r
             join site s on s.site_id = r.site_id
            where r.respondent_id = any($1) and r.hidden_at is null and s.source <> 'demo'"#,
        respondents,
    )
    .fetch_all(conn)
    .await
}

/// Tally rows as columns, for `unnest`.
#[derive(Default)]
pub(crate) struct Rows {
    pub(crate) filter: Vec<String>,
    pub(crate) group_by: Vec<String>,
    pub(crate) group_value: Vec<String>,
    pub(crate) category: Vec<String>,
    pub(crate) bound: Vec<i16>,
    pub(crate) respondents: Vec<i32>,
}

impl Rows {
    fn push(&mut self, (filter, group_by, group_value, category, bound): &Key, respondents: i64) {
        self.filter.push(filter.clone());
        self.group_by.push((*group_by).to_owned());
        self.group_value.push(group_value.clone());
        self.category.push(category.clone());
        self.bound.push(*bound);
        self.respondents.push(i32::try_from(respondents).unwrap_or(i32::MAX));
    }
}

/// A write's recount: the contributions of the respondents it touches, before it.
#[must_use = "finish the recount after the write, in the same transaction"]
pub(crate) struct Recount {
    respondents: Vec<Uuid>,
    /// Their counted reports before the write.
    facts: Vec<Facts>,
    names: Names,
    before: HashMap<Interned, i64>,
}

impl Recount {
    /// Locks `respondents` (so their writes recount one at a time) and records what they count in
    /// now. Call after locking the site the write is about, before the write.
    pub(crate) async fn begin(conn: &mut PgConnection, mut respondents: Vec<Uuid>) -> Result<Self, sqlx::Error> {
        respondents.sort();
        respondents.dedup();
        sqlx::query!(
            "select respondent_id from respondent where respondent_id = any($1) order by respondent_id for update",
            &respondents,
        )
        .fetch_all(&mut *conn)
        .await?;
        let facts = facts_of(conn, &respondents).await?;
        Ok(Self::of(respondents, facts))
    }

    /// [`Recount::begin`] for the respondent an account reports as (made one at its first
    /// report): the respondent and the recount. One statement for a member who reported before,
    /// two for a first report.
    pub(crate) async fn begin_for_account(
        conn: &mut PgConnection,
        account_id: Uuid,
    ) -> Result<(Uuid, Self), sqlx::Error> {
        if let Some(found) = Self::begin_for_respondent_of(&mut *conn, account_id).await? {
            return Ok(found);
        }
        // A new respondent counts nowhere yet; the row is this transaction's until it commits.
        if let Some(respondent_id) = super::queries::new_respondent(&mut *conn, account_id).await? {
            return Ok((respondent_id, Self::of(vec![respondent_id], Vec::new())));
        }
        // Made one meanwhile, by a write that has committed since.
        Self::begin_for_respondent_of(conn, account_id)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    /// The account's respondent, locked, and what it counts in, in one statement; `None` when the
    /// account has never reported.
    async fn begin_for_respondent_of(
        conn: &mut PgConnection,
        account_id: Uuid,
    ) -> Result<Option<(Uuid, Self)>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"with me as (select respondent_id from respondent where account_id = $1 for update)
               select me.respondent_id as "respondent_id!", r.modality as "modality?: Modality", s.state as "state?",
                      s.site_type as "site_type?: SiteType", r.year as "year?", r.route as "route?: Vec<Route>",
                      r.paid as "paid?", r.hipaa_source as "hipaa_source?: HipaaSource",
                      r.insurance_needed as "insurance_needed?", r.accepted_independent, r.would_recommend
                 from me
                 left join (site_report r join site s on s.site_id = r.site_id and s.source <> 'demo')
                        on r.respondent_id = me.respondent_id and r.hidden_at is null"#,
            account_id,
        )
        .fetch_all(conn)
        .await?;
        let Some(respondent_id) = rows.first().map(|row| row.respondent_id) else {
            return Ok(None);
        };
        let facts = rows
            .into_iter()
            .filter_map(|row| {
                Some(Facts {
                    respondent_id: row.respondent_id,
                    modality: row.modality?,
                    state: row.state?,
                    site_type: row.site_type?,
                    year: row.year?,
                    route: row.route?,
                    paid: row.paid?,
                    hipaa_source: row.hipaa_source?,
                    insurance_needed: row.insurance_needed?,
                    accepted_independent: row.accepted_independent,
                    would_recommend: row.would_recommend,
                })
            })
            .collect();
        Ok(Some((respondent_id, Self::of(vec![respondent_id], facts))))
    }

    fn of(respondents: Vec<Uuid>, facts: Vec<Facts>) -> Self {
        let mut names = Names::default();
        let before = count_interned(&facts, Filters::Tally, &mut names);
        Self {
            respondents,
            facts,
            names,
            before,
        }
    }

    /// Applies the difference between what the respondents count in now and before.
    pub(crate) async fn finish(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        self.changes(conn).await?.write(conn).await
    }

    /// The difference between what the respondents count in now and before, to be written with
    /// the site's summary ([`super::summary::refresh_and_record`]) or by [`TallyChanges::write`].
    pub(crate) async fn changes(self, conn: &mut PgConnection) -> Result<TallyChanges, sqlx::Error> {
        let after = facts_of(conn, &self.respondents).await?;
        Ok(self.compare(&after))
    }

    /// [`Recount::changes`] for a write that only added a report (`None`: one that does not
    /// count, on a demo site): what the respondents count in now is known without reading it.
    pub(crate) fn changes_adding(mut self, added: Option<Facts>) -> TallyChanges {
        let Some(added) = added else {
            return TallyChanges::default();
        };
        let mut after = std::mem::take(&mut self.facts);
        after.push(added);
        self.compare(&after)
    }

    fn compare(mut self, after: &[Facts]) -> TallyChanges {
        let mut deltas = count_interned(after, Filters::Tally, &mut self.names);
        for (key, n) in self.before {
            *deltas.entry(key).or_insert(0) -= n;
        }
        let mut changed: Vec<(Key, i64)> = deltas
            .into_iter()
            .filter(|(_, n)| *n != 0)
            .map(|(key, n)| (self.names.key(key), n))
            .collect();
        // In key order, so concurrent recounts lock the shared rows in the same order.
        changed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut rows = Rows::default();
        for (key, n) in &changed {
            rows.push(key, *n);
        }
        TallyChanges(rows)
    }
}

/// Changes to the running counts (respondents to add per key, in key order), not written yet.
#[derive(Default)]
#[must_use = "write the changes in the transaction that made them"]
pub(crate) struct TallyChanges(Rows);

impl TallyChanges {
    /// The changes as `unnest`'s columns (the respondents to add per key).
    pub(crate) fn rows(&self) -> &Rows {
        &self.0
    }

    /// Writes the changes on their own (appended, [`fold`]).
    pub(crate) async fn write(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.0.filter.is_empty() {
            return Ok(());
        }
        let rows = self.rows();
        sqlx::query!(
            "insert into report_tally_change (filter, group_by, group_value, category, bound, respondents)
             values ($1, $2, $3, $4, $5, $6)",
            &rows.filter,
            &rows.group_by,
            &rows.group_value,
            &rows.category,
            &rows.bound,
            &rows.respondents,
        )
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// Folds the changes writes appended into `report_tally`, summed per key, in one statement (so
/// one transaction: a reader of `report_tally_now` counts each change once, before or after);
/// how many changes. Concurrent folds (several instances) each take other changes: a change's
/// row is deleted by exactly one of them. Keys are written in order, so folds never deadlock.
pub async fn fold(pool: &sqlx::PgPool) -> Result<u64, sqlx::Error> {
    let folded = sqlx::query_scalar!(
        r#"with moved as (
               delete from report_tally_change returning filter, group_by, group_value, category, bound, respondents),
           summed as (
               select d.filter, d.group_by, d.group_value, d.category, d.bound, sum(d.respondents)::int4 as respondents
                 from moved,
                      unnest(moved.filter, moved.group_by, moved.group_value, moved.category, moved.bound, moved.respondents)
                        as d (filter, group_by, group_value, category, bound, respondents)
                group by 1, 2, 3, 4, 5
               having sum(d.respondents) <> 0
                order by 1, 2, 3, 4, 5),
           applied as (
               insert into report_tally (filter, group_by, group_value, category, bound, respondents)
               select * from summed
                   on conflict (filter, group_by, group_value, category, bound)
                   do update set respondents = report_tally.respondents + excluded.respondents)
           select count(*) as "changes!" from moved"#
    )
    .fetch_one(pool)
    .await?;
    Ok(u64::try_from(folded).unwrap_or(0))
}

/// The respondents with a report at `site_id`.
pub(crate) async fn respondents_at(conn: &mut PgConnection, site_id: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "select distinct respondent_id from site_report where site_id = $1",
        site_id
    )
    .fetch_all(conn)
    .await
}

/// Counts every report afresh into `report_tally` (after loading reports directly, e.g. the
/// benchmark's); returns the rows written. Writers wait meanwhile: the table is locked.
pub async fn rebuild(pool: &sqlx::PgPool) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // A writer waits for this lock to append its change: it has not committed, so its report is
    // not in this count, and its change is appended after it.
    sqlx::query!("lock table report_tally, report_tally_change in exclusive mode")
        .execute(&mut *tx)
        .await?;
    sqlx::query!("delete from report_tally_change")
        .execute(&mut *tx)
        .await?;
    sqlx::query!("delete from report_tally").execute(&mut *tx).await?;
    let facts = super::stats::matching_facts(&mut tx, &Default::default()).await?;
    let counts = count(&facts, Filters::Tally);
    let rows: Vec<(&Key, &i64)> = counts.iter().collect();
    for chunk in rows.chunks(10_000) {
        let mut columns = Rows::default();
        for (key, n) in chunk {
            columns.push(key, **n);
        }
        sqlx::query!(
            "insert into report_tally (filter, group_by, group_value, category, bound, respondents)
             select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int2[], $6::int4[])",
            &columns.filter,
            &columns.group_by,
            &columns.group_value,
            &columns.category,
            &columns.bound,
            &columns.respondents,
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(rows.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(respondent: u128, modality: Modality, year: i16, paid: bool) -> Facts {
        Facts {
            respondent_id: Uuid::from_u128(respondent),
            modality,
            state: "OH".to_owned(),
            site_type: SiteType::Hospital,
            year,
            route: vec![Route::Employer],
            paid,
            hipaa_source: HipaaSource::Employer,
            insurance_needed: false,
            accepted_independent: None,
            would_recommend: Some(true),
        }
    }

    fn get(counts: &BTreeMap<Key, i64>, filter: &str, category: &str, bound: i16) -> i64 {
        counts
            .get(&(filter.to_owned(), "", String::new(), category.to_owned(), bound))
            .copied()
            .unwrap_or(0)
    }

    #[test]
    fn a_respondent_counts_once_per_category_however_many_reports() {
        let reports = [
            report(1, Modality::Ct, 2020, false),
            report(1, Modality::Ct, 2022, true),
            report(2, Modality::Mri, 2021, false),
        ];
        let counts = count(&reports, Filters::Tally);
        assert_eq!(get(&counts, "", "respondents", 0), 2);
        assert_eq!(get(&counts, "", "paid", 0), 1);
        assert_eq!(get(&counts, "modality:ct", "respondents", 0), 1);
        // `since`: respondent 1's latest year is 2022, respondent 2's 2021.
        assert_eq!(get(&counts, "since", "respondents", 2022), 1);
        assert_eq!(get(&counts, "since", "respondents", 2021), 1);
        assert_eq!(get(&counts, "since", "respondents", 2020), 0);
        // `until`: earliest years 2020 and 2021; paid only in 2022.
        assert_eq!(get(&counts, "until", "respondents", 2020), 1);
        assert_eq!(get(&counts, "until", "paid", 2022), 1);
    }
}
