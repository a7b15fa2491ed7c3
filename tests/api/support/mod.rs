//! Test harness: one PostgreSQL server per test run, one freshly migrated database per test.
//!
//! The server is the one named by `DATABASE_URL`, or else a private cluster started in a temporary
//! folder on first use and removed (process and folder) when the test process exits, whether tests
//! passed, failed or panicked. Databases are cloned from a template migrated once per run.

pub mod client;
pub mod schema;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use clinical_sites::config::Config;
use clinical_sites::error::{PROBLEM_JSON, Problem};
use clinical_sites::postgres::{Binaries, ClusterOptions, LocalCluster};
use clinical_sites::{AppState, app, db};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tower::ServiceExt;

/// Prefix of the temporary folders of test-run clusters (swept when their process is gone).
const TEMP_PREFIX: &str = "cs-test-";
/// Prefix of the temporary folders of [`TempDir`].
const TEMP_DIR_PREFIX: &str = "cs-tmp-";

/// The server every test of this run uses.
pub struct Server {
    /// Connects to the maintenance database (`postgres`, or the one in `DATABASE_URL`).
    admin: PgConnectOptions,
    /// A URL for the same server, for child processes (the service binary).
    url_base: ServerUrl,
    /// The migrated template every test database is cloned from.
    template: String,
    /// Names databases of this run.
    run: String,
}

enum ServerUrl {
    External(String),
    Socket(PathBuf),
}

/// The test-run cluster and its folder, stopped and removed at exit.
static LOCAL: Mutex<Option<(LocalCluster, PathBuf)>> = Mutex::new(None);
static SERVER: OnceLock<Server> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The run's server, started and templated on first use.
pub fn server() -> &'static Server {
    // Runs on its own thread: each test has its own tokio runtime, and the cluster's guardian thread
    // must not be a test thread.
    SERVER.get_or_init(|| {
        std::thread::spawn(start_server)
            .join()
            .expect("starting the test database server")
    })
}

fn start_server() -> Server {
    let run = format!("{}_{}", std::process::id(), unique_suffix());
    let (admin, url_base) = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            let options = PgConnectOptions::from_str(&url).expect("DATABASE_URL is a PostgreSQL URL");
            (options, ServerUrl::External(url))
        }
        _ => {
            sweep_leftover_clusters();
            let folder = std::env::temp_dir().join(format!("{TEMP_PREFIX}{}", std::process::id()));
            create_searchable_dir(&folder);
            let binaries = Binaries::find(None).expect("PostgreSQL server binaries for the test cluster");
            let cluster = LocalCluster::start(
                &binaries,
                &ClusterOptions {
                    data_dir: folder.join("pg"),
                    log_file: folder.join("postgres.log"),
                    durable: false,
                },
            )
            .expect("starting the test cluster");
            let admin = cluster.connect_options("postgres");
            let socket = folder.join("pg");
            *LOCAL.lock().unwrap() = Some((cluster, folder));
            (admin, ServerUrl::Socket(socket))
        }
    };
    // SAFETY: registering a plain extern "C" function with no captured state.
    unsafe { libc::atexit(clean_up_at_exit) };
    let template = format!("cs_template_{run}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut conn = PgConnection::connect_with(&admin)
            .await
            .expect("connecting to the test server");
        sqlx::query(AssertSqlSafe(format!("create database {template}")))
            .execute(&mut conn)
            .await
            .expect("creating the template database");
        conn.close().await.ok();
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(admin.clone().database(&template))
            .await
            .expect("connecting to the template");
        db::migrate(&pool).await.expect("migrating the template");
        pool.close().await;
    });
    Server {
        admin,
        url_base,
        template,
        run,
    }
}

/// At exit, whatever the tests' outcome: stop and remove the run's own cluster, or drop the run's
/// template from the external server (test databases there are dropped test by test).
extern "C" fn clean_up_at_exit() {
    if let Some((cluster, folder)) = LOCAL.lock().ok().and_then(|mut local| local.take()) {
        cluster.stop();
        let _ = std::fs::remove_dir_all(folder);
        return;
    }
    if let Some(server) = SERVER.get() {
        let admin = server.admin.clone();
        let template = server.template.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect_with(&admin).await.ok()?;
                let drop = format!("drop database if exists {template} with (force)");
                sqlx::query(AssertSqlSafe(drop)).execute(&mut conn).await.ok()
            })
        })
        .join();
    }
}

/// Removes folders (and stops clusters) left by test processes that were killed before their exit
/// handler ran: `cs-test-<pid>` and `cs-tmp-<pid>-*` whose process is gone.
fn sweep_leftover_clusters() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(TEMP_PREFIX)
            .or_else(|| name.strip_prefix(TEMP_DIR_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue; // its test process is still running
        }
        for data_dir in ["pg", "postgres"].map(|d| entry.path().join(d)) {
            if let Ok(binaries) = Binaries::find(None)
                && data_dir.join("postmaster.pid").exists()
            {
                // Adopting a leftover cluster is the way to stop it cleanly.
                let options = ClusterOptions {
                    log_file: entry.path().join("sweep.log"),
                    data_dir,
                    durable: false,
                };
                if let Ok(cluster) = LocalCluster::start(&binaries, &options) {
                    cluster.stop();
                }
            }
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

fn unique_suffix() -> String {
    uuid::Uuid::now_v7().simple().to_string()[20..].to_owned()
}

impl Server {
    /// A URL a child process can connect to `database` with.
    pub fn url(&self, database: &str) -> String {
        match &self.url_base {
            ServerUrl::External(url) => {
                let (head, query) = url.split_once('?').map_or((url.as_str(), None), |(h, q)| (h, Some(q)));
                let authority_end = head.find("://").map_or(0, |i| i + 3);
                let base = match head[authority_end..].find('/') {
                    Some(slash) => &head[..authority_end + slash],
                    None => head,
                };
                match query {
                    Some(query) => format!("{base}/{database}?{query}"),
                    None => format!("{base}/{database}"),
                }
            }
            ServerUrl::Socket(dir) => format!("postgres://postgres@localhost/{database}?host={}", dir.display()),
        }
    }

    /// Options to connect to `database` as the test superuser.
    pub fn options(&self, database: &str) -> PgConnectOptions {
        self.admin.clone().database(database)
    }
}

/// A database of its own for one test, cloned from the migrated template; dropped afterwards.
pub struct TestDb {
    /// Its name.
    pub name: String,
}

impl TestDb {
    /// Creates a fresh, migrated database.
    pub async fn new() -> Self {
        let server = server();
        let name = format!("cs_test_{}_{}", server.run, COUNTER.fetch_add(1, Ordering::Relaxed));
        let mut conn = PgConnection::connect_with(&server.admin)
            .await
            .expect("connecting to the test server");
        sqlx::query(AssertSqlSafe(format!(
            "create database {name} template {}",
            server.template
        )))
        .execute(&mut conn)
        .await
        .expect("cloning the template database");
        conn.close().await.ok();
        Self { name }
    }

    /// A pool on this database.
    pub fn pool(&self) -> PgPool {
        db::pool(server().options(&self.name), 5)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Databases on the run's own cluster vanish with its folder.
        if !matches!(server().url_base, ServerUrl::External(_)) {
            return;
        }
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut conn) = PgConnection::connect_with(&server().admin).await {
                    let _ = sqlx::query(AssertSqlSafe(format!("drop database if exists {name} with (force)")))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// The production application on a fresh database.
pub struct TestApp {
    /// The router under test: `clinical_sites::app`.
    pub router: Router,
    /// The test's database, for arranging and asserting rows directly.
    #[allow(dead_code)] // resource tests arrange and assert rows through it
    pub pool: PgPool,
    /// Keeps the database alive for the test.
    #[allow(dead_code)] // held for its `Drop`
    pub db: TestDb,
    /// The router's state.
    #[allow(dead_code)] // tests that write rows directly make its search index catch up
    pub state: AppState,
}

impl TestApp {
    /// Makes the search index read the change feed now, as its background sync does every
    /// second: for tests that write rows directly rather than through the API.
    #[allow(dead_code)]
    pub async fn sync_search(&self) {
        self.state.sync_search_index().await.expect("reading the change feed");
    }

    /// The application with default configuration.
    pub async fn new() -> Self {
        Self::with_config(Config::defaults()).await
    }

    /// The application with `config`.
    pub async fn with_config(config: Config) -> Self {
        let db = TestDb::new().await;
        let pool = db.pool();
        let state = AppState::new(pool.clone(), config);
        let router = app(state.clone());
        Self {
            router,
            pool,
            db,
            state,
        }
    }

    /// Sends `request` through the router.
    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        send(&self.router, request).await
    }

    /// `GET uri`.
    pub async fn get(&self, uri: &str) -> TestResponse {
        self.send(Request::get(uri).body(Body::empty()).unwrap()).await
    }

    /// `method uri` with a JSON body.
    pub async fn json(&self, method: Method, uri: &str, body: &Value) -> TestResponse {
        self.send(
            Request::builder()
                .method(method)
                .uri(uri)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }
}

/// Accounts and credentials for tests.
impl TestApp {
    /// `method uri` as the holder of `token`, with an optional JSON body.
    pub async fn call(&self, method: Method, uri: &str, token: Option<&str>, body: Option<&Value>) -> TestResponse {
        self.call_with(method, uri, token, body, &[]).await
    }

    /// Like [`TestApp::call`], with extra request headers.
    pub async fn call_with(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        self.send(request(method, uri, token, body, headers)).await
    }

    /// Like [`TestApp::call`], as if sent from the client address `peer`: the server reads it from
    /// `ConnectInfo`, which a real listener sets and `oneshot` does not (requests sent otherwise
    /// come from no address, one shared "unknown" client to the rate limits).
    #[allow(dead_code)] // used by some test modules only
    pub async fn call_from(
        &self,
        peer: std::net::IpAddr,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> TestResponse {
        let mut request = request(method, uri, token, body, &[]);
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::new(peer, 40_000)));
        self.send(request).await
    }

    /// Signs up `email` with `password`; returns the created account.
    pub async fn sign_up(&self, email: &str, password: &str) -> Value {
        let body = serde_json::json!({"email": email, "display_name": "Test Member", "password": password});
        let response = self.json(Method::POST, "/v1/accounts", &body).await;
        assert_eq!(response.status, StatusCode::CREATED, "sign-up: {response:?}");
        response.json()
    }

    /// Signs in; returns the session token.
    pub async fn sign_in(&self, email: &str, password: &str) -> String {
        let body = serde_json::json!({"email": email, "password": password});
        let response = self.json(Method::POST, "/v1/sessions", &body).await;
        assert_eq!(response.status, StatusCode::CREATED, "sign-in: {response:?}");
        response.json()["token"].as_str().unwrap().to_owned()
    }

    /// A new member, signed in: (account id, token).
    pub async fn member(&self, name: &str) -> (String, String) {
        let email = format!("{name}@example.org");
        let account = self.sign_up(&email, PASSWORD).await;
        let token = self.sign_in(&email, PASSWORD).await;
        (account["account_id"].as_str().unwrap().to_owned(), token)
    }

    /// A new administrator, signed in: (account id, token).
    pub async fn admin(&self, name: &str) -> (String, String) {
        let email = format!("{name}@example.org");
        let (account, password) = clinical_sites::accounts::create_admin(&self.pool, &email, "Test Admin")
            .await
            .expect("creating an admin");
        let token = self.sign_in(&email, &password).await;
        (account.account_id.to_string(), token)
    }
}

/// `method uri` as the holder of `token`, with an optional JSON body and extra headers.
pub fn request(
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    match body {
        Some(body) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap()
}

/// A valid site body: `name` in `zip`, with a CT offer.
pub fn site_body(name: &str, zip: &str) -> Value {
    serde_json::json!({
        "name": name,
        "site_type": "imaging_center",
        "city": "Columbus",
        "state": "OH",
        "postal_code": zip,
        "payment": "free",
        "offers": {"ct": {"accepting": true, "verifier_on_site": true, "accepts": ["independent"]}}
    })
}

impl TestApp {
    /// Creates a site as `token`; returns the created site.
    pub async fn create_site(&self, token: &str, body: &Value) -> Value {
        let response = self.call(Method::POST, "/v1/sites", Some(token), Some(body)).await;
        assert_eq!(response.status, StatusCode::CREATED, "creating a site: {response:?}");
        response.json()
    }

    /// `PATCH /v1/sites/{id}` with `If-Match: etag`.
    pub async fn patch_site(&self, token: &str, site_id: &str, etag: &str, patch: &Value) -> TestResponse {
        let uri = format!("/v1/sites/{site_id}");
        self.call_with(Method::PATCH, &uri, Some(token), Some(patch), &[("if-match", etag)])
            .await
    }

    /// The site's current ETag.
    pub async fn etag(&self, site_id: &str) -> String {
        let response = self.get(&format!("/v1/sites/{site_id}")).await;
        response.header("etag").expect("an ETag").to_owned()
    }

    /// How many history rows the site has.
    pub async fn history_count(&self, site_id: &str) -> i64 {
        sqlx::query_scalar("select count(*) from site_change where site_id = $1::uuid")
            .bind(site_id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

/// Applies `patch` to `target` as a JSON merge patch (the server's own implementation).
pub fn merge(target: &mut Value, patch: &Value) {
    clinical_sites::sites::input::merge_patch(target, patch);
}

/// The password every test member signs up with.
pub const PASSWORD: &str = "correct horse battery staple";

/// Sends `request` through any router.
pub async fn send(router: &Router, request: Request<Body>) -> TestResponse {
    let response = router.clone().oneshot(request).await.expect("routers are infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("reading the body")
        .to_vec();
    TestResponse { status, headers, body }
}

/// A response, read whole.
#[derive(Debug)]
pub struct TestResponse {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Vec<u8>,
}

impl TestResponse {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as a problem, checking the media type and that the status matches.
    pub fn problem(&self) -> Problem {
        assert_eq!(
            self.header(header::CONTENT_TYPE.as_str()),
            Some(PROBLEM_JSON),
            "an error must be problem+json: {self:?}"
        );
        let problem: Problem = serde_json::from_slice(&self.body).expect("a problem document");
        assert_eq!(problem.status, self.status.as_u16());
        assert!(!problem.title.is_empty() && !problem.detail.is_empty() && problem.kind.starts_with("/problems/"));
        problem
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The pids of `postgres` processes whose command line mentions `needle` (a data folder).
pub fn postgres_processes(needle: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
        if cmdline.contains("postgres") && cmdline.contains(needle) && !zombie {
            pids.push(pid);
        }
    }
    pids
}

/// A small, seeded random source (xorshift64*) for tests that generate data: the same seed makes the
/// same data, so a failure names the seed that reproduces it.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A number in `[0, 1)`.
    #[allow(dead_code)] // used by some test modules only
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// One of `items`.
    #[allow(dead_code)] // used by some test modules only
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Creates `dir` searchable by everyone whatever the umask, so that PostgreSQL's account (as root:
/// `postgres`) can reach a cluster inside it.
fn create_searchable_dir(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).expect("creating a temporary folder");
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("opening a temporary folder");
}

/// A temporary folder removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new, empty folder under the system's temporary folder.
    pub fn new(label: &str) -> Self {
        let name = format!("{TEMP_DIR_PREFIX}{}-{label}-{}", std::process::id(), unique_suffix());
        let path = std::env::temp_dir().join(name);
        create_searchable_dir(&path);
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
