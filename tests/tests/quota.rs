//! The domain's OCR limits, shared by replicas through the presence exchange and adapted to
//! the domain's answers: real broker, real S3-protocol server, real emulator enforcing the
//! limits. Small numbers; the throughput figures come from `bench_quota`.

use std::time::Duration;

use ocr_infra::emulator::{EmulatorConfig, Latency};
use ocr_tests::{
    TestEnv, Truth, WorkerHandle, emulator_admin, emulator_patch, emulator_stats, eventually,
    passport_png,
};
use ocr_worker::config::SettingsArgs;
use serde_json::json;

const BUCKET: &str = "passports";
const WAIT: Duration = Duration::from_secs(20);
const LIMIT: &str = "ocr_worker_ocr_concurrency_limit";
const RATE: &str = "ocr_worker_ocr_rate_share_calls_per_second";

async fn metric(w: &WorkerHandle, name: &str) -> f64 {
    w.metric(name).await.unwrap_or(-1.0)
}

/// A worker spawned with `args`, once it holds the whole domain alone: all `slots` slots.
async fn spawn_alone(env: &TestEnv, args: &SettingsArgs, slots: f64) -> WorkerHandle {
    let w = env.spawn_worker(args.load().unwrap()).await.unwrap();
    eventually(Duration::from_secs(10), || async {
        metric(&w, LIMIT).await == slots
    })
    .await
    .expect("alone, the replica holds the whole domain");
    w
}

async fn upload_jobs(env: &TestEnv, n: u64, seed: u64) {
    for i in 0..n {
        let key = format!("q/{seed}-{i}.png");
        env.put(BUCKET, &key, passport_png(&Truth::synthetic(seed + i)))
            .await
            .unwrap();
    }
    for i in 0..n {
        env.publish_job(
            &format!("job-{seed}-{i}"),
            BUCKET,
            &format!("q/{seed}-{i}.png"),
        )
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn two_replicas_share_the_domain_and_rebalance_when_one_leaves() {
    let env = TestEnv::start(EmulatorConfig {
        max_concurrency: Some(2),
        rate_per_sec: Some(10),
        latency: Latency::Jitter {
            mean_ms: 120,
            jitter_ms: 40,
        },
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    let mut args = env.settings_args();
    args.clova_ocr_rate_per_sec = Some(10.0);
    args.clova_ocr_max_concurrency = Some(2);
    args.presence_heartbeat_ms = Some(200);
    let a = env.spawn_worker(args.load().unwrap()).await.unwrap();
    let b = env.spawn_worker(args.load().unwrap()).await.unwrap();

    // Each settles on half the domain: one slot and 5 calls/s (less the pacing margin).
    eventually(Duration::from_secs(10), || async {
        metric(&a, LIMIT).await == 1.0 && metric(&b, LIMIT).await == 1.0
    })
    .await
    .expect("both replicas settle on one slot each");
    for w in [&a, &b] {
        let r = metric(w, RATE).await;
        assert!((4.9..=5.0).contains(&r), "rate share {r}");
    }

    upload_jobs(&env, 30, 100).await;
    let got = env.collect(30, WAIT).await.unwrap();
    assert_eq!(got.len(), 30);
    for r in &got {
        assert_eq!(r.queue, "result", "{:?}", r.body);
        assert_eq!(r.body["attempts"], json!(1));
    }
    let stats = emulator_stats(&env).await.unwrap();
    assert!(stats.peak_in_flight <= 2, "{stats:?}");
    assert!(
        stats.rejected("0025") <= 2,
        "0025s: {}",
        stats.rejected("0025")
    );
    // Both did part of the work.
    for w in [&a, &b] {
        let m = w.metrics().await.unwrap();
        let ok = m
            .get("ocr_worker_ocr_calls_total{result=\"ok\"}")
            .copied()
            .unwrap_or(0.0);
        assert!(ok >= 5.0, "each replica made calls: {ok}");
    }

    // One leaves: the other takes the whole domain back.
    b.stop().await.unwrap();
    eventually(Duration::from_secs(5), || async {
        metric(&a, LIMIT).await == 2.0 && metric(&a, RATE).await > 9.8
    })
    .await
    .expect("the remaining replica takes the whole domain");
    a.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn backs_off_on_0025_and_does_not_count_it_as_an_attempt() {
    let env = TestEnv::start(EmulatorConfig {
        latency: Latency::Fixed { ms: 80 },
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    let mut args = env.settings_args();
    args.clova_ocr_rate_per_sec = Some(50.0);
    args.clova_ocr_max_concurrency = Some(4);
    args.presence_heartbeat_ms = Some(200);
    let w = spawn_alone(&env, &args, 4.0).await;

    // The domain is tighter than configured: the worker must find out from the 0025s.
    emulator_patch(&env, json!({"max_concurrency": 1}))
        .await
        .unwrap();
    upload_jobs(&env, 24, 200).await;
    eventually(Duration::from_secs(10), || async {
        metric(&w, LIMIT).await < 4.0
    })
    .await
    .expect("the worker backs off on 0025");
    let got = env.collect(24, WAIT).await.unwrap();
    assert_eq!(got.len(), 24);
    for r in &got {
        assert_eq!(r.queue, "result", "{:?}", r.body);
        // Quota refusals are retried in process and never counted as paid attempts.
        assert_eq!(r.body["attempts"], json!(1), "{:?}", r.body);
    }
    let stats = emulator_stats(&env).await.unwrap();
    let rejected = stats.rejected("0025");
    assert!(rejected >= 1, "the cap was hit");
    assert_eq!(stats.billed_total, 24);
    // Backing off keeps refusals well below one per job on average.
    assert!(rejected < 24, "0025s: {rejected}");
    let m = w.metrics().await.unwrap();
    let throttled = m
        .get("ocr_worker_ocr_throttled_total{result=\"0025\"}")
        .copied()
        .unwrap_or(0.0);
    assert_eq!(throttled as u64, rejected);
    w.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn the_period_quota_pauses_and_resumes_without_spending_attempts() {
    let env = TestEnv::start(EmulatorConfig {
        period_quota: Some(2),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    let mut args = env.settings_args();
    // A pause longer than the job deadline, and a retry budget a counted wait would exhaust.
    args.quota_pause_secs = Some(1.5);
    args.job_deadline_secs = Some(1.0);
    args.max_attempts = Some(2);
    let w = env.spawn_worker(args.load().unwrap()).await.unwrap();
    let collector = env.collector().await.unwrap();
    upload_jobs(&env, 6, 300).await;
    // Two calls fit the period; the other four get 0023 and wait in the paused limiter past
    // their deadline, go to a delay stage, come back after the pause, meet 0023 again...
    // Three rounds for each is more than `max_attempts` counted retries would allow.
    eventually(WAIT, || async {
        w.metrics()
            .await
            .ok()
            .and_then(|m| m.get("ocr_worker_jobs_total{outcome=\"retried\"}").copied())
            .unwrap_or(0.0)
            >= 12.0
    })
    .await
    .expect("stuck jobs keep cycling through the delay stage");
    let got = collector.snapshot();
    assert_eq!(
        got.len(),
        2,
        "only the two calls within the period finished: {got:?}"
    );
    assert!(got.iter().all(|r| r.queue == "result"));
    let m = w.metrics().await.unwrap();
    assert!(m["ocr_worker_ocr_throttled_total{result=\"0023\"}"] >= 4.0);
    // The new period starts: the worker resumes by itself.
    emulator_patch(&env, json!({"period_quota": 1000}))
        .await
        .unwrap();
    collector.wait_until(WAIT, |c| c.len() >= 6).await.unwrap();
    let got = collector.snapshot();
    assert_eq!(got.len(), 6);
    for r in &got {
        assert_eq!(r.queue, "result", "{:?}", r.body);
        assert_eq!(r.body["attempts"], json!(1), "0023 is not a paid attempt");
    }
    assert_eq!(emulator_stats(&env).await.unwrap().billed_total, 6);
    w.stop().await.unwrap();
    env.cleanup().await;
}

/// Consumers on this test's work queue, as the broker counts them.
async fn work_consumers(env: &TestEnv) -> u32 {
    let ch = env.conn.create_channel().await.unwrap();
    let q = ch
        .queue_declare(
            env.names.jobs.as_str().into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await
        .unwrap();
    let _ = ch.close(200, "done".into()).await;
    q.consumer_count()
}

fn counter(m: &std::collections::HashMap<String, f64>, name: &str) -> f64 {
    m.get(name).copied().unwrap_or(0.0)
}

/// Issue 12, defect 3: 2 calls/s over 3 replicas leaves the newest one without a share
/// (1 + 1 + 0). Before the fix it still consumed (prefetch 2 × its slot) and the jobs it held
/// waited out their deadline in its limiter and went to a delay stage as failed tries
/// (`retries_exhausted` once the stages ran out). Now it cancels its consumer, stays ready,
/// and every job is done by the two replicas that have a share, first time.
#[tokio::test]
async fn a_replica_without_a_share_takes_no_deliveries() {
    let env = TestEnv::start(EmulatorConfig {
        rate_per_sec: Some(2),
        latency: Latency::Fixed { ms: 30 },
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    let mut args = env.settings_args();
    args.clova_ocr_rate_per_sec = Some(2.0);
    args.clova_ocr_max_concurrency = Some(4);
    args.presence_heartbeat_ms = Some(100);
    // Long enough for the replicas with a share to work through what they hold at 1 call/s
    // (a job that waits for quota longer than this goes to a delay stage as a quota wait).
    args.job_deadline_secs = Some(8.0);
    let mut workers = Vec::new();
    for _ in 0..3 {
        workers.push(env.spawn_worker(args.load().unwrap()).await.unwrap());
    }
    // The oldest two settle on 1 call/s each (less the pacing margin), the newest on none.
    eventually(Duration::from_secs(10), || async {
        let mut rates = Vec::new();
        for w in &workers {
            rates.push(metric(w, RATE).await);
        }
        rates[0] > 0.9 && rates[1] > 0.9 && rates[2] == 0.0
    })
    .await
    .expect("shares 1 + 1 + 0 calls/s");
    let idle = eventually(Duration::from_secs(5), || async {
        work_consumers(&env).await == 2
    })
    .await;
    if idle.is_err() {
        let n = work_consumers(&env).await;
        panic!("the replica without a share still consumes: {n} consumers on the work queue");
    }
    let (status, _) = workers[2].get("/readyz").await.unwrap();
    assert_eq!(status, 200, "idle for want of a share is still ready");

    upload_jobs(&env, 6, 400).await;
    let got = env.collect(6, WAIT).await.unwrap();
    assert_eq!(got.len(), 6);
    for r in &got {
        assert_eq!(r.queue, "result", "{:?}", r.body);
        assert_eq!(r.body["attempts"], json!(1), "{:?}", r.body);
    }
    for (i, w) in workers.iter().enumerate() {
        let m = w.metrics().await.unwrap();
        assert_eq!(
            counter(&m, "ocr_worker_jobs_total{outcome=\"retried\"}"),
            0.0,
            "replica {i} sent a job to a delay stage"
        );
        assert_eq!(w.get("/readyz").await.unwrap().0, 200, "replica {i}");
    }
    let idle = workers[2].metrics().await.unwrap();
    assert_eq!(
        counter(&idle, "ocr_worker_ocr_calls_total{result=\"ok\"}"),
        0.0
    );
    assert_eq!(work_consumers(&env).await, 2);
    for w in workers {
        w.stop().await.unwrap();
    }
    env.cleanup().await;
}

/// Issue 15 (heavy-tailed latency): with `OCR_MIN_SLOTS_PER_REPLICA` at the domain's slots,
/// the oldest replica holds them all and the younger ones stand by without a consumer. When
/// it stops in the middle of a backlog, the next oldest takes the whole domain, but only once
/// the leaver's last calls have left the domain's sliding second: no refusal at any point.
#[tokio::test]
async fn a_minimum_of_slots_puts_the_domain_on_the_oldest_replica() {
    let env = TestEnv::start(EmulatorConfig {
        max_concurrency: Some(4),
        rate_per_sec: Some(20),
        latency: Latency::Fixed { ms: 50 },
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    let mut args = env.settings_args();
    args.clova_ocr_max_concurrency = Some(4);
    args.clova_ocr_rate_per_sec = Some(20.0);
    args.presence_heartbeat_ms = Some(100);
    args.min_slots_per_replica = Some(4);
    let first = spawn_alone(&env, &args, 4.0).await;
    let mut standby = Vec::new();
    for _ in 0..2 {
        standby.push(env.spawn_worker(args.load().unwrap()).await.unwrap());
    }
    // Everyone counts three replicas and the oldest still holds everything.
    let all = [&first, &standby[0], &standby[1]];
    let views = eventually(Duration::from_secs(10), || async {
        for w in all {
            if metric(w, "ocr_worker_replicas").await != 3.0 {
                return false;
            }
        }
        true
    })
    .await;
    views.expect("three replicas in every view");
    let limits = [
        metric(&first, LIMIT).await,
        metric(&standby[0], LIMIT).await,
        metric(&standby[1], LIMIT).await,
    ];
    assert_eq!(limits, [4.0, 0.0, 0.0]);
    eventually(Duration::from_secs(5), || async {
        work_consumers(&env).await == 1
    })
    .await
    .expect("only the replica with the slots consumes");

    // A backlog of 3 s at the domain's rate; the oldest stops a quarter of the way in.
    let jobs = 60;
    let collector = env.collector().await.unwrap();
    upload_jobs(&env, jobs, 700).await;
    collector.wait_until(WAIT, |c| c.len() >= 15).await.unwrap();
    first.stop().await.unwrap();
    eventually(Duration::from_secs(10), || async {
        metric(&standby[0], LIMIT).await == 4.0 && metric(&standby[1], LIMIT).await == 0.0
    })
    .await
    .expect("the next oldest takes the whole domain");
    collector
        .wait_until(WAIT, |c| c.len() >= jobs as usize)
        .await
        .unwrap();
    let got = collector.snapshot();
    let ids: std::collections::HashSet<&str> = got
        .iter()
        .filter_map(|r| r.body["job_id"].as_str())
        .collect();
    assert_eq!(ids.len(), jobs as usize, "every job once");
    for r in &got {
        assert_eq!(r.queue, "result", "{:?}", r.body);
        // A delivery the stopping replica held but had not started goes back to the queue,
        // and the next replica charges that return as a paid try (README, "Delivery
        // guarantees"): 2 at most.
        let attempts = r.body["attempts"].as_u64().unwrap_or(0);
        assert!((1..=2).contains(&attempts), "{:?}", r.body["attempts"]);
    }
    let stats = emulator_stats(&env).await.unwrap();
    assert_eq!(stats.rejected("0025"), 0, "{stats:?}");
    assert!(stats.peak_in_flight <= 4, "{stats:?}");
    let calls = |m: &std::collections::HashMap<String, f64>| {
        counter(m, "ocr_worker_ocr_calls_total{result=\"ok\"}")
    };
    assert!(calls(&standby[0].metrics().await.unwrap()) > 0.0);
    assert_eq!(calls(&standby[1].metrics().await.unwrap()), 0.0);
    assert_eq!(work_consumers(&env).await, 1);
    for w in standby {
        w.stop().await.unwrap();
    }
    env.cleanup().await;
}

/// Issue 12, defect 3: a fractional domain rate (2.5 calls/s) over two replicas is
/// 1.5 + 1 calls/s, and both work.
#[tokio::test]
async fn a_fractional_rate_is_shared() {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    let mut args = env.settings_args();
    args.clova_ocr_rate_per_sec = Some(2.5);
    args.clova_ocr_max_concurrency = Some(4);
    args.presence_heartbeat_ms = Some(100);
    let a = env.spawn_worker(args.load().unwrap()).await.unwrap();
    let b = env.spawn_worker(args.load().unwrap()).await.unwrap();
    let paced = |r: f64| r * (1.0 - ocr_worker::limiter::RATE_MARGIN);
    eventually(Duration::from_secs(10), || async {
        (metric(&a, RATE).await - paced(1.5)).abs() < 1e-6
            && (metric(&b, RATE).await - paced(1.0)).abs() < 1e-6
    })
    .await
    .expect("2.5 calls/s is 1.5 + 1");
    upload_jobs(&env, 4, 500).await;
    let got = env.collect(4, WAIT).await.unwrap();
    assert!(got.iter().all(|r| r.queue == "result"), "{got:?}");
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    env.cleanup().await;
}

/// Issue 12, defect 4: a replica that stops consuming on a configuration error (here its
/// secret is wrong: 0002 on its first call) leaves the presence, so the other replica takes
/// the whole domain. Before the fix it kept heartbeating and its half of the domain was
/// never used again.
#[tokio::test]
async fn a_replica_stopped_on_a_configuration_error_leaves_the_presence() {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    let mut args = env.settings_args();
    args.clova_ocr_rate_per_sec = Some(10.0);
    args.clova_ocr_max_concurrency = Some(2);
    args.presence_heartbeat_ms = Some(100);
    let a = spawn_alone(&env, &args, 2.0).await;
    // Either may take a job: the bad one stops on its first call and nacks its job back,
    // which the good one then does.
    let mut bad = args.clone();
    bad.clova_ocr_secret = Some("not-the-secret".into());
    let b = env.spawn_worker(bad.load().unwrap()).await.unwrap();
    eventually(Duration::from_secs(10), || async {
        metric(&a, LIMIT).await == 1.0 && metric(&b, LIMIT).await == 1.0
    })
    .await
    .expect("both settle on one slot");
    upload_jobs(&env, 4, 600).await;
    b.wait_readyz(503, WAIT)
        .await
        .expect("the bad replica stops");
    let (_, body) = b.get("/readyz").await.unwrap();
    assert!(body.contains("stopped_reason"), "{body}");
    // It left: the good replica takes the whole domain back.
    let took_over = eventually(Duration::from_secs(5), || async {
        metric(&a, LIMIT).await == 2.0 && metric(&a, RATE).await > 9.8
    })
    .await;
    if took_over.is_err() {
        let (slots, rate) = (metric(&a, LIMIT).await, metric(&a, RATE).await);
        panic!("the stopped replica kept its share: the other has {slots} slot(s), {rate} calls/s");
    }
    assert_eq!(
        metric(&b, LIMIT).await,
        0.0,
        "the stopped replica holds nothing"
    );
    let got = env.collect(4, WAIT).await.unwrap();
    assert!(got.iter().all(|r| r.queue == "result"), "{got:?}");
    b.stop().await.unwrap();
    a.stop().await.unwrap();
    env.cleanup().await;
}

/// Issue 15, memory: a bulk job fetches its image only while the process holds fewer than its
/// OCR share plus a read-ahead of as many again (2 slots: 4 images). With the calls held at
/// the emulator and a prefetch of 12, the other 8 deliveries wait unfetched; before the gate
/// all 12 images were read into memory at once.
#[tokio::test]
async fn only_the_share_and_a_read_ahead_of_images_are_fetched() {
    const WAITING: &str = "ocr_worker_jobs_waiting_for_image";
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    let mut args = env.settings_args();
    args.clova_ocr_max_concurrency = Some(2);
    args.prefetch = Some(12);
    let w = spawn_alone(&env, &args, 2.0).await;
    emulator_admin(&env, "hold").await.unwrap();
    let before = env.s3.faults().gets();
    upload_jobs(&env, 12, 700).await;
    // With 2 calls held and 8 jobs at the gate, only the 2 read-ahead jobs could still
    // fetch: 4 GETs is a state nothing leaves until a call ends.
    eventually(WAIT, || async {
        emulator_stats(&env).await.unwrap().held == 2
            && metric(&w, WAITING).await == 8.0
            && env.s3.faults().gets() - before == 4
    })
    .await
    .expect("2 calls held at the emulator, 2 images read ahead, 8 jobs waiting to fetch");
    emulator_admin(&env, "release").await.unwrap();
    let got = env.collect(12, WAIT).await.unwrap();
    assert_eq!(got.len(), 12);
    assert!(got.iter().all(|r| r.queue == "result"), "{got:?}");
    assert_eq!(
        env.s3.faults().gets() - before,
        12,
        "each image fetched once"
    );
    assert_eq!(metric(&w, WAITING).await, 0.0);
    w.stop().await.unwrap();
    env.cleanup().await;
}
