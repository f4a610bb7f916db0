//! How protocol results become HTTP responses, and how requests become protocol inputs:
//! error rendering per endpoint kind, the JSON and form extractors that keep malformed input
//! in the app's own error format, and bearer-token checks for the host's APIs.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_protocol::authorize::Params;
use gatehouse_protocol::secret::{constant_time_eq, sha256};
use gatehouse_protocol::token::{ClientAuth, TokenError};
use gatehouse_protocol::userinfo::BearerError;
use gatehouse_protocol::{ApiError, ErrorCode, OAuthError};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::serve::BodyTimedOut;

pub const NO_STORE: [(header::HeaderName, HeaderValue); 2] = [
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    (header::PRAGMA, HeaderValue::from_static("no-cache")),
];

/// An OAuth error from a back-channel endpoint: JSON body (RFC 6749 §5.2).
pub struct OAuthJson(pub OAuthError);

impl IntoResponse for OAuthJson {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        let body = json!({ "error": self.0.code, "error_description": self.0.description });
        (status, NO_STORE, Json(body)).into_response()
    }
}

/// A token endpoint error; `invalid_client` after HTTP Basic carries the Basic challenge.
pub struct TokenErrorResponse(pub TokenError);

impl IntoResponse for TokenErrorResponse {
    fn into_response(self) -> Response {
        let challenge = self.0.basic_challenge;
        let mut response = OAuthJson(self.0.error).into_response();
        if challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="gatehouse""#));
        }
        response
    }
}

/// A bearer-protected resource's error (RFC 6750 §3).
pub struct BearerErrorResponse(pub BearerError);

impl IntoResponse for BearerErrorResponse {
    fn into_response(self) -> Response {
        let (status, challenge) = match self.0 {
            BearerError::Missing => (StatusCode::UNAUTHORIZED, r#"Bearer realm="gatehouse""#.to_owned()),
            BearerError::Rejected(e) => {
                let status = match e.code {
                    ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
                    ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
                    ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
                    _ => StatusCode::UNAUTHORIZED,
                };
                let description = e.description.replace(['"', '\\'], "'");
                (status, format!(r#"Bearer realm="gatehouse", error="{}", error_description="{description}""#, e.code))
            }
        };
        let value =
            HeaderValue::from_str(&challenge).unwrap_or(HeaderValue::from_static(r#"Bearer realm="gatehouse""#));
        (status, [(header::WWW_AUTHENTICATE, value)], NO_STORE).into_response()
    }
}

/// An RFC 9457 problem document for the host's JSON APIs.
pub struct Problem(pub ApiError);

impl From<ApiError> for Problem {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl Problem {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self(ApiError::BadRequest(detail.into()))
    }
}

pub fn problem(status: StatusCode, detail: &str, extra: serde_json::Value) -> Response {
    let mut body = json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    if let (Some(obj), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        obj.extend(extra.clone());
    }
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"))], NO_STORE, body.to_string())
        .into_response()
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let none = serde_json::Value::Null;
        match &self.0 {
            ApiError::BadRequest(m) => problem(StatusCode::BAD_REQUEST, m, none),
            ApiError::NotFound(m) => problem(StatusCode::NOT_FOUND, m, none),
            ApiError::Conflict(m) => problem(StatusCode::CONFLICT, m, none),
            ApiError::Unavailable(m) => problem(StatusCode::SERVICE_UNAVAILABLE, m, none),
            ApiError::Internal => {
                problem(StatusCode::INTERNAL_SERVER_ERROR, "internal error; the server log has the details", none)
            }
            ApiError::OAuth(e) => problem(
                StatusCode::BAD_REQUEST,
                &e.description,
                json!({ "error": e.code, "error_description": e.description }),
            ),
        }
    }
}

/// The largest request body a group of routes accepts, set in `app.rs` with
/// `.layer(Extension(BodyLimit(n)))`; the extractors below read no more. Routes without one get
/// [`BodyLimit::DEFAULT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLimit(pub usize);

impl BodyLimit {
    /// The OAuth endpoints' forms, the client and admin APIs.
    pub const DEFAULT: BodyLimit = BodyLimit(64 << 10);
    /// The authorization-session API: a whole authentication request and the front-end's
    /// `data`.
    pub const SESSIONS: BodyLimit = BodyLimit(256 << 10);
}

/// The deepest nesting of arrays and objects the host's JSON APIs accept.
pub const MAX_JSON_DEPTH: usize = 32;

/// Why a request body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than the route's [`BodyLimit`], in bytes.
    TooLarge(usize),
    /// Not whole within `http.body_read_timeout`.
    TimedOut(std::time::Duration),
    /// The connection failed or the framing was wrong.
    Unreadable,
}

impl BodyError {
    fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Unreadable => StatusCode::BAD_REQUEST,
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::TooLarge(limit) => format!("the request body is larger than this endpoint's limit of {limit} bytes"),
            Self::TimedOut(d) => BodyTimedOut(*d).to_string(),
            Self::Unreadable => "the request body could not be read".into(),
        }
    }

    /// As an RFC 9457 problem document, for the host's JSON APIs.
    pub fn problem(&self) -> Response {
        let extra = match self {
            Self::TooLarge(limit) => json!({ "limit_bytes": limit }),
            _ => serde_json::Value::Null,
        };
        problem(self.status(), &self.detail(), extra)
    }

    /// As an OAuth error (`invalid_request`) with the matching status, for the OAuth endpoints.
    pub fn oauth(&self) -> Response {
        let mut response = OAuthJson(OAuthError::invalid_request(self.detail())).into_response();
        *response.status_mut() = self.status();
        response
    }
}

/// Reads a request body whole, within the route's [`BodyLimit`] and the listener's body
/// deadline. A declared `Content-Length` over the limit is refused before anything is read.
pub async fn read_body(req: Request) -> Result<Bytes, BodyError> {
    let limit = req.extensions().get::<BodyLimit>().copied().unwrap_or(BodyLimit::DEFAULT).0;
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    axum::body::to_bytes(req.into_body(), limit).await.map_err(|e| {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(c) = cause {
            if c.is::<http_body_util::LengthLimitError>() {
                return BodyError::TooLarge(limit);
            }
            if let Some(BodyTimedOut(d)) = c.downcast_ref::<BodyTimedOut>() {
                return BodyError::TimedOut(*d);
            }
            cause = c.source();
        }
        BodyError::Unreadable
    })
}

/// How deeply `json` nests arrays and objects; brackets inside strings do not count. It stops
/// counting past `bound`, so a hostile document costs one pass.
fn nesting_depth(json: &[u8], bound: usize) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
                if deepest > bound {
                    break;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Parses a JSON API body: nesting within [`MAX_JSON_DEPTH`], then the expected shape. The
/// error says what is wrong, for a 400 problem document.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    if nesting_depth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH {
        return Err(format!("the request body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels"));
    }
    serde_json::from_slice(body).map_err(|e| format!("the request body is not valid: {e}"))
}

fn bad_json(detail: String) -> Response {
    problem(StatusCode::BAD_REQUEST, &detail, serde_json::Value::Null)
}

/// A JSON body for the host's APIs. Malformed JSON, a wrong shape, a missing content type or
/// a body too large, too deep or too slow get a problem document (400, 413, 415, 408) that
/// says what is wrong.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let is_json =
            req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
                ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !is_json {
            return Err(problem(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the request body must be application/json",
                serde_json::Value::Null,
            ));
        }
        let body = read_body(req).await.map_err(|e| e.problem())?;
        parse_json(&body).map(ApiJson).map_err(bad_json)
    }
}

/// Client metadata for the client API: a JSON body as [`ApiJson`] reads it, then the
/// protocol's reading of it, which names a member of the wrong type or an unsupported value
/// (`invalid_client_metadata`) in the problem document.
pub struct ClientMetadataJson(pub gatehouse_protocol::clients::ClientRegistration);

impl<S: Send + Sync> FromRequest<S> for ClientMetadataJson {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ApiJson(body) = ApiJson::<serde_json::Value>::from_request(req, state).await?;
        gatehouse_protocol::clients::ClientRegistration::from_json(body)
            .map(ClientMetadataJson)
            .map_err(|e| Problem(e).into_response())
    }
}

/// An optional JSON body for the host's APIs: empty (or blank) is `T::default()`; otherwise as
/// [`ApiJson`], whatever the content type.
pub struct OptionalApiJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalApiJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let body = read_body(req).await.map_err(|e| e.problem())?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalApiJson(T::default()));
        }
        parse_json(&body).map(OptionalApiJson).map_err(bad_json)
    }
}

/// An `application/x-www-form-urlencoded` body as ordered parameters. A wrong content type or
/// a body too large or too slow get an OAuth `invalid_request` (400, 413, 408).
pub struct Form(pub Params);

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = Response;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let is_form = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
            ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
        });
        if !is_form {
            let e = OAuthError::invalid_request("the request body must be application/x-www-form-urlencoded");
            return Err(OAuthJson(e).into_response());
        }
        let body = read_body(req).await.map_err(|e| e.oauth())?;
        Ok(Form(form_params(&body)))
    }
}

/// Form parameters from a body whatever its content type (the UserInfo POST, where the token
/// may come in the body), with [`Form`]'s errors.
pub struct LenientForm(pub Params);

impl<S: Send + Sync> FromRequest<S> for LenientForm {
    type Rejection = Response;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let body = read_body(req).await.map_err(|e| e.oauth())?;
        Ok(LenientForm(form_params(&body)))
    }
}

fn form_params(body: &[u8]) -> Params {
    Params(url::form_urlencoded::parse(body).into_owned().collect())
}

/// Client credentials from the `Authorization: Basic` header, decoded by the protocol
/// (`gatehouse_protocol::token::basic_credentials`: RFC 6749 §2.3.1). A value that is not
/// visible ASCII cannot be valid credentials; it is passed on lossily and refused there.
pub fn client_auth(headers: &HeaderMap) -> ClientAuth {
    let value = headers.get(header::AUTHORIZATION).map(|v| String::from_utf8_lossy(v.as_bytes()));
    ClientAuth::from_authorization(value.as_deref())
}

/// The bearer token of a request (RFC 6750 §2.1), if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The API tokens one of the host's APIs accepts, held as SHA-256 hashes.
#[derive(Clone)]
pub struct TokenHashes {
    hashes: Vec<[u8; 32]>,
    api: &'static str,
}

impl TokenHashes {
    pub fn new(api: &'static str, hex_hashes: &[String]) -> Self {
        let hashes = hex_hashes
            .iter()
            .filter_map(|h| {
                let bytes: Option<Vec<u8>> =
                    (0..h.len()).step_by(2).map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok()).collect();
                bytes.and_then(|b| <[u8; 32]>::try_from(b).ok())
            })
            .collect();
        Self { hashes, api }
    }

    /// Whether `token` is one of the configured ones; every configured hash is compared in
    /// constant time.
    pub fn accepts(&self, token: Option<&str>) -> bool {
        let given = token.map(|t| sha256(t.as_bytes()));
        given.is_some_and(|g| self.hashes.iter().fold(false, |acc, h| acc | constant_time_eq(h, &g)))
    }

    /// Checks the request's bearer token. The error is the 401 answer.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Box<Response>> {
        let given = bearer(headers);
        if self.accepts(given) {
            return Ok(());
        }
        let detail = match given {
            None => format!("the {} needs an Authorization: Bearer token", self.api),
            Some(_) => format!("the bearer token is not valid for the {}", self.api),
        };
        let mut response = problem(StatusCode::UNAUTHORIZED, &detail, serde_json::Value::Null);
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Bearer realm="gatehouse""#));
        Err(Box::new(response))
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut headers = HeaderMap::new();
        let encoded = STANDARD.encode("my%20client:p%3Ass");
        headers.insert(header::AUTHORIZATION, format!("Basic {encoded}").parse().unwrap());
        let auth = client_auth(&headers);
        let (id, secret) = auth.basic.unwrap();
        assert_eq!(id, "my client");
        assert_eq!(secret.expose(), "p:ss");
    }

    #[test]
    fn malformed_basic_is_flagged() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert!(client_auth(&headers).malformed_header);
    }

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        assert_eq!(nesting_depth(br#"{"a": [1, {"b": "[[[{{{"}]}"#, 32), 3);
        assert_eq!(nesting_depth(br#"["\\\"[", []]"#, 32), 2, "an escaped quote does not end the string");
        assert_eq!(nesting_depth(b"17", 32), 0);
        let deep = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
        assert_eq!(nesting_depth(deep.as_bytes(), 32), 33, "counting stops past the bound");
    }

    #[test]
    fn token_hashes_accept_only_configured_tokens() {
        let hashes = TokenHashes::new("test API", &[gatehouse_protocol::secret::sha256_hex(b"right")]);
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "Bearer right".parse().unwrap());
        assert!(hashes.check(&headers).is_ok());
        headers.insert(header::AUTHORIZATION, "Bearer wrong".parse().unwrap());
        assert!(hashes.check(&headers).is_err());
        assert!(hashes.check(&HeaderMap::new()).is_err());
    }
}
