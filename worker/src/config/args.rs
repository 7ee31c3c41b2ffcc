//! The command-line and environment layer: every setting as an optional flag with its
//! environment variable, and `--help` texts whose `[default: …]` come from the one place the
//! defaults are written ([`RawSettings::default`](super::RawSettings)).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::{LogFormat, QueueType, RequestMode, default_display};

/// Every setting as an optional flag with its environment variable. Unset ones fall back to the
/// TOML file, then to the defaults. (No `Debug`: it holds secrets in the clear.)
#[derive(Args, Serialize, Default, Clone)]
pub struct SettingsArgs {
    /// TOML configuration file (keys are the setting names below, snake_case).
    #[arg(long, env = "OCR_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// RabbitMQ URL (a secret: never printed).
    #[arg(long, env = "AMQP_URL", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amqp_url: Option<String>,
    /// PEM file of the CA that signs the `amqps://` brokers' certificates (a private CA),
    /// trusted beside the system's roots.
    #[arg(long, env = "OCR_AMQP_CA_FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amqp_ca_file: Option<PathBuf>,
    /// The OCR domain's invoke URL (the client appends /document/id-card). Required.
    #[arg(long, env = "CLOVA_OCR_INVOKE_URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clova_ocr_invoke_url: Option<String>,
    /// The OCR domain's secret key (X-OCR-SECRET). Required; never printed.
    #[arg(long, env = "CLOVA_OCR_SECRET", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clova_ocr_secret: Option<String>,
    /// Domain-wide OCR calls per second, shared by all replicas (fractions allowed: 2.5)
    #[arg(long, env = "CLOVA_OCR_RATE_PER_SEC")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clova_ocr_rate_per_sec: Option<f64>,
    /// Domain-wide simultaneous OCR calls, shared by all replicas
    #[arg(long, env = "CLOVA_OCR_MAX_CONCURRENCY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clova_ocr_max_concurrency: Option<u32>,
    /// Fanout exchange where replicas sharing the OCR limits announce themselves.
    #[arg(long, env = "OCR_PRESENCE_EXCHANGE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_exchange: Option<String>,
    /// Presence heartbeat period in milliseconds; 0 turns limit sharing off
    #[arg(long, env = "OCR_PRESENCE_HEARTBEAT_MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_heartbeat_ms: Option<u64>,
    /// Fewest OCR slots a replica that makes calls gets; younger replicas stand by (1: every replica calls; heavy-tailed OCR latency: fewer, larger pools use more of the domain)
    #[arg(long, env = "OCR_MIN_SLOTS_PER_REPLICA")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_slots_per_replica: Option<u32>,

    /// Work queue
    #[arg(long, env = "OCR_JOBS_QUEUE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs_queue: Option<String>,
    /// Priority lane's work queue (empty: <jobs_queue>.priority); its jobs take a freed OCR slot first
    #[arg(long, env = "OCR_PRIORITY_QUEUE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority_queue: Option<String>,
    /// Fraction of the domain's OCR slots bulk keeps while priority work waits (0 to 1)
    #[arg(long, env = "OCR_BULK_MIN_SHARE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bulk_min_share: Option<f64>,
    /// Work queue type
    #[arg(long, env = "OCR_QUEUE_TYPE", value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_type: Option<QueueType>,
    /// Delay stage queue type: quorum (replicated, at-least-once dead-lettering) or classic
    #[arg(long, env = "OCR_DELAY_QUEUE_TYPE", value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_queue_type: Option<QueueType>,
    /// Quorum queue delivery limit
    #[arg(long, env = "OCR_DELIVERY_LIMIT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_limit: Option<u32>,
    /// Queue for the work queue's broker dead letters
    #[arg(long, env = "OCR_POISON_QUEUE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poison_queue: Option<String>,
    /// Delay stages for broker retries, e.g. 5s,30s,5m
    #[arg(long, env = "OCR_RETRY_DELAYS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_delays: Option<String>,
    /// Results exchange
    #[arg(long, env = "OCR_RESULTS_EXCHANGE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results_exchange: Option<String>,
    /// Results routing key
    #[arg(long, env = "OCR_RESULTS_ROUTING_KEY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results_routing_key: Option<String>,
    /// Results queue
    #[arg(long, env = "OCR_RESULTS_QUEUE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results_queue: Option<String>,
    /// Dead-letter exchange
    #[arg(long, env = "OCR_DEAD_EXCHANGE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_exchange: Option<String>,
    /// Dead-letter queue
    #[arg(long, env = "OCR_DEAD_QUEUE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_queue: Option<String>,
    /// Declare and bind the results and dead-letter queues
    #[arg(long, env = "OCR_DECLARE_OUTCOME_QUEUES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declare_outcome_queues: Option<bool>,
    /// Give every declared queue an x-expires of this many seconds (tests, ephemeral set-ups)
    #[arg(long, env = "OCR_QUEUE_EXPIRES_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_expires_secs: Option<u64>,
    /// Unacknowledged deliveries held at once; 0 derives it from the OCR concurrency
    #[arg(long, env = "OCR_PREFETCH")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefetch: Option<u16>,
    /// Largest job body in bytes
    #[arg(long, env = "OCR_MAX_JOB_BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_job_bytes: Option<usize>,
    /// Largest image in bytes
    #[arg(long, env = "OCR_MAX_IMAGE_BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_image_bytes: Option<u64>,
    /// Comma-separated buckets jobs may name; empty allows any
    #[arg(long, env = "OCR_ALLOWED_BUCKETS", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_buckets: Option<Vec<String>>,
    /// Path-style S3 addressing
    #[arg(long, env = "OCR_S3_FORCE_PATH_STYLE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_force_path_style: Option<bool>,
    /// Bucket of the result store: results and dead letters are written there as JSON before
    /// they are published, and a stored result is reused for the same content
    #[arg(long, env = "OCR_RESULTS_BUCKET")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results_bucket: Option<String>,
    /// Key prefix of stored results
    #[arg(long, env = "OCR_RESULTS_PREFIX")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results_prefix: Option<String>,
    /// Key prefix of stored dead letters
    #[arg(long, env = "OCR_RESULTS_DEAD_LETTER_PREFIX")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results_dead_letter_prefix: Option<String>,
    /// Server-side encryption of stored entries: AES256, aws:kms or aws:kms:<key-id>
    #[arg(long, env = "OCR_RESULTS_SSE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results_sse: Option<String>,
    /// Reuse a stored result for the same content instead of a new OCR call (false: always call)
    #[arg(long, env = "OCR_REUSE_RESULTS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reuse_results: Option<bool>,
    /// OCR request body mode
    #[arg(long, env = "OCR_REQUEST_MODE", value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_mode: Option<RequestMode>,
    /// Timeout of one OCR call in seconds
    #[arg(long, env = "OCR_CALL_TIMEOUT_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_timeout_secs: Option<f64>,
    /// Connect timeout in seconds
    #[arg(long, env = "OCR_CONNECT_TIMEOUT_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_timeout_secs: Option<f64>,
    /// Paid OCR attempts before retries_exhausted
    #[arg(long, env = "OCR_MAX_ATTEMPTS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Quick in-process retries before a delayed broker retry
    #[arg(long, env = "OCR_QUICK_RETRIES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quick_retries: Option<u32>,
    /// Backoff base in milliseconds
    #[arg(long, env = "OCR_RETRY_BASE_MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_base_ms: Option<u64>,
    /// Backoff and Retry-After cap in milliseconds
    #[arg(long, env = "OCR_RETRY_MAX_MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_max_ms: Option<u64>,
    /// Pause after a period-quota answer (0023) in seconds
    #[arg(long, env = "OCR_QUOTA_PAUSE_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota_pause_secs: Option<f64>,
    /// Deadline of one job in seconds
    #[arg(long, env = "OCR_JOB_DEADLINE_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_deadline_secs: Option<f64>,
    /// Grace period for in-flight jobs on SIGTERM in seconds
    #[arg(long, env = "OCR_SHUTDOWN_GRACE_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown_grace_secs: Option<f64>,
    /// Health and metrics listen address
    #[arg(long, env = "OCR_HTTP_LISTEN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_listen: Option<SocketAddr>,
    /// Log format
    #[arg(long, env = "OCR_LOG_FORMAT", value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

/// Append `[default: …]` to the help of every setting flag of `cmd` (and its subcommands),
/// from [`default_display`], so the defaults are written once.
pub fn with_defaults_in_help(mut cmd: clap::Command) -> clap::Command {
    let defaults = default_display();
    let ids: Vec<String> = cmd
        .get_arguments()
        .map(|a| a.get_id().as_str().to_string())
        .collect();
    for id in ids {
        if let Some((_, shown)) = defaults.iter().find(|(k, _)| *k == id) {
            let shown = shown.clone();
            cmd = cmd.mut_arg(id, move |a| {
                let help = a.get_help().map(ToString::to_string).unwrap_or_default();
                a.help(format!("{help} [default: {shown}]"))
            });
        }
    }
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in subs {
        cmd = cmd.mut_subcommand(name, with_defaults_in_help);
    }
    cmd
}
