//! Request ids, CORS, compression, offline docs, and graceful shutdown on a real socket.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use clinical_sites::config::{Config, CorsOrigin};
use clinical_sites::http::{ServeOptions, serve, with_middleware};

use crate::support::{TestApp, client};

#[tokio::test]
async fn request_ids_are_generated_or_echoed() {
    let app = TestApp::new().await;
    let generated = app.get("/healthz").await;
    let id = generated.header("x-request-id").expect("a generated request id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");

    let response = app
        .send(
            Request::get("/nope")
                .header("x-request-id", "client-chosen-42")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        response.header("x-request-id"),
        Some("client-chosen-42"),
        "echoed on errors too"
    );
}

#[tokio::test]
async fn cors_allows_exactly_the_configured_origins() {
    let config = Config {
        cors_allowed_origins: vec![CorsOrigin::Exact("https://app.example.org".parse().unwrap())],
        ..Config::defaults()
    };
    let app = TestApp::with_config(config).await;
    let preflight = |origin: &'static str| {
        Request::options("/healthz")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
            .body(Body::empty())
            .unwrap()
    };
    let allowed = app.send(preflight("https://app.example.org")).await;
    assert!(allowed.status.is_success(), "{allowed:?}");
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example.org")
    );
    assert!(
        allowed
            .header("access-control-allow-headers")
            .is_some_and(|h| h.contains("authorization")),
        "{allowed:?}"
    );

    let other = app.send(preflight("https://evil.example.com")).await;
    assert_eq!(other.header("access-control-allow-origin"), None);

    let simple = app
        .send(
            Request::get("/healthz")
                .header(header::ORIGIN, "https://app.example.org")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        simple.header("access-control-allow-origin"),
        Some("https://app.example.org")
    );
}

#[tokio::test]
async fn responses_are_compressed_when_asked() {
    let app = TestApp::new().await;
    let response = app
        .send(
            Request::get("/openapi.json")
                .header(header::ACCEPT_ENCODING, "gzip")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("content-encoding"), Some("gzip"));
    assert_eq!(&response.body[..2], &[0x1f, 0x8b], "a gzip stream");
}

#[tokio::test]
async fn the_docs_page_works_offline() {
    let app = TestApp::new().await;
    let page = app.get("/docs/").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8(page.body.clone()).unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // Every script and stylesheet is served by us, none from a CDN.
    for line in html.lines().filter(|l| l.contains("src=") || l.contains("href=")) {
        assert!(
            !line.contains("http://") && !line.contains("https://"),
            "external asset: {line}"
        );
    }
    for asset in [
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-ui.css",
        "/docs/swagger-initializer.js",
    ] {
        let response = app.get(asset).await;
        assert_eq!(response.status, StatusCode::OK, "{asset}");
        assert!(response.body.len() > 100, "{asset}");
    }
    let initializer = String::from_utf8(app.get("/docs/swagger-initializer.js").await.body).unwrap();
    assert!(initializer.contains("/openapi.json"), "{initializer}");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::new().await;
    for uri in [
        "/v1/sites",
        "/v1/sites?limit=0",
        "/no/such/path",
        "/docs/",
        "/openapi.json",
    ] {
        let response = app.get(uri).await;
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"), "{uri}");
        assert_eq!(response.header("referrer-policy"), Some("no-referrer"), "{uri}");
        assert_eq!(
            response.header("content-security-policy"),
            Some(clinical_sites::http::CONTENT_SECURITY_POLICY),
            "{uri}"
        );
    }
}

/// Headless Chromium, if the machine has it.
fn chromium() -> Option<std::path::PathBuf> {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .map(std::path::PathBuf::from)
    .find(|path| path.is_file())
}

/// The `/docs` page in a real browser, under the service's content security policy: Swagger UI
/// renders every operation and the browser reports no blocked script, style or image. Needs
/// Chromium: without it the test says so and passes, unless `REQUIRE_BROWSER` is set (`.ci/run`
/// sets it, and installs Chromium).
#[test]
fn the_docs_page_renders_in_a_browser_under_its_content_security_policy() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("REQUIRE_BROWSER").is_none(),
            "REQUIRE_BROWSER is set but no Chromium is installed"
        );
        eprintln!("skipped: no Chromium on this machine (apt-get install chromium)");
        return;
    };
    let dir = crate::support::TempDir::new("browser");
    let service = client::Service::start(client::service_command(&dir.0));
    let profile = dir.0.join("profile");
    let output = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("http://{}/docs/", service.addr))
        .output()
        .expect("running Chromium");
    let dom = String::from_utf8_lossy(&output.stdout);
    let log = String::from_utf8_lossy(&output.stderr);
    for path in ["/v1/sites", "/v1/sites/{site_id}", "/v1/vocabulary"] {
        assert!(
            dom.contains(&format!("data-path=\"{path}\"")),
            "Swagger UI did not render {path}:\n{log}"
        );
    }
    assert!(
        !log.contains("Content Security Policy"),
        "the page broke its policy:\n{log}"
    );
    let (code, output) = service.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "{output}");
}

/// A real server for `router` with the production `serve`, stopped by the returned sender.
async fn spawn_server(
    router: Router,
    grace: Duration,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let options = ServeOptions {
        grace,
        ..ServeOptions::new(&Config::defaults())
    };
    let server = tokio::spawn(serve(listener, router, options, async move {
        let _ = stop_rx.await;
    }));
    (addr, stop_tx, server)
}

#[tokio::test]
async fn graceful_shutdown_lets_an_in_flight_request_finish() {
    let routes = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(800)).await;
            "finished"
        }),
    );
    let router = with_middleware(routes, &Config::defaults());
    let (addr, stop_tx, server) = spawn_server(router, Duration::from_secs(10)).await;

    let in_flight = tokio::task::spawn_blocking(move || client::request(addr, "GET", "/slow"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop_tx.send(()).unwrap();

    let (status, body) = in_flight.await.unwrap().expect("the in-flight request is answered");
    assert_eq!((status, body.as_str()), (200, "finished"));
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops once the request is done")
        .unwrap()
        .unwrap();
    assert!(
        client::request(addr, "GET", "/slow").is_err(),
        "no new connections after shutdown"
    );
}

#[tokio::test]
async fn graceful_shutdown_is_bounded() {
    let routes = Router::new().route(
        "/stuck",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(600)).await;
            "never"
        }),
    );
    let config = Config {
        request_timeout_secs: 3600,
        ..Config::defaults()
    };
    let router = with_middleware(routes, &config);
    let (addr, stop_tx, server) = spawn_server(router, Duration::from_millis(300)).await;
    let _stuck = tokio::task::spawn_blocking(move || client::request(addr, "GET", "/stuck"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the grace period ends the wait")
        .unwrap()
        .unwrap();
}
