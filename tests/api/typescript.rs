//! The contract as a frontend team meets it: a TypeScript client generated from the committed
//! `openapi.yaml` (openapi-typescript + openapi-fetch), a scenario written against it compiled
//! under `--strict` with no casts and no `any` (`tests/typescript/scenario.ts`), then run against
//! the server; and Redocly's recommended rules over the document, with no error and no warning.
//!
//! Needs Node.js and npm (the packages come from the npm registry, pinned by
//! `tests/typescript/package-lock.json`). Without Node the tests say so and pass, unless
//! `REQUIRE_NODE` is set (`.ci/run` sets it, and installs Node when it is missing).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::support::TestApp;

fn project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/typescript")
}

/// Installs the pinned packages once per test run; `false` when Node is not available.
fn toolchain() -> bool {
    static INSTALLED: Mutex<Option<bool>> = Mutex::new(None);
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(ready) = *installed {
        return ready;
    }
    let has_node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        && Command::new("npm")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !has_node {
        assert!(
            std::env::var_os("REQUIRE_NODE").is_none(),
            "REQUIRE_NODE is set but Node.js and npm are not installed"
        );
        eprintln!("skipped: no Node.js on this machine");
        *installed = Some(false);
        return false;
    }
    let dir = project();
    let stamp = dir.join("node_modules/.package-lock.json");
    let lock = dir.join("package-lock.json");
    let fresh = match (std::fs::metadata(&stamp), std::fs::metadata(&lock)) {
        (Ok(stamp), Ok(lock)) => stamp.modified().unwrap() >= lock.modified().unwrap(),
        _ => false,
    };
    if !fresh {
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir));
    }
    *installed = Some(true);
    true
}

/// Runs `command`, failing the test with its output if it fails; returns its stdout.
fn run(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

fn bin(name: &str) -> PathBuf {
    project().join("node_modules/.bin").join(name)
}

/// What would make the scenario a weaker test than it looks: a cast, `any`, a non-null assertion
/// or a silenced error. Each is a line that the typed client did not make safe.
fn escape_hatches(source: &str) -> Vec<String> {
    source
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//") && !line.trim_start().starts_with("import"))
        .filter(|(_, line)| {
            let code = line.split("//").next().unwrap_or("");
            let words: Vec<&str> = code
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty())
                .collect();
            words.contains(&"as")
                || words.contains(&"any")
                || code.contains("!.")
                || code.contains("!;")
                || code.contains("!)")
                || code.contains("@ts-")
                || code.contains("<unknown>")
        })
        .map(|(n, line)| format!("{}: {line}", n + 1))
        .collect()
}

#[test]
fn the_escape_hatch_check_finds_casts_and_any() {
    let found = escape_hatches(
        "const a = b as Site;\nconst c: any = 1;\nconst d = e!.f;\nconst ok = { value: 1 };\n// as any in a comment\n",
    );
    assert_eq!(found.len(), 3, "{found:?}");
}

/// The scenario compiles against the generated client and passes against the real server.
#[tokio::test]
async fn a_typescript_client_generated_from_the_contract_compiles_strictly_and_runs() {
    if !tokio::task::spawn_blocking(toolchain).await.unwrap() {
        return;
    }
    let dir = project();
    let source = std::fs::read_to_string(dir.join("scenario.ts")).unwrap();
    let hatches = escape_hatches(&source);
    assert!(
        hatches.is_empty(),
        "the scenario must need no casts:\n{}",
        hatches.join("\n")
    );

    let generate_and_compile = {
        let dir = dir.clone();
        move || {
            run(Command::new(bin("openapi-typescript"))
                .args(["../../openapi.yaml", "-o", "generated/api.d.ts"])
                .current_dir(&dir));
            run(Command::new(bin("tsc")).args(["-p", "."]).current_dir(&dir));
        }
    };
    tokio::task::spawn_blocking(generate_and_compile).await.unwrap();

    let app = TestApp::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(
        axum::serve(
            listener,
            app.router.clone().into_make_service_with_connect_info::<SocketAddr>(),
        )
        .into_future(),
    );
    let output = tokio::process::Command::new("node")
        .arg("build/scenario.js")
        .env("API_URL", format!("http://{addr}"))
        .current_dir(&dir)
        .output()
        .await
        .expect("running node");
    server.abort();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the scenario failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("scenario passed"), "{stdout}\n{stderr}");
}

/// Redocly's recommended rules find nothing to report in the committed document.
#[test]
fn redocly_finds_no_error_and_no_warning_in_the_contract() {
    if !toolchain() {
        return;
    }
    let output = Command::new(bin("redocly"))
        .args(["lint", "--format=summary", "../../openapi.yaml"])
        .env("REDOCLY_TELEMETRY", "off")
        .env("REDOCLY_SUPPRESS_UPDATE_NOTICE", "true")
        .current_dir(project())
        .output()
        .expect("running redocly");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "Redocly found errors:\n{report}");
    // The summary lists each rule that fired as `error <rule>: N` or `warning <rule>: N`.
    let findings: Vec<&str> = report
        .lines()
        .filter(|line| line.starts_with("error ") || line.starts_with("warning "))
        .collect();
    assert!(findings.is_empty(), "Redocly reports:\n{report}");
    assert!(report.contains("Your API description is valid"), "{report}");
}
