//! Typed, layered configuration: built-in defaults, then an optional TOML file, then
//! environment variables and command-line flags (clap reads both). Validated and parsed once at
//! start-up into [`Settings`] (durations are [`Duration`]s, the retry stages a
//! [`RetryPolicy`]), with a message that names the bad setting. Secrets are [`SecretString`]s:
//! they never print.
//!
//! Naming scheme: every setting has one snake_case name. In the TOML file it is the key; on the
//! command line it is `--kebab-case`; in the environment it is `OCR_` + UPPER_SNAKE, except the
//! fixed names `AMQP_URL` and `CLOVA_OCR_*` (and the AWS SDK's own `AWS_*` variables).
//!
//! # Layout
//! - this file: [`RawSettings`] (the keys as written, and the one place the defaults are
//!   written), its validation, and the typed [`Settings`] grouped as the worker uses them.
//! - [`args`]: [`SettingsArgs`], the flags and environment variables, and `--help` defaults.

mod args;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use ocr_common::retry::RetryPolicy;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

pub use args::{SettingsArgs, with_defaults_in_help};

/// How the OCR request body is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RequestMode {
    /// `multipart/form-data` with `message` + `file` (no base64 inflation). Default.
    Multipart,
    /// `application/json` with base64 `images[].data`.
    Json,
}

/// RabbitMQ queue type of the work queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    /// Replicated quorum queue with a delivery limit (default).
    Quorum,
    /// Classic queue (no delivery limit).
    Classic,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The settings as written: one flat set of keys (TOML keys, `--flags`, `OCR_*` variables), with
/// the built-in defaults. [`Settings`] is what the worker uses, parsed from it once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSettings {
    /// AMQP URL (may hold a password: secret).
    #[serde(serialize_with = "serialize_redacted")]
    pub amqp_url: SecretString,
    /// PEM file of a private CA for `amqps://` nodes (`OCR_AMQP_CA_FILE`).
    pub amqp_ca_file: Option<PathBuf>,
    /// The OCR domain's invoke URL; the client appends `/document/id-card`.
    pub clova_ocr_invoke_url: String,
    /// The OCR domain's secret key.
    #[serde(serialize_with = "serialize_redacted")]
    pub clova_ocr_secret: SecretString,
    /// Domain-wide OCR calls per second; fractions allowed (`2.5`), kept to the millicall.
    pub clova_ocr_rate_per_sec: f64,
    /// Domain-wide simultaneous OCR calls.
    pub clova_ocr_max_concurrency: u32,
    /// Fanout exchange where replicas sharing the domain's limits announce themselves
    /// (empty: `<jobs_queue>.presence`).
    pub presence_exchange: String,
    /// Presence heartbeat period, milliseconds; 0 turns sharing off (this process then uses the
    /// whole domain's limits).
    pub presence_heartbeat_ms: u64,
    /// The fewest of the domain's slots a replica that makes calls gets: the slots go to the
    /// oldest `slots ÷ this` replicas and the younger ones stand by with no share
    /// (docs/quota.md, "Fewer, larger pools"). 1: every replica gets slots.
    pub min_slots_per_replica: u32,

    /// Work queue (the bulk lane).
    pub jobs_queue: String,
    /// The priority lane's work queue (empty: `<jobs_queue>.priority`).
    pub priority_queue: String,
    /// Fraction of the domain's OCR slots the bulk lane keeps while priority work waits.
    pub bulk_min_share: f64,
    /// Work queue type.
    pub queue_type: QueueType,
    /// Delay stage queue type (empty: the work queue's type).
    pub delay_queue_type: Option<QueueType>,
    /// Quorum delivery limit (broker-side poison-message safety net).
    pub delivery_limit: u32,
    /// Queue receiving the work queue's broker dead letters, relayed to the dead-letter exchange.
    pub poison_queue: String,
    /// Delay stages for retries through the broker, e.g. `5s,30s,5m`.
    pub retry_delays: String,
    /// Results exchange (topic).
    pub results_exchange: String,
    /// Routing key of results.
    pub results_routing_key: String,
    /// Results queue declared and bound when `declare_outcome_queues`.
    pub results_queue: String,
    /// Dead-letter exchange (topic; routing key `dead.<kind>`).
    pub dead_exchange: String,
    /// Dead-letter queue declared and bound when `declare_outcome_queues`.
    pub dead_queue: String,
    /// Declare and bind the results and dead-letter queues (so no outcome is unroutable).
    pub declare_outcome_queues: bool,
    /// Give every declared queue an `x-expires` of this many seconds (ephemeral set-ups, tests).
    pub queue_expires_secs: Option<u64>,
    /// Deliveries held unacknowledged at once (0 = derive from the OCR concurrency).
    pub prefetch: u16,
    /// Largest accepted job body in bytes.
    pub max_job_bytes: usize,

    /// Largest image in bytes (checked from Content-Length and while streaming).
    pub max_image_bytes: u64,
    /// Buckets jobs may name (empty: any).
    pub allowed_buckets: Vec<String>,
    /// Use path-style S3 addressing (default: when a custom endpoint is configured).
    pub s3_force_path_style: Option<bool>,
    /// Bucket of the result store (none: results are only published).
    pub results_bucket: Option<String>,
    /// Key prefix of stored results in `results_bucket`.
    pub results_prefix: String,
    /// Key prefix of stored dead letters in `results_bucket`.
    pub results_dead_letter_prefix: String,
    /// Server-side encryption of stored entries: `AES256`, `aws:kms` or `aws:kms:<key-id>`.
    pub results_sse: Option<String>,
    /// Reuse a stored result for the same content instead of paying for a new OCR call.
    pub reuse_results: bool,

    /// OCR request body mode.
    pub request_mode: RequestMode,
    /// Timeout of one OCR call, seconds.
    pub call_timeout_secs: f64,
    /// Connect timeout for OCR and S3, seconds.
    pub connect_timeout_secs: f64,
    /// Paid OCR attempts before `retries_exhausted`.
    pub max_attempts: u32,
    /// Quick in-process retries of a transient error before a delayed retry through the broker.
    pub quick_retries: u32,
    /// Base of the jittered exponential backoff, milliseconds.
    pub retry_base_ms: u64,
    /// Cap of the backoff and of any Retry-After honoured in-process, milliseconds.
    pub retry_max_ms: u64,
    /// Pause of all OCR calls after a period-quota answer (0023), seconds.
    pub quota_pause_secs: f64,
    /// Deadline of one job from delivery to outcome, seconds.
    pub job_deadline_secs: f64,
    /// On SIGTERM, how long in-flight jobs may take to finish, seconds.
    pub shutdown_grace_secs: f64,
    /// Health/metrics HTTP listen address.
    pub http_listen: SocketAddr,
    /// Log format.
    pub log_format: LogFormat,
}

impl Default for RawSettings {
    /// The one place every default is written.
    fn default() -> Self {
        RawSettings {
            amqp_url: SecretString::from("amqp://guest:guest@127.0.0.1:5672/%2f"),
            amqp_ca_file: None,
            clova_ocr_invoke_url: String::new(),
            clova_ocr_secret: SecretString::from(""),
            clova_ocr_rate_per_sec: 10.0,
            clova_ocr_max_concurrency: 4,
            presence_exchange: String::new(),
            presence_heartbeat_ms: 500,
            min_slots_per_replica: 1,
            jobs_queue: "ocr.jobs".into(),
            priority_queue: String::new(),
            bulk_min_share: 0.10,
            queue_type: QueueType::Quorum,
            delay_queue_type: None,
            delivery_limit: 50,
            poison_queue: "ocr.jobs.poison".into(),
            retry_delays: "5s,30s,5m".into(),
            results_exchange: "ocr.results".into(),
            results_routing_key: "passport.succeeded".into(),
            results_queue: "ocr.results".into(),
            dead_exchange: "ocr.dead".into(),
            dead_queue: "ocr.dead".into(),
            declare_outcome_queues: true,
            queue_expires_secs: None,
            prefetch: 0,
            max_job_bytes: 64 * 1024,
            max_image_bytes: 50 * 1024 * 1024,
            allowed_buckets: Vec::new(),
            s3_force_path_style: None,
            results_bucket: None,
            results_prefix: "ocr-results/".into(),
            results_dead_letter_prefix: "ocr-dead-letters/".into(),
            results_sse: None,
            reuse_results: true,
            request_mode: RequestMode::Multipart,
            call_timeout_secs: 30.0,
            connect_timeout_secs: 5.0,
            max_attempts: 5,
            quick_retries: 2,
            retry_base_ms: 200,
            retry_max_ms: 10_000,
            quota_pause_secs: 60.0,
            job_deadline_secs: 300.0,
            shutdown_grace_secs: 30.0,
            http_listen: "127.0.0.1:8467".parse().expect("valid constant address"),
            log_format: LogFormat::Text,
        }
    }
}

/// Smallest domain rate accepted, calls per second (one millicall: the unit shares are split in).
pub const MIN_RATE_PER_SEC: f64 = 0.001;
/// Largest domain rate accepted, calls per second.
pub const MAX_RATE_PER_SEC: f64 = 1_000_000.0;

/// A setting with a bad value; the message names it and never echoes a secret.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

impl SettingsArgs {
    /// Layer defaults, the TOML file (if any), then these flags/environment; validate and parse.
    pub fn load(&self) -> Result<Settings, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = &self.config {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        let raw: RawSettings = figment
            .merge(Serialized::defaults(self))
            .extract()
            .map_err(|e| ConfigError(figment_message(e)))?;
        Settings::try_from(raw)
    }
}

/// figment's messages name the key and the expected type; strip any echoed value.
fn figment_message(e: figment::Error) -> String {
    e.into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let what = match &e.kind {
                figment::error::Kind::InvalidType(_, exp) => format!("expected {exp}"),
                figment::error::Kind::UnknownField(f, _) => format!("unknown setting `{f}`"),
                figment::error::Kind::Message(m) => m.clone(),
                other => format!("{other}"),
            };
            if key.is_empty() {
                what
            } else {
                format!("setting `{key}`: {what}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl RawSettings {
    /// Check values that types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |name: &str, why: &str| Err(ConfigError(format!("{name} {why}")));
        if !(self.clova_ocr_rate_per_sec.is_finite()
            && (MIN_RATE_PER_SEC..=MAX_RATE_PER_SEC).contains(&self.clova_ocr_rate_per_sec))
        {
            return bad(
                "CLOVA_OCR_RATE_PER_SEC (clova_ocr_rate_per_sec)",
                "must be a number of calls per second from 0.001 to 1000000 (fractions allowed, e.g. 2.5)",
            );
        }
        if self.clova_ocr_max_concurrency == 0 {
            return bad(
                "CLOVA_OCR_MAX_CONCURRENCY (clova_ocr_max_concurrency)",
                "must be > 0",
            );
        }
        let urls = crate::amqp::broker_urls(self.amqp_url.expose_secret());
        if urls.is_empty()
            || !urls
                .iter()
                .all(|u| u.starts_with("amqp://") || u.starts_with("amqps://"))
        {
            return bad(
                "AMQP_URL (amqp_url)",
                "must be one URL, or several separated by commas, each starting with amqp:// or amqps://",
            );
        }
        if self.amqp_ca_file.is_some() && !urls.iter().any(|u| u.starts_with("amqps://")) {
            return bad(
                "OCR_AMQP_CA_FILE (amqp_ca_file)",
                "is set, but no AMQP_URL node is amqps://: the CA would never be used",
            );
        }
        for (name, v) in [
            (
                "OCR_CALL_TIMEOUT_SECS (call_timeout_secs)",
                self.call_timeout_secs,
            ),
            (
                "OCR_CONNECT_TIMEOUT_SECS (connect_timeout_secs)",
                self.connect_timeout_secs,
            ),
            (
                "OCR_JOB_DEADLINE_SECS (job_deadline_secs)",
                self.job_deadline_secs,
            ),
            (
                "OCR_QUOTA_PAUSE_SECS (quota_pause_secs)",
                self.quota_pause_secs,
            ),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(name, "must be a positive number of seconds");
            }
        }
        if !(self.shutdown_grace_secs.is_finite() && self.shutdown_grace_secs >= 0.0) {
            return bad(
                "OCR_SHUTDOWN_GRACE_SECS (shutdown_grace_secs)",
                "must be >= 0",
            );
        }
        if self.presence_heartbeat_ms != 0 && !(50..=60_000).contains(&self.presence_heartbeat_ms) {
            return bad(
                "OCR_PRESENCE_HEARTBEAT_MS (presence_heartbeat_ms)",
                "must be 0 (sharing off) or 50 to 60000",
            );
        }
        if self.min_slots_per_replica == 0 {
            return bad(
                "OCR_MIN_SLOTS_PER_REPLICA (min_slots_per_replica)",
                "must be at least 1 (1: every replica gets slots)",
            );
        }
        if self.presence_exchange.len() > 255 {
            return bad(
                "OCR_PRESENCE_EXCHANGE (presence_exchange)",
                "must be at most 255 characters",
            );
        }
        if self.max_attempts == 0 {
            return bad("OCR_MAX_ATTEMPTS (max_attempts)", "must be > 0");
        }
        if self.max_image_bytes == 0 {
            return bad("OCR_MAX_IMAGE_BYTES (max_image_bytes)", "must be > 0");
        }
        if self.queue_type == QueueType::Quorum && self.delivery_limit < 20 {
            return bad(
                "OCR_DELIVERY_LIMIT (delivery_limit)",
                "must be >= 20 (every crash, disconnect and shutdown requeue counts on 3.10)",
            );
        }
        self.retry_delays().map_err(ConfigError)?;
        self.result_store().map_err(ConfigError)?;
        // Names derived from the work queue (`.delay.<stage>`, `.poison`, `.presence`) must
        // stay within AMQP's 255-byte short strings.
        if self.jobs_queue.is_empty() || self.jobs_queue.len() > 200 {
            return bad("OCR_JOBS_QUEUE (jobs_queue)", "must be 1 to 200 characters");
        }
        let priority = self.effective_priority_queue();
        if priority.len() > 200 {
            return bad(
                "OCR_PRIORITY_QUEUE (priority_queue)",
                "must be at most 200 characters",
            );
        }
        // Another queue's name would mix the lane with work, outcomes or retries.
        let taken = [
            &self.jobs_queue,
            &self.poison_queue,
            &self.results_queue,
            &self.dead_queue,
        ];
        if taken.contains(&&priority)
            || priority.starts_with(&format!("{}.delay.", self.jobs_queue))
        {
            return bad(
                "OCR_PRIORITY_QUEUE (priority_queue)",
                "must differ from the jobs, poison, results and dead-letter queues and the delay stages",
            );
        }
        if !(self.bulk_min_share.is_finite() && (0.0..=1.0).contains(&self.bulk_min_share)) {
            return bad(
                "OCR_BULK_MIN_SHARE (bulk_min_share)",
                "must be a fraction from 0 to 1 (0.1 is 10 % of the domain's OCR slots)",
            );
        }
        for (name, v) in [
            (
                "OCR_RESULTS_EXCHANGE (results_exchange)",
                &self.results_exchange,
            ),
            ("OCR_DEAD_EXCHANGE (dead_exchange)", &self.dead_exchange),
        ] {
            if v.is_empty() || v.len() > 255 {
                return bad(name, "must be 1 to 255 characters");
            }
        }
        for (name, v) in [
            ("OCR_POISON_QUEUE (poison_queue)", &self.poison_queue),
            ("OCR_RESULTS_QUEUE (results_queue)", &self.results_queue),
            ("OCR_DEAD_QUEUE (dead_queue)", &self.dead_queue),
        ] {
            if v.len() > 255 {
                return bad(name, "must be at most 255 characters");
            }
        }
        Ok(())
    }

    /// The delay stages, parsed (`5s`, `30s`, `5m`, `1h`, `250ms`).
    pub fn retry_delays(&self) -> Result<Vec<Duration>, String> {
        self.retry_delays
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                parse_duration(s).ok_or_else(|| {
                    format!(
                        "OCR_RETRY_DELAYS (retry_delays): `{s}` is not a duration like 5s, 30s, 5m"
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .and_then(|v| {
                if v.is_empty() {
                    Err("OCR_RETRY_DELAYS (retry_delays) needs at least one stage".into())
                } else {
                    Ok(v)
                }
            })
    }

    /// The result store's settings, checked: `None` without `results_bucket`.
    pub fn result_store(&self) -> Result<Option<ResultStoreSettings>, String> {
        let Some(bucket) = self.results_bucket.as_deref().filter(|b| !b.is_empty()) else {
            return Ok(None);
        };
        if bucket.len() < 3 || bucket.len() > 63 {
            return Err("OCR_RESULTS_BUCKET (results_bucket) must be a bucket name".into());
        }
        let (r, d) = (&self.results_prefix, &self.results_dead_letter_prefix);
        for (name, p) in [
            ("OCR_RESULTS_PREFIX (results_prefix)", r),
            (
                "OCR_RESULTS_DEAD_LETTER_PREFIX (results_dead_letter_prefix)",
                d,
            ),
        ] {
            // An empty prefix would put entries among the images: their notifications could
            // not be told from uploads.
            if p.is_empty() || p.starts_with('/') || p.len() > 200 {
                return Err(format!(
                    "{name} must be 1 to 200 characters, not starting with `/`"
                ));
            }
        }
        if r.starts_with(d.as_str()) || d.starts_with(r.as_str()) {
            return Err(
                "OCR_RESULTS_PREFIX and OCR_RESULTS_DEAD_LETTER_PREFIX must not contain each other"
                    .into(),
            );
        }
        let sse = match self.results_sse.as_deref().map(str::trim) {
            None | Some("") => None,
            Some("AES256") => Some(Sse::Aes256),
            Some("aws:kms") => Some(Sse::Kms { key_id: None }),
            Some(s) => match s.strip_prefix("aws:kms:") {
                Some(key) if !key.is_empty() => Some(Sse::Kms {
                    key_id: Some(key.to_string()),
                }),
                _ => {
                    return Err(
                        "OCR_RESULTS_SSE (results_sse) must be AES256, aws:kms or aws:kms:<key-id>"
                            .into(),
                    );
                }
            },
        };
        Ok(Some(ResultStoreSettings {
            bucket: bucket.to_string(),
            results_prefix: r.clone(),
            dead_letter_prefix: d.clone(),
            sse,
            reuse: self.reuse_results,
        }))
    }

    /// The priority queue actually used: configured, or `<jobs_queue>.priority`.
    pub fn effective_priority_queue(&self) -> String {
        if self.priority_queue.is_empty() {
            format!("{}.priority", self.jobs_queue)
        } else {
            self.priority_queue.clone()
        }
    }

    /// The presence exchange actually used: configured, or `<jobs_queue>.presence`.
    pub fn effective_presence_exchange(&self) -> String {
        if self.presence_exchange.is_empty() {
            format!("{}.presence", self.jobs_queue)
        } else {
            self.presence_exchange.clone()
        }
    }
}

/// The complete, validated worker configuration, grouped by the part of the worker that uses it.
#[derive(Debug, Clone)]
pub struct Settings {
    /// RabbitMQ: connection, topology and consumption.
    pub broker: BrokerSettings,
    /// The CLOVA OCR domain and its client.
    pub ocr: OcrSettings,
    /// The retry policy and the in-process backoff.
    pub retry: RetrySettings,
    /// The object store and the limits on what is fetched.
    pub s3: S3Settings,
    /// The health, readiness and metrics server.
    pub http: HttpSettings,
    /// On SIGTERM, how long in-flight jobs may take to finish.
    pub shutdown_grace: Duration,
    /// Log output format.
    pub log_format: LogFormat,
}

/// RabbitMQ settings.
#[derive(Debug, Clone)]
pub struct BrokerSettings {
    /// The broker URL (may hold a password).
    pub amqp_url: SecretString,
    /// The private CA for `amqps://` nodes, read at start-up.
    pub amqp_ca: Option<crate::amqp::AmqpCa>,
    /// The work queue of the bulk lane.
    pub jobs_queue: String,
    /// The work queue of the priority lane (resolved: never empty).
    pub priority_queue: String,
    /// The work queues' type.
    pub queue_type: QueueType,
    /// The delay stages' type (quorum: replicated, at-least-once dead-lettering).
    pub delay_queue_type: QueueType,
    /// Quorum delivery limit: the broker-side poison-message safety net.
    pub delivery_limit: u32,
    /// Receives the work queue's broker dead letters, relayed as `poison_message`.
    pub poison_queue: String,
    /// Topic exchange results are published to.
    pub results_exchange: String,
    /// Routing key of results.
    pub results_routing_key: String,
    /// Results queue, declared and bound when `declare_outcome_queues`.
    pub results_queue: String,
    /// Topic exchange dead letters are published to (routing key `dead.<kind>`).
    pub dead_exchange: String,
    /// Dead-letter queue, declared and bound to `dead.#` when `declare_outcome_queues`.
    pub dead_queue: String,
    /// Declare and bind the outcome queues, so no outcome is unroutable.
    pub declare_outcome_queues: bool,
    /// `x-expires` for every declared queue (ephemeral set-ups, tests).
    pub queue_expires: Option<Duration>,
    /// Deliveries held unacknowledged at once; 0 follows the OCR share (2 × share).
    pub prefetch: u16,
    /// Largest accepted job body in bytes.
    pub max_job_bytes: usize,
    /// Fanout exchange the replicas share the domain's limits through (resolved: never empty).
    pub presence_exchange: String,
    /// Presence heartbeat period; `None` turns sharing off (the process takes the whole domain).
    pub presence_heartbeat: Option<Duration>,
}

impl BrokerSettings {
    /// The work queue of `lane`.
    pub fn queue(&self, lane: ocr_common::lane::Lane) -> &str {
        match lane {
            ocr_common::lane::Lane::Bulk => &self.jobs_queue,
            ocr_common::lane::Lane::Priority => &self.priority_queue,
        }
    }
}

/// The OCR domain and the client that calls it.
#[derive(Debug, Clone)]
pub struct OcrSettings {
    /// The domain's invoke URL; the client appends `/document/id-card`. Empty when not needed
    /// (`enqueue`, `summary`); [`Settings::require_ocr`] checks it for OCR-calling commands.
    pub invoke_url: String,
    /// The domain's secret key.
    pub secret: SecretString,
    /// Domain-wide OCR calls per second (fractions allowed; the limiter keeps millicalls).
    pub rate_per_sec: f64,
    /// Domain-wide simultaneous OCR calls.
    pub max_concurrency: u32,
    /// Fraction of the domain's slots the bulk lane keeps while priority work waits.
    pub bulk_min_share: f64,
    /// The fewest slots a replica that makes calls gets (`min_slots_per_replica`).
    pub min_slots_per_replica: u32,
    /// How the request body is sent.
    pub request_mode: RequestMode,
    /// Timeout of one OCR call.
    pub call_timeout: Duration,
    /// Connect timeout (the same setting as the object store's).
    pub connect_timeout: Duration,
    /// Pause of all OCR calls after a period-quota answer (0023).
    pub quota_pause: Duration,
}

/// When and how a failed job is tried again.
#[derive(Debug, Clone)]
pub struct RetrySettings {
    /// Paid attempts and delay stages: the input of [`ocr_common::retry::decide`].
    pub policy: RetryPolicy,
    /// In-process retries of a transient error before a delayed retry through the broker.
    pub quick_retries: u32,
    /// Base of the jittered exponential backoff.
    pub backoff_base: Duration,
    /// Cap of the backoff and of any Retry-After honoured in-process.
    pub backoff_max: Duration,
    /// Deadline of one delivery, from its start to its outcome.
    pub job_deadline: Duration,
}

/// The object store.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// Largest image in bytes (checked from Content-Length and while streaming).
    pub max_image_bytes: u64,
    /// Buckets jobs may name (empty: any).
    pub allowed_buckets: Vec<String>,
    /// Path-style addressing; `None`: when a custom endpoint is configured.
    pub force_path_style: Option<bool>,
    /// Connect timeout (the same setting as the OCR client's).
    pub connect_timeout: Duration,
    /// The result store, when `results_bucket` is set.
    pub results: Option<ResultStoreSettings>,
}

/// Where results and dead letters are kept in S3, and whether stored results are reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultStoreSettings {
    /// The bucket.
    pub bucket: String,
    /// Key prefix of results.
    pub results_prefix: String,
    /// Key prefix of dead letters.
    pub dead_letter_prefix: String,
    /// Server-side encryption asked for on every write.
    pub sse: Option<Sse>,
    /// Look for a stored result before paying for an OCR call.
    pub reuse: bool,
}

/// Server-side encryption of stored entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sse {
    /// SSE-S3 (`AES256`).
    Aes256,
    /// SSE-KMS, with the bucket's default key or the one named.
    Kms {
        /// A KMS key id or ARN.
        key_id: Option<String>,
    },
}

/// The health, readiness and metrics server.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Listen address.
    pub listen: SocketAddr,
}

fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v)
}

impl TryFrom<RawSettings> for Settings {
    type Error = ConfigError;

    /// Validate, then parse every value into its type (the only place that does).
    fn try_from(raw: RawSettings) -> Result<Self, ConfigError> {
        raw.validate()?;
        let delays = raw.retry_delays().map_err(ConfigError)?;
        let connect_timeout = secs(raw.connect_timeout_secs);
        let presence_exchange = raw.effective_presence_exchange();
        let priority_queue = raw.effective_priority_queue();
        let results = raw.result_store().map_err(ConfigError)?;
        let amqp_ca = raw
            .amqp_ca_file
            .as_deref()
            .map(crate::amqp::AmqpCa::load)
            .transpose()
            .map_err(|e| ConfigError(format!("OCR_AMQP_CA_FILE (amqp_ca_file): {e}")))?;
        let settings = Settings {
            broker: BrokerSettings {
                amqp_url: raw.amqp_url,
                amqp_ca,
                jobs_queue: raw.jobs_queue,
                priority_queue,
                queue_type: raw.queue_type,
                delay_queue_type: raw.delay_queue_type.unwrap_or(raw.queue_type),
                delivery_limit: raw.delivery_limit,
                poison_queue: raw.poison_queue,
                results_exchange: raw.results_exchange,
                results_routing_key: raw.results_routing_key,
                results_queue: raw.results_queue,
                dead_exchange: raw.dead_exchange,
                dead_queue: raw.dead_queue,
                declare_outcome_queues: raw.declare_outcome_queues,
                queue_expires: raw.queue_expires_secs.map(Duration::from_secs),
                prefetch: raw.prefetch,
                max_job_bytes: raw.max_job_bytes,
                presence_exchange,
                presence_heartbeat: (raw.presence_heartbeat_ms > 0)
                    .then(|| Duration::from_millis(raw.presence_heartbeat_ms)),
            },
            ocr: OcrSettings {
                invoke_url: raw.clova_ocr_invoke_url,
                secret: raw.clova_ocr_secret,
                rate_per_sec: raw.clova_ocr_rate_per_sec,
                max_concurrency: raw.clova_ocr_max_concurrency,
                bulk_min_share: raw.bulk_min_share,
                min_slots_per_replica: raw.min_slots_per_replica,
                request_mode: raw.request_mode,
                call_timeout: secs(raw.call_timeout_secs),
                connect_timeout,
                quota_pause: secs(raw.quota_pause_secs),
            },
            retry: RetrySettings {
                policy: RetryPolicy {
                    max_attempts: raw.max_attempts,
                    delays,
                },
                quick_retries: raw.quick_retries,
                backoff_base: Duration::from_millis(raw.retry_base_ms),
                backoff_max: Duration::from_millis(raw.retry_max_ms),
                job_deadline: secs(raw.job_deadline_secs),
            },
            s3: S3Settings {
                max_image_bytes: raw.max_image_bytes,
                allowed_buckets: raw.allowed_buckets,
                force_path_style: raw.s3_force_path_style,
                connect_timeout,
                results,
            },
            http: HttpSettings {
                listen: raw.http_listen,
            },
            shutdown_grace: secs(raw.shutdown_grace_secs),
            log_format: raw.log_format,
        };
        if !settings.ocr.invoke_url.trim().is_empty() {
            settings.require_ocr()?;
        }
        Ok(settings)
    }
}

impl Settings {
    /// Check the settings only OCR-calling commands need (`run`, `process`).
    pub fn require_ocr(&self) -> Result<(), ConfigError> {
        let bad = |name: &str, why: &str| Err(ConfigError(format!("{name} {why}")));
        let url = self.ocr.invoke_url.trim();
        if url.is_empty() {
            return bad("CLOVA_OCR_INVOKE_URL (clova_ocr_invoke_url)", "is required");
        }
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || reqwest::Url::parse(url).is_err()
        {
            return bad(
                "CLOVA_OCR_INVOKE_URL (clova_ocr_invoke_url)",
                "must be an http(s) URL",
            );
        }
        if self.ocr.secret.expose_secret().is_empty() {
            return bad("CLOVA_OCR_SECRET (clova_ocr_secret)", "is required");
        }
        Ok(())
    }
}

/// Secrets serialise as their redacted form, so the defaults can be shown.
fn serialize_redacted<S: serde::Serializer>(v: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    if v.expose_secret().is_empty() {
        s.serialize_str("")
    } else {
        s.serialize_str(&redacted_amqp_url(v))
    }
}

/// Each setting's default as people are shown it (`--help`, the README's settings table),
/// derived from [`RawSettings::default`]. Settings whose default is "nothing" say what that
/// means instead; secrets show no credentials.
pub fn default_display() -> Vec<(&'static str, String)> {
    let described: &[(&str, &str)] = &[
        ("amqp_ca_file", "none (the system's roots)"),
        ("clova_ocr_invoke_url", "required"),
        ("clova_ocr_secret", "required"),
        ("presence_exchange", "<jobs_queue>.presence"),
        ("priority_queue", "<jobs_queue>.priority"),
        ("queue_expires_secs", "none"),
        ("delay_queue_type", "the work queue's type"),
        ("allowed_buckets", "any"),
        ("s3_force_path_style", "true when an endpoint URL is set"),
        ("results_bucket", "none (results are only published)"),
        ("results_sse", "none (the bucket's default)"),
    ];
    let value = serde_json::to_value(RawSettings::default()).expect("defaults serialise");
    let serde_json::Value::Object(map) = value else {
        unreachable!("settings serialise as a map")
    };
    KEYS.iter()
        .map(|key| {
            let shown = match described.iter().find(|(k, _)| k == key) {
                Some((_, d)) => (*d).to_string(),
                None => match &map[*key] {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => match n.as_f64() {
                        Some(f) if f.fract() == 0.0 => format!("{}", f as i64),
                        _ => n.to_string(),
                    },
                    other => other.to_string(),
                },
            };
            (*key, shown)
        })
        .collect()
}

/// Every setting's key, in the order of [`RawSettings`].
pub const KEYS: &[&str] = &[
    "amqp_url",
    "amqp_ca_file",
    "clova_ocr_invoke_url",
    "clova_ocr_secret",
    "clova_ocr_rate_per_sec",
    "clova_ocr_max_concurrency",
    "presence_exchange",
    "presence_heartbeat_ms",
    "min_slots_per_replica",
    "jobs_queue",
    "priority_queue",
    "bulk_min_share",
    "queue_type",
    "delay_queue_type",
    "delivery_limit",
    "poison_queue",
    "retry_delays",
    "results_exchange",
    "results_routing_key",
    "results_queue",
    "dead_exchange",
    "dead_queue",
    "declare_outcome_queues",
    "queue_expires_secs",
    "prefetch",
    "max_job_bytes",
    "max_image_bytes",
    "allowed_buckets",
    "s3_force_path_style",
    "results_bucket",
    "results_prefix",
    "results_dead_letter_prefix",
    "results_sse",
    "reuse_results",
    "request_mode",
    "call_timeout_secs",
    "connect_timeout_secs",
    "max_attempts",
    "quick_retries",
    "retry_base_ms",
    "retry_max_ms",
    "quota_pause_secs",
    "job_deadline_secs",
    "shutdown_grace_secs",
    "http_listen",
    "log_format",
];

/// `250ms`, `5s`, `30s`, `5m`, `1h`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        "h" => Some(Duration::from_secs(n * 3600)),
        _ => None,
    }
}

/// A form of the AMQP URL safe to log: scheme, host and vhost, no credentials.
pub fn redacted_amqp_url(url: &SecretString) -> String {
    crate::amqp::broker_urls(url.expose_secret())
        .into_iter()
        .map(|one| match reqwest::Url::parse(one) {
            Ok(u) => format!(
                "{}://{}:{}{}",
                u.scheme(),
                u.host_str().unwrap_or("?"),
                u.port().unwrap_or(5672),
                u.path()
            ),
            Err(_) => "<unparseable amqp url>".into(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> SettingsArgs {
        SettingsArgs {
            clova_ocr_invoke_url: Some("http://127.0.0.1:1/custom/v1/d/k".into()),
            clova_ocr_secret: Some("s3cr3t-value".into()),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_then_file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.toml");
        std::fs::write(&path, "prefetch = 7\njobs_queue = \"from-file\"\n").unwrap();
        let mut a = args();
        a.config = Some(path);
        a.jobs_queue = Some("from-flag".into());
        let s = a.load().unwrap();
        assert_eq!(s.broker.prefetch, 7);
        assert_eq!(s.broker.jobs_queue, "from-flag");
        assert_eq!(s.broker.results_exchange, "ocr.results");
    }

    #[test]
    fn several_broker_urls_are_accepted_and_redacted_each() {
        let mut a = args();
        a.amqp_url = Some("amqp://u:pw1@node-a:5672/%2f, amqps://u:pw2@node-b:5671/%2f".into());
        let s = a.load().unwrap();
        let shown = redacted_amqp_url(&s.broker.amqp_url);
        assert_eq!(shown, "amqp://node-a:5672/%2f,amqps://node-b:5671/%2f");
        assert!(!shown.contains("pw"));
        a.amqp_url = Some("amqp://node-a, http://node-b".into());
        assert!(a.load().unwrap_err().to_string().contains("AMQP_URL"));
    }

    #[test]
    fn the_priority_queue_is_a_queue_of_its_own() {
        let mut a = SettingsArgs::default();
        assert_eq!(a.load().unwrap().broker.priority_queue, "ocr.jobs.priority");
        for taken in [
            "ocr.jobs",
            "ocr.dead",
            "ocr.results",
            "ocr.jobs.poison",
            "ocr.jobs.delay.5s",
        ] {
            a.priority_queue = Some(taken.into());
            let e = a.load().unwrap_err().to_string();
            assert!(e.contains("OCR_PRIORITY_QUEUE"), "{taken}: {e}");
        }
        a.priority_queue = None;
        for bad in [-0.1, 1.5, f64::NAN] {
            a.bulk_min_share = Some(bad);
            let e = a.load().unwrap_err().to_string();
            assert!(e.contains("OCR_BULK_MIN_SHARE"), "{bad}: {e}");
        }
        a.bulk_min_share = Some(0.25);
        assert_eq!(a.load().unwrap().ocr.bulk_min_share, 0.25);
        assert_eq!(
            a.load().unwrap().ocr.min_slots_per_replica,
            1,
            "the default"
        );
        a.min_slots_per_replica = Some(0);
        let e = a.load().unwrap_err().to_string();
        assert!(e.contains("OCR_MIN_SLOTS_PER_REPLICA"), "{e}");
        a.min_slots_per_replica = Some(8);
        assert_eq!(a.load().unwrap().ocr.min_slots_per_replica, 8);
    }

    #[test]
    fn bad_settings_are_named_and_secrets_never_shown() {
        let mut a = args();
        a.clova_ocr_rate_per_sec = Some(0.0);
        let e = a.load().unwrap_err().to_string();
        assert!(e.contains("CLOVA_OCR_RATE_PER_SEC"), "{e}");
        for bad in [f64::NAN, -1.0, 0.0004, 2e6] {
            a.clova_ocr_rate_per_sec = Some(bad);
            let e = a.load().unwrap_err().to_string();
            assert!(e.contains("CLOVA_OCR_RATE_PER_SEC"), "{bad}: {e}");
        }

        let mut a = args();
        a.clova_ocr_secret = None;
        assert!(
            a.load()
                .unwrap_err()
                .to_string()
                .contains("CLOVA_OCR_SECRET")
        );

        let s = args().load().unwrap();
        let dbg = format!("{s:?}");
        assert!(
            !dbg.contains("s3cr3t-value") && !dbg.contains("guest:guest"),
            "{dbg}"
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.toml");
        std::fs::write(&path, "prefetch = \"lots\"\nclova_ocr_secret = 5\n").unwrap();
        let mut a = args();
        a.config = Some(path);
        let e = a.load().unwrap_err().to_string();
        assert!(e.contains("prefetch"), "{e}");
        assert!(!e.contains("lots"), "{e}");
    }

    #[test]
    fn keys_are_exactly_the_settings() {
        let v = serde_json::to_value(RawSettings::default()).unwrap();
        let mut got: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = KEYS.to_vec();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
    }

    #[test]
    fn values_are_parsed_once_into_types() {
        let mut a = args();
        a.retry_delays = Some("250ms, 5s,1m".into());
        a.job_deadline_secs = Some(1.5);
        a.presence_heartbeat_ms = Some(0);
        let s = a.load().unwrap();
        assert_eq!(
            s.retry.policy.delays,
            vec![
                Duration::from_millis(250),
                Duration::from_secs(5),
                Duration::from_secs(60)
            ]
        );
        assert_eq!(s.retry.job_deadline, Duration::from_millis(1500));
        assert_eq!(s.broker.presence_heartbeat, None);
        assert_eq!(s.broker.presence_exchange, "ocr.jobs.presence");
        assert_eq!(s.ocr.connect_timeout, s.s3.connect_timeout);
    }

    /// The README's settings table: every setting has a row, and every row's default is the
    /// one written in [`RawSettings::default`].
    #[test]
    fn readme_table_matches_the_defaults() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        let mut rows = std::collections::HashMap::new();
        for line in readme.lines().filter(|l| l.starts_with("| ")) {
            let cells: Vec<&str> = line.split(" | ").map(str::trim).collect();
            if cells.len() < 4 {
                continue;
            }
            let keys: Vec<&str> = cells[0].trim_start_matches("| ").split(" / ").collect();
            let defaults: Vec<&str> = cells[2].split(" / ").collect();
            for (i, k) in keys.iter().enumerate() {
                let d = defaults.get(i).or(defaults.first()).unwrap();
                rows.insert(k.to_string(), d.replace('`', ""));
            }
        }
        let mut defaults = default_display();
        // The README shows the default broker URL in full (its credentials are the public
        // guest account); `--help` shows it redacted.
        defaults.retain(|(k, _)| *k != "amqp_url");
        defaults.push((
            "amqp_url",
            RawSettings::default().amqp_url.expose_secret().to_string(),
        ));
        for (key, shown) in defaults {
            let row = rows
                .get(key)
                .unwrap_or_else(|| panic!("README has no row for `{key}`"));
            assert!(
                row.starts_with(&shown),
                "README default of `{key}` is `{row}`, the code's is `{shown}`"
            );
        }
    }

    /// `--help` shows every default from the one place it is written, and no secret.
    #[test]
    fn help_shows_the_defaults() {
        use clap::CommandFactory as _;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            settings: SettingsArgs,
        }
        let mut cmd = with_defaults_in_help(Cli::command());
        let help = cmd.render_long_help().to_string();
        for (key, shown) in default_display() {
            let flag = format!("--{}", key.replace('_', "-"));
            let at = help
                .find(&flag)
                .unwrap_or_else(|| panic!("no {flag} in --help"));
            let next = help[at + 2..]
                .find("\n  --")
                .map_or(help.len(), |n| at + 2 + n);
            assert!(
                help[at..next].contains(&format!("[default: {shown}]")),
                "{flag}: {}",
                &help[at..next]
            );
        }
        assert!(!help.contains("guest:guest"), "{help}");
    }

    /// Issue 12, defect 3: a fractional domain rate is accepted from the environment, a flag
    /// and the file, whole numbers too (before, the setting was a `u32`).
    #[test]
    fn fractional_rates_are_accepted() {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            settings: SettingsArgs,
        }
        for (flag, want) in [("2.5", 2.5), ("40.0", 40.0), ("40", 40.0), ("0.2", 0.2)] {
            let cli = Cli::try_parse_from(["w", "--clova-ocr-rate-per-sec", flag]).unwrap();
            let mut a = cli.settings;
            a.clova_ocr_invoke_url = args().clova_ocr_invoke_url;
            a.clova_ocr_secret = args().clova_ocr_secret;
            assert_eq!(a.load().unwrap().ocr.rate_per_sec, want, "{flag}");
        }
        let dir = tempfile::tempdir().unwrap();
        for (line, want) in [("2.5", 2.5), ("40", 40.0)] {
            let path = dir.path().join("w.toml");
            std::fs::write(&path, format!("clova_ocr_rate_per_sec = {line}\n")).unwrap();
            let mut a = args();
            a.config = Some(path);
            assert_eq!(a.load().unwrap().ocr.rate_per_sec, want, "{line}");
        }
        // The default is shown as the whole number it is.
        let shown = default_display()
            .into_iter()
            .find(|(k, _)| *k == "clova_ocr_rate_per_sec")
            .unwrap()
            .1;
        assert_eq!(shown, "10");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("x5s"), None);
    }
}
