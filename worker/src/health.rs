//! Liveness, readiness and metrics over HTTP (`/healthz`, `/readyz`, `/metrics`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::metrics::Metrics;

/// What readiness is made of. Each flag is set by the part of the worker that knows it.
#[derive(Debug, Default)]
pub struct Health {
    connected: AtomicBool,
    consuming: AtomicBool,
    shutting_down: AtomicBool,
    blocked: AtomicBool,
    /// Set when consumption stopped on a configuration error; the reason (no secrets).
    stopped: Mutex<Option<String>>,
}

impl Health {
    /// Broker connection up or down.
    pub fn set_connected(&self, v: bool) {
        self.connected.store(v, Ordering::Release);
        if !v {
            self.consuming.store(false, Ordering::Release);
        }
    }
    /// Consumer running or not.
    pub fn set_consuming(&self, v: bool) {
        self.consuming.store(v, Ordering::Release);
    }
    /// Broker flow control (connection.blocked) on or off.
    pub fn set_blocked(&self, v: bool) {
        self.blocked.store(v, Ordering::Release);
    }
    /// Shutdown begun.
    pub fn set_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }
    /// Consumption stopped on a configuration error.
    pub fn set_stopped(&self, reason: String) {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
    }
    /// The configuration error that stopped consumption, if any.
    pub fn stopped(&self) -> Option<String> {
        self.stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    /// Connected, consuming, not stopped, not shutting down.
    pub fn is_ready(&self) -> bool {
        self.connected.load(Ordering::Acquire)
            && self.consuming.load(Ordering::Acquire)
            && !self.shutting_down.load(Ordering::Acquire)
            && self.stopped().is_none()
    }
    /// The readiness document.
    pub fn report(&self) -> serde_json::Value {
        json!({
            "ready": self.is_ready(),
            "connected": self.connected.load(Ordering::Acquire),
            "consuming": self.consuming.load(Ordering::Acquire),
            "broker_blocked": self.blocked.load(Ordering::Acquire),
            "shutting_down": self.shutting_down.load(Ordering::Acquire),
            "stopped_reason": self.stopped(),
        })
    }
}

#[derive(Clone)]
struct AppState {
    health: Arc<Health>,
    metrics: Arc<Metrics>,
}

/// The HTTP router.
pub fn router(health: Arc<Health>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(AppState { health, metrics })
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    let code = if s.health.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(s.health.report()))
}

async fn metrics_text(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}
