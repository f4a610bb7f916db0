//! The plugin admin API (`/admin/v1/plugins`), master-token protected: upload, list,
//! activate, roll back, deactivate. Uploads are compiled off the request's thread and swapped
//! in atomically; a refused upload leaves the serving version in place.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use gatehouse_plugin_host::{ClusterError, ClusterStatus, LoadError, Manifest};
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

/// A refused plugin operation as a problem document; the detail says what to fix. A store
/// that cannot record the change is a 503: nothing changed.
pub struct Refused(ClusterError);

impl From<LoadError> for Refused {
    fn from(e: LoadError) -> Self {
        Refused(ClusterError::Load(e))
    }
}

impl From<ClusterError> for Refused {
    fn from(e: ClusterError) -> Self {
        Refused(e)
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let load = match self.0 {
            ClusterError::Load(load) => load,
            ClusterError::Store(e) => {
                tracing::error!(error = %e, "plugin change not recorded: storage unavailable");
                return Problem(ApiError::Unavailable(
                    "the plugin catalog cannot be written now; nothing changed".into(),
                ))
                .into_response();
            }
        };
        let detail = load.to_string();
        match load {
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
    let manifest = Manifest::from_toml(&upload.manifest).map_err(|e| Refused::from(e).into_response())?;
    let component = base64::engine::general_purpose::STANDARD
        .decode(upload.component.as_bytes())
        .map_err(|e| Problem::bad_request(format!("component is not base64: {e}")).into_response())?;
    let installed =
        s.cluster.install(manifest, component, upload.activate).await.map_err(|e| Refused(e).into_response())?;
    Ok((StatusCode::CREATED, Json(installed)).into_response())
}

/// Every plugin this host knows; for those installed through the admin API, what every host
/// serves and any version that did not load there.
pub async fn list(State(s): State<AppState>) -> Result<Json<Vec<ClusterStatus>>, Refused> {
    Ok(Json(s.cluster.list().await.map_err(ClusterError::Store)?))
}

pub async fn activate(
    State(s): State<AppState>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Activate>,
) -> Result<StatusCode, Refused> {
    s.cluster.activate(&name, &body.version).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rollback(State(s): State<AppState>, Path(name): Path<String>) -> Result<Json<serde_json::Value>, Refused> {
    let version = s.cluster.rollback(&name).await?;
    Ok(Json(json!({ "name": name, "active_version": version })))
}

pub async fn deactivate(State(s): State<AppState>, Path(name): Path<String>) -> Result<StatusCode, Refused> {
    s.cluster.deactivate(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
