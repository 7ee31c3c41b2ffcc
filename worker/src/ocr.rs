//! OCR edge: one call to the CLOVA ID-card endpoint, classified into [`JobError`]s.
//!
//! The client sends one image per request (multipart by default, JSON + base64 optionally),
//! with the `X-OCR-SECRET` header. A non-2xx answer is classified by its CLOVA error body when
//! it has one (`code`), otherwise as a gateway answer by HTTP status.

use std::future::Future;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use ocr_common::clova::{self, OcrResponse};
use ocr_common::failure::{JobError, ProviderCode};
use ocr_common::format::ImageFormat;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::config::RequestMode;

/// Largest success body we read (a passport answer is a few tens of KB).
const MAX_RESPONSE_BYTES: usize = 8 << 20;
/// Largest error body we read.
const MAX_ERROR_BYTES: usize = 64 << 10;

/// One image to recognise.
#[derive(Debug, Clone)]
pub struct OcrImage {
    /// The bytes.
    pub bytes: Bytes,
    /// Detected format.
    pub format: ImageFormat,
    /// Name sent to CLOVA (the job id: never a personal value).
    pub name: String,
}

/// A successful HTTP exchange (the body may still say FAILURE/ERROR).
#[derive(Debug, Clone)]
pub struct OcrReply {
    /// Parsed body.
    pub response: OcrResponse,
    /// The body as received (what the result store keeps); empty for a reused answer.
    pub raw: Vec<u8>,
    /// The `requestId` we sent.
    pub request_id: String,
    /// Wall time of the call.
    pub duration: Duration,
}

/// The OCR service as the pipeline sees it.
pub trait OcrApi: Send + Sync + 'static {
    /// Call the ID-card endpoint once.
    fn recognize(
        &self,
        image: &OcrImage,
    ) -> impl Future<Output = Result<OcrReply, JobError>> + Send;
}

/// [`OcrApi`] over `reqwest`.
#[derive(Clone)]
pub struct ClovaClient {
    http: reqwest::Client,
    url: String,
    secret: SecretString,
    mode: RequestMode,
}

impl std::fmt::Debug for ClovaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClovaClient")
            .field("url", &self.url)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl ClovaClient {
    /// A client for the domain whose invoke URL is `invoke_url`.
    pub fn new(
        invoke_url: &str,
        secret: SecretString,
        mode: RequestMode,
        call_timeout: Duration,
        connect_timeout: Duration,
    ) -> Result<Self, JobError> {
        let http = reqwest::Client::builder()
            .timeout(call_timeout)
            .connect_timeout(connect_timeout)
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| JobError::OcrConfig(format!("HTTP client: {e}")))?;
        Ok(ClovaClient {
            http,
            url: format!("{}/document/id-card", invoke_url.trim_end_matches('/')),
            secret,
            mode,
        })
    }

    fn message(
        &self,
        image: &OcrImage,
        request_id: &str,
        data: Option<String>,
    ) -> serde_json::Value {
        let mut img = json!({ "format": image.format.as_str(), "name": image.name });
        if let Some(d) = data {
            img["data"] = json!(d);
        }
        json!({
            "version": "V2",
            "requestId": request_id,
            "timestamp": chrono::Utc::now().timestamp_millis(),
            "images": [img],
        })
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    v.parse::<u64>().ok().map(Duration::from_secs)
}

fn transport_error(e: &reqwest::Error) -> JobError {
    if e.is_timeout() {
        JobError::OcrTimeout
    } else if e.is_builder() {
        JobError::OcrConfig("OCR request could not be built (check CLOVA_OCR_INVOKE_URL)".into())
    } else if e.is_connect() {
        JobError::OcrUnreachable("connect failed".into())
    } else if e.is_body() || e.is_decode() {
        JobError::OcrConnection("response body interrupted".into())
    } else {
        JobError::OcrConnection("request failed".into())
    }
}

async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, JobError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport_error(&e))? {
        if out.len() + chunk.len() > cap {
            return Err(JobError::BadResponse(format!("body over {cap} bytes")));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

impl OcrApi for ClovaClient {
    async fn recognize(&self, image: &OcrImage) -> Result<OcrReply, JobError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let req = self
            .http
            .post(&self.url)
            .header("X-OCR-SECRET", self.secret.expose_secret());
        let req = match self.mode {
            RequestMode::Json => {
                let data = base64::engine::general_purpose::STANDARD.encode(&image.bytes);
                req.json(&self.message(image, &request_id, Some(data)))
            }
            RequestMode::Multipart => {
                let file = reqwest::multipart::Part::stream(image.bytes.clone())
                    .file_name(format!("{}.{}", image.name, image.format.as_str()))
                    .mime_str(image.format.mime())
                    .map_err(|e| JobError::OcrConfig(format!("multipart: {e}")))?;
                let form = reqwest::multipart::Form::new()
                    .text(
                        "message",
                        self.message(image, &request_id, None).to_string(),
                    )
                    .part("file", file);
                req.multipart(form)
            }
        };
        let started = Instant::now();
        let resp = req.send().await.map_err(|e| transport_error(&e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        if status.is_success() {
            let body = read_capped(resp, MAX_RESPONSE_BYTES).await?;
            let response =
                clova::parse_response(&body).map_err(|e| JobError::BadResponse(e.to_string()))?;
            return Ok(OcrReply {
                response,
                raw: body,
                request_id,
                duration: started.elapsed(),
            });
        }
        let body = read_capped(resp, MAX_ERROR_BYTES).await.unwrap_or_default();
        let retry_after = retry_after(&headers);
        match clova::parse_error_body(&body).and_then(|b| b.code.map(|c| (c, b.message))) {
            Some((code, message)) => Err(JobError::Provider {
                http_status: status.as_u16(),
                code: ProviderCode::parse(&code),
                message: message.unwrap_or_default(),
                retry_after,
            }),
            None => Err(JobError::Gateway {
                http_status: status.as_u16(),
                retry_after,
            }),
        }
    }
}
