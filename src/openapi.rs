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
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::{FieldError, Problem};

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
    ),
    components(schemas(Problem, FieldError)),
)]
pub struct ApiDoc;

/// The complete OpenAPI document of this service.
pub fn document() -> utoipa::openapi::OpenApi {
    crate::api().into_openapi()
}

/// The document as YAML, exactly as committed in `openapi.yaml`.
pub fn to_yaml(document: &utoipa::openapi::OpenApi) -> String {
    document.to_yaml().expect("the OpenAPI document serializes to YAML")
}

/// `/openapi.json` (served by Swagger UI's router), `/openapi.yaml` and `/docs`.
pub fn docs_router(document: utoipa::openapi::OpenApi) -> Router {
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
