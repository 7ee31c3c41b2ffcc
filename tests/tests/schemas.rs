//! The published JSON Schemas against what the worker really accepts and sends: job bodies
//! (the harness's, bucket notifications), results and dead letters, with formats checked.

use ocr_common::failure::JobError;
use ocr_common::job::Job;
use ocr_common::message::DeadLetterMessage;
use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::{TestEnv, Truth, assert_schema, passport_png, s3_notification, schema_errors};
use serde_json::{Value, json};

/// A notification shaped like the example on AWS's "Event message structure" page (S3 User
/// Guide), for an object created in a versioned bucket.
fn aws_documented_notification() -> Value {
    json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-west-2",
            "eventTime": "1970-01-01T00:00:00.000Z",
            "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AIDAJDPLRKLG7UEXAMPLE"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {
                "x-amz-request-id": "C3D13FE58DE4C810",
                "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "testConfigRule",
                "bucket": {
                    "name": "amzn-s3-demo-bucket",
                    "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                    "arn": "arn:aws:s3:::amzn-s3-demo-bucket"
                },
                "object": {
                    "key": "HappyFace.jpg",
                    "size": 1024,
                    "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                    "versionId": "096fKKXTRTtl3on89fVO.nfljtsv6qko",
                    "sequencer": "0055AED6DCD90281E5"
                }
            }
        }]
    })
}

/// Each body with whether the worker takes it as a job.
fn job_bodies() -> Vec<(&'static str, Value, bool)> {
    let minio = s3_notification("passports", "inbox/new+scan%2B1.png", "\"abc\"", 245_112);
    let mut removed = minio.clone();
    removed["Records"][0]["eventName"] = json!("s3:ObjectRemoved:Delete");
    let mut two = minio.clone();
    let record = two["Records"][0].clone();
    two["Records"].as_array_mut().unwrap().push(record);
    let mut none = minio.clone();
    none["Records"] = json!([]);
    let mut bad_bucket = aws_documented_notification();
    bad_bucket["Records"][0]["s3"]["bucket"]["name"] = json!("Not_A_Bucket");
    let mut no_key = aws_documented_notification();
    no_key["Records"][0]["s3"]["object"]
        .as_object_mut()
        .unwrap()
        .remove("key");
    vec![
        (
            "plain job",
            json!({"job_id": "j-1", "bucket": "passports", "key": "a/one.png"}),
            true,
        ),
        (
            "job with every field",
            json!({"job_id": "j-2", "bucket": "passports", "key": "a/two.jpg",
                   "version_id": "v1", "document_type": "passport",
                   "metadata": {"batch": 7}}),
            true,
        ),
        ("MinIO notification", minio, true),
        (
            "AWS documented notification",
            aws_documented_notification(),
            true,
        ),
        ("removal notification", removed, false),
        ("two records", two, false),
        ("no record", none, false),
        ("notification with a bad bucket", bad_bucket, false),
        ("notification without a key", no_key, false),
        (
            "job without key",
            json!({"job_id": "j-3", "bucket": "passports"}),
            false,
        ),
        (
            "job with a dot-dot key",
            json!({"job_id": "j-4", "bucket": "passports", "key": "a/../b.png"}),
            false,
        ),
        (
            "job with another document type",
            json!({"job_id": "j-5", "bucket": "passports", "key": "a.png",
                   "document_type": "id_card"}),
            false,
        ),
        ("not an object", json!(["job"]), false),
    ]
}

#[test]
fn the_job_schema_accepts_exactly_what_the_worker_takes_as_a_job() {
    for (name, body, is_job) in job_bodies() {
        let bytes = serde_json::to_vec(&body).unwrap();
        let parsed = Job::parse(&bytes, 64 * 1024);
        assert_eq!(parsed.is_ok(), is_job, "{name}: worker says {parsed:?}");
        let errors = schema_errors("job", &body);
        assert_eq!(errors.is_empty(), is_job, "{name}: schema says {errors:#?}");
    }
}

/// `value` breaks schema `name` because `pointer` is not a date-time.
fn assert_date_time_violation(name: &str, value: &Value, pointer: &str) {
    let errors = schema_errors(name, value);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("date-time") && e.ends_with(&format!("at {pointer}"))),
        "{name} {pointer} = {}: {errors:#?}",
        value[&pointer[1..]]
    );
}

#[test]
fn a_wrong_date_time_fails_the_dead_letter_schema() {
    let error = JobError::ObjectNotFound {
        bucket: "passports".into(),
        key: "a.png".into(),
    };
    let job = br#"{"job_id":"j-1","bucket":"passports","key":"a.png"}"#;
    let dead = DeadLetterMessage::new(Some("j-1".into()), &error, 1, job, chrono::Utc::now());
    let mut v = serde_json::to_value(&dead).unwrap();
    assert_schema("dead-letter", &v);
    for wrong in ["2026-02-30T10:00:00Z", "yesterday", "2026-11-26 10:00"] {
        v["failed_at"] = json!(wrong);
        assert_date_time_violation("dead-letter", &v, "/failed_at");
    }
}

#[test]
fn the_dead_letters_lane_is_optional_and_a_queue_name_when_present() {
    let error = JobError::Unrecognized;
    let job = br#"{"job_id":"j-1","bucket":"passports","key":"a.png"}"#;
    let dead = DeadLetterMessage::new(Some("j-1".into()), &error, 1, job, chrono::Utc::now());
    // As written before the lane was recorded.
    let old = serde_json::to_value(&dead).unwrap();
    assert!(old.get("queue").is_none());
    assert_schema("dead-letter", &old);
    let mut v = serde_json::to_value(dead.with_queue("ocr.jobs")).unwrap();
    assert_schema("dead-letter", &v);
    for wrong in [json!(""), json!(7), json!(null)] {
        v["queue"] = wrong.clone();
        assert!(
            !schema_errors("dead-letter", &v).is_empty(),
            "queue = {wrong} passed"
        );
    }
}

// Multi-threaded: the blocking `Command::output` below must not starve the in-process servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_result_passes_its_schema_and_a_wrong_date_time_fails_it() {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scan.png");
    std::fs::write(&file, passport_png(&Truth::synthetic(5))).unwrap();
    let out = env
        .worker_command(&["process", &file.display().to_string()], &[])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_schema("result", &v);
    v["completed_at"] = json!("2026-11-26T24:61:00Z");
    assert_date_time_violation("result", &v, "/completed_at");
}
