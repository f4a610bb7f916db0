//! The admin API for HSM signing keys (`/admin/v1/keys`), master-token protected: the
//! roll-over plan, and rescanning the token so keys put on it go live at once.

use axum::Json;
use axum::extract::{Query, State};
use gatehouse_protocol::error::ApiError;
use gatehouse_protocol::world::UnixTime;
use gatehouse_signer::Pkcs11Signer;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::http::Problem;

#[derive(Deserialize)]
pub struct At {
    /// Unix seconds; the server's clock when absent.
    at: Option<i64>,
}

fn hsm(s: &AppState) -> Result<&Pkcs11Signer, Problem> {
    s.hsm.as_deref().ok_or_else(|| {
        Problem(ApiError::Conflict(
            "signing.backend is \"software\": there is no HSM key ring; /jwks.json lists the software keys".into(),
        ))
    })
}

/// What is published and which key signs each algorithm, now or `?at=`.
pub async fn plan(State(s): State<AppState>, Query(q): Query<At>) -> Result<Json<Value>, Problem> {
    let at = q.at.map_or_else(|| s.provider.now(), UnixTime);
    Ok(Json(json!(hsm(&s)?.plan(at))))
}

/// Scans the token now; answers with what it found and the plan at the server's time.
pub async fn rescan(State(s): State<AppState>) -> Result<Json<Value>, Problem> {
    let hsm = hsm(&s)?;
    let report = hsm.rescan().await.map_err(|e| {
        tracing::error!(error = %e, "HSM rescan failed");
        Problem(ApiError::Unavailable(format!("the HSM rescan failed: {e}")))
    })?;
    Ok(Json(json!({ "keys": report.keys, "skipped": report.skipped, "plan": hsm.plan(s.provider.now()) })))
}
