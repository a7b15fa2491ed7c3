//! What an operator watches: `/metrics` in Prometheus's format (checked by the real `promtool`),
//! and the JSON request log (one line per request, never a credential).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::client::{Service, request_with, service_command};
use crate::support::{PASSWORD, TempDir, TestDb, server};

/// The service binary on a fresh database of the test server, with `env` set.
async fn service(env: &[(&str, &str)]) -> (Service, TestDb, TempDir) {
    let db = TestDb::new().await;
    let dir = TempDir::new("observed");
    let mut command = service_command(&dir.0);
    command.env("DATABASE_URL", server().url(&db.name));
    for (name, value) in env {
        command.env(name, value);
    }
    let service = tokio::task::spawn_blocking(move || Service::start(command))
        .await
        .unwrap();
    (service, db, dir)
}

/// The value of the sample `series` (name and labels exactly as rendered), if present.
fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

/// `promtool check metrics` on `exposition`: `None` when promtool is not installed (and the run
/// does not require it), else its verdict and output.
fn promtool_check(exposition: &str) -> Option<(bool, String)> {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) => {
            assert!(
                std::env::var_os("REQUIRE_PROMTOOL").is_none(),
                "promtool is required (REQUIRE_PROMTOOL) but cannot run: {error}"
            );
            eprintln!("skipped: promtool is not installed (apt-get install prometheus)");
            return None;
        }
    };
    child.stdin.take().unwrap().write_all(exposition.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some((output.status.success(), text))
}

const VOCABULARY_OK: &str = r#"http_requests_total{route="/v1/vocabulary",method="GET",status="200"}"#;

#[tokio::test]
async fn metrics_pass_promtool_and_a_request_moves_its_counter() {
    let (service, _db, _dir) = service(&[]).await;
    let outcome = tokio::task::spawn_blocking(move || {
        assert_eq!(service.get("/v1/vocabulary").0, 200);
        // An unknown path is counted under one series, not one per path.
        assert_eq!(service.get("/no/such/path/12345").0, 404);
        let (status, first) = service.get("/metrics");
        assert_eq!(status, 200, "{first}");
        assert_eq!(service.get("/v1/vocabulary").0, 200);
        let (_, second) = service.get("/metrics");
        (first, second, service.stop(libc::SIGTERM))
    })
    .await
    .unwrap();
    let (first, second, _) = outcome;
    assert_eq!(sample(&first, VOCABULARY_OK), Some(1.0), "{first}");
    assert_eq!(
        sample(&second, VOCABULARY_OK),
        Some(2.0),
        "one more request, one more count:\n{second}"
    );
    assert!(
        first.contains(r#"route="<unmatched>",method="GET",status="404""#),
        "{first}"
    );
    assert!(!first.contains("12345"), "raw paths never become labels");
    assert!(
        second.contains(r#"http_request_duration_seconds_bucket{route="/v1/vocabulary",method="GET",le="0.005"}"#),
        "latency histogram:\n{second}"
    );
    for series in [
        "http_requests_in_flight",
        r#"db_pool_connections{pool="primary",state="idle"}"#,
        r#"db_pool_connections{pool="search",state="in_use"}"#,
        r#"db_pool_max_connections{pool="primary"}"#,
    ] {
        assert!(sample(&second, series).is_some(), "{series} missing from:\n{second}");
    }
    assert!(second.contains("# HELP http_requests_total "), "described:\n{second}");
    if let Some((ok, output)) = promtool_check(&second) {
        assert!(ok, "promtool check metrics failed:\n{output}\n---\n{second}");
    }
    // A test of promtool itself: it rejects an exposition that is not one.
    if let Some((ok, _)) = promtool_check("http_requests_total{route=\"/x\" 1\n") {
        assert!(!ok, "promtool accepts anything");
    }
}

#[tokio::test]
async fn with_metrics_addr_the_metrics_are_served_there_only() {
    let (mut service, _db, _dir) = service(&[("METRICS_ADDR", "127.0.0.1:0")]).await;
    tokio::task::spawn_blocking(move || {
        let line = service
            .wait_for_line(|line| line.contains("/metrics"), Duration::from_secs(10))
            .or_else(|| {
                service
                    .output
                    .iter()
                    .find(|l| l.contains("metrics on http://"))
                    .cloned()
            })
            .expect("the metrics address is logged");
        let address: std::net::SocketAddr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|address| address.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line}"));
        assert_ne!(address, service.addr);
        let (status, body) = request_with(address, "GET", "/metrics", None, None).unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("db_pool_max_connections"), "{body}");
        let (status, body) = service.get("/metrics");
        assert_eq!(status, 404, "not on the public listener: {body}");
        service.stop(libc::SIGTERM);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn json_request_logs_name_the_request_and_account_and_never_a_credential() {
    let (service, _db, _dir) = service(&[("LOG_FORMAT", "json"), ("RUST_LOG", "debug")]).await;
    let (account_id, token, output) = tokio::task::spawn_blocking(move || {
        let email = "logged.member@example.org";
        let body = serde_json::json!({"email": email, "display_name": "Logged Member", "password": PASSWORD});
        let (status, account) =
            request_with(service.addr, "POST", "/v1/accounts", None, Some(&body.to_string())).unwrap();
        assert_eq!(status, 201, "{account}");
        let account: serde_json::Value = serde_json::from_str(&account).unwrap();
        let body = serde_json::json!({"email": email, "password": PASSWORD});
        let (status, session) =
            request_with(service.addr, "POST", "/v1/sessions", None, Some(&body.to_string())).unwrap();
        assert_eq!(status, 201, "{session}");
        let session: serde_json::Value = serde_json::from_str(&session).unwrap();
        let token = session["token"].as_str().unwrap().to_owned();
        let (status, me) = request_with(service.addr, "GET", "/v1/me", Some(&token), None).unwrap();
        assert_eq!(status, 200, "{me}");
        // A wrong password and a made-up token are not logged either.
        let wrong = serde_json::json!({"email": email, "password": "wrong-password-9c1e"});
        let _ = request_with(service.addr, "POST", "/v1/sessions", None, Some(&wrong.to_string()));
        let _ = request_with(service.addr, "GET", "/v1/me", Some("cs_made_up_token_4d2a"), None);
        let (_, output) = service.stop(libc::SIGTERM);
        (account["account_id"].as_str().unwrap().to_owned(), token, output)
    })
    .await
    .unwrap();
    for secret in [
        PASSWORD,
        token.as_str(),
        "wrong-password-9c1e",
        "cs_made_up_token_4d2a",
        "Bearer",
    ] {
        assert!(!output.contains(secret), "{secret:?} was logged:\n{output}");
    }
    assert!(!output.to_ascii_lowercase().contains("authorization:"), "{output}");
    let finished: Vec<serde_json::Value> = output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}")))
        .filter(|event: &serde_json::Value| event["message"] == "finished")
        .collect();
    let me: Vec<_> = finished
        .iter()
        .filter(|event| event["span"]["route"] == "/v1/me")
        .collect();
    assert_eq!(me.len(), 2, "one line per request: {finished:#?}");
    let signed_in = me.iter().find(|event| event["span"]["status"] == 200).unwrap();
    assert_eq!(signed_in["span"]["account_id"], account_id.as_str());
    assert_eq!(signed_in["span"]["method"], "GET");
    assert!(
        signed_in["span"]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert!(signed_in["span"]["latency_ms"].is_number());
    let refused = me.iter().find(|event| event["span"]["status"] == 401).unwrap();
    assert!(refused["span"].get("account_id").is_none(), "{refused}");
    let sign_ins = finished
        .iter()
        .filter(|event| event["span"]["route"] == "/v1/sessions")
        .count();
    assert_eq!(sign_ins, 2);
}
