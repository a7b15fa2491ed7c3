//! Reading an import file: CSV or NDJSON records, each turned into the JSON document
//! `POST /v1/sites` takes, so that every row is then read by that endpoint's own code.
//!
//! CSV: a header of site fields (the names of `POST /v1/sites`' body, any order, each at most
//! once); a cell is one value, empty for none. A list field (`aliases`, `schedule`, ...) is its
//! values separated by `|`; `offers` is the offers object as JSON; booleans are `true`/`false`
//! (`yes`/`no`, `1`/`0` too). Which cell is which JSON type is read from the contract's
//! description of the body (`NewSite`), so a new field needs no edit here. See docs/import.md.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::error::FieldError;
use crate::sites::input::SITE_FIELDS;

/// The file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum Format {
    /// Comma-separated values with a header row of site fields.
    Csv,
    /// One site per line, as the JSON object `POST /v1/sites` takes.
    Ndjson,
}

impl Format {
    /// The format a file name's extension names (`.csv`, `.ndjson`, `.jsonl`).
    pub fn from_path(path: &std::path::Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "ndjson" | "jsonl" => Some(Format::Ndjson),
            _ => None,
        }
    }
}

/// One record of the file: where it starts (the line, counting the header as line 1, as a
/// spreadsheet numbers rows) and the site document it holds, or why it holds none.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) row: u64,
    pub(crate) document: Result<Value, Vec<FieldError>>,
}

/// The extra body fields an import row may carry besides the site's own.
const EXTRA_COLUMNS: [&str; 1] = ["duplicate_override_reason"];

/// The fields a site must have, so a header without one is refused before any row is read.
const REQUIRED_COLUMNS: [&str; 5] = ["name", "site_type", "city", "state", "postal_code"];

/// How a CSV cell becomes a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Integer,
    Number,
    Boolean,
    List,
    Json,
}

/// Each body field's kind, read from the contract's schema of `POST /v1/sites`' body.
static KINDS: LazyLock<HashMap<String, Kind>> = LazyLock::new(|| {
    let document = crate::openapi::document();
    let schemas = document
        .components
        .map(|components| components.schemas)
        .unwrap_or_default();
    let mut kinds = HashMap::new();
    if let Some(body) = schemas.get("NewSite") {
        properties(body, &schemas, &mut kinds);
    }
    kinds
});

type Schemas = std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>>;

/// The properties of an object schema (of each part, for one composed of several).
fn properties(
    schema: &utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    schemas: &Schemas,
    kinds: &mut HashMap<String, Kind>,
) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;
    match schema {
        RefOr::T(Schema::Object(object)) => {
            for (name, property) in &object.properties {
                kinds.insert(name.clone(), kind_of(property));
            }
        }
        RefOr::T(Schema::AllOf(all)) => all.items.iter().for_each(|part| properties(part, schemas, kinds)),
        RefOr::Ref(reference) => {
            let name = reference.ref_location.rsplit('/').next().unwrap_or_default();
            if let Some(schema) = schemas.get(name) {
                properties(schema, schemas, kinds);
            }
        }
        _ => {}
    }
}

fn kind_of(schema: &utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>) -> Kind {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{Schema, SchemaType, Type};
    let types: Vec<Type> = match schema {
        RefOr::T(Schema::Object(object)) => match &object.schema_type {
            SchemaType::Type(one) => vec![one.clone()],
            SchemaType::Array(several) => several.clone(),
            SchemaType::AnyValue => Vec::new(),
        },
        RefOr::T(Schema::Array(_)) => vec![Type::Array],
        // Codes (references to enumerations, or one of them or null) are strings.
        _ => Vec::new(),
    };
    match types.into_iter().find(|kind| *kind != Type::Null) {
        Some(Type::Integer) => Kind::Integer,
        Some(Type::Number) => Kind::Number,
        Some(Type::Boolean) => Kind::Boolean,
        Some(Type::Array) => Kind::List,
        Some(Type::Object) => Kind::Json,
        _ => Kind::Text,
    }
}

/// The columns a CSV header may name.
pub(crate) fn csv_columns() -> impl Iterator<Item = &'static str> {
    SITE_FIELDS.iter().copied().chain(EXTRA_COLUMNS)
}

/// Why a file cannot be read as a whole.
#[derive(Debug)]
pub(crate) struct Unreadable {
    pub(crate) detail: String,
    /// The body passed the import size limit.
    pub(crate) too_large: bool,
}

impl Unreadable {
    fn new(detail: impl Into<String>) -> Self {
        Self {
            detail: detail.into(),
            too_large: false,
        }
    }

    /// The input broke off.
    pub(crate) fn io(error: &std::io::Error) -> Self {
        Self {
            detail: format!("the file could not be read to its end: {error}"),
            too_large: error.kind() == std::io::ErrorKind::FileTooLarge,
        }
    }
}

/// The records of a file, in order.
pub(crate) enum Records<R: Read> {
    Csv {
        reader: csv::Reader<R>,
        columns: Vec<(String, Kind)>,
        record: csv::StringRecord,
    },
    Ndjson {
        lines: BufReader<R>,
        line: u64,
        buffer: Vec<u8>,
    },
}

impl<R: Read> Records<R> {
    /// Starts reading `input`; for CSV, reads and checks the header (the error says what is wrong
    /// with it).
    pub(crate) fn new(format: Format, input: R) -> Result<Self, Unreadable> {
        match format {
            Format::Ndjson => Ok(Records::Ndjson {
                lines: BufReader::with_capacity(1 << 16, input),
                line: 0,
                buffer: Vec::new(),
            }),
            Format::Csv => {
                let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(input);
                let header = reader.headers().map_err(|error| match error.kind() {
                    csv::ErrorKind::Io(error) => Unreadable::io(error),
                    _ => Unreadable::new(format!("the header row cannot be read: {error}")),
                })?;
                let columns = read_header(header).map_err(Unreadable::new)?;
                Ok(Records::Csv {
                    reader,
                    columns,
                    record: csv::StringRecord::new(),
                })
            }
        }
    }

    /// The next record; `Err` when the input itself cannot be read (e.g. the connection broke).
    pub(crate) fn next_record(&mut self) -> Result<Option<Record>, std::io::Error> {
        match self {
            Records::Csv {
                reader,
                columns,
                record,
            } => match reader.read_record(record) {
                Ok(false) => Ok(None),
                Ok(true) => {
                    let row = record.position().map_or(0, csv::Position::line);
                    Ok(Some(Record {
                        row,
                        document: csv_document(columns, record),
                    }))
                }
                Err(error) => {
                    let row = error.position().map_or(0, csv::Position::line);
                    match error.into_kind() {
                        csv::ErrorKind::Io(error) => Err(error),
                        csv::ErrorKind::UnequalLengths { len, expected_len, .. } => Ok(Some(Record {
                            row,
                            document: Err(vec![FieldError::new(
                                "",
                                format!("has {len} cells where the header has {expected_len}"),
                            )]),
                        })),
                        csv::ErrorKind::Utf8 { .. } => Ok(Some(Record {
                            row,
                            document: Err(vec![FieldError::new("", "is not valid UTF-8")]),
                        })),
                        other => Ok(Some(Record {
                            row,
                            document: Err(vec![FieldError::new("", format!("cannot be read as CSV: {other:?}"))]),
                        })),
                    }
                }
            },
            Records::Ndjson { lines, line, buffer } => loop {
                buffer.clear();
                if lines.read_until(b'\n', buffer)? == 0 {
                    return Ok(None);
                }
                *line += 1;
                let text = match std::str::from_utf8(buffer) {
                    Ok(text) => text.trim(),
                    Err(_) => {
                        return Ok(Some(Record {
                            row: *line,
                            document: Err(vec![FieldError::new("", "is not valid UTF-8")]),
                        }));
                    }
                };
                if text.is_empty() {
                    continue;
                }
                let document = serde_json::from_str::<Value>(text)
                    .map_err(|error| vec![FieldError::new("", format!("is not valid JSON: {error}"))]);
                return Ok(Some(Record { row: *line, document }));
            },
        }
    }
}

/// The header's columns with their kinds, or what is wrong with it: an unknown or repeated
/// column, or a required one missing.
fn read_header(header: &csv::StringRecord) -> Result<Vec<(String, Kind)>, String> {
    let mut columns: Vec<(String, Kind)> = Vec::new();
    for name in header {
        if !csv_columns().any(|known| known == name) {
            return Err(format!(
                "the header names an unknown column `{name}`; the columns are the fields of POST /v1/sites: {}",
                csv_columns().collect::<Vec<_>>().join(", ")
            ));
        }
        if columns.iter().any(|(seen, _)| seen == name) {
            return Err(format!("the header names the column `{name}` twice"));
        }
        columns.push((name.to_owned(), KINDS.get(name).copied().unwrap_or(Kind::Text)));
    }
    let missing: Vec<&str> = REQUIRED_COLUMNS
        .into_iter()
        .filter(|required| !columns.iter().any(|(name, _)| name == required))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the header lacks the required column{} {}",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        ));
    }
    Ok(columns)
}

/// A CSV record as the body document: each non-empty cell under its column's name, as a value of
/// that field's JSON type (a cell that is not one is passed on as text, for the field's own rule
/// to refuse by name).
fn csv_document(columns: &[(String, Kind)], record: &csv::StringRecord) -> Result<Value, Vec<FieldError>> {
    let mut document = Map::new();
    let mut errors = Vec::new();
    for ((name, kind), cell) in columns.iter().zip(record.iter()) {
        if cell.is_empty() {
            continue;
        }
        let value = match kind {
            Kind::Text => Value::String(cell.to_owned()),
            Kind::Integer => cell
                .parse::<i64>()
                .map_or_else(|_| Value::String(cell.to_owned()), Value::from),
            Kind::Number => cell
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or_else(|| Value::String(cell.to_owned()), Value::Number),
            Kind::Boolean => match cell.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Value::Bool(true),
                "false" | "no" | "0" => Value::Bool(false),
                _ => Value::String(cell.to_owned()),
            },
            Kind::List => Value::Array(
                cell.split('|')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(|item| Value::String(item.to_owned()))
                    .collect(),
            ),
            Kind::Json => match serde_json::from_str(cell) {
                Ok(value) => value,
                Err(error) => {
                    errors.push(FieldError::new(name.clone(), format!("is not valid JSON: {error}")));
                    continue;
                }
            },
        };
        document.insert(name.clone(), value);
    }
    if errors.is_empty() {
        Ok(Value::Object(document))
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(format: Format, text: &str) -> Vec<Record> {
        let mut records = Records::new(format, text.as_bytes()).expect("a good header");
        std::iter::from_fn(|| records.next_record().expect("in memory")).collect()
    }

    #[test]
    fn cells_take_their_fields_types() {
        let csv = "name,site_type,city,state,postal_code,fee_usd,latitude,background_check,schedule,offers,phone\n\
                   Riverside,hospital,Columbus,OH,43210,250,39.9,yes,weekday|evening,\"{\"\"ct\"\": {\"\"accepting\"\": true}}\",6145551234\n";
        let rows = records(Format::Csv, csv);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].row, 2);
        let document = rows[0].document.as_ref().expect("a document");
        assert_eq!(document["fee_usd"], 250);
        assert_eq!(document["latitude"], 39.9);
        assert_eq!(document["background_check"], true);
        assert_eq!(document["schedule"], serde_json::json!(["weekday", "evening"]));
        assert_eq!(document["offers"]["ct"]["accepting"], true);
        assert_eq!(document["phone"], "6145551234", "a phone number stays text");
        assert_eq!(document["state"], "OH");
    }

    #[test]
    fn a_cell_of_the_wrong_type_is_left_for_the_fields_rule() {
        let rows = records(
            Format::Csv,
            "name,site_type,city,state,postal_code,fee_usd,offers\nA,b,c,OH,43210,lots,{x\n",
        );
        let errors = rows[0].document.as_ref().expect_err("bad JSON");
        assert_eq!(errors[0].field, "offers");
        let rows = records(
            Format::Csv,
            "name,site_type,city,state,postal_code,fee_usd\nA,b,c,OH,43210,lots\n",
        );
        assert_eq!(rows[0].document.as_ref().expect("a document")["fee_usd"], "lots");
    }

    #[test]
    fn a_bad_header_is_refused_before_any_row() {
        let error = Records::new(Format::Csv, "name,site_type,city,state,postal_code,colour\n".as_bytes())
            .err()
            .expect("refused")
            .detail;
        assert!(error.contains("`colour`"), "{error}");
        let error = Records::new(Format::Csv, "name,city\n".as_bytes())
            .err()
            .expect("refused")
            .detail;
        assert!(error.contains("site_type, state, postal_code"), "{error}");
        let error = Records::new(Format::Csv, "name,name,site_type,city,state,postal_code\n".as_bytes())
            .err()
            .expect("refused")
            .detail;
        assert!(error.contains("twice"), "{error}");
    }

    #[test]
    fn a_short_row_and_bad_json_lines_are_row_errors_with_their_line() {
        let rows = records(Format::Csv, "name,site_type,city,state,postal_code\nA,hospital,c,OH\n");
        assert_eq!(rows[0].row, 2);
        assert!(rows[0].document.is_err());
        let rows = records(Format::Ndjson, "{\"name\": \"A\"}\n\n{nope\n");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].row, 3);
        assert!(rows[1].document.is_err());
    }

    #[test]
    fn every_body_field_has_a_kind() {
        for field in csv_columns() {
            assert!(KINDS.contains_key(field), "{field} is not in NewSite's schema");
        }
        assert_eq!(KINDS["offers"], Kind::Json);
        assert_eq!(KINDS["aliases"], Kind::List);
        assert_eq!(KINDS["site_type"], Kind::Text);
    }
}
