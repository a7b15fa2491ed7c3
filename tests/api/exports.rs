//! Export (`GET /v1/sites/export`, `clinical-sites export`): the sites a search's filters find, as
//! CSV or NDJSON in an import's shape; an export imported into an empty database reproduces the
//! same sites (and exports the same file); demo and archived sites are left out unless asked for.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use crate::duplicates::npi;
use crate::support::client::service_command;
use crate::support::{TempDir, TestApp, server, site_body};

/// A varied set of sites: every kind of field, text that CSV must quote, request coordinates.
async fn sites(app: &TestApp, token: &str) -> Vec<Value> {
    let mut full = site_body("Riverside Imaging Center", "43210");
    for (field, value) in [
        ("aliases", json!(["Riverside Radiology", "RIC"])),
        ("street", json!("410 W 10th Ave, Suite \"B\"")),
        ("phone", json!("(614) 555-1234")),
        ("website", json!("https://www.example.org/radiology")),
        ("email", json!("imaging.education@example.org")),
        ("npi", json!(npi(42))),
        ("external_id", json!("OH-0042")),
        ("payment", json!("fee")),
        ("fee_usd", json!(250)),
        ("fee_covers", json!("badge, parking;\nand a locker")),
        ("compensation", json!("unpaid")),
        ("hipaa_training", json!("provided_by_site")),
        ("liability_insurance", json!("required")),
        ("insurance_accepted", json!(["program_policy", "own_policy"])),
        ("min_per_occurrence_usd", json!(1_000_000)),
        ("background_check", json!(true)),
        ("drug_screen", json!(false)),
        ("immunizations", json!(["tb", "hep_b"])),
        ("lead_time_days", json!(30)),
        ("housing", json!("help_finding")),
        ("schedule", json!(["weekday", "evening"])),
        ("rotation_weeks_min", json!(4)),
        ("rotation_weeks_max", json!(12)),
        ("min_hours_per_week", json!(24)),
        ("latitude", json!(39.9612)),
        ("longitude", json!(-82.9988)),
    ] {
        full[field] = value;
    }
    full["offers"]["mri"] = json!({"accepting": false, "capacity": 2, "verifier_on_site": true, "accepts": ["employees"],
        "procedure_categories": ["head", "spine"], "volume_band": "high", "notes": "weekends only, ask \"Pat\""});
    let mut made = vec![app.create_site(token, &full).await];
    made.push(app.create_site(token, &site_body("Lakeside Clinic", "45402")).await);
    let mut texas = site_body("Prairie Breast Center", "75201");
    texas["state"] = json!("TX");
    texas["city"] = json!("Dallas");
    made.push(app.create_site(token, &texas).await);
    made
}

async fn export(app: &TestApp, query: &str) -> (StatusCode, Option<String>, String) {
    let response = app
        .send(
            Request::get(format!("/v1/sites/export{query}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let content_type = response.header("content-type").map(str::to_owned);
    (
        response.status,
        content_type,
        String::from_utf8(response.body.to_vec()).unwrap(),
    )
}

async fn import(app: &TestApp, token: &str, content_type: &str, body: String) {
    let response = app
        .send(
            Request::post("/v1/imports")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{response:?}");
}

#[tokio::test]
async fn an_export_imported_into_an_empty_database_reproduces_the_same_sites() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    sites(&app, &admin).await;

    for (format, content_type) in [("ndjson", "application/x-ndjson"), ("csv", "text/csv; charset=utf-8")] {
        let (status, served_as, exported) = export(&app, &format!("?format={format}")).await;
        assert_eq!(status, StatusCode::OK, "{exported}");
        assert_eq!(served_as.as_deref(), Some(content_type));
        if format == "ndjson" {
            assert_eq!(exported.lines().count(), 3, "{exported}");
        } else {
            assert!(exported.starts_with("name,aliases,site_type,"), "{exported}");
        }

        let copy = TestApp::new().await;
        let (_, copy_admin) = copy.admin("admin").await;
        import(&copy, &copy_admin, content_type, exported.clone()).await;
        let (_, _, again) = export(&copy, &format!("?format={format}")).await;
        assert_eq!(again, exported, "the same sites, exported the same ({format})");

        // Field by field, as the API shows them.
        let originals: Vec<Value> = sqlx::query_scalar("select site_id::text from site order by site_id")
            .fetch_all(&app.pool)
            .await
            .unwrap()
            .into_iter()
            .map(Value::String)
            .collect();
        let copies: Vec<String> = sqlx::query_scalar("select site_id::text from site order by site_id")
            .fetch_all(&copy.pool)
            .await
            .unwrap();
        assert_eq!(originals.len(), copies.len());
        for (original, copied) in originals.iter().zip(&copies) {
            let mut a = app
                .get(&format!("/v1/sites/{}", original.as_str().unwrap()))
                .await
                .json();
            let mut b = copy.get(&format!("/v1/sites/{copied}")).await.json();
            for site in [&mut a, &mut b] {
                let object = site.as_object_mut().unwrap();
                for own in [
                    "site_id",
                    "created_at",
                    "updated_at",
                    "source",
                    "version",
                    "verified_at",
                    "status",
                ] {
                    object.remove(own);
                }
            }
            assert_eq!(a, b, "{format}");
        }
    }
}

#[tokio::test]
async fn an_export_takes_searchs_filters_and_leaves_out_demo_and_archived_sites() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let made = sites(&app, &admin).await;
    let demo = app
        .create_site(&admin, &site_body("Summit Demo Hospital", "43215"))
        .await;
    sqlx::query("update site set source = 'demo' where site_id = $1::uuid")
        .bind(demo["site_id"].as_str().unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    app.sync_search().await;
    let lakeside = made[1]["site_id"].as_str().unwrap();
    let response = app
        .call(Method::DELETE, &format!("/v1/sites/{lakeside}"), Some(&admin), None)
        .await;
    assert!(response.status.is_success(), "{response:?}");

    let names = |body: &str| -> Vec<String> {
        body.lines()
            .map(|line| {
                serde_json::from_str::<Value>(line).unwrap()["name"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let (_, _, all) = export(&app, "?format=ndjson").await;
    assert_eq!(names(&all), ["Riverside Imaging Center", "Prairie Breast Center"]);
    let (_, _, with_demo) = export(&app, "?format=ndjson&include_demo=true").await;
    assert_eq!(names(&with_demo).len(), 3);
    let (_, _, texas) = export(&app, "?format=ndjson&state=TX").await;
    assert_eq!(names(&texas), ["Prairie Breast Center"]);
    let (_, _, near) = export(&app, "?format=ndjson&near=43210&radius=10mi&modality=MR").await;
    assert_eq!(names(&near), ["Riverside Imaging Center"]);
    let (_, _, archived) = export(&app, "?format=ndjson&status=archived").await;
    assert_eq!(names(&archived), ["Lakeside Clinic"]);
    let (_, _, typo) = export(&app, "?format=ndjson&q=riversde").await;
    assert_eq!(names(&typo), ["Riverside Imaging Center"]);

    // Compressed, as a browser asks for it, the stream ends cleanly.
    let response = app
        .send(
            Request::get("/v1/sites/export?near=43210&radius=60mi")
                .header(header::ACCEPT_ENCODING, "gzip")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("content-encoding"), Some("gzip"));

    let (status, content_type, body) = export(&app, "?limit=5&format=xml&colour=red").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    let problem: Value = serde_json::from_str(&body).unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for field in ["limit", "format", "colour"] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
}

#[tokio::test]
async fn the_command_line_exports_what_the_api_exports() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    sites(&app, &admin).await;
    let (_, _, served) = export(&app, "?format=csv&modality=ct").await;
    let dir = TempDir::new("export");
    let file = dir.0.join("sites.csv");
    let output = tokio::task::spawn_blocking({
        let (file, url, data) = (file.clone(), server().url(&app.db.name), dir.0.join("unused"));
        move || {
            service_command(&data)
                .env("DATABASE_URL", url)
                .args(["export", "--format", "csv", "--query", "modality=ct", "--output"])
                .arg(&file)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), served);
}
