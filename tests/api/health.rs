//! `/healthz` and `/readyz`.

use axum::http::StatusCode;
use clinical_sites::config::Config;
use clinical_sites::{AppState, app, db};
use serde_json::json;
use sqlx::postgres::PgConnectOptions;

use crate::support::{TestApp, send};

#[tokio::test]
async fn healthz_answers_without_the_database() {
    let app = TestApp::new().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json(), json!({"status": "ok"}));
    assert_eq!(response.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn readyz_is_200_when_the_database_answers() {
    let app = TestApp::new().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json(), json!({"status": "ready"}));
}

#[tokio::test]
async fn readyz_is_a_503_problem_when_the_database_is_unreachable() {
    let nowhere = PgConnectOptions::new()
        .socket("/nonexistent/clinical-sites")
        .database("nothing");
    let state = AppState::new(db::pool(nowhere, 1), Config::defaults());
    let router = app(state);
    let started = std::time::Instant::now();
    let response = send(
        &router,
        axum::http::Request::get("/readyz").body(Default::default()).unwrap(),
    )
    .await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    let problem = response.problem();
    assert_eq!(problem.kind, "/problems/unavailable");
    assert!(
        !problem.detail.contains("nonexistent"),
        "no internal detail: {problem:?}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "bounded by the readiness timeout"
    );
}
