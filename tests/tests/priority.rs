//! The priority lane: jobs on the priority queue take a freed OCR slot before any bulk job,
//! and bulk keeps its floor of the domain while priority work waits. Real broker, real
//! S3-protocol server, the emulator enforcing the domain's concurrency; small numbers. The
//! latency figures come from `bench_priority` (BENCHMARKS.md).

use std::time::Duration;

use ocr_infra::emulator::{EmulatorConfig, Latency};
use ocr_tests::{Collector, Received, TestEnv, Truth, WorkerHandle, eventually, passport_png};

const BUCKET: &str = "passports";
const WAIT: Duration = Duration::from_secs(60);

async fn metric(w: &WorkerHandle, name: &str) -> f64 {
    w.metric(name).await.unwrap_or(-1.0)
}

fn job_id(r: &Received) -> String {
    r.body["job_id"].as_str().unwrap_or_default().to_string()
}

fn is_priority(r: &Received) -> bool {
    job_id(r).starts_with("prio-")
}

async fn upload(env: &TestEnv, prefix: &str, n: u64, seed: u64) {
    for i in 0..n {
        env.put(
            BUCKET,
            &format!("{prefix}/{i}.png"),
            passport_png(&Truth::synthetic(seed + i)),
        )
        .await
        .unwrap();
    }
}

async fn publish_bulk(env: &TestEnv, n: u64) {
    for i in 0..n {
        env.publish_job(&format!("bulk-{i}"), BUCKET, &format!("bulk/{i}.png"))
            .await
            .unwrap();
    }
}

/// A domain of `slots` OCR calls at once, `latency_ms` each, shared by `replicas` workers
/// holding up to `prefetch` deliveries per lane, bulk floor `min_share`.
async fn domain(
    slots: u32,
    latency_ms: u64,
    replicas: usize,
    prefetch: u16,
    min_share: f64,
) -> (TestEnv, Vec<WorkerHandle>) {
    let env = TestEnv::start(EmulatorConfig {
        max_concurrency: Some(slots),
        latency: Latency::Fixed { ms: latency_ms },
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    let mut args = env.settings_args();
    args.clova_ocr_max_concurrency = Some(slots);
    args.prefetch = Some(prefetch);
    args.bulk_min_share = Some(min_share);
    args.presence_heartbeat_ms = Some(if replicas > 1 { 100 } else { 0 });
    let mut workers = Vec::new();
    for _ in 0..replicas {
        workers.push(env.spawn_worker(args.load().unwrap()).await.unwrap());
    }
    if replicas > 1 {
        // Every replica settled on its share of the domain's slots.
        let per = f64::from(slots) / replicas as f64;
        eventually(Duration::from_secs(15), || async {
            let mut all = true;
            for w in &workers {
                let l = metric(w, "ocr_worker_ocr_concurrency_limit").await;
                all &= l >= per.floor() && l <= per.ceil();
            }
            all
        })
        .await
        .expect("the replicas settle on their shares");
    }
    (env, workers)
}

const BULK_DONE: &str = "ocr_worker_lane_jobs_total{lane=\"bulk\"}";
const PRIORITY_DONE: &str = "ocr_worker_lane_jobs_total{lane=\"priority\"}";

/// Publish one priority job while the backlog runs. Returns how many bulk jobs the replica
/// that ran it finished between its publish and its outcome, and how many bulk jobs were
/// still left then. (Counted on that replica: the others keep running bulk meanwhile, as
/// they should.)
async fn overtake(
    env: &TestEnv,
    outcomes: &Collector,
    workers: &[WorkerHandle],
    total_bulk: usize,
) -> (f64, usize) {
    // The backlog is running: some bulk outcomes are in.
    outcomes
        .wait_until(WAIT, |c| c.len() >= 4)
        .await
        .expect("the backlog runs");
    let mut before = Vec::new();
    for w in workers {
        before.push(metric(w, BULK_DONE).await);
    }
    env.publish_priority_job("prio-0", BUCKET, "prio/0.png")
        .await
        .unwrap();
    outcomes
        .wait_until(WAIT, |c| c.snapshot().iter().any(is_priority))
        .await
        .expect("the priority job has its outcome");
    let mut ran_it = None;
    for (i, w) in workers.iter().enumerate() {
        let bulk = metric(w, BULK_DONE).await;
        if metric(w, PRIORITY_DONE).await == 1.0 {
            ran_it = Some(bulk - before[i]);
        }
    }
    let seen = outcomes.snapshot();
    let p = seen.iter().find(|r| is_priority(r)).unwrap();
    assert!(p.is_result(), "{:?}", p.body);
    assert_eq!(p.body["job_id"], "prio-0");
    let on_its_replica = ran_it.expect("one replica ran the priority job");
    eprintln!("bulk jobs its replica finished before the priority job's outcome: {on_its_replica}");
    let bulk_left = total_bulk - (seen.len() - 1).min(total_bulk);
    (on_its_replica, bulk_left)
}

/// A backlog of `bulk` jobs over `replicas` replicas sharing `slots` slots of 300 ms, each
/// lane holding up to 8 deliveries; one priority job published while it runs. Only the calls
/// in flight on the replica that runs it may finish first, plus up to 3 that the timing of its
/// fetch, its publish and the metrics read can add. Behind a single FIFO it would wait for
/// every bulk delivery that replica holds (8 with 1 replica, measured before the lane).
async fn priority_overtakes(replicas: usize, slots: u32, bulk: usize) {
    let (env, workers) = domain(slots, 300, replicas, 8, 0.0).await;
    upload(&env, "bulk", bulk as u64, 10).await;
    upload(&env, "prio", 1, 500).await;
    let outcomes = env.collector().await.unwrap();
    publish_bulk(&env, bulk as u64).await;
    let (before_it, left) = overtake(&env, &outcomes, &workers, bulk).await;
    let its_slots = f64::from(slots) / replicas as f64;
    assert!(
        before_it <= its_slots.ceil() + 3.0,
        "{before_it} bulk jobs finished on its replica before the priority job's outcome"
    );
    assert!(left >= bulk / 2, "the backlog was still there: {left} left");
    outcomes
        .wait_until(WAIT, |c| c.len() > bulk)
        .await
        .expect("the backlog finishes too");
    assert!(outcomes.snapshot().iter().all(|r| r.is_result()));
    let (mut priority, mut bulk_done) = (0.0, 0.0);
    for w in &workers {
        priority += metric(w, PRIORITY_DONE).await;
        bulk_done += metric(w, BULK_DONE).await;
    }
    assert_eq!(priority, 1.0, "exactly one replica ran it");
    assert_eq!(bulk_done, bulk as f64);
    drop(workers);
    env.cleanup().await;
}

#[tokio::test]
async fn a_priority_job_overtakes_the_backlog_with_one_replica() {
    priority_overtakes(1, 2, 40).await;
}

#[tokio::test]
async fn a_priority_job_overtakes_the_backlog_with_three_replicas() {
    // One slot each: wherever the priority job lands, it waits for that replica's one call.
    priority_overtakes(3, 3, 60).await;
}

#[tokio::test]
async fn bulk_keeps_its_floor_while_the_priority_lane_is_saturated() {
    // 4 slots, a floor of 25 %: one slot stays bulk's while 40 priority jobs wait.
    let (env, workers) = domain(4, 150, 1, 8, 0.25).await;
    upload(&env, "bulk", 30, 10).await;
    for i in 0..40 {
        env.put(
            BUCKET,
            &format!("prio/{i}.png"),
            passport_png(&Truth::synthetic(500 + i)),
        )
        .await
        .unwrap();
    }
    let outcomes = env.collector().await.unwrap();
    // The priority lane first, so it is saturated before bulk arrives.
    for i in 0..40 {
        env.publish_priority_job(&format!("prio-{i}"), BUCKET, &format!("prio/{i}.png"))
            .await
            .unwrap();
    }
    publish_bulk(&env, 30).await;
    outcomes
        .wait_until(WAIT, |c| c.len() >= 70)
        .await
        .expect("every job has its outcome");
    let seen = outcomes.snapshot();
    assert!(seen.iter().all(|r| r.is_result()));
    // While priority jobs were still coming out (up to the 30th priority outcome), bulk got
    // about a quarter of the calls: at least 5, and priority the rest.
    let thirtieth = seen
        .iter()
        .enumerate()
        .filter(|(_, r)| is_priority(r))
        .nth(29)
        .map(|(i, _)| i)
        .unwrap();
    let bulk_meanwhile = seen[..thirtieth].iter().filter(|r| !is_priority(r)).count();
    eprintln!("bulk outcomes before the 30th priority outcome: {bulk_meanwhile}");
    assert!(
        (5..=15).contains(&bulk_meanwhile),
        "bulk outcomes while the lane was saturated: {bulk_meanwhile} (30 priority)"
    );
    drop(workers);
    env.cleanup().await;
}
