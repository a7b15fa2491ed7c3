//! The committed `openapi.yaml` is the document the code generates.

use axum::http::StatusCode;
use clinical_sites::openapi::{document, to_yaml};

use crate::support::TestApp;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml");

#[test]
fn committed_openapi_yaml_matches_the_code() {
    let generated = to_yaml(&document());
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &generated).expect("writing openapi.yaml");
        return;
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    if committed != generated {
        let first_difference = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()))
            + 1;
        panic!(
            "openapi.yaml is out of date with the code (first difference at line {first_difference}).\n\
             Regenerate it with `UPDATE_OPENAPI=1 cargo test openapi`, review the diff, and commit it."
        );
    }
}

#[test]
fn the_document_is_openapi_3_1_with_problem_errors() {
    let json = serde_json::to_value(document()).unwrap();
    assert_eq!(json["openapi"], "3.1.0");
    assert!(json["components"]["schemas"]["Problem"].is_object());
    for (path, item) in json["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            assert!(
                operation["operationId"].is_string(),
                "{method} {path} has an operation id"
            );
            assert!(
                operation["summary"].is_string() || operation["description"].is_string(),
                "{method} {path}"
            );
        }
    }
}

#[tokio::test]
async fn the_served_documents_are_the_generated_one() {
    let app = TestApp::new().await;
    let json = app.get("/openapi.json").await;
    assert_eq!(json.status, StatusCode::OK);
    assert_eq!(json.json(), serde_json::to_value(document()).unwrap());
    let yaml = app.get("/openapi.yaml").await;
    assert_eq!(yaml.status, StatusCode::OK);
    assert_eq!(String::from_utf8(yaml.body).unwrap(), to_yaml(&document()));
}
