//! One harness for the end-to-end tests: real RabbitMQ (the local broker, `AMQP_URL` or
//! 127.0.0.1:5672), an S3-protocol server (s3s-fs, SigV4-checked) and the OCR emulator, both
//! in-process on port 0. Every test gets its own queue and exchange names (and buckets), and
//! its queues carry `x-expires`, so runs never collide or leak on the shared broker.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ExchangeDeleteOptions,
    QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use ocr_infra::emulator::{EmulatorConfig, RunningEmulator};
use ocr_infra::s3::RunningS3;
use ocr_worker::app::Application;
use ocr_worker::config::{Settings, SettingsArgs};
use ocr_worker::storage::S3Store;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use ocr_infra::truth::{Noise, Recognition, Truth};

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

/// Real services for one test.
pub struct TestEnv {
    /// Unique prefix of every name this test uses.
    pub prefix: String,
    /// The S3-protocol server.
    pub s3: RunningS3,
    /// The OCR emulator.
    pub emulator: RunningEmulator,
    /// An S3 client signed with the server's keys.
    pub s3_client: aws_sdk_s3::Client,
    /// A broker connection for the test's own publishing and consuming.
    pub conn: Connection,
    /// A channel on it.
    pub channel: Channel,
}

/// One outcome read back from the results or dead-letter queue.
#[derive(Debug, Clone)]
pub struct Received {
    /// `result` or `dead`.
    pub queue: &'static str,
    /// Parsed body.
    pub body: Value,
    /// AMQP message id.
    pub message_id: Option<String>,
    /// AMQP correlation id.
    pub correlation_id: Option<String>,
    /// Routing key.
    pub routing_key: String,
}

impl TestEnv {
    /// Start the S3 server and the emulator (with `emulator`), and connect to the broker.
    pub async fn start(emulator: EmulatorConfig) -> anyhow::Result<TestEnv> {
        init_logs();
        let prefix = format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let s3 = ocr_infra::s3::spawn().await?;
        let emulator = ocr_infra::emulator::spawn(emulator).await?;
        let s3_client = s3_client(&s3.endpoint_url(), s3.access_key(), s3.secret_key());
        let conn = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .context("connecting to RabbitMQ (is it running on 127.0.0.1:5672?)")?;
        let channel = conn.create_channel().await?;
        Ok(TestEnv {
            prefix,
            s3,
            emulator,
            s3_client,
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
        let p = &self.prefix;
        SettingsArgs {
            amqp_url: Some(amqp_url()),
            clova_ocr_invoke_url: Some(self.emulator.invoke_url()),
            clova_ocr_secret: Some(self.emulator.secret().to_string()),
            clova_ocr_rate_per_sec: Some(1000),
            clova_ocr_max_concurrency: Some(8),
            jobs_queue: Some(format!("{p}.jobs")),
            poison_queue: Some(format!("{p}.jobs.poison")),
            results_exchange: Some(format!("{p}.results")),
            results_queue: Some(format!("{p}.results")),
            dead_exchange: Some(format!("{p}.dead")),
            dead_queue: Some(format!("{p}.dead")),
            retry_delays: Some("200ms,400ms".into()),
            queue_expires_secs: Some(600),
            http_listen: Some("127.0.0.1:0".parse().expect("valid")),
            retry_base_ms: Some(20),
            retry_max_ms: Some(500),
            call_timeout_secs: Some(5.0),
            connect_timeout_secs: Some(2.0),
            shutdown_grace_secs: Some(10.0),
            ..Default::default()
        }
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
        let mut props = BasicProperties::default().with_delivery_mode(2);
        if let Some(m) = message_id {
            props = props.with_message_id(m.into());
        }
        if let Some(c) = correlation_id {
            props = props.with_correlation_id(c.into());
        }
        self.channel
            .basic_publish(
                "".into(),
                format!("{}.jobs", self.prefix).as_str().into(),
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await?
            .await?;
        Ok(())
    }

    /// Publish a job for `bucket/key`.
    pub async fn publish_job(&self, job_id: &str, bucket: &str, key: &str) -> anyhow::Result<()> {
        let body = serde_json::json!({"job_id": job_id, "bucket": bucket, "key": key});
        self.publish_raw(
            &serde_json::to_vec(&body)?,
            None,
            Some(&format!("corr-{job_id}")),
        )
        .await
    }

    /// Read `n` outcomes from the results and dead-letter queues (acking them), waiting at most
    /// `timeout` in all. Returns what arrived, fewer than `n` on timeout.
    pub async fn collect(&self, n: usize, timeout: Duration) -> anyhow::Result<Vec<Received>> {
        let ch = self.conn.create_channel().await?;
        let mut results = ch
            .basic_consume(
                format!("{}.results", self.prefix).as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let mut dead = ch
            .basic_consume(
                format!("{}.dead", self.prefix).as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        while out.len() < n {
            let (queue, next) = tokio::select! {
                d = results.next() => ("result", d),
                d = dead.next() => ("dead", d),
                () = tokio::time::sleep_until(deadline) => break,
            };
            let Some(d) = next else { break };
            let d = d?;
            d.ack(BasicAckOptions::default()).await?;
            out.push(Received {
                queue,
                body: serde_json::from_slice(&d.data)?,
                message_id: d.properties.message_id().as_ref().map(|s| s.to_string()),
                correlation_id: d
                    .properties
                    .correlation_id()
                    .as_ref()
                    .map(|s| s.to_string()),
                routing_key: d.routing_key.to_string(),
            });
        }
        let _ = ch.close(200, "done".into()).await;
        Ok(out)
    }

    /// Message count of one of this test's queues (`jobs`, `results`, `dead`...).
    pub async fn queue_len(&self, suffix: &str) -> anyhow::Result<u32> {
        let ch = self.conn.create_channel().await?;
        let q = ch
            .queue_declare(
                format!("{}.{suffix}", self.prefix).as_str().into(),
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
        for q in [
            "jobs",
            "jobs.poison",
            "results",
            "dead",
            "jobs.delay.200ms",
            "jobs.delay.400ms",
        ] {
            let _ = ch
                .queue_delete(
                    format!("{}.{q}", self.prefix).as_str().into(),
                    QueueDeleteOptions::default(),
                )
                .await;
        }
        for e in ["results", "dead"] {
            let _ = ch
                .exchange_delete(
                    format!("{}.{e}", self.prefix).as_str().into(),
                    ExchangeDeleteOptions::default(),
                )
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

/// Validate `value` against `schemas/<name>.schema.json`; panics with every violation.
pub fn assert_schema(name: &str, value: &Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas")
        .join(format!("{name}.schema.json"));
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{name} schema violations: {errors:#?}");
}

/// Path of a workspace binary (`ocr-worker`, `ocr-infra`) next to this test executable.
/// `scripts/test.sh` builds them before the tests.
pub fn binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --bins` first (scripts/test.sh does)",
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
        let p = &self.prefix;
        let mut env: Vec<(String, String)> = vec![
            ("AMQP_URL".into(), amqp_url()),
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
            ("OCR_JOBS_QUEUE".into(), format!("{p}.jobs")),
            ("OCR_POISON_QUEUE".into(), format!("{p}.jobs.poison")),
            ("OCR_RESULTS_EXCHANGE".into(), format!("{p}.results")),
            ("OCR_RESULTS_QUEUE".into(), format!("{p}.results")),
            ("OCR_DEAD_EXCHANGE".into(), format!("{p}.dead")),
            ("OCR_DEAD_QUEUE".into(), format!("{p}.dead")),
            ("OCR_RETRY_DELAYS".into(), "200ms,400ms".into()),
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
        for (k, v) in extra {
            env.retain(|(ek, _)| ek != k);
            env.push(((*k).to_string(), v.clone()));
        }
        env
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
    let out = std::process::Command::new("rabbitmqctl")
        .args(["-q", "list_connections", "pid", "client_properties"])
        .output()?;
    anyhow::ensure!(out.status.success(), "rabbitmqctl list_connections failed");
    let needle = format!("ocr-worker {}.jobs", env.prefix);
    let mut closed = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut parts = line.splitn(2, '\t');
        let (Some(pid), Some(props)) = (parts.next(), parts.next()) else {
            continue;
        };
        // 3.10 has no `user_provided_name` info item; the name is in the client properties.
        if props.contains(&format!("\"{needle}\"")) {
            let st = std::process::Command::new("rabbitmqctl")
                .args([
                    "-q",
                    "close_connection",
                    pid.trim(),
                    "test: broker-side close",
                ])
                .status()?;
            if st.success() {
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
        let mut results = ch
            .basic_consume(
                format!("{}.results", self.prefix).as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let mut dead = ch
            .basic_consume(
                format!("{}.dead", self.prefix).as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let notify = std::sync::Arc::new(tokio::sync::Notify::new());
        let (s, n) = (seen.clone(), notify.clone());
        let task = tokio::spawn(async move {
            let _ch = ch;
            loop {
                let (queue, next) = tokio::select! {
                    d = results.next() => ("result", d),
                    d = dead.next() => ("dead", d),
                };
                let Some(Ok(d)) = next else { return };
                let _ = d.ack(BasicAckOptions::default()).await;
                let body = serde_json::from_slice(&d.data).unwrap_or(Value::Null);
                s.lock().expect("collector lock").push(Received {
                    queue,
                    body,
                    message_id: d.properties.message_id().as_ref().map(|s| s.to_string()),
                    correlation_id: d
                        .properties
                        .correlation_id()
                        .as_ref()
                        .map(|s| s.to_string()),
                    routing_key: d.routing_key.to_string(),
                });
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
