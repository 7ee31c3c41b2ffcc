//! Error body of a non-2xx answer: `{"code":"0011","message":"...","path":"...","traceId":"...",
//! "timestamp":...}`.

use serde::{Deserialize, Serialize};

use super::lenient::{int, string};

/// A CLOVA error body. Every member may be missing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Error code as a zero-padded 4-digit string, e.g. `0025`.
    pub code: Option<String>,
    /// Message, e.g. `Request body invalid.`.
    pub message: Option<String>,
    /// Request path.
    pub path: Option<String>,
    /// Trace id.
    pub trace_id: Option<String>,
    /// Server timestamp in milliseconds.
    pub timestamp: Option<i64>,
}

/// Read an error body. `None` when the body is not JSON or not a JSON object (e.g. an HTML page
/// from a gateway). A numeric `code` (or an all-digit string shorter than 4) is zero-padded to
/// 4 digits. Never panics.
pub fn parse_error_body(body: &[u8]) -> Option<ErrorBody> {
    let v = super::parse_json(body).ok()?;
    let m = v.as_object()?;
    Some(ErrorBody {
        code: string(m.get("code")).map(|c| pad_code(c.trim())),
        message: string(m.get("message")),
        path: string(m.get("path")),
        trace_id: string(m.get("traceId")),
        timestamp: int(m.get("timestamp")),
    })
}

fn pad_code(c: &str) -> String {
    if !c.is_empty() && c.len() < 4 && c.bytes().all(|b| b.is_ascii_digit()) {
        format!("{c:0>4}")
    } else {
        c.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let b = parse_error_body(br#"{"code":25,"message":"m","traceId":"t"}"#);
        assert_eq!(b.and_then(|b| b.code).as_deref(), Some("0025"));
        let b = parse_error_body(br#"{"code":"0011","path":"/x","timestamp":17}"#);
        assert_eq!(
            b,
            Some(ErrorBody {
                code: Some("0011".into()),
                path: Some("/x".into()),
                timestamp: Some(17),
                ..ErrorBody::default()
            })
        );
        assert_eq!(parse_error_body(b"<html>502</html>"), None);
        assert_eq!(parse_error_body(b"[1]"), None);
        assert_eq!(parse_error_body(b""), None);
    }
}
