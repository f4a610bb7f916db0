//! The wasi:http egress of one plugin: it reaches only the origins its manifest lists, and
//! only at addresses that pass the egress policy.
//!
//! A request's scheme, host and port must match an allowed origin. The host is then resolved
//! once, here; unless the manifest names the origin by IP literal or opts in with
//! `allow_private_addresses`, loopback, private, link-local (cloud metadata), shared and
//! reserved addresses are refused (`gatehouse-egress`), and the connection goes to exactly the
//! address that was checked, so a name cannot be re-resolved elsewhere (DNS rebinding). No
//! redirect is followed here: a guest that follows one makes a new request, checked the same
//! way. Response bodies are capped at [`MAX_RESPONSE_BYTES`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use gatehouse_egress::Policy;
use http::header::HOST;
use http::{HeaderValue, Request, Uri};
use http_body_util::{BodyExt, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::manifest::Origin;

type ResponseFuture = Box<
    dyn Future<Output = Result<(http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>), Error>>
        + Send,
>;

/// The largest response body a plugin may read.
pub const MAX_RESPONSE_BYTES: usize = 4 << 20;

/// The `wasi:http` hooks of one plugin call.
pub(crate) struct Outbound {
    plugin: Arc<str>,
    allowed: Arc<[Origin]>,
    /// The manifest's `allow_private_addresses`.
    private: bool,
}

impl Outbound {
    pub(crate) fn new(plugin: Arc<str>, allowed: Arc<[Origin]>, private: bool) -> Self {
        Self { plugin, allowed, private }
    }

    /// The allowed origin the request's own URI (scheme, host and port) names. The guest's
    /// `Host` header plays no part: it is replaced below.
    fn allows(&self, request: &Request<WasiBody>) -> Option<&Origin> {
        let uri = request.uri();
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return None;
        };
        let port = uri.port_u16().or(match scheme {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        });
        let host = host.to_ascii_lowercase();
        self.allowed.iter().find(|o| o.scheme == scheme && o.host == host && Some(o.port) == port)
    }
}

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        mut request: Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        let Some(origin) = self.allows(&request).cloned() else {
            tracing::warn!(
                plugin = &*self.plugin,
                uri = %request.uri(),
                "outbound request denied: the origin is not in the plugin's allowed_outbound_hosts"
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        };
        // The Host header always names the checked origin (Spin's CVE-2024-32980 was trusting
        // the guest's).
        let authority = request.uri().authority().map(|a| a.as_str().to_owned()).unwrap_or_default();
        match HeaderValue::from_str(&authority) {
            Ok(value) => {
                request.headers_mut().insert(HOST, value);
            }
            Err(_) => return Box::new(async { Err(Error::HttpRequestUriInvalid) }),
        }
        let (plugin, private) = (self.plugin.clone(), self.private);
        Box::new(async move {
            let connect_timeout = options.and_then(|o| o.connect_timeout);
            let address = resolve(&plugin, &origin, private).await?;
            let response = send(request, &origin, address, connect_timeout).await?;
            Ok((response, Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

/// The one address the request goes to: the origin's IP literal, or the first address its
/// name resolves to that the egress policy allows.
async fn resolve(plugin: &str, origin: &Origin, private: bool) -> Result<SocketAddr, Error> {
    let literal = origin.host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok();
    // An address the manifest names is allowed as named; a name only to public addresses,
    // unless the manifest opts in.
    let policy = Policy { allow_private: private || literal.is_some(), allowed_networks: Vec::new() };
    let candidates: Vec<SocketAddr> = match literal {
        Some(ip) => vec![SocketAddr::new(ip, origin.port)],
        None => tokio::net::lookup_host((origin.host.as_str(), origin.port))
            .await
            .map_err(|_| Error::DnsError { rcode: None, info_code: None })?
            .collect(),
    };
    let mut refused = None;
    for candidate in candidates {
        match policy.check(candidate.ip()) {
            Ok(()) => return Ok(candidate),
            Err(why) => refused = Some((candidate, why)),
        }
    }
    match refused {
        Some((address, why)) => {
            tracing::warn!(
                plugin,
                host = %origin.host,
                %address,
                "outbound request denied: {why} (set allow_private_addresses in the manifest to allow it)"
            );
            Err(Error::DestinationIpProhibited)
        }
        None => Err(Error::DestinationNotFound),
    }
}

/// Sends the request over HTTP/1.1 to `address`, with TLS for `https` (the certificate checked
/// against the origin's host name), and caps the response body.
async fn send(
    mut request: Request<WasiBody>,
    origin: &Origin,
    address: SocketAddr,
    connect_timeout: Option<std::time::Duration>,
) -> Result<http::Response<WasiBody>, Error> {
    let connect = TcpStream::connect(address);
    let tcp = match connect_timeout {
        Some(limit) => tokio::time::timeout(limit, connect).await.map_err(|_| Error::ConnectionTimeout)?,
        None => connect.await,
    }
    .map_err(|_| Error::ConnectionRefused)?;
    // Only the path and query go on the request line.
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    *request.uri_mut() = Uri::builder().path_and_query(path).build().map_err(|_| Error::HttpRequestUriInvalid)?;
    let response = if origin.scheme == "https" {
        let name = tls_name(&origin.host)?;
        let tls = tls_connector().connect(name, tcp).await.map_err(|_| Error::TlsCertificateError)?;
        exchange(TokioIo::new(tls), request).await?
    } else {
        exchange(TokioIo::new(tcp), request).await?
    };
    Ok(response.map(|body| {
        Limited::new(body, MAX_RESPONSE_BYTES)
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    Error::HttpResponseBodySize(None)
                } else {
                    Error::HttpResponseIncomplete
                }
            })
            .boxed_unsync()
    }))
}

/// One request and its response on a new connection, the connection driven by a task of its own.
async fn exchange<T>(io: T, request: Request<WasiBody>) -> Result<http::Response<hyper::body::Incoming>, Error>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(io).await.map_err(|_| Error::HttpProtocolError)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender.send_request(request).await.map_err(|_| Error::HttpResponseIncomplete)
}

fn tls_name(host: &str) -> Result<rustls::pki_types::ServerName<'static>, Error> {
    use rustls::pki_types::ServerName;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => Ok(ServerName::from(ip)),
        Err(_) => ServerName::try_from(bare.to_owned()).map_err(|_| Error::HttpRequestUriInvalid),
    }
}

/// The TLS client: the web PKI's roots, as `wasmtime-wasi-http`'s own client has.
fn tls_connector() -> tokio_rustls::TlsConnector {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
    let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Empty;

    fn origin(text: &str) -> Origin {
        Origin::parse(text).unwrap()
    }

    /// A one-shot HTTP server on loopback that answers `response` to whatever it is sent.
    async fn answering(response: Vec<u8>) -> SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = [0u8; 4096];
            let _ = stream.read(&mut head).await;
            let _ = stream.write_all(&response).await;
        });
        address
    }

    #[tokio::test]
    async fn a_redirect_is_handed_to_the_guest_not_followed_and_bodies_are_capped() {
        let redirect =
            b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data\r\nContent-Length: 0\r\n\r\n";
        let address = answering(redirect.to_vec()).await;
        let origin = origin(&format!("http://{address}"));
        let response =
            send(request(&format!("http://{address}/users/alice"), None), &origin, address, None).await.unwrap();
        assert_eq!(response.status(), 302, "the host does not follow it");

        let size = MAX_RESPONSE_BYTES + 1;
        let mut big = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n").into_bytes();
        big.resize(big.len() + size, b'x');
        let address = answering(big).await;
        let origin = Origin::parse(&format!("http://{address}")).unwrap();
        let response = send(request(&format!("http://{address}/big"), None), &origin, address, None).await.unwrap();
        let read = response.into_body().collect().await;
        assert!(matches!(read, Err(Error::HttpResponseBodySize(_))), "{:?}", read.map(|b| b.to_bytes().len()));
    }

    #[tokio::test]
    async fn a_name_is_connected_to_only_at_an_address_the_policy_allows() {
        // `localhost` resolves to loopback: refused unless the manifest opts in.
        let named = origin("http://localhost:8080");
        assert!(matches!(resolve("p", &named, false).await, Err(Error::DestinationIpProhibited)));
        let opted_in = resolve("p", &named, true).await.expect("allowed with allow_private_addresses");
        assert!(opted_in.ip().is_loopback() && opted_in.port() == 8080);
        // An IP literal in the manifest is the operator's own choice.
        let literal = resolve("p", &origin("http://127.0.0.1:9"), false).await.unwrap();
        assert_eq!(literal, "127.0.0.1:9".parse().unwrap());
        let literal = resolve("p", &origin("http://[::1]:9"), false).await.unwrap();
        assert_eq!(literal, "[::1]:9".parse().unwrap());
        // A literal that is never a destination stays refused.
        assert!(matches!(resolve("p", &origin("http://0.0.0.0:80"), false).await, Err(Error::DestinationIpProhibited)));
    }

    fn request(uri: &str, host_header: Option<&str>) -> Request<WasiBody> {
        let mut builder = Request::get(uri);
        if let Some(h) = host_header {
            builder = builder.header(HOST, h);
        }
        builder.body(Empty::new().map_err(|never| match never {}).boxed_unsync()).unwrap()
    }

    #[test]
    fn matches_scheme_host_and_port_and_ignores_the_host_header() {
        let allowed: Arc<[Origin]> =
            vec![Origin::parse("http://127.0.0.1:8080").unwrap(), Origin::parse("https://API.example.com").unwrap()]
                .into();
        let hooks = Outbound::new("p".into(), allowed, false);
        let allows = |uri: &str, host: Option<&str>| hooks.allows(&request(uri, host)).is_some();
        assert!(allows("http://127.0.0.1:8080/users/1", None));
        assert!(allows("https://api.example.com/x", None));
        assert!(allows("https://api.example.com:443/x", None));
        assert!(!allows("https://127.0.0.1:8080/users/1", None), "scheme");
        assert!(!allows("http://127.0.0.1:8081/users/1", None), "port");
        assert!(!allows("http://api.example.com/x", None), "scheme and port");
        assert!(!allows("http://evil.example:8080/", Some("127.0.0.1:8080")), "host header");
    }
}
