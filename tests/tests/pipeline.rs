//! End to end: a job on RabbitMQ → image from the S3-protocol server → OCR emulator → result
//! or dead letter, through a real worker built exactly as `main` builds it.

use std::time::Duration;

use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::{
    Recognition, TestEnv, Truth, assert_schema, emulator_patch, emulator_stats, eventually,
    passport_jpeg, passport_png, s3_notification,
};
use ocr_worker::config::RequestMode;
use serde_json::{Value, json};

const BUCKET: &str = "passports";
const WAIT: Duration = Duration::from_secs(30);

async fn env() -> TestEnv {
    let env = TestEnv::start(EmulatorConfig::default())
        .await
        .expect("test env");
    env.create_bucket(BUCKET).await.expect("bucket");
    env
}

fn assert_matches_truth(body: &Value, truth: &Truth) {
    let p = &body["passport"];
    assert_eq!(p["number"], json!(truth.number));
    assert_eq!(p["surname"], json!(truth.surname));
    assert_eq!(p["given_names"], json!(truth.given_names));
    assert_eq!(p["birth_date"], json!(truth.birth_date.to_string()));
    assert_eq!(p["issue_date"], json!(truth.issue_date.to_string()));
    assert_eq!(p["expiry_date"], json!(truth.expiry_date.to_string()));
    assert_eq!(p["sex"], json!(truth.sex));
    assert_eq!(p["nationality"], json!(truth.nationality));
    assert_eq!(p["issuing_country"], json!(truth.issuing_country));
    assert_eq!(p["document_code"], json!(truth.document_code));
    assert_eq!(p["full_name_korean"], json!(truth.full_name_korean));
    assert_eq!(body["checks"]["mrz_valid"], json!(true));
    assert_eq!(body["checks"]["mrz_matches_visual"], json!(true));
}

async fn happy_path(mode: RequestMode) {
    let env = env().await;
    let mut args = env.settings_args();
    args.request_mode = Some(mode);
    let worker = env.spawn_worker(args.load().unwrap()).await.unwrap();
    let png_truth = Truth::synthetic(1);
    let jpg_truth = Truth::synthetic(2);
    env.put(BUCKET, "a/one.png", passport_png(&png_truth))
        .await
        .unwrap();
    // The key's extension lies: the format comes from the magic bytes.
    env.put(BUCKET, "a/two.png", passport_jpeg(&jpg_truth))
        .await
        .unwrap();
    env.publish_job("job-png", BUCKET, "a/one.png")
        .await
        .unwrap();
    let meta = json!({"job_id":"job-jpg","bucket":BUCKET,"key":"a/two.png","metadata":{"tenant":"t1","n":[1,2]}});
    assert_schema("job", &meta);
    env.publish_raw(&serde_json::to_vec(&meta).unwrap(), None, Some("corr-jpg"))
        .await
        .unwrap();
    let got = env.collect(2, WAIT).await.unwrap();
    assert_eq!(got.len(), 2, "{got:?}");
    for r in &got {
        assert_eq!(r.queue, "result", "{:?}", r.body);
        assert_schema("result", &r.body);
        assert_eq!(r.routing_key, "passport.succeeded");
        let id = r.body["job_id"].as_str().unwrap();
        assert_eq!(r.message_id.as_deref(), Some(id));
        assert_eq!(r.body["attempts"], json!(1));
        assert_eq!(r.body["schema_version"], json!(3));
        match id {
            "job-png" => {
                assert_matches_truth(&r.body, &png_truth);
                assert_eq!(r.body["source"]["format"], json!("png"));
                assert_eq!(r.correlation_id.as_deref(), Some("corr-job-png"));
            }
            "job-jpg" => {
                assert_matches_truth(&r.body, &jpg_truth);
                assert_eq!(r.body["source"]["format"], json!("jpg"));
                assert_eq!(r.body["metadata"], json!({"tenant":"t1","n":[1,2]}));
                assert_eq!(r.correlation_id.as_deref(), Some("corr-jpg"));
            }
            other => panic!("unexpected job {other}"),
        }
    }
    let stats = emulator_stats(&env).await.unwrap();
    assert_eq!(stats.billed_total, 2);
    worker.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn happy_path_multipart() {
    happy_path(RequestMode::Multipart).await;
}

#[tokio::test]
async fn happy_path_json() {
    happy_path(RequestMode::Json).await;
}

fn one_page_pdf_twice() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n2 0 obj << /Type /Page >> endobj\n%%EOF\n"
        .to_vec()
}

#[tokio::test]
async fn every_dead_letter_kind() {
    let env = env().await;
    let mut args = env.settings_args();
    args.allowed_buckets = Some(vec![BUCKET.into()]);
    args.max_image_bytes = Some(200_000);
    args.max_attempts = Some(2);
    args.quick_retries = Some(1);
    let worker = env.spawn_worker(args.load().unwrap()).await.unwrap();
    emulator_patch(&env, json!({"max_image_bytes": 150_000}))
        .await
        .unwrap();

    let with = |f: &dyn Fn(&mut Truth)| {
        let mut t = Truth::synthetic(7);
        f(&mut t);
        passport_png(&t)
    };
    let mut objects: Vec<(&str, Vec<u8>)> = vec![
        (
            "unrecognized.png",
            with(&|t| t.recognition = Recognition::Failure),
        ),
        (
            "license.png",
            with(&|t| t.recognition = Recognition::DriversLicense),
        ),
        ("gif.png", b"GIF89a\x01\x00\x01\x00".to_vec()),
        ("two-pages.pdf", one_page_pdf_twice()),
        ("cut.png", passport_png(&Truth::synthetic(8))[..60].to_vec()),
        ("huge.jpg", vec![0xFF; 300_000]),
        // Under the worker's cap, over the emulator's: the service refuses it (0011).
        ("big.png", {
            let mut b = passport_png(&Truth::synthetic(9));
            let tail = b.split_off(b.len() - 12); // IEND chunk
            // A private ancillary chunk of padding keeps the PNG valid.
            let pad = vec![0u8; 160_000];
            b.extend_from_slice(&(pad.len() as u32).to_be_bytes());
            b.extend_from_slice(b"paDd");
            b.extend_from_slice(&pad);
            b.extend_from_slice(&[0, 0, 0, 0]);
            b.extend_from_slice(&tail);
            b
        }),
        ("forbidden/x.png", passport_png(&Truth::synthetic(10))),
        ("glacier/x.png", passport_png(&Truth::synthetic(11))),
    ];
    env.s3.faults().set_deny_prefix(Some("forbidden/"));
    env.s3.faults().set_archived_prefix(Some("glacier/"));
    for (key, bytes) in objects.drain(..) {
        env.put(BUCKET, key, bytes).await.unwrap();
    }
    let jobs: Vec<(String, Value)> = vec![
        (
            "dl-unrec".into(),
            json!({"job_id":"dl-unrec","bucket":BUCKET,"key":"unrecognized.png"}),
        ),
        (
            "dl-license".into(),
            json!({"job_id":"dl-license","bucket":BUCKET,"key":"license.png"}),
        ),
        (
            "dl-gif".into(),
            json!({"job_id":"dl-gif","bucket":BUCKET,"key":"gif.png"}),
        ),
        (
            "dl-pdf".into(),
            json!({"job_id":"dl-pdf","bucket":BUCKET,"key":"two-pages.pdf"}),
        ),
        (
            "dl-cut".into(),
            json!({"job_id":"dl-cut","bucket":BUCKET,"key":"cut.png"}),
        ),
        (
            "dl-huge".into(),
            json!({"job_id":"dl-huge","bucket":BUCKET,"key":"huge.jpg"}),
        ),
        (
            "dl-big".into(),
            json!({"job_id":"dl-big","bucket":BUCKET,"key":"big.png"}),
        ),
        (
            "dl-denied".into(),
            json!({"job_id":"dl-denied","bucket":BUCKET,"key":"forbidden/x.png"}),
        ),
        (
            "dl-archived".into(),
            json!({"job_id":"dl-archived","bucket":BUCKET,"key":"glacier/x.png"}),
        ),
        (
            "dl-missing".into(),
            json!({"job_id":"dl-missing","bucket":BUCKET,"key":"nope.png"}),
        ),
        (
            "dl-bucket".into(),
            json!({"job_id":"dl-bucket","bucket":"other-bucket","key":"x.png"}),
        ),
        (
            "dl-badkey".into(),
            json!({"job_id":"dl-badkey","bucket":BUCKET,"key":"../etc/passwd"}),
        ),
    ];
    for (_, body) in &jobs {
        env.publish_raw(&serde_json::to_vec(body).unwrap(), None, None)
            .await
            .unwrap();
    }
    env.publish_raw(b"\x00not json", Some("raw-1"), None)
        .await
        .unwrap();
    env.publish_raw(&vec![b' '; 70_000], None, None)
        .await
        .unwrap();

    let got = env.collect(jobs.len() + 2, WAIT).await.unwrap();
    assert_eq!(got.len(), jobs.len() + 2);
    let kind_of = |id: &str| -> String {
        let r = got
            .iter()
            .find(|r| r.message_id.as_deref() == Some(id))
            .unwrap_or_else(|| {
                let ids: Vec<_> = got.iter().map(|r| &r.message_id).collect();
                panic!("no outcome for {id}; message ids: {ids:?}")
            });
        assert_eq!(r.queue, "dead", "{id}: {:?}", r.body);
        assert_schema("dead-letter", &r.body);
        assert_eq!(
            r.routing_key,
            format!("dead.{}", r.body["error"]["kind"].as_str().unwrap())
        );
        r.body["error"]["kind"].as_str().unwrap().to_string()
    };
    let expect = [
        ("dl-unrec", "ocr_unrecognized"),
        ("dl-license", "wrong_document_type"),
        ("dl-gif", "unsupported_format"),
        ("dl-pdf", "unsupported_format"),
        ("dl-cut", "corrupt_image"),
        ("dl-huge", "image_too_large"),
        ("dl-big", "ocr_rejected"),
        ("dl-denied", "access_denied"),
        ("dl-archived", "object_archived"),
        ("dl-missing", "object_not_found"),
        ("dl-bucket", "bucket_not_allowed"),
        ("dl-badkey", "invalid_job"),
        ("raw-1", "invalid_job"),
    ];
    for (id, kind) in expect {
        assert_eq!(kind_of(id), kind, "{id}");
    }
    let raw = got
        .iter()
        .find(|r| r.message_id.as_deref() == Some("raw-1"))
        .unwrap();
    assert_eq!(raw.body["job_id"], Value::Null);
    assert_eq!(raw.body["job_base64"], json!("AG5vdCBqc29u"));
    let hashed = got
        .iter()
        .find(|r| {
            r.message_id
                .as_deref()
                .is_some_and(|m| m.starts_with("sha256:"))
        })
        .expect("the oversize body is keyed by its hash");
    assert_eq!(hashed.body["error"]["kind"], json!("invalid_job"));
    let big = got
        .iter()
        .find(|r| r.message_id.as_deref() == Some("dl-big"))
        .unwrap();
    assert_eq!(big.body["error"]["provider_code"], json!("0011"));
    assert_eq!(big.body["error"]["http_status"], json!(400));
    // Nothing that could be refused before paying was sent to OCR.
    let stats = emulator_stats(&env).await.unwrap();
    assert_eq!(
        stats.billed_total, 2,
        "only the FAILURE and the licence were billed"
    );
    worker.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn retries_exhausted_then_transient_fault_recovers() {
    let env = env().await;
    let mut args = env.settings_args();
    args.max_attempts = Some(3);
    args.quick_retries = Some(1);
    let worker = env.spawn_worker(args.load().unwrap()).await.unwrap();
    emulator_patch(&env, json!({"faults": {"error_0501": 1.0}}))
        .await
        .unwrap();
    env.put(BUCKET, "p1.png", passport_png(&Truth::synthetic(21)))
        .await
        .unwrap();
    env.publish_job("exhaust", BUCKET, "p1.png").await.unwrap();
    let got = env.collect(1, WAIT).await.unwrap();
    assert_eq!(got[0].queue, "dead");
    let e = &got[0].body["error"];
    assert_eq!(e["kind"], json!("retries_exhausted"));
    assert_eq!(e["attempts"], json!(3));
    assert_eq!(e["provider_code"], json!("0501"));
    assert_eq!(e["retryable"], json!(true));

    // Now a fault that clears: the job goes through the delay stage and succeeds.
    env.put(BUCKET, "p2.png", passport_png(&Truth::synthetic(22)))
        .await
        .unwrap();
    env.publish_job("recover", BUCKET, "p2.png").await.unwrap();
    eventually(WAIT, || async {
        emulator_stats(&env).await.unwrap().rejected("0501") >= 5
    })
    .await
    .unwrap();
    emulator_patch(&env, json!({"faults": {"error_0501": 0.0}}))
        .await
        .unwrap();
    let got = env.collect(1, WAIT).await.unwrap();
    assert_eq!(got[0].queue, "result", "{:?}", got[0].body);
    let attempts = got[0].body["attempts"].as_u64().unwrap();
    assert!((2..=3).contains(&attempts), "attempts {attempts}");
    worker.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn configuration_error_stops_consuming_and_keeps_jobs() {
    let env = env().await;
    let mut args = env.settings_args();
    args.clova_ocr_secret = Some("wrong-secret".into());
    let worker = env.spawn_worker(args.load().unwrap()).await.unwrap();
    env.put(BUCKET, "p.png", passport_png(&Truth::synthetic(3)))
        .await
        .unwrap();
    for i in 0..3 {
        env.publish_job(&format!("cfg-{i}"), BUCKET, "p.png")
            .await
            .unwrap();
    }
    worker.wait_readyz(503, WAIT).await.unwrap();
    let (_, body) = worker.get("/readyz").await.unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["stopped_reason"].as_str().unwrap().contains("0002"),
        "{v}"
    );
    assert!(!body.contains("wrong-secret"));
    let (code, _) = worker.get("/healthz").await.unwrap();
    assert_eq!(code, 200, "alive, just not ready");
    eventually(WAIT, || async { env.queue_len("jobs").await.unwrap() == 3 })
        .await
        .unwrap();
    assert_eq!(env.queue_len("dead").await.unwrap(), 0);
    assert_eq!(env.queue_len("results").await.unwrap(), 0);
    worker.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn unroutable_outcome_is_not_acked() {
    let env = env().await;
    let mut args = env.settings_args();
    args.declare_outcome_queues = Some(false);
    let worker = env.spawn_worker(args.load().unwrap()).await.unwrap();
    env.put(BUCKET, "p.png", passport_png(&Truth::synthetic(4)))
        .await
        .unwrap();
    env.publish_job("unroutable", BUCKET, "p.png")
        .await
        .unwrap();
    worker.wait_readyz(503, WAIT).await.unwrap();
    let (_, body) = worker.get("/readyz").await.unwrap();
    assert!(body.contains("unroutable"), "{body}");
    eventually(WAIT, || async { env.queue_len("jobs").await.unwrap() == 1 })
        .await
        .unwrap();
    worker.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn job_is_redelivered_when_the_channel_dies_before_the_confirm() {
    let env = env().await;
    let worker = env.spawn_worker(env.settings()).await.unwrap();
    // Hold every OCR call at the emulator, so we know when the job is mid-flight.
    ocr_tests::emulator_admin(&env, "hold").await.unwrap();
    let truth = Truth::synthetic(5);
    env.put(BUCKET, "p.png", passport_png(&truth))
        .await
        .unwrap();
    env.publish_job("redeliver", BUCKET, "p.png").await.unwrap();
    eventually(WAIT, || async {
        emulator_stats(&env).await.unwrap().held == 1
    })
    .await
    .unwrap();
    // Delete the results exchange: the worker's publish now fails with a channel error,
    // so its confirm never comes and the job must not be acked.
    env.channel
        .exchange_delete(
            format!("{}.results", env.prefix).as_str().into(),
            lapin::options::ExchangeDeleteOptions::default(),
        )
        .await
        .unwrap();
    ocr_tests::emulator_admin(&env, "release").await.unwrap();
    // The worker reconnects, re-declares its topology, gets the job again and succeeds.
    let got = env.collect(1, WAIT).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].queue, "result");
    assert_eq!(got[0].message_id.as_deref(), Some("redeliver"));
    let stats = emulator_stats(&env).await.unwrap();
    assert_eq!(
        stats.billed_total, 2,
        "the job was processed twice: redelivered, not lost"
    );
    let m = worker.metrics().await.unwrap();
    assert!(m["ocr_worker_broker_connections_total"] >= 2.0, "{m:?}");
    assert_eq!(env.queue_len("jobs").await.unwrap(), 0);
    worker.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn an_s3_event_notification_is_a_job() {
    let env = env().await;
    let worker = env.spawn_worker(env.settings()).await.unwrap();
    let truth = Truth::synthetic(31);
    let key = "inbox/new scan+1.png";
    env.put(BUCKET, key, passport_png(&truth)).await.unwrap();
    let head = env
        .s3_client
        .head_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap();
    let event = s3_notification(
        BUCKET,
        "inbox/new+scan%2B1.png",
        head.e_tag().unwrap(),
        head.content_length().unwrap() as u64,
    );
    let body = serde_json::to_vec(&event).unwrap();
    // The same notification twice (S3 delivers at least once): one job id, so consumers dedup.
    env.publish_raw(&body, None, Some("evt")).await.unwrap();
    env.publish_raw(&body, None, Some("evt")).await.unwrap();
    let got = env.collect(2, WAIT).await.unwrap();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].message_id, got[1].message_id);
    for r in &got {
        assert_eq!(r.queue, "result", "{:?}", r.body);
        assert_schema("result", &r.body);
        assert_matches_truth(&r.body, &truth);
        let id = r.body["job_id"].as_str().unwrap();
        assert!(id.starts_with("obj-"), "{id}");
        assert_eq!(r.message_id.as_deref(), Some(id));
        assert_eq!(
            r.body["source"]["key"],
            json!(key),
            "the key is URL-decoded"
        );
        assert_eq!(r.body["source"]["etag"], json!(head.e_tag().unwrap()));
        assert_eq!(
            r.body["metadata"]["s3_event"]["event_name"],
            json!("s3:ObjectCreated:Put")
        );
        assert_eq!(r.correlation_id.as_deref(), Some("evt"));
    }
    // A deletion notification is not a job: classified, not dropped.
    let mut removed = event.clone();
    removed["Records"][0]["eventName"] = json!("s3:ObjectRemoved:Delete");
    env.publish_raw(&serde_json::to_vec(&removed).unwrap(), None, None)
        .await
        .unwrap();
    let got = env.collect(1, WAIT).await.unwrap();
    assert_eq!(got[0].queue, "dead");
    assert_eq!(got[0].body["error"]["kind"], json!("invalid_job"));
    assert_schema("dead-letter", &got[0].body);
    worker.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn an_unreadable_ocr_answer_is_a_classified_dead_letter() {
    let env = env().await;
    emulator_patch(&env, json!({"faults": {"garbage_200": 1.0}}))
        .await
        .unwrap();
    let worker = env.spawn_worker(env.settings()).await.unwrap();
    env.put(BUCKET, "g.png", passport_png(&Truth::synthetic(41)))
        .await
        .unwrap();
    env.publish_job("garbled", BUCKET, "g.png").await.unwrap();
    let got = env.collect(1, WAIT).await.unwrap();
    assert_eq!(got[0].queue, "dead");
    assert_schema("dead-letter", &got[0].body);
    let err = &got[0].body["error"];
    assert_eq!(err["kind"], json!("ocr_bad_response"), "{err}");
    // The call may have been billed: it counts as a paid attempt.
    assert_eq!(err["attempts"], json!(1));
    assert_eq!(
        emulator_stats(&env)
            .await
            .unwrap()
            .faults
            .get("garbage_200"),
        Some(&1)
    );
    worker.stop().await.unwrap();
    env.cleanup().await;
}
