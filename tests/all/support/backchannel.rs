//! A back-channel logout receiver (OpenID Connect Back-Channel Logout 1.0 §2.5): an https
//! server on loopback, certified by the test CA, that records each `logout_token` POSTed to it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;

use super::tls::TestCa;

/// An https server recording every back-channel logout POSTed to it, answering `status`.
#[derive(Clone, Default)]
pub struct Receiver {
    tokens: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    pub async fn start(ca: &TestCa, status: StatusCode) -> (Self, String) {
        let receiver = Receiver::default();
        let router = Router::new()
            .route(
                "/backchannel",
                post(|State((r, status)): State<(Receiver, StatusCode)>, body: String| async move {
                    let form: Vec<(String, String)> =
                        url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
                    let token = form.iter().find(|(k, _)| k == "logout_token").map(|(_, v)| v.clone());
                    r.tokens.lock().unwrap().extend(token);
                    status
                }),
            )
            .with_state((receiver.clone(), status));
        let base = ca.serve(router).await;
        (receiver, format!("{base}/backchannel"))
    }

    /// The tokens received, once there are `n` (waits up to 2 s).
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        for _ in 0..100 {
            let tokens = self.tokens.lock().unwrap().clone();
            if tokens.len() >= n {
                return tokens;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{n} logout tokens did not arrive");
    }

    /// The tokens received so far.
    pub fn tokens(&self) -> Vec<String> {
        self.tokens.lock().unwrap().clone()
    }
}
