//! Benchmark of the priority lane under a saturating backfill (issue 14, BENCHMARKS.md).
//!
//! The emulator allows 8 simultaneous calls with latency uniform over 200–250 ms and no rate
//! cap; S3 latency injection is off. For 1 and for 3 `ocr-worker run` processes: 5,000 bulk
//! jobs are queued on the jobs queue and run at the cap; after a 5 s warm-up, 50 priority
//! jobs are published one at a time at random intervals of 0.3–1 s. Reported per run and as
//! medians over the runs:
//!
//! - the priority jobs' end-to-end latency, publish → result read from the results queue:
//!   p50 and p99 (nearest rank; of 50 jobs, p99 is the slowest but one… the 50th);
//! - domain use while they arrive: the emulator's mean admitted calls in flight ÷ 8 (from its
//!   occupancy integral, `in_flight_seconds_total`).
//!
//! ```text
//! cargo build --release -p ocr-worker -p ocr-infra -p ocr-tests --bins
//! target/release/bench_priority [RUNS=3] [BULK=5000] [PRIORITY=50]
//! ```

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use lapin::types::FieldTable;
use ocr_infra::emulator::{EmulatorConfig, Latency};
use ocr_tests::{TestEnv, Truth, emulator_stats, passport_png};
use rand::Rng as _;

const SLOTS: u32 = 8;
const IMAGES: u64 = 200;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

/// Nearest-rank percentile `p` (0–100) of `v`.
fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

struct Run {
    p50_ms: f64,
    p99_ms: f64,
    use_ratio: f64,
}

async fn run(replicas: usize, bulk: usize, priority: usize) -> anyhow::Result<Run> {
    let env = TestEnv::start(EmulatorConfig {
        max_concurrency: Some(SLOTS),
        latency: Latency::Uniform {
            min_ms: 200,
            max_ms: 250,
        },
        ..EmulatorConfig::default()
    })
    .await?;
    env.create_bucket("bench").await?;
    for i in 0..IMAGES {
        env.put(
            "bench",
            &format!("{i}.png"),
            passport_png(&Truth::synthetic(i)),
        )
        .await?;
    }
    let extra = [
        ("CLOVA_OCR_RATE_PER_SEC", "100000".to_string()),
        ("CLOVA_OCR_MAX_CONCURRENCY", SLOTS.to_string()),
        ("RUST_LOG", "warn".to_string()),
    ];
    let mut workers = Vec::new();
    for _ in 0..replicas {
        workers.push(env.spawn_worker_process(&extra).await?);
    }
    // Arrival times of results, by job id, read as the worker publishes them; `arrived`
    // fires on each.
    let arrivals: std::sync::Arc<std::sync::Mutex<HashMap<String, Instant>>> = Default::default();
    let arrived = std::sync::Arc::new(tokio::sync::Notify::new());
    let ch = env.conn.create_channel().await?;
    let mut results = ch
        .basic_consume(
            env.names.results_queue.as_str().into(),
            "bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let (seen, tell) = (arrivals.clone(), arrived.clone());
    let reader = tokio::spawn(async move {
        while let Some(Ok(d)) = results.next().await {
            let at = Instant::now();
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&d.data)
                && let Some(id) = v["job_id"].as_str()
                && id.starts_with("prio-")
            {
                seen.lock().expect("arrivals").insert(id.to_string(), at);
                tell.notify_waiters();
            }
            let _ = d.ack(BasicAckOptions::default()).await;
        }
    });
    for i in 0..bulk {
        let body = serde_json::json!({
            "job_id": format!("bulk-{i}"), "bucket": "bench",
            "key": format!("{}.png", i as u64 % IMAGES),
        });
        env.publish_raw(&serde_json::to_vec(&body)?, None, None)
            .await?;
    }
    // Warm-up: the backfill runs at the cap.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = emulator_stats(&env).await?;
    let start = Instant::now();
    let mut published = HashMap::new();
    let mut rng = rand::rng();
    for i in 0..priority {
        let id = format!("prio-{i}");
        let body = serde_json::json!({
            "job_id": id, "bucket": "bench", "key": format!("{}.png", i as u64 % IMAGES),
        });
        let t = Instant::now();
        env.publish_raw_to(&env.names.priority, &serde_json::to_vec(&body)?, None, None)
            .await?;
        published.insert(id, t);
        let gap = rng.random_range(300..=1000);
        tokio::time::sleep(Duration::from_millis(gap)).await;
    }
    let after = emulator_stats(&env).await?;
    let window = start.elapsed().as_secs_f64();
    // The last priority results.
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let next = arrived.notified();
            if arrivals.lock().expect("arrivals").len() >= priority {
                break;
            }
            next.await;
        }
    })
    .await;
    let got = arrivals.lock().expect("arrivals").clone();
    let lat: Vec<f64> = published
        .iter()
        .filter_map(|(id, t)| {
            got.get(id)
                .map(|a| a.duration_since(*t).as_secs_f64() * 1e3)
        })
        .collect();
    anyhow::ensure!(
        lat.len() == priority,
        "{} of {priority} priority results arrived",
        lat.len()
    );
    let use_ratio = (after.in_flight_seconds_total - before.in_flight_seconds_total)
        / window
        / f64::from(SLOTS);
    reader.abort();
    for w in workers {
        w.terminate().await?;
    }
    env.cleanup().await;
    Ok(Run {
        p50_ms: percentile(&lat, 50.0),
        p99_ms: percentile(&lat, 99.0),
        use_ratio,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args.get(1).map_or(Ok(3), |s| s.parse())?;
    let bulk: usize = args.get(2).map_or(Ok(5000), |s| s.parse())?;
    let priority: usize = args.get(3).map_or(Ok(50), |s| s.parse())?;
    println!(
        "emulator: {SLOTS} simultaneous calls, latency uniform 200–250 ms, no rate cap; \
         {bulk} bulk jobs, {priority} priority jobs at 0.3–1 s intervals; {runs} runs"
    );
    for replicas in [1, 3] {
        let mut all = Vec::new();
        for r in 1..=runs {
            let m = run(replicas, bulk, priority).await?;
            println!(
                "  {replicas} replica(s), run {r}: priority p50 {:.0} ms, p99 {:.0} ms; \
                 domain use {:.3}",
                m.p50_ms, m.p99_ms, m.use_ratio
            );
            all.push(m);
        }
        println!(
            "{replicas} replica(s), median of {runs}: priority p50 {:.0} ms, p99 {:.0} ms; \
             domain use {:.3}",
            median(all.iter().map(|m| m.p50_ms).collect()),
            median(all.iter().map(|m| m.p99_ms).collect()),
            median(all.iter().map(|m| m.use_ratio).collect()),
        );
    }
    Ok(())
}
