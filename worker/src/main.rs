//! `ocr-worker`: thin entry point. Telemetry, configuration, build, run.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use ocr_common::failure::JobError;
use ocr_common::format;
use ocr_common::job::Job;
use ocr_common::message::ResultMessage;
use ocr_worker::app::{self, Application};
use ocr_worker::config::{Settings, SettingsArgs};
use ocr_worker::metrics::Metrics;
use ocr_worker::ocr::OcrImage;
use ocr_worker::storage::S3Store;
use ocr_worker::{enqueue, summary, telemetry};
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "ocr-worker",
    version,
    about = "Passport OCR worker: RabbitMQ job -> S3 image -> CLOVA OCR -> result or dead letter"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Consume jobs until SIGTERM/SIGINT.
    Run {
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Run one image (a local file or s3://bucket/key) through fetch, OCR and normalization and
    /// print the result record, or the classified error, as JSON. No queues involved.
    Process {
        /// A local file path or s3://bucket/key.
        target: String,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Backfill: publish one job per object under s3://bucket/prefix.
    Enqueue {
        /// s3://bucket/prefix
        target: String,
        /// Resume after this key (printed by an earlier run).
        #[arg(long)]
        start_after: Option<String>,
        /// Publish at most this many jobs.
        #[arg(long)]
        limit: Option<u64>,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Take outcomes off the results and dead-letter queues until N arrived; print counts.
    Summary {
        /// Outcomes to wait for.
        #[arg(long)]
        expect: u64,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout_secs: u64,
        #[command(flatten)]
        settings: SettingsArgs,
    },
}

fn split_s3(url: &str) -> Option<(&str, &str)> {
    url.strip_prefix("s3://")?.split_once('/')
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (Command::Run { settings }
    | Command::Process { settings, .. }
    | Command::Enqueue { settings, .. }
    | Command::Summary { settings, .. }) = &cli.command;
    let settings: Settings = match settings.load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ocr-worker: {e}");
            std::process::exit(2);
        }
    };
    if matches!(cli.command, Command::Run { .. } | Command::Process { .. })
        && let Err(e) = settings.require_ocr()
    {
        eprintln!("ocr-worker: {e}");
        std::process::exit(2);
    }
    telemetry::init(settings.log_format);
    match cli.command {
        Command::Run { .. } => {
            let app = Application::build(settings).await?;
            tracing::info!(http = %app.http_addr(), "health and metrics server listening");
            let shutdown = CancellationToken::new();
            let trigger = shutdown.clone();
            tokio::spawn(async move {
                app::shutdown_signal().await;
                tracing::info!("shutdown requested: finishing in-flight jobs");
                trigger.cancel();
            });
            app.run_until(shutdown).await
        }
        Command::Process { target, .. } => process(settings, &target).await,
        Command::Summary {
            expect,
            timeout_secs,
            ..
        } => {
            let s = summary::collect(
                &settings,
                expect,
                std::time::Duration::from_secs(timeout_secs),
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&s)?);
            if s.outcomes < expect {
                anyhow::bail!("only {} of {expect} outcomes arrived in time", s.outcomes);
            }
            Ok(())
        }
        Command::Enqueue {
            target,
            start_after,
            limit,
            ..
        } => {
            let (bucket, prefix) = match split_s3(&target) {
                Some(bp) => bp,
                None => (target.trim_start_matches("s3://"), ""),
            };
            let store = S3Store::from_env(
                settings.s3_force_path_style,
                Settings::secs(settings.connect_timeout_secs),
            )
            .await;
            let report =
                enqueue::enqueue_prefix(&settings, &store, bucket, prefix, start_after, limit)
                    .await?;
            println!(
                "{}",
                serde_json::json!({
                    "published": report.published,
                    "skipped": report.skipped,
                    "last_key": report.last_key,
                })
            );
            Ok(())
        }
    }
}

/// `process FILE`: the local file goes through the same checks as an S3 object (size cap
/// before reading, magic-byte format), then OCR and normalization.
async fn process_file(
    pipeline: &ocr_worker::pipeline::Pipeline<S3Store, ocr_worker::ocr::ClovaClient>,
    settings: &Settings,
    path: &std::path::Path,
    attempts: &AtomicU32,
) -> anyhow::Result<Result<ResultMessage, JobError>> {
    let reading = || format!("reading {}", path.display());
    let size = std::fs::metadata(path).with_context(reading)?.len();
    let limit = settings.max_image_bytes;
    if size > limit {
        return Ok(Err(JobError::ImageTooLarge { size, limit }));
    }
    let bytes = std::fs::read(path).with_context(reading)?;
    let format = match format::inspect(&bytes) {
        Ok(f) => f,
        Err(e) => return Ok(Err(e.into())),
    };
    let job = Job {
        job_id: "process-1".into(),
        bucket: "local".into(),
        key: path.display().to_string(),
        version_id: None,
        document_type: "passport".into(),
        metadata: None,
    };
    let source = ocr_common::message::Source {
        bucket: job.bucket.clone(),
        key: job.key.clone(),
        version_id: None,
        etag: None,
        size_bytes: bytes.len() as u64,
        format,
    };
    let image = OcrImage {
        bytes: bytes.into(),
        format,
        name: job.job_id.clone(),
    };
    Ok(match pipeline.recognize(&image, attempts).await {
        Ok(reply) => ocr_worker::pipeline::build_result(
            reply,
            source,
            &job,
            attempts.load(std::sync::atomic::Ordering::Acquire),
            chrono::Utc::now(),
        ),
        Err(e) => Err(e),
    })
}

async fn process(settings: Settings, target: &str) -> anyhow::Result<()> {
    let store = S3Store::from_env(
        settings.s3_force_path_style,
        Settings::secs(settings.connect_timeout_secs),
    )
    .await;
    let pipeline = app::pipeline(&settings, store, Arc::new(Metrics::new()))?;
    let attempts = AtomicU32::new(0);
    let outcome = if let Some((bucket, key)) = split_s3(target) {
        let job = Job::parse(
            &serde_json::to_vec(&serde_json::json!({
                "job_id": "process-1", "bucket": bucket, "key": key
            }))?,
            usize::MAX,
        )?;
        pipeline.process(&job, &attempts).await
    } else {
        process_file(&pipeline, &settings, &PathBuf::from(target), &attempts).await?
    };
    match outcome {
        Ok(result) => {
            println!("{}", serde_json::to_string_pretty(&result)?);
            Ok(())
        }
        Err(e) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "error": {
                        "kind": e.kind().as_str(),
                        "message": e.to_string(),
                        "retryable": e.retryable(),
                        "http_status": e.http_status(),
                        "provider_code": e.provider_code(),
                    }
                }))?
            );
            std::process::exit(1);
        }
    }
}
