//! The problem responses many operations share, written once: list them in a handler's
//! `#[utoipa::path(responses(...))]` beside its own, e.g. `responses((status = OK, ...),
//! Unauthenticated, NotAdmin)`. An operation whose error means something of its own keeps its own
//! line with its own description.

use utoipa::IntoResponses;

use crate::error::Problem;

/// 400: the path's id is not a UUID.
#[derive(IntoResponses)]
#[response(
    status = 400,
    description = "The id is not a UUID.",
    content_type = "application/problem+json"
)]
pub(crate) struct BadId(#[allow(dead_code)] Problem);

/// 400: the body is not JSON.
#[derive(IntoResponses)]
#[response(
    status = 400,
    description = "The body is not valid JSON.",
    content_type = "application/problem+json"
)]
pub(crate) struct BadJson(#[allow(dead_code)] Problem);

/// 400: the body is not JSON or the path's id is not a UUID.
#[derive(IntoResponses)]
#[response(
    status = 400,
    description = "Malformed JSON or id.",
    content_type = "application/problem+json"
)]
pub(crate) struct BadJsonOrId(#[allow(dead_code)] Problem);

/// 401: no credential, or one that does not work.
#[derive(IntoResponses)]
#[response(
    status = 401,
    description = "No valid credential.",
    content_type = "application/problem+json"
)]
pub(crate) struct Unauthenticated(#[allow(dead_code)] Problem);

/// 403: an administrator's operation.
#[derive(IntoResponses)]
#[response(
    status = 403,
    description = "The caller is not an administrator.",
    content_type = "application/problem+json"
)]
pub(crate) struct NotAdmin(#[allow(dead_code)] Problem);

/// 403: an operation of the site's managers and administrators.
#[derive(IntoResponses)]
#[response(
    status = 403,
    description = "The caller neither manages the site nor is an administrator.",
    content_type = "application/problem+json"
)]
pub(crate) struct NotSiteEditor(#[allow(dead_code)] Problem);

/// 404: no site has the path's id.
#[derive(IntoResponses)]
#[response(
    status = 404,
    description = "No such site.",
    content_type = "application/problem+json"
)]
pub(crate) struct SiteNotFound(#[allow(dead_code)] Problem);

/// 404: no claim has the path's id.
#[derive(IntoResponses)]
#[response(
    status = 404,
    description = "No such claim.",
    content_type = "application/problem+json"
)]
pub(crate) struct ClaimNotFound(#[allow(dead_code)] Problem);

/// 409: the claim is no longer pending.
#[derive(IntoResponses)]
#[response(
    status = 409,
    description = "The claim was already decided.",
    content_type = "application/problem+json"
)]
pub(crate) struct ClaimDecided(#[allow(dead_code)] Problem);

/// 412: `If-Match` names an older revision.
#[derive(IntoResponses)]
#[response(
    status = 412,
    description = "The `If-Match` revision is not current.",
    content_type = "application/problem+json"
)]
pub(crate) struct StaleRevision(#[allow(dead_code)] Problem);
