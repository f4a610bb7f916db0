//! Logout: the end-session endpoint (`/logout`, RP-Initiated Logout 1.0), the logout-request
//! API for front-ends (`/logout-requests/v1`), and ending a subject session through the admin
//! API (`DELETE /admin/v1/subject-sessions/{sid}`).

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use gatehouse_protocol::authorize::Params;
use gatehouse_protocol::error::OAuthError;
use gatehouse_protocol::logout::{LoggedOut, LogoutInput, LogoutPrompt, LogoutStarted};

use crate::app::AppState;
use crate::http::{OptionalApiJson, Problem};

pub async fn end_session_get(State(s): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let params = Params::from_query(&query.unwrap_or_default());
    to_frontend(&s, s.provider.start_logout(&params).await)
}

/// RP-Initiated Logout §2: the request may also be a form POST.
pub async fn end_session_post(State(s): State<AppState>, crate::http::Form(params): crate::http::Form) -> Response {
    to_frontend(&s, s.provider.start_logout(&params).await)
}

/// A checked request goes to the front-end's logout page; a refused one is shown here, as
/// §3 says ("the OP MUST NOT perform post-logout redirection" to an unverified URI).
fn to_frontend(s: &AppState, started: Result<LogoutStarted, OAuthError>) -> Response {
    let page = |status: StatusCode, title: &str, text: String| {
        let body = format!(
            "<!doctype html><meta charset=utf-8><title>{title}</title><h1>{title}</h1><p>{}</p>",
            escape(&text)
        );
        (status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response()
    };
    match (started, &s.logout_url) {
        (Ok(started), Some(url)) => {
            let sep = if url.contains('?') { '&' } else { '?' };
            Redirect::to(&format!("{url}{sep}logout_request={}", started.id)).into_response()
        }
        (Ok(_), None) => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-out unavailable",
            "This provider has no front-end to confirm sign-outs (frontend.logout_url).".into(),
        ),
        (Err(e), _) => {
            page(StatusCode::BAD_REQUEST, "Sign-out request refused", format!("{}: {}", e.code.as_str(), e.description))
        }
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub async fn get(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<LogoutPrompt>, Problem> {
    Ok(Json(s.provider.get_logout(&id).await?))
}

pub async fn confirm(
    State(s): State<AppState>,
    Path(id): Path<String>,
    OptionalApiJson(input): OptionalApiJson<LogoutInput>,
) -> Result<Json<LoggedOut>, Problem> {
    Ok(Json(s.provider.confirm_logout(&id, input).await?))
}

pub async fn cancel(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<LoggedOut>, Problem> {
    Ok(Json(s.provider.cancel_logout(&id).await?))
}

pub async fn end_subject_session(State(s): State<AppState>, Path(sid): Path<String>) -> Result<StatusCode, Problem> {
    s.provider.end_subject_session(&sid).await?;
    Ok(StatusCode::NO_CONTENT)
}
