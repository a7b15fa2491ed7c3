//! The sign-in limiter's two keys, each on its own (requests carry a chosen client address), and
//! its memory under oversized keys (the real binary, measured from outside).

use std::net::{IpAddr, Ipv4Addr};

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::{PASSWORD, TestApp};

fn address(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, n))
}

async fn attempt(app: &TestApp, from: IpAddr, email: &str, password: &str) -> StatusCode {
    let body = json!({"email": email, "password": password});
    app.call_from(from, Method::POST, "/v1/sessions", None, Some(&body))
        .await
        .status
}

#[tokio::test]
async fn one_email_is_limited_whatever_address_the_guesses_come_from() {
    let app = TestApp::new().await;
    app.sign_up("ann@example.org", PASSWORD).await;
    for n in 1..=10 {
        let status = attempt(&app, address(n), "ann@example.org", &format!("guess {n}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "guess {n}");
    }
    // An eleventh address is fresh, the email is not: the email's own limit refuses it, and
    // the right password with it.
    assert_eq!(
        attempt(&app, address(11), "ann@example.org", "guess 11").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        attempt(&app, address(12), "ANN@example.org", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "however the email is written"
    );
    // Another account is not held up, from any of those addresses.
    app.sign_up("bob@example.org", PASSWORD).await;
    assert_eq!(
        attempt(&app, address(13), "bob@example.org", PASSWORD).await,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn one_address_is_limited_whatever_emails_it_tries() {
    let app = TestApp::new().await;
    app.sign_up("ann@example.org", PASSWORD).await;
    let from = address(7);
    for n in 1..=10 {
        let status = attempt(&app, from, &format!("guess{n}@example.org"), PASSWORD).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "email {n}");
    }
    // The eleventh email is fresh, the address is not.
    assert_eq!(
        attempt(&app, from, "guess11@example.org", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        attempt(&app, from, "ann@example.org", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "not even the right password from there"
    );
    // Another address signs in to the same account.
    assert_eq!(
        attempt(&app, address(8), "ann@example.org", PASSWORD).await,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn distinct_emails_from_distinct_addresses_are_not_limited() {
    let app = TestApp::new().await;
    // Twice the allowance, each attempt with its own email and address: each key counts once.
    for n in 1..=20 {
        let status = attempt(&app, address(n), &format!("user{n}@example.org"), PASSWORD).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {n}");
    }
}
