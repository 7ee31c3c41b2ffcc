//! Typed, layered configuration: built-in defaults, then an optional TOML file, then
//! environment variables and command-line flags (clap reads both). Validated once at start-up
//! with a message that names the bad setting. Secrets are [`SecretString`]s: they never print.
//!
//! Naming scheme: every setting has one snake_case name. In the TOML file it is the key; on the
//! command line it is `--kebab-case`; in the environment it is `OCR_` + UPPER_SNAKE, except the
//! fixed names `AMQP_URL` and `CLOVA_OCR_*` (and the AWS SDK's own `AWS_*` variables).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

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

/// The complete, validated worker configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// AMQP URL (may hold a password: secret).
    pub amqp_url: SecretString,
    /// The OCR domain's invoke URL; the client appends `/document/id-card`.
    pub clova_ocr_invoke_url: String,
    /// The OCR domain's secret key.
    pub clova_ocr_secret: SecretString,
    /// Domain-wide OCR calls per second.
    pub clova_ocr_rate_per_sec: u32,
    /// Domain-wide simultaneous OCR calls.
    pub clova_ocr_max_concurrency: u32,
    /// Fanout exchange where replicas sharing the domain's limits announce themselves
    /// (empty: `<jobs_queue>.presence`).
    pub presence_exchange: String,
    /// Presence heartbeat period, milliseconds; 0 turns sharing off (this process then uses the
    /// whole domain's limits).
    pub presence_heartbeat_ms: u64,

    /// Work queue.
    pub jobs_queue: String,
    /// Work queue type.
    pub queue_type: QueueType,
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

impl Default for Settings {
    fn default() -> Self {
        Settings {
            amqp_url: SecretString::from("amqp://guest:guest@127.0.0.1:5672/%2f"),
            clova_ocr_invoke_url: String::new(),
            clova_ocr_secret: SecretString::from(""),
            clova_ocr_rate_per_sec: 10,
            clova_ocr_max_concurrency: 4,
            presence_exchange: String::new(),
            presence_heartbeat_ms: 500,
            jobs_queue: "ocr.jobs".into(),
            queue_type: QueueType::Quorum,
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
            http_listen: "127.0.0.1:9100".parse().expect("valid constant address"),
            log_format: LogFormat::Text,
        }
    }
}

/// Every setting as an optional flag with its environment variable. Unset ones fall back to the
/// TOML file, then to the defaults. (No `Debug`: it holds secrets in the clear.)
#[derive(Args, Serialize, Default, Clone)]
pub struct SettingsArgs {
    /// TOML configuration file (keys are the setting names below, snake_case).
    #[arg(long, env = "OCR_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// RabbitMQ URL (a secret: never printed) [default: the local broker, 127.0.0.1:5672, vhost /, user guest].
    #[arg(long, env = "AMQP_URL", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amqp_url: Option<String>,
    /// The OCR domain's invoke URL (the client appends /document/id-card). Required.
    #[arg(long, env = "CLOVA_OCR_INVOKE_URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clova_ocr_invoke_url: Option<String>,
    /// The OCR domain's secret key (X-OCR-SECRET). Required; never printed.
    #[arg(long, env = "CLOVA_OCR_SECRET", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clova_ocr_secret: Option<String>,
    /// Domain-wide OCR calls per second, shared by all replicas [default: 10].
    #[arg(long, env = "CLOVA_OCR_RATE_PER_SEC")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clova_ocr_rate_per_sec: Option<u32>,
    /// Domain-wide simultaneous OCR calls, shared by all replicas [default: 4].
    #[arg(long, env = "CLOVA_OCR_MAX_CONCURRENCY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clova_ocr_max_concurrency: Option<u32>,
    /// Fanout exchange where replicas sharing the OCR limits announce themselves
    /// [default: <jobs_queue>.presence].
    #[arg(long, env = "OCR_PRESENCE_EXCHANGE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_exchange: Option<String>,
    /// Presence heartbeat period in milliseconds; 0 turns limit sharing off [default: 500].
    #[arg(long, env = "OCR_PRESENCE_HEARTBEAT_MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_heartbeat_ms: Option<u64>,

    /// Work queue [default: ocr.jobs].
    #[arg(long, env = "OCR_JOBS_QUEUE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs_queue: Option<String>,
    /// Work queue type [default: quorum].
    #[arg(long, env = "OCR_QUEUE_TYPE", value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_type: Option<QueueType>,
    /// Quorum queue delivery limit [default: 50].
    #[arg(long, env = "OCR_DELIVERY_LIMIT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_limit: Option<u32>,
    /// Queue for the work queue's broker dead letters [default: ocr.jobs.poison].
    #[arg(long, env = "OCR_POISON_QUEUE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poison_queue: Option<String>,
    /// Delay stages for broker retries, e.g. 5s,30s,5m [default: 5s,30s,5m].
    #[arg(long, env = "OCR_RETRY_DELAYS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_delays: Option<String>,
    /// Results exchange [default: ocr.results].
    #[arg(long, env = "OCR_RESULTS_EXCHANGE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results_exchange: Option<String>,
    /// Results routing key [default: passport.succeeded].
    #[arg(long, env = "OCR_RESULTS_ROUTING_KEY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results_routing_key: Option<String>,
    /// Results queue [default: ocr.results].
    #[arg(long, env = "OCR_RESULTS_QUEUE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results_queue: Option<String>,
    /// Dead-letter exchange [default: ocr.dead].
    #[arg(long, env = "OCR_DEAD_EXCHANGE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_exchange: Option<String>,
    /// Dead-letter queue [default: ocr.dead].
    #[arg(long, env = "OCR_DEAD_QUEUE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_queue: Option<String>,
    /// Declare and bind the results and dead-letter queues [default: true].
    #[arg(long, env = "OCR_DECLARE_OUTCOME_QUEUES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declare_outcome_queues: Option<bool>,
    /// Give every declared queue an x-expires of this many seconds (tests, ephemeral set-ups) [default: none].
    #[arg(long, env = "OCR_QUEUE_EXPIRES_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_expires_secs: Option<u64>,
    /// Unacknowledged deliveries held at once; 0 derives it from the OCR concurrency [default: 0].
    #[arg(long, env = "OCR_PREFETCH")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefetch: Option<u16>,
    /// Largest job body in bytes [default: 65536].
    #[arg(long, env = "OCR_MAX_JOB_BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_job_bytes: Option<usize>,
    /// Largest image in bytes [default: 52428800].
    #[arg(long, env = "OCR_MAX_IMAGE_BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_image_bytes: Option<u64>,
    /// Comma-separated buckets jobs may name; empty allows any [default: empty].
    #[arg(long, env = "OCR_ALLOWED_BUCKETS", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_buckets: Option<Vec<String>>,
    /// Path-style S3 addressing [default: true when AWS_ENDPOINT_URL(_S3) is set].
    #[arg(long, env = "OCR_S3_FORCE_PATH_STYLE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_force_path_style: Option<bool>,
    /// OCR request body mode [default: multipart].
    #[arg(long, env = "OCR_REQUEST_MODE", value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_mode: Option<RequestMode>,
    /// Timeout of one OCR call in seconds [default: 30].
    #[arg(long, env = "OCR_CALL_TIMEOUT_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_timeout_secs: Option<f64>,
    /// Connect timeout in seconds [default: 5].
    #[arg(long, env = "OCR_CONNECT_TIMEOUT_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_timeout_secs: Option<f64>,
    /// Paid OCR attempts before retries_exhausted [default: 5].
    #[arg(long, env = "OCR_MAX_ATTEMPTS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Quick in-process retries before a delayed broker retry [default: 2].
    #[arg(long, env = "OCR_QUICK_RETRIES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quick_retries: Option<u32>,
    /// Backoff base in milliseconds [default: 200].
    #[arg(long, env = "OCR_RETRY_BASE_MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_base_ms: Option<u64>,
    /// Backoff and Retry-After cap in milliseconds [default: 10000].
    #[arg(long, env = "OCR_RETRY_MAX_MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_max_ms: Option<u64>,
    /// Pause after a period-quota answer (0023) in seconds [default: 60].
    #[arg(long, env = "OCR_QUOTA_PAUSE_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota_pause_secs: Option<f64>,
    /// Deadline of one job in seconds [default: 300].
    #[arg(long, env = "OCR_JOB_DEADLINE_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_deadline_secs: Option<f64>,
    /// Grace period for in-flight jobs on SIGTERM in seconds [default: 30].
    #[arg(long, env = "OCR_SHUTDOWN_GRACE_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown_grace_secs: Option<f64>,
    /// Health and metrics listen address [default: 127.0.0.1:9100].
    #[arg(long, env = "OCR_HTTP_LISTEN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_listen: Option<SocketAddr>,
    /// Log format [default: text].
    #[arg(long, env = "OCR_LOG_FORMAT", value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

/// A setting with a bad value; the message names it and never echoes a secret.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

impl SettingsArgs {
    /// Layer defaults, the TOML file (if any), then these flags/environment, and validate.
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
        let settings: Settings = figment
            .merge(Serialized::defaults(self))
            .extract()
            .map_err(|e| ConfigError(figment_message(e)))?;
        settings.validate()?;
        Ok(settings)
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

impl Settings {
    /// Check values that types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |name: &str, why: &str| Err(ConfigError(format!("{name} {why}")));
        if !self.clova_ocr_invoke_url.trim().is_empty() {
            self.require_ocr()?;
        }
        if self.clova_ocr_rate_per_sec == 0 {
            return bad(
                "CLOVA_OCR_RATE_PER_SEC (clova_ocr_rate_per_sec)",
                "must be > 0",
            );
        }
        if self.clova_ocr_max_concurrency == 0 {
            return bad(
                "CLOVA_OCR_MAX_CONCURRENCY (clova_ocr_max_concurrency)",
                "must be > 0",
            );
        }
        let amqp = self.amqp_url.expose_secret();
        if !(amqp.starts_with("amqp://") || amqp.starts_with("amqps://")) {
            return bad("AMQP_URL (amqp_url)", "must start with amqp:// or amqps://");
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
        // Names derived from the work queue (`.delay.<stage>`, `.poison`, `.presence`) must
        // stay within AMQP's 255-byte short strings.
        if self.jobs_queue.is_empty() || self.jobs_queue.len() > 200 {
            return bad("OCR_JOBS_QUEUE (jobs_queue)", "must be 1 to 200 characters");
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

    /// Check the settings only OCR-calling commands need (`run`, `process`).
    pub fn require_ocr(&self) -> Result<(), ConfigError> {
        let bad = |name: &str, why: &str| Err(ConfigError(format!("{name} {why}")));
        let url = self.clova_ocr_invoke_url.trim();
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
        if self.clova_ocr_secret.expose_secret().is_empty() {
            return bad("CLOVA_OCR_SECRET (clova_ocr_secret)", "is required");
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

    /// Prefetch actually used: configured, or twice the domain concurrency (bounded).
    pub fn effective_prefetch(&self) -> u16 {
        if self.prefetch > 0 {
            self.prefetch
        } else {
            (self.clova_ocr_max_concurrency.saturating_mul(2)).clamp(2, 256) as u16
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

    /// Seconds as a [`Duration`].
    pub fn secs(v: f64) -> Duration {
        Duration::from_secs_f64(v)
    }
}

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
    match reqwest::Url::parse(url.expose_secret()) {
        Ok(u) => format!(
            "{}://{}:{}{}",
            u.scheme(),
            u.host_str().unwrap_or("?"),
            u.port().unwrap_or(5672),
            u.path()
        ),
        Err(_) => "<unparseable amqp url>".into(),
    }
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
        assert_eq!(s.prefetch, 7);
        assert_eq!(s.jobs_queue, "from-flag");
        assert_eq!(s.results_exchange, "ocr.results");
    }

    #[test]
    fn bad_settings_are_named_and_secrets_never_shown() {
        let mut a = args();
        a.clova_ocr_rate_per_sec = Some(0);
        let e = a.load().unwrap_err().to_string();
        assert!(e.contains("CLOVA_OCR_RATE_PER_SEC"), "{e}");

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
    fn durations_parse() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("x5s"), None);
    }
}
