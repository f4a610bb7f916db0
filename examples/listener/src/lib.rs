//! The example programs' HTTP listener: it serves an axum `Router` on a TCP listener with the
//! timeouts and caps a server open to strangers needs, which `axum::serve` leaves out.
//!
//! - **Header-read timeout.** A request's head (request line and headers) must arrive within
//!   `header_read_timeout` of its first byte, or of the accept for a connection's first
//!   request; otherwise the connection is closed. Trickling headers ("slowloris") gets nowhere.
//! - **Body timeout.** The whole request body must arrive within `body_timeout` of the head;
//!   otherwise the request is answered `408 Request Timeout` and the connection closed.
//! - **Idle timeout.** A kept-alive connection that starts no new request within
//!   `idle_timeout` of the last answer is closed.
//! - **Connection cap.** At most `max_connections` connections are open. At the cap the
//!   listener stops accepting, so new connections wait in the kernel's backlog until one
//!   closes; nothing is spent on them meanwhile.
//! - **Request cap.** At most `max_requests` requests are in the application at once; one more
//!   is answered `503 Service Unavailable` with `Retry-After: 1` at once.
//! - **Head size.** A request head larger than [`MAX_HEAD_BYTES`] is refused by hyper
//!   (`431 Request Header Fields Too Large`).
//!
//! Each request carries the peer address as axum's `ConnectInfo<SocketAddr>`. HTTP/1.1 only:
//! the examples are reached by browsers over plain HTTP or behind a TLS-terminating proxy.
//!
//! The crate is shared by the example programs (the login front-end and the demo relying
//! party); like them it depends on no host crate.

mod body;
mod connection;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::connection::Shared;

#[doc(hidden)]
pub use clap;
#[doc(hidden)]
pub use humantime;

/// The largest request head (request line and headers) a connection reads: hyper's read
/// buffer, so also what one connection can make the server hold before the application runs.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The listener's timeouts and caps.
#[derive(Clone, Debug)]
pub struct Limits {
    /// How long a request's head may take to arrive.
    pub header_read_timeout: Duration,
    /// How long a request's whole body may take to arrive, from the end of its head.
    pub body_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// How many connections may be open at once.
    pub max_connections: usize,
    /// How many requests may be in the application at once.
    pub max_requests: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_connections: 512,
            max_requests: 256,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets every
/// open connection finish its current request and returns when all are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    // A semaphore holds at most `Semaphore::MAX_PERMITS`, and waiting for all of them at the
    // end takes a `u32`.
    let max_connections = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
    let connections = Arc::new(Semaphore::new(max_connections));
    let requests = Semaphore::new(limits.max_requests.clamp(1, Semaphore::MAX_PERMITS));
    let shared = Arc::new(Shared { router, limits, requests: Arc::new(requests) });
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        // The permit comes first: at the cap, connections wait in the backlog, unaccepted.
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // wait a little rather than spin, and go on.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        tokio::spawn(connection::run(stream, peer, shared.clone(), stopping.clone(), permit));
    }
    stop.send_replace(true);
    // Each open connection holds a permit: when all are back, every connection has ended.
    let _all = connections.acquire_many(max_connections as u32).await;
    Ok(())
}

/// Parses a count that must be at least 1 (a command-line value parser).
pub fn positive(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{s:?} is not a whole number of at least 1")),
    }
}

/// Declares a `clap::Args` struct `$name` with the listener's options, each with an
/// environment variable named `$prefix` followed by the option's name in capitals
/// (`"DEMO_RP_"` gives `DEMO_RP_HEADER_READ_TIMEOUT`, …), and its conversion into [`Limits`].
/// The defaults are those of `Limits::default()`; durations are written as `10s`, `1m30s`, ….
#[macro_export]
macro_rules! limits_args {
    ($name:ident, $prefix:literal) => {
        /// The HTTP listener's timeouts and caps.
        #[derive($crate::clap::Args)]
        pub struct $name {
            /// How long a request's headers may take to arrive; a slower client is cut off.
            #[arg(long, env = concat!($prefix, "HEADER_READ_TIMEOUT"))]
            #[arg(default_value_t = $crate::Limits::default().header_read_timeout.into())]
            header_read_timeout: $crate::humantime::Duration,
            /// How long a request's body may take to arrive; a slower one gets 408.
            #[arg(long, env = concat!($prefix, "BODY_TIMEOUT"))]
            #[arg(default_value_t = $crate::Limits::default().body_timeout.into())]
            body_timeout: $crate::humantime::Duration,
            /// How long a kept-alive connection may wait for its next request.
            #[arg(long, env = concat!($prefix, "IDLE_TIMEOUT"))]
            #[arg(default_value_t = $crate::Limits::default().idle_timeout.into())]
            idle_timeout: $crate::humantime::Duration,
            /// How many connections may be open at once; more wait to be accepted.
            #[arg(long, env = concat!($prefix, "MAX_CONNECTIONS"))]
            #[arg(default_value_t = $crate::Limits::default().max_connections, value_parser = $crate::positive)]
            max_connections: usize,
            /// How many requests may be handled at once; more get 503.
            #[arg(long, env = concat!($prefix, "MAX_REQUESTS"))]
            #[arg(default_value_t = $crate::Limits::default().max_requests, value_parser = $crate::positive)]
            max_requests: usize,
        }

        impl From<$name> for $crate::Limits {
            fn from(args: $name) -> $crate::Limits {
                $crate::Limits {
                    header_read_timeout: args.header_read_timeout.into(),
                    body_timeout: args.body_timeout.into(),
                    idle_timeout: args.idle_timeout.into(),
                    max_connections: args.max_connections,
                    max_requests: args.max_requests,
                }
            }
        }
    };
}
