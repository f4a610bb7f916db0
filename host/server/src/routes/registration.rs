//! Dynamic Client Registration (RFC 7591) at `/register` and each client's configuration
//! endpoint (RFC 7592) at `/register/{client_id}`. Errors are RFC 7591 §3.2.2 JSON; a
//! missing or wrong registration access token is a Bearer challenge (RFC 6750 §3).

use axum::Json;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gatehouse_protocol::clients::RegistrationError;
use gatehouse_protocol::userinfo::BearerError;
use gatehouse_protocol::{ApiError, ErrorCode, OAuthError};
use serde_json::Value;

use crate::app::AppState;
use crate::http::{BearerErrorResponse, OAuthJson, bearer, parse_json, read_body};

const NO_STORE: [(header::HeaderName, HeaderValue); 2] = [
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    (header::PRAGMA, HeaderValue::from_static("no-cache")),
];

/// A registration request's JSON body, within the route's body limit. What cannot be read as
/// a JSON object is `invalid_client_metadata`; a body too large or too slow keeps its status.
pub struct MetadataBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for MetadataBody {
    type Rejection = Response;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let is_json =
            req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
                ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        let refuse = |why: String| OAuthJson(OAuthError::new(ErrorCode::InvalidClientMetadata, why)).into_response();
        if !is_json {
            return Err(refuse("the request body must be application/json".into()));
        }
        let body = read_body(req).await.map_err(|e| e.oauth())?;
        parse_json::<Value>(&body).map(MetadataBody).map_err(refuse)
    }
}

/// RFC 7591 §3: the registration endpoint may require an initial access token; without the
/// configured tokens it is open.
pub async fn require_initial_token(State(s): State<AppState>, request: Request, next: Next) -> Response {
    match &s.registration_tokens {
        Some(tokens) if !tokens.accepts(bearer(request.headers())) => {
            let error = match bearer(request.headers()) {
                None => BearerError::Missing,
                Some(_) => BearerError::Rejected(OAuthError::invalid_token("the initial access token is not valid")),
            };
            BearerErrorResponse(error).into_response()
        }
        _ => next.run(request).await,
    }
}

fn render(result: Result<impl serde::Serialize, RegistrationError>, status: StatusCode) -> Response {
    match result {
        Ok(body) => (status, NO_STORE, Json(body)).into_response(),
        Err(e) => error(e),
    }
}

fn error(e: RegistrationError) -> Response {
    match e {
        RegistrationError::Refused(e) => OAuthJson(e).into_response(),
        RegistrationError::Unauthorized(e) => BearerErrorResponse(e).into_response(),
        RegistrationError::Failed(ApiError::Unavailable(_)) => {
            OAuthJson(OAuthError::new(ErrorCode::TemporarilyUnavailable, "the provider is temporarily unavailable"))
                .into_response()
        }
        RegistrationError::Failed(_) => {
            OAuthJson(OAuthError::new(ErrorCode::ServerError, "internal error; the server log has the details"))
                .into_response()
        }
    }
}

/// RFC 7591 §3.1.
pub async fn register(State(s): State<AppState>, MetadataBody(body): MetadataBody) -> Response {
    render(s.provider.register_dynamic(body).await, StatusCode::CREATED)
}

/// RFC 7592 §2.1.
pub async fn read(State(s): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    render(s.provider.read_registration(&id, bearer(&headers)).await, StatusCode::OK)
}

/// RFC 7592 §2.2.
pub async fn update(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    MetadataBody(body): MetadataBody,
) -> Response {
    render(s.provider.update_registration(&id, bearer(&headers), body).await, StatusCode::OK)
}

/// RFC 7592 §2.3.
pub async fn delete(State(s): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    match s.provider.delete_registration(&id, bearer(&headers)).await {
        Ok(()) => (StatusCode::NO_CONTENT, NO_STORE).into_response(),
        Err(e) => error(e),
    }
}
