//! The floor under the worker's cost per job: what the design card's crates cost for the same
//! I/O with none of the worker's own logic. Set up like `bench_cost` (the in-process
//! S3-protocol server, the zero-latency OCR emulator, JOBS jobs published at once over 64
//! distinct images of IMAGE_KB, prefetch PREFETCH, one runtime thread), but the process
//! measured is this binary run as a bare job loop:
//!
//! - `lapin`: one connection, consuming the jobs queue on one channel and publishing with
//!   confirms on another (the worker's session connection does both; it also has a presence
//!   and a queue-stats connection, nearly idle);
//! - per delivery, a task: `serde_json` reads the job, `aws-sdk-s3` GETs the object (path
//!   style, the SDK's default response checksum validation, body into one buffer sized from
//!   Content-Length), `reqwest` POSTs it to the emulator as a multipart CLOVA request and
//!   reads the answer, a small outcome (smaller than the worker's record) is published to
//!   the output queue, and on its confirm the delivery is acked.
//!
//! No parsing of the answer, no normalization, no limiter, presence, metrics, logging,
//! retries, timeouts or per-publish headers: where the two differ, the floor does less. The
//! difference between `bench_cost` and this is an estimate of the worker's own cost.
//!
//! `cargo build --release --locked -p ocr-tests --bins &&
//!  target/release/bench_floor [JOBS] [RUNS] [IMAGE_KB] [PREFETCH] [http-only] 2>/dev/null`
//!
//! `http-only` leaves AMQP out too: the child makes the jobs' two HTTP exchanges on its own,
//! PREFETCH at a time, which is what the S3 GET and the OCR POST alone cost.

use std::time::Duration;

use anyhow::Context as _;
use bytes::BytesMut;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::bench::{CostArgs, Meter, Reading, padded_png};
use ocr_tests::{TestEnv, Truth};

/// Set in the child's environment: run as the bare job loop.
const ROLE: &str = "BENCH_FLOOR_ROLE";

/// Distinct images the jobs cycle through (as in `bench_cost`).
const IMAGES: usize = 64;

fn main() -> anyhow::Result<()> {
    if std::env::var(ROLE).as_deref() == Ok("worker") {
        // One runtime thread, the worker's default.
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?
            .block_on(job_loop())
    } else {
        // The driver hosts the S3 server and the emulator: a runtime like `bench_cost`'s
        // (`#[tokio::main]`, a thread per core), so the servers answer as fast there as here.
        tokio::runtime::Runtime::new()?.block_on(drive())
    }
}

fn var(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} not set"))
}

#[derive(serde::Deserialize)]
struct Job {
    job_id: String,
    bucket: String,
    key: String,
}

/// The bare worker: consume, GET, POST, publish, ack; forever.
async fn job_loop() -> anyhow::Result<()> {
    let amqp = var("AMQP_URL")?;
    let (jobs, out) = (var("FLOOR_JOBS")?, var("FLOOR_OUT")?);
    let prefetch: u16 = var("FLOOR_PREFETCH")?.parse()?;
    let url = format!("{}/document/id-card", var("CLOVA_OCR_INVOKE_URL")?);
    let secret = var("CLOVA_OCR_SECRET")?;
    let shared = aws_config::from_env().load().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(true)
            .build(),
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    if let Ok(n) = std::env::var("FLOOR_HTTP_ONLY") {
        return http_only(n.parse()?, prefetch.into(), s3, http, url, secret).await;
    }
    // One connection for both, as the worker's session does (it also has a presence and a
    // queue-stats connection, which are nearly idle).
    let conn = Connection::connect(&amqp, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    ch.basic_qos(prefetch, BasicQosOptions::default()).await?;
    let pch = conn.create_channel().await?;
    pch.confirm_select(ConfirmSelectOptions::default()).await?;
    let mut deliveries = ch
        .basic_consume(
            jobs.as_str().into(),
            "floor".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    println!("ready");
    while let Some(delivery) = deliveries.next().await {
        let delivery = delivery?;
        let (s3, http, pch) = (s3.clone(), http.clone(), pch.clone());
        let (url, secret, out) = (url.clone(), secret.clone(), out.clone());
        tokio::spawn(async move {
            if let Err(e) = one_job(&delivery, &s3, &http, &pch, &url, &secret, &out).await {
                eprintln!("job failed: {e:#}");
            }
        });
    }
    Ok(())
}

/// One delivery, start to ack.
async fn one_job(
    delivery: &lapin::message::Delivery,
    s3: &aws_sdk_s3::Client,
    http: &reqwest::Client,
    pch: &lapin::Channel,
    url: &str,
    secret: &str,
    out: &str,
) -> anyhow::Result<()> {
    let job: Job = serde_json::from_slice(&delivery.data)?;
    let answer = fetch_and_recognize(&job, s3, http, url, secret).await?;
    // A small outcome (the worker's record is larger): the floor should not be dearer.
    let outcome = format!(
        r#"{{"job_id":"{}","answer_bytes":{}}}"#,
        job.job_id,
        answer.len()
    );
    pch.basic_publish(
        "".into(),
        out.into(),
        BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        },
        outcome.as_bytes(),
        BasicProperties::default()
            .with_delivery_mode(2)
            .with_message_id(job.job_id.into()),
    )
    .await?
    .await?;
    delivery.ack(BasicAckOptions::default()).await?;
    Ok(())
}

/// The two HTTP exchanges of a job: the S3 GET and the OCR POST; the answer's bytes.
async fn fetch_and_recognize(
    job: &Job,
    s3: &aws_sdk_s3::Client,
    http: &reqwest::Client,
    url: &str,
    secret: &str,
) -> anyhow::Result<bytes::Bytes> {
    let got = s3
        .get_object()
        .bucket(&job.bucket)
        .key(&job.key)
        .send()
        .await?;
    let mut buf = BytesMut::with_capacity(got.content_length().unwrap_or(0).max(0) as usize);
    let mut body = got.body;
    while let Some(chunk) = body.next().await {
        buf.extend_from_slice(&chunk?);
    }
    let message = serde_json::json!({
        "version": "V2", "requestId": job.job_id, "timestamp": 0,
        "images": [{ "format": "png", "name": job.job_id }],
    });
    let form = reqwest::multipart::Form::new()
        .text("message", message.to_string())
        .part(
            "file",
            reqwest::multipart::Part::stream(buf.freeze())
                .file_name(format!("{}.png", job.job_id))
                .mime_str("image/png")?,
        );
    Ok(http
        .post(url)
        .header("X-OCR-SECRET", secret)
        .multipart(form)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?)
}

/// No AMQP at all: on "go" from stdin, `n` jobs' HTTP exchanges, `concurrency` at a time;
/// "done" on stdout when they are over.
async fn http_only(
    n: usize,
    concurrency: usize,
    s3: aws_sdk_s3::Client,
    http: reqwest::Client,
    url: String,
    secret: String,
) -> anyhow::Result<()> {
    println!("ready");
    let mut go = String::new();
    tokio::io::AsyncBufReadExt::read_line(
        &mut tokio::io::BufReader::new(tokio::io::stdin()),
        &mut go,
    )
    .await?;
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let permit = gate.clone().acquire_owned().await?;
        let (s3, http, url, secret) = (s3.clone(), http.clone(), url.clone(), secret.clone());
        tasks.spawn(async move {
            let job = Job {
                job_id: format!("c{i}"),
                bucket: "bench".into(),
                key: format!("{}.png", i % IMAGES),
            };
            let r = fetch_and_recognize(&job, &s3, &http, &url, &secret).await;
            drop(permit);
            r
        });
        while let Some(done) = tasks.try_join_next() {
            done??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    println!("done");
    std::future::pending::<()>().await;
    Ok(())
}

/// The driver: servers, queues, images; per run, the job loop as a child process, JOBS jobs,
/// and its CPU until every answer is in the output queue.
async fn drive() -> anyhow::Result<()> {
    let CostArgs {
        jobs,
        runs,
        image_kb,
        prefetch,
        rest,
    } = CostArgs::from_env()?;
    // `http-only`: no AMQP at all, the child runs the jobs' HTTP exchanges on its own.
    let http_only = rest.first().map(String::as_str) == Some("http-only");
    let mut readings = Vec::new();
    for run in 0..runs {
        let env = TestEnv::start(EmulatorConfig::default()).await?;
        env.create_bucket("bench").await?;
        for i in 0..IMAGES {
            let png = padded_png(&Truth::synthetic(i as u64), image_kb * 1024);
            env.put("bench", &format!("{i}.png"), png).await?;
        }
        let worker_env = env.worker_env(&[]);
        let amqp = worker_env
            .iter()
            .find(|(k, _)| k == "AMQP_URL")
            .map(|(_, v)| v.clone())
            .context("no AMQP_URL")?;
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let (jobs_q, out_q) = (format!("floor.{tag}.jobs"), format!("floor.{tag}.out"));
        let conn = Connection::connect(&amqp, ConnectionProperties::default()).await?;
        let ch = conn.create_channel().await?;
        for q in [&jobs_q, &out_q] {
            let mut args = FieldTable::default();
            args.insert(
                "x-queue-type".into(),
                lapin::types::AMQPValue::LongString("quorum".into()),
            );
            ch.queue_declare(
                q.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                args,
            )
            .await?;
        }
        let mut cmd = tokio::process::Command::new(std::env::current_exe()?);
        cmd.env_clear()
            .envs(worker_env)
            .env(ROLE, "worker")
            .env("FLOOR_JOBS", &jobs_q)
            .env("FLOOR_OUT", &out_q)
            .env("FLOOR_PREFETCH", prefetch.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        if http_only {
            cmd.env("FLOOR_HTTP_ONLY", jobs.to_string());
        }
        let mut child = cmd.spawn()?;
        let pid = child.id().context("no child pid")?;
        let mut ready = tokio::io::BufReader::new(child.stdout.take().context("no stdout")?);
        let mut line = String::new();
        tokio::io::AsyncBufReadExt::read_line(&mut ready, &mut line).await?;
        anyhow::ensure!(
            line.trim() == "ready",
            "the job loop did not start: {line:?}"
        );
        ch.basic_qos(500, BasicQosOptions::default()).await?;
        let mut answers = ch
            .basic_consume(
                out_q.as_str().into(),
                "driver".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        let meter = Meter::start(pid)?;
        if http_only {
            let mut stdin = child.stdin.take().context("no stdin")?;
            tokio::io::AsyncWriteExt::write_all(&mut stdin, b"go\n").await?;
            line.clear();
            tokio::io::AsyncBufReadExt::read_line(&mut ready, &mut line).await?;
            anyhow::ensure!(line.trim() == "done", "the HTTP loop failed: {line:?}");
        }
        for i in (0..jobs).filter(|_| !http_only) {
            let body = serde_json::json!({
                "job_id": format!("c{i}"), "bucket": "bench",
                "key": format!("{}.png", i % IMAGES),
            });
            env.publish_raw_to(&jobs_q, &serde_json::to_vec(&body)?, None, None)
                .await?;
        }
        let mut seen = 0;
        while seen < jobs && !http_only {
            tokio::time::timeout(Duration::from_secs(120), answers.next())
                .await
                .context("no answer for 120 s: see the job loop's stderr")?
                .context("output consumer ended")??;
            seen += 1;
        }
        let reading = meter.finish(jobs)?;
        println!("{}", reading.line(run, jobs, image_kb, "job loop"));
        readings.push(reading);
        child.kill().await?;
        for q in [&jobs_q, &out_q] {
            ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await?;
        }
        env.cleanup().await;
    }
    let (cpu, rss, rate) = Reading::medians(&readings);
    println!(
        "median over {runs} runs: {:.0} µs/job, peak RSS {:.1} MB, {:.0} jobs/s \
         ({jobs} jobs, {image_kb} KB images, prefetch {prefetch}; the bare job loop{})",
        cpu,
        rss,
        rate,
        if http_only { ", HTTP only" } else { "" }
    );
    Ok(())
}
