//! The outside world the protocol reads: time and randomness, injected so tests control them.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixTime(pub i64);

impl UnixTime {
    pub fn plus(self, seconds: u64) -> UnixTime {
        UnixTime(self.0.saturating_add(seconds.min(i64::MAX as u64) as i64))
    }

    pub fn minus(self, seconds: u64) -> UnixTime {
        UnixTime(self.0.saturating_sub(seconds.min(i64::MAX as u64) as i64))
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where the protocol gets the time of day.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> UnixTime;
}

/// The machine's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        UnixTime(d.as_secs() as i64)
    }
}

/// The machine's clock moved by an offset tests can change, so expiry and key roll-over can
/// be exercised without waiting.
#[derive(Debug, Default, Clone)]
pub struct ShiftedClock {
    offset: Arc<AtomicI64>,
}

impl ShiftedClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward (or back, with a negative value) by `seconds`.
    pub fn advance(&self, seconds: i64) {
        self.offset.fetch_add(seconds, Ordering::SeqCst);
    }

    pub fn offset(&self) -> i64 {
        self.offset.load(Ordering::SeqCst)
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> UnixTime {
        UnixTime(SystemClock.now().0 + self.offset.load(Ordering::SeqCst))
    }
}

/// Where the protocol gets unpredictable bytes for identifiers, codes and tokens.
pub trait Random: Send + Sync + 'static {
    fn fill(&self, buf: &mut [u8]);

    /// A URL-safe random string carrying `bytes` bytes of entropy.
    fn token(&self, bytes: usize) -> String {
        let mut buf = vec![0u8; bytes];
        self.fill(&mut buf);
        URL_SAFE_NO_PAD.encode(buf)
    }
}

/// The operating system's secure random generator.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRandom;

impl Random for SystemRandom {
    fn fill(&self, buf: &mut [u8]) {
        use aws_lc_rs::rand::SecureRandom;
        // The system generator only fails when the OS has no entropy source at all; there is
        // nothing safe to continue with then.
        aws_lc_rs::rand::SystemRandom::new().fill(buf).expect("the operating system's random generator failed");
    }
}
