//! The admin API under `/_emulator/` (same listener, never under `/custom`):
//!
//! | method | path | effect |
//! |---|---|---|
//! | GET | `/_emulator/health` | `ok` |
//! | GET | `/_emulator/stats` | counters as [`Stats`](super::Stats) JSON |
//! | GET | `/_emulator/config` | configuration in force (secret redacted) |
//! | PUT/PATCH | `/_emulator/config` | merge a partial JSON configuration; returns the new one |
//! | POST | `/_emulator/reset` | zero counters, quota windows and the period count, release the hold; `?config=true` also restores the start-up configuration |
//! | POST | `/_emulator/hold` | hold every admitted call before its latency until released |
//! | POST | `/_emulator/release` | release held calls |

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::server::AppState;
use super::stats::Stats;

pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/stats", get(stats))
        .route("/config", get(get_config).put(put_config).patch(put_config))
        .route("/reset", post(reset))
        .route("/hold", post(hold))
        .route("/release", post(release))
        .fallback(|| async { (StatusCode::NOT_FOUND, "unknown admin endpoint") })
}

pub(crate) fn snapshot(app: &AppState) -> Stats {
    let mut stats = app
        .stats
        .snapshot(app.quota.in_flight(), app.quota.peak_in_flight());
    stats.period_used = app.quota.period_used();
    stats.in_flight_seconds_total = app.quota.occupancy_seconds();
    stats
}

async fn stats(State(app): State<Arc<AppState>>) -> Json<Stats> {
    Json(snapshot(&app))
}

async fn get_config(State(app): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(app.config().to_redacted_json())
}

async fn put_config(
    State(app): State<Arc<AppState>>,
    Json(patch): Json<serde_json::Value>,
) -> Response {
    match app.config().patched(patch) {
        Ok(config) => {
            tracing::info!(config = ?config, "emulator configuration changed");
            let body = config.to_redacted_json();
            app.set_config(config);
            Json(body).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error": e.to_string() })),
        )
            .into_response(),
    }
}

async fn reset(
    State(app): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Json<Stats> {
    if query.get("config").is_some_and(|v| v == "true" || v == "1") {
        app.set_config(app.startup.clone());
    }
    app.hold.send_replace(false);
    app.stats.reset();
    app.quota.reset();
    Json(snapshot(&app))
}

async fn hold(State(app): State<Arc<AppState>>) -> StatusCode {
    app.hold.send_replace(true);
    StatusCode::NO_CONTENT
}

async fn release(State(app): State<Arc<AppState>>) -> StatusCode {
    app.hold.send_replace(false);
    StatusCode::NO_CONTENT
}
