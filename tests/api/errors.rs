//! Every rejection is an `application/problem+json` document naming the field at fault.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::routing::{get, post};
use clinical_sites::config::Config;
use clinical_sites::extract::{Json, Path, Query};
use clinical_sites::http::with_middleware;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::support::{TestApp, TestResponse, send};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sample {
    name: String,
    count: u32,
}

#[derive(Debug, Deserialize)]
struct Paging {
    limit: Option<u32>,
}

/// Routes that exercise the extractors, behind exactly the production middleware.
fn probe_router(config: &Config) -> Router {
    let routes = Router::new()
        .route(
            "/echo",
            post(|Json(body): Json<Sample>| async move { axum::Json(body) }),
        )
        .route(
            "/items/{id}",
            get(|Path(id): Path<uuid::Uuid>| async move { id.to_string() }),
        )
        .route(
            "/search",
            get(|Query(paging): Query<Paging>| async move { format!("{:?}", paging.limit) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                "done"
            }),
        )
        .route("/panic", get(panicking));
    with_middleware(routes, config)
}

async fn panicking() -> &'static str {
    panic!("secret internals: password=hunter2")
}

async fn post_raw(router: &Router, content_type: Option<&str>, body: impl Into<Body>) -> TestResponse {
    let mut request = Request::post("/echo");
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    send(router, request.body(body.into()).unwrap()).await
}

#[tokio::test]
async fn valid_json_is_accepted() {
    let router = probe_router(&Config::defaults());
    let response = post_raw(&router, Some("application/json"), r#"{"name":"a","count":1}"#).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json(), json!({"name": "a", "count": 1}));
}

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let router = probe_router(&Config::defaults());
    for body in [r#"{"name":"#, "", "not json", r#"{"name":"a","count":1} trailing"#] {
        let response = post_raw(&router, Some("application/json"), body).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{body:?}");
        let problem = response.problem();
        assert_eq!(problem.kind, "/problems/bad-request");
        assert!(problem.detail.contains("not valid JSON"), "{problem:?}");
    }
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_a_422_naming_the_field() {
    let router = probe_router(&Config::defaults());
    let cases = [
        (r#"{"name":"a","count":"three"}"#, "count", "invalid type"),
        (r#"{"name":"a","count":-1}"#, "count", "invalid value"),
        (r#"{"name":"a"}"#, "", "missing field `count`"),
        (
            r#"{"name":"a","count":1,"nmae":"typo"}"#,
            "nmae",
            "unknown field `nmae`",
        ),
    ];
    for (body, field, message) in cases {
        let response = post_raw(&router, Some("application/json"), body).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let problem = response.problem();
        assert_eq!(problem.kind, "/problems/validation");
        assert_eq!(problem.errors.len(), 1, "{problem:?}");
        assert_eq!(problem.errors[0].field, field, "{body}");
        assert!(problem.errors[0].message.contains(message), "{body}: {problem:?}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415() {
    let router = probe_router(&Config::defaults());
    for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
        let response = post_raw(&router, content_type, r#"{"name":"a","count":1}"#).await;
        assert_eq!(response.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type:?}");
        assert_eq!(response.problem().kind, "/problems/unsupported-media-type");
    }
}

#[tokio::test]
async fn an_oversized_body_is_a_413_with_or_without_content_length() {
    let config = Config {
        max_body_bytes: 2048,
        ..Config::defaults()
    };
    let router = probe_router(&config);
    let big = format!(r#"{{"name":"{}","count":1}}"#, "x".repeat(4096));

    // Announced by Content-Length: refused before reading.
    let request = Request::post("/echo")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, big.len())
        .body(Body::from(big.clone()))
        .unwrap();
    let response = send(&router, request).await;
    assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE);
    let problem = response.problem();
    assert!(problem.detail.contains("2048"), "{problem:?}");

    // Streamed (no Content-Length): the limit applies while reading.
    let chunks = big
        .into_bytes()
        .chunks(512)
        .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
        .collect::<Vec<_>>();
    let body = Body::from_stream(futures_util::stream::iter(chunks));
    let response = post_raw(&router, Some("application/json"), body).await;
    assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE);
    let problem = response.problem();
    assert_eq!(problem.kind, "/problems/payload-too-large");
    assert!(problem.detail.contains("2048"), "{problem:?}");
}

#[tokio::test]
async fn a_request_over_the_timeout_is_a_503_problem() {
    let config = Config {
        request_timeout_secs: 1,
        ..Config::defaults()
    };
    let router = probe_router(&config);
    let response = send(&router, Request::get("/slow").body(Body::empty()).unwrap()).await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.problem().kind, "/problems/timeout");
    assert!(response.header("retry-after").is_some());
}

#[tokio::test]
async fn a_bad_path_parameter_is_a_400_naming_it() {
    let router = probe_router(&Config::defaults());
    let response = send(&router, Request::get("/items/not-a-uuid").body(Body::empty()).unwrap()).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    let problem = response.problem();
    assert_eq!(problem.errors[0].field, "id", "{problem:?}");
    assert!(problem.detail.contains("`id`"), "{problem:?}");

    let id = uuid::Uuid::now_v7();
    let response = send(
        &router,
        Request::get(format!("/items/{id}")).body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(response.status, StatusCode::OK);
}

#[tokio::test]
async fn a_bad_query_string_is_a_400_naming_the_parameter() {
    let router = probe_router(&Config::defaults());
    for uri in ["/search?limit=ten", "/search?limit=-1", "/search?limit=99999999999"] {
        let response = send(&router, Request::get(uri).body(Body::empty()).unwrap()).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{uri}");
        let problem = response.problem();
        assert_eq!(problem.errors[0].field, "limit", "{uri}: {problem:?}");
    }
    let response = send(&router, Request::get("/search?limit=5").body(Body::empty()).unwrap()).await;
    assert_eq!(response.body, b"Some(5)");
}

#[tokio::test]
async fn a_panic_is_a_500_problem_that_reveals_nothing() {
    let router = probe_router(&Config::defaults());
    let response = send(&router, Request::get("/panic").body(Body::empty()).unwrap()).await;
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    let problem = response.problem();
    assert_eq!(problem.kind, "/problems/internal");
    assert!(!String::from_utf8_lossy(&response.body).contains("hunter2"));
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = TestApp::new().await;
    for uri in ["/nope", "/v1/sites/../../etc/passwd", "/healthz/extra"] {
        let response = app.get(uri).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(response.problem().kind, "/problems/not-found");
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem_with_allow() {
    let app = TestApp::new().await;
    let response = app.json(Method::POST, "/healthz", &json!({})).await;
    assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.problem().kind, "/problems/method-not-allowed");
    assert!(
        response.header("allow").is_some_and(|allow| allow.contains("GET")),
        "{response:?}"
    );
    let response = app.send(Request::delete("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED);
    response.problem();
}

#[tokio::test]
async fn error_lists_stay_small_whatever_was_sent() {
    let app = TestApp::new().await;
    // One unknown parameter repeated 5,000 times (55 KB): one error.
    let query = "colour=red&".repeat(5000);
    let response = app.get(&format!("/v1/sites?{query}")).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    let problem = response.problem();
    assert_eq!(problem.errors.len(), 1, "{problem:?}");
    // Thousands of different unknown parameters: fifty, and the count of the rest.
    let query: String = (0..4000).map(|i| format!("p{i}=1&")).collect();
    let response = app.get(&format!("/v1/sites?{query}")).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert!(response.body.len() < 20_000, "{} bytes", response.body.len());
    let problem = response.problem();
    assert_eq!(problem.errors.len(), clinical_sites::error::MAX_FIELD_ERRORS);
    assert!(problem.detail.contains("3950 more are not"), "{}", problem.detail);
    // A site body with thousands of bad offer keys: the same.
    let (_, token) = app.member("ann").await;
    let mut body = crate::support::site_body("Many Offers Imaging", "43210");
    let offers: serde_json::Map<String, serde_json::Value> = (0..5000)
        .map(|i| (format!("modality{i}"), serde_json::json!({})))
        .collect();
    body["offers"] = serde_json::Value::Object(offers);
    let response = app
        .call(axum::http::Method::POST, "/v1/sites", Some(&token), Some(&body))
        .await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.body.len() < 20_000, "{} bytes", response.body.len());
    assert_eq!(response.problem().errors.len(), clinical_sites::error::MAX_FIELD_ERRORS);
}
