//! The plugin admin API (`/admin/v1/plugins`), master-token protected: upload, list,
//! activate, roll back, deactivate. Uploads are compiled off the request's thread and swapped
//! in atomically; a refused upload leaves the serving version in place.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use gatehouse_plugin_host::{LoadError, Manifest, PluginStatus};
use gatehouse_protocol::ApiError;
use serde::Deserialize;
use serde_json::json;

use crate::app::AppState;
use crate::http::{ApiJson, Problem, problem};

/// The largest upload: Python and JavaScript components run to 20 MB, base64 adds a third.
pub const MAX_UPLOAD: usize = 64 << 20;

/// `POST /admin/v1/plugins`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    /// The plugin's manifest, in TOML.
    pub manifest: String,
    /// The component, base64 (standard alphabet).
    pub component: String,
    /// Make it the serving version at once (the default).
    #[serde(default = "yes")]
    pub activate: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Activate {
    pub version: String,
}

/// A refused plugin operation as a problem document; the detail says what to fix.
pub struct Refused(LoadError);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let detail = self.0.to_string();
        match self.0 {
            LoadError::UnknownPlugin(_) | LoadError::UnknownVersion { .. } => {
                Problem(ApiError::NotFound(detail)).into_response()
            }
            LoadError::Conflict(_) | LoadError::NothingToRollBack(_) => {
                Problem(ApiError::Conflict(detail)).into_response()
            }
            LoadError::Manifest(_) => Problem(ApiError::BadRequest(detail)).into_response(),
            _ => problem(StatusCode::UNPROCESSABLE_ENTITY, &detail, json!({})),
        }
    }
}

pub async fn upload(State(s): State<AppState>, ApiJson(upload): ApiJson<Upload>) -> Result<Response, Response> {
    let manifest = Manifest::from_toml(&upload.manifest).map_err(|e| Refused(e).into_response())?;
    let component = base64::engine::general_purpose::STANDARD
        .decode(upload.component.as_bytes())
        .map_err(|e| Problem::bad_request(format!("component is not base64: {e}")).into_response())?;
    let installed =
        s.plugins.install(manifest, component, upload.activate).await.map_err(|e| Refused(e).into_response())?;
    Ok((StatusCode::CREATED, Json(installed)).into_response())
}

pub async fn list(State(s): State<AppState>) -> Json<Vec<PluginStatus>> {
    Json(s.plugins.list().await)
}

pub async fn activate(
    State(s): State<AppState>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Activate>,
) -> Result<StatusCode, Refused> {
    s.plugins.activate(&name, &body.version).await.map_err(Refused)?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rollback(State(s): State<AppState>, Path(name): Path<String>) -> Result<Json<serde_json::Value>, Refused> {
    let version = s.plugins.rollback(&name).await.map_err(Refused)?;
    Ok(Json(json!({ "name": name, "active_version": version })))
}

pub async fn deactivate(State(s): State<AppState>, Path(name): Path<String>) -> Result<StatusCode, Refused> {
    s.plugins.deactivate(&name).await.map_err(Refused)?;
    Ok(StatusCode::NO_CONTENT)
}
