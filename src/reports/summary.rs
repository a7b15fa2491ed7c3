//! A site's report summary: what members reported of it, beside what the listing says, on the
//! site and on each search hit.
//!
//! Each report write counts the site's reports again into `site.report_counts` (in its
//! transaction, the site row being locked already), which the site's reads and search pages read
//! with the row. The disclosure rule is applied when a response is made: with fewer than
//! `STATS_MIN_RESPONDENTS` respondents only the number of reports is shown; a share of 1 to 4
//! reports is `"<5"`, and the median amount paid needs 5 amounts.

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::stats::{HipaaSourceShares, Share, share};

/// The counts of a site's reports (not hidden; none for a demo site), as `site.report_counts`
/// keeps them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ReportCounts {
    pub(crate) reports: u32,
    pub(crate) respondents: u32,
    pub(crate) paid: u32,
    pub(crate) paid_amounts: u32,
    pub(crate) median_paid_usd: Option<i32>,
    pub(crate) hipaa_employer: u32,
    pub(crate) hipaa_clinical_facility: u32,
    pub(crate) hipaa_educational_program: u32,
    pub(crate) hipaa_online: u32,
    pub(crate) hipaa_unspecified: u32,
    pub(crate) insurance_needed: u32,
    pub(crate) accepted_independent: u32,
    pub(crate) would_recommend: u32,
}

/// What members reported of a site. The shares are of its reports; they are shown once the
/// reports come from at least `min_respondents` members (the statistics' disclosure threshold),
/// so a frontend can set them beside the listing's own claims ("listing says free, 4 of 5
/// members paid").
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub(crate) struct ReportSummary {
    /// Members' reports of rotations here (hidden ones left out).
    pub(crate) reports: u32,
    /// `true` when the reports come from fewer members than the disclosure threshold: the shares
    /// are then `null`.
    pub(crate) insufficient_data: bool,
    /// Reports of paying for the clinical experience (compare `payment`).
    #[schema(required = true)]
    pub(crate) paid: Option<Share>,
    /// The median amount paid in US dollars, of the reports that said (at least 5).
    #[schema(required = true, example = 450)]
    pub(crate) median_paid_usd: Option<i32>,
    /// Where HIPAA training came from (compare `hipaa_training`).
    #[schema(required = true)]
    pub(crate) hipaa_source: Option<HipaaSourceShares>,
    /// Reports that liability insurance was needed (compare `liability_insurance`).
    #[schema(required = true)]
    pub(crate) insurance_needed: Option<Share>,
    /// Reports of being accepted as an independent candidate (compare the offers' `accepts`).
    #[schema(required = true)]
    pub(crate) accepted_independent: Option<Share>,
    /// Reports that would recommend the site.
    #[schema(required = true)]
    pub(crate) would_recommend: Option<Share>,
}

impl ReportCounts {
    /// The summary under the disclosure threshold `threshold` (respondents).
    pub(crate) fn summary(&self, threshold: u32) -> ReportSummary {
        let shown = self.respondents >= threshold && self.reports > 0;
        let of = |n: u32| shown.then(|| share(n, self.reports));
        ReportSummary {
            reports: self.reports,
            insufficient_data: !shown,
            paid: of(self.paid),
            median_paid_usd: self.median_paid_usd.filter(|_| shown && self.paid_amounts >= 5),
            hipaa_source: shown.then(|| HipaaSourceShares {
                employer: share(self.hipaa_employer, self.reports),
                clinical_facility: share(self.hipaa_clinical_facility, self.reports),
                educational_program: share(self.hipaa_educational_program, self.reports),
                online: share(self.hipaa_online, self.reports),
                unspecified: share(self.hipaa_unspecified, self.reports),
            }),
            insurance_needed: of(self.insurance_needed),
            accepted_independent: of(self.accepted_independent),
            would_recommend: of(self.would_recommend),
        }
    }
}

/// Counts the site's reports again into `site.report_counts`, and moves its reports' revision
/// on (part of the site's `ETag`, not of the listing's `version`; the listing's `updated_at`
/// stays). Call in the report write's transaction.
pub(crate) async fn refresh(conn: &mut PgConnection, site_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update site s
                set report_counts = site_report_counts(s.site_id), reports_revision = reports_revision + 1
          where site_id = $1",
        site_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The end of a report write, in one statement (one round trip of a report write's few): the
/// running counts' changes (appended, [`super::tally::fold`]), [`refresh`], and the site's history
/// entry.
pub(crate) async fn refresh_and_record(
    conn: &mut PgConnection,
    site_id: Uuid,
    account_id: Option<Uuid>,
    kind: crate::vocabulary::SiteChangeKind,
    changes: &serde_json::Value,
    tally: super::tally::TallyChanges,
) -> Result<(), sqlx::Error> {
    let rows = tally.rows();
    sqlx::query!(
        "with tally as (
         insert into report_tally_change (filter, group_by, group_value, category, bound, respondents)
         select $6, $7, $8, $9, $10, $11 where cardinality($6::text[]) > 0),
         refreshed as (
         update site s
                    set report_counts = site_report_counts(s.site_id), reports_revision = reports_revision + 1
              where site_id = $1
          returning s.site_id)
         insert into site_change (site_change_id, site_id, account_id, kind, changes)
         select $2, site_id, $3, $4, $5 from refreshed",
        site_id,
        Uuid::now_v7(),
        account_id,
        kind as crate::vocabulary::SiteChangeKind,
        changes,
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

/// Counts every site's reports again (the sites with reports, and those whose summary is not
/// empty); how many sites.
pub(crate) async fn refresh_all(pool: &sqlx::PgPool) -> Result<u64, sqlx::Error> {
    let sites = sqlx::query_scalar!(
        r#"select site_id as "site_id!" from site_report union select site_id from site where report_counts <> '{}'"#
    )
    .fetch_all(pool)
    .await?;
    let mut tx = pool.begin().await?;
    for site_id in &sites {
        refresh(&mut tx, *site_id).await?;
    }
    tx.commit().await?;
    Ok(sites.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::stats::Count;

    #[test]
    fn shares_are_shown_from_the_threshold_and_small_ones_withheld() {
        let counts = ReportCounts {
            reports: 6,
            respondents: 5,
            paid: 4,
            paid_amounts: 4,
            median_paid_usd: Some(300),
            accepted_independent: 6,
            ..ReportCounts::default()
        };
        let below = counts.summary(6);
        assert!(below.insufficient_data);
        assert_eq!(below.reports, 6);
        assert!(below.paid.is_none() && below.hipaa_source.is_none());
        let shown = counts.summary(5);
        assert!(!shown.insufficient_data);
        assert_eq!(shown.paid.unwrap().percent, None, "4 reports: \"<5\"");
        assert_eq!(shown.accepted_independent.unwrap().count, Count::Exact(6));
        assert_eq!(shown.median_paid_usd, None, "a median of 4 amounts is withheld");
    }
}
