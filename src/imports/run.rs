//! Running an import, all or nothing, in one transaction:
//!
//! 1. **Read and check** (a blocking thread): each record becomes the document `POST /v1/sites`
//!    takes and is read by that endpoint's own reader (`sites::read_new_site`); the checked sites
//!    stream into a staging table by `COPY`, in the file's order, while the file streams in.
//! 2. **Match and guard** (once every row passed): with writes to sites held off (`share row
//!    exclusive`, so no site can appear meanwhile), the listed sites of the file's ZIP codes, NPIs
//!    and external ids are read in one statement; each row is matched to the site it updates
//!    (`--upsert-by`) and put through the duplicate guard's comparison (`sites::duplicates`),
//!    against the listed sites and the file's earlier rows.
//! 3. **Write**, in batches of rows: set-based inserts and updates from the staging table, the
//!    offers, and one history entry per site naming the import, computed as `POST` and `PATCH`
//!    compute theirs (`sites::diff` of the editable fields).
//!
//! One bad row anywhere and nothing is written: the import's record says which rows and why.

use std::collections::HashMap;
use std::io::{Read, Write as _};

use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::read::{Format, Record, Records, Unreadable};
use super::{UpsertBy, queries};
use crate::error::{ApiError, FieldError, RowProblem};
use crate::sites::duplicates::{self, Facility, Signal};
use crate::sites::input::ValidSite;
use crate::sites::queries::{EditableColumns, Listed, given_offers, offers_object};
use crate::sites::{self, site_href};
use crate::vocabulary::{CodeSet, SiteChangeKind};

/// How many refused rows an import's record and answer list (all are counted).
pub(crate) const REJECTS_LISTED: usize = 1000;

/// Rows written per batch of statements.
const BATCH: usize = 5000;

/// What an import is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub format: Format,
    pub upsert_by: Option<UpsertBy>,
    /// How many refused rows to list in the [`Outcome`] (all are counted; the import's record
    /// keeps the first [`REJECTS_LISTED`]).
    pub rejects_listed: usize,
}

/// Where an import is, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    /// This many rows read and checked.
    Read(u64),
    /// Every row passed: matching and the duplicate guard.
    Matching,
    /// This many of the rows written.
    Written { done: u64, total: u64 },
}

/// How an import ended.
#[derive(Debug)]
#[allow(clippy::large_enum_variant, reason = "one per import")]
pub enum Outcome {
    /// Every row was written.
    Imported { created: u64, updated: u64, unchanged: u64 },
    /// Rows broke rules (the first [`REJECTS_LISTED`] listed, `rejected` counted); nothing was
    /// written.
    Rejected { rejected: u64, rows: Vec<RowProblem> },
    /// The file could not be read as a whole (a bad CSV header, a broken upload); nothing was
    /// written. `too_large` when the body passed the import size limit.
    Unreadable { detail: String, too_large: bool },
}

/// A checked row, or why it was refused.
enum Checked {
    Valid(Box<CheckedSite>),
    Invalid(RowProblem),
}

struct CheckedSite {
    row: u64,
    site: ValidSite,
    reason: Option<String>,
}

/// What the duplicate guard and matching need of a staged row, kept in memory (the sites
/// themselves are in the staging table).
struct Pending {
    row: u64,
    site_id: Uuid,
    listed: Listed,
    street: Option<String>,
    external_id: Option<String>,
    reason: Option<String>,
}

/// Runs import `import_id` (its record already made) of `input`, reporting progress to `step`.
/// `created_by` is the administrator (none from the command line).
pub async fn run<R: Read + Send + 'static>(
    pool: &PgPool,
    import_id: Uuid,
    created_by: Option<Uuid>,
    options: Options,
    input: R,
    step: &(dyn Fn(Step) + Sync),
) -> Result<Outcome, ApiError> {
    let result = import(pool, import_id, created_by, options, input, step).await;
    let recorded = match &result {
        Ok(Outcome::Imported { .. }) => Ok(()),
        Ok(Outcome::Rejected { rejected, rows }) => {
            let listed = &rows[..rows.len().min(REJECTS_LISTED)];
            queries::fail(
                pool,
                import_id,
                *rejected,
                listed,
                &format!("{rejected} rows were refused"),
            )
            .await
        }
        Ok(Outcome::Unreadable { detail, .. }) => queries::fail(pool, import_id, 0, &[], detail).await,
        Err(error) => queries::fail(pool, import_id, 0, &[], &format!("stopped by an error: {error}")).await,
    };
    let outcome = result?;
    recorded?;
    crate::metrics::imported(&outcome);
    Ok(outcome)
}

async fn import<R: Read + Send + 'static>(
    pool: &PgPool,
    import_id: Uuid,
    created_by: Option<Uuid>,
    options: Options,
    input: R,
    step: &(dyn Fn(Step) + Sync),
) -> Result<Outcome, ApiError> {
    let started = std::time::Instant::now();
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Checked>(1024);
    let format = options.format;
    let reader = tokio::task::spawn_blocking(move || read_and_check(format, input, &sender));

    let mut tx = pool.begin().await?;
    // The `COPY` lasts as long as the upload: no statement timeout in this transaction.
    // Runtime SQL: a utility statement, which the build's checks cannot prepare.
    sqlx::query("set local statement_timeout = 0").execute(&mut *tx).await?;
    let names = EditableColumns::names();
    queries::create_staging(&mut tx, names).await?;

    let mut pending: Vec<Pending> = Vec::new();
    let mut rejected = 0_u64;
    let mut rejects: Vec<RowProblem> = Vec::new();
    let mut read = 0_u64;
    {
        let mut copy = tx.copy_in_raw(&queries::copy_statement(names)).await?;
        let mut buffer: Vec<u8> = Vec::with_capacity(1 << 17);
        while let Some(checked) = receiver.recv().await {
            read += 1;
            if read.is_multiple_of(5000) {
                step(Step::Read(read));
                queries::progress(pool, import_id, read).await?;
            }
            match checked {
                Checked::Invalid(problem) => {
                    rejected += 1;
                    if rejects.len() < options.rejects_listed {
                        rejects.push(problem);
                    }
                }
                // Once a row is refused nothing will be written: the rest are only checked.
                Checked::Valid(_) if rejected > 0 => {}
                Checked::Valid(checked) => {
                    let site_id = Uuid::now_v7();
                    stage(&mut buffer, &checked, site_id, import_id)?;
                    if buffer.len() >= 1 << 16 {
                        copy.send(std::mem::take(&mut buffer)).await?;
                        buffer.reserve(1 << 17);
                    }
                    pending.push(pending_row(checked, site_id));
                }
            }
        }
        let finished = reader.await.map_err(ApiError::internal)?;
        queries::progress(pool, import_id, read).await?;
        match finished {
            Err(Unreadable { detail, too_large }) => {
                copy.abort("the import file cannot be read").await.ok();
                return Ok(Outcome::Unreadable { detail, too_large });
            }
            Ok(()) if rejected > 0 => {
                copy.abort("rows were refused").await.ok();
                return Ok(Outcome::Rejected {
                    rejected,
                    rows: rejects,
                });
            }
            Ok(()) => {
                copy.send(buffer).await?;
                copy.finish().await?;
            }
        }
    }
    step(Step::Read(read));
    tracing::debug!(
        rows = read,
        seconds = started.elapsed().as_secs_f64(),
        "import: read, checked and staged"
    );
    step(Step::Matching);
    queries::index_staging(&mut tx).await?;
    // No site may be written meanwhile: the guard's comparison holds until the commit.
    sqlx::query("lock table site in share row exclusive mode")
        .execute(&mut *tx)
        .await?;
    let (targets, overrides) = match match_and_guard(&mut tx, &pending, options.upsert_by).await? {
        Ok(matched) => matched,
        Err(problems) => {
            let rejected = problems.len() as u64;
            let rows = problems.into_iter().take(options.rejects_listed).collect();
            return Ok(Outcome::Rejected { rejected, rows });
        }
    };
    queries::set_targets(&mut tx, &targets).await?;
    let created_overrides: Vec<(i64, Value)> = pending
        .iter()
        .filter_map(|row| overrides.get(&row.site_id).map(|value| (row.row as i64, value.clone())))
        .collect();
    queries::set_overrides(&mut tx, &created_overrides).await?;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "import: matched and guarded");
    let mut spent = [0.0_f64; 6];
    let mut lap = std::time::Instant::now();
    let mut time = |phase: usize| {
        spent[phase] += lap.elapsed().as_secs_f64();
        lap = std::time::Instant::now();
    };

    let (mut created, mut updated) = (0_u64, 0_u64);
    let total = pending.len() as u64;
    for (index, batch) in pending.chunks(BATCH).enumerate() {
        let rows = (batch[0].row as i64, batch[batch.len() - 1].row as i64);
        let before = queries::before(&mut tx, rows).await?;
        time(0);
        created += queries::insert(&mut tx, rows, names, created_by).await?;
        time(1);
        let changed = queries::update(&mut tx, rows, names).await?;
        updated += changed.len() as u64;
        queries::replace_offers(&mut tx, &changed).await?;
        time(2);
        let after = queries::after(&mut tx, &changed).await?;
        time(3);
        record_history(&mut tx, import_id, created_by, &before, &after, &overrides).await?;
        time(4);
        let done = ((index + 1) * BATCH).min(pending.len()) as u64;
        step(Step::Written { done, total });
        queries::progress(pool, import_id, read).await?;
    }
    tracing::debug!(
        before = spent[0],
        insert = spent[1],
        update = spent[2],
        after = spent[3],
        history = spent[4],
        seconds = started.elapsed().as_secs_f64(),
        "import: written (seconds per phase)"
    );
    let unchanged = targets.len() as u64 - updated;
    queries::succeed(&mut tx, import_id, read, created, updated, unchanged).await?;
    tx.commit().await?;
    Ok(Outcome::Imported {
        created,
        updated,
        unchanged,
    })
}

/// Appends a checked site to the staging table's `COPY` stream: its row, id, offers (as given,
/// and as the site row keeps them), the history entry it gets if it is added (as `POST` records
/// one: every field, old `null`), and its editable columns (in `EditableColumns::names`' order).
fn stage(buffer: &mut Vec<u8>, checked: &CheckedSite, site_id: Uuid, import_id: Uuid) -> Result<(), ApiError> {
    let (coordinates, _notices) = sites::coordinates_for(&checked.site);
    let (editable, _) = EditableColumns::of(&checked.site, coordinates)?;
    let (given, kept) = given_offers(&checked.site.offers);
    let kept: Vec<&str> = kept.into_iter().map(CodeSet::code).collect();
    let mut changes = sites::diff(
        &Value::Object(serde_json::Map::new()),
        &sites::editable_json_of(&checked.site, coordinates)?,
    );
    name_import(&mut changes, import_id);
    write!(buffer, "{}\t{site_id}\t", checked.row).map_err(ApiError::internal)?;
    copy_text(buffer, &Value::from(given).to_string());
    write!(buffer, "\t{{{}}}\t", kept.join(",")).map_err(ApiError::internal)?;
    copy_text(buffer, &offers_object(&checked.site.offers).to_string());
    write!(buffer, "\t{}\t", Uuid::now_v7()).map_err(ApiError::internal)?;
    copy_text(buffer, &changes.to_string());
    let Value::Object(columns) = editable else {
        return Err(ApiError::internal("a site's columns are an object"));
    };
    for value in columns.values() {
        buffer.push(b'\t');
        copy_value(buffer, value);
    }
    buffer.push(b'\n');
    Ok(())
}

/// A column's JSON value in `COPY`'s text format, for the column's type: `\N` for none, `t`/`f`,
/// numbers and text as they are, a list as an array literal, anything else as JSON.
fn copy_value(buffer: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => buffer.extend_from_slice(b"\\N"),
        Value::Bool(true) => buffer.push(b't'),
        Value::Bool(false) => buffer.push(b'f'),
        Value::Number(number) => buffer.extend_from_slice(number.to_string().as_bytes()),
        Value::String(text) => copy_text(buffer, text),
        Value::Array(items) => {
            let mut literal = String::from("{");
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    literal.push(',');
                }
                match item {
                    Value::String(text) => {
                        literal.push('"');
                        for c in text.chars() {
                            if c == '"' || c == '\\' {
                                literal.push('\\');
                            }
                            literal.push(c);
                        }
                        literal.push('"');
                    }
                    other => literal.push_str(&other.to_string()),
                }
            }
            literal.push('}');
            copy_text(buffer, &literal);
        }
        Value::Object(_) => copy_text(buffer, &value.to_string()),
    }
}

/// Reads every record and checks it with `POST /v1/sites`' reader, sending each on (in order).
fn read_and_check<R: Read>(
    format: Format,
    input: R,
    sender: &tokio::sync::mpsc::Sender<Checked>,
) -> Result<(), Unreadable> {
    let mut records = Records::new(format, input)?;
    loop {
        let record = match records.next_record() {
            Ok(Some(record)) => record,
            Ok(None) => return Ok(()),
            Err(error) => return Err(Unreadable::io(&error)),
        };
        if sender.blocking_send(check(record)).is_err() {
            // The import stopped (an error on the database's side): nothing more to check.
            return Ok(());
        }
    }
}

/// One record read as `POST /v1/sites` reads its body.
fn check(record: Record) -> Checked {
    let row = record.row;
    let errors = match record.document {
        Err(errors) => errors,
        Ok(document) => match sites::read_new_site(&document) {
            Ok((site, false, reason)) => return Checked::Valid(Box::new(CheckedSite { row, site, reason })),
            Ok((_, true, _)) => vec![FieldError::new(
                "manage",
                "an import makes nobody a site's manager; leave it out (coordinators claim their listing)",
            )],
            Err(error) => error.problem().errors,
        },
    };
    Checked::Invalid(RowProblem { row, errors })
}

fn pending_row(checked: Box<CheckedSite>, site_id: Uuid) -> Pending {
    let CheckedSite { row, site, reason } = *checked;
    Pending {
        row,
        site_id,
        listed: Listed {
            site_id,
            name: site.name,
            street: site.street.clone(),
            city: site.city,
            state: site.state.as_str().to_owned(),
            postal_code: site.postal_code.as_str().to_owned(),
            npi: site.npi.as_ref().map(|npi| npi.as_str().to_owned()),
        },
        street: site.street,
        external_id: site.external_id,
        reason,
    }
}

/// Appends `text` in `COPY`'s text format (backslash, tab, newline and carriage return escaped).
pub(crate) fn copy_text(buffer: &mut Vec<u8>, text: &str) {
    for byte in text.bytes() {
        match byte {
            b'\\' => buffer.extend_from_slice(b"\\\\"),
            b'\t' => buffer.extend_from_slice(b"\\t"),
            b'\n' => buffer.extend_from_slice(b"\\n"),
            b'\r' => buffer.extend_from_slice(b"\\r"),
            other => buffer.push(other),
        }
    }
}

/// The listed sites a row may update or duplicate, by ZIP code, NPI and external id.
struct ListedSites {
    by_zip: HashMap<String, Vec<Listed>>,
    by_npi: HashMap<String, Uuid>,
    by_external_id: HashMap<String, Uuid>,
    /// Each listed site's ZIP code, NPI and external id, to move it when a row updates it.
    keys_of: HashMap<Uuid, (String, Option<String>, Option<String>)>,
    /// The rows of this file, by the id each will have.
    row_of: HashMap<Uuid, u64>,
}

impl ListedSites {
    fn add(&mut self, listed: Listed, external_id: Option<&str>) {
        let zip5 = listed.postal_code[..5].to_owned();
        if let Some(npi) = &listed.npi {
            self.by_npi.insert(npi.clone(), listed.site_id);
        }
        if let Some(external_id) = external_id {
            self.by_external_id.insert(external_id.to_owned(), listed.site_id);
        }
        let keys = (zip5.clone(), listed.npi.clone(), external_id.map(str::to_owned));
        self.keys_of.insert(listed.site_id, keys);
        self.by_zip.entry(zip5).or_default().push(listed);
    }

    /// Forgets a listed site (a row updates it: the row's values take its place).
    fn remove(&mut self, site_id: Uuid) {
        let Some((zip5, npi, external_id)) = self.keys_of.remove(&site_id) else {
            return;
        };
        if let Some(listed) = self.by_zip.get_mut(&zip5) {
            listed.retain(|listed| listed.site_id != site_id);
        }
        if let Some(npi) = npi
            && self.by_npi.get(&npi) == Some(&site_id)
        {
            self.by_npi.remove(&npi);
        }
        if let Some(external_id) = external_id
            && self.by_external_id.get(&external_id) == Some(&site_id)
        {
            self.by_external_id.remove(&external_id);
        }
    }

    /// The sites a row in `zip5` with `npi` could be.
    fn candidates(&self, zip5: &str, npi: Option<&str>) -> Vec<Listed> {
        let mut candidates: Vec<Listed> = self.by_zip.get(zip5).cloned().unwrap_or_default();
        if let Some(site_id) = npi.and_then(|npi| self.by_npi.get(npi))
            && !candidates.iter().any(|listed| listed.site_id == *site_id)
            && let Some((zip, _, _)) = self.keys_of.get(site_id)
            && let Some(listed) = self
                .by_zip
                .get(zip)
                .and_then(|all| all.iter().find(|l| l.site_id == *site_id))
        {
            candidates.push(listed.clone());
        }
        candidates
    }

    /// How a row's problem names the site it duplicates: a row of this file, or a listed site.
    fn describe(&self, listed: &Listed) -> String {
        match self.row_of.get(&listed.site_id) {
            Some(row) => format!("row {row} of this file lists the same facility"),
            None => {
                let street = listed.street.as_deref().map(|s| format!("{s}, ")).unwrap_or_default();
                format!(
                    "{} ({street}{}, {} {}) is already listed as {}",
                    listed.name,
                    listed.city,
                    listed.state,
                    listed.postal_code,
                    site_href(listed.site_id)
                )
            }
        }
    }
}

/// Each row's site to update (by `upsert_by`) and the duplicate guard's answer for it; the rows'
/// problems if any row updates, repeats or duplicates another site. `Ok(Ok((targets,
/// overrides)))`: `targets` maps rows to the listed sites they update, `overrides` site ids to
/// the `duplicate_override` their history records.
#[allow(clippy::type_complexity, reason = "a private result read once")]
async fn match_and_guard(
    conn: &mut PgConnection,
    pending: &[Pending],
    upsert_by: Option<UpsertBy>,
) -> Result<Result<(Vec<(i64, Uuid)>, HashMap<Uuid, Value>), Vec<RowProblem>>, ApiError> {
    let mut zips: Vec<String> = pending.iter().map(|p| p.listed.postal_code[..5].to_owned()).collect();
    zips.sort_unstable();
    zips.dedup();
    let npis: Vec<String> = pending.iter().filter_map(|p| p.listed.npi.clone()).collect();
    let external_ids: Vec<String> = pending.iter().filter_map(|p| p.external_id.clone()).collect();
    let mut listed = ListedSites {
        by_zip: HashMap::new(),
        by_npi: HashMap::new(),
        by_external_id: HashMap::new(),
        keys_of: HashMap::new(),
        row_of: HashMap::new(),
    };
    for (site, external_id) in queries::listed(conn, &zips, &npis, &external_ids).await? {
        listed.add(site, external_id.as_deref());
    }

    let mut targets = Vec::new();
    let mut overrides = HashMap::new();
    let mut problems = Vec::new();
    let mut seen_npi: HashMap<&str, u64> = HashMap::new();
    let mut seen_external_id: HashMap<&str, u64> = HashMap::new();
    for row in pending {
        let mut errors = Vec::new();
        let npi = row.listed.npi.as_deref();
        let external_id = row.external_id.as_deref();
        for (field, value, seen) in [
            ("npi", npi, &mut seen_npi),
            ("external_id", external_id, &mut seen_external_id),
        ] {
            if let Some(value) = value
                && let Some(first) = seen.insert(value, row.row)
            {
                errors.push(FieldError::new(field, format!("is also row {first}'s")));
            }
        }
        let target = match upsert_by {
            Some(UpsertBy::Npi) => npi.and_then(|npi| listed.by_npi.get(npi)).copied(),
            Some(UpsertBy::ExternalId) => external_id.and_then(|id| listed.by_external_id.get(id)).copied(),
            None => None,
        }
        .filter(|site_id| !listed.row_of.contains_key(site_id));
        if let Some(owner) = external_id.and_then(|id| listed.by_external_id.get(id))
            && Some(*owner) != target
            && !listed.row_of.contains_key(owner)
        {
            errors.push(FieldError::new(
                "external_id",
                format!("is already {}'s; it must be unique", site_href(*owner)),
            ));
        }
        let zip5 = &row.listed.postal_code[..5];
        let candidates: Vec<Listed> = listed
            .candidates(zip5, npi)
            .into_iter()
            .filter(|candidate| Some(candidate.site_id) != target)
            .collect();
        let facility = Facility::new(&row.listed.name, npi, row.street.as_deref());
        match (duplicates::find(&facility, zip5, &candidates), &row.reason) {
            (None, _) => {}
            (Some((other, Signal::Name)), Some(reason)) if !listed.row_of.contains_key(&other.site_id) => {
                overrides.insert(
                    target.unwrap_or(row.site_id),
                    json!({"reason": reason, "existing": {"id": other.site_id, "name": other.name}}),
                );
            }
            (Some((other, signal)), _) => errors.push(FieldError::new(signal.code(), listed.describe(other))),
        }
        if !errors.is_empty() {
            problems.push(RowProblem { row: row.row, errors });
            continue;
        }
        let mut site = row.listed.clone();
        if let Some(target) = target {
            listed.remove(target);
            site.site_id = target;
            targets.push((row.row as i64, target));
        }
        listed.row_of.insert(site.site_id, row.row);
        listed.add(site, external_id);
    }
    Ok(if problems.is_empty() {
        Ok((targets, overrides))
    } else {
        Err(problems)
    })
}

/// Names the import in a history entry's changes.
fn name_import(changes: &mut Value, import_id: Uuid) {
    if let Some(changes) = changes.as_object_mut() {
        changes.insert(
            "import".to_owned(),
            json!({"id": import_id, "href": super::import_href(import_id)}),
        );
    }
}

/// One history entry per site an import updated: its fields before and after, as `PATCH` records
/// them, naming the import.
async fn record_history(
    conn: &mut PgConnection,
    import_id: Uuid,
    account_id: Option<Uuid>,
    before: &HashMap<Uuid, Value>,
    after: &[crate::sites::model::Site],
    overrides: &HashMap<Uuid, Value>,
) -> Result<(), ApiError> {
    let empty = Value::Object(serde_json::Map::new());
    let mut entries = Vec::with_capacity(after.len());
    for site in after {
        let old = before.get(&site.site_id);
        let mut changes = sites::diff(old.unwrap_or(&empty), &sites::editable_json(site));
        sites::record_override(&mut changes, overrides.get(&site.site_id).cloned());
        if let Some(changes) = changes.as_object_mut() {
            changes.insert(
                "import".to_owned(),
                json!({"id": import_id, "href": super::import_href(import_id)}),
            );
        }
        let kind = if old.is_some() {
            SiteChangeKind::Update
        } else {
            SiteChangeKind::Create
        };
        entries.push((site.site_id, kind, changes));
    }
    queries::record_changes(conn, account_id, &entries).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_what_copy_reads_specially() {
        let mut buffer = Vec::new();
        copy_text(&mut buffer, "a\\b\tc\nd\re");
        assert_eq!(buffer, b"a\\\\b\\tc\\nd\\re");
    }
}
