//! The SQL of sites, offers, managers and history.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{Column, FromRow, PgConnection, PgExecutor, Postgres, Row};
use uuid::Uuid;

use super::claims::Claim;
use super::input::{ValidOffer, ValidSite};
use super::model::{Site, SiteDetails};
use crate::body::field_names;
use crate::error::{ApiError, constraint_error};
use crate::reports::summary::ReportCounts;
use crate::vocabulary::{ClaimStatus, Modality, SiteChangeKind, SiteSource, SiteStatus};

/// Coordinates and where they came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Coordinates {
    pub(crate) latitude: f64,
    pub(crate) longitude: f64,
    /// `request`, `zip_centroid` or `zip_geonames`.
    pub(crate) source: &'static str,
}

/// The columns of a [`Site`], of the table aliased `s`, in the order its `FromRow` reads them: the
/// site's own, then its details (the fields of [`SiteDetails`], as its declaration names them),
/// then its state. `s.offers` is the offers object kept on the site row by [`sync_offers`]
/// (migration `…09`), so a list of sites comes back in one statement without building it per row.
pub(crate) static SITE_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    let own = ["site_id", "name", "site_type", "city", "state", "postal_code"];
    let state = [
        "coordinates_source",
        "status",
        "source",
        "verified_at",
        "created_at",
        "updated_at",
        "version",
        "offers",
        "report_counts",
        "reports_revision",
    ];
    own.iter()
        .chain(field_names::<SiteDetails>())
        .chain(&state)
        .map(|column| format!("s.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
});

impl<'r> FromRow<'r, PgRow> for Site {
    /// Reads the columns by position, in [`SITE_COLUMNS`]' order (a page of sites looked up 43
    /// names per row in a hash map: 6% of the server's work per search).
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        let mut c = Columns { row, next: 0 };
        let mut site = Site {
            site_id: c.get("site_id")?,
            name: c.get("name")?,
            site_type: c.get("site_type")?,
            city: c.get("city")?,
            state: c.get("state")?,
            postal_code: c.get("postal_code")?,
            details: SiteDetails {
                aliases: c.get("aliases")?,
                street: c.get("street")?,
                latitude: c.get("latitude")?,
                longitude: c.get("longitude")?,
                phone: c.get("phone")?,
                website: c.get("website")?,
                email: c.get("email")?,
                npi: c.get("npi")?,
                external_id: c.get("external_id")?,
                payment: c.get("payment")?,
                fee_usd: c.get("fee_usd")?,
                fee_covers: c.get("fee_covers")?,
                compensation: c.get("compensation")?,
                hipaa_training: c.get("hipaa_training")?,
                liability_insurance: c.get("liability_insurance")?,
                insurance_accepted: c.get("insurance_accepted")?,
                min_per_occurrence_usd: c.get("min_per_occurrence_usd")?,
                min_aggregate_usd: c.get("min_aggregate_usd")?,
                background_check: c.get("background_check")?,
                drug_screen: c.get("drug_screen")?,
                immunizations: c.get("immunizations")?,
                bls_required: c.get("bls_required")?,
                orientation_required: c.get("orientation_required")?,
                affiliation_agreement_required: c.get("affiliation_agreement_required")?,
                lead_time_days: c.get("lead_time_days")?,
                housing: c.get("housing")?,
                schedule: c.get("schedule")?,
                rotation_weeks_min: c.get("rotation_weeks_min")?,
                rotation_weeks_max: c.get("rotation_weeks_max")?,
                min_hours_per_week: c.get("min_hours_per_week")?,
            },
            coordinates_source: c.get("coordinates_source")?,
            status: c.get("status")?,
            source: c.get("source")?,
            verified_at: c.get("verified_at")?,
            created_at: c.get("created_at")?,
            updated_at: c.get("updated_at")?,
            version: c.get("version")?,
            offers: c.get("offers")?,
            reports: ReportCounts::default().summary(u32::MAX),
            report_counts: c.get::<sqlx::types::Json<ReportCounts>>("report_counts")?.0,
            reports_revision: c.get("reports_revision")?,
            notices: Vec::new(),
        };
        // Until a response applies the disclosure threshold, only the number of reports shows.
        site.disclose(u32::MAX);
        Ok(site)
    }
}

/// Reads a row's columns one after the other, each checked to be the column named (a comparison
/// of two short strings), so a change to [`SITE_COLUMNS`] that the decoding does not follow is an
/// error, never a value read into the wrong field.
struct Columns<'r> {
    row: &'r PgRow,
    next: usize,
}

impl<'r> Columns<'r> {
    fn get<T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>>(&mut self, name: &str) -> sqlx::Result<T> {
        let index = self.next;
        self.next += 1;
        match self.row.columns().get(index) {
            Some(column) if column.name() == name => self.row.try_get(index),
            _ => Err(sqlx::Error::ColumnNotFound(format!(
                "{name} (column {index} of the site's columns)"
            ))),
        }
    }
}

/// The site with its offers, or `None`.
pub(crate) async fn load(conn: &mut PgConnection, site_id: Uuid) -> Result<Option<Site>, ApiError> {
    // Runtime SQL: a `Site` (nested details, raw offers) is read by its `FromRow` from
    // `SITE_COLUMNS`, the one column list every statement returning a site shares.
    let columns = &*SITE_COLUMNS;
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {columns} from site s where s.site_id = $1"
    )))
    .bind(site_id)
    .fetch_optional(conn)
    .await?)
}

/// The sites of `ids` that exist, in id order.
pub(crate) async fn load_many(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<Site>, ApiError> {
    let columns = &*SITE_COLUMNS;
    // Runtime SQL: `SITE_COLUMNS`, as in `load`.
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {columns} from site s where s.site_id = any($1) order by s.site_id"
    )))
    .bind(ids)
    .fetch_all(conn)
    .await?)
}

/// Locks the site row for this transaction; returns its version and status.
pub(crate) async fn lock(conn: &mut PgConnection, site_id: Uuid) -> Result<Option<(i64, SiteStatus)>, ApiError> {
    let row = sqlx::query!(
        r#"select version, status as "status: SiteStatus" from site where site_id = $1 for update"#,
        site_id,
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|row| (row.version, row.status)))
}

/// Serializes writes that could create a duplicate in one ZIP code, until the transaction ends.
pub(crate) async fn lock_zip(conn: &mut PgConnection, zip5: &str) -> Result<(), ApiError> {
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended('site zip ' || $1, 0))",
        zip5
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Serializes writes of sites with one NPI (which may be in different ZIP codes), like
/// [`lock_zip`]; taken after it.
pub(crate) async fn lock_npi(conn: &mut PgConnection, npi: &str) -> Result<(), ApiError> {
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended('site npi ' || $1, 0))",
        npi
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A listed site as the duplicate guard compares it, with the address its 409 shows.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub(crate) site_id: Uuid,
    pub(crate) name: String,
    pub(crate) street: Option<String>,
    pub(crate) city: String,
    pub(crate) state: String,
    pub(crate) postal_code: String,
    pub(crate) npi: Option<String>,
}

/// The sites a site in `zip5` with `npi` could duplicate, oldest first: every site of the ZIP code
/// (a handful, from `site_zip5_name_idx`) and any with the NPI (`site_npi_idx`), archived ones too.
pub(crate) async fn duplicate_candidates(
    conn: &mut PgConnection,
    zip5: &str,
    npi: Option<&str>,
    except: Option<Uuid>,
) -> Result<Vec<Listed>, ApiError> {
    Ok(sqlx::query_as!(
        Listed,
        "select site_id, name, street, city, state, postal_code, npi from site
          where (zip5 = $1 or npi = $2) and ($3::uuid is null or site_id <> $3)
          order by site_id",
        zip5,
        npi,
        except,
    )
    .fetch_all(conn)
    .await?)
}

/// A site's editable columns as one JSON object keyed by column name: the fields of
/// [`ValidSite`] (its declaration names them) and the coordinates found for it. `insert` and
/// `update` write the object with `jsonb_populate_record`, which turns each value into its
/// column's type, so no statement lists or numbers a field by hand.
#[derive(serde::Serialize)]
pub(crate) struct EditableColumns<'a> {
    #[serde(flatten)]
    site: &'a ValidSite,
    latitude: Option<f64>,
    longitude: Option<f64>,
    coordinates_source: Option<&'static str>,
}

impl<'a> EditableColumns<'a> {
    /// The columns, and their names comma-separated (the same for every site: read from the
    /// first one serialized, since every field is always present).
    pub(crate) fn of(site: &'a ValidSite, coordinates: Option<Coordinates>) -> Result<(Value, &'static str), ApiError> {
        static NAMES: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let columns = serde_json::to_value(Self {
            site,
            latitude: coordinates.map(|c| c.latitude),
            longitude: coordinates.map(|c| c.longitude),
            coordinates_source: coordinates.map(|c| c.source),
        })
        .map_err(ApiError::internal)?;
        let Value::Object(object) = &columns else {
            return Err(ApiError::internal("a site's columns did not serialize to an object"));
        };
        let names = NAMES.get_or_init(|| object.keys().map(String::as_str).collect::<Vec<_>>().join(", "));
        Ok((columns, names))
    }

    /// The columns' names, comma-separated, in the order [`EditableColumns::of`] writes them
    /// (read from a minimal site's).
    pub(crate) fn names() -> &'static str {
        let minimal = serde_json::json!({
            "name": "Any", "site_type": "clinic", "city": "Any", "state": "OH", "postal_code": "43210"
        });
        let site = super::input::read_site(&minimal).expect("a minimal site reads");
        EditableColumns::of(&site, None).map_or("", |(_, names)| names)
    }
}

/// Inserts a new site with its offers and returns it as stored: one statement (the row, its
/// offers' rows, and the offers and modalities kept on the row, built from the offers given as
/// [`sync_offers`] builds them).
pub(crate) async fn insert(
    conn: &mut PgConnection,
    site_id: Uuid,
    site: &ValidSite,
    coordinates: Option<Coordinates>,
    source: SiteSource,
    created_by: Uuid,
) -> Result<Site, ApiError> {
    let (editable, names) = EditableColumns::of(site, coordinates)?;
    let columns = &*SITE_COLUMNS;
    let (given, kept) = given_offers(&site.offers);
    // Runtime SQL: the column names come from the declaration (`ValidSite`'s fields, identifiers,
    // never input), so a new field needs no edit here.
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "with given as ({GIVEN_OFFERS}),
              s as (insert into site (site_id, modalities, offers, source, created_by, {names})
                    select $1, $3, ({OFFERS_OBJECT}), $5, $6, {names} from jsonb_populate_record(null::site, $4)
                    returning *),
              offered as ({INSERT_OFFERS})
         select {columns} from s"
    )))
    .bind(site_id)
    .bind(sqlx::types::Json(&given))
    .bind(&kept)
    .bind(editable)
    .bind(source)
    .bind(created_by)
    .fetch_one(conn)
    .await
    .map_err(external_id_taken)
}

/// 409 for a write that gives a site another site's `external_id`.
pub(crate) fn external_id_taken(error: sqlx::Error) -> ApiError {
    constraint_error(error, |name| {
        (name == "site_external_id_key").then(|| {
            ApiError::conflict("another site has this external_id; it must be unique")
                .with_errors(vec![crate::error::FieldError::new("external_id", "is another site's")])
        })
    })
}

/// Replaces every editable field of a site, bumps its version, and returns it as stored (with
/// the offers as they are now: write them first, with [`sync_offers`]).
pub(crate) async fn update(
    conn: &mut PgConnection,
    site_id: Uuid,
    site: &ValidSite,
    coordinates: Option<Coordinates>,
) -> Result<Site, ApiError> {
    let (editable, names) = EditableColumns::of(site, coordinates)?;
    let columns = &*SITE_COLUMNS;
    // Runtime SQL: the column names come from the declaration, as in `insert`.
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "with s as (
             update site set ({names}) = (select {names} from jsonb_populate_record(null::site, $2)),
                    version = version + 1
              where site_id = $1
             returning *)
         select {columns} from s"
    )))
    .bind(site_id)
    .bind(editable)
    .fetch_one(conn)
    .await
    .map_err(external_id_taken)
}

/// Makes the site's offers exactly `offers` (upserting, removing the rest) and refreshes the
/// site's denormalized `modalities` and `offers` (the row is written only when one changed, by
/// value: an object written with other spacing or key order, e.g. by an import, is not rewritten).
/// One statement, one round trip, however many offers: the site's `offers` is built from the
/// offers given, as `site_offers_json` builds it from the rows they become (a statement does not
/// see its own writes).
pub(crate) async fn sync_offers(
    conn: &mut PgConnection,
    site_id: Uuid,
    offers: &BTreeMap<Modality, ValidOffer>,
) -> Result<(), ApiError> {
    let (given, kept) = given_offers(offers);
    // Runtime SQL: built from the offer fragments `insert` shares (`GIVEN_OFFERS`, ...).
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "with given as ({GIVEN_OFFERS}),
         upserted as (
             {INSERT_OFFERS}
             on conflict (site_id, modality) do update set
                accepting = excluded.accepting, capacity = excluded.capacity,
                verifier_on_site = excluded.verifier_on_site, accepts = excluded.accepts,
                procedure_categories = excluded.procedure_categories, volume_band = excluded.volume_band,
                notes = excluded.notes
             where (site_offer.accepting, site_offer.capacity, site_offer.verifier_on_site, site_offer.accepts,
                    site_offer.procedure_categories, site_offer.volume_band, site_offer.notes)
                   is distinct from
                   (excluded.accepting, excluded.capacity, excluded.verifier_on_site, excluded.accepts,
                    excluded.procedure_categories, excluded.volume_band, excluded.notes)),
         removed as (
             delete from site_offer where site_id = $1 and modality <> all($3))
         update site set modalities = $3, offers = o.offers
           from (select ({OFFERS_OBJECT}) as offers) o
          where site_id = $1 and (modalities is distinct from $3 or site.offers::jsonb <> o.offers::jsonb)"
    )))
    .bind(site_id)
    .bind(sqlx::types::Json(&given))
    .bind(&kept)
    .execute(conn)
    .await?;
    Ok(())
}

/// The record type of the offers given to a statement as JSON (the array of [`given_offers`]),
/// aliased `g`: `jsonb_to_recordset(<array>) as ` this.
macro_rules! offer_record {
    () => {
        "g(modality text, accepting boolean, capacity integer, verifier_on_site boolean, accepts text[],
           procedure_categories text[], volume_band text, notes text)"
    };
}

/// The offers of `g` (an [`offer_record`]) as the site row keeps them (`site.offers`), in the
/// shape `site_offers_json` gives the stored rows (migration `…09`): a JSON aggregate.
macro_rules! offers_aggregate {
    () => {
        "coalesce(json_object_agg(g.modality, json_build_object(
         'accepting', g.accepting, 'capacity', g.capacity, 'verifier_on_site', g.verifier_on_site,
         'accepts', g.accepts, 'procedure_categories', g.procedure_categories,
         'volume_band', g.volume_band, 'notes', g.notes) order by g.modality), '{}')"
    };
}

/// The offer columns of `site_offer` after its `site_id`, as `g` (an [`offer_record`]) names them.
macro_rules! offer_values {
    () => {
        "g.modality, g.accepting, g.capacity, g.verifier_on_site, g.accepts, g.procedure_categories, g.volume_band, g.notes"
    };
}

/// The offers given to a statement as rows of `given`: the JSON array of [`given_offers`], bound
/// as `$2` (and their modalities as `$3`) by every statement that uses it, which binds the site's
/// id as `$1`.
const GIVEN_OFFERS: &str = concat!("select * from jsonb_to_recordset($2::jsonb) as ", offer_record!());

/// The offers of `given` as the site row keeps them (`site.offers`).
const OFFERS_OBJECT: &str = concat!("select ", offers_aggregate!(), " from given g");

/// Inserts the rows of `given` as the offers of site `$1`.
const INSERT_OFFERS: &str = concat!(
    "insert into site_offer (site_id, modality, accepting, capacity, verifier_on_site, accepts,
                             procedure_categories, volume_band, notes)
     select $1, ",
    offer_values!(),
    " from given g"
);

/// The offers of the staged rows `st` of an import (their `import_given` array) as rows `g`.
pub(crate) const STAGED_OFFERS: &str = concat!("jsonb_to_recordset(st.import_given) as ", offer_record!());

/// `site_offer`'s columns and the values of `g` for them, after `site_id`.
pub(crate) const OFFER_COLUMNS: &str =
    "modality, accepting, capacity, verifier_on_site, accepts, procedure_categories, volume_band, notes";
pub(crate) const OFFER_VALUES: &str = offer_values!();

/// The offers as the JSON array `GIVEN_OFFERS` reads, and their modalities.
pub(crate) fn given_offers(offers: &BTreeMap<Modality, ValidOffer>) -> (Vec<Value>, Vec<Modality>) {
    let given = offers
        .iter()
        .map(|(modality, offer)| {
            serde_json::json!({
                "modality": modality,
                "accepting": offer.accepting,
                "capacity": offer.capacity,
                "verifier_on_site": offer.verifier_on_site,
                "accepts": offer.accepts,
                "procedure_categories": offer.procedure_categories,
                "volume_band": offer.volume_band,
                "notes": offer.notes,
            })
        })
        .collect();
    (given, offers.keys().copied().collect())
}

/// The offers as the site row keeps them (`site.offers`): the object `OFFERS_OBJECT` builds in
/// SQL, the same keys and values (only their order and spacing differ, which nothing compares:
/// `sync_offers` compares by value). An import writes it so, rather than building it per row.
pub(crate) fn offers_object(offers: &BTreeMap<Modality, ValidOffer>) -> Value {
    Value::Object(
        offers
            .iter()
            .map(|(modality, offer)| {
                let fields = serde_json::json!({
                    "accepting": offer.accepting,
                    "capacity": offer.capacity,
                    "verifier_on_site": offer.verifier_on_site,
                    "accepts": offer.accepts,
                    "procedure_categories": offer.procedure_categories,
                    "volume_band": offer.volume_band,
                    "notes": offer.notes,
                });
                (crate::vocabulary::CodeSet::code(*modality).to_owned(), fields)
            })
            .collect(),
    )
}

/// Sets the status (archive, restore, verify) and bumps the version.
pub(crate) async fn set_status(
    conn: &mut PgConnection,
    site_id: Uuid,
    status: SiteStatus,
    verified_by: Option<Uuid>,
) -> Result<(), ApiError> {
    sqlx::query!(
        "update site set status = $2, version = version + 1,
                verified_by = coalesce($3, verified_by),
                verified_at = case when $3::uuid is null then verified_at else now() end
          where site_id = $1",
        site_id,
        status as SiteStatus,
        verified_by,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Back to `unverified`, forgetting the verification (so restoring it from the archive cannot
/// bring "verified" back either): its identity changed since an administrator checked it.
pub(crate) async fn unverify(conn: &mut PgConnection, site_id: Uuid) -> Result<(), ApiError> {
    sqlx::query!(
        "update site set status = $2, verified_by = null, verified_at = null where site_id = $1",
        site_id,
        SiteStatus::Unverified as SiteStatus,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether `account_id` manages `site_id`.
pub(crate) async fn is_manager(
    executor: impl PgExecutor<'_>,
    site_id: Uuid,
    account_id: Uuid,
) -> Result<bool, ApiError> {
    Ok(sqlx::query_scalar!(
        r#"select exists (select 1 from site_manager where site_id = $1 and account_id = $2) as "manages!""#,
        site_id,
        account_id,
    )
    .fetch_one(executor)
    .await?)
}

/// Makes `account_id` a manager of `site_id` (no-op if already).
pub(crate) async fn add_manager(
    executor: impl PgExecutor<'_>,
    site_id: Uuid,
    account_id: Uuid,
) -> Result<(), ApiError> {
    sqlx::query!(
        "insert into site_manager (site_id, account_id) values ($1, $2) on conflict do nothing",
        site_id,
        account_id,
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Records a change in the site's history (in the caller's transaction).
pub(crate) async fn record_change(
    executor: impl PgExecutor<'_>,
    site_id: Uuid,
    account_id: impl Into<Option<Uuid>>,
    kind: SiteChangeKind,
    changes: &Value,
) -> Result<(), ApiError> {
    let account_id: Option<Uuid> = account_id.into();
    sqlx::query!(
        "insert into site_change (site_change_id, site_id, account_id, kind, changes) values ($1, $2, $3, $4, $5)",
        Uuid::now_v7(),
        site_id,
        account_id,
        kind as SiteChangeKind,
        changes,
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// The claim with this id, with its site's name.
pub(crate) async fn claim(executor: impl PgExecutor<'_>, claim_id: Uuid) -> Result<Option<Claim>, ApiError> {
    Ok(sqlx::query_as!(
        Claim,
        r#"select c.site_claim_id, c.site_id, s.name as site_name, c.account_id, c.justification,
                  c.status as "status: ClaimStatus", c.decided_by, c.decided_at, c.decision_note, c.created_at
             from site_claim c join site s on s.site_id = c.site_id
            where c.site_claim_id = $1"#,
        claim_id,
    )
    .fetch_optional(executor)
    .await?)
}

/// A page of claims with `status` after `after` (by id, which is time-ordered).
pub(crate) async fn claims(
    executor: impl PgExecutor<'_>,
    status: ClaimStatus,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Claim>, ApiError> {
    Ok(sqlx::query_as!(
        Claim,
        r#"select c.site_claim_id, c.site_id, s.name as site_name, c.account_id, c.justification,
                  c.status as "status: ClaimStatus", c.decided_by, c.decided_at, c.decision_note, c.created_at
             from site_claim c join site s on s.site_id = c.site_id
            where c.status = $1 and ($2::uuid is null or c.site_claim_id > $2)
            order by c.site_claim_id
            limit $3"#,
        status as ClaimStatus,
        after,
        limit,
    )
    .fetch_all(executor)
    .await?)
}

/// Records a new pending claim; 409 when the account already has one on the site.
pub(crate) async fn insert_claim(
    executor: impl PgExecutor<'_>,
    claim_id: Uuid,
    site_id: Uuid,
    account_id: Uuid,
    justification: &str,
) -> Result<(), ApiError> {
    sqlx::query!(
        "insert into site_claim (site_claim_id, site_id, account_id, justification) values ($1, $2, $3, $4)",
        claim_id,
        site_id,
        account_id,
        justification,
    )
    .execute(executor)
    .await
    .map_err(|error| {
        constraint_error(error, |name| {
            (name == "site_claim_pending_key")
                .then(|| ApiError::conflict("you already have a pending claim on this site"))
        })
    })?;
    Ok(())
}

/// A claim's site, claimant and status, locked for this transaction.
pub(crate) async fn lock_claim(
    conn: &mut PgConnection,
    claim_id: Uuid,
) -> Result<Option<(Uuid, Uuid, ClaimStatus)>, ApiError> {
    let row = sqlx::query!(
        r#"select site_id, account_id, status as "status: ClaimStatus"
             from site_claim where site_claim_id = $1 for update"#,
        claim_id,
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|row| (row.site_id, row.account_id, row.status)))
}

/// Records an administrator's decision on a claim.
pub(crate) async fn decide_claim(
    executor: impl PgExecutor<'_>,
    claim_id: Uuid,
    status: ClaimStatus,
    decided_by: Uuid,
    note: Option<&str>,
) -> Result<(), ApiError> {
    sqlx::query!(
        "update site_claim set status = $2, decided_by = $3, decided_at = now(), decision_note = $4
          where site_claim_id = $1",
        claim_id,
        status as ClaimStatus,
        decided_by,
        note,
    )
    .execute(executor)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::SITE_COLUMNS;

    #[test]
    fn a_sites_columns_follow_its_declarations() {
        let columns: Vec<&str> = SITE_COLUMNS.split(", ").collect();
        assert_eq!(columns.len(), 46);
        assert_eq!(
            columns[..7],
            [
                "s.site_id",
                "s.name",
                "s.site_type",
                "s.city",
                "s.state",
                "s.postal_code",
                "s.aliases"
            ]
        );
        assert_eq!(columns[35], "s.min_hours_per_week");
        assert_eq!(columns[43], "s.offers");
        assert_eq!(columns.last(), Some(&"s.reports_revision"));
    }
}
