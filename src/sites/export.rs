//! `GET /v1/sites/export` and `clinical-sites export`: every site matching a search's filters, as
//! CSV or NDJSON in exactly the shape an import reads (docs/import.md), streamed.
//!
//! The search index names the matching sites (16 bytes per site: their ids, in id order, which is
//! creation order); their rows are then read 1,000 at a time and written out as they come, so
//! memory stays small whatever the export's size. Each site is its editable fields, as a history
//! entry compares them (`sites::editable_json`): an export imported into an empty database
//! reproduces the same sites, and exporting that database gives the same file.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;
use uuid::Uuid;

use super::search::params;
use super::search::text::TextQuery;
use super::{editable_json, queries};
use crate::AppState;
use crate::error::{ApiError, FieldError, Problem};
use crate::imports::Format;
use crate::replica::Reads;

/// Sites read per statement.
const BATCH: usize = 1000;

/// Exports the sites a search with these filters finds, every one of them (no pages), as CSV
/// (`format=csv`, the default) or NDJSON (`format=ndjson`), streamed: each site's editable fields,
/// exactly what `POST /v1/imports` reads (docs/import.md). Sites in id order (the order they were
/// added). Demo sites are left out unless `include_demo=true`; archived ones unless
/// `status=archived` is asked for, as in search.
///
/// Takes `GET /v1/sites`' filters (`modality`, `state`, `near`/`radius`, `q`, requirement filters,
/// `status`, `updated_since`, ...); its paging and presentation parameters (`limit`, `cursor`,
/// `facets`, `view`, `sort`) are refused.
#[utoipa::path(
    get,
    path = "/v1/sites/export",
    tag = "sites",
    params(
        ("format" = Option<Format>, Query, description = "`csv` (default) or `ndjson`."),
        ("include_demo" = Option<bool>, Query, description = "Include demo sites (`source = demo`); default `false`."),
        super::search::query::SearchFilters,
    ),
    responses(
        (status = OK, description = "The sites, streamed: CSV with a header row of site fields, or one JSON object per line.",
         content(
             (String = "text/csv", example = "name,aliases,site_type,street,city,state,postal_code,...\nRiverside Imaging Center,,imaging_center,410 W 10th Ave,Columbus,OH,43210,...\n"),
             (String = "application/x-ndjson", example = "{\"name\":\"Riverside Imaging Center\",\"site_type\":\"imaging_center\",\"city\":\"Columbus\",\"state\":\"OH\",\"postal_code\":\"43210\",\"payment\":\"free\"}\n"),
         ),
         headers(("Content-Disposition" = String, description = "`attachment; filename=\"sites.csv\"` (or `.ndjson`)."))),
        (status = BAD_REQUEST, description = "A parameter is malformed, unknown, or one of search's paging parameters (each is named).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn export_sites(
    State(state): State<AppState>,
    reads: Reads,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let request = Export::parse(query.as_deref().unwrap_or(""))?;
    let format = request.format;
    let chunks = stream(state, reads, request).await?;
    let mut chunks = chunks;
    // `poll_fn` over the channel may be polled again after its end (compression does), unlike
    // `unfold`.
    let body = Body::from_stream(futures_util::stream::poll_fn(move |cx| chunks.poll_recv(cx)));
    let (content_type, file) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "sites.csv"),
        Format::Ndjson => ("application/x-ndjson", "sites.ndjson"),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// An export's request: the search's filters, the format, and whether demo sites are included.
pub struct Export {
    params: params::SearchParams,
    pub format: Format,
    include_demo: bool,
}

impl Export {
    /// Reads a query string: `format`, `include_demo`, and search's filters (every problem named).
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let mut format = Format::Csv;
        let mut include_demo = false;
        let mut errors = Vec::new();
        let mut filters = form_urlencoded::Serializer::new(String::new());
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match name.as_ref() {
                "format" => match value.as_ref() {
                    "csv" => format = Format::Csv,
                    "ndjson" => format = Format::Ndjson,
                    _ => errors.push(FieldError::new("format", "must be csv or ndjson")),
                },
                "include_demo" => match value.as_ref() {
                    "true" => include_demo = true,
                    "false" => include_demo = false,
                    _ => errors.push(FieldError::new("include_demo", "must be true or false")),
                },
                "limit" | "cursor" | "facets" | "view" | "sort" => errors.push(FieldError::new(
                    name.as_ref(),
                    "is a parameter of search's pages; an export has every matching site, in id order",
                )),
                _ => {
                    filters.append_pair(&name, &value);
                }
            }
        }
        let params = params::parse(&filters.finish());
        match params {
            Ok(params) if errors.is_empty() => Ok(Self {
                params,
                format,
                include_demo,
            }),
            Ok(_) => Err(ApiError::bad_request("the export's parameters are not valid", errors)),
            Err(error) => {
                errors.extend(error.problem().errors);
                Err(ApiError::bad_request("the export's parameters are not valid", errors))
            }
        }
    }
}

/// Starts an export: the matching sites' ids from the index, then a task writing their rows as
/// chunks of the file (a read error ends the stream early, logged).
pub async fn start(
    state: AppState,
    request: Export,
) -> Result<tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>, ApiError> {
    let reads = Reads::primary(&state);
    stream(state, reads, request).await
}

/// [`start`], reading the sites through `reads` (the replica, for a request).
async fn stream(
    state: AppState,
    reads: Reads,
    request: Export,
) -> Result<tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>, ApiError> {
    state.search.ready(&state.search_pool).await?;
    let ids = state
        .search_threads
        .run({
            let state = state.clone();
            move || {
                let index = state.search.read();
                let text = request
                    .params
                    .q
                    .as_deref()
                    .map(|q| TextQuery::resolve(&index.dictionary.words, q));
                let ids = index.matching_ids(&request.params, text.as_ref(), request.include_demo);
                (ids, request.format)
            }
        })
        .await?;
    let (ids, format) = ids;
    let (sender, chunks) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        if let Err(error) = write(&reads, &ids, format, &sender).await {
            tracing::warn!(%error, "an export stopped early");
            let _ = sender.send(Err(std::io::Error::other(error.to_string()))).await;
        }
    });
    Ok(chunks)
}

/// Writes the sites `ids` to `sender`, a header first for CSV.
async fn write(
    reads: &Reads,
    ids: &[Uuid],
    format: Format,
    sender: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), ApiError> {
    let columns = export_columns();
    if format == Format::Csv {
        let mut header = csv::Writer::from_writer(Vec::new());
        header.write_record(&columns).map_err(ApiError::internal)?;
        let header = header.into_inner().map_err(ApiError::internal)?;
        if sender.send(Ok(header.into())).await.is_err() {
            return Ok(());
        }
    }
    for batch in ids.chunks(BATCH) {
        let sites = reads
            .run(|mut conn| async move { queries::load_many(&mut conn, batch).await })
            .await?;
        let mut out = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
        let mut lines = Vec::new();
        for site in &sites {
            let fields = editable_json(site);
            match format {
                Format::Ndjson => {
                    serde_json::to_writer(&mut lines, &fields).map_err(ApiError::internal)?;
                    lines.push(b'\n');
                }
                Format::Csv => out
                    .write_record(columns.iter().map(|column| cell(fields.get(*column))))
                    .map_err(ApiError::internal)?,
            }
        }
        let chunk = match format {
            Format::Ndjson => lines,
            Format::Csv => out.into_inner().map_err(ApiError::internal)?,
        };
        if sender.send(Ok(chunk.into())).await.is_err() {
            // The client hung up.
            return Ok(());
        }
    }
    Ok(())
}

/// The CSV columns: the site's fields, as an import's header names them.
fn export_columns() -> Vec<&'static str> {
    super::input::SITE_FIELDS.to_vec()
}

/// A field's value as an import reads its cell: text as is, lists joined by `|`, objects (offers)
/// as JSON, nothing as an empty cell.
fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("|"),
        Some(other) => other.to_string(),
    }
}
