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
    match store.get("clients", " health check", s.provider.now()).await {
        Ok(_) => Json(json!({ "status": "ok" })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: storage unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "storage unavailable" }))).into_response()
        }
    }
}

/// `GET /monitor/v1/healthcheck`: liveness. The process answers; nothing else is checked,
/// so a load balancer or orchestrator restarts only a host that no longer responds.
pub async fn healthcheck() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// How long readiness waits for the store before calling it unavailable.
const READINESS_STORE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /monitor/v1/readiness`: whether this host should get traffic. 503 while the store
/// does not answer, the signer cannot sign with the ID-token algorithm, or the plugin catalog
/// has not been loaded since start-up; the body names each check. Unauthenticated; it says
/// nothing beyond ok or not.
pub async fn readiness(State(s): State<AppState>) -> Response {
    let now = s.provider.now();
    let store =
        match tokio::time::timeout(READINESS_STORE_TIMEOUT, s.provider.store().get("clients", " readiness check", now))
            .await
        {
            Ok(Ok(_)) => "ok",
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: storage unavailable");
                "unavailable"
            }
            Err(_) => "timeout",
        };
    let alg = s.provider.settings().id_token_alg;
    let signer = match s.provider.signer().active_key(alg, now) {
        Ok(_) => "ok",
        Err(e) => {
            tracing::warn!(error = %e, "readiness: the signer cannot sign");
            "unavailable"
        }
    };
    let plugins = if s.cluster.is_loaded() { "ok" } else { "loading" };
    let ready = store == "ok" && signer == "ok" && plugins == "ok";
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "checks": { "store": store, "signer": signer, "plugins": plugins },
    });
    (status, Json(body)).into_response()
}
