//! What the server logs during a test, captured for assertions about log lines.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::util::SubscriberInitExt;

/// What the server logs while the guard lives: the test's own thread only.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    /// Captures INFO and above. Tests run the server on their own single-threaded runtime, so
    /// everything it logs for their requests is written on their thread.
    pub fn capture() -> (Log, tracing::dispatcher::DefaultGuard) {
        let log = Log::default();
        let writer = log.clone();
        let guard =
            tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish().set_default();
        (log, guard)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}
