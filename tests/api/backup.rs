//! Backup and restore: `clinical-sites backup FILE` of a database with sites, reports and
//! accounts, restored with `clinical-sites restore FILE` into a fresh private cluster, serves the
//! same; a restore that cannot read its file changes nothing.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::reports::report_body;
use crate::support::client::{Service, request_with, service_command};
use crate::support::{PASSWORD, TempDir, TestApp, server, site_body};

fn run(mut command: std::process::Command) -> std::process::Output {
    let output = command.output().expect("running the binary");
    assert!(
        output.status.success(),
        "{:?} failed:\n{}\n{}",
        command.get_args().collect::<Vec<_>>(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[tokio::test]
async fn a_backup_restored_into_a_fresh_cluster_serves_the_same_sites_reports_and_accounts() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let (_, member) = app.member("member").await;
    let site = app
        .create_site(&admin, &site_body("Riverside Imaging Center", "43210"))
        .await;
    let site_id = site["site_id"].as_str().unwrap().to_owned();
    let reports_uri = format!("/v1/sites/{site_id}/reports");
    let response = app
        .call(
            Method::POST,
            &reports_uri,
            Some(&member),
            Some(&report_body("ct", 2022)),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{response:?}");
    let before_site: Value = app.get(&format!("/v1/sites/{site_id}")).await.json();
    let before_reports: Value = app.get(&reports_uri).await.json();
    assert_eq!(before_reports["items"].as_array().unwrap().len(), 1);

    let dir = TempDir::new("backup");
    let file = dir.0.join("clinical-sites.backup");
    let mut backup = service_command(&dir.0.join("unused"));
    backup
        .env("DATABASE_URL", server().url(&app.db.name))
        .arg("backup")
        .arg(&file);
    let data_dir = dir.0.join("data");
    let (restored, refused, service) = tokio::task::spawn_blocking({
        let (file, data_dir, junk) = (file.clone(), data_dir.clone(), dir.0.join("junk.backup"));
        move || {
            run(backup);
            assert!(std::fs::metadata(&file).unwrap().len() > 0, "the backup was written");
            let mut restore = service_command(&data_dir);
            restore.arg("restore").arg(&file);
            let restored = run(restore);
            // A file that is no backup: refused, and the restored data stays.
            std::fs::write(&junk, b"not a backup").unwrap();
            let mut refused = service_command(&data_dir);
            refused.arg("restore").arg(&junk);
            let refused = refused.output().unwrap();
            (restored, refused, Service::start(service_command(&data_dir)))
        }
    })
    .await
    .unwrap();
    assert!(String::from_utf8_lossy(&restored.stdout).contains("restored"));
    assert!(!refused.status.success(), "a junk file was restored");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("pg_restore"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let addr = service.addr;
    let (site_status, site_body, reports_status, reports_body, sign_in_status) =
        tokio::task::spawn_blocking(move || {
            let (site_status, site_body) =
                request_with(addr, "GET", &format!("/v1/sites/{site_id}"), None, None).unwrap();
            let (reports_status, reports_body) = request_with(addr, "GET", &reports_uri, None, None).unwrap();
            let sign_in = json!({"email": "member@example.org", "password": PASSWORD}).to_string();
            let (sign_in_status, _) = request_with(addr, "POST", "/v1/sessions", None, Some(&sign_in)).unwrap();
            (site_status, site_body, reports_status, reports_body, sign_in_status)
        })
        .await
        .unwrap();
    let (code, output) = tokio::task::spawn_blocking(move || service.stop(libc::SIGTERM))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(site_status, 200, "{site_body}");
    assert_eq!(serde_json::from_str::<Value>(&site_body).unwrap(), before_site);
    assert_eq!(reports_status, 200, "{reports_body}");
    assert_eq!(serde_json::from_str::<Value>(&reports_body).unwrap(), before_reports);
    assert_eq!(sign_in_status, 201, "the member's account and password came back");

    // The same backup restored over another database named by DATABASE_URL.
    let other = crate::support::TestDb::new().await;
    let mut restore = service_command(&dir.0.join("unused"));
    restore
        .env("DATABASE_URL", server().url(&other.name))
        .arg("restore")
        .arg(&file);
    tokio::task::spawn_blocking(move || run(restore)).await.unwrap();
    let names: Vec<String> = sqlx::query_scalar("select name from site")
        .fetch_all(&other.pool())
        .await
        .unwrap();
    assert_eq!(names, ["Riverside Imaging Center"]);
    let reports: i64 = sqlx::query_scalar("select count(*) from site_report")
        .fetch_one(&other.pool())
        .await
        .unwrap();
    assert_eq!(reports, 1);
}
