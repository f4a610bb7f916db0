//! The client API (`/clients/v1`), master-token protected: RFC 7591 / 7592 shapes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_protocol::clients::{ClientInfo, ClientRegistration};
use serde_json::Value;

use crate::app::AppState;
use crate::http::{ApiJson, Problem};

pub async fn create(State(s): State<AppState>, ApiJson(body): ApiJson<Value>) -> Result<Response, Problem> {
    let info = s.provider.create_client(ClientRegistration::from_json(body)?).await?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

pub async fn list(State(s): State<AppState>) -> Result<Json<Vec<ClientInfo>>, Problem> {
    Ok(Json(s.provider.list_clients().await?))
}

pub async fn get(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<ClientInfo>, Problem> {
    Ok(Json(s.provider.get_client(&id).await?))
}

pub async fn update(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<ClientInfo>, Problem> {
    Ok(Json(s.provider.update_client(&id, ClientRegistration::from_json(body)?).await?))
}

pub async fn delete(State(s): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, Problem> {
    s.provider.delete_client(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rotate_secret(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<ClientInfo>, Problem> {
    Ok(Json(s.provider.rotate_client_secret(&id).await?))
}
