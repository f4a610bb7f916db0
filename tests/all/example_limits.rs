//! What the example programs bound, over real HTTP against the running stack: a client that
//! trickles its headers is cut off by the front-end and by the demo RP, and the demo RP keeps
//! a bounded number of pending logins.

use std::time::Duration;

use openidconnect::reqwest::{self, StatusCode, header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

use crate::support::http_client;
use crate::support::stack::stack_with;

/// Sends a request head one header line every 50 ms, for ever; true once the server closes
/// the connection (false if it has not after 20 s, a bound well above any timeout here).
async fn cut_off_while_trickling(url: &Url) -> bool {
    let addr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /login HTTP/1.1\r\nHost: test\r\n").await.unwrap();
    let (mut read, mut write) = stream.split();
    let trickle = async {
        for i in 0u64.. {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if write.write_all(format!("X-Trickle-{i}: a\r\n").as_bytes()).await.is_err() {
                return;
            }
        }
    };
    let closed = async {
        let mut buf = [0u8; 1024];
        while let Ok(n) = read.read(&mut buf).await {
            if n == 0 {
                return;
            }
        }
    };
    let ended = async {
        tokio::select! {
            () = trickle => {}
            () = closed => {}
        }
    };
    tokio::time::timeout(Duration::from_secs(20), ended).await.is_ok()
}

#[tokio::test]
async fn the_front_end_and_the_demo_rp_cut_off_a_client_that_trickles_its_headers() {
    let stack = stack_with(|_, _, limits| limits.header_read_timeout = Duration::from_millis(400)).await;
    assert!(cut_off_while_trickling(&stack.frontend).await, "the front-end waits for ever");
    assert!(cut_off_while_trickling(&stack.rp).await, "the demo RP waits for ever");
    // A normal request is still served.
    let page = http_client().get(stack.frontend.join("/login").unwrap()).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::BAD_REQUEST, "no sign-in request: the front-end's own page");
}

/// The RP's answer to `/login` without following it: the state it set in its cookie.
async fn start_login(http: &reqwest::Client, rp: &Url) -> Result<String, (StatusCode, String)> {
    let response = http.get(rp.join("/login").unwrap()).send().await.unwrap();
    if response.status() != StatusCode::SEE_OTHER {
        return Err((response.status(), response.text().await.unwrap()));
    }
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    let state = cookie.split(';').next().unwrap().strip_prefix("demo_rp_state=").unwrap();
    Ok(state.to_owned())
}

#[tokio::test]
async fn the_demo_rp_keeps_a_bounded_number_of_pending_logins() {
    let stack = stack_with(|_, rp, _| rp.max_pending = 3).await;
    let http = http_client();
    let mut states = Vec::new();
    for _ in 0..3 {
        states.push(start_login(&http, &stack.rp).await.expect("a login starts"));
    }
    let (status, page) = start_login(&http, &stack.rp).await.expect_err("a fourth is refused");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.contains("Too many sign-ins in progress"), "{page}");

    // A login that comes back (here with an error from the provider) frees its place.
    let mut callback = stack.rp.join("/callback").unwrap();
    callback
        .query_pairs_mut()
        .append_pair("state", &states[0])
        .append_pair("iss", &stack.server.base)
        .append_pair("error", "access_denied");
    let back = http.get(callback).header(header::COOKIE, format!("demo_rp_state={}", states[0])).send().await.unwrap();
    assert!(back.text().await.unwrap().contains("access_denied"));
    start_login(&http, &stack.rp).await.expect("room for one more");
    assert!(start_login(&http, &stack.rp).await.is_err(), "and only one");
}
