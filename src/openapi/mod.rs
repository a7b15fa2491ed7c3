//! The OpenAPI document, generated from the handlers' annotations, and the routes that serve it:
//! `/openapi.json`, `/openapi.yaml` and the interactive documentation at `/docs` (Swagger UI, its
//! assets embedded in the binary so it works offline).
//!
//! The committed `openapi.yaml` must equal [`document`]'s output; a test checks it. Regenerate with
//! `UPDATE_OPENAPI=1 cargo test openapi`.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::error::{FieldError, Problem};

pub(crate) mod responses;
mod tighten;

/// The document's fixed parts; paths are added by each resource's router (see [`crate::api`]).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "clinical-sites",
        description = "A directory of clinical training sites for radiologic technologists earning a \
                       post-primary credential (CT, MRI, mammography, ...): which facilities train for \
                       which modality, whom they accept, what they charge, and what they require.\n\n\
                       Every error is an RFC 9457 `application/problem+json` document (`Problem`).",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    tags(
        (name = "health", description = "Liveness and readiness probes."),
        (name = "accounts", description = "Signing up, the caller's own account, and account administration."),
        (name = "sessions", description = "Signing in and out."),
        (name = "api-keys", description = "Long-lived keys for integrations, acting as their owner."),
        (name = "vocabulary", description = "Every closed set of codes, with display names."),
        (name = "sites", description = "Clinical training sites: the listing, its offers per modality, its history."),
        (name = "imports", description = "Bulk import of sites from CSV or NDJSON (administrators): every row read with the rules of `POST /v1/sites`, all or nothing."),
        (name = "claims", description = "Coordinators asking to manage an existing listing, and administrators deciding."),
        (name = "reports", description = "Members' reports of their rotations at a site: what it really asked of them. Comments are public and never hold patient data."),
        (name = "statistics", description = "The ASRT survey's figures, counted live from members' reports, with small groups withheld."),
    ),
    // Schemas that only parameters refer to (utoipa collects those of bodies by itself).
    components(schemas(
        Problem,
        FieldError,
        crate::imports::UpsertBy,
        crate::vocabulary::Modality,
        crate::vocabulary::ArrtAbbreviation,
        crate::vocabulary::SiteType,
        crate::vocabulary::Payment,
        crate::vocabulary::SiteStatus,
        crate::vocabulary::Accepts,
        crate::vocabulary::HipaaTraining,
        crate::vocabulary::Schedule,
        crate::sites::fields::UsStateCode,
        crate::sites::search::params::Sort,
        crate::sites::search::params::Facet,
        crate::sites::search::params::View,
        crate::sites::search::query::ModalityFilter,
        crate::sites::search::query::AcceptsFilter,
        crate::sites::search::query::HipaaTrainingFilter,
        crate::sites::search::query::ScheduleFilter,
        crate::sites::search::query::Tristate,
        crate::sites::search::query::Unstated,
        crate::vocabulary::ClaimStatus,
    )),
    modifiers(&BearerAuth),
)]
pub(crate) struct ApiDoc;

/// Declares the `bearer` security scheme that operations needing a caller refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("cst_… (session) or csk_… (API key)")
                    .description(Some(
                        "A session token from `POST /v1/sessions` or an API key from `POST /v1/api-keys`, \
                         sent as `Authorization: Bearer <secret>`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The complete OpenAPI document of this service.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = crate::api().into_openapi();
    tighten::apply(&mut document);
    document
}

/// The document as YAML, exactly as committed in `openapi.yaml`.
pub fn to_yaml(document: &utoipa::openapi::OpenApi) -> String {
    document.to_yaml().expect("the OpenAPI document serializes to YAML")
}

/// `/openapi.json` (served by Swagger UI's router), `/openapi.yaml` and `/docs`.
pub(crate) fn docs_router(mut document: utoipa::openapi::OpenApi) -> Router {
    tighten::apply(&mut document);
    let yaml = to_yaml(&document);
    Router::new()
        .route(
            "/openapi.yaml",
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, HeaderValue::from_static("application/yaml"))],
                    yaml,
                )
                    .into_response()
            }),
        )
        .merge(SwaggerUi::new("/docs").url("/openapi.json", document))
}
