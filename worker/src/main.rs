//! `ocr-worker`: thin entry point. Telemetry, configuration, build, run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use ocr_common::job::Job;
use ocr_common::retry::{self, Decision};
use ocr_worker::app::{self, Application};
use ocr_worker::config::{Settings, SettingsArgs, with_defaults_in_help};
use ocr_worker::metrics::Metrics;
use ocr_worker::storage::{LocalFiles, S3Store};
use ocr_worker::{dlq, enqueue, health, status, summary, telemetry};
use tokio_util::sync::CancellationToken;

/// The job id `process` runs its one image under.
const PROCESS_JOB_ID: &str = "process-1";

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
    /// Backfill: publish one job per object under one or more s3://bucket/prefix, filtered,
    /// checkpointed and resumable (docs/backfill.md); --dry-run estimates the OCR time.
    Enqueue {
        #[command(flatten)]
        args: enqueue::EnqueueArgs,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Probe this worker's `/healthz` (or `/readyz` with --ready) on OCR_HTTP_LISTEN; exit 0
    /// when it answers 200. For a container HEALTHCHECK (the runtime image has no curl).
    Health {
        /// Check readiness (`/readyz`) instead of liveness.
        #[arg(long)]
        ready: bool,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3)]
        timeout_secs: u64,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Print queue depths and consumers read from the broker and, with --endpoint, each
    /// replica's status (throughput, outcomes, quota, dead letters, recent errors).
    Status {
        /// A replica's HTTP base URL, e.g. http://10.0.0.5:8467 (repeatable).
        #[arg(long = "endpoint")]
        endpoints: Vec<String>,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Dead letters on the dead-letter queue: counts and a listing that remove nothing, and
    /// replay of one kind to the work queue. See docs/dead-letters.md.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
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

/// `ocr-worker dlq …`. Each reads the dead-letter queue without removing what it does not
/// replay, holding at most --max-held messages unacked at once.
#[derive(Subcommand)]
enum DlqCommand {
    /// Count the dead letters by kind (JSON), removing none.
    Stats {
        /// Hold at most this many dead letters unacked at once; a longer queue is counted in
        /// part (the report says so).
        #[arg(long, default_value_t = dlq::DEFAULT_MAX_HELD)]
        max_held: u32,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// List dead letters in queue order (JSON): kind, job id, source, error; removing none.
    /// No job body (producer metadata) unless --include-job.
    Show {
        /// Only dead letters of this kind.
        #[arg(long, value_parser = kind_parser())]
        kind: Option<String>,
        /// List at most this many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Also print each job body and its metadata, which may hold personal data.
        #[arg(long)]
        include_job: bool,
        /// Hold at most this many dead letters unacked at once.
        #[arg(long, default_value_t = dlq::DEFAULT_MAX_HELD)]
        max_held: u32,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Send the dead letters of one kind back to the queue their job came from, each
    /// confirmed there before it is removed, with its attempt counters reset. Other kinds
    /// stay in place.
    Replay {
        /// The kind to replay.
        #[arg(long, value_parser = kind_parser())]
        kind: String,
        /// Replay at most this many.
        #[arg(long)]
        limit: Option<u64>,
        /// Hold at most this many dead letters of other kinds unacked at once.
        #[arg(long, default_value_t = dlq::DEFAULT_MAX_HELD)]
        max_held: u32,
        #[command(flatten)]
        settings: SettingsArgs,
    },
}

impl DlqCommand {
    fn settings(&self) -> &SettingsArgs {
        match self {
            DlqCommand::Stats { settings, .. }
            | DlqCommand::Show { settings, .. }
            | DlqCommand::Replay { settings, .. } => settings,
        }
    }
}

fn kind_parser() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(dlq::dead_letter_kinds())
}

/// Run a `dlq` command and print its report as JSON.
async fn dlq_command(settings: &Settings, command: DlqCommand) -> anyhow::Result<()> {
    let report = match command {
        DlqCommand::Stats { max_held, .. } => {
            serde_json::to_string_pretty(&dlq::stats(settings, max_held).await?)?
        }
        DlqCommand::Show {
            kind,
            limit,
            include_job,
            max_held,
            ..
        } => {
            let opts = dlq::ShowOptions {
                kind,
                limit,
                include_job,
                max_held,
            };
            serde_json::to_string_pretty(&dlq::show(settings, &opts).await?)?
        }
        DlqCommand::Replay {
            kind,
            limit,
            max_held,
            ..
        } => {
            let opts = dlq::ReplayOptions {
                kind,
                limit,
                max_held,
            };
            serde_json::to_string_pretty(&dlq::replay(settings, &opts).await?)?
        }
    };
    println!("{report}");
    Ok(())
}

fn split_s3(url: &str) -> Option<(&str, &str)> {
    url.strip_prefix("s3://")?.split_once('/')
}

/// Images of 1 MiB and more each get their own mapping from glibc's malloc, given back to the
/// system when the job drops the image. Left alone, glibc raises its mmap threshold after the
/// first large free (up to 32 MiB), and image buffers are then carved from per-thread heaps
/// that keep what was freed: with 5 MB images and 4 OCR slots peak RSS was 126 MB against
/// issue 15's bound of 124 MB, and 92 MB with the threshold pinned (BENCHMARKS.md), for about
/// 11-18 % more CPU per such image (fresh pages). Images under 1 MiB are not affected. A
/// threshold set in the environment (`MALLOC_MMAP_THRESHOLD_`, or `GLIBC_TUNABLES` naming
/// `glibc.malloc.mmap_threshold`) still decides.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn pin_mmap_threshold() {
    const THRESHOLD: libc::c_int = 1 << 20;
    let set_by_env = std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some()
        || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("mmap_threshold"));
    if !set_by_env {
        // SAFETY: called from `main` before the runtime or any other thread exists, as glibc
        // asks of `mallopt`; it takes no pointers and only sets an allocator tunable.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn pin_mmap_threshold() {}

/// Runtime threads unless `TOKIO_WORKER_THREADS` says otherwise. The worker waits on the
/// network and the OCR quota, not on its CPU: one thread spares the wake-ups of threads
/// handing work to each other, 0.76 and 0.89 of the CPU per job of one thread per core on two
/// 2-core machines, at the same or a higher throughput (BENCHMARKS.md, docs/operations.md).
const DEFAULT_RUNTIME_THREADS: usize = 1;

fn main() -> anyhow::Result<()> {
    pin_mmap_threshold();
    // Built here rather than by `#[tokio::main]` so that the allocator is set before the
    // runtime's threads start.
    let threads = runtime_threads().unwrap_or_else(|e| {
        eprintln!("ocr-worker: {e}");
        std::process::exit(2);
    });
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?
        .block_on(run())
}

/// `TOKIO_WORKER_THREADS` read here, not by tokio, which panics on a value that is not a
/// positive whole number: a bad one is a configuration error (exit 2) like any other setting.
fn runtime_threads() -> Result<usize, String> {
    match std::env::var("TOKIO_WORKER_THREADS") {
        Err(std::env::VarError::NotPresent) => Ok(DEFAULT_RUNTIME_THREADS),
        Ok(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                format!("TOKIO_WORKER_THREADS must be a whole number above 0, not {v:?}")
            }),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err("TOKIO_WORKER_THREADS must be a whole number above 0".into())
        }
    }
}

async fn run() -> anyhow::Result<()> {
    // `[default: …]` in `--help` comes from the one place the defaults are written.
    let matches = with_defaults_in_help(Cli::command()).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let settings = match &cli.command {
        Command::Run { settings }
        | Command::Process { settings, .. }
        | Command::Enqueue { settings, .. }
        | Command::Summary { settings, .. }
        | Command::Health { settings, .. }
        | Command::Status { settings, .. } => settings,
        Command::Dlq { command } => command.settings(),
    };
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
    if let Command::Health {
        ready,
        timeout_secs,
        ..
    } = cli.command
    {
        // No telemetry: the exit status is the answer.
        let path = if ready { "/readyz" } else { "/healthz" };
        let code = health::probe(
            settings.http.listen,
            path,
            std::time::Duration::from_secs(timeout_secs),
        )
        .await;
        std::process::exit(if code == Some(200) { 0 } else { 1 });
    }
    telemetry::init(settings.log_format);
    match cli.command {
        Command::Health { .. } => unreachable!("handled above"),
        Command::Status { endpoints, .. } => {
            print!("{}", status::report(&settings, &endpoints).await?);
            Ok(())
        }
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
        Command::Dlq { command } => dlq_command(&settings, command).await,
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
        Command::Enqueue { args, .. } => {
            let opts = match args.options(&settings) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("ocr-worker enqueue: {e}");
                    std::process::exit(2);
                }
            };
            let store = S3Store::from_settings(&settings.s3).await;
            let progress = enqueue::progress::Progress::for_stderr(opts.limit, opts.dry_run);
            if opts.dry_run {
                let report = enqueue::dry_run(&settings, &store, &opts, progress).await?;
                eprintln!("dry run, nothing published:\n{}", report.estimate.explain());
                println!("{}", serde_json::to_string(&report)?);
                return Ok(());
            }
            match enqueue::enqueue(&settings, &store, &opts, progress).await {
                Ok(report) => {
                    println!("{}", serde_json::to_string(&report)?);
                    Ok(())
                }
                Err(enqueue::EnqueueError::Interrupted { hint, cause, .. }) => {
                    eprintln!("{hint}");
                    Err(anyhow::Error::new(*cause))
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// `process TARGET`: one image through the same [`Pipeline::process`] a delivery takes, over S3
/// or over local files (same size cap before reading, same format check), and the same retry
/// policy, without the broker's delay stages.
async fn process(settings: Settings, target: &str) -> anyhow::Result<()> {
    let attempts = AtomicU32::new(0);
    let metrics = Arc::new(Metrics::new());
    let outcome = if let Some((bucket, key)) = split_s3(target) {
        let job = Job::parse(
            &serde_json::to_vec(&serde_json::json!({
                "job_id": PROCESS_JOB_ID, "bucket": bucket, "key": key
            }))?,
            usize::MAX,
        )?;
        let store = S3Store::from_settings(&settings.s3).await;
        let results = app::result_store(&settings, &store);
        let pipeline = app::pipeline(&settings, store, results, metrics)?;
        pipeline
            .process(&job, ocr_common::lane::Lane::Bulk, &attempts)
            .await
    } else {
        // A local path is no valid S3 key (it may start with `/`), so this job is built, not
        // parsed; `LocalFiles` reads the key as a path.
        let job = Job {
            job_id: PROCESS_JOB_ID.into(),
            bucket: "local".into(),
            key: target.to_string(),
            version_id: None,
            etag: None,
            force_ocr: false,
            document_type: "passport".into(),
            metadata: None,
        };
        let pipeline = app::pipeline(&settings, LocalFiles, None, metrics)?;
        pipeline
            .process(&job, ocr_common::lane::Lane::Bulk, &attempts)
            .await
    };
    // The policy's verdict, as a delivery would get it (a transient error past the paid
    // attempts reads `retries_exhausted`).
    let decision = retry::decide(
        outcome,
        attempts.load(Ordering::Acquire),
        0,
        &settings.retry.policy,
    );
    let error = match decision {
        Decision::Publish(result) => {
            println!("{}", serde_json::to_string_pretty(&result)?);
            return Ok(());
        }
        Decision::DeadLetter { error, .. }
        | Decision::Stop { error }
        | Decision::Delay { error, .. } => error,
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "error": {
                "kind": error.kind().as_str(),
                "message": error.to_string(),
                "retryable": error.retryable(),
                "http_status": error.http_status(),
                "provider_code": error.provider_code(),
            }
        }))?
    );
    std::process::exit(1);
}
