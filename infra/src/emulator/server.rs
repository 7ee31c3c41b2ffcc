//! The HTTP server: routing, the id-card handler and the request pipeline
//! (identity → secret → quota → body → hold/latency → faults → period quota → recognition).

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::codes::{ErrorCode, garbage_response, gateway_response};
use super::config::{EmulatorConfig, FaultKind};
use super::quota::Quota;
use super::response::{Echo, render};
use super::stats::{Outcome, Recorder};
use crate::truth::Truth;

/// Image formats the endpoint accepts (`images[].format`, case-insensitive).
pub const FORMATS: &[&str] = &["jpg", "jpeg", "png", "pdf", "tif", "tiff"];

/// The only protocol version the endpoint accepts.
pub const VERSION: &str = "V2";

/// Header carrying the secret.
pub const SECRET_HEADER: &str = "x-ocr-secret";

/// Base64 as the vendor's decoder is assumed to take it: standard alphabet, padding optional.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// State shared by all handlers.
pub(crate) struct AppState {
    config: RwLock<Arc<EmulatorConfig>>,
    pub(crate) startup: EmulatorConfig,
    pub(crate) quota: Quota,
    pub(crate) stats: Recorder,
    pub(crate) hold: watch::Sender<bool>,
    shutdown: watch::Receiver<bool>,
}

impl AppState {
    pub(crate) fn new(config: EmulatorConfig, shutdown: watch::Receiver<bool>) -> AppState {
        AppState {
            config: RwLock::new(Arc::new(config.clone())),
            startup: config,
            quota: Quota::default(),
            stats: Recorder::default(),
            hold: watch::channel(false).0,
            shutdown,
        }
    }

    /// The configuration in force now.
    pub(crate) fn config(&self) -> Arc<EmulatorConfig> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replace the configuration in force.
    pub(crate) fn set_config(&self, config: EmulatorConfig) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
    }

    /// Resolves when the server is shutting down.
    async fn shutting_down(&self) {
        let mut rx = self.shutdown.clone();
        let _ = rx.wait_for(|s| *s).await;
    }
}

/// The full router: the OCR endpoint, the admin API under `/_emulator`, 0001 for anything else.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/custom/v1/{domain_id}/{invoke_key}/document/id-card",
            post(id_card).fallback(invalid_url),
        )
        .nest("/_emulator", super::admin::router())
        .fallback(invalid_url)
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// Serve the emulator on `listener` until `shutdown` resolves. Calls still waiting (latency,
/// hold, hang) when it resolves have their connection closed; then the function returns.
///
/// Fails with [`std::io::ErrorKind::InvalidInput`] if `config` does not validate.
pub async fn serve(
    listener: TcpListener,
    config: EmulatorConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    config
        .validate()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let (tx, rx) = watch::channel(false);
    let state = Arc::new(AppState::new(config, rx));
    let app = router(state);
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = tx.send(true);
        })
        .await
}

async fn invalid_url(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let _active = app.stats.enter();
    app.stats.record(Outcome::Rejected(ErrorCode::InvalidUrl));
    tracing::debug!(code = "0001", "unknown path");
    ErrorCode::InvalidUrl.response(req.uri().path())
}

async fn id_card(
    State(app): State<Arc<AppState>>,
    Path((domain_id, invoke_key)): Path<(String, String)>,
    req: Request,
) -> Response {
    let _active = app.stats.enter();
    let path = req.uri().path().to_owned();
    let config = app.config();
    let mut request_id = None;
    let (outcome, response) = pipeline(
        &app,
        &config,
        (&domain_id, &invoke_key),
        &path,
        req,
        &mut request_id,
    )
    .await;
    if let Some(outcome) = outcome {
        app.stats.record(outcome);
        tracing::debug!(
            request_id = request_id.as_deref().unwrap_or("-"),
            outcome = outcome.as_str(),
            "ocr call"
        );
    }
    response
}

/// A call's outcome (`None`: already recorded) and its answer.
type Handled = (Option<Outcome>, Response);

fn reject(code: ErrorCode, path: &str) -> Handled {
    (Some(Outcome::Rejected(code)), code.response(path))
}

async fn pipeline(
    app: &AppState,
    config: &EmulatorConfig,
    (domain_id, invoke_key): (&str, &str),
    path: &str,
    req: Request,
    request_id: &mut Option<String>,
) -> Handled {
    if domain_id != config.domain_id || invoke_key != config.invoke_key {
        return reject(ErrorCode::InvalidUrl, path);
    }
    let secret_ok = req
        .headers()
        .get(SECRET_HEADER)
        .is_some_and(|v| v.as_bytes() == config.secret.as_bytes());
    if !secret_ok {
        return reject(ErrorCode::SecretInvalid, path);
    }
    let _permit = match app.quota.admit(config) {
        Ok(permit) => permit,
        Err(code) => return reject(code, path),
    };
    let call = match parse_call(req, config).await {
        Ok(call) => call,
        Err(code) => return reject(code, path),
    };
    *request_id = Some(call.request_id.clone());

    // Simulated recognition time: the admin gate first, then the configured latency.
    if *app.hold.borrow() {
        app.stats.held.fetch_add(1, Ordering::AcqRel);
        let _held = HeldGuard(app);
        let mut hold = app.hold.subscribe();
        tokio::select! {
            _ = hold.wait_for(|held| !*held) => {}
            _ = app.shutting_down() => return (Some(Outcome::Aborted), drop_connection()),
        }
    }
    if !config.latency.is_zero() {
        let delay = config.latency.sample(&mut rand::rng());
        app.stats.latency(delay);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = app.shutting_down() => return (Some(Outcome::Aborted), drop_connection()),
        }
    }

    let fault = config.faults.draw(&mut rand::rng());
    if let Some(fault) = fault {
        let outcome = Some(Outcome::Fault(fault));
        return match fault {
            FaultKind::Error0500 => (outcome, ErrorCode::UnknownService.response(path)),
            FaultKind::Error0501 => (outcome, ErrorCode::OcrService.response(path)),
            FaultKind::Gateway502 => (outcome, gateway_response(StatusCode::BAD_GATEWAY)),
            FaultKind::Gateway503 => (outcome, gateway_response(StatusCode::SERVICE_UNAVAILABLE)),
            FaultKind::DropConnection => (outcome, drop_connection()),
            FaultKind::Garbage200 => (outcome, garbage_response(&call.request_id)),
            FaultKind::Hang => {
                // Recorded now: the client usually gives up first and the call never ends.
                app.stats.record(Outcome::Fault(FaultKind::Hang));
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_millis(config.faults.hang_ms)) => {}
                    _ = app.shutting_down() => {}
                }
                (None, drop_connection())
            }
        };
    }

    let truth = match Truth::of_image(&call.image) {
        Ok(truth) => truth,
        Err(e) => {
            tracing::warn!(request_id = %call.request_id, error = %e, "image carries invalid truth");
            return reject(ErrorCode::BodyInvalid, path);
        }
    };
    if !app.quota.take_period(config) {
        return reject(ErrorCode::PeriodQuota, path);
    }
    let digest: [u8; 32] = Sha256::digest(&call.image).into();
    app.stats.bill(digest);
    let echo = Echo {
        version: &call.version,
        request_id: &call.request_id,
        image_name: &call.image_name,
    };
    let (outcome, body) = render(&truth, &digest, echo);
    let response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json;charset=UTF-8"),
        )],
        body,
    )
        .into_response();
    (Some(outcome), response)
}

struct HeldGuard<'a>(&'a AppState);

impl Drop for HeldGuard<'_> {
    fn drop(&mut self) {
        self.0.stats.held.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response whose body fails at once: hyper closes the connection without sending a
/// complete response, so the client sees the connection closed / reset mid-call.
fn drop_connection() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "emulated dropped connection",
        ))
    });
    Response::new(Body::from_stream(stream))
}

/// A validated call.
struct Call {
    version: String,
    request_id: String,
    image_name: String,
    image: Bytes,
}

#[derive(Deserialize)]
struct Message {
    version: Option<String>,
    #[serde(rename = "requestId")]
    request_id: Option<String>,
    timestamp: Option<serde_json::Number>,
    images: Option<Vec<ImageSpec>>,
}

#[derive(Deserialize)]
struct ImageSpec {
    format: Option<String>,
    name: Option<String>,
    data: Option<String>,
}

#[derive(PartialEq)]
enum Mode {
    Json,
    Multipart,
}

async fn parse_call(req: Request, config: &EmulatorConfig) -> Result<Call, ErrorCode> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mode = if content_type.starts_with("application/json") {
        Mode::Json
    } else if content_type.starts_with("multipart/form-data") {
        Mode::Multipart
    } else {
        return Err(ErrorCode::BodyInvalid);
    };
    // Room for the base64 inflation of the largest image plus the JSON around it.
    let limit = config
        .max_image_bytes
        .saturating_mul(4)
        .saturating_div(3)
        .saturating_add(1 << 20);
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ErrorCode::BodyInvalid)?;
    let (message, file) = match mode {
        Mode::Json => (bytes, None),
        Mode::Multipart => {
            let req = Request::from_parts(parts, Body::from(bytes));
            let mut multipart = Multipart::from_request(req, &())
                .await
                .map_err(|_| ErrorCode::BodyInvalid)?;
            let (mut message, mut file) = (None, None);
            while let Some(field) = multipart
                .next_field()
                .await
                .map_err(|_| ErrorCode::BodyInvalid)?
            {
                let slot = match field.name() {
                    Some("message") => &mut message,
                    Some("file") => &mut file,
                    _ => continue,
                };
                if slot.is_some() {
                    return Err(ErrorCode::BodyInvalid); // a second message or file
                }
                *slot = Some(field.bytes().await.map_err(|_| ErrorCode::BodyInvalid)?);
            }
            (message.ok_or(ErrorCode::BodyInvalid)?, file)
        }
    };
    let message: Message = serde_json::from_slice(&message).map_err(|_| ErrorCode::BodyInvalid)?;
    let version = match message.version {
        Some(v) if v == VERSION => v,
        Some(_) => return Err(ErrorCode::VersionUnsupported),
        None if mode == Mode::Json => VERSION.to_string(),
        None => return Err(ErrorCode::BodyInvalid),
    };
    let request_id = message.request_id.ok_or(ErrorCode::BodyInvalid)?;
    match message.timestamp {
        Some(t) if t.is_i64() || t.is_u64() => {}
        _ => return Err(ErrorCode::BodyInvalid),
    }
    let mut images = message.images.ok_or(ErrorCode::BodyInvalid)?;
    if images.len() != 1 {
        return Err(ErrorCode::BodyInvalid);
    }
    let spec = images.pop().ok_or(ErrorCode::BodyInvalid)?;
    let format = spec.format.ok_or(ErrorCode::BodyInvalid)?;
    if !FORMATS.iter().any(|f| f.eq_ignore_ascii_case(&format)) {
        return Err(ErrorCode::BodyInvalid);
    }
    let image_name = spec.name.ok_or(ErrorCode::BodyInvalid)?;
    let image = match (mode, file) {
        (Mode::Multipart, Some(file)) => file,
        (Mode::Multipart, None) => return Err(ErrorCode::BodyInvalid),
        (Mode::Json, _) => {
            let data = spec.data.ok_or(ErrorCode::BodyInvalid)?;
            if data.len() / 4 * 3 > config.max_image_bytes.saturating_add(3) {
                return Err(ErrorCode::BodyInvalid);
            }
            Bytes::from(
                BASE64
                    .decode(data.as_bytes())
                    .map_err(|_| ErrorCode::BodyInvalid)?,
            )
        }
    };
    if image.is_empty() || image.len() > config.max_image_bytes {
        return Err(ErrorCode::BodyInvalid);
    }
    Ok(Call {
        version,
        request_id,
        image_name,
        image,
    })
}
