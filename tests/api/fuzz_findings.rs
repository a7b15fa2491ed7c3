//! What the schemathesis run (`.ci/schemathesis`) found, each kept as a test.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestApp, site_body};

/// serde reads a struct from an array of its fields, so `[]` used to be an empty patch (200).
#[tokio::test]
async fn a_body_that_is_not_an_object_is_refused_everywhere() {
    let app = TestApp::new().await;
    let (admin_id, admin) = app.admin("root").await;
    let (_, member) = app.member("ann").await;
    for (method, uri, token) in [
        (Method::PATCH, format!("/v1/accounts/{admin_id}"), &admin),
        (Method::PATCH, "/v1/me".to_owned(), &member),
        (Method::POST, "/v1/api-keys".to_owned(), &member),
        (Method::POST, "/v1/sessions".to_owned(), &member),
        (Method::POST, "/v1/accounts".to_owned(), &member),
    ] {
        for body in [json!([]), json!(["a", "b"]), json!(7), json!("text")] {
            let response = app.call(method.clone(), &uri, Some(token), Some(&body)).await;
            assert_eq!(
                response.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{method} {uri} {body}"
            );
            assert_eq!(
                response.problem().errors[0].message,
                "must be a JSON object",
                "{method} {uri}"
            );
        }
    }
}

/// `current_password` alone used to be ignored, and any length accepted.
#[tokio::test]
async fn current_password_is_accepted_only_with_a_new_password_and_within_its_length() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    for body in [
        json!({"display_name": "Ann", "current_password": "whatever it is"}),
        json!({"current_password": null}),
        json!({"password": "a brand new passphrase", "current_password": "x".repeat(257)}),
    ] {
        let response = app.call(Method::PATCH, "/v1/me", Some(&token), Some(&body)).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            response.problem().errors.iter().any(|e| e.field == "current_password"),
            "{body}"
        );
    }
    let me = app.call(Method::GET, "/v1/me", Some(&token), None).await.json();
    assert_ne!(me["display_name"], "Ann", "a refused patch changes nothing");
}

/// A patch that could never apply is a 422 whatever its `If-Match`; a valid one with a stale tag
/// is still a 412, and one without any is a 428.
#[tokio::test]
async fn an_invalid_patch_is_a_422_even_with_a_stale_etag() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    let mut body = site_body("Riverside Imaging", "43210");
    body["manage"] = json!(true);
    let site = app.create_site(&token, &body).await;
    let id = site["site_id"].as_str().unwrap();
    let invalid = json!({"offers": {"ct": {"accepts": [""]}}});
    let response = app.patch_site(&token, id, "\"999\"", &invalid).await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    let response = app.patch_site(&token, id, "\"999\"", &json!({"city": "Dublin"})).await;
    assert_eq!(response.status, StatusCode::PRECONDITION_FAILED);
    let response = app
        .call_with(
            Method::PATCH,
            &format!("/v1/sites/{id}"),
            Some(&token),
            Some(&json!({"city": "Dublin"})),
            &[],
        )
        .await;
    assert_eq!(response.status, StatusCode::PRECONDITION_REQUIRED);
}

/// Coordinates as small as `5e-324` made PostgreSQL's distance functions underflow (a 500).
#[tokio::test]
async fn vanishingly_small_coordinates_are_zero_and_others_kept_exactly() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    let mut body = site_body("Riverside Imaging", "43210");
    body["latitude"] = json!(-5e-324);
    body["longitude"] = json!(1.2691159156063798e-246);
    let response = app.call(Method::POST, "/v1/sites", Some(&token), Some(&body)).await;
    assert_eq!(response.status, StatusCode::CREATED, "{:?}", response.json());
    let site = response.json();
    assert_eq!(site["latitude"], json!(0.0));
    assert_eq!(site["longitude"], json!(0.0));
    body["name"] = json!("Olentangy Clinic");
    body["latitude"] = json!(39.999_999_987_654_32);
    body["longitude"] = json!(-1e-8);
    let site = app
        .call(Method::POST, "/v1/sites", Some(&token), Some(&body))
        .await
        .json();
    assert_eq!(site["latitude"], json!(39.999_999_987_654_32));
    assert_eq!(site["longitude"], json!(-1e-8));
    let near = app.get("/v1/sites?near=0,0&radius=10mi").await;
    assert_eq!(near.status, StatusCode::OK);
}

/// A site's lists (and offers) take `null` like its other optional fields: none when creating,
/// cleared in a patch. The contract said they could not be null.
#[tokio::test]
async fn a_sites_lists_accept_null_as_the_contract_now_says() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    let mut body = site_body("Riverside Imaging", "43210");
    body["manage"] = json!(true);
    body["schedule"] = json!(null);
    body["aliases"] = json!(null);
    body["offers"] = json!(null);
    let site = app.create_site(&token, &body).await;
    assert_eq!(site["schedule"], json!([]));
    assert_eq!(site["offers"], json!({}));
    let id = site["site_id"].as_str().unwrap();
    let etag = app.etag(id).await;
    let patched = app
        .patch_site(
            &token,
            id,
            &etag,
            &json!({"schedule": ["evening"], "immunizations": ["tb"]}),
        )
        .await
        .json();
    assert_eq!(patched["schedule"], json!(["evening"]));
    let etag = app.etag(id).await;
    let cleared = app.patch_site(&token, id, &etag, &json!({"schedule": null})).await;
    assert_eq!(cleared.status, StatusCode::OK);
    let cleared = cleared.json();
    assert_eq!(cleared["schedule"], json!([]));
    assert_eq!(cleared["immunizations"], json!(["tb"]));
    let document = serde_json::to_value(clinical_sites::openapi::document()).unwrap();
    for schema in ["NewSite", "SitePatch"] {
        assert_eq!(
            document["components"]["schemas"][schema]["properties"]["schedule"]["type"],
            json!(["array", "null"]),
            "{schema}"
        );
    }
}
