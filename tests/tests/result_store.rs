//! The result store: results and dead letters written to S3 before they are published, and a
//! stored answer reused (normalized again) instead of a second paid OCR call. The emulator's
//! billing counters are the proof: a call it did not bill was not made.

use std::time::Duration;

use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::{Received, TestEnv, Truth, assert_schema, emulator_stats, output_ok, passport_png};
use serde_json::{Value, json};

const BUCKET: &str = "scans";
const STORE: &str = "ocr-store";
const WAIT: Duration = Duration::from_secs(60);

async fn env_with(images: u64) -> TestEnv {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    env.create_bucket(STORE).await.unwrap();
    for i in 0..images {
        env.put(
            BUCKET,
            &format!("in/{i}.png"),
            passport_png(&Truth::synthetic(i)),
        )
        .await
        .unwrap();
    }
    env
}

fn store_settings(env: &TestEnv) -> ocr_worker::config::Settings {
    let mut args = env.settings_args();
    args.results_bucket = Some(STORE.into());
    args.load().unwrap()
}

async fn publish(env: &TestEnv, body: Value) {
    assert_schema("job", &body);
    env.publish_raw(&serde_json::to_vec(&body).unwrap(), None, None)
        .await
        .unwrap();
}

async fn get_json(env: &TestEnv, bucket: &str, key: &str) -> Option<Value> {
    let out = env
        .s3_client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .ok()?;
    let bytes = out.body.collect().await.ok()?.into_bytes();
    Some(serde_json::from_slice(&bytes).unwrap())
}

async fn list(env: &TestEnv, prefix: &str) -> Vec<String> {
    list_in(env, STORE, prefix).await
}

fn results_by_id(got: &[Received]) -> std::collections::HashMap<String, Value> {
    got.iter()
        .map(|r| {
            assert_eq!(r.queue, "result", "{:?}", r.body);
            assert_schema("result", &r.body);
            (
                r.body["job_id"].as_str().unwrap().to_string(),
                r.body.clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_round_of_the_same_images_makes_no_ocr_call() {
    let env = env_with(3).await;
    let worker = env.spawn_worker(store_settings(&env)).await.unwrap();
    // Round one: one job per image, two of them without an ETag (the worker asks with a HEAD).
    for i in 0..3 {
        publish(
            &env,
            json!({"job_id": format!("first-{i}"), "bucket": BUCKET, "key": format!("in/{i}.png")}),
        )
        .await;
    }
    let first = results_by_id(&env.collect(3, WAIT).await.unwrap());
    assert_eq!(first.len(), 3);
    assert_eq!(emulator_stats(&env).await.unwrap().billed_total, 3);
    for r in first.values() {
        assert_eq!(r["reused"], json!(false));
        assert_eq!(r["attempts"], json!(1));
    }
    // Each paid answer is in the store, at its source's key, with the raw CLOVA body.
    let keys = list(&env, "ocr-results/").await;
    assert_eq!(keys.len(), 3, "{keys:?}");
    let etag = first["first-0"]["source"]["etag"]
        .as_str()
        .unwrap()
        .trim_matches('"')
        .to_string();
    let entry_key = format!("ocr-results/{BUCKET}/in/0.png@etag-{etag}.json");
    let entry = get_json(&env, STORE, &entry_key).await.expect("entry");
    assert_eq!(entry["entry_version"], json!(1));
    assert_eq!(entry["normalizer_version"], json!(1));
    assert_eq!(
        entry["clova_response"]["images"][0]["inferResult"],
        "SUCCESS"
    );
    assert_eq!(entry["result"]["passport"], first["first-0"]["passport"]);

    // Round two: new job ids for the same content, with and without the ETag in the job.
    publish(
        &env,
        json!({"job_id": "again-0", "bucket": BUCKET, "key": "in/0.png", "etag": etag}),
    )
    .await;
    for i in 1..3 {
        publish(
            &env,
            json!({"job_id": format!("again-{i}"), "bucket": BUCKET, "key": format!("in/{i}.png")}),
        )
        .await;
    }
    let again = results_by_id(&env.collect(3, WAIT).await.unwrap());
    assert_eq!(
        emulator_stats(&env).await.unwrap().billed_total,
        3,
        "no new OCR call"
    );
    for i in 0..3 {
        let (a, f) = (&again[&format!("again-{i}")], &first[&format!("first-{i}")]);
        assert_eq!(a["reused"], json!(true));
        assert_eq!(a["attempts"], json!(0), "this job paid for nothing");
        assert_eq!(a["passport"], f["passport"]);
        assert_eq!(a["checks"], f["checks"]);
        assert_eq!(a["ocr"]["request_id"], f["ocr"]["request_id"]);
        assert_eq!(a["source"], f["source"]);
    }

    // `force_ocr` pays for a fresh call, and replaces the entry.
    publish(
        &env,
        json!({"job_id": "forced", "bucket": BUCKET, "key": "in/0.png", "force_ocr": true}),
    )
    .await;
    let forced = results_by_id(&env.collect(1, WAIT).await.unwrap());
    assert_eq!(forced["forced"]["reused"], json!(false));
    assert_eq!(emulator_stats(&env).await.unwrap().billed_total, 4);
    let replaced = get_json(&env, STORE, &entry_key).await.unwrap();
    assert_eq!(
        replaced["result"]["ocr"]["request_id"],
        forced["forced"]["ocr"]["request_id"]
    );

    let metrics = reqwest::get(format!("http://{}/metrics", worker.http_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ocr_worker_results_reused_total 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"ocr_worker_result_store_requests_total{op="lookup",result="hit"} 3"#),
        "{metrics}"
    );
    worker.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_answer_is_normalized_again_not_copied() {
    let env = env_with(1).await;
    let worker = env.spawn_worker(store_settings(&env)).await.unwrap();
    publish(
        &env,
        json!({"job_id": "paid", "bucket": BUCKET, "key": "in/0.png"}),
    )
    .await;
    let paid = results_by_id(&env.collect(1, WAIT).await.unwrap());
    let keys = list(&env, "ocr-results/").await;
    assert_eq!(keys.len(), 1);
    // Spoil the stored record (as an old normalizer's bug would have): reuse must not copy it.
    let mut entry = get_json(&env, STORE, &keys[0]).await.unwrap();
    entry["result"]["passport"]["surname"] = json!("WRONG");
    entry["normalizer_version"] = json!(0);
    env.put(STORE, &keys[0], serde_json::to_vec(&entry).unwrap())
        .await
        .unwrap();
    publish(
        &env,
        json!({"job_id": "reused", "bucket": BUCKET, "key": "in/0.png"}),
    )
    .await;
    let reused = results_by_id(&env.collect(1, WAIT).await.unwrap());
    assert_eq!(reused["reused"]["reused"], json!(true));
    assert_eq!(
        reused["reused"]["passport"], paid["paid"]["passport"],
        "normalized again from the stored CLOVA answer"
    );
    assert_ne!(reused["reused"]["passport"]["surname"], json!("WRONG"));
    // An entry that is not an entry is no answer: the next job pays again, and rewrites it.
    env.put(STORE, &keys[0], b"not json".to_vec())
        .await
        .unwrap();
    publish(
        &env,
        json!({"job_id": "after-garbage", "bucket": BUCKET, "key": "in/0.png"}),
    )
    .await;
    let fresh = results_by_id(&env.collect(1, WAIT).await.unwrap());
    assert_eq!(fresh["after-garbage"]["reused"], json!(false));
    assert_eq!(emulator_stats(&env).await.unwrap().billed_total, 2);
    assert!(get_json(&env, STORE, &keys[0]).await.is_some());
    worker.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_stored_under_their_own_prefix() {
    let env = env_with(0).await;
    env.put(BUCKET, "in/notes.txt", b"not an image".to_vec())
        .await
        .unwrap();
    let worker = env.spawn_worker(store_settings(&env)).await.unwrap();
    publish(
        &env,
        json!({"job_id": "missing", "bucket": BUCKET, "key": "in/none.png"}),
    )
    .await;
    publish(
        &env,
        json!({"job_id": "text", "bucket": BUCKET, "key": "in/notes.txt"}),
    )
    .await;
    env.publish_raw(b"{not json", Some("garbage-1"), None)
        .await
        .unwrap();
    let got = env.collect(3, WAIT).await.unwrap();
    assert!(got.iter().all(|r| r.queue == "dead"), "{got:?}");
    let keys = list(&env, "ocr-dead-letters/").await;
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(
        keys.iter()
            .any(|k| k.starts_with("ocr-dead-letters/scans/in/none.png@")),
        "{keys:?}"
    );
    assert!(
        keys.iter()
            .any(|k| k.starts_with("ocr-dead-letters/_unparsed/")),
        "{keys:?}"
    );
    for k in &keys {
        let dl = get_json(&env, STORE, k).await.unwrap();
        assert_schema("dead-letter", &dl);
    }
    assert!(list(&env, "ocr-results/").await.is_empty());
    assert_eq!(emulator_stats(&env).await.unwrap().billed_total, 0);
    worker.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_store_that_refuses_us_stops_consumption_before_any_paid_call() {
    let env = env_with(1).await;
    // As a bucket policy without s3:GetObject on the store's prefix would.
    env.s3.faults().set_deny_prefix(Some("ocr-results/"));
    let settings = store_settings(&env);
    // The job waits in the queue before the worker starts.
    ocr_worker::amqp::declare_topology(&env.conn, &settings)
        .await
        .unwrap();
    publish(
        &env,
        json!({"job_id": "j", "bucket": BUCKET, "key": "in/0.png"}),
    )
    .await;
    let stopped = env.run_until_config_stop(settings).await.unwrap();
    assert!(
        stopped.reason.contains("result store"),
        "{}",
        stopped.reason
    );
    assert_eq!(emulator_stats(&env).await.unwrap().billed_total, 0);
    stopped.finish().await.unwrap();
    // Nothing lost: the job is back in the queue.
    assert_eq!(env.queue_len("jobs").await.unwrap(), 1);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueueing_the_same_prefix_again_makes_no_new_ocr_call() {
    let env = env_with(5).await;
    let worker = env.spawn_worker(store_settings(&env)).await.unwrap();
    let enqueue = |env: &TestEnv| {
        output_ok(&mut env.worker_command(&["enqueue", &format!("s3://{BUCKET}/in/")], &[]));
    };
    enqueue(&env);
    let first = results_by_id(&env.collect(5, WAIT).await.unwrap());
    assert_eq!(first.len(), 5);
    assert!(first.values().all(|r| r["reused"] == json!(false)));
    assert_eq!(emulator_stats(&env).await.unwrap().billed_total, 5);
    // The backfill again: the same job ids (content-derived), and every answer from the store.
    enqueue(&env);
    let again = env.collect(5, WAIT).await.unwrap();
    let again = results_by_id(&again);
    let ids = |m: &std::collections::HashMap<String, Value>| {
        m.keys().cloned().collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(
        ids(&again),
        ids(&first),
        "the same content gets the same job ids"
    );
    assert!(again.values().all(|r| r["reused"] == json!(true)));
    let stats = emulator_stats(&env).await.unwrap();
    assert_eq!(stats.billed_total, 5, "0 new OCR calls");
    assert_eq!(stats.digests_billed_more_than_once, 0);
    worker.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_for_the_stores_own_writes_are_ignored_not_looped() {
    let env = env_with(1).await;
    // The store shares the images' bucket: the set-up the start-up warning is about.
    let mut args = env.settings_args();
    args.results_bucket = Some(BUCKET.into());
    let worker = env.spawn_worker(args.load().unwrap()).await.unwrap();
    let png = passport_png(&Truth::synthetic(0));
    let upload = ocr_tests::s3_notification(BUCKET, "in/0.png", "etag-0", png.len() as u64);
    publish(&env, upload).await;
    let first = env.collect(1, WAIT).await.unwrap();
    assert_eq!(first[0].queue, "result", "{:?}", first[0].body);
    // The bucket now announces the entry the worker just wrote, and a dead letter's copy.
    let keys = list_in(&env, BUCKET, "ocr-results/").await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    for key in [keys[0].as_str(), "ocr-dead-letters/scans/x.png@etag-1.json"] {
        let event = ocr_tests::s3_notification(BUCKET, key, "etag-entry", 100);
        publish(&env, event).await;
    }
    ocr_tests::eventually(WAIT, || async {
        worker.metrics().await.ok().and_then(|m| {
            m.get(r#"ocr_worker_events_ignored_total{reason="own_output"}"#)
                .copied()
        }) == Some(2.0)
    })
    .await
    .unwrap();
    assert_eq!(
        env.queue_len("results").await.unwrap(),
        0,
        "no outcome for them"
    );
    assert_eq!(env.queue_len("dead").await.unwrap(), 0);
    assert_eq!(env.queue_len("jobs").await.unwrap(), 0);
    assert_eq!(emulator_stats(&env).await.unwrap().billed_total, 1);
    worker.stop().await.unwrap();
    env.cleanup().await;
}

async fn list_in(env: &TestEnv, bucket: &str, prefix: &str) -> Vec<String> {
    let out = env
        .s3_client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}
