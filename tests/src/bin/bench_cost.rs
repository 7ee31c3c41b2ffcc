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

use std::time::{Duration, Instant};

use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::{TestEnv, Truth, passport_png};

/// A valid PNG of about `bytes` bytes with `truth` embedded: the tiny passport PNG with a
/// private ancillary chunk of padding before its end (decoders skip it; the size is real).
fn padded_png(truth: &Truth, bytes: usize) -> Vec<u8> {
    let png = passport_png(truth);
    let (head, tail) = png.split_at(png.len() - 12); // IEND chunk
    let pad = vec![0x5au8; bytes.saturating_sub(png.len() + 12)];
    let mut out = Vec::with_capacity(bytes);
    out.extend_from_slice(head);
    out.extend_from_slice(&(pad.len() as u32).to_be_bytes());
    out.extend_from_slice(b"paDd");
    out.extend_from_slice(&pad);
    out.extend_from_slice(&[0, 0, 0, 0]); // a CRC readers of ancillary chunks do not check
    out.extend_from_slice(tail);
    out
}

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the `(comm)`, which may hold spaces: state is field 3, utime 14, stime 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow::anyhow!("unreadable /proc/{pid}/stat"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15: the 12th and 13th after the comm.
    let field = |i: usize| -> anyhow::Result<f64> {
        Ok(f.get(i)
            .ok_or_else(|| anyhow::anyhow!("/proc/{pid}/stat has {} fields after comm", f.len()))?
            .parse()?)
    };
    let ticks = field(11)? + field(12)?;
    Ok(ticks / clock_ticks_per_second())
}

/// `getconf CLK_TCK` (100 on every Linux this runs on; read rather than assumed).
fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// `VmHWM` of `pid`, in MB.
fn peak_rss_mb(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .ok_or_else(|| anyhow::anyhow!("no VmHWM"))?
        .parse()?;
    Ok(kb / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let jobs: usize = args.get(1).map_or(Ok(1500), |s| s.parse())?;
    let runs: usize = args.get(2).map_or(Ok(3), |s| s.parse())?;
    let image_kb: usize = args.get(3).map_or(Ok(300), |s| s.parse())?;
    let prefetch: usize = args.get(4).map_or(Ok(32), |s| s.parse())?;
    let images = 64u64;
    // More of the worker's environment, for experiments: `BENCH_WORKER_ENV=K=V,K2=V2`.
    let more: Vec<(String, String)> = std::env::var("BENCH_WORKER_ENV")
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (mut cpu, mut rss, mut rate) = (Vec::new(), Vec::new(), Vec::new());
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
        let before = cpu_seconds(pid)?;
        let start = Instant::now();
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
        let secs = start.elapsed().as_secs_f64();
        let used = cpu_seconds(pid)? - before;
        let hwm = peak_rss_mb(pid)?;
        let per_job_us = used / jobs as f64 * 1e6;
        println!(
            "run {run}: {jobs} jobs of {image_kb} KB in {secs:.2} s ({:.0} jobs/s); worker CPU \
             {used:.2} s = {per_job_us:.0} µs/job; peak RSS {hwm:.1} MB",
            jobs as f64 / secs
        );
        cpu.push(per_job_us);
        rss.push(hwm);
        rate.push(jobs as f64 / secs);
        worker.terminate().await?;
        env.cleanup().await;
    }
    println!(
        "median over {runs} runs: {:.0} µs/job, peak RSS {:.1} MB, {:.0} jobs/s \
         ({jobs} jobs, {image_kb} KB images, prefetch {prefetch})",
        median(cpu),
        median(rss),
        median(rate)
    );
    Ok(())
}
