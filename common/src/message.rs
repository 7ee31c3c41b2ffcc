//! Outcome messages the worker publishes: a result on success, a dead letter otherwise.
//! JSON Schemas for both (and for the job) live in `schemas/`.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::failure::JobError;
use crate::format::ImageFormat;
use crate::job::Job;
use crate::normalize::Normalized;

/// Version of `schemas/result.schema.json` (2: MRZ repair grades; 3: `reused`).
pub const SCHEMA_VERSION: u32 = 3;

/// Version of `schemas/dead-letter.schema.json` (unchanged by the result schema's version 2).
pub const DEAD_LETTER_SCHEMA_VERSION: u32 = 1;

/// Where the image came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// The bucket the job named (`local` for `ocr-worker process FILE`).
    pub bucket: String,
    /// The object key (the path, for a local file).
    pub key: String,
    /// Version id requested or reported.
    pub version_id: Option<String>,
    /// Object ETag as reported by the store.
    pub etag: Option<String>,
    /// Object size in bytes.
    pub size_bytes: u64,
    /// Format detected from magic bytes.
    pub format: ImageFormat,
}

/// Facts about the OCR call that produced the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OcrInfo {
    /// `requestId` we sent.
    pub request_id: String,
    /// `uid` CLOVA gave the image.
    pub image_uid: Option<String>,
    /// `idCard.meta.estimatedLanguage`.
    pub inferred_language: Option<String>,
    /// Duration of the successful call, in milliseconds.
    pub duration_ms: u64,
}

/// Body of a message on the results exchange (routing key `passport.succeeded`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultMessage {
    /// Schema version.
    pub schema_version: u32,
    /// The job's idempotency key.
    pub job_id: String,
    /// The image.
    pub source: Source,
    /// Normalized passport, per-field evidence, checks and warnings.
    #[serde(flatten)]
    pub record: Normalized,
    /// The OCR call.
    pub ocr: OcrInfo,
    /// Paid OCR calls made for this job, including this one.
    pub attempts: u32,
    /// Built from a stored answer for the same content (the result store), with no OCR call:
    /// `ocr` then describes the call that was paid for earlier.
    #[serde(default)]
    pub reused: bool,
    /// The job's metadata, untouched.
    pub metadata: Option<Map<String, Value>>,
    /// When the worker finished.
    pub completed_at: DateTime<Utc>,
}

/// The error part of a dead letter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// Stable snake_case kind.
    pub kind: String,
    /// Human-readable message (no personal data).
    pub message: String,
    /// Whether the failure was of a transient nature (e.g. retries exhausted on a 0501).
    pub retryable: bool,
    /// Paid OCR calls made.
    pub attempts: u32,
    /// HTTP status of the last OCR answer, if any.
    pub http_status: Option<u16>,
    /// Provider code of the last OCR answer, if any.
    pub provider_code: Option<String>,
}

/// Body of a message on the dead-letter exchange (routing key `dead.<kind>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterMessage {
    /// Schema version.
    pub schema_version: u32,
    /// Job id, `null` if the job was unreadable.
    pub job_id: Option<String>,
    /// What went wrong.
    pub error: ErrorInfo,
    /// The original job, when it was a JSON value.
    pub job: Option<Value>,
    /// The original bytes, base64, when they were not JSON.
    pub job_base64: Option<String>,
    /// When the worker gave up.
    pub failed_at: DateTime<Utc>,
    /// The queue (lane) the job was consumed from, so `ocr-worker dlq replay` can send it back
    /// there. Absent from dead letters written before it existed (schema version 1 either way:
    /// an added optional field); replay then uses the work queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
}

impl DeadLetterMessage {
    /// Build the dead letter for `error`, keeping the original job as JSON when it is JSON.
    pub fn new(
        job_id: Option<String>,
        error: &JobError,
        attempts: u32,
        original: &[u8],
        failed_at: DateTime<Utc>,
    ) -> Self {
        let (job, job_base64) = match serde_json::from_slice::<Value>(original) {
            Ok(v) => (Some(v), None),
            Err(_) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(original)),
            ),
        };
        DeadLetterMessage {
            schema_version: DEAD_LETTER_SCHEMA_VERSION,
            job_id,
            error: ErrorInfo {
                kind: error.kind().as_str().to_string(),
                message: error.to_string(),
                retryable: matches!(error, JobError::RetriesExhausted { .. }) || error.retryable(),
                attempts,
                http_status: error.http_status(),
                provider_code: error.provider_code().map(str::to_string),
            },
            job,
            job_base64,
            failed_at,
            queue: None,
        }
    }

    /// Record `queue` as the lane the job was consumed from.
    pub fn with_queue(mut self, queue: &str) -> Self {
        self.queue = Some(queue.to_string());
        self
    }

    /// Routing key on the dead-letter exchange.
    pub fn routing_key(&self) -> String {
        format!("dead.{}", self.error.kind)
    }
}

/// The AMQP `message_id` of every outcome of a delivery: the job id; for an unreadable job the
/// delivery's own `message_id`; else `sha256:<hex>` of the body. Consumers deduplicate on it.
pub fn outcome_message_id(
    job: Option<&Job>,
    delivery_message_id: Option<&str>,
    body: &[u8],
) -> String {
    if let Some(job) = job {
        return job.job_id.clone();
    }
    if let Some(id) = delivery_message_id.filter(|s| !s.is_empty()) {
        return id.to_string();
    }
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_prefers_job_id_then_delivery_id_then_hash() {
        let job = Job::parse(br#"{"job_id":"j-1","bucket":"abc","key":"k"}"#, 1000).unwrap();
        assert_eq!(outcome_message_id(Some(&job), Some("m"), b"x"), "j-1");
        assert_eq!(outcome_message_id(None, Some("m-7"), b"x"), "m-7");
        let h = outcome_message_id(None, None, b"x");
        assert_eq!(h, outcome_message_id(None, Some(""), b"x"));
        assert!(h.starts_with("sha256:") && h.len() == 7 + 64);
    }

    #[test]
    fn dead_letter_keeps_original_json_or_bytes() {
        let err = JobError::Unrecognized;
        let now = Utc::now();
        let d = DeadLetterMessage::new(Some("j".into()), &err, 1, br#"{"a":1}"#, now);
        assert_eq!(d.job, Some(serde_json::json!({"a":1})));
        assert_eq!(d.routing_key(), "dead.ocr_unrecognized");
        let d = DeadLetterMessage::new(None, &err, 0, b"\xff\x00", now);
        assert_eq!(d.job, None);
        assert_eq!(d.job_base64.as_deref(), Some("/wA="));
    }

    #[test]
    fn the_lane_is_optional_on_the_wire() {
        let err = JobError::Unrecognized;
        let d = DeadLetterMessage::new(Some("j".into()), &err, 1, b"{}", Utc::now());
        let v = serde_json::to_value(&d).unwrap();
        assert!(v.get("queue").is_none(), "{v}");
        // A dead letter written before the field existed still reads.
        let back: DeadLetterMessage = serde_json::from_value(v).unwrap();
        assert_eq!(back.queue, None);
        let d = d.with_queue("ocr.jobs");
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["queue"], "ocr.jobs");
        assert_eq!(serde_json::from_value::<DeadLetterMessage>(v).unwrap(), d);
    }
}
