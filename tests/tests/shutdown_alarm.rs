//! Shutdown during a broker resource alarm. While the broker blocks the connection, lapin
//! writes no frames, so a `basic.cancel` or a `basic.qos` on the shutdown path would wait
//! without bound. SIGTERM must still end the worker within its grace period.
//!
//! Its own test binary with a single test: the alarm is broker-wide (see `alarm_support`).

use std::time::Duration;

use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::{TestEnv, Truth, emulator_stats, eventually, passport_png};

mod alarm_support;
use alarm_support::{MemoryAlarm, WAIT, admin_post, blocked_metric_becomes};

const BUCKET: &str = "passports";
const GRACE_SECS: f64 = 2.0;

#[tokio::test]
async fn shutdown_during_a_resource_alarm_ends_within_the_grace_period() {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    env.put(BUCKET, "p.png", passport_png(&Truth::synthetic(4242)))
        .await
        .unwrap();
    let mut args = env.settings_args();
    args.shutdown_grace_secs = Some(GRACE_SECS);
    let worker = env.spawn_worker(args.load().unwrap()).await.unwrap();
    // Hold the OCR call so the job is in flight when the alarm goes up; its outcome publish
    // then meets the alarm and the broker blocks the worker's connection.
    admin_post(&env, "hold").await;
    env.publish_job("alarm-shutdown", BUCKET, "p.png")
        .await
        .unwrap();
    eventually(WAIT, || async {
        emulator_stats(&env).await.unwrap().held == 1
    })
    .await
    .unwrap();
    let alarm = MemoryAlarm::raise_in_effect().await.unwrap();
    admin_post(&env, "release").await;
    blocked_metric_becomes(&worker, 1.0).await;

    // SIGTERM's equivalent. Every broker call on the way out is bounded (1 s each, run side
    // by side where they can; the presence leave and the health server 1 s), so the worker is
    // gone within the grace period plus those few seconds; unbounded, it waits for the alarm.
    let bound = Duration::from_secs_f64(GRACE_SECS) + Duration::from_secs(6);
    let started = std::time::Instant::now();
    let stopped = tokio::time::timeout(bound, worker.stop()).await;
    eprintln!("stopped in {:?} (grace {GRACE_SECS} s)", started.elapsed());
    drop(alarm);
    assert!(
        stopped.is_ok(),
        "the worker did not exit within {bound:?} during a resource alarm"
    );
    stopped.unwrap().unwrap();
    // Nothing was acked without its outcome: the job is redelivered to the next worker.
    eventually(WAIT, || async { env.queue_len("jobs").await.unwrap() == 1 })
        .await
        .unwrap();
    env.cleanup().await;
}
