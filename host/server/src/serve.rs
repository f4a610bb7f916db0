//! The listener: HTTP/1.1 under hyper, with every wait a client can impose bounded
//! (`[http]` in the configuration).
//!
//! - **Open connections** are capped by a semaphore taken *before* `accept`, so further clients
//!   wait in the operating system's accept queue and the connections being served are untouched.
//! - **Headers**: hyper's header-read timeout (counted from when the connection is ready for a
//!   request: accepted, or done with the previous response) and header-size limit (431).
//! - **Bodies** must arrive whole within the body timeout ([`Deadline`]); the extractors in
//!   `http.rs` answer 408 in the endpoint's own format.
//! - **Idle connections** — no request in a handler and no byte moved either way for the idle
//!   timeout — are asked to close, and dropped if they have not after another such period.
//! - **Requests in handlers** at once are capped by a second semaphore.
//! - **Closing** shuts the write side and reads what the client still sends for a moment
//!   (bounded in time and bytes), so a client still sending a refused body reads the answer
//!   instead of a reset.
//!
//! - **TLS** (when `http.tls_certificate` is set, see `tls.rs`): the handshake must finish
//!   within the header timeout; ALPN picks HTTP/2 or HTTP/1.1. HTTP/2 connections get the same
//!   request cap, body deadline and idle timeout, a cap on concurrent streams and header-list
//!   size, and keep-alive pings. Without TLS only HTTP/1.1 is spoken: cleartext HTTP/2 would
//!   bypass the header timeout.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::config::HttpConfig;

/// Streams one HTTP/2 connection may have open at once.
const MAX_STREAMS: u32 = 100;

/// How long a closing connection reads what its client still sends, and how much.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 4 << 20;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The listener's settings, from `[http]`.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_header_bytes: usize,
}

/// The two caps, shared with the metrics.
pub struct Gates {
    connections: Arc<Semaphore>,
    requests: Arc<Semaphore>,
    max_connections: usize,
    max_requests: usize,
}

impl Gates {
    pub fn new(config: &HttpConfig) -> Self {
        Self {
            connections: Arc::new(Semaphore::new(config.max_connections)),
            requests: Arc::new(Semaphore::new(config.max_requests)),
            max_connections: config.max_connections,
            max_requests: config.max_requests,
        }
    }

    pub fn open_connections(&self) -> usize {
        self.max_connections - self.connections.available_permits()
    }

    pub fn requests_in_flight(&self) -> usize {
        self.max_requests - self.requests.available_permits()
    }
}

impl Limits {
    pub fn new(config: &HttpConfig) -> Self {
        Self {
            header_read_timeout: config.header_read_timeout,
            body_read_timeout: config.body_read_timeout,
            idle_timeout: config.idle_timeout,
            max_header_bytes: config.max_header_bytes,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets every
/// request in progress finish, and returns when the last connection has closed.
pub(crate) async fn run(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    gates: Arc<Gates>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes);
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = gates.connections.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // pause rather than spin, and keep serving.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            builder: builder.clone(),
            router: router.clone(),
            limits,
            requests: gates.requests.clone(),
            stopping: stopping.clone(),
        };
        tokio::spawn(connection.serve(stream, permit, tls.clone()));
    }
    drop(listener);
    stop.send_replace(true);
    // Every connection holds a permit until it has closed: holding them all means all are done.
    let all = u32::try_from(gates.max_connections).unwrap_or(u32::MAX);
    let _all = gates.connections.acquire_many(all).await;
    Ok(())
}

/// One accepted connection and what it needs.
struct Connection {
    builder: http1::Builder,
    router: Router,
    limits: Limits,
    requests: Arc<Semaphore>,
    stopping: watch::Receiver<bool>,
}

impl Connection {
    async fn serve(self, stream: TcpStream, _permit: OwnedSemaphorePermit, tls: Option<tokio_rustls::TlsAcceptor>) {
        let Some(acceptor) = tls else {
            return self.serve_http1(stream).await;
        };
        // A client that does not finish its handshake in time gets nothing.
        let Ok(Ok(stream)) = tokio::time::timeout(self.limits.header_read_timeout, acceptor.accept(stream)).await
        else {
            return;
        };
        if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
            self.serve_http2(stream).await
        } else {
            self.serve_http1(stream).await
        }
    }

    /// The service for one connection's requests: a slot under the request cap, the body under
    /// its deadline, the connection busy (not idle) while the handler runs.
    fn service(
        &self,
        activity: &Arc<Activity>,
    ) -> impl hyper::service::Service<
        hyper::Request<Incoming>,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future = Pin<Box<dyn Future<Output = Result<axum::response::Response, std::convert::Infallible>> + Send>>,
    > + Clone
    + use<> {
        let (router, requests, body_timeout) =
            (self.router.clone(), self.requests.clone(), self.limits.body_read_timeout);
        let activity = activity.clone();
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let (router, requests, busy) = (router.clone(), requests.clone(), Busy::new(&activity));
            // Boxed: hyper's `poll_without_shutdown` wants the request future `Unpin`.
            Box::pin(async move {
                let _busy = busy;
                let _slot = requests.acquire_owned().await.expect("the semaphore is never closed");
                let request = request.map(|body| Deadline::new(body, body_timeout));
                router.oneshot(request).await
            }) as Pin<Box<dyn Future<Output = _> + Send>>
        })
    }

    async fn serve_http1<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(mut self, stream: S) {
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched { stream, activity: activity.clone() });
        let service = self.service(&activity);
        let mut conn = self.builder.serve_connection(io, service);
        let mut asked_to_close = false;
        let result = loop {
            tokio::select! {
                result = poll_fn(|cx| conn.poll_without_shutdown(cx)) => break result,
                () = activity.quiet_for(self.limits.idle_timeout) => {
                    if asked_to_close {
                        // Asked an idle period ago and still open (a client that stopped
                        // reading its response): dropped.
                        return;
                    }
                    Pin::new(&mut conn).graceful_shutdown();
                    asked_to_close = true;
                }
                _ = self.stopping.wait_for(|stop| *stop), if !asked_to_close => {
                    Pin::new(&mut conn).graceful_shutdown();
                    asked_to_close = true;
                }
            }
        };
        match result {
            // A client too slow to send its headers gets nothing more.
            Err(e) if e.is_timeout() => {}
            // hyper has answered what it could (431, 400) before the error ends the connection.
            result => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                linger(conn.into_parts().io.into_inner().stream).await;
            }
        }
    }

    async fn serve_http2<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(mut self, stream: S) {
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched { stream, activity: activity.clone() });
        let service = self.service(&activity);
        let idle = self.limits.idle_timeout;
        let mut builder = http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .max_concurrent_streams(MAX_STREAMS)
            .max_header_list_size(u32::try_from(self.limits.max_header_bytes).unwrap_or(u32::MAX))
            .keep_alive_interval(Some(idle))
            .keep_alive_timeout(idle);
        let conn = builder.serve_connection(io, service);
        tokio::pin!(conn);
        let mut asked_to_close = false;
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "HTTP/2 connection ended with an error");
                    }
                    return;
                }
                () = activity.quiet_for(idle) => {
                    if asked_to_close {
                        return;
                    }
                    conn.as_mut().graceful_shutdown();
                    asked_to_close = true;
                }
                _ = self.stopping.wait_for(|stop| *stop), if !asked_to_close => {
                    conn.as_mut().graceful_shutdown();
                    asked_to_close = true;
                }
            }
        }
    }
}

/// Closes the write side, then reads and drops what the client still sends until it closes
/// too, for at most [`LINGER_TIME`] and [`LINGER_BYTES`].
async fn linger<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut buf = [0u8; 8192];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}

/// What a connection is doing, for the idle timeout: when a byte last moved either way, and
/// how many of its requests are in a handler.
struct Activity {
    born: Instant,
    /// Milliseconds after `born`.
    last: AtomicU64,
    busy: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self { born: Instant::now(), last: AtomicU64::new(0), busy: AtomicUsize::new(0) }
    }

    fn touch(&self) {
        let now = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(now, Ordering::Relaxed);
    }

    /// Resolves once the connection has had no request in a handler and no traffic for `idle`.
    async fn quiet_for(&self, idle: Duration) {
        loop {
            let due = self.born + Duration::from_millis(self.last.load(Ordering::Relaxed)) + idle;
            let now = Instant::now();
            if now >= due && self.busy.load(Ordering::Relaxed) == 0 {
                return;
            }
            tokio::time::sleep_until(if now >= due { now + idle } else { due }).await;
        }
    }
}

/// A request in a handler: the connection is not idle until it is done.
struct Busy(Arc<Activity>);

impl Busy {
    fn new(activity: &Arc<Activity>) -> Self {
        activity.busy.fetch_add(1, Ordering::Relaxed);
        Self(activity.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The connection's stream, noting every byte that moves.
struct Watched<S> {
    stream: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A request body that did not arrive whole within `http.body_read_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {}", humantime::format_duration(*.0))]
pub struct BodyTimedOut(pub Duration);

/// A request body that must arrive whole by a deadline set when its headers came in.
pub(crate) struct Deadline {
    body: Incoming,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl Deadline {
    fn new(body: Incoming, timeout: Duration) -> Self {
        Self { body, timeout, deadline: Box::pin(tokio::time::sleep(timeout)) }
    }
}

impl Body for Deadline {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(BoxError::from)));
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.timeout))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
