//! Claims at their edges: exact pages of the administrators' list, and the boundaries of a
//! justification and of a decision note.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, TestResponse, site_body};

const JUSTIFICATION: &str = "CT clinical coordinator; work email jlee@riverside.example.org";

/// `count` sites (by `admin`), each claimed by `claimant`; returns the claims, oldest first.
async fn claims(app: &TestApp, admin: &str, claimant: &str, count: usize) -> Vec<Value> {
    let names = ["Kelvandri", "Tordraru", "Ruzelru", "Mabrenti", "Quosselin"];
    let mut claims = Vec::new();
    for name in &names[..count] {
        let site = app
            .create_site(admin, &site_body(&format!("{name} Imaging"), "43210"))
            .await;
        let response = claim(app, claimant, &site, &json!(JUSTIFICATION)).await;
        assert_eq!(response.status, StatusCode::CREATED, "{response:?}");
        claims.push(response.json());
    }
    claims
}

async fn claim(app: &TestApp, claimant: &str, site: &Value, justification: &Value) -> TestResponse {
    let uri = format!("/v1/sites/{}/claims", site["site_id"].as_str().unwrap());
    let body = json!({"justification": justification});
    app.call(Method::POST, &uri, Some(claimant), Some(&body)).await
}

async fn page(app: &TestApp, admin: &str, query: &str) -> Value {
    let response = app
        .call(Method::GET, &format!("/v1/claims{query}"), Some(admin), None)
        .await;
    assert_eq!(response.status, StatusCode::OK, "{query}: {response:?}");
    response.json()
}

fn claim_ids(page: &Value) -> Vec<Value> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|claim| claim["site_claim_id"].clone())
        .collect()
}

#[tokio::test]
async fn a_page_of_exactly_limit_claims_has_no_next_page() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let (_, claimant) = app.member("claimant").await;
    let made = claims(&app, &admin, &claimant, 2).await;
    let ids: Vec<Value> = made.iter().map(|c| c["site_claim_id"].clone()).collect();

    let whole = page(&app, &admin, "?limit=2").await;
    assert_eq!(claim_ids(&whole), ids);
    assert_eq!(whole["next_cursor"], Value::Null);
    let first = page(&app, &admin, "?limit=1").await;
    assert_eq!(claim_ids(&first), ids[..1]);
    assert_eq!(first["next_cursor"], ids[0]);
}

#[tokio::test]
async fn limit_plus_one_claims_make_a_full_page_and_a_page_of_one() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let (_, claimant) = app.member("claimant").await;
    let made = claims(&app, &admin, &claimant, 3).await;
    let ids: Vec<Value> = made.iter().map(|c| c["site_claim_id"].clone()).collect();

    let first = page(&app, &admin, "?limit=2").await;
    assert_eq!(claim_ids(&first), ids[..2]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    assert_eq!(cursor, ids[1]);
    let second = page(&app, &admin, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(claim_ids(&second), ids[2..]);
    assert_eq!(second["next_cursor"], Value::Null);
    // The default page holds them all.
    assert_eq!(claim_ids(&page(&app, &admin, "").await), ids);

    // Only the asked status is listed.
    let decided = format!("/v1/claims/{}/reject", ids[0].as_str().unwrap());
    assert_eq!(
        app.call(Method::POST, &decided, Some(&admin), None).await.status,
        StatusCode::OK
    );
    assert_eq!(claim_ids(&page(&app, &admin, "").await), ids[1..]);
    assert_eq!(claim_ids(&page(&app, &admin, "?status=rejected").await), ids[..1]);
    assert!(claim_ids(&page(&app, &admin, "?status=approved").await).is_empty());
    let bad = app
        .call(Method::GET, "/v1/claims?status=open", Some(&admin), None)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.problem().errors[0].field, "status");
}

#[tokio::test]
async fn a_justification_is_10_to_1000_characters_without_control_characters() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let (_, claimant) = app.member("claimant").await;
    let mut sites = Vec::new();
    for name in ["Kelvandri", "Tordraru", "Ruzelru"] {
        sites.push(
            app.create_site(&admin, &site_body(&format!("{name} Imaging"), "43210"))
                .await,
        );
    }
    for (justification, accepted) in [
        (json!("x".repeat(9)), false),
        (json!(format!("  {}  ", "x".repeat(9))), false),
        (json!("x".repeat(1001)), false),
        (json!("ten\u{7}chars!"), false),
        (json!("ten\tchars!!"), false),
        (json!("x".repeat(10)), true),
        (json!("é".repeat(1000)), true),
        (json!("line one,\nline two"), true),
    ] {
        // Each accepted one claims the next site.
        let site = sites.last().unwrap();
        let response = claim(&app, &claimant, site, &justification).await;
        if accepted {
            assert_eq!(response.status, StatusCode::CREATED, "{justification}: {response:?}");
            assert_eq!(response.json()["justification"], justification);
            sites.pop();
        } else {
            assert_eq!(
                response.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{justification}: {response:?}"
            );
            assert_eq!(response.problem().errors[0].field, "justification");
        }
    }
    assert!(sites.is_empty());
}

#[tokio::test]
async fn a_decision_note_is_at_most_1000_characters_without_control_characters() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let (_, claimant) = app.member("claimant").await;
    let made = claims(&app, &admin, &claimant, 4).await;
    let decide = |claim: &Value, verb: &str| format!("/v1/claims/{}/{verb}", claim["site_claim_id"].as_str().unwrap());

    for (verb, claim) in [("approve", &made[0]), ("reject", &made[1])] {
        let uri = decide(claim, verb);
        for note in [
            "x".repeat(1001),
            format!("{}\u{7}", "x".repeat(10)),
            "tab\there".to_owned(),
            "\u{0}".to_owned(),
        ] {
            let response = app
                .call(Method::POST, &uri, Some(&admin), Some(&json!({"note": note})))
                .await;
            assert_eq!(
                response.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{verb} {note:?}: {response:?}"
            );
            assert_eq!(response.problem().errors[0].field, "note");
        }
        // Refused notes decided nothing.
        let pending = page(&app, &admin, "").await;
        assert!(claim_ids(&pending).contains(&claim["site_claim_id"]), "{verb}");
    }
    // Exactly 1000 characters (however many bytes), trimmed first; newlines are fine.
    let longest = "é".repeat(1000);
    for (verb, claim, note, stored) in [
        ("approve", &made[0], json!(format!(" {longest} ")), json!(longest)),
        (
            "reject",
            &made[1],
            json!(format!("{}\n{}", "x".repeat(499), "y".repeat(500))),
            json!(format!("{}\n{}", "x".repeat(499), "y".repeat(500))),
        ),
        ("approve", &made[2], json!("   "), Value::Null),
        ("reject", &made[3], Value::Null, Value::Null),
    ] {
        let response = app
            .call(
                Method::POST,
                &decide(claim, verb),
                Some(&admin),
                Some(&json!({"note": note})),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{verb} {note}: {response:?}");
        assert_eq!(response.json()["decision_note"], stored, "{verb}");
    }
    assert!(claim_ids(&page(&app, &admin, "").await).is_empty());
}
