//! The private cluster: first start, restart, recovery from a crash's leftovers, adoption.

use std::time::Duration;

use clinical_sites::postgres::{Binaries, ClusterOptions, LocalCluster};
use sqlx::{Connection, PgConnection};

use crate::support::{TempDir, postgres_processes};

fn options(dir: &TempDir) -> ClusterOptions {
    ClusterOptions {
        data_dir: dir.0.join("pg"),
        log_file: dir.0.join("postgres.log"),
        durable: false,
    }
}

fn start(dir: &TempDir) -> LocalCluster {
    let binaries = Binaries::find(None).expect("PostgreSQL server binaries");
    LocalCluster::start(&binaries, &options(dir)).expect("the cluster starts")
}

/// Runs a query on a blocking-friendly runtime of its own.
fn select_one(cluster: &LocalCluster) -> i32 {
    let options = cluster.connect_options("postgres");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut conn = PgConnection::connect_with(&options)
            .await
            .expect("connecting over the socket");
        let one: i32 = sqlx::query_scalar("select 1").fetch_one(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        one
    })
}

fn data_dir_text(dir: &TempDir) -> String {
    dir.0.join("pg").display().to_string()
}

#[test]
fn a_cluster_starts_listens_only_on_its_socket_and_stops_cleanly() {
    let dir = TempDir::new("cluster");
    let cluster = start(&dir);
    assert!(!cluster.was_adopted());
    assert_eq!(select_one(&cluster), 1);
    assert!(
        dir.0.join("pg/.s.PGSQL.5432").exists(),
        "the socket is inside the data folder"
    );
    let conf = std::fs::read_to_string(format!("/proc/{}/cmdline", cluster.pid())).unwrap();
    assert!(conf.contains("listen_addresses=\0"), "no TCP listener: {conf:?}");
    cluster.stop();
    assert!(postgres_processes(&data_dir_text(&dir)).is_empty());
}

#[test]
fn a_stale_postmaster_pid_from_a_crash_is_recovered() {
    let dir = TempDir::new("stale");
    start(&dir).stop();
    // A crash leaves postmaster.pid behind; its pid may since belong to another process (here: this
    // test process, alive and not PostgreSQL).
    let pid_file = dir.0.join("pg/postmaster.pid");
    let stale = format!(
        "{}\n{}\n1700000000\n5432\n{}\n\n  5432001   0\nready   \n",
        std::process::id(),
        dir.0.join("pg").display(),
        dir.0.join("pg").display()
    );
    std::fs::write(&pid_file, stale).unwrap();
    std::fs::write(dir.0.join("pg/.s.PGSQL.5432.lock"), "garbage").unwrap();

    let cluster = start(&dir);
    assert!(!cluster.was_adopted());
    assert_eq!(select_one(&cluster), 1);
    cluster.stop();
    assert!(postgres_processes(&data_dir_text(&dir)).is_empty());
}

#[test]
fn a_cluster_still_running_on_the_folder_is_adopted_and_stopped_with_us() {
    let dir = TempDir::new("adopt");
    let first = start(&dir);
    let second = start(&dir);
    assert!(second.was_adopted());
    assert_eq!(second.pid(), first.pid());
    assert_eq!(select_one(&second), 1);
    second.stop();
    assert!(
        postgres_processes(&data_dir_text(&dir)).is_empty(),
        "the adopter stops it"
    );
    drop(first); // already stopped: nothing to do, and no hang
}

#[test]
fn an_interrupted_initdb_is_redone() {
    let dir = TempDir::new("initdb");
    std::fs::create_dir_all(dir.0.join("pg.initdb/base")).unwrap();
    std::fs::write(dir.0.join("pg.initdb/PG_VERSION"), "15\n").unwrap();
    let cluster = start(&dir);
    assert_eq!(select_one(&cluster), 1);
    assert!(!dir.0.join("pg.initdb").exists());
    cluster.stop();
}

#[test]
fn stopping_twice_or_dropping_is_harmless() {
    let dir = TempDir::new("drop");
    let cluster = start(&dir);
    let pid = cluster.pid();
    drop(cluster);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists()
        && !postgres_processes(&data_dir_text(&dir)).is_empty()
    {
        assert!(std::time::Instant::now() < deadline, "dropping stops the cluster");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_joined_cluster_is_never_stopped_or_started_again_by_the_joiner() {
    let dir = TempDir::new("join");
    let owner = start(&dir);
    let joined = LocalCluster::join(&dir.0.join("pg")).expect("joining the running cluster");
    assert_eq!(joined.pid(), owner.pid());
    drop(joined);
    assert_eq!(select_one(&owner), 1, "the joiner left it running");

    let mut joined = LocalCluster::join(&dir.0.join("pg")).unwrap();
    owner.stop();
    assert!(joined.exited().is_none(), "not the joiner's to watch");
    assert!(joined.restart().is_err(), "not the joiner's to start");
    assert!(postgres_processes(&data_dir_text(&dir)).is_empty());
}
