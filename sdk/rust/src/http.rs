//! Outbound HTTP through the host (`wasi:http/outgoing-handler`).
//!
//! Only the schemes, hosts and ports the operator listed in the plugin's manifest can be
//! reached; any other request fails with [`HttpError::Denied`] before a connection is made. A
//! plugin that uses this module and has no allowed hosts is refused when it loads.

use std::fmt;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, IncomingBody, Method, OutgoingRequest, Scheme};
use wasip2::io::streams::StreamError;

/// An HTTP response with its whole body.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| HttpError::Other(format!("the body is not the JSON expected: {e}")))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// The URL is not an absolute `http` or `https` URL.
    BadUrl(String),
    /// The host refused the request: its scheme, host or port is not allowed for this plugin.
    Denied,
    /// Any other failure, described.
    Other(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadUrl(url) => write!(f, "not an absolute http(s) URL: {url}"),
            Self::Denied => f.write_str("the host does not allow this plugin to reach that address"),
            Self::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for HttpError {}

/// `GET url` with the given request headers.
pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<Response, HttpError> {
    let (scheme, rest) = match url.split_once("://") {
        Some(("http", rest)) => (Scheme::Http, rest),
        Some(("https", rest)) => (Scheme::Https, rest),
        _ => return Err(HttpError::BadUrl(url.to_owned())),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(HttpError::BadUrl(url.to_owned()));
    }
    let fields = Fields::new();
    for (name, value) in headers {
        fields
            .append(name, &value.as_bytes().to_vec())
            .map_err(|e| HttpError::Other(format!("header {name}: {e:?}")))?;
    }
    let request = OutgoingRequest::new(fields);
    let invalid = |what: &str| HttpError::BadUrl(format!("{url} ({what})"));
    request.set_method(&Method::Get).map_err(|()| invalid("method"))?;
    request.set_scheme(Some(&scheme)).map_err(|()| invalid("scheme"))?;
    request.set_authority(Some(authority)).map_err(|()| invalid("authority"))?;
    request.set_path_with_query(Some(path)).map_err(|()| invalid("path"))?;
    let pending = outgoing_handler::handle(request, None).map_err(error)?;
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(error(e)),
        Some(Err(())) | None => return Err(HttpError::Other("the response was lost".into())),
    };
    let status = response.status();
    let body = response.consume().map_err(|()| HttpError::Other("the body was taken".into()))?;
    let bytes = read_all(&body)?;
    IncomingBody::finish(body);
    Ok(Response { status, body: bytes })
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so a value stays one path
/// segment or one query parameter.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn read_all(body: &IncomingBody) -> Result<Vec<u8>, HttpError> {
    let stream = body.stream().map_err(|()| HttpError::Other("the body stream was taken".into()))?;
    let mut out = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => out.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok(out),
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(HttpError::Other(format!("reading the body failed: {}", e.to_debug_string())));
            }
        }
    }
}

fn error(code: ErrorCode) -> HttpError {
    match code {
        ErrorCode::HttpRequestDenied => HttpError::Denied,
        other => HttpError::Other(format!("{other:?}")),
    }
}
