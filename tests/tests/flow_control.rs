//! Broker flow control: a resource alarm blocks publishing (`connection.blocked`); the worker
//! starts no new job, waits, and loses nothing.
//!
//! The alarm is broker-wide, so this test lives in its own test binary with a single test:
//! `cargo test` runs test binaries one after another, so no other test of the suite runs while
//! the alarm is raised (see `alarm_support`).

use std::collections::HashSet;
use std::time::Duration;

use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::{TestEnv, Truth, emulator_stats, eventually, passport_png};

mod alarm_support;
use alarm_support::{MemoryAlarm, WAIT, admin_post, blocked_metric_becomes};
use serde_json::json;

const BUCKET: &str = "passports";
const JOBS: usize = 12;
const PREFETCH: u16 = 3;

#[tokio::test]
async fn a_resource_alarm_pauses_the_worker_without_losing_or_repeating_a_job() {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    for i in 0..JOBS {
        env.put(
            BUCKET,
            &format!("p{i}.png"),
            passport_png(&Truth::synthetic(9000 + i as u64)),
        )
        .await
        .unwrap();
    }
    let mut args = env.settings_args();
    args.prefetch = Some(PREFETCH);
    let worker = env.spawn_worker(args.load().unwrap()).await.unwrap();
    let collector = env.collector().await.unwrap();

    // Hold the OCR calls so the first jobs are in flight when the alarm goes up.
    admin_post(&env, "hold").await;
    for i in 0..JOBS {
        env.publish_job(&format!("flow-{i}"), BUCKET, &format!("p{i}.png"))
            .await
            .unwrap();
    }
    eventually(WAIT, || async {
        emulator_stats(&env).await.unwrap().held == u64::from(PREFETCH)
    })
    .await
    .unwrap();
    let alarm = MemoryAlarm::raise_in_effect().await.unwrap();
    admin_post(&env, "release").await;

    // The first outcome publish meets the alarm: the broker blocks the connection and says so.
    blocked_metric_becomes(&worker, 1.0).await;
    let (_, ready) = worker.get("/readyz").await.unwrap();
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    assert_eq!(ready["broker_blocked"], json!(true));
    eventually(WAIT, || async {
        emulator_stats(&env).await.unwrap().billed_total == u64::from(PREFETCH)
    })
    .await
    .unwrap();

    // Blocked: the finished jobs wait in their publish. What must not happen meanwhile is a
    // timeout, reconnect or redelivery that starts or re-runs (and re-pays) jobs; the unacked
    // prefetch keeps further deliveries away anyway. Proving an absence needs a window of
    // time (there is no event for "nothing happened"); one second is many OCR round trips at
    // the emulator's zero latency.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stats = emulator_stats(&env).await.unwrap();
    assert_eq!(
        stats.requests_total,
        u64::from(PREFETCH),
        "no job is started or re-run while publishing is blocked"
    );
    assert!(
        collector.is_empty(),
        "nothing can be published while blocked"
    );
    assert_eq!(
        env.queue_len("jobs").await.unwrap() as usize,
        JOBS - usize::from(PREFETCH),
        "jobs not started stay queued"
    );
    let m = worker.metrics().await.unwrap();
    assert_eq!(
        m.get("ocr_worker_consuming"),
        Some(&1.0),
        "no reconnect churn"
    );
    assert_eq!(m.get("ocr_worker_broker_connections_total"), Some(&1.0));

    drop(alarm);
    collector
        .wait_until(WAIT, |c| c.len() >= JOBS)
        .await
        .unwrap();
    let got = collector.snapshot();
    assert_eq!(got.len(), JOBS, "each job exactly once");
    assert!(got.iter().all(|r| r.queue == "result"), "no job failed");
    let ids: HashSet<_> = got.iter().filter_map(|r| r.message_id.clone()).collect();
    assert_eq!(ids.len(), JOBS);
    let stats = emulator_stats(&env).await.unwrap();
    assert_eq!(stats.billed_total, JOBS as u64, "nobody paid twice");
    assert_eq!(stats.digests_billed_more_than_once, 0);
    blocked_metric_becomes(&worker, 0.0).await;
    worker.stop().await.unwrap();
    env.cleanup().await;
}
