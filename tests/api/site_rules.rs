//! Sites: validation, idempotency, history, and the contract of the site types.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use clinical_sites::sites::model::Offer;
use clinical_sites::vocabulary::Modality;
use serde_json::{Value, json};

use crate::support::schema::{property_names, validate, validate_component};
use crate::support::{TestApp, site_body};

async fn site_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from site")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Each rule, alone: the field named, nothing written.
#[tokio::test]
async fn each_validation_rule_names_its_field() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("name", json!("X"), "2 to 200"),
        ("name", json!("x".repeat(201)), "2 to 200"),
        ("name", json!(42), "string"),
        ("name", json!(""), "must not be empty"),
        ("city", json!(""), "must not be empty"),
        ("city", json!("   "), "must not be empty"),
        ("street", json!(""), "must not be empty"),
        ("site_type", json!("castle"), "hospital, critical_access_hospital"),
        ("state", json!("ZZ"), "USPS"),
        ("postal_code", json!("4321"), "ZIP"),
        ("postal_code", json!("43210-12"), "ZIP"),
        ("phone", json!("555-1234"), "US phone"),
        ("website", json!("ftp://example.org"), "http"),
        ("website", json!("javascript:alert(1)"), "http"),
        ("email", json!("not-an-email"), "email"),
        ("npi", json!("1234567890"), "check digit"),
        ("npi", json!("12345"), "10-digit"),
        ("latitude", json!(91), "-90 to 90"),
        ("fee_usd", json!(-1), "0 to 100000"),
        ("fee_usd", json!(1_000_000), "0 to 100000"),
        ("min_aggregate_usd", json!(-5), "0 to 100000000"),
        ("lead_time_days", json!(1000), "0 to 730"),
        ("rotation_weeks_min", json!(0), "1 to 104"),
        ("min_hours_per_week", json!(81), "1 to 80"),
        ("payment", json!("barter"), "free, fee, program_tuition, unknown"),
        ("housing", json!("castle"), "none, free, paid, help_finding"),
        (
            "schedule",
            json!(["weekday", "sometimes"]),
            "weekday, evening, night, weekend",
        ),
        ("immunizations", json!(["tb", "smallpox"]), "covid19"),
        ("aliases", json!(["ok alias", ""]), "each entry"),
        ("nmae", json!("typo"), "not a field"),
        ("status", json!("verified"), "not a field"),
        ("offers", json!([{"modality": "ct"}]), "keyed by modality"),
        ("offers.xray", json!({}), "modality code"),
        ("offers.ct.capacity", json!(-1), "0 to 1000"),
        ("offers.ct.capacity", json!("two"), "0 to 1000"),
        (
            "offers.ct.accepts",
            json!(["anyone"]),
            "employees, program_students, independent",
        ),
        ("offers.ct.volume_band", json!("huge"), "low, medium, high"),
        ("offers.ct.notes", json!("x".repeat(2001)), "2000"),
        ("offers.ct.color", json!("red"), "not a field"),
        ("manage", json!("yes"), "true or false"),
    ];
    for (field, value, message) in cases {
        let mut body = site_body("Riverside Imaging", "43210");
        match field.split('.').collect::<Vec<_>>().as_slice() {
            ["offers", modality, offer_field] => body["offers"][*modality][*offer_field] = value.clone(),
            ["offers", modality] => body["offers"][*modality] = value.clone(),
            [single] => body[*single] = value.clone(),
            _ => unreachable!(),
        }
        let response = app.call(Method::POST, "/v1/sites", Some(&token), Some(&body)).await;
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field} = {value}: {response:?}"
        );
        let problem = response.problem();
        let error = problem
            .errors
            .iter()
            .find(|e| e.field == field)
            .unwrap_or_else(|| panic!("{field} = {value}: no error for the field in {problem:?}"));
        assert!(
            error.message.contains(message),
            "{field} = {value}: {:?}",
            error.message
        );
    }
    // Rules across fields.
    for (patch, field) in [
        (json!({"latitude": 40.0}), "longitude"),
        (
            json!({"rotation_weeks_min": 8, "rotation_weeks_max": 4}),
            "rotation_weeks_max",
        ),
        (json!({"fee_usd": 200, "payment": "free"}), "fee_usd"),
        (
            json!({"liability_insurance": "not_required", "insurance_accepted": ["own_policy"]}),
            "liability_insurance",
        ),
    ] {
        let mut body = site_body("Riverside Imaging", "43210");
        crate::support::merge(&mut body, &patch);
        let response = app.call(Method::POST, "/v1/sites", Some(&token), Some(&body)).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{patch}");
        assert!(response.problem().errors.iter().any(|e| e.field == field), "{patch}");
    }
    for missing in ["name", "site_type", "city", "state", "postal_code"] {
        let mut body = site_body("Riverside Imaging", "43210");
        body.as_object_mut().unwrap().remove(missing);
        let response = app.call(Method::POST, "/v1/sites", Some(&token), Some(&body)).await;
        assert_eq!(response.problem().errors[0].field, missing);
    }
    assert_eq!(site_count(&app).await, 0, "nothing was written");
}

#[tokio::test]
async fn values_are_normalized() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    let mut body = site_body("  Riverside   Imaging  ", "432101234");
    crate::support::merge(
        &mut body,
        &json!({"state": "oh", "phone": "+1 (614) 555-1234", "npi": "1234567893", "email": "Imaging@Example.ORG",
                "schedule": ["weekend", "evening", "weekend"], "website": "https://example.org/ct"}),
    );
    let site = app.create_site(&token, &body).await;
    assert_eq!(site["name"], "Riverside   Imaging", "trimmed");
    assert_eq!(site["postal_code"], "43210-1234");
    assert_eq!(site["state"], "OH");
    assert_eq!(site["phone"], "+16145551234");
    assert_eq!(site["email"], "imaging@example.org");
    assert_eq!(
        site["schedule"],
        json!(["evening", "weekend"]),
        "a set: deduplicated, in vocabulary order"
    );
    assert_eq!(site["npi"], "1234567893");
}

#[tokio::test]
async fn several_invalid_fields_get_one_422_listing_all_and_nothing_is_written() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    let body = json!({
        "name": "X", "site_type": "castle", "city": "Columbus", "state": "ZZ", "postal_code": "4321",
        "phone": "12", "npi": "1234567890", "payment": "barter", "typo_field": 1,
        "offers": {"ct": {"capacity": -3}, "xray": {}}
    });
    let response = app.call(Method::POST, "/v1/sites", Some(&token), Some(&body)).await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    let problem = response.problem();
    let mut fields: Vec<&str> = problem.errors.iter().map(|e| e.field.as_str()).collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "name",
            "npi",
            "offers.ct.capacity",
            "offers.xray",
            "payment",
            "phone",
            "postal_code",
            "site_type",
            "state",
            "typo_field"
        ]
    );
    assert_eq!(problem.detail, "10 fields are invalid");
    assert_eq!(site_count(&app).await, 0);
    let history: i64 = sqlx::query_scalar("select count(*) from site_change")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(history, 0);
}

#[tokio::test]
async fn an_invalid_or_stale_patch_changes_nothing_and_records_nothing() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let site = app.create_site(&admin, &site_body("Riverside Imaging", "43210")).await;
    let id = site["site_id"].as_str().unwrap();
    let uri = format!("/v1/sites/{id}");
    let before = app.get(&uri).await.body;

    for (etag, patch, status) in [
        (
            "\"1\"",
            json!({"name": "X", "state": "ZZ", "offers": {"ct": {"capacity": -1}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("\"1\"", json!({"name": null}), StatusCode::UNPROCESSABLE_ENTITY),
        ("\"1\"", json!({"status": "verified"}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            "\"1\"",
            json!({"site_id": uuid::Uuid::now_v7()}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "\"1\"",
            json!(["not", "an", "object"]),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("\"7\"", json!({"city": "Dublin"}), StatusCode::PRECONDITION_FAILED),
    ] {
        let response = app.patch_site(&admin, id, etag, &patch).await;
        assert_eq!(response.status, status, "{patch}");
        response.problem();
    }
    let response = app
        .patch_site(&admin, id, "\"1\"", &json!({"name": "X", "state": "ZZ"}))
        .await;
    assert_eq!(response.problem().errors.len(), 2, "every problem of a patch, together");
    assert_eq!(app.get(&uri).await.body, before, "the site is unchanged");
    assert_eq!(app.history_count(id).await, 1, "only the create");
}

#[tokio::test]
async fn every_kind_of_change_is_recorded_with_old_and_new_values() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let (_, coordinator) = app.member("coordinator").await;
    let (_, member) = app.member("member").await;
    let site = app.create_site(&member, &site_body("Riverside Imaging", "43210")).await;
    let id = site["site_id"].as_str().unwrap();
    let uri = format!("/v1/sites/{id}");

    let patch = json!({"payment": "fee", "fee_usd": 250, "offers": {"ct": {"capacity": 2}}});
    assert_eq!(app.patch_site(&admin, id, "\"1\"", &patch).await.status, StatusCode::OK);
    app.call(Method::POST, &format!("{uri}/verify"), Some(&admin), None)
        .await;
    app.call(Method::DELETE, &uri, Some(&admin), None).await;
    app.call(Method::POST, &format!("{uri}/restore"), Some(&admin), None)
        .await;
    let justification = json!({"justification": "I coordinate CT here: jlee@riverside.example.org"});
    let claim = app
        .call(
            Method::POST,
            &format!("{uri}/claims"),
            Some(&coordinator),
            Some(&justification),
        )
        .await
        .json();
    let approve = format!("/v1/claims/{}/approve", claim["site_claim_id"].as_str().unwrap());
    app.call(Method::POST, &approve, Some(&admin), None).await;
    let claim = app
        .call(
            Method::POST,
            &format!("{uri}/claims"),
            Some(&member),
            Some(&justification),
        )
        .await
        .json();
    let reject = format!("/v1/claims/{}/reject", claim["site_claim_id"].as_str().unwrap());
    app.call(Method::POST, &reject, Some(&admin), None).await;

    // Members who do not manage the site cannot read its history.
    let forbidden = app
        .call(Method::GET, &format!("{uri}/history"), Some(&member), None)
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    let history = app
        .call(
            Method::GET,
            &format!("{uri}/history?limit=100"),
            Some(&coordinator),
            None,
        )
        .await;
    assert_eq!(history.status, StatusCode::OK);
    let items = history.json()["items"].as_array().unwrap().clone();
    let kinds: Vec<&str> = items.iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "claim_rejected",
            "claim_approved",
            "restore",
            "archive",
            "verify",
            "update",
            "create"
        ]
    );
    let update = &items[5]["changes"];
    assert_eq!(update["payment"], json!({"old": "free", "new": "fee"}));
    assert_eq!(update["fee_usd"], json!({"old": null, "new": 250}));
    assert_eq!(update["offers.ct"]["new"]["capacity"], 2);
    assert!(update["offers.ct"]["old"].get("capacity").is_none());
    assert_eq!(
        items[4]["changes"]["status"],
        json!({"old": "unverified", "new": "verified"})
    );
    assert_eq!(items[3]["changes"]["status"]["new"], "archived");
    assert_eq!(items[6]["changes"]["name"]["new"], "Riverside Imaging");
    assert!(
        items
            .iter()
            .all(|c| c["created_at"].is_string() && c["account_id"].is_string())
    );

    // Paged: every change exactly once.
    let mut seen = Vec::new();
    let mut next = format!("{uri}/history?limit=3");
    loop {
        let page = app.call(Method::GET, &next, Some(&admin), None).await.json();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["site_change_id"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => next = format!("{uri}/history?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        items.iter().map(|c| c["site_change_id"].clone()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn the_same_idempotency_key_ten_times_concurrently_creates_one_site() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let (_, token) = app.member("ann").await;
    let body = site_body("Riverside Imaging", "43210");
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (app, token, body) = (app.clone(), token.clone(), body.clone());
            tokio::spawn(async move {
                app.call_with(
                    Method::POST,
                    "/v1/sites",
                    Some(&token),
                    Some(&body),
                    &[("idempotency-key", "retry-42")],
                )
                .await
            })
        })
        .collect();
    let mut responses = Vec::new();
    for task in tasks {
        responses.push(task.await.unwrap());
    }
    assert_eq!(site_count(&app).await, 1, "one site created");
    for response in &responses {
        assert_eq!(response.status, StatusCode::CREATED, "{response:?}");
        assert_eq!(response.body, responses[0].body, "identical bodies");
        assert_eq!(response.header("location"), responses[0].header("location"));
        assert_eq!(response.header("etag"), responses[0].header("etag"));
    }

    // The same key with another body is refused; another key is a new request.
    let other = site_body("Lakeside Imaging", "43210");
    let reused = app
        .call_with(
            Method::POST,
            "/v1/sites",
            Some(&token),
            Some(&other),
            &[("idempotency-key", "retry-42")],
        )
        .await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reused.problem().errors[0].field, "Idempotency-Key");
    let fresh = app
        .call_with(
            Method::POST,
            "/v1/sites",
            Some(&token),
            Some(&other),
            &[("idempotency-key", "retry-43")],
        )
        .await;
    assert_eq!(fresh.status, StatusCode::CREATED);
    // Keys belong to an account: another member's same key is theirs alone.
    let (_, bob) = app.member("bob").await;
    let bobs = app
        .call_with(
            Method::POST,
            "/v1/sites",
            Some(&bob),
            Some(&site_body("Hilltop Clinic", "43210")),
            &[("idempotency-key", "retry-42")],
        )
        .await;
    assert_eq!(bobs.status, StatusCode::CREATED);
    let bad = app
        .call_with(
            Method::POST,
            "/v1/sites",
            Some(&token),
            Some(&other),
            &[("idempotency-key", "two words")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(site_count(&app).await, 3);
}

/// A key is kept for 24 hours: within them a retry gets the first answer again; after them the
/// key is free, and a request sent with it (even another one) is a new request.
#[tokio::test]
async fn an_idempotency_key_older_than_a_day_is_free_again() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    let post = |body: Value| {
        let (app, token) = (&app, token.clone());
        async move {
            app.call_with(
                Method::POST,
                "/v1/sites",
                Some(&token),
                Some(&body),
                &[("idempotency-key", "k-1")],
            )
            .await
        }
    };
    let first = post(site_body("Riverside Imaging", "43210")).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let age = |hours: i32| {
        sqlx::query("update idempotency_key set created_at = now() - make_interval(hours => $1)")
            .bind(hours)
            .execute(&app.pool)
    };
    age(23).await.unwrap();
    let retry = post(site_body("Riverside Imaging", "43210")).await;
    assert_eq!(
        (retry.status, &retry.body),
        (StatusCode::CREATED, &first.body),
        "a retry within the day"
    );
    assert_eq!(site_count(&app).await, 1);

    age(25).await.unwrap();
    let second = post(site_body("Lakeside Imaging", "43210")).await;
    assert_eq!(second.status, StatusCode::CREATED, "{second:?}");
    assert_ne!(second.json()["site_id"], first.json()["site_id"]);
    assert_eq!(site_count(&app).await, 2);
    // The key now stands for the second request.
    let retry = post(site_body("Lakeside Imaging", "43210")).await;
    assert_eq!((retry.status, &retry.body), (StatusCode::CREATED, &second.body));
    let other = post(site_body("Riverside Imaging", "43210")).await;
    assert_eq!(
        other.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the key is taken by the second request"
    );
    assert_eq!(site_count(&app).await, 2);
}

#[tokio::test]
async fn the_vocabulary_lists_every_set_and_matches_the_database() {
    let app = TestApp::new().await;
    let response = app.get("/v1/vocabulary").await;
    assert_eq!(response.status, StatusCode::OK);
    let vocabulary = response.json();
    let ct = vocabulary["modalities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["code"] == "ct")
        .unwrap();
    assert_eq!(
        ct,
        &json!({
            "code": "ct", "display": "Computed Tomography", "arrt": "CT", "pathway": "post_primary",
            "clinical_experience": true,
            "supporting_credentials": [
                {"credential": "R", "issuers": ["ARRT"], "together_with": null},
                {"credential": "N", "issuers": ["ARRT", "NMTCB"], "together_with": null},
                {"credential": "T", "issuers": ["ARRT"], "together_with": null}
            ],
            "note": null
        })
    );
    // What a frontend needs to tell an R.T.(N) which offers are open to them: exactly CT, MR, BD, VS.
    let modalities = vocabulary["modalities"].as_array().unwrap();
    let open_to = |credential: &str| -> Vec<&str> {
        modalities
            .iter()
            .filter(|m| {
                m["supporting_credentials"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["credential"] == credential && c["together_with"].is_null())
            })
            .map(|m| m["arrt"].as_str().unwrap())
            .collect()
    };
    assert_eq!(open_to("N"), ["CT", "MR", "BD", "VS"]);
    assert_eq!(open_to("S"), ["MR", "BS", "VS"]);
    assert_eq!(open_to("R"), ["CT", "MR", "M", "BD", "CI", "VI", "VS"]);
    let pathway: Vec<&str> = modalities
        .iter()
        .filter(|m| m["clinical_experience"] == true)
        .map(|m| m["arrt"].as_str().unwrap())
        .collect();
    assert_eq!(pathway, ["CT", "MR", "M", "BD", "CI", "VI", "BS", "VS"]);
    for primary in ["R", "N", "T", "S", "R.R.A."] {
        let term = modalities.iter().find(|m| m["arrt"] == primary).unwrap();
        assert_eq!(term["clinical_experience"], false, "{primary}");
        assert_eq!(term["supporting_credentials"], json!([]), "{primary}");
    }
    let mammography = modalities.iter().find(|m| m["code"] == "mammography").unwrap();
    assert!(mammography["note"].as_str().unwrap().contains("MQSA"));
    let statuses = vocabulary["site_status"].as_array().unwrap();
    assert_eq!(
        statuses[0]["display"],
        "Unverified (not yet checked by an administrator)"
    );
    assert_eq!(statuses[1]["display"], "Verified (checked by an administrator)");
    let imaging = &vocabulary["site_types"].as_array().unwrap()[2];
    assert_eq!(imaging["survey_category"], "imaging center");
    // Every code of every set is accepted by the database's checks, so the two cannot drift.
    let checks: Vec<(String, String)> = sqlx::query_as(
        "select conname::text, pg_get_constraintdef(oid) from pg_constraint where conrelid in ('site'::regclass, 'site_offer'::regclass) and contype = 'c'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    for (set, constraint) in [
        ("modalities", "site_offer_modality_check"),
        ("site_types", "site_site_type_check"),
        ("accepts", "site_offer_accepts_check"),
        ("payment", "site_payment_check"),
        ("compensation", "site_compensation_check"),
        ("hipaa_training", "site_hipaa_training_check"),
        ("liability_insurance", "site_liability_insurance_check"),
        ("insurance_coverage", "site_insurance_accepted_check"),
        ("immunizations", "site_immunizations_check"),
        ("housing", "site_housing_check"),
        ("schedule", "site_schedule_check"),
        ("volume_bands", "site_offer_volume_band_check"),
        ("site_status", "site_status_check"),
        ("site_source", "site_source_check"),
    ] {
        let definition = &checks.iter().find(|(name, _)| name == constraint).unwrap().1;
        let codes = vocabulary[set].as_array().unwrap();
        assert!(!codes.is_empty(), "{set}");
        for code in codes {
            let code = code["code"].as_str().unwrap();
            assert!(
                definition.contains(&format!("'{code}'")),
                "{set}: {code} is not allowed by {constraint}"
            );
        }
        assert_eq!(
            definition.matches("'::text").count(),
            codes.len(),
            "{constraint} allows exactly the vocabulary"
        );
    }
    // The search's centre is `ll_to_earth`'s point, to the last bit; its bounding reach is the
    // chord `earthdistance` gives the same central angle; and distances from `cube_distance` are
    // the haversine on the mean radius.
    use clinical_sites::geo::{
        EARTHDISTANCE_RADIUS_M, MEAN_EARTH_RADIUS_M, chord_m, distance_from_chord_m, earth_point, great_circle_m,
    };
    let earth: f64 = sqlx::query_scalar("select earth()").fetch_one(&app.pool).await.unwrap();
    assert_eq!(earth, EARTHDISTANCE_RADIUS_M, "the earth index's sphere");
    let points = [
        (40.006425, -83.02212),
        (0.0, 0.0),
        (-90.0, 180.0),
        (64.8378, -147.7164),
        (19.5, -155.1),
    ];
    for (latitude, longitude) in points {
        let database: (f64, f64, f64) = sqlx::query_as(
            "select cube_ll_coord(e, 1), cube_ll_coord(e, 2), cube_ll_coord(e, 3) from ll_to_earth($1, $2) e",
        )
        .bind(latitude)
        .bind(longitude)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        let [x, y, z] = earth_point(latitude, longitude);
        assert_eq!(database, (x, y, z), "({latitude}, {longitude})");
    }
    for radius in [0.0, 1.0, 96_560.64, 1_609_344.0, 25_000_000.0] {
        let database: f64 = sqlx::query_scalar("select gc_to_sec($1 / $2 * earth())")
            .bind(radius)
            .bind(MEAN_EARTH_RADIUS_M)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        assert!((database - chord_m(radius)).abs() <= 1e-12 * database, "{radius} m");
    }
    for (a, b) in points.iter().zip(points.iter().skip(1)) {
        let chord: f64 = sqlx::query_scalar("select cube_distance(ll_to_earth($1, $2), ll_to_earth($3, $4))")
            .bind(a.0)
            .bind(a.1)
            .bind(b.0)
            .bind(b.1)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        let distance = great_circle_m(*a, *b);
        assert!(
            (distance_from_chord_m(chord) - distance).abs() <= 1e-9 * distance,
            "{a:?} to {b:?}"
        );
    }
}

#[tokio::test]
async fn examples_and_real_responses_conform_to_the_contract() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let document = serde_json::to_value(clinical_sites::openapi::document()).unwrap();

    // Every example in the document validates against the schema it illustrates.
    for (name, schema) in document["components"]["schemas"].as_object().unwrap() {
        if let Some(example) = schema.get("example") {
            let problems = validate(&document, schema, example);
            assert!(
                problems.is_empty(),
                "the example of {name} does not fit it: {problems:?}"
            );
        }
    }

    // The NewSite example is accepted by the server, and the response fits Site.
    let example = document["components"]["schemas"]["NewSite"]["example"].clone();
    let created = app.call(Method::POST, "/v1/sites", Some(&admin), Some(&example)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let site = created.json();
    assert!(
        validate_component(&document, "Site", &site).is_empty(),
        "{:?}",
        validate_component(&document, "Site", &site)
    );
    let patch_example = document["components"]["schemas"]["SitePatch"]["example"].clone();
    let id = site["site_id"].as_str().unwrap();
    let patched = app.patch_site(&admin, id, "\"1\"", &patch_example).await;
    assert_eq!(patched.status, StatusCode::OK, "{patched:?}");
    assert!(validate_component(&document, "Site", &patched.json()).is_empty());
    // Search pages fit SitePage in both views; with `view=full` the offers they pass through as
    // PostgreSQL keeps them (never decoded) are exactly what the typed `Offer` would give, and in
    // summaries what `OfferSummary` would.
    for query in [
        "modality=CT&facets=modality,payment",
        "q=riverside",
        "near=43210&radius=60mi",
        "modality=CT&facets=modality,payment&view=full",
        "q=riverside&view=full",
        "near=43210&radius=60mi&view=full",
    ] {
        let page = app.get(&format!("/v1/sites?{query}")).await.json();
        let problems = validate_component(&document, "SitePage", &page);
        assert!(problems.is_empty(), "{query}: {problems:?}");
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{query}: {page}");
        for item in items {
            let offers = &item["offers"];
            let typed = if query.ends_with("view=full") {
                assert!(item["street"].is_string(), "{item}");
                let typed: BTreeMap<Modality, Offer> = serde_json::from_value(offers.clone()).unwrap();
                serde_json::to_value(typed).unwrap()
            } else {
                assert!(item.get("street").is_none(), "a summary: {item}");
                let typed: BTreeMap<Modality, clinical_sites::sites::search::OfferSummary> =
                    serde_json::from_value(offers.clone()).unwrap();
                serde_json::to_value(typed).unwrap()
            };
            assert!(typed.get("ct").is_some(), "{offers}");
            assert_eq!(&typed, offers, "{query}");
        }
    }
    let history = app
        .call(Method::GET, &format!("/v1/sites/{id}/history"), Some(&admin), None)
        .await
        .json();
    assert!(validate_component(&document, "SiteChangePage", &history).is_empty());
    let vocabulary = app.get("/v1/vocabulary").await.json();
    assert!(validate_component(&document, "Vocabulary", &vocabulary).is_empty());
    let problem = app
        .call(Method::POST, "/v1/sites", Some(&admin), Some(&json!({})))
        .await
        .json();
    assert!(validate_component(&document, "Problem", &problem).is_empty());

    // The documented request fields are exactly the fields the server reads.
    let mut documented = property_names(&document, &document["components"]["schemas"]["NewSite"]);
    // Read by the handler beside the site, not fields of it.
    documented.retain(|name| name != "manage" && name != "duplicate_override_reason");
    let mut read: Vec<String> = clinical_sites::sites::input::SITE_FIELDS
        .iter()
        .map(|s| s.to_string())
        .collect();
    read.sort();
    assert_eq!(documented, read);
    let offer = property_names(&document, &document["components"]["schemas"]["Offer"]);
    assert_eq!(
        offer,
        property_names(&document, &document["components"]["schemas"]["OfferInput"]),
        "a request's offer has the response's fields"
    );
    let mut offer_read: Vec<String> = clinical_sites::sites::input::OFFER_FIELDS
        .iter()
        .map(|s| s.to_string())
        .collect();
    offer_read.sort();
    assert_eq!(offer, offer_read);

    // Every field of the site types is described for frontend developers.
    for name in [
        "Site",
        "Offer",
        "OfferInput",
        "NewSite",
        "SitePatch",
        "Claim",
        "SiteChange",
        "Vocabulary",
    ] {
        let schema = &document["components"]["schemas"][name];
        let mut properties = serde_json::Map::new();
        for part in std::iter::once(schema).chain(schema["allOf"].as_array().into_iter().flatten()) {
            if let Some(p) = part["properties"].as_object() {
                properties.extend(p.clone());
            }
        }
        assert!(!properties.is_empty(), "{name}");
        for (field, property) in properties {
            let described = property["description"].is_string()
                || property["oneOf"]
                    .as_array()
                    .is_some_and(|o| o.iter().any(|s| s["description"].is_string()));
            assert!(described, "{name}.{field} has no description");
        }
    }
}

#[tokio::test]
async fn the_vocabulary_lists_the_surveys_answer_sets_for_experience_reports() {
    let app = TestApp::new().await;
    let vocabulary = app.get("/v1/vocabulary").await.json();
    let codes = |set: &str| -> Vec<String> {
        vocabulary[set]
            .as_array()
            .unwrap_or_else(|| panic!("{set} is listed"))
            .iter()
            .map(|term| term["code"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        codes("hipaa_source"),
        [
            "employer",
            "clinical_facility",
            "educational_program",
            "online",
            "unspecified"
        ]
    );
    assert_eq!(
        codes("route"),
        ["employer", "educational_program", "non_employer_provider", "other"]
    );
    assert_eq!(
        vocabulary["route"][2]["display"],
        "With a health care provider that was not their employer"
    );
    // The contract has them as enums, so a generated client gets them as unions of literals.
    let document = clinical_sites::openapi::document();
    let document = serde_json::to_value(&document).unwrap();
    for (schema, set) in [("Term_HipaaSource", "hipaa_source"), ("Term_Route", "route")] {
        let values: Vec<String> = document["components"]["schemas"][schema]["properties"]["code"]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{schema} is an enum"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(values, codes(set), "{schema}");
    }
}
