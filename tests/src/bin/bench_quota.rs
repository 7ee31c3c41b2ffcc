//! Benchmark of the shared OCR quota (see `docs/quota.md`).
//!
//! Starts `ocr-infra emulator` enforcing 8 simultaneous calls and 40 calls/s (latency
//! 100 ± 50 ms), an S3-protocol server, uploads distinct tiny passport PNGs, and for each run:
//! 1 replica, 3 replicas, and 3 replicas of which one is killed (SIGKILL) mid-run, each as
//! `ocr-worker run` processes on a fresh queue. It samples the emulator's counters every
//! second and prints the sustained calls/s after warm-up, the 0025 refusals in the first
//! seconds and after, and the time the survivors take to climb back to the cap after the kill;
//! then the medians over the runs.
//!
//! ```text
//! cargo build --release -p ocr-worker -p ocr-infra -p ocr-tests --bins
//! target/release/bench_quota [--runs 3] [--secs 40] [--warmup 5]
//! ```
//!
//! The `ocr-worker` and `ocr-infra` binaries are looked up next to this one (override with
//! `OCR_WORKER_BIN`, `OCR_INFRA_BIN`); RabbitMQ from `AMQP_URL` or 127.0.0.1:5672.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use ocr_infra::emulator::Stats;
use ocr_tests::{Truth, amqp_url, passport_png, s3_client};

const RATE: u32 = 40;
const CONCURRENCY: u32 = 8;
const BUCKET: &str = "bench";
const SECRET: &str = "local-secret";

struct Opts {
    runs: usize,
    secs: u64,
    warmup: u64,
    kill_at: u64,
}

fn opts() -> anyhow::Result<Opts> {
    let mut o = Opts {
        runs: 3,
        secs: 40,
        warmup: 5,
        kill_at: 15,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().with_context(|| format!("{a} needs a value"))?;
        match a.as_str() {
            "--runs" => o.runs = v.parse()?,
            "--secs" => o.secs = v.parse()?,
            "--warmup" => o.warmup = v.parse()?,
            "--kill-at" => o.kill_at = v.parse()?,
            _ => bail!("unknown argument {a} (--runs, --secs, --warmup, --kill-at)"),
        }
    }
    Ok(o)
}

fn sibling(name: &str, env: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env) {
        return p.into();
    }
    let me = std::env::current_exe().expect("own path");
    me.with_file_name(name)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

struct Sample {
    at: Duration,
    billed: u64,
    rejected: u64,
}

/// One scenario's measurements.
#[derive(Debug, Clone, Copy)]
struct Measured {
    calls_per_sec: f64,
    early_0025: u64,
    late_0025: u64,
    recovery_secs: Option<f64>,
    peak_in_flight: u64,
}

struct Bench {
    http: reqwest::Client,
    admin: String,
    invoke_url: String,
    s3_endpoint: String,
    s3_keys: (String, String),
    worker_bin: PathBuf,
    logs: PathBuf,
    jobs: usize,
}

impl Bench {
    async fn stats(&self) -> anyhow::Result<Stats> {
        Ok(self
            .http
            .get(format!("{}/stats", self.admin))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    fn worker(&self, prefix: &str, n: usize) -> anyhow::Result<Child> {
        let log = std::fs::File::create(self.logs.join(format!("{prefix}-w{n}.log")))?;
        let q = format!("{prefix}.jobs");
        let child = Command::new(&self.worker_bin)
            .arg("run")
            .env("AMQP_URL", amqp_url())
            .env("CLOVA_OCR_INVOKE_URL", &self.invoke_url)
            .env("CLOVA_OCR_SECRET", SECRET)
            .env("CLOVA_OCR_RATE_PER_SEC", RATE.to_string())
            .env("CLOVA_OCR_MAX_CONCURRENCY", CONCURRENCY.to_string())
            .env("OCR_JOBS_QUEUE", &q)
            .env("OCR_POISON_QUEUE", format!("{q}.poison"))
            .env("OCR_RESULTS_EXCHANGE", format!("{prefix}.results"))
            .env("OCR_RESULTS_QUEUE", format!("{prefix}.results"))
            .env("OCR_DEAD_EXCHANGE", format!("{prefix}.dead"))
            .env("OCR_DEAD_QUEUE", format!("{prefix}.dead"))
            .env("OCR_QUEUE_EXPIRES_SECS", "300")
            .env("OCR_HTTP_LISTEN", "127.0.0.1:0")
            .env("OCR_SHUTDOWN_GRACE_SECS", "2")
            .env("AWS_ENDPOINT_URL", &self.s3_endpoint)
            .env("AWS_ACCESS_KEY_ID", &self.s3_keys.0)
            .env("AWS_SECRET_ACCESS_KEY", &self.s3_keys.1)
            .env("AWS_REGION", "us-east-1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.worker_bin.display()))?;
        Ok(child)
    }

    /// Wait for the work queue to exist (the workers declare it), then publish every job.
    async fn enqueue(&self, conn: &Connection, prefix: &str) -> anyhow::Result<()> {
        let q = format!("{prefix}.jobs");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ch = conn.create_channel().await?;
            let ok = ch
                .queue_declare(
                    q.as_str().into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .is_ok();
            if ok {
                let _ = ch.close(200, "ok".into()).await;
                break;
            }
            if Instant::now() > deadline {
                bail!("the workers never declared {q}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let ch = conn.create_channel().await?;
        ch.confirm_select(ConfirmSelectOptions::default()).await?;
        let mut confirms = Vec::with_capacity(self.jobs);
        for i in 0..self.jobs {
            let body = serde_json::json!({
                "job_id": format!("{prefix}-{i}"),
                "bucket": BUCKET,
                "key": format!("p/{i}.png"),
            });
            confirms.push(
                ch.basic_publish(
                    "".into(),
                    q.as_str().into(),
                    BasicPublishOptions::default(),
                    &serde_json::to_vec(&body)?,
                    BasicProperties::default().with_delivery_mode(2),
                )
                .await?,
            );
        }
        for c in confirms {
            c.await?;
        }
        let _ = ch.close(200, "ok".into()).await;
        Ok(())
    }

    async fn delete_queues(&self, conn: &Connection, prefix: &str) {
        if let Ok(ch) = conn.create_channel().await {
            for q in [
                "jobs",
                "jobs.poison",
                "results",
                "dead",
                "jobs.delay.5s",
                "jobs.delay.30s",
                "jobs.delay.5m",
            ] {
                let _ = ch
                    .queue_delete(format!("{prefix}.{q}").as_str().into(), Default::default())
                    .await;
            }
            for e in ["results", "dead"] {
                let _ = ch
                    .exchange_delete(format!("{prefix}.{e}").as_str().into(), Default::default())
                    .await;
            }
        }
    }

    /// Run `replicas` workers for `secs`; with `kill_at`, SIGKILL one of them at that second.
    async fn scenario(
        &self,
        conn: &Connection,
        o: &Opts,
        replicas: usize,
        kill_at: Option<u64>,
    ) -> anyhow::Result<Measured> {
        let prefix = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let mut children = Vec::new();
        for n in 0..replicas {
            children.push(self.worker(&prefix, n)?);
        }
        self.enqueue(conn, &prefix).await?;
        let base = self.stats().await?;
        let start = Instant::now();
        let mut samples = Vec::new();
        let mut killed_at = None;
        for s in 1..=o.secs {
            tokio::time::sleep_until((start + Duration::from_secs(s)).into()).await;
            let st = self.stats().await?;
            samples.push(Sample {
                at: start.elapsed(),
                billed: st.billed_total - base.billed_total,
                rejected: st.rejected("0025") - base.rejected("0025"),
            });
            if Some(s) == kill_at {
                let victim = children.last_mut().expect("a replica");
                victim.kill()?; // SIGKILL: no leaving message, no drain
                let _ = victim.wait();
                killed_at = Some(start.elapsed());
            }
        }
        let peak = self.stats().await?.peak_in_flight;
        for c in &mut children {
            // SIGTERM: graceful.
            let _ = Command::new("kill")
                .arg(c.id().to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        for c in &mut children {
            let _ = c.wait();
        }
        self.delete_queues(conn, &prefix).await;
        let warm = o.warmup as usize;
        let last = samples.last().expect("samples");
        let at_warm = &samples[warm - 1];
        // Sustained rate after warm-up (and, in the kill run, before the kill).
        let end = match kill_at {
            Some(k) => &samples[k as usize - 1],
            None => last,
        };
        let calls_per_sec =
            (end.billed - at_warm.billed) as f64 / (end.at - at_warm.at).as_secs_f64();
        let recovery_secs = killed_at.and_then(|k| {
            // First second after the kill from which 3 seconds run at >= 97.5 % of the cap.
            let after: Vec<&Sample> = samples.iter().filter(|s| s.at > k).collect();
            after.windows(4).find_map(|w| {
                let rate = (w[3].billed - w[0].billed) as f64 / (w[3].at - w[0].at).as_secs_f64();
                (rate >= 0.975 * f64::from(RATE)).then(|| (w[0].at - k).as_secs_f64())
            })
        });
        let m = Measured {
            calls_per_sec,
            early_0025: at_warm.rejected,
            late_0025: last.rejected - at_warm.rejected,
            recovery_secs,
            peak_in_flight: peak,
        };
        println!(
            "  {replicas} replica(s){}: {:.2} calls/s after warm-up ({:.1} % of {RATE}); 0025: {} in the first {}s, {} after; peak in flight {}{}",
            if kill_at.is_some() {
                ", one killed"
            } else {
                ""
            },
            m.calls_per_sec,
            100.0 * m.calls_per_sec / f64::from(RATE),
            m.early_0025,
            o.warmup,
            m.late_0025,
            m.peak_in_flight,
            match (kill_at, m.recovery_secs) {
                (Some(k), Some(r)) => format!("; killed at {k}s, back at the cap after {r:.1}s"),
                (Some(k), None) => format!("; killed at {k}s, NOT back at the cap"),
                _ => String::new(),
            }
        );
        let per_sec: Vec<u64> = samples
            .windows(2)
            .map(|w| w[1].billed - w[0].billed)
            .collect();
        println!("    calls per second: {per_sec:?}");
        Ok(m)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = opts()?;
    if o.warmup == 0 || o.warmup >= o.secs || o.kill_at <= o.warmup || o.kill_at >= o.secs {
        bail!("need 0 < warmup < kill-at < secs");
    }
    let infra_bin = sibling("ocr-infra", "OCR_INFRA_BIN");
    let worker_bin = sibling("ocr-worker", "OCR_WORKER_BIN");
    let logs = std::env::temp_dir().join("bench_quota_logs");
    std::fs::create_dir_all(&logs)?;

    let port = free_port()?;
    let mut emulator = Command::new(&infra_bin)
        .args([
            "emulator",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--max-concurrency",
            &CONCURRENCY.to_string(),
            "--rate-per-sec",
            &RATE.to_string(),
            "--latency",
            "jitter:100+-50",
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(logs.join("emulator.log"))?)
        .spawn()
        .with_context(|| format!("starting {}", infra_bin.display()))?;
    let http = reqwest::Client::new();
    let admin = format!("http://127.0.0.1:{port}/_emulator");
    let deadline = Instant::now() + Duration::from_secs(10);
    while http.get(format!("{admin}/health")).send().await.is_err() {
        if Instant::now() > deadline {
            bail!("the emulator did not start");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let s3 = ocr_infra::s3::spawn().await?;
    let client = s3_client(&s3.endpoint_url(), s3.access_key(), s3.secret_key());
    client.create_bucket().bucket(BUCKET).send().await?;
    // Enough distinct images for the longest run at the cap, with room to spare.
    let jobs = (o.secs as usize * RATE as usize * 3 / 2).max(2000);
    println!("uploading {jobs} distinct images...");
    let uploads = futures::stream::iter(0..jobs).map(|i| {
        let client = client.clone();
        async move {
            client
                .put_object()
                .bucket(BUCKET)
                .key(format!("p/{i}.png"))
                .body(passport_png(&Truth::synthetic(i as u64)).into())
                .send()
                .await
                .map(|_| ())
        }
    });
    use futures::StreamExt as _;
    let results: Vec<_> = uploads.buffer_unordered(32).collect().await;
    for r in results {
        r?;
    }

    let bench = Bench {
        http,
        invoke_url: format!("http://127.0.0.1:{port}/custom/v1/demo/local"),
        admin,
        s3_endpoint: s3.endpoint_url(),
        s3_keys: (s3.access_key().to_string(), s3.secret_key().to_string()),
        worker_bin,
        logs: logs.clone(),
        jobs,
    };
    let conn = Connection::connect(&amqp_url(), ConnectionProperties::default()).await?;
    println!(
        "emulator: {CONCURRENCY} simultaneous, {RATE} calls/s, latency 100±50 ms; {} runs of {} s (warm-up {} s, kill at {} s); logs in {}",
        o.runs,
        o.secs,
        o.warmup,
        o.kill_at,
        logs.display()
    );
    let mut all: Vec<[Measured; 3]> = Vec::new();
    for run in 1..=o.runs {
        println!("run {run}:");
        let one = bench.scenario(&conn, &o, 1, None).await?;
        let three = bench.scenario(&conn, &o, 3, None).await?;
        let kill = bench.scenario(&conn, &o, 3, Some(o.kill_at)).await?;
        all.push([one, three, kill]);
    }
    let _ = emulator.kill();
    let _ = emulator.wait();

    println!("\nmedians over {} runs:", o.runs);
    for (i, name) in ["1 replica", "3 replicas", "3 replicas, one killed"]
        .iter()
        .enumerate()
    {
        let col: Vec<Measured> = all.iter().map(|r| r[i]).collect();
        let rate = median(col.iter().map(|m| m.calls_per_sec).collect());
        let early = median(col.iter().map(|m| m.early_0025 as f64).collect());
        let late = median(col.iter().map(|m| m.late_0025 as f64).collect());
        let peak = col.iter().map(|m| m.peak_in_flight).max().unwrap_or(0);
        print!(
            "  {name}: {rate:.2} calls/s ({:.1} % of {RATE}), 0025 first {}s {early}, after {late}, peak in flight {peak}",
            100.0 * rate / f64::from(RATE),
            o.warmup
        );
        if i == 2 {
            let rec: Vec<f64> = col.iter().filter_map(|m| m.recovery_secs).collect();
            print!(
                ", recovery {:.1} s ({} of {} runs recovered)",
                median(rec.clone()),
                rec.len(),
                col.len()
            );
        }
        println!();
    }
    Ok(())
}
