//! Renaming or moving a site by `PATCH` meets the duplicate guard exactly as creating does: one
//! test per case of the "did the name, ZIP code or NPI change" condition in `update_site`, so
//! dropping either side of it, `||` for `&&`, or `!=` for `==` each fails a test.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::duplicates::npi;
use crate::support::{TestApp, TestResponse, site_body};

const REASON: &str = "A separate outpatient department with its own staff and entrance";

/// An administrator, and two listed facilities: "Ruzelru Imaging Center" in 43210 and "Tordraru
/// Imaging Center" in 43215 (with an NPI).
async fn listed() -> (TestApp, String, Value, Value) {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let ruzelru = app
        .create_site(&admin, &site_body("Ruzelru Imaging Center", "43210"))
        .await;
    let mut tordraru = site_body("Tordraru Imaging Center", "43215");
    tordraru["npi"] = json!(npi(777_000_001));
    let tordraru = app.create_site(&admin, &tordraru).await;
    (app, admin, ruzelru, tordraru)
}

fn id(site: &Value) -> &str {
    site["site_id"].as_str().unwrap()
}

fn assert_conflict_with(response: &TestResponse, listed: &Value, matched_on: &str) {
    assert_eq!(response.status, StatusCode::CONFLICT, "{response:?}");
    let existing = response.problem().existing.expect("the listed site");
    assert_eq!(existing.id.to_string(), id(listed));
    assert_eq!(existing.matched_on.as_deref(), Some(matched_on));
}

/// The same request as a create: refused the same way (the guard is one guard).
async fn assert_create_refused(app: &TestApp, admin: &str, body: &Value, listed: &Value) {
    let created = app.call(Method::POST, "/v1/sites", Some(admin), Some(body)).await;
    assert_conflict_with(&created, listed, "name");
}

#[tokio::test]
async fn a_rename_alone_onto_a_listed_name_in_the_zip_is_409() {
    let (app, admin, ruzelru, _) = listed().await;
    let site = app.create_site(&admin, &site_body("Kelvandri Hospital", "43210")).await;
    let renamed = app
        .patch_site(&admin, id(&site), "\"1\"", &json!({"name": "Ruzelru Imaging Ctr."}))
        .await;
    assert_conflict_with(&renamed, &ruzelru, "name");
    assert_create_refused(&app, &admin, &site_body("Ruzelru Imaging Ctr.", "43210"), &ruzelru).await;
    assert_eq!(app.history_count(id(&site)).await, 1, "nothing changed");
}

#[tokio::test]
async fn a_move_alone_into_a_zip_with_the_same_name_is_409() {
    let (app, admin, ruzelru, _) = listed().await;
    // The same name one ZIP code over is another facility, until it moves in.
    let site = app
        .create_site(&admin, &site_body("Ruzelru Imaging Center", "43215"))
        .await;
    let moved = app
        .patch_site(&admin, id(&site), "\"1\"", &json!({"postal_code": "43210"}))
        .await;
    assert_conflict_with(&moved, &ruzelru, "name");
    assert_create_refused(&app, &admin, &site_body("Ruzelru Imaging Center", "43210"), &ruzelru).await;
    assert_eq!(app.history_count(id(&site)).await, 1, "nothing changed");
}

#[tokio::test]
async fn a_rename_and_move_together_onto_a_listed_facility_is_409() {
    let (app, admin, _, tordraru) = listed().await;
    let site = app.create_site(&admin, &site_body("Kelvandri Hospital", "43210")).await;
    let both = json!({"name": "Tordraru Imaging Ctr", "postal_code": "43215"});
    let response = app.patch_site(&admin, id(&site), "\"1\"", &both).await;
    assert_conflict_with(&response, &tordraru, "name");
    assert_create_refused(&app, &admin, &site_body("Tordraru Imaging Ctr", "43215"), &tordraru).await;
}

#[tokio::test]
async fn an_npi_alone_onto_a_listed_npi_is_409() {
    let (app, admin, _, tordraru) = listed().await;
    let site = app.create_site(&admin, &site_body("Kelvandri Hospital", "43210")).await;
    let response = app
        .patch_site(&admin, id(&site), "\"1\"", &json!({"npi": tordraru["npi"]}))
        .await;
    assert_conflict_with(&response, &tordraru, "npi");
}

/// The history's record of the override of the latest change.
async fn override_recorded(app: &TestApp, token: &str, site_id: &str) -> Value {
    let uri = format!("/v1/sites/{site_id}/history");
    let history = app.call(Method::GET, &uri, Some(token), None).await.json();
    history["items"][0]["changes"]["duplicate_override"].clone()
}

#[tokio::test]
async fn a_reason_overrides_a_rename_or_a_move_as_it_does_a_create() {
    let (app, admin, ruzelru, tordraru) = listed().await;
    let (_, coordinator) = app.member("coordinator").await;
    let mut managed = site_body("Kelvandri Hospital", "43210");
    managed["manage"] = json!(true);
    let site = app.create_site(&coordinator, &managed).await;

    // Its manager renames it onto a listed name, with a reason: accepted and recorded.
    let rename = json!({"name": "Ruzelru Imaging Ctr.", "duplicate_override_reason": REASON});
    let renamed = app.patch_site(&coordinator, id(&site), "\"1\"", &rename).await;
    assert_eq!(renamed.status, StatusCode::OK, "{renamed:?}");
    assert_eq!(
        override_recorded(&app, &coordinator, id(&site)).await,
        json!({"reason": REASON, "existing": {"id": id(&ruzelru), "name": "Ruzelru Imaging Center"}})
    );
    // An administrator moves it into a ZIP code where its new name is listed, with a reason.
    let to_tordraru = json!({"name": "Tordraru Imaging Center", "postal_code": "43215"});
    let refused = app.patch_site(&admin, id(&site), "\"2\"", &to_tordraru).await;
    assert_conflict_with(&refused, &tordraru, "name");
    let mut with_reason = to_tordraru.clone();
    with_reason["duplicate_override_reason"] = json!(REASON);
    let moved = app.patch_site(&admin, id(&site), "\"2\"", &with_reason).await;
    assert_eq!(moved.status, StatusCode::OK, "{moved:?}");
    assert_eq!(
        override_recorded(&app, &admin, id(&site)).await["existing"]["id"],
        id(&tordraru)
    );
    // As on create, no reason lets an NPI match through.
    let same_npi = json!({"npi": tordraru["npi"], "duplicate_override_reason": REASON});
    let response = app.patch_site(&admin, id(&site), "\"3\"", &same_npi).await;
    assert_conflict_with(&response, &tordraru, "npi");
    // And a member who does not manage the site may not send one (nor change it at all).
    let (_, member) = app.member("member").await;
    let response = app.patch_site(&member, id(&site), "\"3\"", &rename).await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_change_of_neither_name_nor_zip_nor_npi_is_not_blocked_by_a_listed_near_duplicate() {
    let (app, admin, ruzelru, _) = listed().await;
    // A near-duplicate of Ruzelru in its ZIP code, let through by an administrator's reason.
    let mut body = site_body("Ruzelru Imaging Ctr.", "43210");
    body["duplicate_override_reason"] = json!(REASON);
    let twin = app.create_site(&admin, &body).await;
    let twin_id = id(&twin);
    assert_create_refused(&app, &admin, &site_body("Ruzelru Imaging Ctr.", "43210"), &ruzelru).await;

    // Other fields change freely, even re-sending the name and ZIP code it has, and the ZIP+4
    // within its ZIP code, without a reason.
    for (etag, patch) in [
        ("\"1\"", json!({"city": "Dublin"})),
        ("\"2\"", json!({"payment": "fee", "fee_usd": 250})),
        (
            "\"3\"",
            json!({"name": "Ruzelru Imaging Ctr.", "postal_code": "43210", "street": "9 Elm St"}),
        ),
        ("\"4\"", json!({"postal_code": "43210-1234"})),
    ] {
        let response = app.patch_site(&admin, twin_id, etag, &patch).await;
        assert_eq!(response.status, StatusCode::OK, "{patch}: {response:?}");
    }
    assert!(override_recorded(&app, &admin, twin_id).await.is_null());
    assert_eq!(app.history_count(twin_id).await, 5);
}
