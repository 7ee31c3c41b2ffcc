//! The job message producers put on the work queue, parsed and validated ("parse, don't
//! validate": a [`Job`] that exists is a job the worker may act on).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The only document type this worker handles.
pub const PASSPORT: &str = "passport";

/// Longest job id, in bytes: an AMQP short string (the outcome's `message_id`).
pub const MAX_JOB_ID_BYTES: usize = 255;

/// Longest object key S3 allows, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// A validated OCR job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Idempotency key, non-empty.
    pub job_id: String,
    /// Source bucket.
    pub bucket: String,
    /// Source object key.
    pub key: String,
    /// Optional object version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// The object's ETag as the producer saw it (a backfill's listing, a notification). With
    /// it, a stored result for this content is found in one S3 request, without a HEAD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Call OCR even when the result store already holds a result for this content.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_ocr: bool,
    /// Document type; only `passport` is supported.
    #[serde(default = "default_document_type")]
    pub document_type: String,
    /// Opaque producer data echoed back untouched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

/// The job id of one object's content: `obj-` + 32 hex digits of SHA-256 over bucket, key and
/// ETag (quotes ignored). Backfill (`ocr-worker enqueue`) and bucket notifications both use it,
/// so the same image announced twice, or listed by a backfill and announced by an event, is
/// one job id that consumers deduplicate; new content under the same key is a new job.
pub fn object_job_id(bucket: &str, key: &str, etag: Option<&str>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(bucket.as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    h.update([0]);
    h.update(etag.unwrap_or("").trim_matches('"').as_bytes());
    format!("obj-{}", &hex::encode(h.finalize())[..32])
}

fn default_document_type() -> String {
    PASSPORT.to_string()
}

/// Why a job message was refused. The text names the field, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidJob {
    /// Body larger than the configured cap.
    #[error("job body is {size} bytes, over the {limit}-byte cap")]
    TooLarge {
        /// Body size.
        size: usize,
        /// Cap.
        limit: usize,
    },
    /// Not JSON, or not the expected shape.
    #[error("job body is not a valid job JSON object: {0}")]
    Malformed(String),
    /// A field has a bad value.
    #[error("job field `{field}` is invalid: {reason}")]
    Field {
        /// Field name.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A bucket event that asks for no job (only [`Job::parse`] says this; the consumer acks
    /// such an event without an outcome).
    #[error("the message is a bucket event that asks for no job ({0})")]
    NotAJob(crate::intake::IgnoredEvent),
}

/// A serde error as an [`InvalidJob`]: serde_json's messages describe the shape (type, field),
/// and only the part before any quoted data is kept.
pub(crate) fn malformed(e: serde_json::Error) -> InvalidJob {
    InvalidJob::Malformed(e.classify_label().to_string() + &shape_hint(&e))
}

impl Job {
    /// Parse and validate a job body of at most `max_bytes`: a job object, or a bucket event
    /// for one created object (see [`crate::intake`], [`crate::s3_event`]). A bucket event that
    /// asks for no job (a test event, a metadata-only change) is
    /// [`InvalidJob::NotAJob`] here; the consumer uses [`crate::intake::Intake::parse`], which
    /// tells them apart.
    pub fn parse(body: &[u8], max_bytes: usize) -> Result<Job, InvalidJob> {
        match crate::intake::Intake::parse(body, max_bytes)? {
            crate::intake::Intake::Job(job) => Ok(job),
            crate::intake::Intake::Ignored(reason) => Err(InvalidJob::NotAJob(reason)),
        }
    }

    /// The checks every job passes, whoever wrote it.
    pub(crate) fn validate(&self) -> Result<(), InvalidJob> {
        let field = |field, reason| Err(InvalidJob::Field { field, reason });
        if self.job_id.trim().is_empty() {
            return field("job_id", "must be a non-empty string");
        }
        // It becomes the outcome's AMQP `message_id`, a short string of at most 255 bytes.
        if self.job_id.len() > MAX_JOB_ID_BYTES {
            return field("job_id", "longer than 255 bytes");
        }
        if self.job_id.chars().any(char::is_control) {
            return field("job_id", "contains control characters");
        }
        validate_bucket(&self.bucket).or_else(|reason| field("bucket", reason))?;
        validate_key(&self.key).or_else(|reason| field("key", reason))?;
        if let Some(v) = &self.version_id
            && (v.is_empty() || v.len() > 1024 || v.chars().any(char::is_control))
        {
            return field("version_id", "must be a non-empty printable string");
        }
        if let Some(e) = &self.etag
            && (e.trim_matches('"').is_empty() || e.len() > 1024 || e.chars().any(char::is_control))
        {
            return field("etag", "must be a non-empty printable string");
        }
        if self.document_type != PASSPORT {
            return field("document_type", "only `passport` is supported");
        }
        Ok(())
    }
}

trait ClassifyLabel {
    fn classify_label(&self) -> &'static str;
}

impl ClassifyLabel for serde_json::Error {
    fn classify_label(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "i/o error",
            serde_json::error::Category::Syntax => "not valid JSON",
            serde_json::error::Category::Data => "wrong shape",
            serde_json::error::Category::Eof => "truncated JSON",
        }
    }
}

/// For shape errors, name the field involved (serde's message names fields and types only,
/// but may quote an unexpected *string value*; keep only the part before any quote of data).
fn shape_hint(e: &serde_json::Error) -> String {
    if e.classify() != serde_json::error::Category::Data {
        return String::new();
    }
    let msg = e.to_string();
    if let Some(field) = msg
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        return format!(": missing field `{field}`");
    }
    if msg.starts_with("invalid type") {
        // "invalid type: integer `5`, expected a string at line.." → keep the expectation only.
        if let Some(exp) = msg.split("expected ").nth(1) {
            let exp = exp.split(" at line").next().unwrap_or(exp);
            return format!(": expected {exp}");
        }
    }
    String::new()
}

/// Bucket names per the S3 rules (3-63 chars of lower-case letters, digits, `.`, `-`).
fn validate_bucket(b: &str) -> Result<(), &'static str> {
    if b.len() < 3 || b.len() > 63 {
        return Err("must be 3 to 63 characters");
    }
    if !b
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
    {
        return Err("may hold only lower-case letters, digits, `.` and `-`");
    }
    if !b.as_bytes()[0].is_ascii_alphanumeric()
        || !b.as_bytes()[b.len() - 1].is_ascii_alphanumeric()
    {
        return Err("must start and end with a letter or digit");
    }
    Ok(())
}

/// Object keys that are safe to use and to derive names from: non-empty, at most 1024 bytes,
/// no control characters, no leading `/`, no `.` or `..` path segment.
fn validate_key(k: &str) -> Result<(), &'static str> {
    if k.is_empty() {
        return Err("must not be empty");
    }
    if k.len() > MAX_KEY_BYTES {
        return Err("longer than 1024 bytes");
    }
    if k.chars().any(char::is_control) {
        return Err("contains control characters");
    }
    if k.starts_with('/') {
        return Err("must not start with `/`");
    }
    if k.split('/').any(|seg| seg == ".." || seg == ".") {
        return Err("must not contain `.` or `..` segments");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str) -> Result<Job, InvalidJob> {
        Job::parse(body.as_bytes(), 65_536)
    }

    #[test]
    fn a_minimal_job_parses_with_defaults() {
        let job = check(r#"{"job_id":"j1","bucket":"scans","key":"a/b.png"}"#).unwrap();
        assert_eq!(job.document_type, "passport");
        assert_eq!(job.version_id, None);
        assert_eq!(job.metadata, None);
    }

    #[test]
    fn metadata_is_kept_untouched() {
        let job =
            check(r#"{"job_id":"j1","bucket":"scans","key":"k","metadata":{"x":[1,{"y":null}]}}"#)
                .unwrap();
        assert_eq!(
            serde_json::to_value(job.metadata).unwrap(),
            serde_json::json!({"x":[1,{"y":null}]})
        );
    }

    #[test]
    fn bad_jobs_are_classified() {
        let cases = [
            ("not json", "not valid JSON"),
            ("[1,2]", "wrong shape"),
            (r#"{"bucket":"scans","key":"k"}"#, "missing field `job_id`"),
            (r#"{"job_id":"","bucket":"scans","key":"k"}"#, "job_id"),
            (
                r#"{"job_id":5,"bucket":"scans","key":"k"}"#,
                "expected a string",
            ),
            (r#"{"job_id":"j","bucket":"scans","key":""}"#, "key"),
            (
                r#"{"job_id":"j","bucket":"scans","key":"/etc/passwd"}"#,
                "key",
            ),
            (r#"{"job_id":"j","bucket":"scans","key":"a/../b"}"#, "key"),
            (
                r#"{"job_id":"j","bucket":"Bad_Bucket","key":"k"}"#,
                "bucket",
            ),
            (
                r#"{"job_id":"j","bucket":"scans","key":"k","document_type":"visa"}"#,
                "document_type",
            ),
            (
                r#"{"job_id":"j","bucket":"scans","key":"k","metadata":3}"#,
                "wrong shape",
            ),
            (
                r#"{"job_id":"j","bucket":"scans","key":"k","version_id":""}"#,
                "version_id",
            ),
        ];
        for (body, needle) in cases {
            let err = check(body).unwrap_err().to_string();
            assert!(err.contains(needle), "{body}: {err}");
        }
        let huge = format!(
            r#"{{"job_id":"j","bucket":"scans","key":"{}"}}"#,
            "k".repeat(2000)
        );
        assert!(matches!(
            check(&huge),
            Err(InvalidJob::Field { field: "key", .. })
        ));
        assert!(matches!(
            Job::parse(&[b' '; 100], 10),
            Err(InvalidJob::TooLarge {
                size: 100,
                limit: 10
            })
        ));
    }

    #[test]
    fn object_job_ids_are_stable_and_distinct() {
        let a = object_job_id("b", "k", Some("\"e1\""));
        assert_eq!(a, object_job_id("b", "k", Some("e1")));
        assert_ne!(a, object_job_id("b", "k", Some("e2")));
        assert_ne!(a, object_job_id("b", "k2", Some("e1")));
        assert_ne!(a, object_job_id("b", "k", None));
        assert_eq!(a.len(), 36);
    }

    #[test]
    fn job_ids_fit_an_amqp_short_string() {
        let id = |n: usize| {
            format!(
                r#"{{"job_id":"{}","bucket":"scans","key":"k"}}"#,
                "j".repeat(n)
            )
        };
        assert!(check(&id(255)).is_ok());
        assert!(matches!(
            check(&id(256)),
            Err(InvalidJob::Field {
                field: "job_id",
                ..
            })
        ));
    }

    #[test]
    fn errors_never_echo_values() {
        let err = check(r#"{"job_id":"SECRET-NAME","bucket":"scans","key":7}"#)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("SECRET-NAME"), "{err}");
    }
}
