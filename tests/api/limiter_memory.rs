//! The sign-in limiter's memory under oversized keys, measured on the real binary from outside
//! (`VmRSS` in `/proc/<pid>/status`): in-process the test's own allocations would drown it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::client::{Service, service_command};
use crate::support::{TempDir, TestDb, server};

/// An "email" of this many bytes: a sign-in body of about a megabyte.
const EMAIL_BYTES: usize = 1_000_000;
/// Client addresses the attempts come from (127.0.0.0/8 is all loopback on Linux, so a test can
/// be many clients), each sending its whole allowance (10 a minute by default).
const ADDRESSES: u8 = 30;
const ATTEMPTS_PER_ADDRESS: usize = 10;

/// `POST /v1/sessions` with `body`, from the local address `from`; returns the status.
async fn sign_in_from(service: SocketAddr, from: IpAddr, body: &[u8]) -> u16 {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(from, 0))
        .expect("binding a loopback source address");
    let mut stream = socket.connect(service).await.expect("connecting to the service");
    let head = format!(
        "POST /v1/sessions HTTP/1.1\r\nHost: {service}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (413) before reading the whole body, and close.
    let _ = stream.write_all(body).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response);
    response
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {:?}", &response[..response.len().min(200)]))
}

fn body(n: usize, email_bytes: usize) -> Vec<u8> {
    let email = format!("{n:06}{}", "x".repeat(email_bytes - 6));
    serde_json::to_vec(&serde_json::json!({"email": email, "password": "not the password at all"})).unwrap()
}

/// Kibibytes of resident memory of `pid`.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

/// Sends every attempt of `addresses`, a few at a time; asserts each was answered `expected`.
async fn attempts(service: SocketAddr, addresses: std::ops::RangeInclusive<u8>, expected: u16) {
    let mut tasks = tokio::task::JoinSet::new();
    for a in addresses {
        tasks.spawn(async move {
            let from = IpAddr::V4(Ipv4Addr::new(127, 0, 0, a));
            for i in 0..ATTEMPTS_PER_ADDRESS {
                let status = sign_in_from(service, from, &body(usize::from(a) * 100 + i, EMAIL_BYTES)).await;
                assert_eq!(status, expected, "attempt {i} from {from}");
            }
        });
        // At most 4 addresses at once: the server hashes a password per attempt either way.
        if tasks.len() == 4 {
            tasks.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

/// 300 sign-in attempts, each with its own 1 MB "email", from 30 addresses: 300 MB of distinct
/// keys, every one counted by the limiter (each address stays within its allowance, so every
/// attempt reaches the email's key and is answered 401, not 429). The limiter keeps 16 bytes per
/// key (a hash), so the server's memory must stay flat; with raw keys it would grow by the 300 MB
/// (under its 10,000-key sweep threshold nothing would be swept), far past the 50 MB allowed for
/// the allocator's noise.
///
/// The body limit does not make this moot: at the default `MAX_BODY_BYTES` (1 MiB) a 1,000,000-byte
/// email fits, and the setting goes up to 64 MiB. It only cuts off bigger ones (413 before the
/// limiter sees them), which is checked too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_sign_in_keys_leave_the_servers_memory_flat() {
    let db = TestDb::new().await;
    let dir = TempDir::new("limiter-memory");
    let mut command = service_command(&dir.0);
    command.env("DATABASE_URL", server().url(&db.name));
    let service = tokio::task::spawn_blocking(move || Service::start(command))
        .await
        .unwrap();
    let (addr, pid) = (service.addr, service.child.id());

    // Warm up (connections, the allocator's pools for megabyte bodies, and as many password
    // hashes at once as the measured part runs: each holds its own memory) with four addresses.
    attempts(addr, 200..=203, 401).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = resident_kib(pid);

    attempts(addr, 2..=ADDRESSES + 1, 401).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = resident_kib(pid);
    let sent_mib = usize::from(ADDRESSES) * ATTEMPTS_PER_ADDRESS * EMAIL_BYTES / (1 << 20);
    let growth_mib = after.saturating_sub(before) / 1024;
    eprintln!("limiter memory: {before} -> {after} KiB resident after {sent_mib} MiB of keys");
    assert!(
        growth_mib < 50,
        "resident memory grew by {growth_mib} MiB ({before} -> {after} KiB) after {sent_mib} MiB of keys"
    );

    // Past the body limit the limiter never sees the key.
    let status = sign_in_from(addr, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 201)), &body(1, 2 << 20)).await;
    assert_eq!(status, 413);
    drop(service);
}
