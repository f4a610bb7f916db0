//! Native TLS for the provider's listener (`http.tls_certificate`, `http.tls_private_key`):
//! rustls with HTTP/2 and HTTP/1.1 by ALPN. The certificate and key are read again when their
//! files change (checked every `http.tls_reload_interval`) or on `SIGHUP`; a pair that does not
//! load is logged and the serving one stays.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

/// The serving certificate, replaced whole when the files change.
pub struct Certificates {
    certificate: PathBuf,
    private_key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
    /// The files' modification times when they were last loaded.
    loaded: std::sync::Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

impl fmt::Debug for Certificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificates").field("certificate", &self.certificate).finish_non_exhaustive()
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Reads a PEM certificate chain and private key into a key rustls can serve.
fn load(certificate: &Path, private_key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certificate)
        .map_err(|e| format!("http.tls_certificate {}: {e}", certificate.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("http.tls_certificate {}: {e}", certificate.display()))?;
    if chain.is_empty() {
        return Err(format!("http.tls_certificate {} holds no PEM certificate", certificate.display()));
    }
    let key = PrivateKeyDer::from_pem_file(private_key)
        .map_err(|e| format!("http.tls_private_key {}: {e}", private_key.display()))?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("http.tls_private_key {}: {e}", private_key.display()))?;
    let key = CertifiedKey::new(chain, signing_key);
    key.keys_match().map_err(|e| {
        format!("http.tls_private_key {} does not belong to the certificate: {e}", private_key.display())
    })?;
    Ok(key)
}

impl Certificates {
    /// Loads the pair; a pair that does not load stops the start with the reason.
    pub fn open(certificate: &Path, private_key: &Path) -> Result<Arc<Self>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let stamps = (modified(certificate), modified(private_key));
        let key = load(certificate, private_key, &provider)?;
        Ok(Arc::new(Self {
            certificate: certificate.to_owned(),
            private_key: private_key.to_owned(),
            provider,
            current: ArcSwap::from_pointee(key),
            loaded: std::sync::Mutex::new(stamps),
        }))
    }

    /// Loads the files again if they changed since they were loaded (or always, with `force`).
    /// Returns whether a new certificate now serves.
    pub fn reload(&self, force: bool) -> bool {
        let stamps = (modified(&self.certificate), modified(&self.private_key));
        let Ok(mut loaded) = self.loaded.lock() else { return false };
        if !force && *loaded == stamps {
            return false;
        }
        match load(&self.certificate, &self.private_key, &self.provider) {
            Ok(key) => {
                self.current.store(Arc::new(key));
                *loaded = stamps;
                tracing::info!(certificate = %self.certificate.display(), "TLS certificate loaded");
                true
            }
            Err(e) => {
                // Half-written files are common while a renewal copies them in: try again at
                // the next check, and keep serving the old pair meanwhile.
                tracing::warn!(error = %e, "the TLS certificate could not be reloaded; the old one keeps serving");
                false
            }
        }
    }

    /// The acceptor: TLS 1.2 and 1.3, ALPN `h2` then `http/1.1`.
    pub fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor, String> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Checks the files every `interval` until the task is dropped.
    pub async fn watch(self: Arc<Self>, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        loop {
            tick.tick().await;
            self.reload(false);
        }
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}
