//! The error taxonomy: every way a job can fail, and what the worker does about it.
//!
//! The rule (see ARCHITECTURE.md): an error that would hit every job the same way stops
//! consumption ([`Disposition::Stop`]); the period quota pauses OCR calls
//! ([`Disposition::PauseQuota`]); transient errors are retried ([`Disposition::Retry`], with
//! [`Disposition::RateLimited`] for the domain's simultaneous-call limit, which is not a paid
//! attempt); only an error about *this* job dead-letters it ([`Disposition::DeadLetter`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::format::FormatError;
use crate::job::InvalidJob;

/// Stable snake_case dead-letter kinds (the routing key is `dead.<kind>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The job message is unreadable or invalid.
    InvalidJob,
    /// The job's bucket is not in the configured allow-list.
    BucketNotAllowed,
    /// The object (or bucket, or version) does not exist.
    ObjectNotFound,
    /// The object store refused access.
    AccessDenied,
    /// The object is in an archive storage class and not restored (`InvalidObjectState`).
    ObjectArchived,
    /// The object is larger than the configured maximum.
    ImageTooLarge,
    /// Not a JPEG/PNG/single-page PDF/TIFF, or a multi-page document.
    UnsupportedFormat,
    /// The image is cut short.
    CorruptImage,
    /// CLOVA refused the request for this image (400/0011).
    OcrRejected,
    /// CLOVA could not recognise the image (`inferResult` FAILURE).
    OcrUnrecognized,
    /// CLOVA recognised another document type.
    WrongDocumentType,
    /// CLOVA answered 200 with a body we cannot read.
    OcrBadResponse,
    /// Transient failures continued past the retry budget.
    RetriesExhausted,
    /// The broker dead-lettered the job after its delivery limit (it crashed workers).
    PoisonMessage,
    /// Configuration error (never dead-lettered; listed for metrics and logs).
    Configuration,
    /// Transient error (never dead-lettered itself; listed for metrics and logs).
    Transient,
    /// Rate limit (0025 / 429); never dead-lettered.
    RateLimited,
    /// Period quota (0023); never dead-lettered.
    QuotaExhausted,
}

impl ErrorKind {
    /// Every kind, in declaration order (held complete by `is_dead_letter`'s exhaustive match
    /// and a test).
    pub const ALL: [ErrorKind; 18] = [
        ErrorKind::InvalidJob,
        ErrorKind::BucketNotAllowed,
        ErrorKind::ObjectNotFound,
        ErrorKind::AccessDenied,
        ErrorKind::ObjectArchived,
        ErrorKind::ImageTooLarge,
        ErrorKind::UnsupportedFormat,
        ErrorKind::CorruptImage,
        ErrorKind::OcrRejected,
        ErrorKind::OcrUnrecognized,
        ErrorKind::WrongDocumentType,
        ErrorKind::OcrBadResponse,
        ErrorKind::RetriesExhausted,
        ErrorKind::PoisonMessage,
        ErrorKind::Configuration,
        ErrorKind::Transient,
        ErrorKind::RateLimited,
        ErrorKind::QuotaExhausted,
    ];

    /// Whether a dead letter can carry this kind (the others are for metrics and logs only).
    /// No wildcard arm: a new kind must be placed here before it compiles.
    pub fn is_dead_letter(self) -> bool {
        match self {
            ErrorKind::InvalidJob
            | ErrorKind::BucketNotAllowed
            | ErrorKind::ObjectNotFound
            | ErrorKind::AccessDenied
            | ErrorKind::ObjectArchived
            | ErrorKind::ImageTooLarge
            | ErrorKind::UnsupportedFormat
            | ErrorKind::CorruptImage
            | ErrorKind::OcrRejected
            | ErrorKind::OcrUnrecognized
            | ErrorKind::WrongDocumentType
            | ErrorKind::OcrBadResponse
            | ErrorKind::RetriesExhausted
            | ErrorKind::PoisonMessage => true,
            ErrorKind::Configuration
            | ErrorKind::Transient
            | ErrorKind::RateLimited
            | ErrorKind::QuotaExhausted => false,
        }
    }

    /// The snake_case name, as used in routing keys, metrics labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidJob => "invalid_job",
            ErrorKind::BucketNotAllowed => "bucket_not_allowed",
            ErrorKind::ObjectNotFound => "object_not_found",
            ErrorKind::AccessDenied => "access_denied",
            ErrorKind::ObjectArchived => "object_archived",
            ErrorKind::ImageTooLarge => "image_too_large",
            ErrorKind::UnsupportedFormat => "unsupported_format",
            ErrorKind::CorruptImage => "corrupt_image",
            ErrorKind::OcrRejected => "ocr_rejected",
            ErrorKind::OcrUnrecognized => "ocr_unrecognized",
            ErrorKind::WrongDocumentType => "wrong_document_type",
            ErrorKind::OcrBadResponse => "ocr_bad_response",
            ErrorKind::RetriesExhausted => "retries_exhausted",
            ErrorKind::PoisonMessage => "poison_message",
            ErrorKind::Configuration => "configuration",
            ErrorKind::Transient => "transient",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::QuotaExhausted => "quota_exhausted",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the worker does with a job after an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Publish a dead letter of this kind, then ack.
    DeadLetter(ErrorKind),
    /// Retry later with backoff (honouring `retry_after`). Whether the failed call was a paid
    /// attempt is [`JobError::is_paid_call`], not part of the disposition.
    Retry {
        /// Server-requested wait, if any.
        retry_after: Option<Duration>,
    },
    /// The domain is over its simultaneous-call limit: back off, retry, attempt not counted.
    RateLimited {
        /// Server-requested wait, if any.
        retry_after: Option<Duration>,
    },
    /// The period quota is spent: pause all OCR calls, resume by itself, never dead-letter.
    PauseQuota,
    /// A configuration error that would hit every job: stop consuming, leave jobs queued.
    Stop,
}

impl Disposition {
    /// A wait for the domain's quota (0025/429 back-off, the 0023 pause): not the job's fault,
    /// so it uses up neither paid attempts nor broker retries and never dead-letters the job.
    pub fn is_quota_wait(&self) -> bool {
        matches!(
            self,
            Disposition::RateLimited { .. } | Disposition::PauseQuota
        )
    }
}

/// Everything that can go wrong with one job. Messages carry context (bucket, key, codes) but
/// never personal data from the image or the OCR result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobError {
    /// Unreadable or invalid job message.
    #[error(transparent)]
    InvalidJob(#[from] InvalidJob),
    /// Bucket outside the allow-list.
    #[error("bucket `{bucket}` is not in the allow-list")]
    BucketNotAllowed {
        /// The bucket the job named.
        bucket: String,
    },
    /// Missing object/bucket/version.
    #[error("s3://{bucket}/{key} not found")]
    ObjectNotFound {
        /// The bucket looked in.
        bucket: String,
        /// The key that was not there.
        key: String,
    },
    /// Access denied by the object store.
    #[error("access denied to s3://{bucket}/{key}")]
    AccessDenied {
        /// The bucket that refused.
        bucket: String,
        /// The key asked for.
        key: String,
    },
    /// The object is archived (GLACIER, DEEP_ARCHIVE, an archive tier) and not restored: a
    /// GET is refused with `InvalidObjectState` until someone restores it.
    #[error("s3://{bucket}/{key} is archived and not restored")]
    ObjectArchived {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// Object larger than allowed.
    #[error("object is {size} bytes, over the {limit}-byte limit")]
    ImageTooLarge {
        /// Size reported or read so far.
        size: u64,
        /// The configured `max_image_bytes`.
        limit: u64,
    },
    /// Bad image format.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// Transient object-store failure (timeouts, 5xx, throttling).
    #[error("object store error: {0}")]
    StorageTransient(String),
    /// Object-store failure that is about configuration (bad credentials or endpoint).
    #[error("object store configuration error: {0}")]
    StorageConfig(String),
    /// CLOVA answered with an error body (`code` as in the vendor table).
    #[error("OCR provider error {http_status}/{code}: {}", vendor_text(.message))]
    Provider {
        /// HTTP status.
        http_status: u16,
        /// Provider code, e.g. `0011`.
        code: ProviderCode,
        /// Provider message.
        message: String,
        /// Retry-After, if sent.
        retry_after: Option<Duration>,
    },
    /// A non-2xx answer without a CLOVA error body (an API gateway).
    #[error("OCR gateway answered HTTP {http_status}")]
    Gateway {
        /// HTTP status.
        http_status: u16,
        /// Retry-After, if sent.
        retry_after: Option<Duration>,
    },
    /// The OCR call timed out.
    #[error("OCR call timed out")]
    OcrTimeout,
    /// The OCR endpoint could not be reached (connection refused, DNS): the call never left.
    #[error("OCR endpoint unreachable: {0}")]
    OcrUnreachable(String),
    /// The connection failed mid-call (reset, body cut short): the call may have been billed.
    #[error("OCR connection error: {0}")]
    OcrConnection(String),
    /// The OCR endpoint could not be called because of local configuration (bad URL).
    #[error("OCR client configuration error: {0}")]
    OcrConfig(String),
    /// `inferResult` FAILURE.
    #[error("OCR could not recognise the image")]
    Unrecognized,
    /// `inferResult` ERROR (transient on the provider side).
    #[error("OCR recognition error")]
    RecognitionError,
    /// Another document type came back.
    #[error("expected a passport, OCR found `{found}`")]
    WrongDocumentType {
        /// What was found.
        found: String,
    },
    /// 200 with an unreadable body.
    #[error("OCR response unreadable: {0}")]
    BadResponse(String),
    /// The transient-retry budget is spent; carries the last error.
    #[error("gave up after {attempts} paid attempts; last error: {last}")]
    RetriesExhausted {
        /// Paid attempts made.
        attempts: u32,
        /// The last error.
        last: Box<JobError>,
    },
    /// The job arrived with its paid attempts already spent: the calls were charged to it
    /// over earlier deliveries that ended without an outcome (a crash or a lost session after
    /// a call; see [`crate::retry::charged_attempts`]). No call is made; the retry policy
    /// dead-letters it as `retries_exhausted` with this as the last error.
    #[error("no paid attempts left: {attempts} charged over earlier deliveries")]
    AttemptsSpent {
        /// Paid attempts charged on arrival.
        attempts: u32,
    },
    /// The per-job deadline passed; retried later through a delay stage.
    #[error("job exceeded its deadline")]
    DeadlineExceeded,
    /// The per-job deadline passed while OCR calls were paused for the period quota (0023):
    /// the job only waited, so it is delayed like a quota answer, never counted against it.
    #[error("job waited past its deadline for the paused OCR period quota")]
    QuotaPausedPastDeadline,
    /// The job waited for the domain's quota (the limiter's slots or pacing, a 0025/429
    /// back-off) for longer than the job deadline: delayed like a quota answer, never counted
    /// against it (issue 12: a job is never dead-lettered because the domain was busy).
    #[error("job waited past its deadline for the OCR domain's quota")]
    QuotaWaitPastDeadline,
    /// The broker gave up delivering the job.
    #[error("broker dead-lettered the job after repeated failed deliveries ({reason})")]
    Poison {
        /// Broker's reason (e.g. `delivery_limit`).
        reason: String,
    },
    /// An outcome could not be routed to any queue.
    #[error("outcome for exchange `{exchange}` routing key `{routing_key}` was unroutable")]
    Unroutable {
        /// The exchange it was published to.
        exchange: String,
        /// The routing key no binding matched.
        routing_key: String,
    },
}

/// Longest stretch of a vendor's free text kept in an error message.
const VENDOR_TEXT_CHARS: usize = 200;

/// A vendor's free text as it may appear in a message, a stop reason or `/readyz`: control
/// characters escaped (a `\n` cannot forge a log line) and cut to [`VENDOR_TEXT_CHARS`].
fn vendor_text(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(VENDOR_TEXT_CHARS)
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    if text.chars().count() > VENDOR_TEXT_CHARS {
        out.push('…');
    }
    out
}

/// A CLOVA error code (the `code` of an error body), from the vendor's table. Codes outside
/// the table keep their text in [`ProviderCode::Other`] and are classified by HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProviderCode {
    /// 0001: the invoke URL is invalid (configuration).
    InvalidUrl,
    /// 0002: the secret key failed validation (configuration).
    SecretRejected,
    /// 0011: the request body is invalid (this image).
    InvalidRequestBody,
    /// 0021: protocol version not supported (configuration or client bug).
    UnsupportedProtocol,
    /// 0022: the request domain is invalid (configuration).
    InvalidDomain,
    /// 0023: the call quota for the period is reached.
    PeriodQuota,
    /// 0025: too many simultaneous calls for the domain.
    RateLimit,
    /// 0500: unknown service error (transient).
    UnknownServiceError,
    /// 0501: OCR service error (transient).
    ServiceError,
    /// 1021: deployment info not found (configuration).
    DeploymentNotFound,
    /// A code outside the vendor's table, as sent.
    Other(String),
}

impl ProviderCode {
    /// Every code of the vendor's table, for tests and bounded metric labels.
    pub const KNOWN: [ProviderCode; 10] = [
        ProviderCode::InvalidUrl,
        ProviderCode::SecretRejected,
        ProviderCode::InvalidRequestBody,
        ProviderCode::UnsupportedProtocol,
        ProviderCode::InvalidDomain,
        ProviderCode::PeriodQuota,
        ProviderCode::RateLimit,
        ProviderCode::UnknownServiceError,
        ProviderCode::ServiceError,
        ProviderCode::DeploymentNotFound,
    ];

    /// Read a zero-padded wire code such as `0025`.
    pub fn parse(code: &str) -> ProviderCode {
        ProviderCode::KNOWN
            .into_iter()
            .find(|k| k.as_str() == code)
            .unwrap_or_else(|| ProviderCode::Other(code.to_string()))
    }

    /// The wire code, e.g. `0025`.
    pub fn as_str(&self) -> &str {
        match self {
            ProviderCode::InvalidUrl => "0001",
            ProviderCode::SecretRejected => "0002",
            ProviderCode::InvalidRequestBody => "0011",
            ProviderCode::UnsupportedProtocol => "0021",
            ProviderCode::InvalidDomain => "0022",
            ProviderCode::PeriodQuota => "0023",
            ProviderCode::RateLimit => "0025",
            ProviderCode::UnknownServiceError => "0500",
            ProviderCode::ServiceError => "0501",
            ProviderCode::DeploymentNotFound => "1021",
            ProviderCode::Other(s) => s,
        }
    }

    /// The code says the configuration (URL, secret, domain, deployment) is wrong.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            ProviderCode::InvalidUrl
                | ProviderCode::SecretRejected
                | ProviderCode::UnsupportedProtocol
                | ProviderCode::InvalidDomain
                | ProviderCode::DeploymentNotFound
        )
    }

    /// The code is a quota answer (0023, 0025): the domain is busy, not the call failed.
    pub fn is_quota(&self) -> bool {
        matches!(self, ProviderCode::PeriodQuota | ProviderCode::RateLimit)
    }
}

impl std::fmt::Display for ProviderCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl JobError {
    /// What the worker does about this error.
    pub fn disposition(&self) -> Disposition {
        use Disposition::*;
        match self {
            JobError::InvalidJob(_) => DeadLetter(ErrorKind::InvalidJob),
            JobError::BucketNotAllowed { .. } => DeadLetter(ErrorKind::BucketNotAllowed),
            JobError::ObjectNotFound { .. } => DeadLetter(ErrorKind::ObjectNotFound),
            JobError::AccessDenied { .. } => DeadLetter(ErrorKind::AccessDenied),
            JobError::ObjectArchived { .. } => DeadLetter(ErrorKind::ObjectArchived),
            JobError::ImageTooLarge { .. } => DeadLetter(ErrorKind::ImageTooLarge),
            JobError::Format(FormatError::Truncated(_)) => DeadLetter(ErrorKind::CorruptImage),
            JobError::Format(_) => DeadLetter(ErrorKind::UnsupportedFormat),
            JobError::StorageTransient(_) => Retry { retry_after: None },
            JobError::StorageConfig(_) | JobError::OcrConfig(_) | JobError::Unroutable { .. } => {
                Stop
            }
            JobError::Provider {
                http_status,
                code,
                retry_after,
                ..
            } => match code {
                ProviderCode::RateLimit => RateLimited {
                    retry_after: *retry_after,
                },
                ProviderCode::PeriodQuota => PauseQuota,
                ProviderCode::InvalidRequestBody => DeadLetter(ErrorKind::OcrRejected),
                ProviderCode::UnknownServiceError | ProviderCode::ServiceError => Retry {
                    retry_after: *retry_after,
                },
                c if c.is_configuration() => Stop,
                // An unknown code: decide by status class.
                _ if *http_status >= 500 => Retry {
                    retry_after: *retry_after,
                },
                _ if matches!(http_status, 401 | 403 | 404) => Stop,
                _ => Retry {
                    retry_after: *retry_after,
                },
            },
            JobError::Gateway {
                http_status,
                retry_after,
            } => match http_status {
                429 => RateLimited {
                    retry_after: *retry_after,
                },
                401 | 403 | 404 => Stop,
                _ => Retry {
                    retry_after: *retry_after,
                },
            },
            JobError::OcrTimeout
            | JobError::OcrConnection(_)
            | JobError::OcrUnreachable(_)
            | JobError::RecognitionError
            | JobError::AttemptsSpent { .. }
            | JobError::DeadlineExceeded => Retry { retry_after: None },
            JobError::QuotaPausedPastDeadline => PauseQuota,
            JobError::QuotaWaitPastDeadline => RateLimited { retry_after: None },
            JobError::Unrecognized => DeadLetter(ErrorKind::OcrUnrecognized),
            JobError::WrongDocumentType { .. } => DeadLetter(ErrorKind::WrongDocumentType),
            JobError::BadResponse(_) => DeadLetter(ErrorKind::OcrBadResponse),
            JobError::RetriesExhausted { .. } => DeadLetter(ErrorKind::RetriesExhausted),
            JobError::Poison { .. } => DeadLetter(ErrorKind::PoisonMessage),
        }
    }

    /// The kind used for metrics, logs and dead-letter routing.
    pub fn kind(&self) -> ErrorKind {
        match self.disposition() {
            Disposition::DeadLetter(k) => k,
            Disposition::Retry { .. } => ErrorKind::Transient,
            Disposition::RateLimited { .. } => ErrorKind::RateLimited,
            Disposition::PauseQuota => ErrorKind::QuotaExhausted,
            Disposition::Stop => ErrorKind::Configuration,
        }
    }

    /// Whether retrying could help (true for transient kinds, false for dead letters/stops).
    pub fn retryable(&self) -> bool {
        matches!(
            self.disposition(),
            Disposition::Retry { .. } | Disposition::RateLimited { .. } | Disposition::PauseQuota
        )
    }

    /// Whether the OCR call that produced this error counts as a paid attempt. Quota answers
    /// (0025, 0023, gateway 429), configuration refusals and calls that never reached the
    /// service are not paid; anything that reached recognition, or may have (timeouts, cuts),
    /// is.
    pub fn is_paid_call(&self) -> bool {
        match self {
            JobError::Provider { code, .. } => !(code.is_quota() || code.is_configuration()),
            JobError::Gateway { http_status, .. } => !matches!(http_status, 401 | 403 | 404 | 429),
            JobError::OcrTimeout
            | JobError::OcrConnection(_)
            | JobError::Unrecognized
            | JobError::RecognitionError
            | JobError::WrongDocumentType { .. }
            | JobError::BadResponse(_) => true,
            _ => false,
        }
    }

    /// HTTP status of the OCR answer behind this error, if any (looks through retries).
    pub fn http_status(&self) -> Option<u16> {
        match self {
            JobError::Provider { http_status, .. } | JobError::Gateway { http_status, .. } => {
                Some(*http_status)
            }
            JobError::RetriesExhausted { last, .. } => last.http_status(),
            _ => None,
        }
    }

    /// Provider code of the OCR answer behind this error, if any (looks through retries).
    pub fn provider_code(&self) -> Option<&str> {
        match self {
            JobError::Provider { code, .. } => Some(code.as_str()),
            JobError::RetriesExhausted { last, .. } => last.provider_code(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(status: u16, code: &str) -> JobError {
        JobError::Provider {
            http_status: status,
            code: ProviderCode::parse(code),
            message: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn a_vendor_message_cannot_forge_a_log_line() {
        let e = JobError::Provider {
            http_status: 401,
            code: ProviderCode::SecretRejected,
            message: "bad key\nlevel=INFO msg=\"all good\"\r".into(),
            retry_after: None,
        };
        let text = e.to_string();
        assert!(!text.contains('\n') && !text.contains('\r'), "{text}");
        assert!(text.contains("bad key\\nlevel=INFO"), "{text}");
        let long = JobError::Provider {
            http_status: 500,
            code: ProviderCode::ServiceError,
            message: "x".repeat(10_000),
            retry_after: None,
        };
        assert!(long.to_string().len() < 300);
    }

    #[test]
    fn all_kinds_are_listed_once() {
        let names: std::collections::BTreeSet<_> =
            ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), ErrorKind::ALL.len());
        // `as_str` has no wildcard either: its names are all the variants there are.
        for k in ErrorKind::ALL {
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::Value::from(k.as_str())
            );
        }
    }

    #[test]
    fn provider_codes_round_trip() {
        for code in ProviderCode::KNOWN {
            assert_eq!(ProviderCode::parse(code.as_str()), code);
        }
        assert_eq!(
            ProviderCode::parse("0999"),
            ProviderCode::Other("0999".into())
        );
    }

    #[test]
    fn quota_waits_are_told_apart_from_failures() {
        assert!(
            JobError::QuotaPausedPastDeadline
                .disposition()
                .is_quota_wait()
        );
        assert!(!JobError::DeadlineExceeded.disposition().is_quota_wait());
        assert!(!JobError::QuotaPausedPastDeadline.is_paid_call());
        assert_eq!(
            JobError::QuotaPausedPastDeadline.kind(),
            ErrorKind::QuotaExhausted
        );
        assert!(
            JobError::QuotaWaitPastDeadline
                .disposition()
                .is_quota_wait()
        );
        assert!(!JobError::QuotaWaitPastDeadline.is_paid_call());
        assert_eq!(
            JobError::QuotaWaitPastDeadline.kind(),
            ErrorKind::RateLimited
        );
    }

    #[test]
    fn vendor_table_is_followed() {
        use Disposition::*;
        let table = [
            (400, "0001", Stop),
            (401, "0002", Stop),
            (400, "0011", DeadLetter(ErrorKind::OcrRejected)),
            (400, "0021", Stop),
            (400, "0022", Stop),
            (400, "0023", PauseQuota),
            (400, "0025", RateLimited { retry_after: None }),
            (500, "0500", Retry { retry_after: None }),
            (500, "0501", Retry { retry_after: None }),
            (500, "1021", Stop),
        ];
        for (status, code, want) in table {
            assert_eq!(
                provider(status, code).disposition(),
                want,
                "{status}/{code}"
            );
        }
    }

    #[test]
    fn gateway_answers_are_classified() {
        let gw = |s| JobError::Gateway {
            http_status: s,
            retry_after: None,
        };
        assert_eq!(
            gw(429).disposition(),
            Disposition::RateLimited { retry_after: None }
        );
        for s in [401, 403, 404] {
            assert_eq!(gw(s).disposition(), Disposition::Stop);
        }
        for s in [500, 502, 503, 504, 418] {
            assert_eq!(
                gw(s).disposition(),
                Disposition::Retry { retry_after: None }
            );
        }
    }

    #[test]
    fn quota_and_configuration_answers_are_not_paid() {
        for code in ["0025", "0023", "0002", "0001"] {
            assert!(!provider(400, code).is_paid_call(), "{code}");
        }
        for code in ["0500", "0501", "0011"] {
            assert!(provider(500, code).is_paid_call(), "{code}");
        }
        assert!(!JobError::OcrUnreachable("refused".into()).is_paid_call());
        assert!(JobError::OcrTimeout.is_paid_call());
    }

    #[test]
    fn retries_exhausted_keeps_the_last_error_details() {
        let e = JobError::RetriesExhausted {
            attempts: 4,
            last: Box::new(provider(500, "0501")),
        };
        assert_eq!(e.kind(), ErrorKind::RetriesExhausted);
        assert_eq!(e.http_status(), Some(500));
        assert_eq!(e.provider_code(), Some("0501"));
        assert!(!e.retryable());
    }
}
