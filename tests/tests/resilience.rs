//! Nothing lost: every job ends as exactly one result or dead letter (after dedup by
//! `message_id`) across SIGKILL, broker-side connection closes, SIGTERM, OCR and S3 faults and
//! malformed input. Sizes are chosen to keep the suite in minutes; `OCR_SOAK=1` multiplies them.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::{
    Received, TestEnv, Truth, by_message_id, close_worker_connections, emulator_patch,
    emulator_stats, eventually, passport_png,
};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const BUCKET: &str = "passports";

fn scale(n: usize) -> usize {
    if std::env::var("OCR_SOAK").is_ok_and(|v| v == "1") {
        n * 10
    } else {
        n
    }
}

async fn env_with_images(images: usize) -> TestEnv {
    let env = TestEnv::start(EmulatorConfig::default())
        .await
        .expect("env");
    env.create_bucket(BUCKET).await.unwrap();
    for i in 0..images {
        env.put(
            BUCKET,
            &format!("img/{i}.png"),
            passport_png(&Truth::synthetic(i as u64)),
        )
        .await
        .unwrap();
    }
    env
}

/// Publish `n` jobs named `{tag}-{i}` over `images` objects; returns the job ids.
async fn publish_jobs(env: &TestEnv, tag: &str, n: usize, images: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let id = format!("{tag}-{i}");
        let body =
            json!({"job_id": id, "bucket": BUCKET, "key": format!("img/{}.png", i % images)});
        env.channel
            .basic_publish(
                "".into(),
                format!("{}.jobs", env.prefix).as_str().into(),
                lapin::options::BasicPublishOptions::default(),
                &serde_json::to_vec(&body).unwrap(),
                lapin::BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

/// Every id has exactly one distinct outcome; returns (duplicates, kinds by id).
fn check_exactly_once(ids: &[String], got: &[Received]) -> (usize, HashMap<String, String>) {
    let by_id = by_message_id(got);
    let mut kinds = HashMap::new();
    for id in ids {
        let outs = by_id
            .get(id)
            .unwrap_or_else(|| panic!("job {id} has no outcome"));
        let first = outs[0];
        let kind = if first.queue == "result" {
            "result".to_string()
        } else {
            first.body["error"]["kind"]
                .as_str()
                .unwrap_or("?")
                .to_string()
        };
        for o in outs {
            assert_eq!(o.queue, first.queue, "{id}: duplicate outcomes disagree");
        }
        kinds.insert(id.clone(), kind);
    }
    let known: HashSet<&String> = ids.iter().collect();
    for k in by_id.keys() {
        assert!(known.contains(k), "outcome for an unknown job {k}");
    }
    (got.len() - by_id.len(), kinds)
}

/// SIGKILL worker processes `kills` times while `n` jobs run (starting with `first`, each at a
/// further `n / (kills + 1)` outcomes), and return the worker that finishes the batch.
async fn kill_during(
    env: &TestEnv,
    extra: &[(&str, String)],
    collector: &ocr_tests::Collector,
    first: ocr_tests::WorkerProcess,
    n: usize,
    kills: usize,
) -> ocr_tests::WorkerProcess {
    let mut first = Some(first);
    for k in 0..kills {
        let w = match first.take() {
            Some(w) => w,
            None => env.spawn_worker_process(extra).await.unwrap(),
        };
        // Let it get well into the batch, then kill it without warning.
        let target = (k + 1) * n / (kills + 1);
        collector
            .wait_until(Duration::from_secs(120), |c| c.len() >= target)
            .await
            .unwrap();
        w.kill9().await.unwrap();
    }
    env.spawn_worker_process(extra).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_batch_loses_nothing() {
    let env = env_with_images(16).await;
    let n = scale(3000);
    let prefetch = 16usize;
    let extra = [("OCR_PREFETCH", prefetch.to_string())];
    // The first worker declares the topology; jobs are published while it runs.
    let first = env.spawn_worker_process(&extra).await.unwrap();
    let collector = env.collector().await.unwrap();
    let ids = publish_jobs(&env, "kill", n, 16).await;
    let kills = 3;
    let w = kill_during(&env, &extra, &collector, first, n, kills).await;
    collector
        .wait_until(Duration::from_secs(180), |c| c.distinct() >= n)
        .await
        .unwrap();
    w.terminate().await.unwrap();
    let got = collector.snapshot();
    let (dups, kinds) = check_exactly_once(&ids, &got);
    assert!(
        kinds.values().all(|k| k == "result"),
        "{:?}",
        kinds
            .values()
            .filter(|k| *k != "result")
            .collect::<Vec<_>>()
    );
    // Duplicates only from the crash window: at most the in-flight deliveries at each kill.
    assert!(
        dups <= kills * prefetch,
        "{dups} duplicates for {kills} kills"
    );
    assert_eq!(env.queue_len("jobs").await.unwrap(), 0);
    assert_eq!(env.queue_len("jobs.poison").await.unwrap(), 0);
    eprintln!("sigkill: {n} jobs, {kills} kills, {dups} duplicates");
    env.cleanup().await;
}

/// With a result store, SIGKILLs cost at most the calls in flight at each kill, and running
/// every image again costs nothing (issue 13's "never pay twice").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_a_result_store_pays_once_per_image_and_a_rerun_pays_nothing() {
    let images = scale(300);
    let env = env_with_images(images).await;
    env.create_bucket("ocr-store").await.unwrap();
    let concurrency = 8usize; // the harness's CLOVA_OCR_MAX_CONCURRENCY
    let extra = [
        ("OCR_PREFETCH", "16".to_string()),
        ("OCR_RESULTS_BUCKET", "ocr-store".to_string()),
    ];
    let first = env.spawn_worker_process(&extra).await.unwrap();
    let collector = env.collector().await.unwrap();
    let ids = publish_jobs(&env, "paid", images, images).await;
    let kills = 3;
    let w = kill_during(&env, &extra, &collector, first, images, kills).await;
    collector
        .wait_until(Duration::from_secs(180), |c| c.distinct() >= images)
        .await
        .unwrap();
    let paid = emulator_stats(&env).await.unwrap();
    let (_, kinds) = check_exactly_once(&ids, &collector.snapshot());
    assert!(kinds.values().all(|k| k == "result"));
    let extra_calls = paid.billed_total as usize - images;
    assert!(
        extra_calls <= kills * concurrency,
        "{extra_calls} extra calls for {kills} kills of at most {concurrency} calls in flight"
    );
    // The same images again, under new job ids: every result comes from the store.
    let rerun = publish_jobs(&env, "rerun", images, images).await;
    collector
        .wait_until(Duration::from_secs(180), |c| c.distinct() >= 2 * images)
        .await
        .unwrap();
    w.terminate().await.unwrap();
    let after = emulator_stats(&env).await.unwrap();
    assert_eq!(
        after.billed_total, paid.billed_total,
        "the rerun paid for nothing"
    );
    let got = collector.snapshot();
    let by_id = by_message_id(&got);
    for id in &rerun {
        let outs = &by_id[id];
        assert!(outs.iter().all(|o| o.body["reused"] == json!(true)), "{id}");
    }
    eprintln!(
        "result store: {images} images, {kills} kills, {} billed ({extra_calls} extra), rerun 0",
        paid.billed_total
    );
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_closing_connections_loses_nothing() {
    let env = env_with_images(16).await;
    let n = scale(1500);
    let worker = env.spawn_worker(env.settings()).await.unwrap();
    let collector = env.collector().await.unwrap();
    let ids = publish_jobs(&env, "close", n, 16).await;
    let closes = 3;
    for k in 0..closes {
        let target = (k + 1) * n / (closes + 1);
        collector
            .wait_until(Duration::from_secs(120), |c| c.len() >= target)
            .await
            .unwrap();
        let closed = close_worker_connections(&env).unwrap();
        assert!(closed >= 1, "no worker connection found to close");
        // Readiness drops, then the worker recovers by itself.
        worker.wait_ready(Duration::from_secs(30)).await.unwrap();
    }
    collector
        .wait_until(Duration::from_secs(180), |c| c.distinct() >= n)
        .await
        .unwrap();
    let m = worker.metrics().await.unwrap();
    assert!(
        m["ocr_worker_broker_connections_total"] >= (closes + 1) as f64,
        "{m:?}"
    );
    worker.stop().await.unwrap();
    let got = collector.snapshot();
    let (dups, kinds) = check_exactly_once(&ids, &got);
    assert!(kinds.values().all(|k| k == "result"));
    assert!(dups <= closes * 16, "{dups} duplicates");
    assert_eq!(env.queue_len("jobs.poison").await.unwrap(), 0);
    eprintln!("close_connections: {n} jobs, {closes} closes, {dups} duplicates");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_jobs_without_duplicates() {
    let env = env_with_images(4).await;
    emulator_patch(&env, json!({"latency": "fixed:300"}))
        .await
        .unwrap();
    let n = 40;
    let w = env
        .spawn_worker_process(&[("OCR_PREFETCH", "8".into())])
        .await
        .unwrap();
    let collector = env.collector().await.unwrap();
    let ids = publish_jobs(&env, "term", n, 4).await;
    // Wait until calls are in flight at the OCR service, then ask for shutdown.
    eventually(Duration::from_secs(30), || async {
        emulator_stats(&env)
            .await
            .map(|s| s.in_flight >= 4)
            .unwrap_or(false)
    })
    .await
    .unwrap();
    let in_flight_then = emulator_stats(&env).await.unwrap().in_flight;
    let status = w.terminate().await.unwrap();
    assert!(status.success(), "worker exit status {status}");
    let done = collector.len();
    assert!(
        done as u64 >= in_flight_then,
        "in-flight jobs were not finished: {done} < {in_flight_then}"
    );
    // Whatever did not finish is still queued: nothing half-done, nothing lost.
    eventually(Duration::from_secs(10), || async {
        env.queue_len("jobs").await.unwrap() as usize + collector.len() == n
    })
    .await
    .unwrap();
    // Finish the rest with a new worker: still no duplicates at all.
    let w = env.spawn_worker_process(&[]).await.unwrap();
    collector
        .wait_until(Duration::from_secs(60), |c| c.distinct() >= n)
        .await
        .unwrap();
    w.terminate().await.unwrap();
    let (dups, _) = check_exactly_once(&ids, &collector.snapshot());
    assert_eq!(dups, 0, "a graceful shutdown never duplicates");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocr_and_s3_faults_end_in_the_right_outcomes() {
    let env = env_with_images(8).await;
    emulator_patch(
        &env,
        json!({"faults": {"error_0500": 0.1, "error_0501": 0.1, "drop_connection": 0.1,
                          "gateway_502": 0.05, "gateway_503": 0.05, "hang": 0.05, "hang_ms": 5000}}),
    )
    .await
    .unwrap();
    env.s3.faults().set_delay(Duration::from_millis(20));
    let mut args = env.settings_args();
    args.call_timeout_secs = Some(1.0);
    args.max_attempts = Some(6);
    args.quick_retries = Some(2);
    let worker = env.spawn_worker(args.load().unwrap()).await.unwrap();
    let collector = env.collector().await.unwrap();
    let n = scale(300);
    let mut ids = publish_jobs(&env, "fault", n, 8).await;
    for i in 0..20 {
        let id = format!("missing-{i}");
        env.publish_job(&id, BUCKET, &format!("nope/{i}.png"))
            .await
            .unwrap();
        ids.push(id);
    }
    collector
        .wait_until(Duration::from_secs(240), |c| c.distinct() >= ids.len())
        .await
        .unwrap();
    worker.stop().await.unwrap();
    let (_, kinds) = check_exactly_once(&ids, &collector.snapshot());
    for (id, kind) in &kinds {
        if id.starts_with("missing-") {
            assert_eq!(kind, "object_not_found", "{id}");
        } else {
            assert!(
                kind == "result" || kind == "retries_exhausted",
                "{id}: {kind}"
            );
        }
    }
    let ok = kinds.values().filter(|k| *k == "result").count();
    assert!(
        ok >= n * 9 / 10,
        "only {ok}/{n} succeeded under a ~45% fault rate with 6 attempts"
    );
    let stats = emulator_stats(&env).await.unwrap();
    assert!(
        stats.faults.values().sum::<u64>() > 0,
        "faults were injected"
    );
    eprintln!(
        "faults: {ok}/{n} succeeded, faults injected {:?}",
        stats.faults
    );
    env.cleanup().await;
}

/// Random malformed job bodies of many shapes.
fn malformed(rng: &mut rand::rngs::StdRng, i: usize) -> Vec<u8> {
    let good_key = || "img/0.png".to_string();
    let v: Value = match rng.random_range(0..14) {
        0 => {
            return (0..rng.random_range(0..200))
                .map(|_| rng.random())
                .collect();
        }
        1 => return b"{\"job_id\": \"x\", ".to_vec(),
        2 => json!([1, 2, 3]),
        3 => json!(null),
        4 => json!({"job_id": i, "bucket": BUCKET, "key": good_key()}),
        5 => json!({"job_id": format!("m{i}"), "bucket": BUCKET}),
        6 => json!({"job_id": format!("m{i}"), "bucket": BUCKET, "key": ""}),
        7 => json!({"job_id": format!("m{i}"), "bucket": BUCKET, "key": "../../etc/passwd"}),
        8 => json!({"job_id": format!("m{i}"), "bucket": BUCKET, "key": "/abs/key.png"}),
        9 => json!({"job_id": format!("m{i}"), "bucket": BUCKET, "key": "k".repeat(5000)}),
        10 => json!({"job_id": format!("m{i}"), "bucket": "NOT_A_BUCKET", "key": good_key()}),
        11 => json!({"job_id": "", "bucket": BUCKET, "key": good_key()}),
        12 => {
            json!({"job_id": format!("m{i}"), "bucket": BUCKET, "key": good_key(), "metadata": "str"})
        }
        _ => {
            json!({"job_id": format!("m{i}"), "bucket": BUCKET, "key": good_key(), "document_type": "visa"})
        }
    };
    serde_json::to_vec(&v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_malformed_jobs_never_crash_or_block() {
    let env = env_with_images(1).await;
    let worker = env.spawn_worker(env.settings()).await.unwrap();
    let collector = env.collector().await.unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let bad = scale(2000);
    let mut good = Vec::new();
    for i in 0..bad {
        // Every malformed message carries its own message_id so its outcome can be matched.
        env.publish_raw(&malformed(&mut rng, i), Some(&format!("bad-{i}")), None)
            .await
            .unwrap();
        if i % 40 == 0 {
            let id = format!("good-{i}");
            env.publish_job(&id, BUCKET, "img/0.png").await.unwrap();
            good.push(id);
        }
    }
    let total = bad + good.len();
    collector
        .wait_until(Duration::from_secs(120), |c| c.len() >= total)
        .await
        .unwrap();
    let got = collector.snapshot();
    let mut invalid = 0;
    for r in &got {
        let id = r.message_id.clone().unwrap_or_default();
        if good.contains(&id) {
            assert_eq!(r.queue, "result", "{id}: {:?}", r.body["error"]);
        } else {
            assert_eq!(r.queue, "dead");
            assert_eq!(
                r.body["error"]["kind"],
                json!("invalid_job"),
                "{:?}",
                r.body["error"]
            );
            invalid += 1;
        }
    }
    assert_eq!(invalid, bad);
    let (code, _) = worker.get("/readyz").await.unwrap();
    assert_eq!(code, 200, "still consuming");
    worker.stop().await.unwrap();
    env.cleanup().await;
}
