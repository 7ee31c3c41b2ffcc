//! The vendor's error answers: HTTP status, zero-padded code, message and body shape.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One documented CLOVA OCR error answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCode {
    /// 400/0001: the invoke URL is invalid (unknown path, domain or invoke key).
    InvalidUrl,
    /// 401/0002: `X-OCR-SECRET` missing or wrong.
    SecretInvalid,
    /// 400/0011: request body invalid.
    BodyInvalid,
    /// 400/0021: protocol version not supported.
    VersionUnsupported,
    /// 400/0023: call quota for the period reached.
    PeriodQuota,
    /// 400/0025: too many simultaneous calls for the domain.
    ConcurrencyLimit,
    /// 400/0025: too many calls per second (same code and message family as the concurrency cap).
    RateLimit,
    /// 500/0500: unknown service error.
    UnknownService,
    /// 500/0501: OCR service error.
    OcrService,
}

impl ErrorCode {
    /// Zero-padded code as it appears in the body.
    pub fn code(self) -> &'static str {
        match self {
            ErrorCode::InvalidUrl => "0001",
            ErrorCode::SecretInvalid => "0002",
            ErrorCode::BodyInvalid => "0011",
            ErrorCode::VersionUnsupported => "0021",
            ErrorCode::PeriodQuota => "0023",
            ErrorCode::ConcurrencyLimit | ErrorCode::RateLimit => "0025",
            ErrorCode::UnknownService => "0500",
            ErrorCode::OcrService => "0501",
        }
    }

    /// HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::SecretInvalid => StatusCode::UNAUTHORIZED,
            ErrorCode::UnknownService | ErrorCode::OcrService => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The vendor's message text.
    pub fn message(self) -> &'static str {
        match self {
            ErrorCode::InvalidUrl => "URL is invalid.",
            ErrorCode::SecretInvalid => "Secret key validate failed.",
            ErrorCode::BodyInvalid => "Request body invalid.",
            ErrorCode::VersionUnsupported => "Protocol version not support.",
            ErrorCode::PeriodQuota => "API request count reach the upper limit.",
            ErrorCode::ConcurrencyLimit => {
                "Calls to this api have exceeded the rate limit: API are limited to API calls per domain at the same time."
            }
            ErrorCode::RateLimit => "Calls to this api have exceeded the rate limit.",
            ErrorCode::UnknownService => "Unknown service error.",
            ErrorCode::OcrService => "OCR service error.",
        }
    }

    /// The full error answer for a request to `path`.
    pub fn response(self, path: &str) -> Response {
        let body = ErrorBody {
            code: self.code(),
            message: self.message(),
            path,
            trace_id: uuid::Uuid::new_v4().simple().to_string(),
            timestamp: chrono::Utc::now().timestamp_millis(),
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        (
            self.status(),
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json;charset=UTF-8"),
            )],
            bytes,
        )
            .into_response()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody<'a> {
    code: &'static str,
    message: &'static str,
    path: &'a str,
    trace_id: String,
    timestamp: i64,
}

/// HTTP 200 `application/json` with a body cut short in the middle of the envelope.
pub fn garbage_response(request_id: &str) -> Response {
    let body = format!(
        r#"{{"version":"V2","requestId":"{request_id}","timestamp":1700000000000,"images":[{{"uid":"#
    );
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=UTF-8"),
        )],
        body,
    )
        .into_response()
}

/// A gateway-style answer with an HTML body (not the vendor's JSON), for 502/503 faults.
pub fn gateway_response(status: StatusCode) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    let code = status.as_u16();
    let body = format!(
        "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
    );
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/html"))],
        body,
    )
        .into_response()
}
