//! Stored secrets are hashes only, and issued secrets never show up again: not in later responses,
//! not in the logs.

use axum::http::{Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::client::{Service, request_with, service_command};
use crate::support::{PASSWORD, TempDir, TestApp, TestDb, server};

#[tokio::test]
async fn the_database_holds_only_hashes_of_tokens_keys_and_passwords() {
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

    let password_hash: String = sqlx::query_scalar("select password_hash from account")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(password_hash.starts_with("$argon2id$v=19$"), "{password_hash}");
    assert!(!password_hash.contains(PASSWORD));

    let token_hashes: Vec<Vec<u8>> = sqlx::query_scalar("select token_hash from session")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert!(token_hashes.contains(&Sha256::digest(token.as_bytes()).to_vec()));
    let key_hash: Vec<u8> = sqlx::query_scalar("select key_hash from api_key")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(key_hash, Sha256::digest(key.as_bytes()).to_vec());

    // No text column anywhere holds a secret in clear.
    let dump: String = sqlx::query_scalar(
        "select concat_ws(' ',
            (select string_agg(a::text, ' ') from account a),
            (select string_agg(s::text, ' ') from session s),
            (select string_agg(k::text, ' ') from api_key k))",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    for secret in [PASSWORD, &token[4..], &key[4..]] {
        assert!(!dump.contains(secret), "a secret is stored in clear");
    }
}

#[tokio::test]
async fn no_response_or_log_line_repeats_a_password_or_token_after_issuing_it() {
    let db = TestDb::new().await;
    let dir = TempDir::new("secrets");
    let mut command = service_command(&dir.0);
    command
        .env("DATABASE_URL", server().url(&db.name))
        .env("RUST_LOG", "trace");
    let (responses, token, key, output) = tokio::task::spawn_blocking(move || {
        let service = Service::start(command);
        let json = |body: serde_json::Value| body.to_string();
        let mut responses = Vec::new();
        let signup = json(json!({"email": "ann@example.org", "display_name": "Ann", "password": PASSWORD}));
        let (status, body) = request_with(service.addr, "POST", "/v1/accounts", None, Some(&signup)).unwrap();
        assert_eq!(status, 201, "{body}");
        responses.push(body);
        let signin = json(json!({"email": "ann@example.org", "password": PASSWORD}));
        let (status, body) = request_with(service.addr, "POST", "/v1/sessions", None, Some(&signin)).unwrap();
        assert_eq!(status, 201, "{body}");
        let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let key_request = json(json!({"name": "script"}));
        let (status, body) =
            request_with(service.addr, "POST", "/v1/api-keys", Some(&token), Some(&key_request)).unwrap();
        assert_eq!(status, 201, "{body}");
        let key = serde_json::from_str::<serde_json::Value>(&body).unwrap()["key"]
            .as_str()
            .unwrap()
            .to_owned();
        for (path, credential) in [("/v1/me", &token), ("/v1/api-keys", &token), ("/v1/me", &key)] {
            let (status, body) = request_with(service.addr, "GET", path, Some(credential), None).unwrap();
            assert_eq!(status, 200, "{body}");
            responses.push(body);
        }
        let bad_password = json(json!({"email": "ann@example.org", "password": "a wrong password"}));
        let (status, body) = request_with(service.addr, "POST", "/v1/sessions", None, Some(&bad_password)).unwrap();
        assert_eq!(status, 401);
        responses.push(body);
        let (code, output) = service.stop(libc::SIGTERM);
        assert_eq!(code, Some(0), "{output}");
        (responses, token, key, output)
    })
    .await
    .unwrap();
    assert!(output.contains("/v1/sessions"), "the requests were logged:\n{output}");
    for secret in [
        PASSWORD,
        "a wrong password",
        token.as_str(),
        key.as_str(),
        &token[4..20],
        &key[12..28],
    ] {
        assert!(!output.contains(secret), "a log line contains a secret ({secret})");
        for response in &responses {
            assert!(!response.contains(secret), "a response repeats a secret: {response}");
        }
    }
    let _ = StatusCode::OK;
}
