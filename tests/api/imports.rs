//! Bulk import (`POST /v1/imports`, `clinical-sites import`): rows read with `POST /v1/sites`'
//! rules, all or nothing, each bad row named; upserts by NPI and external id; `source = import`
//! and a history entry naming the import; the command line's `--rejects` file.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use crate::duplicates::npi;
use crate::support::client::service_command;
use crate::support::{TempDir, TestApp, TestResponse, server, site_body};

const HEADER: &str = "name,site_type,street,city,state,postal_code,payment,fee_usd,schedule,npi,external_id,offers";

/// `POST /v1/imports` of `body` as `content_type`, by `token`.
async fn import(app: &TestApp, token: &str, query: &str, content_type: &str, body: String) -> TestResponse {
    app.send(
        Request::post(format!("/v1/imports{query}"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

async fn site_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from site")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

fn csv(rows: &[&str]) -> String {
    let mut text = format!("{HEADER}\n");
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text
}

const CT_OFFER: &str =
    r#""{""ct"": {""accepting"": true, ""verifier_on_site"": true, ""accepts"": [""independent""]}}""#;

#[tokio::test]
async fn mixed_good_and_bad_rows_write_nothing_and_name_each_bad_row() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let body = csv(&[
        &format!(
            "Riverside Imaging,imaging_center,410 W 10th Ave,Columbus,OH,43210,free,,weekday|evening,,,{CT_OFFER}"
        ),
        "Lakeside Clinic,spaceship,,Columbus,OH,43215,free,,,,,",
        &format!("Hilltop Hospital,hospital,,Columbus,OH,43201,free,,,,,{CT_OFFER}"),
        "Valley Imaging,imaging_center,,Columbus,OH,4321,free,250,nightly,,,",
    ]);
    let response = import(&app, &admin, "", "text/csv", body).await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{response:?}");
    assert_eq!(response.header("content-type"), Some("application/problem+json"));
    let problem = response.json();
    let rows = problem["rows"].as_array().expect("rows listed");
    assert_eq!(rows.len(), 2, "{problem}");
    assert_eq!(rows[0]["row"], 3, "the header is line 1: {problem}");
    let fields = |row: &Value| -> Vec<String> {
        row["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(fields(&rows[0]), ["site_type"]);
    assert_eq!(rows[1]["row"], 5);
    let bad = fields(&rows[1]);
    for field in ["postal_code", "schedule", "fee_usd"] {
        assert!(bad.iter().any(|f| f == field), "{field} in {bad:?}");
    }
    assert!(problem["detail"].as_str().unwrap().contains("2 of 4 rows"), "{problem}");
    assert_eq!(site_count(&app).await, 0, "nothing was written");

    let record = app
        .call(Method::GET, problem["instance"].as_str().unwrap(), Some(&admin), None)
        .await;
    assert_eq!(record.status, StatusCode::OK, "{record:?}");
    let record = record.json();
    assert_eq!(record["status"], "failed");
    assert_eq!(record["rows_read"], 4);
    assert_eq!(record["rows_rejected"], 2);
    assert_eq!(record["rows_created"], 0);
    assert_eq!(record["rejects"][1]["row"], 5);
}

#[tokio::test]
async fn a_clean_file_imports_fully_as_source_import_with_history_naming_the_import() {
    let app = TestApp::new().await;
    let (admin_id, admin) = app.admin("admin").await;
    // The index is built before the import: the import's own instance must catch up at once.
    assert_eq!(app.get("/v1/sites?state=OH").await.json()["total"]["value"], 0);
    let body = csv(&[
        &format!(
            "Riverside Imaging,imaging_center,410 W 10th Ave,Columbus,OH,43210,fee,250,weekday|evening,{},OH-1,{CT_OFFER}",
            npi(1)
        ),
        "Lakeside Clinic,clinic,,Dayton,oh,45402,free,,,,OH-2,",
        &format!("\"Hilltop Hospital, North\",hospital,,Cleveland,OH,44113,unknown,,,,,{CT_OFFER}"),
    ]);
    let response = import(&app, &admin, "", "text/csv; charset=utf-8", body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{response:?}");
    let record = response.json();
    assert_eq!(response.header("location"), record["href"].as_str());
    assert_eq!(record["status"], "succeeded");
    assert_eq!(record["rows_read"], 3);
    assert_eq!(record["rows_created"], 3);
    assert_eq!(record["created_by"], admin_id.as_str());
    assert_eq!(site_count(&app).await, 3);

    // Searches see the sites at once (read-your-writes on this instance).
    let found = app.get("/v1/sites?modality=ct&state=OH").await.json();
    let names: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{found}");
    assert!(names.contains(&"Hilltop Hospital, North"), "{names:?}");

    let id: String = sqlx::query_scalar("select site_id::text from site where external_id = 'OH-1'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let site = app.get(&format!("/v1/sites/{id}")).await.json();
    assert_eq!(site["source"], "import");
    assert_eq!(site["fee_usd"], 250);
    assert_eq!(site["schedule"], json!(["weekday", "evening"]));
    assert_eq!(site["npi"], npi(1).as_str());
    assert_eq!(site["offers"]["ct"]["accepts"], json!(["independent"]));
    assert!(
        site["latitude"].is_number(),
        "coordinates from the ZIP code, as for POST: {site}"
    );
    let lakeside: Value = sqlx::query_scalar("select to_jsonb(s) from site s where external_id = 'OH-2'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(lakeside["state"], "OH", "normalized as POST normalizes");

    let history = app
        .call(Method::GET, &format!("/v1/sites/{id}/history"), Some(&admin), None)
        .await
        .json();
    let entry = &history["items"][0];
    assert_eq!(entry["kind"], "create");
    assert_eq!(entry["account_id"], admin_id.as_str());
    assert_eq!(entry["changes"]["import"]["id"], record["import_id"]);
    assert_eq!(entry["changes"]["name"]["new"], "Riverside Imaging");
}

#[tokio::test]
async fn upsert_by_npi_updates_the_listed_site_instead_of_duplicating_it() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let mut body = site_body("Riverside Imaging Center", "43210");
    body["npi"] = json!(npi(7));
    let listed = app.create_site(&admin, &body).await;
    let id = listed["site_id"].as_str().unwrap();

    let mut row = body.clone();
    row["payment"] = json!("fee");
    row["fee_usd"] = json!(300);
    row["offers"]["mri"] = json!({"accepting": true, "accepts": ["independent"]});
    let other = site_body("Lakeside Clinic", "45402");
    let file = format!("{row}\n{other}\n");

    // Without upserting, the listed facility is a duplicate: nothing is written.
    let response = import(&app, &admin, "", "application/x-ndjson", file.clone()).await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{response:?}");
    let problem = response.json();
    assert_eq!(problem["rows"][0]["row"], 1);
    assert_eq!(problem["rows"][0]["errors"][0]["field"], "npi");
    let message = problem["rows"][0]["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(&format!("/v1/sites/{id}")), "{message}");
    assert_eq!(site_count(&app).await, 1);

    let response = import(&app, &admin, "?upsert_by=npi", "application/x-ndjson", file.clone()).await;
    assert_eq!(response.status, StatusCode::CREATED, "{response:?}");
    let record = response.json();
    assert_eq!(
        (record["rows_created"].clone(), record["rows_updated"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(site_count(&app).await, 2, "updated, not duplicated");
    let site = app.get(&format!("/v1/sites/{id}")).await.json();
    assert_eq!(site["payment"], "fee");
    assert_eq!(site["fee_usd"], 300);
    assert_eq!(site["version"], 2);
    assert_eq!(site["source"], "member", "an update keeps where the listing came from");
    assert!(site["offers"]["mri"]["accepting"].as_bool().unwrap());
    let history = app
        .call(Method::GET, &format!("/v1/sites/{id}/history"), Some(&admin), None)
        .await
        .json();
    let entry = &history["items"][0];
    assert_eq!(entry["kind"], "update");
    assert_eq!(entry["changes"]["import"]["id"], record["import_id"]);
    assert_eq!(entry["changes"]["payment"], json!({"old": "free", "new": "fee"}));
    assert!(entry["changes"]["offers.mri"].is_object(), "{entry}");
    assert!(entry["changes"].get("name").is_none(), "only what changed: {entry}");

    // The same file again changes nothing: the listed site and the new one are both matched.
    let response = import(&app, &admin, "?upsert_by=npi", "application/x-ndjson", file).await;
    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Lakeside has no NPI: a duplicate now"
    );
    let again = format!("{row}\n");
    let response = import(&app, &admin, "?upsert_by=npi", "application/x-ndjson", again).await;
    assert_eq!(response.status, StatusCode::CREATED, "{response:?}");
    assert_eq!(response.json()["rows_unchanged"], 1);
    let site = app.get(&format!("/v1/sites/{id}")).await.json();
    assert_eq!(site["version"], 2, "an unchanged row leaves its site as it was");
}

#[tokio::test]
async fn upsert_by_external_id_and_the_files_own_duplicates() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let first = csv(&["Riverside Imaging,imaging_center,,Columbus,OH,43210,free,,,,R-1,"]);
    let response = import(&app, &admin, "", "text/csv", first).await;
    assert_eq!(response.status, StatusCode::CREATED, "{response:?}");

    // Renamed and moved under its external id: updated.
    let moved = csv(&["Riverside Imaging Center,imaging_center,,Dayton,OH,45402,free,,,,R-1,"]);
    let response = import(&app, &admin, "?upsert_by=external_id", "text/csv", moved).await;
    assert_eq!(response.status, StatusCode::CREATED, "{response:?}");
    assert_eq!(response.json()["rows_updated"], 1);
    let city: String = sqlx::query_scalar("select city from site where external_id = 'R-1'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(city, "Dayton");
    assert_eq!(site_count(&app).await, 1);

    // One facility twice in a file, an external id twice, and another site's external id.
    let file = csv(&[
        "Lakeside Clinic,clinic,,Columbus,OH,43215,free,,,,L-1,",
        "Lakeside Clinic,clinic,,Columbus,OH,43215,free,,,,L-2,",
        "Hilltop Hospital,hospital,,Columbus,OH,43201,free,,,,L-1,",
        "Valley Clinic,clinic,,Columbus,OH,43201,free,,,,R-1,",
    ]);
    let response = import(&app, &admin, "", "text/csv", file).await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{response:?}");
    let problem = response.json();
    let rows = problem["rows"].as_array().unwrap();
    let summary: Vec<(u64, String, String)> = rows
        .iter()
        .flat_map(|row| {
            row["errors"].as_array().unwrap().iter().map(|e| {
                (
                    row["row"].as_u64().unwrap(),
                    e["field"].as_str().unwrap().to_owned(),
                    e["message"].as_str().unwrap().to_owned(),
                )
            })
        })
        .collect();
    assert!(
        summary
            .iter()
            .any(|(row, field, message)| *row == 3 && field == "name" && message.contains("row 2")),
        "{summary:?}"
    );
    assert!(
        summary
            .iter()
            .any(|(row, field, message)| *row == 4 && field == "external_id" && message.contains("row 2")),
        "{summary:?}"
    );
    assert!(
        summary
            .iter()
            .any(|(row, field, message)| *row == 5 && field == "external_id" && message.contains("/v1/sites/")),
        "{summary:?}"
    );
    assert_eq!(site_count(&app).await, 1);
}

#[tokio::test]
async fn imports_are_for_administrators_and_say_what_is_wrong_with_the_file() {
    let app = TestApp::new().await;
    let (_, member) = app.member("member").await;
    let (_, admin) = app.admin("admin").await;
    let file = csv(&["Riverside Imaging,imaging_center,,Columbus,OH,43210,free,,,,,"]);
    let response = import(&app, &member, "", "text/csv", file.clone()).await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    let response = import(&app, &admin, "", "application/json", file.clone()).await;
    assert_eq!(response.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let response = import(&app, &admin, "?upsert_by=name", "text/csv", file).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST, "{response:?}");
    assert_eq!(response.problem().errors[0].field, "upsert_by");

    let response = import(
        &app,
        &admin,
        "",
        "text/csv",
        "name,site_type,colour\nA,clinic,red\n".to_owned(),
    )
    .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST, "{response:?}");
    assert!(response.problem().detail.contains("`colour`"), "{response:?}");
    let response = import(
        &app,
        &admin,
        "",
        "application/x-ndjson",
        "{\"name\": \"A\"\n[1]\n".to_owned(),
    )
    .await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{response:?}");
    let problem = response.json();
    assert_eq!(problem["rows"].as_array().unwrap().len(), 2, "{problem}");
    assert_eq!(problem["rows"][0]["errors"][0]["field"], "");
    assert_eq!(site_count(&app).await, 0);

    let response = app
        .call(
            Method::GET,
            &format!("/v1/imports/{}", uuid::Uuid::now_v7()),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_command_line_imports_a_file_and_writes_the_refused_rows_with_why() {
    let app = TestApp::new().await;
    let dir = TempDir::new("import");
    let bad = dir.0.join("sites.csv");
    std::fs::write(
        &bad,
        csv(&[
            "Riverside Imaging,imaging_center,,Columbus,OH,43210,free,,,,,",
            "Lakeside Clinic,spaceship,,Columbus,OH,43215,free,,,,,",
        ]),
    )
    .unwrap();
    let rejects = dir.0.join("rejects.csv");
    let url = server().url(&app.db.name);
    let output = tokio::task::spawn_blocking({
        let (bad, rejects, url, data) = (bad.clone(), rejects.clone(), url.clone(), dir.0.join("unused"));
        move || {
            service_command(&data)
                .env("DATABASE_URL", url)
                .arg("import")
                .arg(&bad)
                .arg("--rejects")
                .arg(&rejects)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("row 3: site_type"), "{stderr}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    let written = std::fs::read_to_string(&rejects).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines.len(), 2, "{written}");
    assert!(lines[0].ends_with(",errors"), "{written}");
    assert!(lines[1].starts_with("Lakeside Clinic,spaceship"), "{written}");
    assert!(lines[1].contains("site_type: "), "{written}");
    assert_eq!(site_count(&app).await, 0);

    let good = dir.0.join("good.ndjson");
    std::fs::write(&good, format!("{}\n", site_body("Riverside Imaging", "43210"))).unwrap();
    let output = tokio::task::spawn_blocking({
        let (good, data) = (good.clone(), dir.0.join("unused"));
        move || {
            service_command(&data)
                .env("DATABASE_URL", url)
                .arg("import")
                .arg(&good)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("1 sites created"), "{stdout}");
    let (source, created_by): (String, Option<uuid::Uuid>) = sqlx::query_as("select source, created_by from site")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!((source.as_str(), created_by), ("import", None));
    let kind: String = sqlx::query_scalar("select status from import order by started_at desc limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(kind, "succeeded");
}

#[tokio::test]
async fn the_documented_example_file_imports_as_written() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let example = include_str!("../../docs/examples/sites.csv").to_owned();
    let response = import(&app, &admin, "", "text/csv", example).await;
    assert_eq!(response.status, StatusCode::CREATED, "{response:?}");
    assert_eq!(response.json()["rows_created"], 3);
}

#[tokio::test]
async fn a_body_past_the_import_limit_is_refused_and_writes_nothing() {
    let mut config = clinical_sites::config::Config::defaults();
    config.import_max_bytes = 4096;
    let app = TestApp::with_config(config).await;
    let (_, admin) = app.admin("admin").await;
    let rows: Vec<String> = (0..200)
        .map(|i| format!("Site {i},clinic,,Columbus,OH,43210,free,,,{},,", npi(1000 + i)))
        .collect();
    let body = csv(&rows.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(body.len() > 4096);
    let response = import(&app, &admin, "", "text/csv", body).await;
    assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE, "{response:?}");
    assert_eq!(response.header("content-type"), Some("application/problem+json"));
    assert_eq!(site_count(&app).await, 0);
    // The API's own limit (MAX_BODY_BYTES, 1 MiB) does not apply to imports.
    let mut config = clinical_sites::config::Config::defaults();
    config.max_body_bytes = 1024;
    let app = TestApp::with_config(config).await;
    let (_, admin) = app.admin("admin").await;
    let body = csv(&rows.iter().map(String::as_str).collect::<Vec<_>>());
    let response = import(&app, &admin, "", "text/csv", body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{response:?}");
    assert_eq!(response.json()["rows_created"], 200);
}

#[tokio::test]
async fn an_imported_sites_history_entry_is_what_post_records_naming_the_import() {
    let mut body = site_body("Riverside Imaging Center", "43210");
    body["aliases"] = json!(["RIC"]);
    body["latitude"] = json!(39.9612);
    body["longitude"] = json!(-82.9988);
    body["schedule"] = json!(["weekday"]);
    body["offers"]["mri"] = json!({"accepting": false, "accepts": ["employees"], "notes": "ask first"});
    let mut derived = site_body("Lakeside Clinic", "45402");
    derived["fee_covers"] = json!("parking");
    let mut entries = Vec::new();
    for via_import in [false, true] {
        let app = TestApp::new().await;
        let (_, admin) = app.admin("admin").await;
        if via_import {
            let response = import(&app, &admin, "", "application/x-ndjson", format!("{body}\n{derived}\n")).await;
            assert_eq!(response.status, StatusCode::CREATED, "{response:?}");
        } else {
            app.create_site(&admin, &body).await;
            app.create_site(&admin, &derived).await;
        }
        let ids: Vec<String> = sqlx::query_scalar("select site_id::text from site order by site_id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
        let mut changes = Vec::new();
        for id in ids {
            let history = app
                .call(Method::GET, &format!("/v1/sites/{id}/history"), Some(&admin), None)
                .await
                .json();
            let mut entry = history["items"][0]["changes"].clone();
            if via_import {
                assert!(entry["import"]["id"].is_string(), "{entry}");
            }
            entry.as_object_mut().unwrap().remove("import");
            changes.push(entry);
        }
        entries.push(changes);
    }
    assert_eq!(entries[0], entries[1]);
}

#[tokio::test]
async fn a_row_with_a_reason_may_pass_a_name_match_and_its_history_keeps_why() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let listed = app
        .create_site(&admin, &site_body("Riverside Imaging Center", "43210"))
        .await;
    let mut row = site_body("Riverside Imaging Center", "43210");
    let response = import(&app, &admin, "", "application/x-ndjson", format!("{row}\n")).await;
    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a name match: {response:?}"
    );
    assert_eq!(response.json()["rows"][0]["errors"][0]["field"], "name");

    row["duplicate_override_reason"] = json!("the hospital's outpatient imaging department, a separate facility");
    let response = import(&app, &admin, "", "application/x-ndjson", format!("{row}\n")).await;
    assert_eq!(response.status, StatusCode::CREATED, "{response:?}");
    let id: String = sqlx::query_scalar("select site_id::text from site where source = 'import'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let history = app
        .call(Method::GET, &format!("/v1/sites/{id}/history"), Some(&admin), None)
        .await
        .json();
    let changes = &history["items"][0]["changes"];
    assert_eq!(changes["duplicate_override"]["existing"]["id"], listed["site_id"]);
    assert!(
        changes["duplicate_override"]["reason"]
            .as_str()
            .unwrap()
            .contains("outpatient")
    );
    assert!(changes["import"]["id"].is_string());
}
