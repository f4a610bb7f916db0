//! The `[signing.pkcs11]` configuration section and where the PIN comes from.

use std::path::PathBuf;
use std::time::Duration;

use gatehouse_protocol::secret::Secret;
use serde::Deserialize;

use super::Error;
use crate::ring::Publication;

/// How Gatehouse reaches the HSM and which keys it uses.
///
/// ```toml
/// [signing.pkcs11]
/// module = "/usr/lib/softhsm/libsofthsm2.so"
/// token_label = "gatehouse"
/// pin_file = "/run/secrets/hsm-pin"     # or: pin_env = "GATEHOUSE_HSM_PIN"
/// key_labels = ["idtoken-2026"]         # optional; default: every key with a certificate
/// sessions = 4
/// inline_below = "150us"
/// rescan_interval = "1m"
/// publish_ahead = "1d"
/// retire_grace = "1d"
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Config {
    /// Path of the PKCS#11 module (a shared library).
    pub module: PathBuf,
    /// Label of the token that holds the keys. Slot numbers change when tokens are
    /// initialised, so the token is found by its label.
    pub token_label: String,
    /// A file holding the user PIN (a trailing newline is ignored).
    #[serde(default)]
    pub pin_file: Option<PathBuf>,
    /// An environment variable holding the user PIN.
    #[serde(default)]
    pub pin_env: Option<String>,
    /// Use only keys with these `CKA_LABEL`s (together with `key_ids`). Both empty: every
    /// signing key that has a certificate.
    #[serde(default)]
    pub key_labels: Vec<String>,
    /// Use only keys with these `CKA_ID`s, in hex (together with `key_labels`).
    #[serde(default)]
    pub key_ids: Vec<String>,
    /// Sessions opened for signing, each with its own thread: the number of signatures the
    /// HSM works on at once.
    #[serde(default = "default_sessions")]
    pub sessions: usize,
    /// While the device signs an algorithm in less than this (a moving average of its own
    /// time per signature), a request signs on its own thread in one more session, the inline
    /// session, when that is free: no hand-off to a session thread and back. At most one
    /// request at a time signs inline, so a device that hangs holds at most one of the
    /// server's threads. Zero turns it off.
    #[serde(default = "default_inline_below", with = "humantime_serde")]
    pub inline_below: Duration,
    /// How often the token is searched for added, removed or renewed keys.
    #[serde(default = "default_rescan_interval", with = "humantime_serde")]
    pub rescan_interval: Duration,
    /// Keys whose certificate becomes valid within this time are published already.
    #[serde(default = "default_publish_ahead", with = "humantime_serde")]
    pub publish_ahead: Duration,
    /// Keys whose certificate expired stay published this long. It must be at least the
    /// longest token lifetime.
    #[serde(default = "default_retire_grace", with = "humantime_serde")]
    pub retire_grace: Duration,
}

fn default_sessions() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().max(2))
}

fn default_inline_below() -> Duration {
    Duration::from_micros(150)
}

fn default_rescan_interval() -> Duration {
    Duration::from_secs(60)
}

fn default_publish_ahead() -> Duration {
    Duration::from_secs(24 * 3600)
}

fn default_retire_grace() -> Duration {
    Duration::from_secs(24 * 3600)
}

/// Where the PIN is read from.
#[derive(Clone, Debug)]
pub enum PinSource {
    File(PathBuf),
    Env(String),
}

impl Pkcs11Config {
    /// A configuration with the default settings.
    pub fn new(module: impl Into<PathBuf>, token_label: impl Into<String>, pin: PinSource) -> Self {
        let (pin_file, pin_env) = match pin {
            PinSource::File(path) => (Some(path), None),
            PinSource::Env(name) => (None, Some(name)),
        };
        Self {
            module: module.into(),
            token_label: token_label.into(),
            pin_file,
            pin_env,
            key_labels: Vec::new(),
            key_ids: Vec::new(),
            sessions: default_sessions(),
            inline_below: default_inline_below(),
            rescan_interval: default_rescan_interval(),
            publish_ahead: default_publish_ahead(),
            retire_grace: default_retire_grace(),
        }
    }

    pub fn publication(&self) -> Publication {
        Publication { ahead: self.publish_ahead, grace: self.retire_grace }
    }

    /// Reads the user PIN. Error messages name the source, never the PIN.
    pub fn pin(&self) -> Result<Secret<String>, Error> {
        let pin = match (&self.pin_file, &self.pin_env) {
            (Some(path), None) => std::fs::read_to_string(path)
                .map_err(|e| Error::Pin(format!("cannot read the PIN file {}: {e}", path.display())))?,
            (None, Some(name)) => std::env::var(name)
                .map_err(|_| Error::Pin(format!("the environment variable {name} (pin_env) is not set")))?,
            (None, None) => {
                return Err(Error::Pin("set pin_file or pin_env to say where the token PIN is".to_owned()));
            }
            (Some(_), Some(_)) => {
                return Err(Error::Pin("set only one of pin_file and pin_env".to_owned()));
            }
        };
        let pin = pin.trim_end_matches(['\r', '\n']);
        if pin.is_empty() {
            return Err(Error::Pin("the token PIN is empty".to_owned()));
        }
        Ok(Secret::new(pin.to_owned()))
    }

    /// Whether the key with this label and id is one the configuration selects.
    pub(crate) fn selects(&self, label: &str, id_hex: &str) -> bool {
        (self.key_labels.is_empty() && self.key_ids.is_empty())
            || self.key_labels.iter().any(|l| l == label)
            || self.key_ids.iter().any(|i| i.eq_ignore_ascii_case(id_hex))
    }

    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.sessions == 0 {
            return Err(Error::Config("sessions must be at least 1".to_owned()));
        }
        if self.rescan_interval.is_zero() {
            return Err(Error::Config("rescan_interval must be longer than zero".to_owned()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_toml_section_and_rejects_unknown_keys() {
        let config: Pkcs11Config = serde_json::from_value(serde_json::json!({
            "module": "/usr/lib/softhsm/libsofthsm2.so",
            "token_label": "gatehouse",
            "pin_env": "HSM_PIN",
            "retire_grace": "2h",
        }))
        .unwrap();
        assert_eq!(config.retire_grace, Duration::from_secs(7200));
        assert_eq!(config.publish_ahead, Duration::from_secs(86_400));
        let unknown = serde_json::from_value::<Pkcs11Config>(serde_json::json!({
            "module": "m", "token_label": "t", "pin": "1234",
        }));
        assert!(unknown.unwrap_err().to_string().contains("unknown field `pin`"));
    }

    #[test]
    fn pin_comes_from_one_source_and_is_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pin");
        std::fs::write(&file, "4321\n").unwrap();
        let config = Pkcs11Config::new("m", "t", PinSource::File(file));
        let pin = config.pin().unwrap();
        assert_eq!(pin.expose(), "4321");
        assert!(!format!("{pin:?}").contains("4321"));
        let missing = Pkcs11Config::new("m", "t", PinSource::Env("GATEHOUSE_TEST_UNSET_PIN".into()));
        assert!(missing.pin().unwrap_err().to_string().contains("GATEHOUSE_TEST_UNSET_PIN"));
    }

    #[test]
    fn key_filter() {
        let mut config = Pkcs11Config::new("m", "t", PinSource::Env("X".into()));
        assert!(config.selects("any", "01"));
        config.key_ids = vec!["0A0B".into()];
        assert!(config.selects("any", "0a0b"));
        assert!(!config.selects("any", "01"));
        config.key_labels = vec!["mine".into()];
        assert!(config.selects("mine", "01"));
    }
}
