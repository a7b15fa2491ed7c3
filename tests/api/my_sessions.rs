//! `GET /v1/me/sessions` and `DELETE /v1/me/sessions/{id}`: the caller's own sessions and API
//! keys, with their last use, each revocable.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp};

async fn list(app: &TestApp, token: &str, query: &str) -> Value {
    let response = app
        .call(Method::GET, &format!("/v1/me/sessions{query}"), Some(token), None)
        .await;
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.header("cache-control"), Some("no-store"));
    response.json()
}

async fn create_key(app: &TestApp, token: &str, name: &str) -> Value {
    let response = app
        .call(Method::POST, "/v1/api-keys", Some(token), Some(&json!({"name": name})))
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{response:?}");
    response.json()
}

async fn revoke(app: &TestApp, token: &str, id: &str) -> crate::support::TestResponse {
    app.call(Method::DELETE, &format!("/v1/me/sessions/{id}"), Some(token), None)
        .await
}

async fn status_of_me(app: &TestApp, token: &str) -> StatusCode {
    app.call(Method::GET, "/v1/me", Some(token), None).await.status
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_caller_lists_their_live_sessions_and_keys_newest_first_with_the_current_one() {
    let app = TestApp::new().await;
    let (_, laptop) = app.member("ann").await;
    let phone = app.sign_in("ann@example.org", PASSWORD).await;
    let key = create_key(&app, &laptop, "sync script").await;
    let (_, bob) = app.member("bob").await;
    create_key(&app, &bob, "bob's script").await;
    // Neither a signed-out session nor a revoked key is listed.
    let gone = app.sign_in("ann@example.org", PASSWORD).await;
    assert_eq!(
        app.call(Method::DELETE, "/v1/sessions/current", Some(&gone), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let revoked_key = create_key(&app, &laptop, "old script").await;
    let uri = format!("/v1/api-keys/{}", revoked_key["api_key_id"].as_str().unwrap());
    assert_eq!(
        app.call(Method::DELETE, &uri, Some(&laptop), None).await.status,
        StatusCode::NO_CONTENT
    );

    let page = list(&app, &phone, "").await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{page:#}");
    assert_eq!(page["next_cursor"], Value::Null);
    let (newest, middle, oldest) = (&items[0], &items[1], &items[2]);
    assert_eq!(newest["id"], key["api_key_id"]);
    assert_eq!(newest["kind"], "api_key");
    assert_eq!(newest["name"], "sync script");
    assert_eq!(newest["prefix"], key["prefix"]);
    assert_eq!(newest["created_at"], key["created_at"]);
    assert_eq!(newest["last_used_at"], Value::Null, "never used");
    assert_eq!(newest["expires_at"], Value::Null, "keys do not expire");
    assert_eq!(newest["current"], false);
    for (session, current) in [(middle, true), (oldest, false)] {
        assert_eq!(session["kind"], "session");
        assert_eq!(session["current"], current, "{session}");
        assert_eq!(session["name"], Value::Null);
        assert_eq!(session["prefix"], Value::Null);
        assert!(session["created_at"].is_string() && session["expires_at"].is_string());
        assert!(session["last_used_at"].is_string(), "signing in is a use");
    }
    // Each credential sees itself as the current one.
    let from_laptop = list(&app, &laptop, "").await;
    assert_eq!(from_laptop["items"][2]["current"], true);
    assert_eq!(from_laptop["items"][1]["current"], false);
    let from_key = list(&app, key["key"].as_str().unwrap(), "").await;
    assert_eq!(from_key["items"][0]["current"], true);
    assert!(
        from_key["items"][0]["last_used_at"].is_string(),
        "using the key is recorded"
    );
    assert_eq!(ids(&from_key), ids(&page));

    let anonymous = app.get("/v1/me/sessions").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    anonymous.problem();
}

#[tokio::test]
async fn last_use_is_recorded_at_most_once_a_minute() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    let key = create_key(&app, &token, "script").await;
    let secret = key["key"].as_str().unwrap();
    let last_use = |table: &'static str| {
        let pool = app.pool.clone();
        async move {
            let sql = format!("select extract(epoch from now() - last_used_at)::float8 from {table}");
            sqlx::query_scalar::<_, f64>(sqlx::AssertSqlSafe(sql))
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    for (table, credential) in [("session", token.as_str()), ("api_key", secret)] {
        // Used 30 seconds ago: another use within the minute writes nothing.
        let sql = format!("update {table} set last_used_at = now() - interval '30 seconds'");
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&app.pool).await.unwrap();
        assert_eq!(status_of_me(&app, credential).await, StatusCode::OK);
        let age = last_use(table).await;
        assert!(
            (29.0..=40.0).contains(&age),
            "{table}: rewritten within the minute ({age} s)"
        );
        // Used two minutes ago: this use is recorded.
        let sql = format!("update {table} set last_used_at = now() - interval '2 minutes'");
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&app.pool).await.unwrap();
        assert_eq!(status_of_me(&app, credential).await, StatusCode::OK);
        let age = last_use(table).await;
        assert!(age < 10.0, "{table}: not recorded ({age} s ago)");
    }
    // The listing shows it.
    let page = list(&app, &token, "").await;
    let session = &page["items"][1];
    let listed: chrono::DateTime<chrono::Utc> = session["last_used_at"].as_str().unwrap().parse().unwrap();
    assert!((chrono::Utc::now() - listed).num_seconds() < 10, "{session}");
}

#[tokio::test]
async fn the_listing_comes_in_pages() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    create_key(&app, &token, "one").await;
    create_key(&app, &token, "two").await;
    let everything = ids(&list(&app, &token, "").await);
    assert_eq!(everything.len(), 3);

    let first = list(&app, &token, "?limit=2").await;
    assert_eq!(ids(&first), everything[..2]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = list(&app, &token, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&second), everything[2..]);
    assert_eq!(second["next_cursor"], Value::Null);
    // Exactly `limit` items: no next page.
    assert_eq!(list(&app, &token, "?limit=3").await["next_cursor"], Value::Null);

    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?cursor=nope", "cursor"),
        ("?order=asc", "order"),
    ] {
        let response = app
            .call(Method::GET, &format!("/v1/me/sessions{query}"), Some(&token), None)
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{query}: {response:?}");
        assert_eq!(response.problem().errors[0].field, field, "{query}");
    }
}

#[tokio::test]
async fn revoking_a_session_or_key_stops_it_at_once() {
    let app = TestApp::new().await;
    let (_, laptop) = app.member("ann").await;
    let phone = app.sign_in("ann@example.org", PASSWORD).await;
    let key = create_key(&app, &laptop, "script").await;
    let secret = key["key"].as_str().unwrap();
    let listed = ids(&list(&app, &laptop, "").await);
    let (key_id, phone_id, laptop_id) = (&listed[0], &listed[1], &listed[2]);
    assert_eq!(status_of_me(&app, &phone).await, StatusCode::OK);
    assert_eq!(status_of_me(&app, secret).await, StatusCode::OK);

    // Another session.
    let response = revoke(&app, &laptop, phone_id).await;
    assert_eq!(response.status, StatusCode::NO_CONTENT, "{response:?}");
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(status_of_me(&app, &phone).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        revoke(&app, &laptop, phone_id).await.status,
        StatusCode::NO_CONTENT,
        "twice is fine"
    );
    // An API key.
    assert_eq!(revoke(&app, &laptop, key_id).await.status, StatusCode::NO_CONTENT);
    assert_eq!(status_of_me(&app, secret).await, StatusCode::UNAUTHORIZED);
    assert_eq!(ids(&list(&app, &laptop, "").await), std::slice::from_ref(laptop_id));
    // The current session: signing out.
    assert_eq!(revoke(&app, &laptop, laptop_id).await.status, StatusCode::NO_CONTENT);
    assert_eq!(status_of_me(&app, &laptop).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn another_accounts_credentials_are_404_and_keep_working() {
    let app = TestApp::new().await;
    let (_, ann) = app.member("ann").await;
    let (_, bob) = app.member("bob").await;
    let bob_key = create_key(&app, &bob, "bob's script").await;
    let bob_ids = ids(&list(&app, &bob, "").await);
    assert_eq!(bob_ids.len(), 2);

    let unknown = revoke(&app, &ann, &uuid::Uuid::now_v7().to_string()).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    for id in &bob_ids {
        let response = revoke(&app, &ann, id).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{response:?}");
        assert_eq!(
            response.body, unknown.body,
            "the same answer as for no credential at all"
        );
    }
    assert_eq!(status_of_me(&app, &bob).await, StatusCode::OK);
    assert_eq!(
        status_of_me(&app, bob_key["key"].as_str().unwrap()).await,
        StatusCode::OK
    );
    assert_eq!(ids(&list(&app, &bob, "").await), bob_ids);

    let malformed = revoke(&app, &ann, "not-a-uuid").await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    malformed.problem();
    let anonymous = app
        .call(Method::DELETE, &format!("/v1/me/sessions/{}", bob_ids[0]), None, None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_api_key_lists_but_cannot_revoke() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    let key = create_key(&app, &token, "script").await;
    let secret = key["key"].as_str().unwrap();
    let listed = ids(&list(&app, secret, "").await);
    // A leaked key that could revoke sessions could keep its owner from signing in to revoke it.
    for id in &listed {
        let response = revoke(&app, secret, id).await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{response:?}");
        response.problem();
    }
    assert_eq!(status_of_me(&app, &token).await, StatusCode::OK);
    assert_eq!(status_of_me(&app, secret).await, StatusCode::OK);
}
