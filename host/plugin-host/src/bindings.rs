//! The host's only `bindgen!`: the types and calls of `wit/policy@0.1.0`, and the host side
//! of the `log` and `config` imports.

use gatehouse_protocol::logged::Logged;
use wasmtime::component::{HasSelf, InstancePre, Linker};

use crate::manifest::Kind;
use crate::runtime::State;

wasmtime::component::bindgen!({
    path: "../../wit/policy@0.1.0",
    world: "all-kinds",
    exports: { default: async },
});

pub(crate) use exports::gatehouse::policy::{claims, consent, hooks};
use gatehouse::policy::{config, log, types};

/// The most of a plugin's log message that is written, in characters; the rest is cut.
const MAX_LOG_CHARS: usize = 4096;

impl log::Host for State {
    fn log(&mut self, level: log::Level, message: String) {
        write_log(&self.plugin, level, &message);
    }
}

/// Writes a plugin's message as one log line: escaped and bounded (see
/// [`gatehouse_protocol::logged`]), so a newline in it cannot forge a line of the host's log.
/// The server and `plugin check` / `plugin test` both log through here.
fn write_log(plugin: &str, level: log::Level, message: &str) {
    let message = Logged::at_most(message, MAX_LOG_CHARS);
    match level {
        log::Level::Debug => tracing::debug!(plugin, "{message}"),
        log::Level::Info => tracing::info!(plugin, "{message}"),
        log::Level::Warn => tracing::warn!(plugin, "{message}"),
        log::Level::Error => tracing::error!(plugin, "{message}"),
    }
}

impl config::Host for State {
    fn get(&mut self) -> String {
        self.config.to_string()
    }
}

impl types::Host for State {}

pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    AllKinds::add_to_linker::<State, HasSelf<State>>(linker, |state| state)
}

/// Where a pre-instantiated component keeps its kind's functions.
pub(crate) enum Exports {
    Claims(claims::GuestIndices),
    Consent(consent::GuestIndices),
    Hooks(hooks::GuestIndices),
}

impl Exports {
    pub(crate) fn new(kind: Kind, pre: &InstancePre<State>) -> wasmtime::Result<Self> {
        Ok(match kind {
            Kind::ClaimsSource => Exports::Claims(claims::GuestIndices::new(pre)?),
            Kind::ConsentPolicy => Exports::Consent(consent::GuestIndices::new(pre)?),
            Kind::LoginHooks => Exports::Hooks(hooks::GuestIndices::new(pre)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_newline_in_a_plugin_message_stays_on_one_escaped_line() {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        tracing::subscriber::with_default(subscriber, || {
            write_log("evil", log::Level::Info, "user ok\nERROR gatehouse_server: admin token leaked\r\n");
            write_log("chatty", log::Level::Warn, &"x".repeat(10_000));
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "one line per message: {text}");
        assert!(lines[0].contains(r"user ok\nERROR gatehouse_server: admin token leaked\r\n"), "{}", lines[0]);
        assert!(lines[0].contains("plugin=\"evil\""), "{}", lines[0]);
        assert!(lines[1].len() < 4096 + 200, "bounded: {} bytes", lines[1].len());
        assert!(lines[1].contains(&format!("{}… (5904 more bytes)", "x".repeat(100))), "cut, and says so");
    }
}
