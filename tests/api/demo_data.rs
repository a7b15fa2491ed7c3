//! `clinical-sites demo-data`: synthetic sites that search, facets and edits treat like any other,
//! replaced (never doubled) by a second run, and removed exactly.

use axum::http::{Method, StatusCode};
use clinical_sites::demo_data;
use serde_json::json;

use crate::support::{TestApp, site_body};

async fn demo_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from site where source = 'demo'")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn demo_sites_are_searchable_replaced_by_a_second_run_and_removed_exactly() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    let real = app.create_site(&token, &site_body("Riverside Imaging", "43210")).await;

    let loaded = demo_data::load(&app.pool, 400).await.unwrap();

    app.sync_search().await;
    assert_eq!(
        loaded,
        demo_data::Loaded {
            replaced: 0,
            sites: 400
        }
    );
    assert_eq!(demo_count(&app).await, 400);
    // The offers kept on each row are exactly what the offers table says (what every edit keeps).
    let drifted: i64 = sqlx::query_scalar(
        "select count(*) from site where source = 'demo' and offers::jsonb <> site_offers_json(site_id)::jsonb",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(drifted, 0);
    let unnamed: i64 = sqlx::query_scalar("select count(*) from site where source = 'demo' and name not like 'Demo %'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(unnamed, 0, "every demo site says it is one");

    // Search, totals and facets see them like any other site.
    let page = app.get("/v1/sites?limit=1").await.json();
    assert_eq!(page["total"], json!({"value": 401, "relation": "eq"}));
    let counted: i64 = sqlx::query_scalar(
        "select count(*) from site where source = 'demo' and state = 'CA' and 'ct' = any(modalities)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(counted > 5, "California holds a share of the sites: {counted}");
    let page = app.get("/v1/sites?modality=CT&state=CA&facets=payment").await.json();
    assert_eq!(page["total"]["value"], counted);
    let payments: i64 = page["facets"]["payment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["count"].as_i64().unwrap())
        .sum();
    assert_eq!(payments, counted);
    let verified = app.get("/v1/sites?status=verified&limit=1").await.json();
    assert!(
        verified["total"]["value"].as_i64().unwrap() > 0,
        "a few verified listings"
    );
    let managed: i64 = sqlx::query_scalar(
        "select count(*) from site_manager m join site s using (site_id) join site_claim c using (site_id)
          where s.source = 'demo' and c.status = 'approved'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(managed > 0, "a few claimed listings");

    // A demo site reads and edits like any other.
    let id = page["items"][0]["site_id"].as_str().unwrap().to_owned();
    let (_, admin) = app.admin("admin").await;
    let etag = app.etag(&id).await;
    let response = app
        .patch_site(&admin, &id, &etag, &json!({"offers": {"ct": {"capacity": 9}}}))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.json()["offers"]["ct"]["capacity"], 9);

    // A second run replaces them: the same sites, never twice.
    let loaded = demo_data::load(&app.pool, 400).await.unwrap();
    app.sync_search().await;
    assert_eq!(
        loaded,
        demo_data::Loaded {
            replaced: 400,
            sites: 400
        }
    );
    assert_eq!(demo_count(&app).await, 400);
    let again = app.get(&format!("/v1/sites/{id}")).await;
    assert_eq!(again.status, StatusCode::OK, "the same ids come back");
    let loaded = demo_data::load(&app.pool, 150).await.unwrap();
    app.sync_search().await;
    assert_eq!(loaded.sites, 150);
    assert_eq!(demo_count(&app).await, 150);

    // Removing takes exactly the demo sites and demo accounts.
    assert_eq!(demo_data::remove(&app.pool).await.unwrap(), 150);
    app.sync_search().await;
    assert_eq!(demo_count(&app).await, 0);
    let page = app.get("/v1/sites").await.json();
    assert_eq!(page["total"], json!({"value": 1, "relation": "eq"}));
    assert_eq!(page["items"][0]["site_id"], real["site_id"]);
    let accounts: i64 = sqlx::query_scalar("select count(*) from account where email like '%@demo.invalid'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(accounts, 0);
    assert_eq!(
        demo_data::remove(&app.pool).await.unwrap(),
        0,
        "removing twice is harmless"
    );
    let response = app.call(Method::GET, "/v1/vocabulary", None, None).await;
    let sources = response.json()["site_source"].clone();
    assert!(
        sources.as_array().unwrap().iter().any(|s| s["code"] == "demo"),
        "{sources}"
    );
}
