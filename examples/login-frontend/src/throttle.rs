//! Password attempts, throttled per account and per client address.
//!
//! The count cannot live in the authorization session's `data`: a new `GET /login` starts a
//! new session with a count of zero. It lives here instead, in a table of the front-end's own,
//! bounded in entries and forgetting an account or address `forget_after` its last failure.
//!
//! The curve, per account and per address alike: the first `free` failures cost nothing; from
//! then on each failure blocks further attempts for `base_delay × 2^(failures − free)`, at most
//! `max_delay`. With the defaults (5 free per account, 20 per address, 1 s doubling to 15 min)
//! an account takes 5 guesses at once, then 1 s, 2 s, 4 s, … apart, and after 15 failures
//! about four an hour.
//!
//! An attempt is counted as a failure when it begins, before its password is checked, so that
//! guesses sent side by side cannot slip past the count; a success removes the account's count
//! and takes the attempt back from the address's (an attacker's own account must not wipe the
//! address's record, so it is not cleared), and an attempt that never got checked is taken
//! back from both. A blocked attempt is not counted and costs no Argon2 verification.
//!
//! Accounts are keyed by the SHA-256 of the username as typed, known or not, so the table
//! holds no usernames and treats unknown ones as it treats real ones. Addresses are keyed as
//! IPv4 addresses and as IPv6 /64 networks (one subscriber's usual allocation). When the table
//! is full, expired entries go first, then those that block nothing (oldest first), then the
//! one whose block ends soonest: an account under attack keeps its record longest.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Where the throttle reads the time; tests move it.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

/// The system's monotonic clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// How many attempts are free, how the delay grows and how much is remembered.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Failures per account before the delays start.
    pub account_free_attempts: u32,
    /// Failures per client address before the delays start (higher than per account: people
    /// behind one NAT share an address).
    pub address_free_attempts: u32,
    /// The first delay; each further failure doubles it.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// How long after its last failure an account or address is forgotten.
    pub forget_after: Duration,
    /// How many accounts and addresses the table holds at most.
    pub max_entries: usize,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            account_free_attempts: 5,
            address_free_attempts: 20,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(60 * 60),
            max_entries: 10_000,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Account([u8; 32]),
    Address(IpAddr),
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    last: Instant,
}

/// The throttle: the policy, the clock and the table.
pub struct Throttle {
    policy: Policy,
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<Key, Entry>>,
}

impl Throttle {
    /// Delays and memory longer than a year are taken as a year.
    pub fn new(mut policy: Policy, clock: Arc<dyn Clock>) -> Throttle {
        const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
        policy.max_delay = policy.max_delay.min(YEAR);
        policy.forget_after = policy.forget_after.min(YEAR);
        Throttle { policy, clock, entries: Mutex::new(HashMap::new()) }
    }

    /// Counts an attempt at `account` from `address` before its password is checked, or says
    /// how long the caller must wait before trying again.
    pub fn begin(&self, account: &str, address: IpAddr) -> Result<(), Duration> {
        let now = self.clock.now();
        let keys = keys(account, address);
        let mut entries = self.lock();
        let wait = keys
            .iter()
            .filter_map(|key| entries.get(key).map(|e| self.blocked_until(key, e, now)))
            .max()
            .and_then(|until| until.checked_duration_since(now))
            .filter(|wait| !wait.is_zero());
        if let Some(wait) = wait {
            return Err(wait);
        }
        for key in keys {
            let entry = match entries.get_mut(&key) {
                Some(e) if self.expires(&key, e) > now => e,
                _ => {
                    entries.remove(&key);
                    self.make_room(&mut entries, now);
                    entries.entry(key).or_insert(Entry { failures: 0, last: now })
                }
            };
            entry.failures = entry.failures.saturating_add(1);
            entry.last = now;
        }
        Ok(())
    }

    /// The attempt [`begin`](Self::begin) counted had the right password.
    pub fn succeeded(&self, account: &str, address: IpAddr) {
        let [account, address] = keys(account, address);
        let mut entries = self.lock();
        entries.remove(&account);
        take_back(&mut entries, &address);
    }

    /// The attempt [`begin`](Self::begin) counted was never checked (the server was busy).
    pub fn refund(&self, account: &str, address: IpAddr) {
        let mut entries = self.lock();
        for key in keys(account, address) {
            take_back(&mut entries, &key);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn free(&self, key: &Key) -> u32 {
        match key {
            Key::Account(_) => self.policy.account_free_attempts,
            Key::Address(_) => self.policy.address_free_attempts,
        }
    }

    /// Until when `entry` blocks attempts (at or before its last failure: not at all).
    fn blocked_until(&self, key: &Key, entry: &Entry, now: Instant) -> Instant {
        match self.block_end(key, entry) {
            Some(end) if self.expires(key, entry) > now => end,
            _ => entry.last,
        }
    }

    /// When `entry` is forgotten: `forget_after` its last failure, and never while it blocks.
    fn expires(&self, key: &Key, entry: &Entry) -> Instant {
        let forget = entry.last + self.policy.forget_after;
        self.block_end(key, entry).map_or(forget, |end| end.max(forget))
    }

    /// The end of the block `entry` imposes, once its failures are past the free ones.
    fn block_end(&self, key: &Key, entry: &Entry) -> Option<Instant> {
        let over = entry.failures.checked_sub(self.free(key))?;
        let delay = self.policy.base_delay.saturating_mul(2u32.saturating_pow(over));
        Some(entry.last + delay.min(self.policy.max_delay))
    }

    /// Makes room for one more entry: expired ones go first, then those blocking nothing
    /// (oldest first), then the one whose block ends soonest.
    fn make_room(&self, entries: &mut HashMap<Key, Entry>, now: Instant) {
        if entries.len() < self.policy.max_entries.max(1) {
            return;
        }
        entries.retain(|key, entry| self.expires(key, entry) > now);
        while entries.len() >= self.policy.max_entries.max(1) {
            let least = entries
                .iter()
                .min_by_key(|(key, entry)| (self.blocked_until(key, entry, now), entry.last))
                .map(|(key, _)| *key);
            match least {
                Some(key) => entries.remove(&key),
                None => break,
            };
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

fn take_back(entries: &mut HashMap<Key, Entry>, key: &Key) {
    if let Some(entry) = entries.get_mut(key) {
        entry.failures = entry.failures.saturating_sub(1);
    }
}

fn keys(account: &str, address: IpAddr) -> [Key; 2] {
    [Key::Account(Sha256::digest(account.as_bytes()).into()), Key::Address(network(address))]
}

/// The address an attempt is counted under: IPv4 as it is (also when IPv4-mapped), IPv6 as
/// its /64 network.
fn network(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !(u64::MAX as u128)).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// A clock that stands still until moved.
    struct Moved(Instant, AtomicU64);

    impl Moved {
        fn new() -> Arc<Moved> {
            Arc::new(Moved(Instant::now(), AtomicU64::new(0)))
        }

        fn advance(&self, d: Duration) {
            self.1.fetch_add(d.as_millis() as u64, Ordering::SeqCst);
        }
    }

    impl Clock for Moved {
        fn now(&self) -> Instant {
            self.0 + Duration::from_millis(self.1.load(Ordering::SeqCst))
        }
    }

    fn policy() -> Policy {
        Policy {
            account_free_attempts: 3,
            address_free_attempts: 100,
            base_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(60),
            forget_after: Duration::from_secs(3600),
            max_entries: 100,
        }
    }

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    #[test]
    fn free_attempts_then_doubling_delays_up_to_the_cap() {
        let clock = Moved::new();
        let throttle = Throttle::new(policy(), clock.clone());
        for _ in 0..3 {
            throttle.begin("alice", HOME).unwrap();
        }
        // Three failures: 10 s, then 20 s, 40 s and at most 60 s.
        for expected in [10, 20, 40, 60, 60] {
            assert_eq!(throttle.begin("alice", HOME), Err(Duration::from_secs(expected)));
            clock.advance(Duration::from_secs(expected - 1));
            assert_eq!(throttle.begin("alice", HOME), Err(Duration::from_secs(1)), "a blocked try is not counted");
            clock.advance(Duration::from_secs(1));
            throttle.begin("alice", HOME).unwrap();
        }
        assert!(throttle.begin("bob", HOME).is_ok(), "another account is not blocked");
    }

    #[test]
    fn a_success_clears_the_account_and_an_unchecked_attempt_is_taken_back() {
        let clock = Moved::new();
        let throttle = Throttle::new(policy(), clock.clone());
        for _ in 0..2 {
            throttle.begin("alice", HOME).unwrap();
        }
        throttle.refund("alice", HOME);
        throttle.begin("alice", HOME).unwrap();
        throttle.begin("alice", HOME).unwrap();
        assert!(throttle.begin("alice", HOME).is_err(), "three counted failures block");
        clock.advance(Duration::from_secs(10));
        throttle.begin("alice", HOME).unwrap();
        throttle.succeeded("alice", HOME);
        for _ in 0..3 {
            throttle.begin("alice", HOME).unwrap();
        }
    }

    #[test]
    fn the_address_counts_across_accounts_and_ipv6_by_its_64() {
        let clock = Moved::new();
        let throttle = Throttle::new(Policy { address_free_attempts: 2, ..policy() }, clock);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        throttle.begin("u1", a).unwrap();
        throttle.begin("u2", b).unwrap();
        assert!(throttle.begin("u3", a).is_err(), "one /64 is one address");
        assert!(throttle.begin("u3", "2001:db8:1:3::1".parse().unwrap()).is_ok());
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        throttle.begin("u4", mapped).unwrap();
        throttle.begin("u5", "192.0.2.7".parse().unwrap()).unwrap();
        assert!(throttle.begin("u6", mapped).is_err(), "an IPv4-mapped address is its IPv4 address");
    }

    #[test]
    fn entries_are_forgotten_and_the_table_stays_bounded() {
        let clock = Moved::new();
        let throttle = Throttle::new(Policy { max_entries: 10, ..policy() }, clock.clone());
        for _ in 0..3 {
            throttle.begin("alice", HOME).unwrap();
        }
        for i in 0..100 {
            let _ = throttle.begin(&format!("user{i}"), [10, 0, 0, i].into());
            assert!(throttle.len() <= 10);
        }
        assert!(throttle.begin("alice", HOME).is_err(), "the blocking entry outlives the others");
        clock.advance(Duration::from_secs(3600));
        for _ in 0..3 {
            throttle.begin("alice", HOME).unwrap();
        }
    }
}
