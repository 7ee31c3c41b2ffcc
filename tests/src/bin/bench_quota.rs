//! Benchmark of the shared OCR quota (see `docs/quota.md`).
//!
//! For each latency model (`--models`, default all three of issue 15) it starts
//! `ocr-infra emulator` enforcing the model's limits, an S3-protocol server (GETs delayed by
//! `--s3-latency`, default 20–80 ms like a regional S3) holding distinct tiny passport PNGs,
//! and for each run and each replica count (`--replicas`, default 1,3,6) that many
//! `ocr-worker run` processes on a fresh queue; with `--kill-at S` also 3 replicas of which one
//! is killed (SIGKILL) at second S. It samples the emulator's counters every second and prints,
//! after warm-up, the calls/s, the mean calls in flight (the growth of the emulator's occupancy
//! integral over the window), the figure that binds (calls/s ÷ rate, or in flight ÷ slots
//! when there is no rate cap) and that figure against the target `min(rate, slots ÷ mean
//! latency)`, the 0025 refusals in the first seconds and after; then the medians over the runs.
//!
//! Models:
//! - `uniform`: 8 slots, 40 calls/s, latency uniform 100–150 ms;
//! - `lognormal`: 8 slots, 40 calls/s, lognormal latency, median 150 ms, σ 0.5 (mean 170 ms);
//! - `concurrency`: 8 slots, no rate cap, latency uniform 1–3 s (the figure is in flight ÷ 8);
//! - `jitter`: the earlier bench, 8 slots, 40 calls/s, 100 ± 50 ms.
//!
//! ```text
//! cargo build --release -p ocr-worker -p ocr-infra -p ocr-tests --bins
//! target/release/bench_quota [--runs 3] [--secs 45] [--warmup 5] [--models uniform,lognormal,concurrency]
//!     [--replicas 1,3,6] [--s3-latency 20-80] [--kill-at 0] [--kill-which youngest|oldest]
//! ```
//!
//! The `ocr-worker` and `ocr-infra` binaries are looked up next to this one (override with
//! `OCR_WORKER_BIN`, `OCR_INFRA_BIN`); RabbitMQ from `AMQP_URL` or 127.0.0.1:5672. The
//! workers inherit this process's environment, so `OCR_MIN_SLOTS_PER_REPLICA=8 bench_quota …`
//! measures that setting.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use ocr_infra::emulator::{Latency, Stats};
use ocr_tests::{Truth, amqp_url, passport_png, s3_client};

const BUCKET: &str = "bench";
const SECRET: &str = "local-secret";
/// The worker's rate when the domain has no rate cap (the emulator enforces none).
const UNCAPPED_WORKER_RATE: f64 = 1000.0;

/// One latency model: the domain's limits and the emulator's latency.
#[derive(Debug, Clone)]
struct Model {
    name: &'static str,
    /// Calls per second of the domain; `None`: no rate cap.
    rate: Option<u32>,
    slots: u32,
    /// What `ocr-infra emulator --latency` is given; the target is derived from its mean.
    latency: Latency,
}

impl Model {
    fn named(name: &str) -> anyhow::Result<Model> {
        let (name, rate, latency) = match name {
            "uniform" => ("uniform", Some(40), "uniform:100..150"),
            "lognormal" => ("lognormal", Some(40), "lognormal:150,0.5"),
            "concurrency" => ("concurrency", None, "uniform:1000..3000"),
            "jitter" => ("jitter", Some(40), "jitter:100+-50"),
            _ => bail!("unknown model {name} (uniform, lognormal, concurrency, jitter)"),
        };
        Ok(Model {
            name,
            rate,
            slots: 8,
            latency: latency.parse()?,
        })
    }

    /// What the slots allow, calls per second: slots ÷ mean latency.
    fn by_slots(&self) -> f64 {
        f64::from(self.slots) / self.latency.mean().as_secs_f64()
    }

    /// The limit that binds, calls per second: `min(rate, slots ÷ mean latency)`.
    fn target(&self) -> f64 {
        self.rate
            .map_or(self.by_slots(), |r| f64::from(r).min(self.by_slots()))
    }
}

struct Opts {
    runs: usize,
    secs: u64,
    warmup: u64,
    kill_at: u64,
    /// Kill the oldest replica (the one `OCR_MIN_SLOTS_PER_REPLICA` gives the slots to first)
    /// rather than the youngest.
    kill_oldest: bool,
    models: Vec<Model>,
    replicas: Vec<usize>,
    s3_latency: (u64, u64),
}

fn opts() -> anyhow::Result<Opts> {
    let mut o = Opts {
        runs: 3,
        secs: 45,
        warmup: 5,
        kill_at: 0,
        kill_oldest: false,
        models: Vec::new(),
        replicas: vec![1, 3, 6],
        s3_latency: (20, 80),
    };
    let mut models = "uniform,lognormal,concurrency".to_string();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().with_context(|| format!("{a} needs a value"))?;
        match a.as_str() {
            "--runs" => o.runs = v.parse()?,
            "--secs" => o.secs = v.parse()?,
            "--warmup" => o.warmup = v.parse()?,
            "--kill-at" => o.kill_at = v.parse()?,
            "--kill-which" => {
                o.kill_oldest = match v.as_str() {
                    "oldest" => true,
                    "youngest" => false,
                    _ => bail!("--kill-which oldest|youngest"),
                }
            }
            "--models" => models = v.clone(),
            "--replicas" => {
                o.replicas = v
                    .split(',')
                    .map(|n| n.trim().parse())
                    .collect::<Result<_, _>>()?
            }
            "--s3-latency" => {
                let (a, b) = v.split_once('-').context("--s3-latency MIN-MAX (ms)")?;
                o.s3_latency = (a.trim().parse()?, b.trim().parse()?);
            }
            _ => bail!(
                "unknown argument {a} (--runs, --secs, --warmup, --kill-at, --kill-which, --models, --replicas, --s3-latency)"
            ),
        }
    }
    o.models = models
        .split(',')
        .map(|m| Model::named(m.trim()))
        .collect::<Result<_, _>>()?;
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
    /// Call-seconds in flight since the scenario began.
    occupancy: f64,
}

/// One scenario's measurements.
#[derive(Debug, Clone, Copy)]
struct Measured {
    calls_per_sec: f64,
    mean_in_flight: f64,
    early_0025: u64,
    late_0025: u64,
    recovery_secs: Option<f64>,
    peak_in_flight: u64,
}

impl Measured {
    /// The figure of issue 15: calls/s ÷ rate, or mean in flight ÷ slots without a rate cap.
    fn binding_pct(&self, m: &Model) -> f64 {
        match m.rate {
            Some(r) => 100.0 * self.calls_per_sec / f64::from(r),
            None => 100.0 * self.mean_in_flight / f64::from(m.slots),
        }
    }

    /// Calls/s against `min(rate, slots ÷ mean latency)`.
    fn target_pct(&self, m: &Model) -> f64 {
        100.0 * self.calls_per_sec / m.target()
    }
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
    model: Model,
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

    /// `worker`, listening on `port` for health, and only once it answers: its presence
    /// start time (which orders ranks) is taken before it serves health.
    async fn worker_in_order(&self, prefix: &str, n: usize) -> anyhow::Result<Child> {
        let port = free_port()?;
        let child = self.worker_on(prefix, n, &format!("127.0.0.1:{port}"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("http://127.0.0.1:{port}/healthz");
        while reqwest::get(&url).await.is_err() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "replica {n} did not start in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(child)
    }

    fn worker(&self, prefix: &str, n: usize) -> anyhow::Result<Child> {
        self.worker_on(prefix, n, "127.0.0.1:0")
    }

    fn worker_on(&self, prefix: &str, n: usize, listen: &str) -> anyhow::Result<Child> {
        let log = std::fs::File::create(self.logs.join(format!("{prefix}-w{n}.log")))?;
        let q = format!("{prefix}.jobs");
        let rate = self
            .model
            .rate
            .map_or(UNCAPPED_WORKER_RATE, f64::from)
            .to_string();
        let child = Command::new(&self.worker_bin)
            .arg("run")
            .env("AMQP_URL", amqp_url())
            .env("CLOVA_OCR_INVOKE_URL", &self.invoke_url)
            .env("CLOVA_OCR_SECRET", SECRET)
            .env("CLOVA_OCR_RATE_PER_SEC", rate)
            .env("CLOVA_OCR_MAX_CONCURRENCY", self.model.slots.to_string())
            .env("OCR_JOBS_QUEUE", &q)
            .env("OCR_POISON_QUEUE", format!("{q}.poison"))
            .env("OCR_RESULTS_EXCHANGE", format!("{prefix}.results"))
            .env("OCR_RESULTS_QUEUE", format!("{prefix}.results"))
            .env("OCR_DEAD_EXCHANGE", format!("{prefix}.dead"))
            .env("OCR_DEAD_QUEUE", format!("{prefix}.dead"))
            .env("OCR_HTTP_LISTEN", listen)
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

    /// The worker declares its queues without `x-expires` (they hold outcomes), so the bench
    /// deletes each scenario's queues and exchanges itself.
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
                "jobs.priority",
                "jobs.priority.delay.5s",
                "jobs.priority.delay.30s",
                "jobs.priority.delay.5m",
            ] {
                let _ = ch
                    .queue_delete(format!("{prefix}.{q}").as_str().into(), Default::default())
                    .await;
            }
            for e in ["results", "dead", "jobs.presence"] {
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
            if kill_at.is_some() && o.kill_oldest {
                // Ranks follow start times: the first started must be the oldest.
                children.push(self.worker_in_order(&prefix, n).await?);
            } else {
                children.push(self.worker(&prefix, n)?);
            }
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
                occupancy: st.in_flight_seconds_total - base.in_flight_seconds_total,
            });
            if Some(s) == kill_at {
                let victim = if o.kill_oldest {
                    children.first_mut()
                } else {
                    children.last_mut()
                }
                .expect("a replica");
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
        // Sustained figures after warm-up (and, in the kill run, before the kill).
        let end = match kill_at {
            Some(k) => &samples[k as usize - 1],
            None => last,
        };
        let window = (end.at - at_warm.at).as_secs_f64();
        let calls_per_sec = (end.billed - at_warm.billed) as f64 / window;
        let mean_in_flight = (end.occupancy - at_warm.occupancy) / window;
        let target = self.model.target();
        let recovery_secs = killed_at.and_then(|k| {
            // First second after the kill from which 3 seconds run at >= 97.5 % of the target.
            let after: Vec<&Sample> = samples.iter().filter(|s| s.at > k).collect();
            after.windows(4).find_map(|w| {
                let rate = (w[3].billed - w[0].billed) as f64 / (w[3].at - w[0].at).as_secs_f64();
                (rate >= 0.975 * target).then(|| (w[0].at - k).as_secs_f64())
            })
        });
        let m = Measured {
            calls_per_sec,
            mean_in_flight,
            early_0025: at_warm.rejected,
            late_0025: last.rejected - at_warm.rejected,
            recovery_secs,
            peak_in_flight: peak,
        };
        println!(
            "  {replicas} replica(s){}: {:.2} calls/s, {:.2} in flight; binding {:.1} %, target {:.1} %; 0025: {} in the first {}s, {} after; peak in flight {}{}",
            if kill_at.is_some() {
                ", one killed"
            } else {
                ""
            },
            m.calls_per_sec,
            m.mean_in_flight,
            m.binding_pct(&self.model),
            m.target_pct(&self.model),
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

/// Start `ocr-infra emulator` for `model` on a free port; wait for its health endpoint.
async fn emulator(
    infra_bin: &Path,
    model: &Model,
    logs: &Path,
    http: &reqwest::Client,
) -> anyhow::Result<(Child, u16)> {
    let port = free_port()?;
    let mut args = vec![
        "emulator".to_string(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--max-concurrency".into(),
        model.slots.to_string(),
        "--latency".into(),
        model.latency.to_string(),
    ];
    if let Some(rate) = model.rate {
        args.extend(["--rate-per-sec".into(), rate.to_string()]);
    }
    let child = Command::new(infra_bin)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(
            logs.join(format!("emulator-{}.log", model.name)),
        )?)
        .spawn()
        .with_context(|| format!("starting {}", infra_bin.display()))?;
    let admin = format!("http://127.0.0.1:{port}/_emulator");
    let deadline = Instant::now() + Duration::from_secs(10);
    while http.get(format!("{admin}/health")).send().await.is_err() {
        if Instant::now() > deadline {
            bail!("the emulator did not start");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((child, port))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = opts()?;
    if o.warmup == 0 || o.warmup >= o.secs {
        bail!("need 0 < warmup < secs");
    }
    if o.runs == 0 || o.replicas.contains(&0) {
        bail!("need at least 1 run and at least 1 replica in each scenario");
    }
    if o.kill_at != 0 && (o.kill_at <= o.warmup || o.kill_at >= o.secs) {
        bail!("need warmup < kill-at < secs (or --kill-at 0: no kill scenario)");
    }
    let infra_bin = sibling("ocr-infra", "OCR_INFRA_BIN");
    let worker_bin = sibling("ocr-worker", "OCR_WORKER_BIN");
    let logs = std::env::temp_dir().join("bench_quota_logs");
    std::fs::create_dir_all(&logs)?;
    let http = reqwest::Client::new();

    let s3 = ocr_infra::s3::spawn().await?;
    let client = s3_client(&s3.endpoint_url(), s3.access_key(), s3.secret_key());
    client.create_bucket().bucket(BUCKET).send().await?;
    // Enough distinct images for the longest run at the fastest target, with room to spare.
    let fastest = o.models.iter().map(Model::target).fold(0.0, f64::max);
    let jobs = ((o.secs as f64 * fastest * 1.5) as usize).max(2000);
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
    let (lo, hi) = o.s3_latency;
    s3.faults()
        .set_get_latency(Duration::from_millis(lo), Duration::from_millis(hi));

    let conn = Connection::connect(&amqp_url(), ConnectionProperties::default()).await?;
    let mut summary = Vec::new();
    for model in &o.models {
        let (mut emu, port) = emulator(&infra_bin, model, &logs, &http).await?;
        let bench = Bench {
            http: http.clone(),
            invoke_url: format!("http://127.0.0.1:{port}/custom/v1/demo/local"),
            admin: format!("http://127.0.0.1:{port}/_emulator"),
            s3_endpoint: s3.endpoint_url(),
            s3_keys: (s3.access_key().to_string(), s3.secret_key().to_string()),
            worker_bin: worker_bin.clone(),
            logs: logs.clone(),
            jobs,
            model: model.clone(),
        };
        println!(
            "model {}: {} slots, {}, latency {} (mean {:.0} ms), S3 GET {lo}-{hi} ms; target {:.2} calls/s ({} binds); {} runs of {} s (warm-up {} s); logs in {}",
            model.name,
            model.slots,
            model
                .rate
                .map_or("no rate cap".to_string(), |r| format!("{r} calls/s")),
            model.latency,
            model.latency.mean().as_secs_f64() * 1000.0,
            model.target(),
            if model.rate.is_some_and(|r| f64::from(r) <= model.by_slots()) {
                "the rate"
            } else {
                "the slots"
            },
            o.runs,
            o.secs,
            o.warmup,
            logs.display()
        );
        let mut names: Vec<String> = o
            .replicas
            .iter()
            .map(|r| format!("{r} replica(s)"))
            .collect();
        if o.kill_at != 0 {
            names.push("3 replicas, one killed".into());
        }
        let mut all: Vec<Vec<Measured>> = Vec::new();
        for run in 1..=o.runs {
            println!("run {run}:");
            let mut row = Vec::new();
            for &n in &o.replicas {
                row.push(bench.scenario(&conn, &o, n, None).await?);
            }
            if o.kill_at != 0 {
                row.push(bench.scenario(&conn, &o, 3, Some(o.kill_at)).await?);
            }
            all.push(row);
        }
        let _ = emu.kill();
        let _ = emu.wait();
        for (i, name) in names.iter().enumerate() {
            let col: Vec<Measured> = all.iter().map(|r| r[i]).collect();
            let line = format!(
                "  {}, {name}: {:.2} calls/s, {:.2} in flight, binding {:.1} % (runs {}), target {:.1} %, 0025 first {}s {}, after {}, peak in flight {}{}",
                model.name,
                median(col.iter().map(|m| m.calls_per_sec).collect()),
                median(col.iter().map(|m| m.mean_in_flight).collect()),
                median(col.iter().map(|m| m.binding_pct(model)).collect()),
                col.iter()
                    .map(|m| format!("{:.1}", m.binding_pct(model)))
                    .collect::<Vec<_>>()
                    .join(" / "),
                median(col.iter().map(|m| m.target_pct(model)).collect()),
                o.warmup,
                median(col.iter().map(|m| m.early_0025 as f64).collect()),
                median(col.iter().map(|m| m.late_0025 as f64).collect()),
                col.iter().map(|m| m.peak_in_flight).max().unwrap_or(0),
                if name.contains("killed") {
                    let rec: Vec<f64> = col.iter().filter_map(|m| m.recovery_secs).collect();
                    format!(
                        ", recovery {:.1} s ({} of {} runs recovered)",
                        median(rec.clone()),
                        rec.len(),
                        col.len()
                    )
                } else {
                    String::new()
                }
            );
            println!("{line}");
            summary.push(line);
        }
    }
    println!("\nmedians over {} runs:", o.runs);
    for line in summary {
        println!("{line}");
    }
    Ok(())
}
