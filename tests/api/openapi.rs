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

#[test]
fn the_bearer_scheme_is_documented() {
    let json = serde_json::to_value(document()).unwrap();
    let scheme = &json["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    let secured =
        |path: &str, method: &str| json["paths"][path][method]["security"] == serde_json::json!([{"bearer": []}]);
    for (path, method) in [
        ("/v1/me", "get"),
        ("/v1/me", "patch"),
        ("/v1/accounts", "get"),
        ("/v1/accounts/{account_id}", "patch"),
        ("/v1/sessions/current", "delete"),
        ("/v1/api-keys", "post"),
        ("/v1/api-keys", "get"),
        ("/v1/api-keys/{api_key_id}", "delete"),
    ] {
        assert!(
            secured(path, method),
            "{method} {path} documents the bearer requirement"
        );
    }
    for (path, method) in [("/v1/accounts", "post"), ("/v1/sessions", "post"), ("/healthz", "get")] {
        assert_eq!(
            json["paths"][path][method]["security"],
            serde_json::json!([]),
            "{method} {path} is public, and says so"
        );
    }
}

/// The document and the server agree on which operations need a credential: every operation that
/// declares `bearer` answers 401 without one, and no other operation does.
#[tokio::test]
async fn documented_security_matches_what_the_server_enforces() {
    let app = TestApp::new().await;
    let json = serde_json::to_value(document()).unwrap();
    for (path, item) in json["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let uri = path
                .split('/')
                .map(|segment| {
                    if segment.starts_with('{') {
                        uuid::Uuid::now_v7().to_string()
                    } else {
                        segment.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let method: axum::http::Method = method.to_uppercase().parse().unwrap();
            let response = app.call(method.clone(), &uri, None, Some(&serde_json::json!({}))).await;
            let secured = operation["security"] == serde_json::json!([{"bearer": []}]);
            if secured {
                assert_eq!(
                    response.status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {uri} must refuse anonymous callers"
                );
                assert!(
                    operation["responses"]["401"].is_object(),
                    "{method} {path} documents its 401"
                );
            } else {
                assert_ne!(
                    response.status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {uri} is documented as public"
                );
            }
        }
    }
}

/// Every `$ref` of the document names something the document defines.
#[test]
fn every_reference_resolves() {
    fn walk(document: &serde_json::Value, node: &serde_json::Value, at: &str, missing: &mut Vec<String>) {
        match node {
            serde_json::Value::Object(object) => {
                if let Some(reference) = object.get("$ref").and_then(|r| r.as_str()) {
                    let pointer = reference.trim_start_matches('#');
                    if document.pointer(pointer).is_none() {
                        missing.push(format!("{at}: {reference}"));
                    }
                }
                for (key, value) in object {
                    walk(document, value, &format!("{at}/{key}"), missing);
                }
            }
            serde_json::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(document, item, &format!("{at}/{i}"), missing);
                }
            }
            _ => {}
        }
    }
    let json = serde_json::to_value(document()).unwrap();
    let mut missing = Vec::new();
    walk(&json, &json, "", &mut missing);
    assert!(missing.is_empty(), "unresolved references:\n{}", missing.join("\n"));
}

/// The problem types of the contract are those `docs/problems.md` lists, in its order.
#[test]
fn the_problem_types_are_the_documented_ones() {
    let json = serde_json::to_value(document()).unwrap();
    let schema: Vec<String> = json["components"]["schemas"]["ProblemType"]["enum"]
        .as_array()
        .expect("ProblemType is an enum")
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/problems.md")).unwrap();
    let documented: Vec<String> = docs
        .lines()
        .filter_map(|line| line.strip_prefix("| `/problems/"))
        .map(|rest| format!("/problems/{}", rest.split('`').next().unwrap()))
        .collect();
    assert_eq!(schema, documented);
}
