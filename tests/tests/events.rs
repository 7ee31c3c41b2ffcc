//! End to end, event intake: bucket events in the shapes the worker reads (an S3 notification
//! inside an SNS envelope, an EventBridge "Object Created" event) are jobs for real uploaded
//! images; the S3 test event and MinIO's `s3:ObjectCreated:PutTagging` are acked with no
//! outcome, no S3 request and no OCR call, and counted in `ocr_worker_events_ignored_total`.

use std::collections::HashMap;
use std::time::Duration;

use ocr_common::job::object_job_id;
use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::{
    TestEnv, Truth, assert_schema, emulator_stats, eventbridge_object_created, eventually,
    minio_event, passport_png, s3_notification, s3_test_event, sns_notification,
};
use serde_json::{Value, json};

const BUCKET: &str = "passports";
const WAIT: Duration = Duration::from_secs(30);

fn ignored(m: &HashMap<String, f64>, reason: &str) -> f64 {
    m.get(&format!(
        "ocr_worker_events_ignored_total{{reason=\"{reason}\"}}"
    ))
    .copied()
    .unwrap_or(f64::NAN)
}

fn ignored_total(m: &HashMap<String, f64>) -> f64 {
    m.iter()
        .filter(|(k, _)| k.starts_with("ocr_worker_events_ignored_total{"))
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test]
async fn sns_and_eventbridge_events_are_jobs_and_test_and_tagging_events_are_ignored() {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    let worker = env.spawn_worker(env.settings()).await.unwrap();

    // Three distinct real images: one announced through SNS, one through EventBridge, one
    // only tagged. The keys need encoding in an S3 notification and none in EventBridge.
    let via_sns = (
        "inbox/via sns+1.png",
        "inbox/via+sns%2B1.png",
        Truth::synthetic(61),
    );
    let via_eb = "inbox/via eventbridge+1%.png";
    let eb_truth = Truth::synthetic(62);
    let tagged = "inbox/tagged.png";
    let mut objects = HashMap::new();
    for (key, truth) in [
        (via_sns.0, &via_sns.2),
        (via_eb, &eb_truth),
        (tagged, &Truth::synthetic(63)),
    ] {
        env.put(BUCKET, key, passport_png(truth)).await.unwrap();
        let head = env
            .s3_client
            .head_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
        let etag = head.e_tag().unwrap().to_string();
        objects.insert(key, (etag, head.content_length().unwrap() as u64));
    }
    let before = worker.metrics().await.unwrap();
    assert_eq!(ignored_total(&before), 0.0, "{before:?}");
    for reason in ["test_event", "metadata_only", "sns_control", "own_output"] {
        assert_eq!(ignored(&before, reason), 0.0, "{reason} is exported at 0");
    }

    let (etag, size) = &objects[via_sns.0];
    let sns = sns_notification(&s3_notification(BUCKET, via_sns.1, etag, *size));
    assert_schema("job", &sns);
    let (etag, size) = &objects[via_eb];
    // EventBridge's ETag has no quotes.
    let eb = eventbridge_object_created(BUCKET, via_eb, etag.trim_matches('"'), *size);
    assert_schema("job", &eb);
    let test_event = s3_test_event(BUCKET);
    assert_schema("job", &test_event);
    let (etag, size) = &objects[tagged];
    let tagging = minio_event("s3:ObjectCreated:PutTagging", BUCKET, tagged, etag, *size);
    assert_schema("job", &tagging);
    // The ignored ones first: they must not hold up, or be taken for, the jobs behind them.
    for (body, corr) in [
        (&test_event, "test"),
        (&tagging, "tagging"),
        (&sns, "sns"),
        (&eb, "eventbridge"),
    ] {
        env.publish_raw(&serde_json::to_vec(body).unwrap(), None, Some(corr))
            .await
            .unwrap();
    }

    let got = env.collect(2, WAIT).await.unwrap();
    assert_eq!(got.len(), 2, "{got:?}");
    let mut by_corr: HashMap<&str, &Value> = HashMap::new();
    for r in &got {
        assert_eq!(r.queue, "result", "{:?}", r.body);
        assert_schema("result", &r.body);
        by_corr.insert(r.correlation_id.as_deref().unwrap_or("-"), &r.body);
    }
    let mut outcomes_for: Vec<&str> = by_corr.keys().copied().collect();
    outcomes_for.sort();
    assert_eq!(
        outcomes_for,
        ["eventbridge", "sns"],
        "outcomes for the two jobs, none for the ignored events"
    );
    let sns_result = by_corr["sns"];
    assert_eq!(sns_result["source"]["key"], json!(via_sns.0), "URL-decoded");
    assert_eq!(sns_result["passport"]["number"], json!(via_sns.2.number));
    assert_eq!(
        sns_result["job_id"],
        json!(object_job_id(
            BUCKET,
            via_sns.0,
            Some(&objects[via_sns.0].0)
        ))
    );
    let e = &sns_result["metadata"]["s3_event"];
    assert_eq!(e["format"], "s3_notification");
    assert_eq!(e["sns_message_id"], "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324");
    let eb_result = by_corr["eventbridge"];
    assert_eq!(eb_result["source"]["key"], json!(via_eb), "taken as it is");
    assert_eq!(eb_result["passport"]["number"], json!(eb_truth.number));
    assert_eq!(
        eb_result["job_id"],
        json!(object_job_id(BUCKET, via_eb, Some(&objects[via_eb].0))),
        "the backfill's id for the same object"
    );
    let e = &eb_result["metadata"]["s3_event"];
    assert_eq!(e["format"], "eventbridge");
    assert_eq!(e["reason"], "PutObject");

    // The two ignored events are acked: the counter moves once each, by reason.
    eventually(WAIT, || async {
        worker
            .metrics()
            .await
            .is_ok_and(|m| ignored_total(&m) >= 2.0)
    })
    .await
    .expect("both ignored events counted");
    let m = worker.metrics().await.unwrap();
    assert_eq!(ignored_total(&m), 2.0, "{m:?}");
    assert_eq!(ignored(&m, "test_event"), 1.0);
    assert_eq!(ignored(&m, "metadata_only"), 1.0);
    assert_eq!(m["ocr_worker_jobs_total{outcome=\"ignored\"}"], 2.0);
    assert_eq!(m["ocr_worker_jobs_total{outcome=\"succeeded\"}"], 2.0);
    assert_eq!(m["ocr_worker_jobs_total{outcome=\"dead_lettered\"}"], 0.0);
    assert_eq!(
        m["ocr_worker_job_duration_seconds_count{outcome=\"ignored\"}"],
        2.0
    );
    // Before any S3 request: two GETs in all, the two jobs'.
    assert_eq!(
        m["ocr_worker_s3_fetch_duration_seconds_count{result=\"ok\"}"],
        2.0
    );
    assert_eq!(
        m["ocr_worker_s3_fetch_duration_seconds_count{result=\"error\"}"],
        0.0
    );
    // And no OCR call: two calls reached the emulator, one per job image.
    let stats = emulator_stats(&env).await.unwrap();
    assert_eq!(stats.requests_total, 2, "{stats:?}");
    assert_eq!(stats.billed_total, 2);
    assert_eq!(stats.billed_by_digest.len(), 2);
    // No outcome for the ignored ones, and nothing left unacked or queued.
    assert_eq!(env.queue_len("results").await.unwrap(), 0);
    assert_eq!(env.queue_len("dead").await.unwrap(), 0);
    assert_eq!(env.queue_len("jobs").await.unwrap(), 0);
    worker.stop().await.unwrap();
    env.cleanup().await;
}
