//! The token-management endpoints for clients and resource servers: introspection (RFC 7662,
//! with the JWT response of RFC 9701) and revocation (RFC 7009).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_protocol::introspection::{Format, Introspection, JWT_TYP};

use crate::app::AppState;
use crate::http::{Form, NO_STORE, TokenErrorResponse, client_auth};

/// RFC 9701 §4: the JWT response is asked for with `Accept: application/token-introspection+jwt`.
fn wants_jwt(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|range| {
        let media = range.split(';').next().unwrap_or_default().trim();
        media.strip_prefix("application/").is_some_and(|sub| sub.eq_ignore_ascii_case(JWT_TYP))
    })
}

/// RFC 7662 §2.
pub async fn introspect(State(s): State<AppState>, headers: HeaderMap, Form(form): Form) -> Response {
    let format = if wants_jwt(&headers) { Format::Jwt } else { Format::Json };
    match s.provider.introspect(&form, client_auth(&headers), format).await {
        Ok(Introspection::Json(answer)) => (NO_STORE, Json(answer)).into_response(),
        Ok(Introspection::Jwt(jwt)) => {
            let media = HeaderValue::from_static("application/token-introspection+jwt");
            (NO_STORE, [(header::CONTENT_TYPE, media)], jwt).into_response()
        }
        Err(e) => TokenErrorResponse(e).into_response(),
    }
}

/// RFC 7009 §2.
pub async fn revoke(State(s): State<AppState>, headers: HeaderMap, Form(form): Form) -> Response {
    match s.provider.revoke(&form, client_auth(&headers)).await {
        Ok(()) => (StatusCode::OK, NO_STORE).into_response(),
        Err(e) => TokenErrorResponse(e).into_response(),
    }
}
