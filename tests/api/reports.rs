//! Members' experience reports: writing one per rotation, reading them publicly, the author's
//! edits, administrators hiding and deleting, and the site's history of it all.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, TestResponse, site_body};

/// A valid report of a `modality` rotation in `year`.
pub fn report_body(modality: &str, year: i32) -> Value {
    json!({"modality": modality, "year": year, "route": ["employer"], "paid": false,
           "hipaa_source": "employer", "insurance_needed": false})
}

fn reports_uri(site: &Value) -> String {
    format!("/v1/sites/{}/reports", site["site_id"].as_str().unwrap())
}

fn report_uri(report: &Value) -> String {
    format!(
        "/v1/sites/{}/reports/{}",
        report["site_id"].as_str().unwrap(),
        report["site_report_id"].as_str().unwrap()
    )
}

async fn post_report(app: &TestApp, token: &str, site: &Value, body: &Value) -> TestResponse {
    app.call(Method::POST, &reports_uri(site), Some(token), Some(body))
        .await
}

/// Reports as `token`, expecting 201; returns the report.
pub async fn reported(app: &TestApp, token: &str, site: &Value, body: &Value) -> Value {
    let response = post_report(app, token, site, body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{response:?}");
    response.json()
}

async fn history(app: &TestApp, admin: &str, site: &Value) -> Vec<Value> {
    let uri = format!("/v1/sites/{}/history", site["site_id"].as_str().unwrap());
    let response = app.call(Method::GET, &uri, Some(admin), None).await;
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    response.json()["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_member_reports_a_rotation_and_everyone_reads_it() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let (member_id, member) = app.member("jordan").await;
    let (_, shy) = app.member("shy").await;
    let site = app.create_site(&admin, &site_body("Riverside Imaging", "43210")).await;

    let mut body = report_body("ct", 2024);
    let extra = json!({"month": 3, "route": ["non_employer_provider", "other"], "paid": true, "paid_usd": 500,
                       "hipaa_source": "clinical_facility", "insurance_needed": true,
                       "insurance_provider": "own_policy", "accepted_independent": true, "verifier_on_site": true,
                       "travel_miles": 40, "housing_provided": false, "hours": 120, "weeks": 6,
                       "would_recommend": true, "comment": "Friendly techs and a steady CT schedule."});
    crate::support::merge(&mut body, &extra);
    let response = post_report(&app, &member, &site, &body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{response:?}");
    let report = response.json();
    assert_eq!(response.header("location"), Some(report_uri(&report).as_str()));
    assert_eq!(response.header("etag"), Some("\"1\""));
    assert_eq!(report["author_display_name"], "Test Member");
    for (field, value) in extra.as_object().unwrap() {
        assert_eq!(&report[field], value, "{field}");
    }

    let anonymous = reported(
        &app,
        &shy,
        &site,
        &json!({"modality": "ct", "year": 2023, "route": ["employer"], "paid": false,
                "hipaa_source": "employer", "insurance_needed": false, "anonymous": true}),
    )
    .await;
    assert_eq!(anonymous["author_display_name"], Value::Null);
    assert_eq!(anonymous["anonymous"], true);

    // Public, newest first, paged by cursor.
    let page = app.get(&format!("{}?limit=1", reports_uri(&site))).await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    let page = page.json();
    assert_eq!(page["items"][0]["site_report_id"], anonymous["site_report_id"]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = app
        .get(&format!("{}?limit=1&cursor={cursor}", reports_uri(&site)))
        .await
        .json();
    assert_eq!(next["items"][0]["site_report_id"], report["site_report_id"]);
    assert_eq!(next["next_cursor"], Value::Null);
    let one = app.get(&report_uri(&report)).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json()["comment"], extra["comment"]);
    let filtered = app.get(&format!("{}?modality=mri", reports_uri(&site))).await.json();
    assert_eq!(filtered["items"], json!([]));

    // In the history: who wrote the named report, and nobody for the anonymous one.
    let entries = history(&app, &admin, &site).await;
    let created: Vec<&Value> = entries.iter().filter(|e| e["kind"] == "report_create").collect();
    assert_eq!(created.len(), 2);
    assert_eq!(created[0]["account_id"], Value::Null);
    assert_eq!(created[1]["account_id"], member_id.as_str());
    assert_eq!(
        created[1]["changes"]["report"]["site_report_id"],
        report["site_report_id"]
    );
    assert_eq!(created[1]["changes"]["report.paid"]["new"], true);
    // The comment is recorded by its length only.
    assert_eq!(created[1]["changes"]["report.comment"]["new"], "(40 characters)");

    let unsigned = app.call(Method::POST, &reports_uri(&site), None, Some(&body)).await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn one_report_per_member_site_modality_and_year() {
    let app = TestApp::new().await;
    let (_, member) = app.member("jordan").await;
    let (_, other) = app.member("other").await;
    let mut body = site_body("Riverside Imaging", "43210");
    body["offers"]["mri"] = json!({"accepting": true});
    let site = app.create_site(&member, &body).await;

    reported(&app, &member, &site, &report_body("ct", 2023)).await;
    let again = post_report(&app, &member, &site, &report_body("ct", 2023)).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{again:?}");
    assert!(again.problem().detail.contains("already reported"), "{again:?}");
    reported(&app, &member, &site, &report_body("ct", 2024)).await;
    let mri = reported(&app, &member, &site, &report_body("mri", 2023)).await;
    reported(&app, &other, &site, &report_body("ct", 2023)).await;

    // An edit into an existing rotation is refused the same way, and changes nothing.
    let etag = format!("\"{}\"", mri["version"]);
    let clash = app
        .call_with(
            Method::PATCH,
            &report_uri(&mri),
            Some(&member),
            Some(&json!({"modality": "ct"})),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(clash.status, StatusCode::CONFLICT, "{clash:?}");
    assert_eq!(app.get(&report_uri(&mri)).await.json()["modality"], "mri");
    let count: i64 = sqlx::query_scalar("select count(*) from site_report")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 4);
}

#[tokio::test]
async fn a_modality_the_site_never_offered_is_refused_and_one_it_offered_then_is_not() {
    let app = TestApp::new().await;
    let (_, coordinator) = app.member("coordinator").await;
    let (_, member) = app.member("jordan").await;
    let mut body = site_body("Riverside Imaging", "43210");
    body["manage"] = json!(true);
    body["offers"]["mri"] = json!({"accepting": true});
    let site = app.create_site(&coordinator, &body).await;
    let site_id = site["site_id"].as_str().unwrap();

    let never = post_report(&app, &member, &site, &report_body("mammography", 2023)).await;
    assert_eq!(never.status, StatusCode::UNPROCESSABLE_ENTITY, "{never:?}");
    assert_eq!(never.problem().errors[0].field, "modality");

    // MRI is no longer offered, but was: a rotation then can still be reported.
    let etag = app.etag(site_id).await;
    let patched = app
        .patch_site(&coordinator, site_id, &etag, &json!({"offers": {"mri": null}}))
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{patched:?}");
    reported(&app, &member, &site, &report_body("mri", 2022)).await;
}

#[tokio::test]
async fn bad_reports_are_refused_with_every_problem_and_nothing_is_written() {
    let app = TestApp::new().await;
    let (_, member) = app.member("jordan").await;
    let site = app.create_site(&member, &site_body("Riverside Imaging", "43210")).await;

    let response = post_report(
        &app,
        &member,
        &site,
        &json!({"modality": "ct", "year": 3000, "route": [], "paid": false, "paid_usd": 10,
                "hipaa_source": "somewhere", "insurance_needed": "no", "weeks": 0, "colour": "red"}),
    )
    .await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{response:?}");
    let problem = response.problem();
    let fields: Vec<&str> = problem.errors.iter().map(|e| e.field.as_str()).collect();
    for field in [
        "year",
        "route",
        "paid_usd",
        "hipaa_source",
        "insurance_needed",
        "weeks",
        "colour",
    ] {
        assert!(fields.contains(&field), "{field} not in {fields:?}");
    }

    for comment in [
        "The patient's DOB was on the screen",
        "MRN 00123 was scanned twice",
        "call me at (614) 555-1234",
    ] {
        let mut body = report_body("ct", 2023);
        body["comment"] = json!(comment);
        let response = post_report(&app, &member, &site, &body).await;
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{comment}: {response:?}"
        );
        let problem = response.problem();
        assert_eq!(problem.errors[0].field, "comment");
        assert!(problem.errors[0].message.contains("patient data"), "{problem:?}");
    }
    let count: i64 = sqlx::query_scalar("select count(*) from site_report")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
    let tally: i64 = sqlx::query_scalar("select count(*) from report_tally")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(tally, 0);
}

#[tokio::test]
async fn only_the_author_edits_a_report_and_only_with_its_current_etag() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let (_, author) = app.member("author").await;
    let (_, other) = app.member("other").await;
    let site = app.create_site(&author, &site_body("Riverside Imaging", "43210")).await;
    let mut body = report_body("ct", 2023);
    body["comment"] = json!("Good schedule.");
    let report = reported(&app, &author, &site, &body).await;
    let uri = report_uri(&report);
    let patch = json!({"would_recommend": true, "comment": "Great schedule and kind staff."});

    for token in [&other, &admin] {
        let response = app
            .call_with(Method::PATCH, &uri, Some(token), Some(&patch), &[("if-match", "\"1\"")])
            .await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{response:?}");
    }
    let missing = app.call(Method::PATCH, &uri, Some(&author), Some(&patch)).await;
    assert_eq!(missing.status, StatusCode::PRECONDITION_REQUIRED, "{missing:?}");
    let stale = app
        .call_with(
            Method::PATCH,
            &uri,
            Some(&author),
            Some(&patch),
            &[("if-match", "\"7\"")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "{stale:?}");
    let invalid = app
        .call_with(
            Method::PATCH,
            &uri,
            Some(&author),
            Some(&json!({"paid_usd": 50})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY, "{invalid:?}");

    let updated = app
        .call_with(
            Method::PATCH,
            &uri,
            Some(&author),
            Some(&patch),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{updated:?}");
    assert_eq!(updated.header("etag"), Some("\"2\""));
    assert_eq!(updated.json()["would_recommend"], true);
    // `null` clears an optional field.
    let cleared = app
        .call_with(
            Method::PATCH,
            &uri,
            Some(&author),
            Some(&json!({"comment": null})),
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{cleared:?}");
    assert_eq!(cleared.json()["comment"], Value::Null);

    let entries = history(&app, &admin, &site).await;
    let updates: Vec<&Value> = entries.iter().filter(|e| e["kind"] == "report_update").collect();
    assert_eq!(updates.len(), 2);
    assert_eq!(
        updates[1]["changes"]["report.comment"],
        json!({"old": "(14 characters)", "new": "(30 characters)"})
    );
    assert_eq!(
        updates[1]["changes"]["report.would_recommend"],
        json!({"old": null, "new": true})
    );
}

#[tokio::test]
async fn administrators_hide_and_delete_reports_and_others_cannot() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let (_, author) = app.member("author").await;
    let (_, other) = app.member("other").await;
    let site = app.create_site(&author, &site_body("Riverside Imaging", "43210")).await;
    let report = reported(&app, &author, &site, &report_body("ct", 2023)).await;
    let uri = report_uri(&report);
    let hide = format!("{uri}/hide");
    let reason = json!({"reason": "The comment described a patient."});

    let refused = app.call(Method::POST, &hide, Some(&other), Some(&reason)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    let hidden = app.call(Method::POST, &hide, Some(&admin), Some(&reason)).await;
    assert_eq!(hidden.status, StatusCode::OK, "{hidden:?}");
    assert_eq!(hidden.json()["hidden"]["reason"], "The comment described a patient.");
    let again = app.call(Method::POST, &hide, Some(&admin), Some(&reason)).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{again:?}");

    // Gone for the public; still there, with why, for its author and administrators.
    assert_eq!(app.get(&uri).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&reports_uri(&site)).await.json()["items"], json!([]));
    let own = app
        .call(Method::GET, &reports_uri(&site), Some(&author), None)
        .await
        .json();
    assert_eq!(own["items"][0]["hidden"]["reason"], "The comment described a patient.");
    let seen = app.call(Method::GET, &uri, Some(&admin), None).await;
    assert_eq!(seen.status, StatusCode::OK);
    let for_other = app.call(Method::GET, &uri, Some(&other), None).await;
    assert_eq!(for_other.status, StatusCode::NOT_FOUND);

    let shown = app.call(Method::DELETE, &hide, Some(&admin), None).await;
    assert_eq!(shown.status, StatusCode::OK, "{shown:?}");
    assert_eq!(shown.json()["hidden"], Value::Null);
    assert_eq!(app.get(&uri).await.status, StatusCode::OK);

    let by_other = app.call(Method::DELETE, &uri, Some(&other), None).await;
    assert_eq!(by_other.status, StatusCode::FORBIDDEN, "{by_other:?}");
    let deleted = app.call(Method::DELETE, &uri, Some(&admin), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{deleted:?}");
    assert_eq!(app.get(&uri).await.status, StatusCode::NOT_FOUND);
    let mine = reported(&app, &author, &site, &report_body("ct", 2022)).await;
    let stale = app
        .call_with(
            Method::DELETE,
            &report_uri(&mine),
            Some(&author),
            None,
            &[("if-match", "\"9\"")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "{stale:?}");
    let own_delete = app.call(Method::DELETE, &report_uri(&mine), Some(&author), None).await;
    assert_eq!(own_delete.status, StatusCode::NO_CONTENT, "{own_delete:?}");

    let kinds: Vec<Value> = history(&app, &admin, &site)
        .await
        .iter()
        .map(|e| e["kind"].clone())
        .filter(|k| k.as_str().unwrap().starts_with("report_"))
        .collect();
    assert_eq!(
        kinds,
        json!([
            "report_delete",
            "report_create",
            "report_delete",
            "report_unhide",
            "report_hide",
            "report_create"
        ])
        .as_array()
        .unwrap()
        .clone()
    );
}

/// The summary on the site and on each search hit agrees with the reports, under the disclosure
/// threshold; reports move the site's `ETag` but not its listing's revision or `updated_at`.
#[tokio::test]
async fn the_site_and_its_search_hits_summarise_the_reports_beside_the_listing() {
    let mut config = clinical_sites::config::Config::defaults();
    config.stats_min_respondents = 5;
    let app = TestApp::with_config(config).await;
    let (_, coordinator) = app.member("coordinator").await;
    let mut body = site_body("Riverside Imaging", "43210");
    body["manage"] = json!(true);
    let site = app.create_site(&coordinator, &body).await;
    let site_id = site["site_id"].as_str().unwrap();
    assert_eq!(site["reports"]["reports"], 0);

    for i in 0..6 {
        let (_, member) = app.member(&format!("member{i}")).await;
        let mut body = report_body("ct", 2023);
        if i < 5 {
            body["paid"] = json!(true);
            body["paid_usd"] = json!(100 * (i + 1));
        }
        body["accepted_independent"] = json!(i < 2);
        body["would_recommend"] = json!(true);
        body["hipaa_source"] = json!(if i < 3 { "employer" } else { "online" });
        reported(&app, &member, &site, &body).await;
        if i == 3 {
            // Four members: only the number of reports shows.
            let summary = app.get(&format!("/v1/sites/{site_id}")).await.json()["reports"].clone();
            assert_eq!(summary["reports"], 4);
            assert_eq!(summary["insufficient_data"], true);
            assert_eq!(summary["paid"], Value::Null);
        }
    }
    let read = app.get(&format!("/v1/sites/{site_id}")).await;
    let etag = read.header("etag").unwrap().to_owned();
    assert_eq!(etag, "\"1.6\"");
    let read = read.json();
    assert_eq!(read["version"], 1);
    assert_eq!(
        read["updated_at"], site["updated_at"],
        "a report is not a change of the listing"
    );
    let summary = &read["reports"];
    assert_eq!(summary["reports"], 6);
    assert_eq!(summary["insufficient_data"], false);
    assert_eq!(summary["paid"], json!({"count": 5, "percent": 83.3}));
    assert_eq!(summary["median_paid_usd"], 300);
    assert_eq!(summary["accepted_independent"], json!({"count": "<5", "percent": null}));
    assert_eq!(summary["would_recommend"], json!({"count": 6, "percent": 100.0}));
    assert_eq!(summary["insurance_needed"], json!({"count": 0, "percent": 0.0}));
    assert_eq!(
        summary["hipaa_source"]["online"],
        json!({"count": "<5", "percent": null})
    );
    // Beside the listing's own claim: it says free, 5 of 6 members paid.
    assert_eq!(read["payment"], "free");

    for view in ["", "&view=full"] {
        let page = app.get(&format!("/v1/sites?modality=ct{view}")).await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        assert_eq!(&page.json()["items"][0]["reports"], summary, "{view}");
    }
    let not_modified = app
        .call_with(
            Method::GET,
            &format!("/v1/sites/{site_id}"),
            None,
            None,
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);

    // The coordinator's edit, begun before the reports, is not stale because of them.
    let edit = app
        .patch_site(&coordinator, site_id, "\"1\"", &json!({"payment": "fee"}))
        .await;
    assert_eq!(edit.status, StatusCode::OK, "{edit:?}");
    assert_eq!(edit.header("etag"), Some("\"2.6\""));
    let edit = app
        .patch_site(&coordinator, site_id, "\"2.6\"", &json!({"fee_usd": 300}))
        .await;
    assert_eq!(edit.status, StatusCode::OK, "{edit:?}");
    let stale = app
        .patch_site(&coordinator, site_id, "\"2.6\"", &json!({"fee_usd": 200}))
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "{stale:?}");
}

/// The contract's examples are accepted, and every report response (the report, a page, the
/// site's history with report entries, a site with a summary, a search page, the statistics)
/// fits the schema the contract gives it.
#[tokio::test]
async fn report_responses_conform_to_the_contract() {
    use crate::support::schema::validate_component;
    let mut config = clinical_sites::config::Config::defaults();
    config.stats_min_respondents = 5;
    let app = TestApp::with_config(config).await;
    let (_, admin) = app.admin("admin").await;
    let document = serde_json::to_value(clinical_sites::openapi::document()).unwrap();
    let fits = |name: &str, value: &Value| {
        let problems = validate_component(&document, name, value);
        assert!(problems.is_empty(), "{name}: {problems:?}\n{value}");
    };
    let site = app.create_site(&admin, &site_body("Riverside Imaging", "43210")).await;
    let example = document["components"]["schemas"]["NewReport"]["example"].clone();
    let report = reported(&app, &admin, &site, &example).await;
    fits("SiteReport", &report);
    let patch = document["components"]["schemas"]["ReportPatch"]["example"].clone();
    let patched = app
        .call_with(
            Method::PATCH,
            &report_uri(&report),
            Some(&admin),
            Some(&patch),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{patched:?}");
    fits("SiteReport", &patched.json());
    let hidden = app
        .call(
            Method::POST,
            &format!("{}/hide", report_uri(&report)),
            Some(&admin),
            Some(&json!({"reason": "A test."})),
        )
        .await;
    fits("SiteReport", &hidden.json());
    for i in 0..5 {
        let (_, member) = app.member(&format!("member{i}")).await;
        reported(&app, &member, &site, &report_body("ct", 2020 + i)).await;
    }
    fits("SiteReportPage", &app.get(&reports_uri(&site)).await.json());
    let uri = format!("/v1/sites/{}/history", site["site_id"].as_str().unwrap());
    fits(
        "SiteChangePage",
        &app.call(Method::GET, &uri, Some(&admin), None).await.json(),
    );
    let site = app
        .get(&format!("/v1/sites/{}", site["site_id"].as_str().unwrap()))
        .await
        .json();
    assert_eq!(site["reports"]["insufficient_data"], false);
    fits("Site", &site);
    for view in ["", "&view=full"] {
        fits(
            "SitePage",
            &app.get(&format!("/v1/sites?modality=ct{view}")).await.json(),
        );
    }
    for query in [
        "",
        "?group_by=state",
        "?group_by=year&modality=ct",
        "?since=2020&until=2024",
    ] {
        fits("Statistics", &app.get(&format!("/v1/stats{query}")).await.json());
    }
}

/// Search by what members reported: `reported_independent=true` finds the sites where a member
/// was accepted as an independent candidate, and `sort=-reports` puts the most reported first,
/// paging by cursor through every site once.
#[tokio::test]
async fn search_filters_and_sorts_by_members_reports() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let names = [
        "Kelvandri Imaging",
        "Tordraru Imaging",
        "Ruzelru Imaging",
        "Mabrenti Imaging",
    ];
    let mut sites = Vec::new();
    for (i, name) in names.iter().enumerate() {
        sites.push(app.create_site(&admin, &site_body(name, &format!("4321{i}"))).await);
    }
    // Site 2: three reports (one independent); site 0: one report; sites 1 and 3: none.
    let mut members = Vec::new();
    for i in 0..3 {
        members.push(app.member(&format!("member{i}")).await.1);
    }
    for (i, member) in members.iter().enumerate() {
        let mut body = report_body("ct", 2023);
        body["accepted_independent"] = json!(i == 0);
        reported(&app, member, &sites[2], &body).await;
    }
    reported(&app, &members[0], &sites[0], &report_body("ct", 2022)).await;

    let ids = |page: &Value| -> Vec<Value> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["site_id"].clone())
            .collect()
    };
    let independent = app.get("/v1/sites?reported_independent=true").await;
    assert_eq!(independent.status, StatusCode::OK, "{independent:?}");
    assert_eq!(ids(&independent.json()), vec![sites[2]["site_id"].clone()]);
    let bad = app.get("/v1/sites?reported_independent=maybe").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{bad:?}");

    let mut unreported: Vec<Value> = vec![sites[1]["site_id"].clone(), sites[3]["site_id"].clone()];
    unreported.sort_by_key(|id| id.as_str().unwrap().to_owned());
    let mut expected = vec![sites[2]["site_id"].clone(), sites[0]["site_id"].clone()];
    expected.extend(unreported);
    let whole = app.get("/v1/sites?sort=-reports").await.json();
    assert_eq!(ids(&whole), expected);
    assert_eq!(whole["items"][0]["reports"]["reports"], 3);
    let mut paged = Vec::new();
    let mut uri = "/v1/sites?sort=-reports&limit=1".to_owned();
    loop {
        let page = app.get(&uri).await.json();
        paged.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/v1/sites?sort=-reports&limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(paged, expected);
}
