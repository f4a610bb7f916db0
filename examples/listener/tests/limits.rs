//! The listener's timeouts and caps, over real TCP on loopback, with raw sockets where a
//! well-behaved HTTP client would hide what is tested.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use gatehouse_example_listener::{Limits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// How long a test waits for something that must happen (a generous bound, never a measure).
const PATIENCE: Duration = Duration::from_secs(20);

fn short(limits: impl FnOnce(&mut Limits)) -> Limits {
    let mut l = Limits {
        header_read_timeout: Duration::from_secs(30),
        body_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(30),
        ..Limits::default()
    };
    limits(&mut l);
    l
}

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/peer", get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }))
        .route("/echo", post(|body: String| async move { body }))
}

async fn start(router: Router, limits: Limits) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, router, limits, std::future::pending()));
    addr
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n";

/// Reads until the server closes the connection; what it sent on the way.
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(PATIENCE, read).await.expect("the server closes the connection");
    String::from_utf8_lossy(&all).into_owned()
}

/// Reads one response to a request whose answer is small (it arrives in one piece).
async fn response(stream: &mut TcpStream) -> String {
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf)).await.expect("an answer").unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn headers_trickled_line_by_line_are_cut_off_at_the_header_read_timeout() {
    let addr = start(app(), short(|l| l.header_read_timeout = Duration::from_millis(300))).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n").await.unwrap();
    let (mut read, mut write) = stream.split();
    let trickle = async {
        // One header line every 50 ms, forever: each byte arrives well within any read timeout.
        for i in 0u64.. {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if write.write_all(format!("X-Trickle-{i}: a\r\n").as_bytes()).await.is_err() {
                break;
            }
        }
    };
    let closed = async {
        let mut buf = [0u8; 1024];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let cut_off = tokio::time::timeout(PATIENCE, async {
        tokio::select! {
            () = closed => true,
            () = trickle => true,
        }
    })
    .await;
    assert_eq!(cut_off, Ok(true), "the server closes a connection whose headers never end");
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_at_the_header_read_timeout() {
    let addr = start(app(), short(|l| l.header_read_timeout = Duration::from_millis(200))).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    assert_eq!(until_closed(&mut stream).await, "", "closed without an answer");
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_at_the_idle_timeout() {
    let addr = start(app(), short(|l| l.idle_timeout = Duration::from_millis(200))).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(GET).await.unwrap();
    assert!(response(&mut stream).await.starts_with("HTTP/1.1 200"));
    // The header-read timeout is 30 s: only the idle timeout can close it this soon.
    assert_eq!(until_closed(&mut stream).await, "");
}

#[tokio::test]
async fn waiting_for_the_next_request_is_bounded_by_the_idle_timeout_not_the_header_one() {
    let limits = short(|l| l.header_read_timeout = Duration::from_millis(100));
    let addr = start(app(), limits).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(GET).await.unwrap();
    assert!(response(&mut stream).await.starts_with("HTTP/1.1 200"));
    // Idle for several header-read timeouts; the idle timeout is 30 s.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stream.write_all(GET).await.unwrap();
    assert!(response(&mut stream).await.starts_with("HTTP/1.1 200"), "the kept-alive connection still serves");
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_gets_408_and_the_connection_closes() {
    let addr = start(app(), short(|l| l.body_timeout = Duration::from_millis(200))).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\nonly a part").await.unwrap();
    let answer = until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");

    // A body that arrives in time is served.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello").await.unwrap();
    let answer = response(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello"), "{answer}");
}

/// A router whose `/hold` requests wait until released, announcing each arrival.
fn holding() -> (Router, mpsc::UnboundedReceiver<()>, watch::Sender<bool>) {
    let (arrived, arrivals) = mpsc::unbounded_channel();
    let (release, released) = watch::channel(false);
    let router = app().route(
        "/hold",
        get(move || async move {
            let _ = arrived.send(());
            let _ = released.clone().wait_for(|r| *r).await;
            "released"
        }),
    );
    (router, arrivals, release)
}

#[tokio::test]
async fn requests_over_the_cap_get_503_with_retry_after() {
    let (router, mut arrivals, release) = holding();
    let addr = start(router, short(|l| l.max_requests = 2)).await;
    let client = reqwest::Client::new();
    let held: Vec<_> = (0..2).map(|_| tokio::spawn(client.get(format!("http://{addr}/hold")).send())).collect();
    for _ in 0..2 {
        arrivals.recv().await.unwrap();
    }
    let refused = client.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert!(refused.text().await.unwrap().contains("busy"));

    release.send_replace(true);
    for h in held {
        assert_eq!(h.await.unwrap().unwrap().text().await.unwrap(), "released");
    }
    let served = client.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(served.status(), 200, "requests are served again once the others are done");
}

#[tokio::test]
async fn connections_over_the_cap_wait_to_be_accepted_until_one_closes() {
    let addr = start(app(), short(|l| l.max_connections = 1)).await;
    let mut first = TcpStream::connect(addr).await.unwrap();
    first.write_all(GET).await.unwrap();
    assert!(response(&mut first).await.starts_with("HTTP/1.1 200"));

    // The first connection is open (kept alive): the second is not accepted meanwhile. This
    // is a wait for something that must not happen; a slow machine can only make it pass.
    let mut second = TcpStream::connect(addr).await.unwrap();
    second.write_all(GET).await.unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(500), second.read(&mut buf)).await;
    assert!(early.is_err(), "the second connection got an answer while the first was open");

    drop(first);
    assert!(response(&mut second).await.starts_with("HTTP/1.1 200"), "served once the first closed");
}

#[tokio::test]
async fn the_application_sees_the_peer_address() {
    let addr = start(app(), Limits::default()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let local = stream.local_addr().unwrap();
    stream.write_all(b"GET /peer HTTP/1.1\r\nHost: test\r\n\r\n").await.unwrap();
    assert!(response(&mut stream).await.ends_with(&local.to_string()));
}

#[tokio::test]
async fn an_oversized_head_is_refused() {
    let addr = start(app(), Limits::default()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let big = format!("GET / HTTP/1.1\r\nHost: test\r\nX-Big: {}\r\n\r\n", "a".repeat(100 * 1024));
    let _ = stream.write_all(big.as_bytes()).await;
    let answer = until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
}

#[tokio::test]
async fn shutdown_finishes_the_request_in_flight_then_returns() {
    let (router, mut arrivals, release) = holding();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, router, Limits::default(), async {
        let _ = stopped.await;
    }));
    let held = tokio::spawn(reqwest::get(format!("http://{addr}/hold")));
    arrivals.recv().await.unwrap();
    stop.send(()).unwrap();
    release.send_replace(true);
    assert_eq!(held.await.unwrap().unwrap().text().await.unwrap(), "released");
    tokio::time::timeout(PATIENCE, server).await.expect("serve returns").unwrap().unwrap();
}
