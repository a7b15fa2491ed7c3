//! The search index under real traffic: conditional requests, lighter pages, writes beside
//! searches, and instances that keep each other's writes in step through the change feed.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, merge, request, send, site_body};

/// `GET uri` with `headers`.
fn get_with(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    request(Method::GET, uri, None, None, headers)
}

/// A search page, a site and the vocabulary answer `If-None-Match` with 304 while nothing changed,
/// and with the new content after a write.
#[tokio::test]
async fn pages_sites_and_the_vocabulary_answer_304_until_a_write() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let site = app.create_site(&admin, &site_body("Riverside Imaging", "43210")).await;
    let id = site["site_id"].as_str().unwrap().to_owned();
    let uri = "/v1/sites?modality=CT&state=OH&facets=payment";

    let first = app.get(uri).await;
    assert_eq!(first.status, StatusCode::OK);
    let etag = first.header("etag").expect("a search page has an ETag").to_owned();
    assert!(etag.starts_with("W/\""), "weak: {etag}");
    let again = app.send(get_with(uri, &[("if-none-match", &etag)])).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    // Another query is another page.
    let other = app
        .send(get_with("/v1/sites?modality=CT&state=MI", &[("if-none-match", &etag)]))
        .await;
    assert_eq!(other.status, StatusCode::OK);

    // A write through this instance: the next revalidation gets the new page.
    app.create_site(&admin, &site_body("Lakeside Imaging", "43215")).await;
    let changed = app.send(get_with(uri, &[("if-none-match", &etag)])).await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(changed.json()["total"]["value"], 2);
    let new_etag = changed.header("etag").unwrap().to_owned();
    assert_ne!(new_etag, etag);
    let patch = app
        .patch_site(
            &admin,
            &id,
            &app.etag(&id).await,
            &json!({"payment": "program_tuition"}),
        )
        .await;
    assert_eq!(patch.status, StatusCode::OK);
    let patched = app.send(get_with(uri, &[("if-none-match", &new_etag)])).await;
    assert_eq!(patched.status, StatusCode::OK, "an edit changes the page too");

    // The site itself, and the vocabulary.
    let site_etag = app.etag(&id).await;
    let read = app
        .send(get_with(&format!("/v1/sites/{id}"), &[("if-none-match", &site_etag)]))
        .await;
    assert_eq!(read.status, StatusCode::NOT_MODIFIED);
    let vocabulary = app.get("/v1/vocabulary").await;
    let vocabulary_etag = vocabulary
        .header("etag")
        .expect("the vocabulary has an ETag")
        .to_owned();
    let cached = app
        .send(get_with("/v1/vocabulary", &[("if-none-match", &vocabulary_etag)]))
        .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    let stale = app
        .send(get_with("/v1/vocabulary", &[("if-none-match", "\"0\"")]))
        .await;
    assert_eq!(stale.status, StatusCode::OK);
}

/// Pages' summaries are kept between searches, but a site changed through the API, or straight
/// in the database, shows as it is now on the next page: never a summary older than the index.
#[tokio::test]
async fn kept_summaries_never_show_a_site_older_than_the_index() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let site = app.create_site(&admin, &site_body("Riverside Imaging", "43210")).await;
    let id = site["site_id"].as_str().unwrap().to_owned();
    let uri = "/v1/sites?modality=CT&state=OH";
    let name = |page: &Value| page["items"][0]["name"].as_str().unwrap().to_owned();
    assert_eq!(name(&app.get(uri).await.json()), "Riverside Imaging");
    assert_eq!(
        name(&app.get(uri).await.json()),
        "Riverside Imaging",
        "from the kept summary"
    );

    let patch = app
        .patch_site(
            &admin,
            &id,
            &app.etag(&id).await,
            &json!({"name": "Riverside Imaging Center", "payment": "free"}),
        )
        .await;
    assert_eq!(patch.status, StatusCode::OK);
    let page = app.get(uri).await.json();
    assert_eq!(name(&page), "Riverside Imaging Center");
    assert_eq!(page["items"][0]["payment"], "free");

    // Written straight to the database (as another instance or an import would): once the index
    // has read the change, the page has it.
    sqlx::query("update site set name = 'Riverside Diagnostic Imaging' where site_id = $1::uuid")
        .bind(&id)
        .execute(&app.pool)
        .await
        .unwrap();
    app.sync_search().await;
    assert_eq!(name(&app.get(uri).await.json()), "Riverside Diagnostic Imaging");
}

/// A rich site, as a coordinator fills it in.
fn rich_site(i: usize) -> Value {
    let mut body = site_body(&format!("Riverside Regional Medical Center {i}"), "43210");
    merge(
        &mut body,
        &json!({
            "street": format!("{i} W 10th Ave"),
            "aliases": ["Riverside Imaging", "RRMC Radiology"],
            "phone": "(614) 555-1234",
            "website": "https://www.example.org/radiology/clinical-education",
            "email": "imaging.education@example.org",
            "payment": "fee", "fee_usd": 250, "fee_covers": "badge, parking and twelve weeks of supervision",
            "compensation": "unpaid", "hipaa_training": "provided_by_site", "liability_insurance": "required",
            "insurance_accepted": ["own_policy", "program_policy"], "min_per_occurrence_usd": 1000000,
            "min_aggregate_usd": 3000000, "background_check": true, "drug_screen": true,
            "immunizations": ["tb", "mmr", "tdap", "varicella", "hep_b", "influenza"], "bls_required": true,
            "orientation_required": true, "affiliation_agreement_required": false, "lead_time_days": 45,
            "housing": "help_finding", "schedule": ["weekday", "evening"], "rotation_weeks_min": 4,
            "rotation_weeks_max": 12, "min_hours_per_week": 16,
            "offers": {
                "ct": {"capacity": 2, "verifier_on_site": true, "accepts": ["independent", "program_students"],
                       "procedure_categories": ["head", "chest", "abdomen/pelvis", "CTA"], "volume_band": "high",
                       "notes": "Evening shifts only for independent candidates; bring your own dosimeter."},
                "mri": {"capacity": 1, "verifier_on_site": true, "accepts": ["program_students"],
                        "procedure_categories": ["brain", "spine", "MSK"], "volume_band": "medium"}
            }
        }),
    );
    body
}

/// Search hits are summaries: a page of 20 weighs at most a third of the same page with
/// `view=full`, which carries every field of each site.
#[tokio::test]
async fn summary_pages_are_at_least_three_times_lighter_than_full_ones() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    for i in 0..20 {
        app.create_site(&admin, &rich_site(i)).await;
    }
    let summary = app.get("/v1/sites?modality=CT&near=43210").await;
    let full = app.get("/v1/sites?modality=CT&near=43210&view=full").await;
    assert_eq!((summary.status, full.status), (StatusCode::OK, StatusCode::OK));
    let (summary_page, full_page) = (summary.json(), full.json());
    assert_eq!(summary_page["items"].as_array().unwrap().len(), 20);
    let ids = |page: &Value| -> Vec<Value> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["site_id"].clone())
            .collect()
    };
    assert_eq!(ids(&summary_page), ids(&full_page), "the same sites in the same order");
    assert!(
        summary.body.len() * 3 <= full.body.len(),
        "summary {} bytes, full {} bytes",
        summary.body.len(),
        full.body.len()
    );
    // What a results list shows is there; the rest is for the site's page.
    let hit = &summary_page["items"][0];
    for field in [
        "site_id",
        "name",
        "city",
        "state",
        "site_type",
        "status",
        "payment",
        "liability_insurance",
        "hipaa_training",
        "distance",
        "distance_unit",
    ] {
        assert!(hit.get(field).is_some(), "{field} in {hit}");
    }
    assert_eq!(
        hit["offers"]["ct"],
        json!({"accepting": true, "accepts": ["program_students", "independent"], "verifier_on_site": true})
    );
    assert!(hit.get("fee_covers").is_none() && hit.get("immunizations").is_none());
    // With `modality`, a summary's offers are those searched for.
    assert!(hit["offers"].get("mri").is_none(), "{hit}");
    assert!(full_page["items"][0]["offers"]["mri"].is_object());
    let all = app.get("/v1/sites?near=43210").await.json();
    assert!(all["items"][0]["offers"]["mri"].is_object());
    assert_eq!(
        full_page["items"][0]["fee_covers"],
        "badge, parking and twelve weeks of supervision"
    );
    assert_eq!(full_page["items"][0]["distance"], hit["distance"]);
}

/// Writes have connections of their own: with every connection of the searches' pool taken, a
/// site is still created, read back and found (searches answered from the index need none but
/// for their page's rows).
#[tokio::test]
async fn writes_never_wait_for_the_searches_connections() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    assert_eq!(app.get("/v1/sites").await.status, StatusCode::OK);
    let size = app.state.search_pool.options().get_max_connections();
    let mut held = Vec::new();
    for _ in 0..size {
        held.push(app.state.search_pool.acquire().await.unwrap());
    }
    let started = Instant::now();
    let created = app.create_site(&admin, &site_body("Held Pool Imaging", "43210")).await;
    let id = created["site_id"].as_str().unwrap();
    let patched = app
        .patch_site(&admin, id, "\"1\"", &json!({"payment": "program_tuition"}))
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{patched:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    drop(held);
    let page = app.get("/v1/sites?payment=program_tuition").await.json();
    assert_eq!(page["items"][0]["site_id"], id, "read your writes");
}

/// Two instances on one database: each sees the other's writes within about a second, through the
/// change feed, without being told.
#[tokio::test]
async fn another_instance_sees_writes_within_about_a_second() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let other = clinical_sites::app(clinical_sites::AppState::new(
        app.pool.clone(),
        clinical_sites::config::Config::defaults(),
    ));
    let total = async |query: &str| -> Value {
        let response = send(&other, get_with(&format!("/v1/sites?{query}"), &[])).await;
        assert_eq!(response.status, StatusCode::OK);
        response.json()["total"]["value"].clone()
    };
    assert_eq!(total("state=OH").await, 0);
    let created = app.create_site(&admin, &site_body("Elsewhere Imaging", "43210")).await;
    let id = created["site_id"].as_str().unwrap().to_owned();
    let seen_after = async |query: &str, expected: Value| -> Duration {
        let started = Instant::now();
        while total(query).await != expected {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{query} never reached {expected}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        started.elapsed()
    };
    assert!(seen_after("state=OH", json!(1)).await < Duration::from_millis(2500));
    // An archive, and a removal straight from the database.
    let etag = app.etag(&id).await;
    let response = app
        .call_with(
            Method::DELETE,
            &format!("/v1/sites/{id}"),
            Some(&admin),
            None,
            &[("if-match", &etag)],
        )
        .await;
    assert!(response.status.is_success(), "{response:?}");
    assert!(seen_after("state=OH", json!(0)).await < Duration::from_millis(2500));
    assert_eq!(total("state=OH&status=archived").await, 1);
    sqlx::query("delete from site").execute(&app.pool).await.unwrap();
    assert!(seen_after("status=archived", json!(0)).await < Duration::from_millis(2500));
}
