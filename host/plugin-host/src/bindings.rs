//! The host's only `bindgen!`: the types and calls of `wit/policy@0.1.0`, and the host side
//! of the `log` and `config` imports.

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

/// The longest log line a plugin may write; the rest is cut.
const MAX_LOG_LINE: usize = 4096;

impl log::Host for State {
    fn log(&mut self, level: log::Level, mut message: String) {
        if message.len() > MAX_LOG_LINE {
            let mut end = MAX_LOG_LINE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        let plugin = &*self.plugin;
        match level {
            log::Level::Debug => tracing::debug!(plugin, "{message}"),
            log::Level::Info => tracing::info!(plugin, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, "{message}"),
            log::Level::Error => tracing::error!(plugin, "{message}"),
        }
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
