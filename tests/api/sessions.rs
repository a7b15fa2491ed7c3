//! Signing in and out, and every way a credential can be refused.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use clinical_sites::auth::token::{self, Kind};
use clinical_sites::config::Config;
use serde_json::json;

use crate::support::{PASSWORD, TestApp};

#[tokio::test]
async fn signing_in_returns_a_bearer_token_that_expires() {
    let app = TestApp::new().await;
    app.sign_up("ann@example.org", PASSWORD).await;
    let response = app
        .json(
            Method::POST,
            "/v1/sessions",
            &json!({"email": "ANN@example.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let session = response.json();
    assert!(session["token"].as_str().unwrap().starts_with("cst_"));
    assert_eq!(session["token_type"], "Bearer");
    assert_eq!(session["account"]["email"], "ann@example.org");
    let expires: chrono::DateTime<chrono::Utc> = session["expires_at"].as_str().unwrap().parse().unwrap();
    let days = (expires - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!((29.9..=30.0).contains(&days), "30 days by default, got {days}");
}

#[tokio::test]
async fn a_wrong_email_and_a_wrong_password_get_the_same_401_in_the_same_time() {
    let app = TestApp::new().await;
    app.sign_up("ann@example.org", PASSWORD).await;
    let attempt = |email: &'static str, password: &'static str| {
        let app = &app;
        async move {
            let started = Instant::now();
            let response = app
                .json(
                    Method::POST,
                    "/v1/sessions",
                    &json!({"email": email, "password": password}),
                )
                .await;
            (response, started.elapsed())
        }
    };
    let mut wrong_email_time = Duration::ZERO;
    let mut wrong_password_time = Duration::ZERO;
    let mut bodies = Vec::new();
    for _ in 0..4 {
        let (wrong_email, t1) = attempt("nobody@example.org", PASSWORD).await;
        let (wrong_password, t2) = attempt("ann@example.org", "not the password at all").await;
        wrong_email_time += t1;
        wrong_password_time += t2;
        for response in [&wrong_email, &wrong_password] {
            assert_eq!(response.status, StatusCode::UNAUTHORIZED);
            assert_eq!(response.header("www-authenticate"), Some("Bearer"));
        }
        bodies.push((wrong_email.body, wrong_password.body));
    }
    for (wrong_email, wrong_password) in bodies {
        assert_eq!(wrong_email, wrong_password, "identical answers");
    }
    // Both verify an Argon2id hash; without the dummy hash an unknown email answers ~10x faster.
    // The margin absorbs scheduling noise on a busy machine.
    assert!(
        wrong_email_time * 3 >= wrong_password_time,
        "unknown email {wrong_email_time:?} vs wrong password {wrong_password_time:?}"
    );
}

#[tokio::test]
async fn expired_revoked_malformed_and_unknown_tokens_are_401() {
    let app = TestApp::new().await;
    let (account_id, token) = app.member("ann").await;

    // Expired: a session whose expiry has passed.
    let expired = token::generate(Kind::Session);
    sqlx::query(
        "insert into session (session_id, account_id, token_hash, expires_at)
         values ($1, $2::uuid, $3, now() - interval '1 second')",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(&account_id)
    .bind(&expired.hash)
    .execute(&app.pool)
    .await
    .unwrap();
    let unknown = token::generate(Kind::Session).plain;
    for presented in [
        expired.plain.as_str(),
        unknown.as_str(),
        "cst_short",
        "csk_nothex",
        "garbage",
        "",
    ] {
        let response = app.call(Method::GET, "/v1/me", Some(presented), None).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{presented}");
        assert_eq!(
            response.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\"")
        );
        response.problem();
    }
    let basic = app
        .send(
            axum::http::Request::get("/v1/me")
                .header("authorization", "Basic YW5uOnB3")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);

    // Revoked: signing out ends the token.
    let signed_out = app
        .call(Method::DELETE, "/v1/sessions/current", Some(&token), None)
        .await;
    assert_eq!(signed_out.status, StatusCode::NO_CONTENT);
    let response = app.call(Method::GET, "/v1/me", Some(&token), None).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    let again = app
        .call(Method::DELETE, "/v1/sessions/current", Some(&token), None)
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn repeated_failed_sign_ins_get_429_with_retry_after() {
    let app = TestApp::new().await;
    app.sign_up("ann@example.org", PASSWORD).await;
    let wrong = json!({"email": "ann@example.org", "password": "guess number one"});
    for attempt in 1..=10 {
        let response = app.json(Method::POST, "/v1/sessions", &wrong).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let response = app.json(Method::POST, "/v1/sessions", &wrong).await;
    assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_eq!(response.problem().kind, "/problems/too-many-requests");
    // The right password is refused too while the limit holds: guessing cannot go on.
    let right = json!({"email": "ann@example.org", "password": PASSWORD});
    assert_eq!(
        app.json(Method::POST, "/v1/sessions", &right).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn the_general_rate_limit_applies_per_credential_but_not_to_probes() {
    let config = Config {
        rate_limit_per_minute: 3,
        ..Config::defaults()
    };
    let app = TestApp::with_config(config).await;
    for _ in 0..3 {
        assert_eq!(app.get("/v1/me").await.status, StatusCode::UNAUTHORIZED);
    }
    let limited = app.get("/v1/me").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.header("retry-after").is_some());
    for _ in 0..5 {
        assert_eq!(app.get("/healthz").await.status, StatusCode::OK, "probes are exempt");
    }
}

#[tokio::test]
async fn made_up_credentials_do_not_buy_fresh_allowances() {
    let config = Config {
        rate_limit_per_minute: 3,
        ..Config::defaults()
    };
    let app = TestApp::with_config(config).await;
    for i in 0..3 {
        let response = app
            .call(Method::GET, "/v1/vocabulary", Some(&format!("made-up-{i}")), None)
            .await;
        assert_eq!(response.status, StatusCode::OK, "a public route ignores the header");
    }
    let response = app.call(Method::GET, "/v1/vocabulary", Some("made-up-4"), None).await;
    assert_eq!(
        response.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the client's address still counts"
    );
}

#[tokio::test]
async fn signing_out_with_an_api_key_is_a_404() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    let key = app
        .call(
            Method::POST,
            "/v1/api-keys",
            Some(&token),
            Some(&json!({"name": "script"})),
        )
        .await
        .json()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = app.call(Method::DELETE, "/v1/sessions/current", Some(&key), None).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.call(Method::GET, "/v1/me", Some(&key), None).await.status,
        StatusCode::OK
    );
}
