//! Sites: create, read, update, archive, verify, and who may do which.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, site_body};

#[tokio::test]
async fn a_member_adds_an_unverified_site_with_location_and_etag() {
    let app = TestApp::new().await;
    let (member_id, token) = app.member("ann").await;
    let response = app
        .call(
            Method::POST,
            "/v1/sites",
            Some(&token),
            Some(&site_body("Riverside Imaging", "43210")),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED);
    let site = response.json();
    let id = site["site_id"].as_str().unwrap();
    assert_eq!(response.header("location"), Some(format!("/v1/sites/{id}").as_str()));
    assert_eq!(response.header("etag"), Some("\"1\""));
    assert_eq!(site["status"], "unverified");
    assert_eq!(site["source"], "member");
    assert_eq!(site["state"], "OH");
    assert_eq!(site["offers"]["ct"]["accepts"], json!(["independent"]));
    let managers: i64 = sqlx::query_scalar("select count(*) from site_manager")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(managers, 0, "a member adding a site does not manage it");
    let created_by: uuid::Uuid = sqlx::query_scalar("select created_by from site")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(created_by.to_string(), member_id);

    let anonymous = app.json(Method::POST, "/v1/sites", &site_body("Other", "43210")).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_coordinator_registering_a_site_manages_it() {
    let app = TestApp::new().await;
    let (coordinator_id, token) = app.member("coordinator").await;
    let mut body = site_body("Lakeside Hospital", "44114");
    body["manage"] = json!(true);
    let site = app.create_site(&token, &body).await;
    assert_eq!(site["source"], "coordinator");
    assert_eq!(
        site["status"], "unverified",
        "still unverified until an admin verifies it"
    );
    let manager: uuid::Uuid = sqlx::query_scalar("select account_id from site_manager")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(manager.to_string(), coordinator_id);
}

#[tokio::test]
async fn coordinates_come_from_the_request_or_the_zip_or_are_reported_missing() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;

    let derived = app
        .create_site(&token, &site_body("Zip Derived Imaging", "43210"))
        .await;
    let (lat, lon) = clinical_sites::geo::zip_centroid("43210").unwrap();
    assert_eq!(derived["coordinates_source"], "zip_centroid");
    assert_eq!(derived["latitude"], json!(lat));
    assert_eq!(derived["longitude"], json!(lon));
    assert!(derived.get("notices").is_none());

    let mut given = site_body("Given Coordinates Imaging", "43210");
    given["latitude"] = json!(40.0);
    given["longitude"] = json!(-83.0);
    let given = app.create_site(&token, &given).await;
    assert_eq!(given["coordinates_source"], "request");
    assert_eq!(given["latitude"], json!(40.0));

    // 43298 is a valid ZIP shape that neither the Census ZCTAs nor GeoNames place.
    assert!(clinical_sites::geo::zip_centroid("43298").is_none());
    let unknown = app
        .create_site(&token, &site_body("Unknown Zip Imaging", "43298"))
        .await;
    assert!(unknown["latitude"].is_null() && unknown["coordinates_source"].is_null());
    assert!(unknown["notices"][0].as_str().unwrap().contains("43298"), "{unknown}");
}

#[tokio::test]
async fn a_site_in_a_hospital_only_zip_is_placed_and_found_by_radius() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    // 27710 is Duke University Medical Center's own ZIP: a single-organisation ZIP, not a Census
    // ZCTA, placed from GeoNames.
    let mut body = site_body("Duke Radiology Training", "27710");
    body["city"] = json!("Durham");
    body["state"] = json!("NC");
    let site = app.create_site(&token, &body).await;
    assert_eq!(site["coordinates_source"], "zip_geonames", "{site}");
    let (lat, lon) = clinical_sites::geo::zip_centroid("27710").unwrap();
    assert_eq!(
        (site["latitude"].clone(), site["longitude"].clone()),
        (json!(lat), json!(lon))
    );
    assert!(site.get("notices").is_none(), "{site}");
    // A radius search around Durham's Census ZIP finds it, and the ZIP itself works as `near`.
    for near in ["27701", "27710"] {
        let response = app.get(&format!("/v1/sites?near={near}&radius=10mi")).await;
        assert_eq!(response.status, StatusCode::OK, "{response:?}");
        let page = response.json();
        assert_eq!(page["items"][0]["site_id"], site["site_id"], "near={near}: {page}");
    }
}

#[tokio::test]
async fn a_duplicate_in_the_same_zip_is_a_409_naming_the_existing_site() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    let mut body = site_body("St. Mary's Hospital", "43210-1234");
    body["street"] = json!("1492 Columbus Ave");
    let original = app.create_site(&token, &body).await;
    let id = original["site_id"].as_str().unwrap();
    for name in [
        "St Marys Hospital",
        "ST. MARY'S HOSPITAL",
        "Saint Mary's Hospital",
        "St. Mary's Hospitals",
    ] {
        let response = app
            .call(Method::POST, "/v1/sites", Some(&token), Some(&site_body(name, "43210")))
            .await;
        assert_eq!(response.status, StatusCode::CONFLICT, "{name}");
        let problem = response.problem();
        let existing = problem.existing.expect("the existing site");
        assert_eq!(existing.id.to_string(), id);
        assert_eq!(existing.href, format!("/v1/sites/{id}"));
        // Named with its address, so a client can send the member to it.
        assert_eq!(existing.name.as_deref(), Some("St. Mary's Hospital"));
        assert_eq!(existing.street.as_deref(), Some("1492 Columbus Ave"));
        assert_eq!(existing.city.as_deref(), Some("Columbus"));
        assert_eq!(existing.state.as_deref(), Some("OH"));
        assert_eq!(existing.postal_code.as_deref(), Some("43210-1234"));
        assert_eq!(existing.matched_on.as_deref(), Some("name"));
    }
    // Another ZIP, or a clearly different name, is not a duplicate.
    app.create_site(&token, &site_body("St. Mary's Hospital", "44114"))
        .await;
    app.create_site(&token, &site_body("Riverside Imaging", "43210")).await;
    let count: i64 = sqlx::query_scalar("select count(*) from site")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 3);
}

#[tokio::test]
async fn reading_a_site_is_public_with_a_strong_etag_and_304() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    let site = app.create_site(&token, &site_body("Riverside Imaging", "43210")).await;
    let uri = format!("/v1/sites/{}", site["site_id"].as_str().unwrap());
    let response = app.get(&uri).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json(), site);
    let etag = response.header("etag").unwrap().to_owned();
    assert!(!etag.starts_with("W/"), "a strong ETag");

    let not_modified = app
        .call_with(Method::GET, &uri, None, None, &[("if-none-match", &etag)])
        .await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    assert!(not_modified.body.is_empty());
    let stale = app
        .call_with(Method::GET, &uri, None, None, &[("if-none-match", "\"999\"")])
        .await;
    assert_eq!(stale.status, StatusCode::OK);

    assert_eq!(
        app.get(&format!("/v1/sites/{}", uuid::Uuid::now_v7())).await.status,
        StatusCode::NOT_FOUND
    );
    let bad = app.get("/v1/sites/not-a-uuid").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.problem().errors[0].field, "site_id");
}

#[tokio::test]
async fn who_may_patch_delete_and_verify() {
    let app = TestApp::new().await;
    let (_, coordinator) = app.member("coordinator").await;
    let (_, member) = app.member("member").await;
    let (_, admin) = app.admin("admin").await;
    let mut body = site_body("Riverside Imaging", "43210");
    body["manage"] = json!(true);
    let site = app.create_site(&coordinator, &body).await;
    let id = site["site_id"].as_str().unwrap();
    let uri = format!("/v1/sites/{id}");
    let patch = json!({"payment": "fee", "fee_usd": 100});

    // PATCH: anonymous 401, member 403, manager 200, admin 200.
    let etag = app.etag(id).await;
    let anonymous = app
        .call_with(Method::PATCH, &uri, None, Some(&patch), &[("if-match", &etag)])
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.patch_site(&member, id, &etag, &patch).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.patch_site(&coordinator, id, &etag, &patch).await.status,
        StatusCode::OK
    );
    let etag = app.etag(id).await;
    let by_admin = app.patch_site(&admin, id, &etag, &json!({"fee_usd": 150})).await;
    assert_eq!(by_admin.status, StatusCode::OK);
    assert_eq!(by_admin.json()["fee_usd"], 150);

    // Verify: anonymous 401, member and manager 403 (administrators only), admin 200.
    let verify = format!("{uri}/verify");
    assert_eq!(
        app.call(Method::POST, &verify, None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.call(Method::POST, &verify, Some(&member), None).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.call(Method::POST, &verify, Some(&coordinator), None).await.status,
        StatusCode::FORBIDDEN
    );
    let verified = app.call(Method::POST, &verify, Some(&admin), None).await;
    assert_eq!(verified.status, StatusCode::OK);
    let verified = verified.json();
    assert_eq!(verified["status"], "verified");
    assert!(verified["verified_at"].is_string());

    // DELETE (archive): anonymous 401, member 403, manager 200; the site stays readable.
    assert_eq!(
        app.call(Method::DELETE, &uri, None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.call(Method::DELETE, &uri, Some(&member), None).await.status,
        StatusCode::FORBIDDEN
    );
    let archived = app.call(Method::DELETE, &uri, Some(&coordinator), None).await;
    assert_eq!(archived.status, StatusCode::OK);
    assert_eq!(archived.json()["status"], "archived");
    assert_eq!(app.get(&uri).await.json()["status"], "archived");

    // An archived site cannot be edited until an admin restores it; restoring is admin-only.
    let etag = app.etag(id).await;
    assert_eq!(
        app.patch_site(&coordinator, id, &etag, &patch).await.status,
        StatusCode::CONFLICT
    );
    let restore = format!("{uri}/restore");
    assert_eq!(
        app.call(Method::POST, &restore, Some(&coordinator), None).await.status,
        StatusCode::FORBIDDEN
    );
    let restored = app.call(Method::POST, &restore, Some(&admin), None).await;
    assert_eq!(restored.status, StatusCode::OK);
    assert_eq!(restored.json()["status"], "verified", "back to what it was");
    assert_eq!(
        app.call(Method::POST, &restore, Some(&admin), None).await.status,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn patch_needs_if_match_and_refuses_a_stale_one() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let site = app.create_site(&admin, &site_body("Riverside Imaging", "43210")).await;
    let id = site["site_id"].as_str().unwrap();
    let uri = format!("/v1/sites/{id}");

    let without = app
        .call(Method::PATCH, &uri, Some(&admin), Some(&json!({"city": "Dublin"})))
        .await;
    assert_eq!(without.status, StatusCode::PRECONDITION_REQUIRED);
    assert_eq!(without.problem().kind, "/problems/precondition-required");

    let first = app.patch_site(&admin, id, "\"1\"", &json!({"city": "Dublin"})).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.header("etag"), Some("\"2\""));
    let stale = app.patch_site(&admin, id, "\"1\"", &json!({"city": "Hilliard"})).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.header("etag"), Some("\"2\""), "tells the current revision");
    assert_eq!(
        app.patch_site(&admin, id, "W/\"2\"", &json!({"city": "X"}))
            .await
            .status,
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(app.get(&uri).await.json()["city"], "Dublin");
    assert_eq!(
        app.patch_site(&admin, id, "*", &json!({"city": "Worthington"}))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn patch_is_tri_state_and_edits_offers_in_the_same_request() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let mut body = site_body("Riverside Imaging", "43210");
    body["phone"] = json!("(614) 555-1234");
    body["offers"]["mri"] = json!({"accepting": false, "capacity": 1});
    let site = app.create_site(&admin, &body).await;
    let id = site["site_id"].as_str().unwrap();
    assert_eq!(site["phone"], "+16145551234");

    let patch = json!({
        "phone": null,
        "housing": "help_finding",
        "offers": {"ct": {"capacity": 3}, "mri": null, "mammography": {"accepts": ["program_students"]}}
    });
    let response = app.patch_site(&admin, id, "\"1\"", &patch).await;
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    let updated = response.json();
    assert!(updated["phone"].is_null(), "null clears");
    assert_eq!(updated["housing"], "help_finding", "a value sets");
    assert_eq!(updated["name"], "Riverside Imaging", "absent leaves");
    assert_eq!(updated["payment"], "free");
    assert_eq!(updated["offers"]["ct"]["capacity"], 3);
    assert_eq!(
        updated["offers"]["ct"]["accepts"],
        json!(["independent"]),
        "other offer fields stay"
    );
    assert!(updated["offers"].get("mri").is_none(), "removed");
    assert_eq!(
        updated["offers"]["mammography"]["accepting"], true,
        "added with defaults"
    );
    let modalities: Vec<String> = sqlx::query_scalar("select unnest(modalities) from site")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        modalities,
        ["ct", "mammography"],
        "the search column follows the offers"
    );
    assert_offers_stored(&app, id, &updated["offers"]).await;

    // A ZIP change re-derives coordinates that came from the old ZIP.
    let moved = app
        .patch_site(
            &admin,
            id,
            "\"2\"",
            &json!({"postal_code": "44114", "city": "Cleveland"}),
        )
        .await;
    let moved = moved.json();
    assert_eq!(
        moved["latitude"],
        json!(clinical_sites::geo::zip_centroid("44114").unwrap().0)
    );

    // An empty patch changes nothing: same revision, no history.
    let history = app.history_count(id).await;
    let same = app.patch_site(&admin, id, "\"3\"", &json!({})).await;
    assert_eq!(same.status, StatusCode::OK);
    assert_eq!(same.header("etag"), Some("\"3\""));
    assert_eq!(app.history_count(id).await, history);

    // An offer edit that keeps the modalities rewrites the stored object too.
    let edited = app
        .patch_site(&admin, id, "\"3\"", &json!({"offers": {"ct": {"capacity": 5}}}))
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{edited:?}");
    assert_eq!(edited.json()["offers"]["ct"]["capacity"], 5);
    assert_offers_stored(&app, id, &edited.json()["offers"]).await;

    // `"offers": null` removes them all, from the stored object too.
    let cleared = app.patch_site(&admin, id, "\"4\"", &json!({"offers": null})).await;
    assert_eq!(cleared.status, StatusCode::OK, "{cleared:?}");
    assert_eq!(cleared.json()["offers"], json!({}));
    assert_offers_stored(&app, id, &json!({})).await;
}

/// The site row's `offers` object (what reads return) is the one `site_offer` gives, and what the
/// API showed.
async fn assert_offers_stored(app: &TestApp, site_id: &str, shown: &Value) {
    let (stored, rebuilt): (Value, Value) =
        sqlx::query_as("select offers::jsonb, site_offers_json(site_id)::jsonb from site where site_id = $1::uuid")
            .bind(site_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored, rebuilt, "the stored offers follow site_offer");
    assert_eq!(&stored, shown, "and are what the API shows");
}

#[tokio::test]
async fn twenty_concurrent_patches_with_one_etag_have_exactly_one_winner() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let site = app.create_site(&admin, &site_body("Riverside Imaging", "43210")).await;
    let id = site["site_id"].as_str().unwrap().to_owned();
    let etag = app.etag(&id).await;

    let app = std::sync::Arc::new(app);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (app, admin, id, etag) = (app.clone(), admin.clone(), id.clone(), etag.clone());
            tokio::spawn(async move {
                let patch = json!({"city": format!("City {i}"), "lead_time_days": i});
                (i, app.patch_site(&admin, &id, &etag, &patch).await)
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut refused = 0;
    for task in tasks {
        let (i, response) = task.await.unwrap();
        match response.status {
            StatusCode::OK => winners.push(i),
            StatusCode::PRECONDITION_FAILED => refused += 1,
            other => panic!("unexpected {other}: {response:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one 200");
    assert_eq!(refused, 19, "the rest 412");
    let winner = winners[0];
    let (city, lead_time, version): (String, i32, i64) =
        sqlx::query_as("select city, lead_time_days, version from site")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((city.as_str(), lead_time), (format!("City {winner}").as_str(), winner));
    assert_eq!(version, 2, "one change only");
    assert_eq!(app.history_count(&id).await, 2, "create and the winner's update");
}

#[tokio::test]
async fn an_approved_claimant_can_edit_and_others_cannot() {
    let app = TestApp::new().await;
    let (_, member) = app.member("member").await;
    let (claimant_id, claimant) = app.member("claimant").await;
    let (_, rejected) = app.member("rejected").await;
    let (_, admin) = app.admin("admin").await;
    let site = app.create_site(&member, &site_body("Riverside Imaging", "43210")).await;
    let id = site["site_id"].as_str().unwrap();
    let claims = format!("/v1/sites/{id}/claims");
    let justification = json!({"justification": "CT clinical coordinator; work email jlee@riverside.example.org"});

    assert_eq!(
        app.patch_site(&claimant, id, "\"1\"", &json!({"city": "X"}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let claim = app
        .call(Method::POST, &claims, Some(&claimant), Some(&justification))
        .await;
    assert_eq!(claim.status, StatusCode::CREATED);
    let claim = claim.json();
    assert_eq!(claim["status"], "pending");
    let again = app
        .call(Method::POST, &claims, Some(&claimant), Some(&justification))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "one pending claim at a time");
    let short = app
        .call(
            Method::POST,
            &claims,
            Some(&claimant),
            Some(&json!({"justification": "me"})),
        )
        .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    let other = app
        .call(Method::POST, &claims, Some(&rejected), Some(&justification))
        .await
        .json();

    // Only admins list and decide.
    assert_eq!(
        app.call(Method::GET, "/v1/claims", Some(&member), None).await.status,
        StatusCode::FORBIDDEN
    );
    let pending = app.call(Method::GET, "/v1/claims", Some(&admin), None).await.json();
    assert_eq!(pending["items"].as_array().unwrap().len(), 2);
    assert_eq!(pending["items"][0]["site_name"], "Riverside Imaging");
    let approve = format!("/v1/claims/{}/approve", claim["site_claim_id"].as_str().unwrap());
    assert_eq!(
        app.call(Method::POST, &approve, Some(&claimant), None).await.status,
        StatusCode::FORBIDDEN
    );
    let approved = app.call(Method::POST, &approve, Some(&admin), None).await;
    assert_eq!(approved.status, StatusCode::OK);
    assert_eq!(approved.json()["status"], "approved");
    assert_eq!(
        app.call(Method::POST, &approve, Some(&admin), None).await.status,
        StatusCode::CONFLICT
    );
    let reject = format!("/v1/claims/{}/reject", other["site_claim_id"].as_str().unwrap());
    let rejection = app
        .call(
            Method::POST,
            &reject,
            Some(&admin),
            Some(&json!({"note": "cannot confirm"})),
        )
        .await;
    assert_eq!(rejection.json()["decision_note"], "cannot confirm");

    // The claimant now edits; the rejected claimant still cannot.
    let edited = app.patch_site(&claimant, id, "\"1\"", &json!({"city": "Dublin"})).await;
    assert_eq!(edited.status, StatusCode::OK, "{edited:?}");
    assert_eq!(
        app.patch_site(&rejected, id, "\"2\"", &json!({"city": "X"}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let history = app
        .call(Method::GET, &format!("/v1/sites/{id}/history"), Some(&claimant), None)
        .await
        .json();
    assert_eq!(history["items"][0]["account_id"], claimant_id.as_str());
    let kinds: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["update", "claim_rejected", "claim_approved", "create"]);
    let again = app
        .call(Method::POST, &claims, Some(&claimant), Some(&justification))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "a manager cannot claim again");
}

async fn verify(app: &TestApp, id: &str, admin: &str) {
    let response = app
        .call(Method::POST, &format!("/v1/sites/{id}/verify"), Some(admin), None)
        .await;
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
}

#[tokio::test]
async fn a_verified_listing_whose_identity_a_manager_changes_is_unverified_again() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let (_, coordinator) = app.member("coord").await;
    let mut body = site_body("Lakeshore Imaging", "43210");
    body["manage"] = json!(true);
    let site = app.create_site(&coordinator, &body).await;
    let id = site["site_id"].as_str().unwrap().to_owned();
    verify(&app, &id, &admin).await;

    // Logistics are the manager's to keep current: still verified.
    let response = app
        .patch_site(
            &coordinator,
            &id,
            &app.etag(&id).await,
            &json!({"phone": "614-555-0100", "housing": "free"}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.json()["status"], "verified");

    // Who the site is, by anyone but an administrator: checked again.
    for patch in [
        json!({"name": "Lakeshore Imaging North"}),
        json!({"street": "12 Harbor Road"}),
        json!({"postal_code": "43215"}),
        json!({"npi": "1234567893"}),
    ] {
        let response = app.patch_site(&coordinator, &id, &app.etag(&id).await, &patch).await;
        assert_eq!(response.status, StatusCode::OK, "{patch}: {response:?}");
        let updated = response.json();
        assert_eq!(updated["status"], "unverified", "{patch}");
        assert!(updated["verified_at"].is_null(), "{patch}");
        let history = app
            .call(
                Method::GET,
                &format!("/v1/sites/{id}/history"),
                Some(&coordinator),
                None,
            )
            .await
            .json();
        let latest = history["items"][0].clone(); // newest first
        assert_eq!(
            latest["changes"]["status"],
            json!({"old": "verified", "new": "unverified"}),
            "{patch}: {latest}"
        );
        verify(&app, &id, &admin).await;
    }

    // An administrator's own correction keeps it verified.
    let response = app
        .patch_site(
            &admin,
            &id,
            &app.etag(&id).await,
            &json!({"name": "Lakeshore Imaging Center"}),
        )
        .await;
    assert_eq!(response.json()["status"], "verified");

    // A forgotten verification does not come back through the archive.
    app.patch_site(
        &coordinator,
        &id,
        &app.etag(&id).await,
        &json!({"name": "Lakeshore Imaging East"}),
    )
    .await;
    let archived = app
        .call(Method::DELETE, &format!("/v1/sites/{id}"), Some(&coordinator), None)
        .await;
    assert_eq!(archived.status, StatusCode::OK);
    let restored = app
        .call(Method::POST, &format!("/v1/sites/{id}/restore"), Some(&admin), None)
        .await;
    assert_eq!(restored.json()["status"], "unverified");
}

/// Every field a client can write, each with a value other than its default, on create; then
/// every one changed by one PATCH. Each is read back as written (from `GET`, so from the row),
/// so a field the statements forgot to write fails here.
#[tokio::test]
async fn every_field_is_stored_as_written_on_create_and_on_patch() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let mut first = json!({
        "name": "Riverside Regional Medical Center", "aliases": ["Riverside Imaging", "RRMC Radiology"],
        "site_type": "hospital", "street": "10 W 10th Ave", "city": "Columbus", "state": "OH",
        "postal_code": "43210-1234", "latitude": 40.0001, "longitude": -83.0102,
        "phone": "+16145551234", "website": "https://www.example.org/radiology",
        "email": "imaging.education@example.org", "npi": "1234567893"
    });
    join(
        &mut first,
        json!({
            "payment": "fee", "fee_usd": 250, "fee_covers": "badge and parking", "compensation": "unpaid",
            "hipaa_training": "provided_by_site", "liability_insurance": "required",
            "insurance_accepted": ["own_policy", "program_policy"], "min_per_occurrence_usd": 1000000,
            "min_aggregate_usd": 3000000, "background_check": true, "drug_screen": false,
            "immunizations": ["tb", "hep_b"], "bls_required": true, "orientation_required": false,
            "affiliation_agreement_required": true, "lead_time_days": 45, "housing": "help_finding",
            "schedule": ["weekday", "evening"], "rotation_weeks_min": 4, "rotation_weeks_max": 12,
            "min_hours_per_week": 16,
            "offers": {"ct": {"accepting": false, "capacity": 2, "verifier_on_site": true,
                              "accepts": ["program_students", "independent"],
                              "procedure_categories": ["CTA", "head"], "volume_band": "high",
                              "notes": "Evenings only."}}
        }),
    );
    let mut second = json!({
        "name": "Lakeview Imaging Center", "aliases": ["Lakeview Radiology"], "site_type": "imaging_center",
        "street": "200 Lake St", "city": "Dayton", "state": "OH", "postal_code": "45402",
        "latitude": 39.7589, "longitude": -84.1916, "phone": "+19375550100",
        "website": "https://lakeview.example.org", "email": "education@lakeview.example.org",
        "npi": "1245319599"
    });
    join(
        &mut second,
        json!({
            "payment": "free", "fee_usd": null, "fee_covers": null,
            "compensation": "stipend", "hipaa_training": "bring_own_certificate", "liability_insurance": "not_required",
            "insurance_accepted": [], "min_per_occurrence_usd": null, "min_aggregate_usd": null,
            "background_check": false, "drug_screen": true, "immunizations": ["influenza"],
            "bls_required": false, "orientation_required": true, "affiliation_agreement_required": false,
            "lead_time_days": 10, "housing": "free", "schedule": ["weekend"], "rotation_weeks_min": 2,
            "rotation_weeks_max": 6, "min_hours_per_week": 24,
            "offers": {"ct": null, "mri": {"accepting": true, "capacity": 1, "verifier_on_site": false,
                                            "accepts": ["program_students"], "procedure_categories": ["brain"],
                                            "volume_band": "low", "notes": "Weekends."}}
        }),
    );
    let created = app.create_site(&admin, &first).await;
    let id = created["site_id"].as_str().unwrap().to_owned();
    let stored = app.get(&format!("/v1/sites/{id}")).await.json();
    assert_written(&first, &stored);

    let etag = app.etag(&id).await;
    let patched = app.patch_site(&admin, &id, &etag, &second).await;
    assert_eq!(patched.status, StatusCode::OK, "{patched:?}");
    let stored = app.get(&format!("/v1/sites/{id}")).await.json();
    assert_written(&second, &stored);
    assert_eq!(
        stored["offers"].as_object().unwrap().len(),
        1,
        "the CT offer was removed"
    );
}

/// `object` with `more`'s fields too (nulls kept, unlike a merge patch).
fn join(object: &mut Value, more: Value) {
    let Value::Object(more) = more else { unreachable!() };
    object.as_object_mut().unwrap().extend(more);
}

/// Each field of `sent` (a null: absent or null) as `stored` shows it; offers field by field.
fn assert_written(sent: &Value, stored: &Value) {
    for (field, value) in sent.as_object().unwrap() {
        if field == "offers" {
            for (modality, offer) in value.as_object().unwrap() {
                let Some(offer) = offer.as_object() else { continue };
                for (name, value) in offer {
                    assert_eq!(&stored["offers"][modality][name], value, "offers.{modality}.{name}");
                }
            }
            continue;
        }
        let shown = stored.get(field).unwrap_or(&Value::Null);
        assert_eq!(shown, value, "{field}");
    }
}
