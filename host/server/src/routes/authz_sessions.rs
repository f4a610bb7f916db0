//! The authorization-session API (`/authz-sessions/v1`) for login front-ends.

use axum::Json;
use axum::extract::{Path, State};
use gatehouse_protocol::model::JsonObject;
use gatehouse_protocol::session::{ConsentInput, DenyInput, Prompt, StartInput, SubjectInput};
use serde_json::Value;

use crate::app::AppState;
use crate::http::{ApiJson, OptionalApiJson, Problem};

type Answer = Result<Json<Prompt>, Problem>;

pub async fn start(State(s): State<AppState>, ApiJson(input): ApiJson<StartInput>) -> Answer {
    Ok(Json(s.provider.start_session(input).await?))
}

pub async fn get(State(s): State<AppState>, Path(sid): Path<String>) -> Answer {
    Ok(Json(s.provider.get_session(&sid).await?))
}

pub async fn subject(
    State(s): State<AppState>,
    Path(sid): Path<String>,
    ApiJson(input): ApiJson<SubjectInput>,
) -> Answer {
    Ok(Json(s.provider.submit_subject(&sid, input).await?))
}

pub async fn consent(
    State(s): State<AppState>,
    Path(sid): Path<String>,
    ApiJson(input): ApiJson<ConsentInput>,
) -> Answer {
    Ok(Json(s.provider.submit_consent(&sid, input).await?))
}

/// `DELETE`: the body (optional JSON) names the error.
pub async fn deny(
    State(s): State<AppState>,
    Path(sid): Path<String>,
    OptionalApiJson(input): OptionalApiJson<DenyInput>,
) -> Answer {
    Ok(Json(s.provider.deny(&sid, input).await?))
}

pub async fn get_data(State(s): State<AppState>, Path(sid): Path<String>) -> Result<Json<JsonObject>, Problem> {
    Ok(Json(s.provider.get_data(&sid).await?))
}

pub async fn put_data(
    State(s): State<AppState>,
    Path(sid): Path<String>,
    ApiJson(data): ApiJson<Value>,
) -> Result<Json<JsonObject>, Problem> {
    Ok(Json(s.provider.put_data(&sid, data).await?))
}
