//! The worker's own cost per job: CPU (utime + stime of the `ocr-worker` process, from
//! `/proc/<pid>/stat`, idle work included) divided by the jobs, and its peak RSS (`VmHWM`).
//! Setup as issue 15 states it: the in-process S3-protocol server, the OCR emulator with zero
//! latency, multipart requests, plain HTTP, logs at info, JOBS jobs published at once over 64
//! distinct images of IMAGE_KB each. Several runs; the median is reported.
//!
//! `cargo build --release -p ocr-worker -p ocr-tests --bins &&
//!  target/release/bench_cost [JOBS] [RUNS] [IMAGE_KB] [PREFETCH] 2>/dev/null`
//!
//! `BENCH_WORKER_ENV=K=V,...` adds to the worker's environment (e.g. `TOKIO_WORKER_THREADS=1`).

use std::time::Duration;

use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::bench::{CostArgs, Meter, Reading, padded_png};
use ocr_tests::{TestEnv, Truth};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let CostArgs {
        jobs,
        runs,
        image_kb,
        prefetch,
        ..
    } = CostArgs::from_env()?;
    let images = 64u64;
    // More of the worker's environment, for experiments: `BENCH_WORKER_ENV=K=V,K2=V2`.
    let more: Vec<(String, String)> = std::env::var("BENCH_WORKER_ENV")
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut readings = Vec::new();
    for run in 0..runs {
        let env = TestEnv::start(EmulatorConfig::default()).await?;
        env.create_bucket("bench").await?;
        for i in 0..images {
            let png = padded_png(&Truth::synthetic(i), image_kb * 1024);
            env.put("bench", &format!("{i}.png"), png).await?;
        }
        let mut extra = vec![
            ("CLOVA_OCR_RATE_PER_SEC", "100000".to_string()),
            ("CLOVA_OCR_MAX_CONCURRENCY", prefetch.to_string()),
            ("OCR_PREFETCH", prefetch.to_string()),
            ("OCR_REQUEST_MODE", "multipart".to_string()),
            ("RUST_LOG", "info".to_string()),
        ];
        extra.extend(more.iter().map(|(k, v)| (k.as_str(), v.clone())));
        let worker = env.spawn_worker_process(&extra).await?;
        let pid = worker
            .pid()
            .ok_or_else(|| anyhow::anyhow!("no worker pid"))?;
        let collector = env.collector().await?;
        let meter = Meter::start(pid)?;
        for i in 0..jobs {
            let body = serde_json::json!({
                "job_id": format!("c{i}"), "bucket": "bench",
                "key": format!("{}.png", i as u64 % images),
            });
            env.publish_raw(&serde_json::to_vec(&body)?, None, None)
                .await?;
        }
        collector
            .wait_until(Duration::from_secs(600), |c| c.len() >= jobs)
            .await?;
        let reading = meter.finish(jobs)?;
        println!("{}", reading.line(run, jobs, image_kb, "worker"));
        readings.push(reading);
        worker.terminate().await?;
        env.cleanup().await;
    }
    let (cpu, rss, rate) = Reading::medians(&readings);
    println!(
        "median over {runs} runs: {:.0} µs/job, peak RSS {:.1} MB, {:.0} jobs/s \
         ({jobs} jobs, {image_kb} KB images, prefetch {prefetch})",
        cpu, rss, rate
    );
    Ok(())
}
