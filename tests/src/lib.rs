//! One harness for the end-to-end tests: real RabbitMQ (the local broker, `AMQP_URL` or
//! 127.0.0.1:5672), an S3-protocol server (s3s-fs, SigV4-checked) and the OCR emulator, both
//! in-process on port 0. Every test gets its own queue and exchange names (and buckets), and
//! its queues carry `x-expires`, so runs never collide or leak on the shared broker.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use lapin::options::{BasicPublishOptions, ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};
use ocr_infra::emulator::{EmulatorConfig, RunningEmulator};
use ocr_infra::s3::RunningS3;
use ocr_worker::app::Application;
use ocr_worker::config::{Settings, SettingsArgs};
use ocr_worker::storage::S3Store;
use ocr_worker::summary::OutcomeReader;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use ocr_infra::truth::{Noise, Recognition, Truth};

pub mod bench;

/// The broker URL tests use.
pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Install a test log subscriber once (`RUST_LOG` to see worker logs).
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// The broker delay stages a test environment's worker uses (short, so retries are quick).
pub const RETRY_DELAYS: [&str; 2] = ["200ms", "400ms"];

/// The queue and exchange names of one test environment: the one place they are derived from
/// its prefix. They feed the worker's settings, the worker process's environment, the
/// collectors and the cleanup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// Unique prefix of every name.
    pub prefix: String,
    /// Work queue (the bulk lane).
    pub jobs: String,
    /// The priority lane's work queue (`<jobs>.priority`).
    pub priority: String,
    /// The work queues' broker dead letters.
    pub poison: String,
    /// Results exchange.
    pub results_exchange: String,
    /// Results queue.
    pub results_queue: String,
    /// Dead-letter exchange.
    pub dead_exchange: String,
    /// Dead-letter queue.
    pub dead_queue: String,
    /// The delay stages ([`RETRY_DELAYS`]) as the worker's `retry_delays` setting.
    pub retry_delays: String,
    /// The delay queues the worker declares for them (`<jobs>.delay.<stage>`, then
    /// `<priority>.delay.<stage>`).
    pub delay_queues: Vec<String>,
}

impl Names {
    /// The names under `prefix`.
    pub fn new(prefix: &str) -> Names {
        let jobs = format!("{prefix}.jobs");
        let priority = format!("{jobs}.priority");
        Names {
            prefix: prefix.to_string(),
            poison: format!("{jobs}.poison"),
            results_exchange: format!("{prefix}.results"),
            results_queue: format!("{prefix}.results"),
            dead_exchange: format!("{prefix}.dead"),
            dead_queue: format!("{prefix}.dead"),
            retry_delays: RETRY_DELAYS.join(","),
            delay_queues: [&jobs, &priority]
                .iter()
                .flat_map(|q| RETRY_DELAYS.iter().map(move |d| format!("{q}.delay.{d}")))
                .collect(),
            priority,
            jobs,
        }
    }

    /// `<prefix>.<suffix>`, e.g. `queue("jobs")`.
    pub fn queue(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.prefix)
    }

    /// Every queue the worker declares (for cleanup).
    pub fn queues(&self) -> Vec<&str> {
        let mut q = vec![
            self.jobs.as_str(),
            self.priority.as_str(),
            self.poison.as_str(),
            self.results_queue.as_str(),
            self.dead_queue.as_str(),
        ];
        q.extend(self.delay_queues.iter().map(String::as_str));
        q
    }

    /// Every exchange the worker declares (for cleanup).
    pub fn exchanges(&self) -> [&str; 2] {
        [&self.results_exchange, &self.dead_exchange]
    }

    /// Set the names in worker settings.
    pub fn apply(&self, args: &mut SettingsArgs) {
        args.jobs_queue = Some(self.jobs.clone());
        args.priority_queue = Some(self.priority.clone());
        args.poison_queue = Some(self.poison.clone());
        args.results_exchange = Some(self.results_exchange.clone());
        args.results_queue = Some(self.results_queue.clone());
        args.dead_exchange = Some(self.dead_exchange.clone());
        args.dead_queue = Some(self.dead_queue.clone());
        args.retry_delays = Some(self.retry_delays.clone());
    }

    /// The same names as a worker process's environment.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("OCR_JOBS_QUEUE", &self.jobs),
            ("OCR_PRIORITY_QUEUE", &self.priority),
            ("OCR_POISON_QUEUE", &self.poison),
            ("OCR_RESULTS_EXCHANGE", &self.results_exchange),
            ("OCR_RESULTS_QUEUE", &self.results_queue),
            ("OCR_DEAD_EXCHANGE", &self.dead_exchange),
            ("OCR_DEAD_QUEUE", &self.dead_queue),
            ("OCR_RETRY_DELAYS", &self.retry_delays),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
    }
}

/// Real services for one test.
pub struct TestEnv {
    /// Unique prefix of every name this test uses (`names.prefix`).
    pub prefix: String,
    /// This test's queue and exchange names.
    pub names: Names,
    /// The S3-protocol server.
    pub s3: RunningS3,
    /// The OCR emulator.
    pub emulator: RunningEmulator,
    /// An S3 client signed with the server's keys.
    pub s3_client: aws_sdk_s3::Client,
    /// The broker URL the test and its workers use ([`amqp_url`] unless started elsewhere).
    pub amqp_url: String,
    /// The private CA for an `amqps://` broker (`OCR_AMQP_CA_FILE`).
    pub amqp_ca_file: Option<std::path::PathBuf>,
    /// A broker connection for the test's own publishing and consuming.
    pub conn: Connection,
    /// A channel on it.
    pub channel: Channel,
}

/// One outcome read back from the results or dead-letter queue (`queue` is `result` or
/// `dead`): the worker's own [`ocr_worker::summary::Outcome`], read by the same reader.
pub type Received = ocr_worker::summary::Outcome;

impl TestEnv {
    /// Start the S3 server and the emulator (with `emulator`), and connect to the broker.
    pub async fn start(emulator: EmulatorConfig) -> anyhow::Result<TestEnv> {
        Self::start_on(emulator, amqp_url(), None).await
    }

    /// [`TestEnv::start`] against another broker: `url`, with `ca_file` for an `amqps://` one
    /// signed by a private CA. The test's own connection goes through the worker's
    /// [`ocr_worker::amqp::connect`], the same TLS path.
    pub async fn start_on(
        emulator: EmulatorConfig,
        url: String,
        ca_file: Option<std::path::PathBuf>,
    ) -> anyhow::Result<TestEnv> {
        init_logs();
        let prefix = format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let s3 = ocr_infra::s3::spawn().await?;
        let emulator = ocr_infra::emulator::spawn(emulator).await?;
        let s3_client = s3_client(&s3.endpoint_url(), s3.access_key(), s3.secret_key());
        let ca = ca_file
            .as_deref()
            .map(ocr_worker::amqp::AmqpCa::load)
            .transpose()
            .map_err(anyhow::Error::msg)?;
        let conn = ocr_worker::amqp::connect(&url.clone().into(), ca.as_ref(), "ocr-tests")
            .await
            .with_context(|| {
                format!(
                    "connecting to RabbitMQ at {} (is it running?)",
                    ocr_worker::config::redacted_amqp_url(&url.clone().into())
                )
            })?;
        let channel = conn.create_channel().await?;
        Ok(TestEnv {
            names: Names::new(&prefix),
            prefix,
            s3,
            emulator,
            s3_client,
            amqp_url: url,
            amqp_ca_file: ca_file,
            conn,
            channel,
        })
    }

    /// Worker settings pointing at this environment's services and names.
    pub fn settings(&self) -> Settings {
        self.settings_args()
            .load()
            .expect("test settings are valid")
    }

    /// The flags/environment equivalent of [`TestEnv::settings`], for tweaking before `load`.
    pub fn settings_args(&self) -> SettingsArgs {
        let mut args = SettingsArgs {
            amqp_url: Some(self.amqp_url.clone()),
            amqp_ca_file: self.amqp_ca_file.clone(),
            clova_ocr_invoke_url: Some(self.emulator.invoke_url()),
            clova_ocr_secret: Some(self.emulator.secret().to_string()),
            clova_ocr_rate_per_sec: Some(1000.0),
            clova_ocr_max_concurrency: Some(8),
            queue_expires_secs: Some(600),
            http_listen: Some("127.0.0.1:0".parse().expect("valid")),
            retry_base_ms: Some(20),
            retry_max_ms: Some(500),
            call_timeout_secs: Some(5.0),
            connect_timeout_secs: Some(2.0),
            shutdown_grace_secs: Some(10.0),
            ..Default::default()
        };
        self.names.apply(&mut args);
        args
    }

    /// An S3 store for the worker, pointed at this environment's server.
    pub fn store(&self) -> S3Store {
        S3Store::new(self.s3_client.clone())
    }

    /// Create a bucket (idempotent enough for tests: a fresh server per test).
    pub async fn create_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        self.s3_client.create_bucket().bucket(bucket).send().await?;
        Ok(())
    }

    /// Upload an object.
    pub async fn put(&self, bucket: &str, key: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.s3_client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(bytes.into())
            .send()
            .await?;
        Ok(())
    }

    /// Act as a worker that crashes on every delivery: nack-requeue each one off the work queue
    /// until the broker dead-letters the job to the poison queue (its delivery limit). Returns
    /// how many times the job was returned. Quorum queues requeue asynchronously, so this uses
    /// a consumer (not `basic.get`, which can find the queue empty between a nack and the
    /// requeue).
    pub async fn crash_until_poisoned(&self) -> anyhow::Result<u32> {
        use futures::StreamExt;
        let ch = self.conn.create_channel().await?;
        let mut deliveries = ch
            .basic_consume(
                self.names.jobs.as_str().into(),
                "crashing-worker".into(),
                lapin::options::BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let poisoned = eventually(Duration::from_secs(30), || async {
            self.queue_len("jobs.poison").await.unwrap_or(0) == 1
        });
        tokio::pin!(poisoned);
        let mut returns = 0;
        loop {
            tokio::select! {
                r = &mut poisoned => { r?; break; }
                d = deliveries.next() => {
                    let d = d.context("the crashing consumer was cancelled")??;
                    d.nack(lapin::options::BasicNackOptions { requeue: true, ..Default::default() })
                        .await?;
                    returns += 1;
                    anyhow::ensure!(returns <= 1000, "the delivery limit did not apply");
                }
            }
        }
        ch.close(200, "done".into()).await?;
        Ok(returns)
    }

    /// Start a worker that is expected to stop consuming on a configuration error, and wait
    /// until it has; [`ConfigStopped::finish`] then ends it and returns what `run_until` gave.
    pub async fn run_until_config_stop(&self, settings: Settings) -> anyhow::Result<ConfigStopped> {
        let app = Application::build_with(settings, self.store()).await?;
        let health = app.health();
        let http_addr = app.http_addr();
        let token = CancellationToken::new();
        let t = token.clone();
        let task = tokio::spawn(async move { app.run_until(t).await });
        eventually(Duration::from_secs(30), || {
            let h = health.clone();
            async move { h.stopped().is_some() }
        })
        .await?;
        Ok(ConfigStopped {
            reason: health.stopped().unwrap_or_default(),
            http_addr,
            token,
            task,
        })
    }

    /// Build and start a worker with `settings`; it runs until the handle stops it.
    pub async fn spawn_worker(&self, settings: Settings) -> anyhow::Result<WorkerHandle> {
        let app = Application::build_with(settings, self.store()).await?;
        let http_addr = app.http_addr();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move { app.run_until(token).await });
        let handle = WorkerHandle {
            shutdown,
            task: Some(task),
            http_addr,
        };
        handle.wait_ready(Duration::from_secs(30)).await?;
        Ok(handle)
    }

    /// Publish a raw job body to the work queue with optional AMQP ids.
    pub async fn publish_raw(
        &self,
        body: &[u8],
        message_id: Option<&str>,
        correlation_id: Option<&str>,
    ) -> anyhow::Result<()> {
        self.publish_raw_to(&self.names.jobs, body, message_id, correlation_id)
            .await
    }

    /// Publish a raw job body to `queue` (a lane's work queue) with optional AMQP ids.
    pub async fn publish_raw_to(
        &self,
        queue: &str,
        body: &[u8],
        message_id: Option<&str>,
        correlation_id: Option<&str>,
    ) -> anyhow::Result<()> {
        self.publish_with(
            queue,
            body,
            message_id,
            correlation_id,
            FieldTable::default(),
        )
        .await
    }

    /// Publish a job for `bucket/key` to the jobs queue with these AMQP `headers`.
    pub async fn publish_job_with_headers(
        &self,
        job_id: &str,
        bucket: &str,
        key: &str,
        headers: FieldTable,
    ) -> anyhow::Result<()> {
        self.publish_job_to(&self.names.jobs, job_id, bucket, key, headers)
            .await
    }

    /// Publish a valid job for `bucket/key` to `queue`, correlation id `corr-<job_id>`.
    async fn publish_job_to(
        &self,
        queue: &str,
        job_id: &str,
        bucket: &str,
        key: &str,
        headers: FieldTable,
    ) -> anyhow::Result<()> {
        let body = serde_json::json!({"job_id": job_id, "bucket": bucket, "key": key});
        // Every job the harness publishes is a valid job by the published schema.
        assert_schema("job", &body);
        self.publish_with(
            queue,
            &serde_json::to_vec(&body)?,
            None,
            Some(&format!("corr-{job_id}")),
            headers,
        )
        .await
    }

    async fn publish_with(
        &self,
        queue: &str,
        body: &[u8],
        message_id: Option<&str>,
        correlation_id: Option<&str>,
        headers: FieldTable,
    ) -> anyhow::Result<()> {
        let mut props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_headers(headers);
        if let Some(m) = message_id {
            props = props.with_message_id(m.into());
        }
        if let Some(c) = correlation_id {
            props = props.with_correlation_id(c.into());
        }
        self.channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await?
            .await?;
        Ok(())
    }

    /// Publish a job for `bucket/key` to the priority lane.
    pub async fn publish_priority_job(
        &self,
        job_id: &str,
        bucket: &str,
        key: &str,
    ) -> anyhow::Result<()> {
        let queue = &self.names.priority;
        self.publish_job_to(queue, job_id, bucket, key, FieldTable::default())
            .await
    }

    /// Publish a job for `bucket/key`.
    pub async fn publish_job(&self, job_id: &str, bucket: &str, key: &str) -> anyhow::Result<()> {
        let queue = &self.names.jobs;
        self.publish_job_to(queue, job_id, bucket, key, FieldTable::default())
            .await
    }

    /// Read `n` outcomes from the results and dead-letter queues (acking them), waiting at most
    /// `timeout` in all. Returns what arrived, fewer than `n` on timeout.
    pub async fn collect(&self, n: usize, timeout: Duration) -> anyhow::Result<Vec<Received>> {
        let ch = self.conn.create_channel().await?;
        let mut reader = self.outcome_reader(&ch).await?;
        let out = reader
            .take(n, tokio::time::Instant::now() + timeout)
            .await?;
        let _ = ch.close(200, "done".into()).await;
        Ok(out)
    }

    /// The shared outcome reader on this test's results and dead-letter queues.
    async fn outcome_reader(&self, ch: &Channel) -> anyhow::Result<OutcomeReader> {
        Ok(OutcomeReader::start(ch, &self.names.results_queue, &self.names.dead_queue).await?)
    }

    /// Message count of one of this test's queues (`jobs`, `results`, `dead`...).
    pub async fn queue_len(&self, suffix: &str) -> anyhow::Result<u32> {
        let ch = self.conn.create_channel().await?;
        let q = ch
            .queue_declare(
                self.names.queue(suffix).as_str().into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        let _ = ch.close(200, "done".into()).await;
        Ok(q.message_count())
    }

    /// Delete this test's queues and exchanges.
    pub async fn cleanup(&self) {
        let Ok(ch) = self.conn.create_channel().await else {
            return;
        };
        for q in self.names.queues() {
            let _ = ch
                .queue_delete(q.into(), QueueDeleteOptions::default())
                .await;
        }
        for e in self.names.exchanges() {
            let _ = ch
                .exchange_delete(e.into(), ExchangeDeleteOptions::default())
                .await;
        }
    }
}

/// An S3 client for a local server (path-style, static keys, us-east-1).
pub fn s3_client(endpoint: &str, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
    let creds = aws_credential_types::Credentials::new(access_key, secret_key, None, None, "test");
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// A running worker.
pub struct WorkerHandle {
    shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    /// Health server address.
    pub http_addr: SocketAddr,
}

impl WorkerHandle {
    /// GET a health endpoint; returns status and body.
    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        let r = reqwest::get(format!("http://{}{path}", self.http_addr)).await?;
        Ok((r.status().as_u16(), r.text().await?))
    }

    /// Poll `/readyz` until it is 200 (the worker is consuming).
    pub async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        self.wait_readyz(200, timeout).await
    }

    /// Poll `/readyz` until it answers `status`.
    pub async fn wait_readyz(&self, status: u16, timeout: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Ok((s, _)) = self.get("/readyz").await
                && s == status
            {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!("worker /readyz never answered {status}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Scrape `/metrics` into `name{labels}` → value.
    pub async fn metrics(&self) -> anyhow::Result<HashMap<String, f64>> {
        let (_, text) = self.get("/metrics").await?;
        Ok(text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect())
    }

    /// One sample of the worker's metrics (`name{labels}` as exposed), if it has it.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        self.metrics().await.ok()?.get(name).copied()
    }

    /// Ask for a graceful shutdown and wait for the worker to exit.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        if let Some(t) = self.task.take() {
            t.await??;
        }
        Ok(())
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Run `rabbitmqctl` on the local broker node; its standard output, or an error with its
/// standard error when it fails.
pub fn rabbitmqctl(args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new("rabbitmqctl")
        .args(args)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "rabbitmqctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A worker stopped on a configuration error (see [`TestEnv::run_until_config_stop`]).
pub struct ConfigStopped {
    /// The stop reason, as `/readyz` reports it.
    pub reason: String,
    /// Health server address.
    pub http_addr: SocketAddr,
    token: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl ConfigStopped {
    /// End the worker; returns `run_until`'s result.
    pub async fn finish(self) -> anyhow::Result<()> {
        self.token.cancel();
        self.task.await?
    }
}

/// A tiny valid PNG with `truth` embedded: what the emulator will "see".
pub fn passport_png(truth: &Truth) -> Vec<u8> {
    let img = image::GrayImage::from_pixel(4, 4, image::Luma([200u8]));
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("encoding a PNG in memory");
    ocr_infra::truth::embed(&png, truth).expect("embedding truth")
}

/// A tiny valid JPEG with `truth` embedded.
pub fn passport_jpeg(truth: &Truth) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(8, 8, image::Rgb([200, 200, 190]));
    let mut jpg = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut jpg),
        image::ImageFormat::Jpeg,
    )
    .expect("encoding a JPEG in memory");
    ocr_infra::truth::embed(&jpg, truth).expect("embedding truth")
}

/// Index outcomes by message id.
pub fn by_message_id(outcomes: &[Received]) -> HashMap<String, Vec<&Received>> {
    let mut m: HashMap<String, Vec<&Received>> = HashMap::new();
    for o in outcomes {
        m.entry(o.message_id.clone().unwrap_or_default())
            .or_default()
            .push(o);
    }
    m
}

/// Read the emulator's counters over its admin API.
pub async fn emulator_stats(env: &TestEnv) -> anyhow::Result<ocr_infra::emulator::Stats> {
    Ok(reqwest::get(format!("{}/stats", env.emulator.admin_url()))
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// Change the emulator's configuration at run time (partial JSON).
pub async fn emulator_patch(env: &TestEnv, patch: Value) -> anyhow::Result<()> {
    reqwest::Client::new()
        .put(format!("{}/config", env.emulator.admin_url()))
        .json(&patch)
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

/// Run `scripts/rabbitmq-node.sh` with `args` (start an extra broker node, a cluster, kill or
/// stop one) and return what it printed (a node's directory, a cluster's URLs). Blocking.
pub fn rabbitmq_node(args: &[&str]) -> anyhow::Result<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/rabbitmq-node.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .context("running scripts/rabbitmq-node.sh")?;
    anyhow::ensure!(
        out.status.success(),
        "rabbitmq-node.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `POST` an emulator admin action without a body (`hold`, `release`, `reset`).
pub async fn emulator_admin(env: &TestEnv, what: &str) -> anyhow::Result<()> {
    reqwest::Client::new()
        .post(format!("{}/{what}", env.emulator.admin_url()))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

/// Poll `cond` every 20 ms until it holds or `timeout` passes (for state only visible by
/// polling, such as another process's counters).
pub async fn eventually<F, Fut>(timeout: Duration, mut cond: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !cond().await {
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("condition not met within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Run `cmd` to its end and return its output; panics with the exit status and stderr when
/// it did not succeed.
pub fn output_ok(cmd: &mut std::process::Command) -> std::process::Output {
    let out = cmd.output().expect("the command starts");
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The violations of `value` against `schemas/<name>.schema.json` (empty when it is valid).
/// Formats are checked too (`date-time`, ...), which JSON Schema 2020-12 leaves off by default.
pub fn schema_errors(name: &str, value: &Value) -> Vec<String> {
    type Validators = std::sync::Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>;
    static VALIDATORS: std::sync::LazyLock<Validators> = std::sync::LazyLock::new(Default::default);
    let validator = VALIDATORS
        .lock()
        .expect("validator cache lock")
        .entry(name.to_string())
        .or_insert_with(|| std::sync::Arc::new(compile_schema(name)))
        .clone();
    validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// `schemas/<name>.schema.json`, compiled with format validation on (unknown formats are
/// errors, so a misspelt `format` cannot silently check nothing).
fn compile_schema(name: &str) -> jsonschema::Validator {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas")
        .join(format!("{name}.schema.json"));
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("schema is JSON");
    jsonschema::options()
        .should_validate_formats(true)
        .should_ignore_unknown_formats(false)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Validate `value` against `schemas/<name>.schema.json` (formats included); panics with every
/// violation.
pub fn assert_schema(name: &str, value: &Value) {
    let errors = schema_errors(name, value);
    assert!(errors.is_empty(), "{name} schema violations: {errors:#?}");
}

/// A bucket notification as MinIO's AMQP target (or S3) sends it, for one created object:
/// AWS event format 2.x plus MinIO's top-level `EventName` and `Key`.
pub fn s3_notification(bucket: &str, encoded_key: &str, etag: &str, size: u64) -> Value {
    minio_event("s3:ObjectCreated:Put", bucket, encoded_key, etag, size)
}

/// [`s3_notification`] with another event name (`s3:ObjectCreated:PutTagging`, ...).
pub fn minio_event(event: &str, bucket: &str, encoded_key: &str, etag: &str, size: u64) -> Value {
    serde_json::json!({
        "EventName": event,
        "Key": format!("{bucket}/{encoded_key}"),
        "Records": [{
            "eventVersion": "2.0",
            "eventSource": "minio:s3",
            "awsRegion": "",
            "eventTime": "2026-11-26T01:02:03.456Z",
            "eventName": event,
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "Config",
                "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
                "object": {"key": encoded_key, "size": size, "eTag": etag,
                           "contentType": "image/png", "sequencer": "17E1B1D0A8A5B1C2"}
            }
        }]
    })
}

/// An SNS notification carrying `message` (a bucket event) as its JSON-string `Message`, as an
/// HTTP/S subscriber receives it: the fields of the example on "HTTP/HTTPS notification JSON
/// format", <https://docs.aws.amazon.com/sns/latest/dg/http-notification-json.html>, with the
/// subject S3 gives its notifications.
pub fn sns_notification(message: &Value) -> Value {
    serde_json::json!({
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
        "Subject": "Amazon S3 Notification",
        "Message": message.to_string(),
        "Timestamp": "2012-05-02T00:54:06.655Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEw6JRN...",
        "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
        "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:123456789012:MyTopic:c9135db0-26c4-47ec-8998-413945fb5a96"
    })
}

/// An EventBridge "Object Created" event for `bucket/key` (the key as it is: EventBridge does
/// not URL-encode it), shaped like the example on "EventBridge event message structure",
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html>.
pub fn eventbridge_object_created(bucket: &str, key: &str, etag: &str, size: u64) -> Value {
    serde_json::json!({
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "111122223333",
        "time": "2021-11-12T00:00:00Z",
        "region": "ca-central-1",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {
                "key": key,
                "size": size,
                "etag": etag,
                "sequencer": "617f08299329d189"
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "1.2.3.4",
            "reason": "PutObject"
        }
    })
}

/// The test message S3 sends when a notification is configured on `bucket` ("Event message
/// structure", <https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html>).
pub fn s3_test_event(bucket: &str) -> Value {
    serde_json::json!({
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2014-10-13T15:57:02.089Z",
        "Bucket": bucket,
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"
    })
}

/// Path of a workspace binary (`ocr-worker`, `ocr-infra`) of the same build profile as this
/// test or benchmark executable.
/// `cargo test --workspace` builds them (their packages have integration tests of their own);
/// a single test target run alone (`cargo test -p ocr-tests --test quota`) needs
/// `cargo build --bins` first.
pub fn binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // Tests run from target/<profile>/deps/, benchmark binaries from target/<profile>/.
    let parent = exe.parent().expect("target/<profile>[/deps]");
    let dir = if parent.ends_with("deps") {
        parent.parent().expect("target/<profile>")
    } else {
        parent
    };
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --bins` first (`cargo test --workspace` builds it)",
        path.display()
    );
    path
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding an ephemeral port")
}

/// An `ocr-worker run` child process configured for a [`TestEnv`].
pub struct WorkerProcess {
    child: tokio::process::Child,
    /// Health server address.
    pub http_addr: SocketAddr,
}

impl TestEnv {
    /// Environment for an `ocr-worker` process equivalent to [`TestEnv::settings_args`], plus
    /// `extra` overrides (`OCR_...` names). The process logs at `warn` unless
    /// `OCR_TEST_WORKER_LOG` gives another `RUST_LOG` filter (e.g. `info` to debug a test).
    pub fn worker_env(&self, extra: &[(&str, String)]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = vec![
            ("AMQP_URL".into(), self.amqp_url.clone()),
            ("CLOVA_OCR_INVOKE_URL".into(), self.emulator.invoke_url()),
            (
                "CLOVA_OCR_SECRET".into(),
                self.emulator.secret().to_string(),
            ),
            ("CLOVA_OCR_RATE_PER_SEC".into(), "1000".into()),
            ("CLOVA_OCR_MAX_CONCURRENCY".into(), "8".into()),
            // A host name, not an IP: only path-style addressing reaches the server then
            // (virtual-hosted style would ask for `<bucket>.localhost`).
            (
                "AWS_ENDPOINT_URL_S3".into(),
                self.s3.endpoint_url().replace("127.0.0.1", "localhost"),
            ),
            ("AWS_ACCESS_KEY_ID".into(), self.s3.access_key().into()),
            ("AWS_SECRET_ACCESS_KEY".into(), self.s3.secret_key().into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("OCR_QUEUE_EXPIRES_SECS".into(), "600".into()),
            ("OCR_RETRY_BASE_MS".into(), "20".into()),
            ("OCR_RETRY_MAX_MS".into(), "500".into()),
            ("OCR_CALL_TIMEOUT_SECS".into(), "5".into()),
            ("OCR_CONNECT_TIMEOUT_SECS".into(), "2".into()),
            (
                "RUST_LOG".into(),
                std::env::var("OCR_TEST_WORKER_LOG").unwrap_or_else(|_| "warn".into()),
            ),
        ];
        if let Some(ca) = &self.amqp_ca_file {
            env.push(("OCR_AMQP_CA_FILE".into(), ca.display().to_string()));
        }
        env.extend(self.names.env());
        for (k, v) in extra {
            env.retain(|(ek, _)| ek != k);
            env.push(((*k).to_string(), v.clone()));
        }
        env
    }

    /// `ocr-worker <args>` with [`TestEnv::worker_env`]`(extra)` as its whole environment.
    pub fn worker_command(&self, args: &[&str], extra: &[(&str, String)]) -> std::process::Command {
        let mut cmd = std::process::Command::new(binary("ocr-worker"));
        cmd.args(args).env_clear().envs(self.worker_env(extra));
        cmd
    }

    /// Start `ocr-worker run` as a child process and wait until it is ready.
    pub async fn spawn_worker_process(
        &self,
        extra: &[(&str, String)],
    ) -> anyhow::Result<WorkerProcess> {
        let port = free_port();
        let mut cmd = tokio::process::Command::new(binary("ocr-worker"));
        cmd.arg("run")
            .env_clear()
            .envs(self.worker_env(extra))
            .env("OCR_HTTP_LISTEN", format!("127.0.0.1:{port}"))
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true);
        let child = cmd.spawn()?;
        let w = WorkerProcess {
            child,
            http_addr: format!("127.0.0.1:{port}").parse()?,
        };
        let probe = WorkerHandle {
            shutdown: CancellationToken::new(),
            task: None,
            http_addr: w.http_addr,
        };
        probe.wait_ready(Duration::from_secs(30)).await?;
        Ok(w)
    }
}

impl WorkerProcess {
    /// The child's process id (for `/proc` readings in benchmarks).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL: no cleanup at all.
    pub async fn kill9(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }

    /// SIGTERM, then wait for the exit status.
    pub async fn terminate(mut self) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self
            .child
            .id()
            .ok_or_else(|| anyhow::anyhow!("already exited"))?;
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM failed");
        // A worker that does not exit after SIGTERM is a failure, not a hung suite.
        match tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => {
                let _ = self.child.kill().await;
                anyhow::bail!("worker did not exit within 60 s of SIGTERM")
            }
        }
    }

    /// Scrape one metric value (0 when absent).
    pub async fn metric(&self, name: &str) -> f64 {
        let probe = WorkerHandle {
            shutdown: CancellationToken::new(),
            task: None,
            http_addr: self.http_addr,
        };
        probe
            .metrics()
            .await
            .ok()
            .and_then(|m| m.get(name).copied())
            .unwrap_or(0.0)
    }
}

/// Close the broker connections of the worker(s) of `env` from the broker side.
pub fn close_worker_connections(env: &TestEnv) -> anyhow::Result<usize> {
    let out = rabbitmqctl(&["-q", "list_connections", "pid", "client_properties"])?;
    let needle = format!("ocr-worker {}", env.names.jobs);
    let mut closed = 0;
    for line in out.lines() {
        let mut parts = line.splitn(2, '\t');
        let (Some(pid), Some(props)) = (parts.next(), parts.next()) else {
            continue;
        };
        // 3.10 has no `user_provided_name` info item; the name is in the client properties.
        if props.contains(&format!("\"{needle}\"")) {
            // A connection that closed by itself meanwhile is not counted.
            if rabbitmqctl(&[
                "-q",
                "close_connection",
                pid.trim(),
                "test: broker-side close",
            ])
            .is_ok()
            {
                closed += 1;
            }
        }
    }
    Ok(closed)
}

/// Consumes the results and dead-letter queues in the background for the whole test.
pub struct Collector {
    seen: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    notify: std::sync::Arc<tokio::sync::Notify>,
    task: JoinHandle<()>,
}

impl TestEnv {
    /// Start collecting outcomes (acking them) until the collector is dropped.
    pub async fn collector(&self) -> anyhow::Result<Collector> {
        let ch = self.conn.create_channel().await?;
        ch.basic_qos(500, lapin::options::BasicQosOptions::default())
            .await?;
        let mut reader = self.outcome_reader(&ch).await?;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let notify = std::sync::Arc::new(tokio::sync::Notify::new());
        let (s, n) = (seen.clone(), notify.clone());
        let task = tokio::spawn(async move {
            let _ch = ch;
            while let Some(Ok(outcome)) = reader.next().await {
                s.lock().expect("collector lock").push(outcome);
                n.notify_waiters();
            }
        });
        Ok(Collector { seen, notify, task })
    }
}

impl Collector {
    /// Outcomes so far.
    pub fn snapshot(&self) -> Vec<Received> {
        self.seen.lock().expect("collector lock").clone()
    }

    /// Number of outcomes so far.
    pub fn len(&self) -> usize {
        self.seen.lock().expect("collector lock").len()
    }

    /// Whether nothing arrived yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Distinct message ids so far.
    pub fn distinct(&self) -> usize {
        let seen = self.seen.lock().expect("collector lock");
        seen.iter()
            .filter_map(|r| r.message_id.as_deref())
            .collect::<std::collections::HashSet<_>>()
            .len()
    }

    /// Wait until `pred(self)` holds, woken by each new outcome; error after `timeout`.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        pred: impl Fn(&Collector) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            if pred(self) {
                return Ok(());
            }
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep_until(deadline) => {
                    anyhow::bail!("collector condition not met within {timeout:?} ({} outcomes, {} distinct)", self.len(), self.distinct());
                }
            }
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}
