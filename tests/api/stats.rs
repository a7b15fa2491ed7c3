//! `GET /v1/stats`: the survey's figures from members' reports, counted by respondent, with the
//! disclosure rule, and running counts that never drift from a fresh count.

use axum::http::{Method, StatusCode};
use clinical_sites::config::Config;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::reports::{report_body, reported};
use crate::support::{Rng, TestApp, site_body};

/// A site of `site_type` in `state`, created by `token`, offering CT and MRI.
async fn site(app: &TestApp, token: &str, name: &str, site_type: &str, state: &str, zip: &str) -> Value {
    let mut body = site_body(name, zip);
    body["site_type"] = json!(site_type);
    body["state"] = json!(state);
    body["offers"]["mri"] = json!({"accepting": true});
    app.create_site(token, &body).await
}

async fn stats(app: &TestApp, query: &str) -> Value {
    let response = app.get(&format!("/v1/stats{query}")).await;
    assert_eq!(response.status, StatusCode::OK, "{query}: {response:?}");
    response.json()
}

/// A report inserted directly, for respondent `respondent` (a fixture of many members without
/// signing each up).
#[allow(clippy::too_many_arguments)]
async fn insert_report(
    app: &TestApp,
    respondent: Uuid,
    site: &Value,
    modality: &str,
    year: i16,
    route: &[&str],
    paid: bool,
    hipaa_source: &str,
    insurance_needed: bool,
) {
    sqlx::query("insert into respondent (respondent_id) values ($1) on conflict do nothing")
        .bind(respondent)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query(
        "insert into site_report (site_report_id, site_id, respondent_id, modality, year, route, paid, hipaa_source,
                                  insurance_needed)
         values ($1, $2::uuid, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(Uuid::now_v7())
    .bind(site["site_id"].as_str().unwrap())
    .bind(respondent)
    .bind(modality)
    .bind(year)
    .bind(route)
    .bind(paid)
    .bind(hipaa_source)
    .bind(insurance_needed)
    .execute(&app.pool)
    .await
    .unwrap();
}

fn percent(breakdown: &Value, path: &[&str]) -> f64 {
    let mut value = &breakdown["categories"];
    for key in path {
        value = &value[*key];
    }
    value["percent"].as_f64().unwrap_or_else(|| panic!("{path:?}: {value}"))
}

/// 1,000 members built to the survey's published proportions; `GET /v1/stats` gives exactly the
/// survey's percentages.
#[tokio::test]
async fn a_fixture_of_the_surveys_proportions_returns_its_percentages() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let hospital = site(&app, &admin, "Mercy General Hospital", "hospital", "OH", "43210").await;
    let imaging = site(
        &app,
        &admin,
        "Riverside Imaging Center",
        "imaging_center",
        "OH",
        "43215",
    )
    .await;
    let clinic = site(&app, &admin, "Lakeside Multispecialty Clinic", "clinic", "OH", "43220").await;

    for i in 0..1000_usize {
        let respondent = Uuid::from_u128(0xfeed_0000 + i as u128);
        // HIPAA: 65.5 / 16.2 / 14.1 / 2.8 / 1.4 (employer / facility / program / unspecified / online).
        let hipaa = match i {
            0..655 => "employer",
            655..817 => "clinical_facility",
            817..958 => "educational_program",
            958..986 => "unspecified",
            _ => "online",
        };
        // Insurance not needed: 78.6.
        let insurance_needed = i >= 786;
        // Routes: employer 71.3, educational program 24.5, non-employer provider 8.4, other 5.6.
        let mut route = vec![match i {
            0..713 => "employer",
            713..958 => "educational_program",
            _ => "non_employer_provider",
        }];
        if i < 42 {
            route.push("non_employer_provider");
        } else if i < 98 {
            route.push("other");
        }
        // Site types: hospital 78.9, imaging center 19.7, large clinic 10.6 (92 members trained
        // at a hospital and a clinic).
        let first = match i {
            0..789 => &hospital,
            789..986 => &imaging,
            _ => &clinic,
        };
        let paid = i % 10 == 0;
        insert_report(
            &app,
            respondent,
            first,
            "ct",
            2023,
            &route,
            paid,
            hipaa,
            insurance_needed,
        )
        .await;
        if i < 92 {
            insert_report(
                &app,
                respondent,
                &clinic,
                "mri",
                2024,
                &route,
                paid,
                hipaa,
                insurance_needed,
            )
            .await;
        }
    }
    clinical_sites::reports::tally::rebuild(&app.pool).await.unwrap();

    let all = stats(&app, "").await;
    let overall = &all["overall"];
    assert_eq!(overall["respondents"], 1000);
    let expect = [
        (&["site_type", "hospital"][..], 78.9),
        (&["site_type", "imaging_center"], 19.7),
        (&["site_type", "large_clinic"], 10.6),
        (&["non_employer_provider"], 8.4),
        (&["hipaa_source", "employer"], 65.5),
        (&["hipaa_source", "clinical_facility"], 16.2),
        (&["hipaa_source", "educational_program"], 14.1),
        (&["hipaa_source", "unspecified"], 2.8),
        (&["hipaa_source", "online"], 1.4),
        (&["insurance_not_needed"], 78.6),
        (&["route", "employer"], 71.3),
        (&["route", "educational_program"], 24.5),
        (&["route", "non_employer_provider"], 8.4),
        (&["route", "other"], 5.6),
        (&["paid"], 10.0),
    ];
    for (path, want) in expect {
        assert_eq!(percent(overall, path), want, "{path:?}");
    }
    assert_eq!(overall["categories"]["site_type"]["hospital"]["count"], 789);
    assert_eq!(all["multi_valued"], json!(["site_type", "hipaa_source", "route"]));
    // The same figures whether read from the running counts or counted afresh (two filters).
    let afresh = stats(&app, "?state=OH&since=2000").await;
    assert_eq!(afresh["overall"], all["overall"]);
}

/// Each filter and each `group_by`, on a small directory whose answers are known.
#[tokio::test]
async fn each_filter_and_group_by_counts_respondents() {
    let mut config = Config::defaults();
    config.stats_min_respondents = 5;
    let app = TestApp::with_config(config).await;
    let (_, admin) = app.admin("admin").await;
    let oh = site(&app, &admin, "Mercy General Hospital", "hospital", "OH", "43210").await;
    let ca = site(&app, &admin, "Bayview Imaging Center", "imaging_center", "CA", "94103").await;

    // 6 members: CT in Ohio 2021 (2 paid); members 0-4 also MRI in California 2023 (paid).
    for i in 0..6 {
        let respondent = Uuid::from_u128(100 + i);
        let paid = i < 2;
        insert_report(
            &app,
            respondent,
            &oh,
            "ct",
            2021,
            &["employer"],
            paid,
            "employer",
            false,
        )
        .await;
        if i < 5 {
            insert_report(
                &app,
                respondent,
                &ca,
                "mri",
                2023,
                &["educational_program"],
                true,
                "online",
                true,
            )
            .await;
        }
    }
    clinical_sites::reports::tally::rebuild(&app.pool).await.unwrap();

    let all = stats(&app, "").await;
    assert_eq!(all["overall"]["respondents"], 6);
    // 5 paid (2 in Ohio, 5 in California), counted once each.
    assert_eq!(
        all["overall"]["categories"]["paid"],
        json!({"count": 5, "percent": 83.3})
    );
    // Routes: a respondent counts in each of theirs (6 + 5 of 6).
    assert_eq!(all["overall"]["categories"]["route"]["employer"]["percent"], 100.0);
    assert_eq!(
        all["overall"]["categories"]["route"]["educational_program"]["percent"],
        83.3
    );

    let respondents = |body: &Value| body["overall"]["respondents"].clone();
    let withheld = json!({"insufficient_data": true, "respondents": null, "categories": null});
    assert_eq!(respondents(&stats(&app, "?modality=ct").await), 6);
    assert_eq!(respondents(&stats(&app, "?modality=mri").await), 5);
    assert_eq!(respondents(&stats(&app, "?state=oh").await), 6);
    assert_eq!(respondents(&stats(&app, "?state=CA").await), 5);
    assert_eq!(stats(&app, "?state=TX").await["overall"], withheld);
    assert_eq!(respondents(&stats(&app, "?site_type=imaging_center").await), 5);
    assert_eq!(stats(&app, "?site_type=clinic").await["overall"], withheld);
    assert_eq!(respondents(&stats(&app, "?since=2021").await), 6);
    assert_eq!(respondents(&stats(&app, "?since=2022").await), 5);
    assert_eq!(stats(&app, "?since=2024").await["overall"], withheld);
    assert_eq!(respondents(&stats(&app, "?until=2021").await), 6);
    assert_eq!(stats(&app, "?until=2020").await["overall"], withheld);
    // Under `until=2022` only the Ohio reports count: 2 of 6 paid.
    let until = stats(&app, "?until=2022").await;
    assert_eq!(until["overall"]["categories"]["paid"]["count"], "<5");
    // Several filters are counted afresh, the same way.
    assert_eq!(respondents(&stats(&app, "?since=2020&until=2021&modality=ct").await), 6);
    assert_eq!(stats(&app, "?since=2023&state=OH").await["overall"], withheld);
    assert_eq!(
        respondents(&stats(&app, "?modality=mri&state=CA&site_type=imaging_center").await),
        5
    );

    // The listing's own figures, under the site filters.
    assert_eq!(
        all["listings"],
        json!({"sites": 2, "accepting_independent": 2, "by_modality": {"ct": 2, "mri": 2},
               "by_state": {"CA": 1, "OH": 1}})
    );
    let mri_listings = &stats(&app, "?modality=mri").await["listings"];
    assert_eq!(
        (&mri_listings["sites"], &mri_listings["accepting_independent"]),
        (&json!(2), &json!(0))
    );
    assert_eq!(stats(&app, "?state=OH").await["listings"]["by_state"], json!({"OH": 1}));
    // Demo sites are searchable but never counted.
    clinical_sites::demo_data::load(&app.pool, 5).await.unwrap();
    app.sync_search().await;
    assert_eq!(
        app.get("/v1/sites?limit=100").await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
    assert_eq!(stats(&app, "").await["listings"]["sites"], 2);

    let by_state = stats(&app, "?group_by=state").await;
    assert_eq!(by_state["group_by"], "state");
    let groups = by_state["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(
        (&groups[0]["key"], &groups[0]["respondents"]),
        (&json!("CA"), &json!(5))
    );
    assert_eq!(
        (&groups[1]["key"], &groups[1]["respondents"]),
        (&json!("OH"), &json!(6))
    );
    // 2 paid in Ohio: "<5" with no percentage.
    assert_eq!(groups[1]["categories"]["paid"], json!({"count": "<5", "percent": null}));
    let by_state_mri = stats(&app, "?group_by=state&modality=mri").await;
    assert_eq!(by_state_mri["groups"].as_array().unwrap().len(), 1);
    let by_year = stats(&app, "?group_by=year").await;
    let keys: Vec<&Value> = by_year["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| &g["key"])
        .collect();
    assert_eq!(keys, [&json!("2021"), &json!("2023")]);
    let by_modality = stats(&app, "?group_by=modality&state=OH").await;
    assert_eq!(by_modality["groups"].as_array().unwrap().len(), 1);
    assert_eq!(by_modality["groups"][0]["key"], "ct");

    for bad in [
        "?modality=xray",
        "?state=ZZ",
        "?since=1800",
        "?since=2024&until=2020",
        "?group_by=city",
        "?colour=1",
    ] {
        let response = app.get(&format!("/v1/stats{bad}")).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{bad}: {response:?}");
    }
}

/// The threshold: one respondent below it withheld, at it shown; a category of 3 shown as "<5".
#[tokio::test]
async fn the_disclosure_rule_holds_at_the_threshold() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let oh = site(&app, &admin, "Mercy General Hospital", "hospital", "OH", "43210").await;
    for i in 0..9 {
        let paid = i < 3;
        insert_report(
            &app,
            Uuid::from_u128(i),
            &oh,
            "ct",
            2022,
            &["employer"],
            paid,
            "employer",
            false,
        )
        .await;
    }
    clinical_sites::reports::tally::rebuild(&app.pool).await.unwrap();
    let below = stats(&app, "").await;
    assert_eq!(below["min_respondents"], 10);
    assert_eq!(below["overall"]["insufficient_data"], true);
    assert_eq!(below["overall"]["respondents"], Value::Null);

    // The tenth member reports through the API: the running counts follow the write.
    let (_, member) = app.member("tenth").await;
    reported(&app, &member, &oh, &report_body("ct", 2022)).await;
    let at = stats(&app, "").await;
    assert_eq!(at["overall"]["insufficient_data"], false);
    assert_eq!(at["overall"]["respondents"], 10);
    assert_eq!(
        at["overall"]["categories"]["paid"],
        json!({"count": "<5", "percent": null})
    );
    assert_eq!(
        at["overall"]["categories"]["route"]["employer"],
        json!({"count": 10, "percent": 100.0})
    );
    assert_eq!(
        at["overall"]["categories"]["route"]["other"],
        json!({"count": 0, "percent": 0.0})
    );
}

/// Reads every row of the running counts as reads see them (folded or not), in key order.
async fn tally_rows(app: &TestApp) -> Vec<(String, String, String, String, i16, i64)> {
    sqlx::query_as(
        "select filter, group_by, group_value, category, bound, respondents from report_tally_now
          where respondents > 0 order by 1, 2, 3, 4, 5",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// A random sequence of writes through the API (reports created, edited, hidden, shown, deleted;
/// a site moved to another state and type); then the running counts equal a fresh count.
#[tokio::test]
async fn the_running_counts_equal_a_fresh_count_after_random_writes() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let (_, coordinator) = app.member("coordinator").await;
    let mut body = site_body("Mercy General Hospital", "43210");
    body["site_type"] = json!("hospital");
    body["manage"] = json!(true);
    body["offers"]["mri"] = json!({"accepting": true});
    let sites = [
        app.create_site(&coordinator, &body).await,
        site(&app, &admin, "Bayview Imaging Center", "imaging_center", "CA", "94103").await,
        site(&app, &admin, "Lakeside Clinic", "clinic", "TX", "75201").await,
    ];
    let mut members = Vec::new();
    for i in 0..8 {
        members.push(app.member(&format!("member{i}")).await.1);
    }
    let mut rng = Rng(17);
    let mut reports: Vec<(usize, Value)> = Vec::new();
    let routes = ["employer", "educational_program", "non_employer_provider", "other"];
    let sources = [
        "employer",
        "clinical_facility",
        "educational_program",
        "online",
        "unspecified",
    ];
    for step in 0..120 {
        match rng.below(10) {
            0..=4 => {
                let member = rng.below(members.len());
                let site = &sites[rng.below(sites.len())];
                let body = json!({"modality": rng.pick(&["ct", "mri"]), "year": 2015 + rng.below(10),
                                  "route": [rng.pick(&routes)], "paid": rng.below(2) == 0,
                                  "hipaa_source": rng.pick(&sources), "insurance_needed": rng.below(2) == 0,
                                  "accepted_independent": rng.below(2) == 0, "would_recommend": rng.below(2) == 0});
                let uri = format!("/v1/sites/{}/reports", site["site_id"].as_str().unwrap());
                let response = app.call(Method::POST, &uri, Some(&members[member]), Some(&body)).await;
                match response.status {
                    StatusCode::CREATED => reports.push((member, response.json())),
                    StatusCode::CONFLICT => {}
                    status => panic!("step {step}: {status} {response:?}"),
                }
            }
            5 | 6 if !reports.is_empty() => {
                let (member, report) = &reports[rng.below(reports.len())];
                let uri = format!(
                    "/v1/sites/{}/reports/{}",
                    report["site_id"].as_str().unwrap(),
                    report["site_report_id"].as_str().unwrap()
                );
                let current = app.call(Method::GET, &uri, Some(&members[*member]), None).await;
                if current.status != StatusCode::OK {
                    continue;
                }
                let etag = current.header("etag").unwrap().to_owned();
                let patch = json!({"year": 2015 + rng.below(10), "paid": rng.below(2) == 0,
                                   "route": [rng.pick(&routes), rng.pick(&routes)],
                                   "hipaa_source": rng.pick(&sources)});
                let response = app
                    .call_with(
                        Method::PATCH,
                        &uri,
                        Some(&members[*member]),
                        Some(&patch),
                        &[("if-match", &etag)],
                    )
                    .await;
                assert!(
                    [StatusCode::OK, StatusCode::CONFLICT].contains(&response.status),
                    "step {step}: {response:?}"
                );
            }
            7 if !reports.is_empty() => {
                let (_, report) = &reports[rng.below(reports.len())];
                let uri = format!(
                    "/v1/sites/{}/reports/{}/hide",
                    report["site_id"].as_str().unwrap(),
                    report["site_report_id"].as_str().unwrap()
                );
                let (method, body) = if rng.below(2) == 0 {
                    (Method::POST, Some(json!({"reason": "Checking the counts."})))
                } else {
                    (Method::DELETE, None)
                };
                let response = app.call(method, &uri, Some(&admin), body.as_ref()).await;
                assert!(
                    [StatusCode::OK, StatusCode::CONFLICT, StatusCode::NOT_FOUND].contains(&response.status),
                    "step {step}: {response:?}"
                );
            }
            8 if !reports.is_empty() => {
                let (member, report) = reports.swap_remove(rng.below(reports.len()));
                let uri = format!(
                    "/v1/sites/{}/reports/{}",
                    report["site_id"].as_str().unwrap(),
                    report["site_report_id"].as_str().unwrap()
                );
                let response = app.call(Method::DELETE, &uri, Some(&members[member]), None).await;
                assert_eq!(response.status, StatusCode::NO_CONTENT, "step {step}: {response:?}");
            }
            _ => {
                // The coordinator moves their site: its reports now count elsewhere.
                let site_id = sites[0]["site_id"].as_str().unwrap();
                let etag = app.etag(site_id).await;
                let (state, zip, site_type) = if rng.below(2) == 0 {
                    ("OH", "43210", "hospital")
                } else {
                    ("NY", "10001", "critical_access_hospital")
                };
                let patch = json!({"state": state, "postal_code": zip, "site_type": site_type});
                let response = app.patch_site(&coordinator, site_id, &etag, &patch).await;
                assert_eq!(response.status, StatusCode::OK, "step {step}: {response:?}");
            }
        }
    }
    assert!(reports.len() >= 10, "the sequence wrote too little: {}", reports.len());
    let running = tally_rows(&app).await;
    assert!(!running.is_empty());
    let pending: i64 = sqlx::query_scalar("select count(*) from report_tally_change")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(pending > 0, "the writes appended their changes");
    // Folding the changes into the running counts changes nothing a read sees.
    let folded = clinical_sites::reports::tally::fold(&app.pool).await.unwrap();
    assert_eq!(folded, u64::try_from(pending).unwrap());
    assert_eq!(tally_rows(&app).await, running);
    clinical_sites::reports::tally::rebuild(&app.pool).await.unwrap();
    let fresh = tally_rows(&app).await;
    assert_eq!(running.len(), fresh.len());
    for (a, b) in running.iter().zip(&fresh) {
        assert_eq!(a, b);
    }
}

/// Leaving: a member deletes their account with their password, keeping their reports anonymised
/// or deleting them; the statistics follow, and the only administrator cannot leave.
/// Members report at the same time, on the same sites (so their changes share keys), while two
/// folds run over and over, as two instances' would: every change is counted once.
#[tokio::test]
async fn concurrent_reports_and_folds_count_every_change_once() {
    let mut config = Config::defaults();
    config.stats_min_respondents = 5;
    let app = TestApp::with_config(config).await;
    let (_, admin) = app.admin("admin").await;
    let sites = [
        site(&app, &admin, "Mercy General Hospital", "hospital", "OH", "43210").await,
        site(&app, &admin, "Bayview Imaging Center", "imaging_center", "CA", "94103").await,
    ];
    let mut members = Vec::new();
    for i in 0..8 {
        members.push(app.member(&format!("member{i}")).await.1);
    }
    let writing = std::sync::atomic::AtomicBool::new(true);
    let fold = || async {
        let mut folded = 0;
        while writing.load(std::sync::atomic::Ordering::Relaxed) {
            folded += clinical_sites::reports::tally::fold(&app.pool).await.unwrap();
        }
        folded
    };
    let write = |member: usize| {
        let (app, members, sites) = (&app, &members, &sites);
        async move {
            let mut created = 0;
            for year in 2015_usize..2021 {
                let site = &sites[(member + year) % sites.len()];
                let body = json!({"modality": "ct", "year": year, "route": ["employer"], "paid": member.is_multiple_of(2),
                                  "hipaa_source": "employer", "insurance_needed": year.is_multiple_of(2)});
                let uri = format!("/v1/sites/{}/reports", site["site_id"].as_str().unwrap());
                let response = app.call(Method::POST, &uri, Some(&members[member]), Some(&body)).await;
                assert_eq!(response.status, StatusCode::CREATED, "{response:?}");
                created += 1;
            }
            created
        }
    };
    let writers = futures_util::future::join_all((0..members.len()).map(write));
    let (created, first, second) = tokio::join!(
        async {
            let created: Vec<i32> = writers.await;
            writing.store(false, std::sync::atomic::Ordering::Relaxed);
            created
        },
        fold(),
        fold()
    );
    assert_eq!(created.iter().sum::<i32>(), 48);
    assert!(first + second > 0, "the folds folded some of the writes' changes");
    let running = tally_rows(&app).await;
    clinical_sites::reports::tally::rebuild(&app.pool).await.unwrap();
    assert_eq!(running, tally_rows(&app).await);
    let all = stats(&app, "").await;
    assert_eq!(all["overall"]["respondents"], json!(8));
}

#[tokio::test]
async fn a_member_leaves_keeping_or_deleting_their_reports_and_the_statistics_follow() {
    let mut config = Config::defaults();
    config.stats_min_respondents = 5;
    let app = TestApp::with_config(config).await;
    let (_, admin) = app.admin("admin").await;
    let oh = site(&app, &admin, "Mercy General Hospital", "hospital", "OH", "43210").await;
    let mut members = Vec::new();
    for i in 0..6 {
        let (_, token) = app.member(&format!("member{i}")).await;
        let mut body = report_body("ct", 2022);
        body["paid"] = json!(i < 5);
        let report = reported(&app, &token, &oh, &body).await;
        members.push((token, report));
    }
    let before = stats(&app, "").await;
    assert_eq!(before["overall"]["respondents"], 6);
    assert_eq!(before["overall"]["categories"]["paid"]["count"], 5);

    let leave = |choice: &str, password: &str| json!({"password": password, "reports": choice});
    let (keeper, kept) = &members[0];
    let wrong = app
        .call(
            Method::DELETE,
            "/v1/me",
            Some(keeper),
            Some(&leave("keep_anonymised", "not the password")),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY, "{wrong:?}");
    assert_eq!(wrong.problem().errors[0].field, "password");
    let left = app
        .call(
            Method::DELETE,
            "/v1/me",
            Some(keeper),
            Some(&leave("keep_anonymised", crate::support::PASSWORD)),
        )
        .await;
    assert_eq!(left.status, StatusCode::NO_CONTENT, "{left:?}");
    assert_eq!(
        app.call(Method::GET, "/v1/me", Some(keeper), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let uri = format!(
        "/v1/sites/{}/reports/{}",
        oh["site_id"].as_str().unwrap(),
        kept["site_report_id"].as_str().unwrap()
    );
    let anonymised = app.get(&uri).await.json();
    assert_eq!(
        (&anonymised["anonymous"], &anonymised["author_display_name"]),
        (&json!(true), &Value::Null)
    );
    assert_eq!(stats(&app, "").await["overall"], before["overall"]);

    let (leaver, gone) = &members[1];
    let left = app
        .call(
            Method::DELETE,
            "/v1/me",
            Some(leaver),
            Some(&leave("delete", crate::support::PASSWORD)),
        )
        .await;
    assert_eq!(left.status, StatusCode::NO_CONTENT, "{left:?}");
    let uri = format!(
        "/v1/sites/{}/reports/{}",
        oh["site_id"].as_str().unwrap(),
        gone["site_report_id"].as_str().unwrap()
    );
    assert_eq!(app.get(&uri).await.status, StatusCode::NOT_FOUND);
    let after = stats(&app, "").await;
    assert_eq!(after["overall"]["respondents"], 5);
    assert_eq!(after["overall"]["categories"]["paid"]["count"], "<5");
    let running = tally_rows(&app).await;
    clinical_sites::reports::tally::rebuild(&app.pool).await.unwrap();
    assert_eq!(running, tally_rows(&app).await);

    // The only administrator cannot leave (from another address: the password checks of this
    // one are spent).
    let (_, password) = clinical_sites::accounts::create_admin(&app.pool, "second@example.org", "Second")
        .await
        .unwrap();
    let peer = std::net::IpAddr::from([10, 0, 0, 9]);
    let sign_in = json!({"email": "second@example.org", "password": password});
    let session = app
        .call_from(peer, Method::POST, "/v1/sessions", None, Some(&sign_in))
        .await;
    let second = session.json()["token"].as_str().unwrap().to_owned();
    let leave_admin = json!({"password": password, "reports": "delete"});
    // Two administrators: the second may leave; then the first is the only one.
    let left = app
        .call_from(peer, Method::DELETE, "/v1/me", Some(&second), Some(&leave_admin))
        .await;
    assert_eq!(left.status, StatusCode::NO_CONTENT, "{left:?}");
    let (_, password) = clinical_sites::accounts::create_admin(&app.pool, "third@example.org", "Third")
        .await
        .unwrap();
    sqlx::query("delete from account where email = 'admin@example.org'")
        .execute(&app.pool)
        .await
        .unwrap();
    let sign_in = json!({"email": "third@example.org", "password": password});
    let session = app
        .call_from(peer, Method::POST, "/v1/sessions", None, Some(&sign_in))
        .await;
    let third = session.json()["token"].as_str().unwrap().to_owned();
    let sole = app
        .call_from(
            peer,
            Method::DELETE,
            "/v1/me",
            Some(&third),
            Some(&json!({"password": password, "reports": "delete"})),
        )
        .await;
    assert_eq!(sole.status, StatusCode::CONFLICT, "{sole:?}");
}
