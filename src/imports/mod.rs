//! Bulk import of sites from CSV or NDJSON (administrators, and `clinical-sites import FILE`):
//! every row read with exactly `POST /v1/sites`' rules, all or nothing, optionally updating the
//! sites it matches by NPI or external id. See docs/import.md and [`run`].

mod queries;
pub mod read;
pub mod rejects;
pub mod run;

use axum::Json as JsonResponse;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use http_body_util::BodyExt as _;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, Problem, RowProblem};
use crate::extract::{Path, Query};
use crate::openapi::responses::{BadId, NotAdmin, Unauthenticated};
pub use read::Format;
pub use run::{Options, Outcome, Step};

/// The import routes: they stream bodies larger than the API's limit (`IMPORT_MAX_BYTES`), for
/// longer than its request timeout.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_import))
        .routes(routes!(get_import))
}

/// The URL of an import.
pub(crate) fn import_href(import_id: Uuid) -> String {
    format!("/v1/imports/{import_id}")
}

/// What identifies a listed site that a row updates instead of adding a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum UpsertBy {
    /// The facility's NPI.
    Npi,
    /// The operator's own `external_id`.
    #[value(name = "external_id")]
    ExternalId,
}

/// Where an import is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ImportStatus {
    /// Reading, checking or writing.
    Running,
    /// Every row was written.
    Succeeded,
    /// Nothing was written: rows were refused (`rejects`) or the file could not be read (`detail`).
    Failed,
    /// It stopped without finishing (its process ended); nothing was written.
    Interrupted,
}

/// An import and its outcome.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Import {
    /// Stable identifier.
    pub(crate) import_id: Uuid,
    /// Its URL.
    #[schema(example = "/v1/imports/01938f5e-7a1b-7c3d-9e2f-123456789abc")]
    pub(crate) href: String,
    /// Where it is.
    pub(crate) status: ImportStatus,
    /// The file's format.
    pub(crate) format: Format,
    /// What identifies a site a row updates; `null`: every row adds a site.
    #[schema(required = true)]
    pub(crate) upsert_by: Option<UpsertBy>,
    /// The administrator who ran it (`null` from the command line, or once the account is
    /// deleted).
    #[schema(required = true)]
    pub(crate) created_by: Option<Uuid>,
    /// Rows read so far (all of them once it has finished).
    pub(crate) rows_read: i32,
    /// Sites added.
    pub(crate) rows_created: i32,
    /// Listed sites changed (`upsert_by`).
    pub(crate) rows_updated: i32,
    /// Rows matching a listed site that already read so (left as they were).
    pub(crate) rows_unchanged: i32,
    /// Rows refused (any refused row means nothing was written).
    pub(crate) rows_rejected: i32,
    /// The refused rows, the first 1,000, each with its field problems.
    pub(crate) rejects: Vec<RowProblem>,
    /// Why it failed, when it did.
    #[schema(required = true)]
    pub(crate) detail: Option<String>,
    /// When it started.
    pub(crate) started_at: DateTime<Utc>,
    /// When it last moved.
    pub(crate) updated_at: DateTime<Utc>,
    /// When it finished.
    #[schema(required = true)]
    pub(crate) finished_at: Option<DateTime<Utc>>,
}

/// `POST /v1/imports`' parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ImportParams {
    /// Update the listed site a row matches by this (`npi` or `external_id`) instead of adding one;
    /// rows matching none add a site. Left out: every row adds a site (and the duplicate guard
    /// refuses rows that are listed facilities).
    upsert_by: Option<UpsertBy>,
}

/// Imports sites from a CSV (`Content-Type: text/csv`) or NDJSON (`application/x-ndjson`) body,
/// streamed (up to `IMPORT_MAX_BYTES`, 1 GiB by default). Administrators only.
///
/// Every row is read with exactly the rules of `POST /v1/sites` and put through its duplicate
/// guard (against listed sites and the file's other rows). All or nothing: if any row breaks a
/// rule nothing is written, and the answer lists each bad row with its field problems. Imported
/// sites have `source = import`, and each site's history entry names the import (`changes.import`).
/// The CSV header and cells are described in docs/import.md (one column per field of `POST
/// /v1/sites`, lists `|`-separated, `offers` as JSON).
#[utoipa::path(
    post,
    path = "/v1/imports",
    tag = "imports",
    security(("bearer" = [])),
    params(ImportParams),
    request_body(content(
        (String = "text/csv", example = "name,site_type,city,state,postal_code,payment,offers\nRiverside Imaging Center,imaging_center,Columbus,OH,43210,free,\"{\"\"ct\"\": {\"\"accepting\"\": true, \"\"accepts\"\": [\"\"independent\"\"]}}\"\n"),
        (String = "application/x-ndjson", example = "{\"name\": \"Riverside Imaging Center\", \"site_type\": \"imaging_center\", \"city\": \"Columbus\", \"state\": \"OH\", \"postal_code\": \"43210\"}\n"),
    )),
    responses(
        (status = CREATED, description = "Every row was written; `Location` names the import.", body = Import,
         headers(("Location" = String, description = "The import's URL."))),
        (status = BAD_REQUEST, description = "The file cannot be read as a whole: a CSV header naming an unknown or repeated column or lacking a required one, or a body that broke off; nothing was written.", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        NotAdmin,
        (status = PAYLOAD_TOO_LARGE, description = "The body passed `IMPORT_MAX_BYTES`; nothing was written.", body = Problem, content_type = "application/problem+json"),
        (status = UNSUPPORTED_MEDIA_TYPE, description = "The body is neither `text/csv` nor `application/x-ndjson`.", body = Problem, content_type = "application/problem+json"),
        (status = UNPROCESSABLE_ENTITY, description = "Rows break rules (or a parameter is bad): nothing was written. `rows` lists each bad row (the first 1,000) with its field problems; `instance` is the import's record.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_import(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ImportParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let format = format_of(&headers)?;
    let limit = state.config.import_max_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::payload_too_large(Some(limit)));
    }
    let options = Options {
        format,
        upsert_by: params.upsert_by,
        rejects_listed: run::REJECTS_LISTED,
    };
    let import_id = Uuid::now_v7();
    queries::start(
        &state.pool,
        import_id,
        format,
        options.upsert_by,
        Some(caller.account_id),
    )
    .await?;
    let outcome = run::run(
        &state.pool,
        import_id,
        Some(caller.account_id),
        options,
        BodyReader::new(body),
        &|_| {},
    )
    .await?;
    let import = queries::load(&state.pool, import_id)
        .await?
        .ok_or_else(|| ApiError::internal("an import's record vanished"))?;
    match outcome {
        Outcome::Imported { .. } => Ok((
            StatusCode::CREATED,
            [(header::LOCATION, import.href.clone())],
            JsonResponse(import),
        )
            .into_response()),
        Outcome::Rejected { rejected, rows } => Err(ApiError::validation(Vec::new())
            .with_detail(format!(
                "{rejected} of {} rows break rules, so nothing was imported{}; fix them and send the file again",
                import.rows_read,
                if rejected as usize > rows.len() {
                    format!(" (the first {} are listed)", rows.len())
                } else {
                    String::new()
                }
            ))
            .with_rows(rows, import.href)),
        Outcome::Unreadable {
            detail,
            too_large: true,
        } => Err(ApiError::payload_too_large(None).with_detail(detail)),
        Outcome::Unreadable { detail, .. } => Err(ApiError::bad_request(
            format!("{detail}; nothing was imported"),
            Vec::new(),
        )),
    }
}

/// The import format a request's `Content-Type` names.
fn format_of(headers: &HeaderMap) -> Result<Format, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        "text/csv" => Ok(Format::Csv),
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => Ok(Format::Ndjson),
        _ => Err(ApiError::unsupported_media_type(
            "send the file as text/csv or application/x-ndjson",
        )),
    }
}

/// An import's status and outcome (administrators): while it runs, how many rows have been read.
#[utoipa::path(
    get,
    path = "/v1/imports/{import_id}",
    tag = "imports",
    security(("bearer" = [])),
    params(("import_id" = Uuid, Path, description = "The import.")),
    responses(
        (status = OK, description = "The import.", body = Import),
        BadId,
        Unauthenticated,
        NotAdmin,
        (status = NOT_FOUND, description = "No import has this id.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_import(
    State(state): State<AppState>,
    caller: Caller,
    Path(import_id): Path<Uuid>,
) -> Result<JsonResponse<Import>, ApiError> {
    caller.require_admin()?;
    queries::load(&state.pool, import_id)
        .await?
        .map(JsonResponse)
        .ok_or_else(|| ApiError::not_found("no import has this id"))
}

/// Imports a file from the command line (`clinical-sites import`): its record, then [`run::run`].
pub async fn import_file(
    pool: &PgPool,
    options: Options,
    input: impl std::io::Read + Send + 'static,
    step: &(dyn Fn(Step) + Sync),
) -> Result<(Uuid, Outcome), String> {
    let import_id = Uuid::now_v7();
    queries::start(pool, import_id, options.format, options.upsert_by, None)
        .await
        .map_err(|error| error.to_string())?;
    let outcome = run::run(pool, import_id, None, options, input, step)
        .await
        .map_err(|error| error.to_string())?;
    Ok((import_id, outcome))
}

/// A request body as a blocking reader, for the checking thread: chunks arrive over a channel
/// from a task that reads the body. A body past its limit reads as `FileTooLarge`.
struct BodyReader {
    chunks: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>,
    current: bytes::Bytes,
}

impl BodyReader {
    fn new(body: Body) -> Self {
        let (sender, chunks) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut body = body;
            while let Some(frame) = body.frame().await {
                let chunk = frame
                    .map(|frame| frame.into_data().unwrap_or_default())
                    .map_err(|error| {
                        let too_large = std::error::Error::source(&error)
                            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
                        let kind = if too_large {
                            std::io::ErrorKind::FileTooLarge
                        } else {
                            std::io::ErrorKind::Other
                        };
                        std::io::Error::new(kind, error.to_string())
                    });
                let failed = chunk.is_err();
                if sender.send(chunk).await.is_err() || failed {
                    return;
                }
            }
        });
        Self {
            chunks,
            current: bytes::Bytes::new(),
        }
    }
}

impl std::io::Read for BodyReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                None => return Ok(0),
                Some(chunk) => self.current = chunk?,
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
