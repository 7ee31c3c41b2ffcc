//! The published JSON Schemas against what the worker really accepts and sends: job bodies
//! (the harness's, bucket events in every shape the worker reads), results and dead letters,
//! with formats checked.

use ocr_common::failure::JobError;
use ocr_common::intake::{IgnoredEvent, Intake};
use ocr_common::message::DeadLetterMessage;
use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::{
    TestEnv, Truth, assert_schema, eventbridge_object_created, minio_event, output_ok,
    passport_png, s3_notification, s3_test_event, schema_errors, sns_notification,
};
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

/// What the worker makes of a body.
#[derive(Debug, PartialEq)]
enum Verdict {
    Job,
    Ignored(IgnoredEvent),
    Invalid,
}

/// Each body with what the worker makes of it.
fn job_bodies() -> Vec<(&'static str, Value, Verdict)> {
    use Verdict::*;
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
    let eventbridge = eventbridge_object_created("passports", "inbox/new scan+1.png", "abc", 5);
    let mut eb_deleted = eventbridge.clone();
    eb_deleted["detail-type"] = json!("Object Deleted");
    let mut eb_tags = eventbridge.clone();
    eb_tags["detail-type"] = json!("Object Tags Added");
    let mut eb_ec2 = eventbridge.clone();
    eb_ec2["source"] = json!("aws.ec2");
    let mut eb_dotdot = eventbridge.clone();
    eb_dotdot["detail"]["object"]["key"] = json!("a/../b.png");
    let mut sns_confirm = sns_notification(&json!("ignored"));
    sns_confirm["Type"] = json!("SubscriptionConfirmation");
    sns_confirm["Message"] = json!(
        "You have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic."
    );
    sns_confirm["Token"] = json!(
        "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736"
    );
    let mut sns_other_type = sns_notification(&minio);
    sns_other_type["Type"] = json!("Telegram");
    let mut sns_text = sns_notification(&minio);
    sns_text["Message"] = json!("Hello world!");
    let put_tagging = minio_event(
        "s3:ObjectCreated:PutTagging",
        "passports",
        "inbox/a.png",
        "abc",
        5,
    );
    vec![
        (
            "plain job",
            json!({"job_id": "j-1", "bucket": "passports", "key": "a/one.png"}),
            Job,
        ),
        (
            "job with every field",
            json!({"job_id": "j-2", "bucket": "passports", "key": "a/two.jpg",
                   "version_id": "v1", "document_type": "passport",
                   "metadata": {"batch": 7}}),
            Job,
        ),
        ("MinIO notification", minio.clone(), Job),
        (
            "AWS documented notification",
            aws_documented_notification(),
            Job,
        ),
        (
            "AWS notification in SNS",
            sns_notification(&aws_documented_notification()),
            Job,
        ),
        ("EventBridge Object Created", eventbridge.clone(), Job),
        ("EventBridge in SNS", sns_notification(&eventbridge), Job),
        (
            "S3 test event",
            s3_test_event("passports"),
            Ignored(IgnoredEvent::TestEvent),
        ),
        (
            "S3 test event in SNS",
            sns_notification(&s3_test_event("passports")),
            Ignored(IgnoredEvent::TestEvent),
        ),
        (
            "MinIO PutTagging",
            put_tagging.clone(),
            Ignored(IgnoredEvent::MetadataOnly),
        ),
        (
            "MinIO PutTagging in SNS",
            sns_notification(&put_tagging),
            Ignored(IgnoredEvent::MetadataOnly),
        ),
        (
            "EventBridge tags added",
            eb_tags,
            Ignored(IgnoredEvent::MetadataOnly),
        ),
        (
            "SNS subscription confirmation",
            sns_confirm,
            Ignored(IgnoredEvent::SnsControl),
        ),
        ("removal notification", removed.clone(), Invalid),
        ("removal in SNS", sns_notification(&removed), Invalid),
        ("two records", two, Invalid),
        ("no record", none, Invalid),
        ("notification with a bad bucket", bad_bucket, Invalid),
        ("notification without a key", no_key, Invalid),
        ("EventBridge Object Deleted", eb_deleted, Invalid),
        ("EventBridge from EC2", eb_ec2, Invalid),
        ("EventBridge with a dot-dot key", eb_dotdot, Invalid),
        ("SNS of an unknown type", sns_other_type, Invalid),
        ("SNS with a text message", sns_text, Invalid),
        (
            "SNS around a job",
            sns_notification(&json!({"job_id": "j", "bucket": "passports", "key": "a.png"})),
            Invalid,
        ),
        (
            "SNS around SNS",
            sns_notification(&sns_notification(&minio)),
            Invalid,
        ),
        (
            "job without key",
            json!({"job_id": "j-3", "bucket": "passports"}),
            Invalid,
        ),
        (
            "job with a dot-dot key",
            json!({"job_id": "j-4", "bucket": "passports", "key": "a/../b.png"}),
            Invalid,
        ),
        (
            "job with another document type",
            json!({"job_id": "j-5", "bucket": "passports", "key": "a.png",
                   "document_type": "id_card"}),
            Invalid,
        ),
        ("not an object", json!(["job"]), Invalid),
    ]
}

/// The job schema with only its `bucket_event` branch: what an SNS notification's `Message`
/// must be (the schema says so with `contentSchema`, which validators treat as an annotation).
fn bucket_event_errors(event: &Value) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/job.schema.json");
    let mut schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    schema["oneOf"] = json!([{"$ref": "#/$defs/bucket_event"}]);
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .should_ignore_unknown_formats(false)
        .build(&schema)
        .unwrap();
    validator
        .iter_errors(event)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// The schema's verdict: the body is valid, and an SNS notification's message is a bucket event.
fn schema_accepts(body: &Value) -> Result<(), Vec<String>> {
    let errors = schema_errors("job", body);
    if !errors.is_empty() {
        return Err(errors);
    }
    if body["Type"] == "Notification" {
        let inner: Value = serde_json::from_str(body["Message"].as_str().unwrap_or(""))
            .map_err(|e| vec![format!("Message is not JSON: {e}")])?;
        let errors = bucket_event_errors(&inner);
        if !errors.is_empty() {
            return Err(errors);
        }
    }
    Ok(())
}

#[test]
fn the_job_schema_accepts_exactly_what_the_worker_takes_as_a_job_or_ignores() {
    for (name, body, want) in job_bodies() {
        let bytes = serde_json::to_vec(&body).unwrap();
        let verdict = match Intake::parse(&bytes, 64 * 1024) {
            Ok(Intake::Job(_)) => Verdict::Job,
            Ok(Intake::Ignored(r)) => Verdict::Ignored(r),
            Err(_) => Verdict::Invalid,
        };
        assert_eq!(verdict, want, "{name}: the worker says {verdict:?}");
        let schema = schema_accepts(&body);
        assert_eq!(
            schema.is_ok(),
            want != Verdict::Invalid,
            "{name}: the schema says {schema:#?}"
        );
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
    let out = output_ok(&mut env.worker_command(&["process", &file.display().to_string()], &[]));
    let mut v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_schema("result", &v);
    v["completed_at"] = json!("2026-11-26T24:61:00Z");
    assert_date_time_violation("result", &v, "/completed_at");
}
