//! The server loop: accepts TCP connections and serves HTTP/1.1 on each with hyper, bounding what
//! a slow, idle or numerous client can hold, and shuts down gracefully.
//!
//! - **Header-read timeout** (`HEADER_READ_TIMEOUT_SECS`): a new connection must send a whole request
//!   head within it, and so must a kept-alive one from the first byte of its next request. A client
//!   that trickles a head (or sends nothing) is closed.
//! - **Idle timeout** (`KEEP_ALIVE_TIMEOUT_SECS`): a kept-alive connection with no request under way
//!   and no byte of the next one is closed after it. (hyper's own header-read timer runs from the
//!   end of the previous response, so it cannot tell idling from trickling: these two clocks are
//!   kept here, in [`TimedStream`].)
//! - **Connections** (`MAX_CONNECTIONS`): at the cap, a new connection closes the longest-open one
//!   that is not answering a request (an idle or half-sent one), so a flood of slow clients cannot
//!   lock out everyone else (or `/healthz`), and the file descriptors never run out. Only when
//!   every connection is answering a request is a new one refused.
//!
//! Requests themselves are bounded by the middleware (`MAX_IN_FLIGHT`, `REQUEST_TIMEOUT_SECS`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::config::Config;

/// The most connections the derived `MAX_CONNECTIONS` allows, whatever the open-file limit.
const MAX_DERIVED_CONNECTIONS: u64 = 10_000;
/// Open files kept for everything but client connections: the listener, logs, the runtime, the
/// private cluster's pipes (the pools' connections are added to it).
const RESERVED_FILES: u64 = 64;

/// How the server treats connections; see the module documentation.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// After the shutdown signal, how long in-flight requests may take to finish.
    pub grace: Duration,
    /// How long a connection has to send a request's head.
    pub header_read_timeout: Duration,
    /// How long an idle keep-alive connection is kept.
    pub keep_alive_timeout: Duration,
    /// Most client connections open at once.
    pub max_connections: usize,
}

impl ServeOptions {
    /// The options `config` asks for. Raises this process's soft limit on open files to its hard
    /// limit (as many servers do), and derives `MAX_CONNECTIONS` from it when unset: three quarters
    /// of what the pools and [`RESERVED_FILES`] leave, at most [`MAX_DERIVED_CONNECTIONS`].
    pub fn new(config: &Config) -> Self {
        let open_files = raise_open_file_limit();
        let left = open_files.saturating_sub(RESERVED_FILES + 2 * u64::from(config.database_max_connections));
        let max_connections = match config.max_connections {
            Some(max) => {
                if u64::from(max) > left {
                    tracing::warn!(
                        max_connections = max,
                        open_file_limit = open_files,
                        "MAX_CONNECTIONS is more than the open-file limit leaves room for; accepting will fail past it"
                    );
                }
                max as usize
            }
            None => (left * 3 / 4).clamp(1, MAX_DERIVED_CONNECTIONS) as usize,
        };
        Self {
            grace: config.shutdown_grace(),
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs),
            keep_alive_timeout: Duration::from_secs(config.keep_alive_timeout_secs),
            max_connections,
        }
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard one; returns the soft limit in force.
fn raise_open_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write a valid, owned rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting connections, closes
/// idle ones, and lets in-flight requests finish for at most `options.grace`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    tracing::info!(
        max_connections = options.max_connections,
        header_read_timeout_secs = options.header_read_timeout.as_secs(),
        keep_alive_timeout_secs = options.keep_alive_timeout.as_secs(),
        "serving"
    );
    let connections = Arc::new(Connections::new(options.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    // Both clocks are kept by `TimedStream`; hyper's would close idle connections too early.
    http.header_read_timeout(None::<Duration>);
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(connection) = connections.admit(&options) else {
            tracing::warn!(%remote, "refused a connection: every connection is answering a request");
            continue;
        };
        spawn_connection(&http, &graceful, &app, &connections, connection, stream, remote);
    }

    drop(listener);
    tracing::info!("shutting down: no new connections; waiting for in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(options.grace) => {
            tracing::warn!(grace_secs = options.grace.as_secs(), "in-flight requests did not finish in time; closing them");
        }
    }
    Ok(())
}

/// Answers one accepted connection on a task of its own, until it ends, is evicted for a new one,
/// or the graceful shutdown closes it.
fn spawn_connection(
    http: &hyper::server::conn::http1::Builder,
    graceful: &GracefulShutdown,
    app: &Router,
    connections: &Arc<Connections>,
    connection: Arc<Connection>,
    stream: tokio::net::TcpStream,
    remote: std::net::SocketAddr,
) {
    let service = hyper::service::service_fn({
        let app = app.clone();
        let connection = connection.clone();
        move |request: hyper::Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(remote));
            let answering = Answering::begin(connection.clone());
            let response = app.clone().oneshot(request);
            async move {
                let response = response.await?;
                Ok::<_, Infallible>(response.map(|body| TrackedBody {
                    body,
                    answering: Some(answering),
                }))
            }
        }
    });
    let io = TokioIo::new(TimedStream::new(stream, connection.clone()));
    let served = graceful.watch(http.serve_connection(io, service));
    let registration = Registration(connections.clone(), connection.id);
    tokio::spawn(async move {
        tokio::select! {
            result = served => {
                if let Err(error) = result {
                    tracing::debug!(%remote, %error, "connection ended");
                }
            }
            () = connection.evicted.notified() => {
                tracing::debug!(%remote, "closed an idle connection to make room for a new one");
            }
        }
        drop(registration);
    });
}

/// A client that gave up before it was accepted is nothing to worry about; anything else (out of
/// file descriptors, most likely) is logged, and accepting pauses a moment so the loop does not spin.
async fn accept_failed(error: io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed; pausing for a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The open connections, oldest first.
struct Connections {
    max: usize,
    open: Mutex<(u64, BTreeMap<u64, Arc<Connection>>)>,
}

/// One open connection, as the server loop, its service and its stream see it.
struct Connection {
    id: u64,
    phase: Mutex<Phase>,
    /// Notified to close the connection at once.
    evicted: Notify,
    /// The connection's task, as its last read saw it: woken when a response has been sent, so
    /// that hyper reads again (and the idle clock starts) rather than waiting for the client.
    reader: Mutex<Option<Waker>>,
    header_read_timeout: Duration,
    keep_alive_timeout: Duration,
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request: for its first byte (`started` false: an idle kept-alive connection),
    /// or for the rest of its head. Closed at `deadline`.
    Waiting { deadline: Instant, started: bool },
    /// Answering this many requests: no deadline here (`REQUEST_TIMEOUT_SECS` bounds them).
    Answering(usize),
}

impl Connections {
    fn new(max: usize) -> Self {
        Self {
            max,
            open: Mutex::new((0, BTreeMap::new())),
        }
    }

    /// Registers a new connection, first closing the longest-open one that is not answering a
    /// request if the cap is reached; `None` when every connection is answering one.
    fn admit(&self, options: &ServeOptions) -> Option<Arc<Connection>> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let (next_id, connections) = &mut *open;
        if connections.len() >= self.max {
            let idle = connections.iter().find_map(|(id, connection)| {
                let phase = *connection.phase.try_lock().ok()?;
                matches!(phase, Phase::Waiting { .. }).then_some(*id)
            })?;
            if let Some(evicted) = connections.remove(&idle) {
                evicted.evicted.notify_one();
            }
        }
        *next_id += 1;
        let connection = Arc::new(Connection {
            id: *next_id,
            phase: Mutex::new(Phase::Waiting {
                deadline: Instant::now() + options.header_read_timeout,
                started: true,
            }),
            evicted: Notify::new(),
            reader: Mutex::new(None),
            header_read_timeout: options.header_read_timeout,
            keep_alive_timeout: options.keep_alive_timeout,
        });
        connections.insert(connection.id, connection.clone());
        Some(connection)
    }
}

/// Unregisters a connection when its task ends, however it ends.
struct Registration(Arc<Connections>, u64);

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open = self.0.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.1.remove(&self.1);
    }
}

impl Connection {
    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A request being answered on a connection, from its complete head until its response is sent.
struct Answering(Arc<Connection>);

impl Answering {
    fn begin(connection: Arc<Connection>) -> Self {
        {
            let mut phase = connection.phase();
            *phase = match *phase {
                Phase::Answering(n) => Phase::Answering(n + 1),
                Phase::Waiting { .. } => Phase::Answering(1),
            };
        }
        Self(connection)
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        let mut phase = self.0.phase();
        *phase = match *phase {
            Phase::Answering(n) if n > 1 => Phase::Answering(n - 1),
            _ => Phase::Waiting {
                deadline: Instant::now() + self.0.keep_alive_timeout,
                started: false,
            },
        };
        drop(phase);
        let reader = self.0.reader.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(reader) = reader {
            reader.wake();
        }
    }
}

/// A response body that ends its request's [`Answering`] once it has been sent (or dropped).
struct TrackedBody {
    body: Body,
    answering: Option<Answering>,
}

impl hyper::body::Body for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        if matches!(frame, Poll::Ready(None)) || this.body.is_end_stream() {
            this.answering = None;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A client connection's socket that fails its reads once the connection's deadline has passed
/// while it waits for a request (see [`Phase`]), which makes hyper close it.
struct TimedStream {
    stream: TcpStream,
    connection: Arc<Connection>,
    timer: Pin<Box<Sleep>>,
}

impl TimedStream {
    fn new(stream: TcpStream, connection: Arc<Connection>) -> Self {
        let deadline = match *connection.phase() {
            Phase::Waiting { deadline, .. } => deadline,
            Phase::Answering(_) => Instant::now() + connection.header_read_timeout,
        };
        Self {
            stream,
            connection,
            timer: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }
}

impl AsyncRead for TimedStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        {
            let mut reader = this.connection.reader.lock().unwrap_or_else(PoisonError::into_inner);
            if !reader.as_ref().is_some_and(|r| r.will_wake(cx.waker())) {
                *reader = Some(cx.waker().clone());
            }
        }
        let mut phase = this.connection.phase();
        let Phase::Waiting { deadline, started } = *phase else {
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        };
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if !started && buf.filled().len() > before {
                    // The next request has begun: its head must now arrive in time.
                    *phase = Phase::Waiting {
                        deadline: Instant::now() + this.connection.header_read_timeout,
                        started: true,
                    };
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => {
                if this.timer.deadline() != deadline {
                    this.timer.as_mut().reset(deadline);
                }
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        let waited = if started { "a request head" } else { "a request" };
                        Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("no {waited} in time"),
                        )))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for TimedStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
