//! API keys: shown once, owned by one account, revocable.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::TestApp;

async fn create_key(app: &TestApp, token: &str, name: &str) -> serde_json::Value {
    let response = app
        .call(Method::POST, "/v1/api-keys", Some(token), Some(&json!({"name": name})))
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{response:?}");
    response.json()
}

#[tokio::test]
async fn a_key_is_shown_once_and_then_authenticates_its_owner() {
    let app = TestApp::new().await;
    let (ann_id, token) = app.member("ann").await;
    let created = create_key(&app, &token, " enrollment sync ").await;
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("csk_") && key.len() == 68);
    assert_eq!(created["name"], "enrollment sync");
    assert_eq!(created["prefix"], &key[..12]);
    assert!(created["last_used_at"].is_null());

    let me = app.call(Method::GET, "/v1/me", Some(key), None).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["account_id"], ann_id.as_str());

    let listed = app.call(Method::GET, "/v1/api-keys", Some(&token), None).await;
    assert_eq!(listed.status, StatusCode::OK);
    let listed_text = String::from_utf8_lossy(&listed.body).into_owned();
    assert!(!listed_text.contains(&key[12..]), "the secret is never listed");
    let items = listed.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert!(items[0]["last_used_at"].is_string(), "use is recorded");
    assert!(items[0].get("key").is_none());
}

#[tokio::test]
async fn a_key_cannot_mint_keys() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    let key = create_key(&app, &token, "script").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = app
        .call(Method::POST, "/v1/api-keys", Some(&key), Some(&json!({"name": "more"})))
        .await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn one_account_cannot_list_use_or_revoke_another_accounts_keys() {
    let app = TestApp::new().await;
    let (_, ann) = app.member("ann").await;
    let (_, bob) = app.member("bob").await;
    let ann_key = create_key(&app, &ann, "ann's script").await;
    let ann_key_id = ann_key["api_key_id"].as_str().unwrap();

    let bobs_list = app.call(Method::GET, "/v1/api-keys", Some(&bob), None).await.json();
    assert_eq!(bobs_list["items"], json!([]), "bob sees none of ann's keys");

    let revoke = app
        .call(Method::DELETE, &format!("/v1/api-keys/{ann_key_id}"), Some(&bob), None)
        .await;
    assert_eq!(revoke.status, StatusCode::NOT_FOUND, "as if it did not exist");
    let still = app
        .call(Method::GET, "/v1/me", Some(ann_key["key"].as_str().unwrap()), None)
        .await;
    assert_eq!(still.status, StatusCode::OK, "ann's key still works");

    // Bob's own session cannot sign ann out either: signing out only ever ends the caller's session.
    app.call(Method::DELETE, "/v1/sessions/current", Some(&bob), None).await;
    assert_eq!(
        app.call(Method::GET, "/v1/me", Some(&ann), None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_revoked_key_stops_working() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    let created = create_key(&app, &token, "script").await;
    let id = created["api_key_id"].as_str().unwrap();
    let revoke = app
        .call(Method::DELETE, &format!("/v1/api-keys/{id}"), Some(&token), None)
        .await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT);
    let response = app
        .call(Method::GET, "/v1/me", Some(created["key"].as_str().unwrap()), None)
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    let listed = app.call(Method::GET, "/v1/api-keys", Some(&token), None).await.json();
    assert!(listed["items"][0]["revoked_at"].is_string());
    let again = app
        .call(Method::DELETE, &format!("/v1/api-keys/{id}"), Some(&token), None)
        .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT, "revoking twice is fine");
    let bad = app
        .call(Method::DELETE, "/v1/api-keys/not-a-uuid", Some(&token), None)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.problem().errors[0].field, "api_key_id");
}

#[tokio::test]
async fn key_names_are_validated() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    for body in [
        json!({"name": ""}),
        json!({"name": "x".repeat(101)}),
        json!({"name": 5}),
        json!({}),
    ] {
        let response = app.call(Method::POST, "/v1/api-keys", Some(&token), Some(&body)).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let extra = app
        .call(
            Method::POST,
            "/v1/api-keys",
            Some(&token),
            Some(&json!({"name": "a", "scope": "all"})),
        )
        .await;
    assert_eq!(extra.problem().errors[0].field, "scope");
    let anonymous = app.json(Method::POST, "/v1/api-keys", &json!({"name": "x"})).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_disabled_accounts_keys_and_sessions_stop_working_until_it_is_enabled() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("root").await;
    let (ann_id, token) = app.member("ann").await;
    let created = create_key(&app, &token, "script").await;
    let key = created["key"].as_str().unwrap();
    let account = format!("/v1/accounts/{ann_id}");
    let set_disabled = |disabled: bool| {
        let (app, admin, account) = (&app, &admin, &account);
        async move {
            let body = json!({"disabled": disabled});
            let response = app.call(Method::PATCH, account, Some(admin), Some(&body)).await;
            assert_eq!(response.status, StatusCode::OK, "{response:?}");
        }
    };
    set_disabled(true).await;
    let me = app.call(Method::GET, "/v1/me", Some(key), None).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "a disabled account's key: {me:?}");
    me.problem();
    let write = app
        .call(
            Method::POST,
            "/v1/sites",
            Some(key),
            Some(&crate::support::site_body("Kelvandri Imaging", "43210")),
        )
        .await;
    assert_eq!(write.status, StatusCode::UNAUTHORIZED);
    // The key was not revoked: only the account's flag stops it, and enabling it brings it back.
    set_disabled(false).await;
    assert_eq!(
        app.call(Method::GET, "/v1/me", Some(key), None).await.status,
        StatusCode::OK
    );

    // Sessions likewise (the flag set directly this time).
    let session = app.sign_in("ann@example.org", crate::support::PASSWORD).await;
    sqlx::query("update account set disabled = true where account_id = $1::uuid")
        .bind(&ann_id)
        .execute(&app.pool)
        .await
        .unwrap();
    for credential in [session.as_str(), key] {
        assert_eq!(
            app.call(Method::GET, "/v1/me", Some(credential), None).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
}
