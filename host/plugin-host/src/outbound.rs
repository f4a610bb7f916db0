//! The wasi:http allow-list: a plugin reaches only the origins its manifest lists.

use std::sync::Arc;

use http::header::HOST;
use http::{HeaderValue, Request};
use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::manifest::Origin;

type ResponseFuture = Box<
    dyn Future<Output = Result<(http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>), Error>>
        + Send,
>;

/// The `wasi:http` hooks of one plugin call.
pub(crate) struct Outbound {
    plugin: Arc<str>,
    allowed: Arc<[Origin]>,
}

impl Outbound {
    pub(crate) fn new(plugin: Arc<str>, allowed: Arc<[Origin]>) -> Self {
        Self { plugin, allowed }
    }

    /// Whether the request's own URI (scheme, host and port) is allowed. The guest's `Host`
    /// header plays no part: it is replaced below.
    fn allows(&self, request: &Request<WasiBody>) -> bool {
        let uri = request.uri();
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return false;
        };
        let port = uri.port_u16().or(match scheme {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        });
        let host = host.to_ascii_lowercase();
        self.allowed.iter().any(|o| o.scheme == scheme && o.host == host && Some(o.port) == port)
    }
}

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        mut request: Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        if !self.allows(&request) {
            tracing::warn!(
                plugin = &*self.plugin,
                uri = %request.uri(),
                "outbound request denied: the origin is not in the plugin's allowed_outbound_hosts"
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        // The Host header always names the checked origin (Spin's CVE-2024-32980 was trusting
        // the guest's).
        let authority = request.uri().authority().map(|a| a.as_str().to_owned()).unwrap_or_default();
        match HeaderValue::from_str(&authority) {
            Ok(value) => {
                request.headers_mut().insert(HOST, value);
            }
            Err(_) => return Box::new(async { Err(Error::HttpRequestUriInvalid) }),
        }
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Empty;

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
        let hooks = Outbound::new("p".into(), allowed);
        assert!(hooks.allows(&request("http://127.0.0.1:8080/users/1", None)));
        assert!(hooks.allows(&request("https://api.example.com/x", None)));
        assert!(hooks.allows(&request("https://api.example.com:443/x", None)));
        assert!(!hooks.allows(&request("https://127.0.0.1:8080/users/1", None)), "scheme");
        assert!(!hooks.allows(&request("http://127.0.0.1:8081/users/1", None)), "port");
        assert!(!hooks.allows(&request("http://api.example.com/x", None)), "scheme and port");
        assert!(!hooks.allows(&request("http://evil.example:8080/", Some("127.0.0.1:8080"))), "host header");
    }
}
