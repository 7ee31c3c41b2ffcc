//! Liveness, readiness, metrics and the status page over HTTP: `/healthz`, `/readyz`,
//! `/metrics` (OpenMetrics, or the classic text format 0.0.4 when `Accept` prefers it), `/`
//! (the status page, under a strict Content-Security-Policy) and `/status.json` (its data).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;
use tokio::sync::watch;

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
    /// Whether this replica consumes, for the OCR quota's presence: true from the moment a
    /// session's consumers are set up (idle for want of a share included) until its jobs are
    /// drained or abandoned. A replica that does not consume holds no share.
    active: watch::Sender<bool>,
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
    /// This replica consumes (a session is up) or has stopped consuming (its jobs are over).
    pub fn set_active(&self, v: bool) {
        self.active
            .send_if_modified(|a| std::mem::replace(a, v) != v);
    }
    /// Follows [`Health::set_active`]: the presence joins while it is true and leaves when it
    /// is false.
    pub fn subscribe_active(&self) -> watch::Receiver<bool> {
        self.active.subscribe()
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
        .route("/", get(status_page))
        .route("/status.js", get(status_js))
        .route("/status.css", get(status_css))
        .route("/status.json", get(status_json))
        .with_state(AppState { health, metrics })
}

/// The status page's policy: its own script, style and data only; no inline code, no
/// framing, no other origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

const PAGE: &str = include_str!("status_page.html");
const PAGE_JS: &str = include_str!("status_page.js");
const PAGE_CSS: &str = include_str!("status_page.css");

fn page_headers(content_type: &'static str) -> [(header::HeaderName, &'static str); 4] {
    [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
    ]
}

async fn status_page() -> impl IntoResponse {
    (page_headers("text/html; charset=utf-8"), PAGE)
}

async fn status_js() -> impl IntoResponse {
    (page_headers("text/javascript; charset=utf-8"), PAGE_JS)
}

async fn status_css() -> impl IntoResponse {
    (page_headers("text/css; charset=utf-8"), PAGE_CSS)
}

async fn status_json(State(s): State<AppState>) -> impl IntoResponse {
    (
        page_headers("application/json"),
        axum::Json(crate::status::Status::collect(&s.health, &s.metrics)),
    )
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    let code = if s.health.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(s.health.report()))
}

/// The exposition format the scraper prefers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposition {
    /// OpenMetrics 1.0.0.
    OpenMetrics,
    /// Prometheus text 0.0.4.
    Classic,
}

/// Pick the format by the `Accept` header's q-values: OpenMetrics only when the scraper
/// prefers it over `text/plain` (Prometheus does); the classic format otherwise (curl,
/// promtool pipelines, no header at all).
pub fn negotiate(accept: Option<&str>) -> Exposition {
    let Some(accept) = accept else {
        return Exposition::Classic;
    };
    let (mut om, mut text) = (0.0f32, 0.0f32);
    for item in accept.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "application/openmetrics-text" => om = om.max(q),
            "text/plain" | "text/*" | "*/*" => text = text.max(q),
            _ => {}
        }
    }
    if om > text {
        Exposition::OpenMetrics
    } else {
        Exposition::Classic
    }
}

async fn metrics_text(State(s): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    // Readiness as a metric, from the same flags `/readyz` reads.
    s.metrics.ready.set(i64::from(s.health.is_ready()));
    s.metrics
        .stopped_on_configuration
        .set(i64::from(s.health.stopped().is_some()));
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    match negotiate(accept) {
        Exposition::OpenMetrics => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            s.metrics.encode(),
        ),
        Exposition::Classic => (
            [(
                header::CONTENT_TYPE,
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            )],
            s.metrics.encode_classic(),
        ),
    }
}

/// GET `path` on the worker listening on `listen` (an unspecified address such as `0.0.0.0`
/// is probed on loopback) with plain HTTP/1.0; the status code, or `None` on any failure.
pub async fn probe(
    listen: std::net::SocketAddr,
    path: &str,
    timeout: std::time::Duration,
) -> Option<u16> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .ok()?;
        let mut head = [0u8; 64];
        let mut n = 0;
        while n < 12 {
            let r = s.read(&mut head[n..]).await.ok()?;
            if r == 0 {
                break;
            }
            n += r;
        }
        let line = std::str::from_utf8(&head[..n]).ok()?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    tokio::time::timeout(timeout, exchange).await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_gets_openmetrics_and_everyone_else_the_classic_format() {
        // Prometheus 2.42's scrape Accept header.
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                    version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(negotiate(Some(prom)), Exposition::OpenMetrics);
        assert_eq!(negotiate(None), Exposition::Classic);
        assert_eq!(negotiate(Some("*/*")), Exposition::Classic);
        assert_eq!(
            negotiate(Some("text/plain;version=0.0.4")),
            Exposition::Classic
        );
        assert_eq!(
            negotiate(Some("text/plain;q=0.9,application/openmetrics-text;q=0.5")),
            Exposition::Classic
        );
        assert_eq!(
            negotiate(Some("application/openmetrics-text")),
            Exposition::OpenMetrics
        );
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for src in [PAGE, PAGE_JS, PAGE_CSS] {
            assert!(!src.contains("http://") && !src.contains("https://"));
        }
        assert!(!PAGE.contains("<script>"), "no inline script (CSP)");
        assert!(!PAGE.contains("style="), "no inline style (CSP)");
        assert!(
            !PAGE_JS.contains("innerHTML"),
            "text only: no HTML injection"
        );
    }
}
