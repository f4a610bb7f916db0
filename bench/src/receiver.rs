//! `--mode receive`: https back-channel logout receivers on loopback ports, answering every
//! request 200, with a self-signed certificate for 127.0.0.1 written where the provider's
//! `outbound.ca_file` reads it. They count what they receive and print the count when stopped.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::rustls;

pub async fn serve(ports: &[u16], ca_out: &Path) -> Result<(), String> {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .map_err(|e| e.to_string())?;
    std::fs::write(ca_out, cert.cert.pem()).map_err(|e| e.to_string())?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .map_err(|e| e.to_string())?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let received = Arc::new(AtomicU64::new(0));
    for port in ports {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], *port))).await.map_err(|e| e.to_string())?;
        let (acceptor, received) = (acceptor.clone(), received.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, received) = (acceptor.clone(), received.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let service = service_fn(move |_request| {
                        received.fetch_add(1, Ordering::Relaxed);
                        async { Ok::<_, std::convert::Infallible>(hyper::Response::new(String::new())) }
                    });
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
                });
            }
        });
    }
    println!("receiving on {ports:?}");
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    println!("backchannel_logouts_received={}", received.load(Ordering::Relaxed));
    Ok(())
}
