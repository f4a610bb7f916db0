//! TLS for tests: a throwaway certificate authority and https servers on loopback that the
//! provider reaches as it would a client's `jwks_uri` (it trusts the CA through
//! `outbound.ca_file`).

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use openidconnect::reqwest;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;

/// What a connection to a [`TestCa::serve`] server negotiated, for checks of the client's TLS.
#[derive(Clone, Copy, Debug)]
pub struct TlsInfo {
    pub version: Option<rustls::ProtocolVersion>,
    pub cipher_suite: Option<rustls::CipherSuite>,
}

/// A certificate authority that exists for one test, with its certificate in a PEM file.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate as a PEM file, for `outbound.ca_file`.
    pub file: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestCa {
    pub fn new() -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, "Gatehouse test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("CA certificate");
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, cert.pem()).expect("write the CA");
        Self { issuer: Issuer::new(params, key), file, _dir: dir }
    }

    /// A certificate for `127.0.0.1` and `localhost`, and its private key.
    pub fn server_identity(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().expect("server key");
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("server params");
        params.subject_alt_names.push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        let cert = params.signed_by(&key, &self.issuer).expect("server certificate");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (vec![cert.der().clone()], key)
    }

    /// A server certificate and key as PEM files in `dir`, for `http.tls_certificate` and
    /// `http.tls_private_key`.
    pub fn server_files(&self, dir: &std::path::Path, name: &str) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().expect("server key");
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("server params");
        params.subject_alt_names.push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        let cert = params.signed_by(&key, &self.issuer).expect("server certificate");
        let (cert_file, key_file) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
        std::fs::write(&cert_file, cert.pem()).expect("write the certificate");
        std::fs::write(&key_file, key.serialize_pem()).expect("write the key");
        (cert_file, key_file)
    }

    /// The CA certificate, for clients that should trust it.
    pub fn certificate(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_pem(&std::fs::read(&self.file).expect("the CA file")).expect("a PEM certificate")
    }

    /// Serves `router` over https on a loopback port; returns its base URL. Each request
    /// carries the connection's [`TlsInfo`] as an extension. The server lives as long as the
    /// test's runtime.
    pub async fn serve(&self, router: Router) -> String {
        let (chain, key) = self.server_identity();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server TLS config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, router) = (acceptor.clone(), router.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let connection = tls.get_ref().1;
                    let info = TlsInfo {
                        version: connection.protocol_version(),
                        cipher_suite: connection.negotiated_cipher_suite().map(|s| s.suite()),
                    };
                    let router = router.layer(axum::Extension(info));
                    let service = hyper_util::service::TowerToHyperService::new(router);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        base
    }
}

/// A Gatehouse server that fetches (`jwks_uri`, `request_uri`) from loopback https servers
/// whose certificates `ca` signed.
pub async fn server_trusting(ca: &TestCa) -> super::TestServer {
    super::TestServer::start_with(&format!(
        "[outbound]\nallow_private_addresses = true\nca_file = \"{}\"\n",
        ca.file.display()
    ))
    .await
}
