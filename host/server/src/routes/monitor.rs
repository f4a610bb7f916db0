//! Monitoring: `/monitor/v1/metrics` (JSON, or Prometheus text when asked for) and a health
//! check.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::app::AppState;

#[derive(Deserialize)]
pub struct Format {
    format: Option<String>,
}

pub async fn metrics(State(s): State<AppState>, headers: HeaderMap, Query(f): Query<Format>) -> Response {
    let snapshot = s.snapshot();
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let prometheus = match f.format.as_deref() {
        Some(fmt) => fmt == "prometheus",
        None => accept.contains("text/plain") || accept.contains("openmetrics"),
    };
    if prometheus {
        ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], snapshot.to_prometheus()).into_response()
    } else {
        Json(snapshot.to_json()).into_response()
    }
}

/// Liveness and storage reachability; unauthenticated, reveals nothing.
pub async fn health(State(s): State<AppState>) -> Response {
    let store = s.provider.store();
    match store.get("clients", "\u{0}health", s.provider.now()).await {
        Ok(_) => Json(json!({ "status": "ok" })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: storage unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "storage unavailable" }))).into_response()
        }
    }
}
