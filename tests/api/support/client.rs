//! A minimal HTTP/1.1 client for tests that need a real socket (the service binary, shutdown), so
//! the suite needs no HTTP client dependency.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Sends `method path` with `Connection: close` and returns the status and body.
pub fn request(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    request_with(addr, method, path, None, None)
}

/// Sends `method path`, with a bearer token and a JSON body if given.
pub fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    json: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let body = json.unwrap_or("");
    if json.is_some() {
        head.push_str("Content-Type: application/json\r\n");
    }
    write!(stream, "{head}Content-Length: {}\r\n\r\n{body}", body.len())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {response:?}")))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// The service binary, running.
pub struct Service {
    /// The process.
    pub child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Every line it printed so far is sent here.
    lines: mpsc::Receiver<String>,
    /// What it printed, collected.
    pub output: Vec<String>,
}

/// A command for the service binary with a clean environment: no `DATABASE_URL`, an ephemeral port,
/// the given data folder.
pub fn service_command(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clinical-sites"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATA_DIR", data_dir)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

impl Service {
    /// Starts `command` and waits (bounded) until it logs its listening address.
    pub fn start(mut command: Command) -> Self {
        let mut child = command.spawn().expect("starting the service binary");
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let mut service = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
            output: Vec::new(),
        };
        let line = service
            .wait_for_line(|line| line.contains("listening on http://"), Duration::from_secs(90))
            .unwrap_or_else(|| panic!("the service did not start:\n{}", service.output.join("\n")));
        let addr: String = line
            .split("http://")
            .nth(1)
            .unwrap()
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
            .collect();
        service.addr = addr
            .parse()
            .unwrap_or_else(|e| panic!("listening address in {line:?}: {e}"));
        service
    }

    /// Waits until a printed line satisfies `wanted`.
    pub fn wait_for_line(&mut self, wanted: impl Fn(&str) -> bool, patience: Duration) -> Option<String> {
        let deadline = Instant::now() + patience;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.output.push(line.clone());
                    if wanted(&line) {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
        None
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> (u16, String) {
        request(self.addr, "GET", path).expect("request to the service")
    }

    /// Sends `signal` and waits (bounded) for the exit; returns the exit code and everything printed.
    pub fn stop(mut self, signal: i32) -> (Option<i32>, String) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as i32, signal) };
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the service did not exit after signal {signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.output.push(line);
        }
        (status.code(), self.output.join("\n"))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
