//! The OAuth 2.0 / OpenID Connect endpoints: discovery, JWK set, authorization, token,
//! UserInfo.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use gatehouse_protocol::userinfo::{BearerError, Userinfo};

use crate::app::AppState;
use crate::http::{BearerErrorResponse, Form, LenientForm, TokenErrorResponse, bearer, client_auth};

const NO_STORE: [(header::HeaderName, HeaderValue); 2] = [
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    (header::PRAGMA, HeaderValue::from_static("no-cache")),
];

/// OpenID Connect Discovery 1.0 §4.
pub async fn discovery(State(s): State<AppState>) -> Response {
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(s.provider.discovery())).into_response()
}

/// OAuth 2.0 Authorization Server Metadata (RFC 8414 §3), at the well-known URI itself.
pub async fn authorization_server_metadata(State(s): State<AppState>) -> Response {
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(s.provider.authorization_server_metadata())).into_response()
}

/// RFC 8414 §3.1: for an issuer with a path, the metadata at the well-known URI with that
/// path appended; any other path is not this issuer's.
pub async fn authorization_server_metadata_for_path(
    State(s): State<AppState>,
    axum::extract::Path(path): axum::extract::Path<String>,
) -> Response {
    let issuer_path = url::Url::parse(&s.provider.settings().issuer).map(|u| u.path().to_owned()).unwrap_or_default();
    if issuer_path.trim_matches('/') != path.trim_end_matches('/') || path.is_empty() {
        return crate::http::problem(
            StatusCode::NOT_FOUND,
            &format!("no authorization server has the issuer path /{}", gatehouse_protocol::logged::logged(&path)),
            serde_json::Value::Null,
        );
    }
    authorization_server_metadata(State(s)).await
}

/// RFC 7517 JWK set. Short cache so new keys are picked up soon after they are published.
pub async fn jwks(State(s): State<AppState>) -> Response {
    ([(header::CACHE_CONTROL, "public, max-age=60")], Json(s.provider.jwks().await)).into_response()
}

/// The authorization endpoint hands the browser to the login front-end with the request as
/// it came; the front-end starts an authorization session with it.
pub async fn authorize_get(State(s): State<AppState>, RawQuery(query): RawQuery) -> Response {
    to_frontend(&s, query.unwrap_or_default())
}

/// OpenID Connect Core §3.1.2.1 allows the request as a form POST.
pub async fn authorize_post(State(s): State<AppState>, Form(params): Form) -> Response {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &params.0 {
        ser.append_pair(k, v);
    }
    to_frontend(&s, ser.finish())
}

fn to_frontend(s: &AppState, query: String) -> Response {
    match &s.login_url {
        Some(url) => {
            let sep = if url.contains('?') { '&' } else { '?' };
            Redirect::to(&format!("{url}{sep}{query}")).into_response()
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Html("<!doctype html><title>Sign-in unavailable</title><h1>Sign-in is not available</h1><p>This provider has no login front-end configured (frontend.login_url).</p>"),
        )
            .into_response(),
    }
}

/// RFC 6749 §3.2.
pub async fn token(State(s): State<AppState>, headers: HeaderMap, Form(form): Form) -> Response {
    match s.provider.token(&form, client_auth(&headers)).await {
        Ok(tokens) => (NO_STORE, Json(tokens)).into_response(),
        Err(e) => TokenErrorResponse(e).into_response(),
    }
}

/// RFC 9126 §2: a pushed authorization request, answered `201 Created`.
pub async fn pushed_authorization_request(State(s): State<AppState>, headers: HeaderMap, Form(form): Form) -> Response {
    match s.provider.push_authorization_request(&form, client_auth(&headers)).await {
        Ok(pushed) => (StatusCode::CREATED, NO_STORE, Json(pushed)).into_response(),
        Err(e) => TokenErrorResponse(e).into_response(),
    }
}

/// OpenID Connect Core §5.3, GET.
pub async fn userinfo_get(State(s): State<AppState>, headers: HeaderMap) -> Response {
    render_userinfo(s.provider.userinfo(bearer(&headers)).await)
}

/// OpenID Connect Core §5.3, POST: the token may also come in the form body (RFC 6750 §2.2).
pub async fn userinfo_post(State(s): State<AppState>, headers: HeaderMap, LenientForm(form): LenientForm) -> Response {
    let token = bearer(&headers).or(form.get("access_token"));
    render_userinfo(s.provider.userinfo(token).await)
}

fn render_userinfo(result: Result<Userinfo, BearerError>) -> Response {
    match result {
        Ok(Userinfo::Json(claims)) => (NO_STORE, Json(claims)).into_response(),
        // OpenID Connect Core §5.3.2: a signed or encrypted response is `application/jwt`.
        Ok(Userinfo::Jwt(jwt)) => (NO_STORE, [(header::CONTENT_TYPE, "application/jwt")], jwt).into_response(),
        Err(e) => BearerErrorResponse(e).into_response(),
    }
}
