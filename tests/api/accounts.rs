//! Sign-up, `/v1/me`, and account administration.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::{PASSWORD, TestApp};

async fn account_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from account")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn sign_up_creates_a_member_and_never_returns_the_password() {
    let app = TestApp::new().await;
    let body = json!({"email": "  Ann.Lee@Example.ORG ", "display_name": " Ann Lee ", "password": PASSWORD});
    let response = app.json(Method::POST, "/v1/accounts", &body).await;
    assert_eq!(response.status, StatusCode::CREATED);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let account = response.json();
    assert_eq!(account["email"], "ann.lee@example.org");
    assert_eq!(account["display_name"], "Ann Lee");
    assert_eq!(account["role"], "member");
    assert_eq!(account["disabled"], false);
    assert!(!String::from_utf8_lossy(&response.body).contains(PASSWORD));
    assert!(account.get("password").is_none() && account.get("password_hash").is_none());
}

#[tokio::test]
async fn sign_up_rejects_each_bad_field_by_name_and_writes_nothing() {
    let app = TestApp::new().await;
    let cases = [
        (
            json!({"email": "not-an-email", "display_name": "A", "password": PASSWORD}),
            vec!["email"],
        ),
        (
            json!({"email": "a@example.org", "display_name": "A", "password": "short"}),
            vec!["password"],
        ),
        (
            json!({"email": "a@example.org", "display_name": "  ", "password": PASSWORD}),
            vec!["display_name"],
        ),
        (
            json!({"email": "a@example.org", "display_name": "A", "password": PASSWORD, "role": "admin"}),
            vec!["role"],
        ),
        (
            json!({"email": "bad", "display_name": "", "password": "x"}),
            vec!["email", "display_name", "password"],
        ),
    ];
    for (body, fields) in cases {
        let response = app.json(Method::POST, "/v1/accounts", &body).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let problem = response.problem();
        let named: Vec<&str> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(named, fields, "{body}: {problem:?}");
    }
    assert_eq!(account_count(&app).await, 0, "nothing was written");
}

#[tokio::test]
async fn a_taken_email_is_a_409_regardless_of_case() {
    let app = TestApp::new().await;
    app.sign_up("ann@example.org", PASSWORD).await;
    let body = json!({"email": "ANN@example.org", "display_name": "Someone", "password": "another password!"});
    let response = app.json(Method::POST, "/v1/accounts", &body).await;
    assert_eq!(response.status, StatusCode::CONFLICT);
    let problem = response.problem();
    assert_eq!(problem.kind, "/problems/conflict");
    assert!(
        !String::from_utf8_lossy(&response.body).contains("Test Member"),
        "reveals nothing more"
    );
    assert_eq!(account_count(&app).await, 1);
}

#[tokio::test]
async fn me_needs_a_credential_and_returns_the_callers_account() {
    let app = TestApp::new().await;
    let anonymous = app.get("/v1/me").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
    assert_eq!(anonymous.problem().kind, "/problems/unauthorized");

    let (id, token) = app.member("ann").await;
    let me = app.call(Method::GET, "/v1/me", Some(&token), None).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["account_id"], id.as_str());
    assert_eq!(me.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn a_member_cannot_change_their_own_role_or_disabled_flag() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    for body in [
        json!({"role": "admin"}),
        json!({"disabled": false}),
        json!({"display_name": "X", "role": "admin"}),
    ] {
        let response = app.call(Method::PATCH, "/v1/me", Some(&token), Some(&body)).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let problem = response.problem();
        let field = body.as_object().unwrap().keys().find(|k| *k != "display_name").unwrap();
        assert_eq!(&problem.errors[0].field, field, "{problem:?}");
    }
    let me = app.call(Method::GET, "/v1/me", Some(&token), None).await.json();
    assert_eq!(me["role"], "member", "the role is unchanged");
    assert_eq!(
        me["display_name"], "Test Member",
        "nothing of a rejected request was applied"
    );
}

#[tokio::test]
async fn a_member_changes_their_name_and_password() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    let other_session = app.sign_in("ann@example.org", PASSWORD).await;

    let renamed = app
        .call(
            Method::PATCH,
            "/v1/me",
            Some(&token),
            Some(&json!({"display_name": "Ann Lee, RT(R)"})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK);
    assert_eq!(renamed.json()["display_name"], "Ann Lee, RT(R)");

    let cleared = app
        .call(
            Method::PATCH,
            "/v1/me",
            Some(&token),
            Some(&json!({"display_name": null})),
        )
        .await;
    assert_eq!(
        cleared.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a display name cannot be cleared"
    );
    assert_eq!(cleared.problem().errors[0].field, "display_name");

    let without_current = app
        .call(
            Method::PATCH,
            "/v1/me",
            Some(&token),
            Some(&json!({"password": "a brand new password"})),
        )
        .await;
    assert_eq!(without_current.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(without_current.problem().errors[0].field, "current_password");

    let wrong_current = json!({"password": "a brand new password", "current_password": "not my password"});
    let response = app
        .call(Method::PATCH, "/v1/me", Some(&token), Some(&wrong_current))
        .await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.problem().errors[0].field, "current_password");

    let change = json!({"password": "a brand new password", "current_password": PASSWORD});
    let response = app.call(Method::PATCH, "/v1/me", Some(&token), Some(&change)).await;
    assert_eq!(response.status, StatusCode::OK);

    let old = app
        .json(
            Method::POST,
            "/v1/sessions",
            &json!({"email": "ann@example.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED, "the old password no longer works");
    app.sign_in("ann@example.org", "a brand new password").await;
    let me = app.call(Method::GET, "/v1/me", Some(&token), None).await;
    assert_eq!(me.status, StatusCode::OK, "the session that changed it stays signed in");
    let other = app.call(Method::GET, "/v1/me", Some(&other_session), None).await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED, "other sessions are signed out");
}

#[tokio::test]
async fn members_get_403_from_admin_endpoints() {
    let app = TestApp::new().await;
    let (id, token) = app.member("ann").await;
    let list = app.call(Method::GET, "/v1/accounts", Some(&token), None).await;
    assert_eq!(list.status, StatusCode::FORBIDDEN);
    assert_eq!(list.problem().kind, "/problems/forbidden");
    let promote = app
        .call(
            Method::PATCH,
            &format!("/v1/accounts/{id}"),
            Some(&token),
            Some(&json!({"role": "admin"})),
        )
        .await;
    assert_eq!(promote.status, StatusCode::FORBIDDEN);
    let me = app.call(Method::GET, "/v1/me", Some(&token), None).await.json();
    assert_eq!(me["role"], "member");
    assert_eq!(app.get("/v1/accounts").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_admin_pages_through_every_account_exactly_once() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("root").await;
    for i in 0..6 {
        app.sign_up(&format!("member{i}@example.org"), PASSWORD).await;
    }
    let mut seen = Vec::new();
    let mut uri = "/v1/accounts?limit=2".to_owned();
    loop {
        let page = app.call(Method::GET, &uri, Some(&admin), None).await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        let page = page.json();
        assert!(page["items"].as_array().unwrap().len() <= 2);
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["email"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/v1/accounts?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let mut expected: Vec<String> = (0..6).map(|i| format!("member{i}@example.org")).collect();
    expected.insert(0, "root@example.org".to_owned());
    assert_eq!(seen, expected);

    for (uri, parameter) in [
        ("/v1/accounts?limit=0", "limit"),
        ("/v1/accounts?limit=101", "limit"),
        ("/v1/accounts?limit=many", "limit"),
        ("/v1/accounts?cursor=forged", "cursor"),
    ] {
        let response = app.call(Method::GET, uri, Some(&admin), None).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(response.problem().errors[0].field, parameter, "{uri}");
    }
}

#[tokio::test]
async fn an_admin_disables_and_promotes_accounts_but_not_themselves() {
    let app = TestApp::new().await;
    let (admin_id, admin) = app.admin("root").await;
    let (ann_id, ann) = app.member("ann").await;

    let disabled = app
        .call(
            Method::PATCH,
            &format!("/v1/accounts/{ann_id}"),
            Some(&admin),
            Some(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK);
    assert_eq!(disabled.json()["disabled"], true);
    let response = app.call(Method::GET, "/v1/me", Some(&ann), None).await;
    assert_eq!(
        response.status,
        StatusCode::UNAUTHORIZED,
        "a disabled account's token stops working"
    );
    let sign_in = app
        .json(
            Method::POST,
            "/v1/sessions",
            &json!({"email": "ann@example.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!(sign_in.status, StatusCode::UNAUTHORIZED, "and it cannot sign in");

    let enabled = json!({"disabled": false, "role": "admin"});
    let response = app
        .call(
            Method::PATCH,
            &format!("/v1/accounts/{ann_id}"),
            Some(&admin),
            Some(&enabled),
        )
        .await;
    assert_eq!(response.json()["role"], "admin");
    assert_eq!(
        app.call(Method::GET, "/v1/me", Some(&ann), None).await.status,
        StatusCode::OK
    );

    let own = json!({"disabled": true, "role": "member"});
    let response = app
        .call(
            Method::PATCH,
            &format!("/v1/accounts/{admin_id}"),
            Some(&admin),
            Some(&own),
        )
        .await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.problem().errors.len(), 2);

    let null_role = app
        .call(
            Method::PATCH,
            &format!("/v1/accounts/{ann_id}"),
            Some(&admin),
            Some(&json!({"role": null})),
        )
        .await;
    assert_eq!(null_role.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(null_role.problem().errors[0].field, "role");

    let missing = format!("/v1/accounts/{}", uuid::Uuid::now_v7());
    let response = app
        .call(Method::PATCH, &missing, Some(&admin), Some(&json!({"disabled": true})))
        .await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    let response = app
        .call(
            Method::PATCH,
            &format!("/v1/accounts/{ann_id}"),
            Some(&admin),
            Some(&json!({"role": "owner"})),
        )
        .await;
    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown role codes are rejected"
    );
}

#[tokio::test]
async fn current_password_guesses_share_the_sign_in_limit() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    // Signing in took one attempt of the email's allowance (10 a minute by default).
    let guess = |n: usize| json!({"password": "a brand new password", "current_password": format!("wrong guess {n}")});
    let mut statuses = Vec::new();
    for n in 0..12 {
        let response = app.call(Method::PATCH, "/v1/me", Some(&token), Some(&guess(n))).await;
        statuses.push(response.status.as_u16());
        if response.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.header("retry-after").is_some());
            break;
        }
    }
    assert_eq!(
        statuses,
        [422; 9].iter().copied().chain([429]).collect::<Vec<_>>(),
        "{statuses:?}"
    );
    // And the allowance is the one signing in uses: a sign-in for that email is refused too.
    let sign_in = json!({"email": "ann@example.org", "password": PASSWORD});
    let response = app.json(Method::POST, "/v1/sessions", &sign_in).await;
    assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn easily_guessed_passwords_are_refused() {
    let app = TestApp::new().await;
    for weak in [
        "password1234",
        "            ",
        "abcdefghijkl",
        "ann@example.org",
        "Ann Example 1",
    ] {
        let body = json!({"email": "ann@example.org", "display_name": "Ann Example", "password": weak});
        let response = app.json(Method::POST, "/v1/accounts", &body).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{weak:?}");
        let problem = response.problem();
        assert_eq!(problem.errors[0].field, "password", "{weak:?}");
        assert!(
            problem.errors[0].message.contains("too easy to guess"),
            "{weak:?}: {problem:?}"
        );
    }
    let (_, token) = app.member("ann").await;
    let patch = json!({"password": "password1234", "current_password": PASSWORD});
    let response = app.call(Method::PATCH, "/v1/me", Some(&token), Some(&patch)).await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.problem().errors[0].field, "password");
    // The password is unchanged: it still signs in.
    app.sign_in("ann@example.org", PASSWORD).await;
}

#[tokio::test]
async fn current_password_is_at_most_256_characters_and_only_sent_with_a_new_one() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    let change = |current: String| json!({"password": "a brand new password", "current_password": current});
    // 256 characters is a wrong password like any other; 257 is refused before any check.
    let response = app
        .call(Method::PATCH, "/v1/me", Some(&token), Some(&change("x".repeat(256))))
        .await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    let problem = response.problem();
    assert_eq!(problem.errors[0].field, "current_password");
    assert_eq!(problem.errors[0].message, "is not the current password");
    let response = app
        .call(Method::PATCH, "/v1/me", Some(&token), Some(&change("x".repeat(257))))
        .await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.problem().errors[0].message, "must be at most 256 characters");
    // Without a new password, a current one is refused rather than ignored.
    let alone = app
        .call(
            Method::PATCH,
            "/v1/me",
            Some(&token),
            Some(&json!({"display_name": "Ann", "current_password": PASSWORD})),
        )
        .await;
    assert_eq!(alone.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(alone.problem().errors[0].field, "current_password");
    let me = app.call(Method::GET, "/v1/me", Some(&token), None).await.json();
    assert_eq!(me["display_name"], "Test Member", "nothing changed");
}
