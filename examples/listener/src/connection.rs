//! One connection: hyper's HTTP/1.1 state machine, watched for the header-read and idle
//! timeouts, with the request cap and the body deadline around each request.
//!
//! hyper's own `header_read_timeout` also runs while a kept-alive connection waits for its
//! next request, so it cannot be longer than the idle timeout; the watch here keeps the two
//! apart. A connection is in one [`Phase`] at a time, and the deadline of that phase closes it.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, sleep_until};
use tower::ServiceExt as _;

use crate::body::Deadline;
use crate::{Limits, MAX_HEAD_BYTES};

/// What every connection of one listener shares.
pub(crate) struct Shared {
    pub(crate) router: Router,
    pub(crate) limits: Limits,
    pub(crate) requests: Arc<Semaphore>,
}

/// Where a connection stands.
///
/// ```text
///   accept ──▶ Head ──(head complete)──▶ Busy ──(answer ready)──▶ Idle ──(a byte)──▶ Head
/// ```
///
/// `Head` ends at `header_read_timeout` after it began, `Idle` at `idle_timeout`; `Busy` has no
/// deadline of its own (the body has its deadline, and the application bounds its own calls).
#[derive(Clone, Copy, Debug)]
enum Phase {
    Head(Instant),
    Busy,
    Idle(Instant),
}

pub(crate) async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut stopping: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let (phase, mut phase_changed) = watch::channel(Phase::Head(Instant::now()));
    let phase = Arc::new(phase);
    let service = service_fn({
        let (shared, phase) = (shared.clone(), phase.clone());
        move |request| respond(shared.clone(), phase.clone(), peer, request)
    });
    let io = TokioIo::new(Watched { io: stream, phase });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(connection);
    let limits = &shared.limits;
    let mut closing = false;
    loop {
        let now = *phase_changed.borrow_and_update();
        let deadline = match now {
            Phase::Head(since) => Some(since + limits.header_read_timeout),
            Phase::Idle(since) => Some(since + limits.idle_timeout),
            Phase::Busy => None,
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = phase_changed.changed() => {}
            () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                // Closing at the deadline: a request head that is still arriving is dropped,
                // and so is a connection that has waited too long for its next request.
                tracing::debug!(%peer, phase = ?now, "connection timed out");
                return;
            }
            _ = stopping.wait_for(|stop| *stop), if !closing => {
                // Shutdown: finish the current request, then close.
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}

/// One request: the request cap, the peer address, the body deadline.
async fn respond(
    shared: Arc<Shared>,
    phase: Arc<watch::Sender<Phase>>,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    phase.send_replace(Phase::Busy);
    let response = match shared.requests.clone().try_acquire_owned() {
        Ok(_permit) => {
            let timed_out = Arc::new(AtomicBool::new(false));
            let deadline = Instant::now() + shared.limits.body_timeout;
            let mut request = request.map(|body| Body::new(Deadline::new(body, deadline, timed_out.clone())));
            request.extensions_mut().insert(ConnectInfo(peer));
            let response = match shared.router.clone().oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            if timed_out.load(Ordering::Relaxed) {
                tracing::debug!(%peer, "a request body took too long");
                plain(StatusCode::REQUEST_TIMEOUT, "The request took too long to arrive.\n", "close")
            } else {
                response
            }
        }
        Err(_) => plain(StatusCode::SERVICE_UNAVAILABLE, "The server is busy. Try again in a moment.\n", "keep-alive"),
    };
    phase.send_replace(Phase::Idle(Instant::now()));
    Ok(response)
}

/// A short plain-text answer from the listener itself.
fn plain(status: StatusCode, text: &'static str, connection: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::CONNECTION, HeaderValue::from_static(connection));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// The connection's socket, noting when an idle connection receives the first byte of its
/// next request (which starts that request's header-read deadline).
struct Watched {
    io: TcpStream,
    phase: Arc<watch::Sender<Phase>>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.phase.send_if_modified(|phase| match phase {
                Phase::Idle(_) => {
                    *phase = Phase::Head(Instant::now());
                    true
                }
                Phase::Head(_) | Phase::Busy => false,
            });
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
