//! The example front-end's throttle of password attempts, through the real stack: each
//! attempt starts from the RP's "sign in" link, so each is a fresh authorization session (a
//! count in the session's `data` would start again at zero every time).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gatehouse_login_frontend::throttle::{Clock, Policy};
use openidconnect::reqwest::{StatusCode, header};

use crate::support::browser::{Browser, Page};
use crate::support::stack::{Stack, stack_with};

/// The throttle's clock, moved by the test instead of waiting.
struct Moved(Instant, AtomicU64);

impl Moved {
    fn new() -> Arc<Moved> {
        Arc::new(Moved(Instant::now(), AtomicU64::new(0)))
    }

    fn advance(&self, seconds: u64) {
        self.1.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for Moved {
    fn now(&self) -> Instant {
        self.0 + Duration::from_secs(self.1.load(Ordering::SeqCst))
    }
}

/// A stack whose front-end throttles by `policy` on `clock`.
async fn throttled(policy: Policy, clock: &Arc<Moved>, trust_loopback_proxy: bool) -> Stack {
    let clock = clock.clone();
    stack_with(move |frontend, _, _| {
        frontend.throttle = policy;
        frontend.clock = clock;
        if trust_loopback_proxy {
            frontend.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        }
    })
    .await
}

fn policy(account_free: u32, address_free: u32) -> Policy {
    Policy {
        account_free_attempts: account_free,
        address_free_attempts: address_free,
        base_delay: Duration::from_secs(60),
        max_delay: Duration::from_secs(900),
        ..Policy::default()
    }
}

/// One attempt in a fresh session, from a fresh browser.
async fn attempt(stack: &Stack, browser: &Browser, user: &str, password: &str) -> Page {
    let form = stack.login_form(browser).await;
    browser.submit(form.form("login").set("username", user).set("password", password)).await
}

fn assert_wrong(page: &Page) {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.is_login_form());
    assert_eq!(page.text(".error"), "Wrong username or password.");
}

/// The throttled answer: the login form again, 429, and how long to wait.
fn assert_throttled(page: &Page, seconds: u64) {
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS, "{}", page.body);
    assert!(page.is_login_form(), "the form comes back, for later");
    assert_eq!(page.text(".error"), format!("Too many sign-in attempts. Try again in {seconds} seconds."));
    assert_eq!(page.headers[header::RETRY_AFTER], seconds.to_string().as_str());
}

#[tokio::test]
async fn wrong_passwords_across_fresh_sessions_throttle_the_account_until_the_backoff_passes() {
    let clock = Moved::new();
    let stack = throttled(policy(3, 1000), &clock, false).await;
    for i in 0..3 {
        assert_wrong(&attempt(&stack, &Browser::new(), "alice", &format!("guess {i}")).await);
    }
    // The fourth attempt in a fresh session is refused unchecked, the right password too.
    let refused = attempt(&stack, &Browser::new(), "alice", "wonderland").await;
    assert_throttled(&refused, 60);
    assert!(!refused.is_consent_form());
    clock.advance(45);
    assert_throttled(&attempt(&stack, &Browser::new(), "alice", "wonderland").await, 15);
    assert_wrong(&attempt(&stack, &Browser::new(), "bob", "nope").await);

    clock.advance(15);
    let browser = Browser::new();
    let consent = attempt(&stack, &browser, "alice", "wonderland").await;
    assert!(consent.is_consent_form(), "after the backoff the right password signs in: {}", consent.body);

    // An account that does not exist is throttled in the same way, with the same words.
    for _ in 0..3 {
        assert_wrong(&attempt(&stack, &Browser::new(), "mallory", "x").await);
    }
    assert_throttled(&attempt(&stack, &Browser::new(), "mallory", "x").await, 60);
}

#[tokio::test]
async fn a_failure_after_the_backoff_doubles_it_and_a_success_clears_the_account() {
    let clock = Moved::new();
    let stack = throttled(policy(2, 1000), &clock, false).await;
    for _ in 0..2 {
        assert_wrong(&attempt(&stack, &Browser::new(), "bob", "nope").await);
    }
    assert_throttled(&attempt(&stack, &Browser::new(), "bob", "builder").await, 60);
    clock.advance(60);
    assert_wrong(&attempt(&stack, &Browser::new(), "bob", "nope").await);
    assert_throttled(&attempt(&stack, &Browser::new(), "bob", "builder").await, 120);
    clock.advance(120);
    assert!(attempt(&stack, &Browser::new(), "bob", "builder").await.is_consent_form());
    // The success cleared bob's count: two free failures again.
    for _ in 0..2 {
        assert_wrong(&attempt(&stack, &Browser::new(), "bob", "nope").await);
    }
    assert_throttled(&attempt(&stack, &Browser::new(), "bob", "builder").await, 60);
}

#[tokio::test]
async fn the_address_throttle_counts_across_user_names() {
    let clock = Moved::new();
    let stack = throttled(policy(1000, 3), &clock, false).await;
    for user in ["u1", "u2", "u3"] {
        assert_wrong(&attempt(&stack, &Browser::new(), user, "x").await);
    }
    // Every request comes from 127.0.0.1: that address is now throttled, whatever the name.
    assert_throttled(&attempt(&stack, &Browser::new(), "alice", "wonderland").await, 60);
    assert_throttled(&attempt(&stack, &Browser::new(), "u4", "x").await, 60);
    clock.advance(60);
    assert!(attempt(&stack, &Browser::new(), "alice", "wonderland").await.is_consent_form());
}

fn forwarded_for(address: &str) -> Browser {
    let mut headers = header::HeaderMap::new();
    headers.insert("x-forwarded-for", address.parse().unwrap());
    Browser::with_headers(headers)
}

#[tokio::test]
async fn x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
    // Not trusted: a forged header does not make each guess come from somewhere else.
    let clock = Moved::new();
    let stack = throttled(policy(1000, 2), &clock, false).await;
    for (user, from) in [("u1", "203.0.113.1"), ("u2", "203.0.113.2")] {
        assert_wrong(&attempt(&stack, &forwarded_for(from), user, "x").await);
    }
    assert_throttled(&attempt(&stack, &forwarded_for("203.0.113.3"), "alice", "wonderland").await, 60);

    // Trusted (the loopback peer is the proxy): each client is counted under its own address.
    let stack = throttled(policy(1000, 2), &clock, true).await;
    for user in ["u1", "u2"] {
        assert_wrong(&attempt(&stack, &forwarded_for("203.0.113.1"), user, "x").await);
    }
    assert_throttled(&attempt(&stack, &forwarded_for("203.0.113.1"), "u3", "x").await, 60);
    let other = attempt(&stack, &forwarded_for("203.0.113.2"), "alice", "wonderland").await;
    assert!(other.is_consent_form(), "another client behind the proxy is not throttled: {}", other.body);
}
