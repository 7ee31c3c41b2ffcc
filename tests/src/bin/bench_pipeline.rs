//! Pipeline throughput benchmark: one in-process worker, the in-process S3-protocol server and
//! the OCR emulator with zero latency and no quota, N jobs over a set of distinct images.
//! Reports jobs/s from the first publish to the last outcome; several runs, median.
//!
//! `cargo run --release -p ocr-tests --bin bench_pipeline -- [JOBS] [RUNS] [PREFETCH]`

use std::time::{Duration, Instant};

use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::{TestEnv, Truth, passport_png};

/// Publish one job as `TestEnv::publish_job` does, without its schema check: the benchmark
/// measures the worker, not the test harness's validation.
async fn publish(env: &TestEnv, job_id: &str, key: &str) -> anyhow::Result<()> {
    let body = serde_json::json!({"job_id": job_id, "bucket": "bench", "key": key});
    env.publish_raw(
        &serde_json::to_vec(&body)?,
        None,
        Some(&format!("corr-{job_id}")),
    )
    .await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let jobs: usize = args.get(1).map_or(Ok(5000), |s| s.parse())?;
    let runs: usize = args.get(2).map_or(Ok(3), |s| s.parse())?;
    let prefetch: u16 = args.get(3).map_or(Ok(64), |s| s.parse())?;
    let mut rates = Vec::new();
    let mut p50s = Vec::new();
    for run in 0..runs {
        let env = TestEnv::start(EmulatorConfig::default()).await?;
        env.create_bucket("bench").await?;
        let images = 64;
        for i in 0..images {
            env.put(
                "bench",
                &format!("{i}.png"),
                passport_png(&Truth::synthetic(i)),
            )
            .await?;
        }
        let mut args = env.settings_args();
        args.clova_ocr_rate_per_sec = Some(100_000.0);
        args.clova_ocr_max_concurrency = Some(u32::from(prefetch));
        args.prefetch = Some(prefetch);
        let worker = env.spawn_worker(args.load()?).await?;
        let collector = env.collector().await?;
        let start = Instant::now();
        for i in 0..jobs {
            publish(
                &env,
                &format!("b{i}"),
                &format!("{}.png", i % images as usize),
            )
            .await?;
        }
        collector
            .wait_until(Duration::from_secs(600), |c| c.len() >= jobs)
            .await?;
        let secs = start.elapsed().as_secs_f64();
        let ok = collector
            .snapshot()
            .iter()
            .filter(|r| r.queue == "result")
            .count();
        let rate = jobs as f64 / secs;
        // Latency: one job at a time, publish → outcome (the OCR emulator answers at once, so
        // this is the worker's own overhead: S3 GET, OCR round trip, normalize, confirm).
        let mut lat = Vec::new();
        for i in 0..200 {
            let t = Instant::now();
            publish(
                &env,
                &format!("l{i}"),
                &format!("{}.png", i % images as usize),
            )
            .await?;
            collector
                .wait_until(Duration::from_secs(10), |c| c.len() > jobs + i)
                .await?;
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        lat.sort_by(f64::total_cmp);
        let (p50, p99) = (lat[lat.len() / 2], lat[lat.len() * 99 / 100]);
        println!(
            "run {run}: {jobs} jobs ({ok} results) in {secs:.2} s = {rate:.0} jobs/s; \
             single-job latency p50 {p50:.1} ms, p99 {p99:.1} ms"
        );
        rates.push(rate);
        p50s.push(p50);
        worker.stop().await?;
        env.cleanup().await;
    }
    rates.sort_by(f64::total_cmp);
    p50s.sort_by(f64::total_cmp);
    println!(
        "median over {runs} runs: {:.0} jobs/s (prefetch {prefetch}); single-job latency p50 {:.1} ms",
        rates[rates.len() / 2],
        p50s[p50s.len() / 2]
    );
    Ok(())
}
