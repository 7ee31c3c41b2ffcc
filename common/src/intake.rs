//! What a message on the work queue asks for: a [`Job`], or nothing at all.
//!
//! A message is one of these shapes (see `schemas/job.schema.json` and `docs/events.md`):
//!
//! - a **job** object (it has `job_id`);
//! - a **bucket event**, as S3 or MinIO publish them ([`crate::s3_event`]): an S3 event
//!   notification (`{"Records": [...]}`, also what SNS raw message delivery and MinIO's AMQP
//!   target send), the S3 **test event** sent when a notification is configured, or an
//!   **EventBridge** event from `aws.s3`;
//! - an **SNS envelope** around one bucket event: a `Notification` whose `Message` is the event
//!   as a JSON string (SNS without raw message delivery), or a subscription control message.
//!
//! A bucket event that does not announce new bytes is [`Intake::Ignored`] with a bounded
//! [`IgnoredEvent`] reason: the worker acks it, publishes no outcome and counts it, before any
//! S3 or OCR request. Everything else that is not a job is an [`InvalidJob`] (dead-lettered as
//! `invalid_job`), with an error that names the field, never its value.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::job::{InvalidJob, Job};
use crate::s3_event;

/// Why a bucket event asks for no job. Stable snake_case labels ([`IgnoredEvent::as_str`]),
/// used as the `reason` of `ocr_worker_events_ignored_total`: a bounded set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IgnoredEvent {
    /// The S3 test event (`s3:TestEvent`) sent when a bucket notification is configured.
    TestEvent,
    /// An event about an object whose bytes did not change: tags, retention, legal hold, ACL,
    /// restore, storage class or tier changes, reads (MinIO files some of these under
    /// `s3:ObjectCreated:*`, the rule a `put` notification uses).
    MetadataOnly,
    /// An SNS `SubscriptionConfirmation` or `UnsubscribeConfirmation`: subscription control,
    /// not an event (the worker never visits its URLs).
    SnsControl,
    /// An event for a key the worker wrote itself (its result or dead-letter prefix): taking it
    /// as a job would loop. Decided by the caller's predicate in [`Intake::parse_with`].
    OwnOutput,
}

impl IgnoredEvent {
    /// Every reason, in declaration order (held complete by [`IgnoredEvent::as_str`]'s
    /// exhaustive match and a test).
    pub const ALL: [IgnoredEvent; 4] = [
        IgnoredEvent::TestEvent,
        IgnoredEvent::MetadataOnly,
        IgnoredEvent::SnsControl,
        IgnoredEvent::OwnOutput,
    ];

    /// The snake_case label, as used in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            IgnoredEvent::TestEvent => "test_event",
            IgnoredEvent::MetadataOnly => "metadata_only",
            IgnoredEvent::SnsControl => "sns_control",
            IgnoredEvent::OwnOutput => "own_output",
        }
    }
}

impl std::fmt::Display for IgnoredEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one message asks the worker to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Intake {
    /// Run this job (a producer's, or the one a bucket event announces).
    Job(Job),
    /// Do nothing: ack, publish no outcome, count the reason.
    Ignored(IgnoredEvent),
}

/// Whether `key` starts with one of `prefixes`, compared as S3 compares prefixes: as plain
/// strings (`results/` matches `results/a.json`, `results` also matches `results-old/a`).
/// Empty prefixes are skipped: they would match every key.
pub fn is_under_prefixes<S: AsRef<str>>(key: &str, prefixes: &[S]) -> bool {
    prefixes
        .iter()
        .map(AsRef::as_ref)
        .any(|p| !p.is_empty() && key.starts_with(p))
}

/// A message after its shape is known, before the caller's own-output rule.
pub(crate) enum Parsed {
    /// A producer's job: always a job, whatever its key.
    Job(Job),
    /// The job a bucket event announces.
    Event(Job),
    /// A bucket event that asks for nothing.
    Ignored(IgnoredEvent),
}

impl Intake {
    /// Parse a message body of at most `max_bytes`. No event is taken as the worker's own
    /// output; see [`Intake::parse_with`].
    pub fn parse(body: &[u8], max_bytes: usize) -> Result<Intake, InvalidJob> {
        Intake::parse_with(body, max_bytes, |_| false)
    }

    /// Parse a message body of at most `max_bytes`; a job that a **bucket event** announces is
    /// [`IgnoredEvent::OwnOutput`] when `is_own_output` says the worker wrote that object
    /// (for example `|job| is_under_prefixes(&job.key, &[results_prefix])`). A producer's job
    /// is never ignored: its producer waits for an outcome.
    pub fn parse_with(
        body: &[u8],
        max_bytes: usize,
        is_own_output: impl Fn(&Job) -> bool,
    ) -> Result<Intake, InvalidJob> {
        if body.len() > max_bytes {
            return Err(InvalidJob::TooLarge {
                size: body.len(),
                limit: max_bytes,
            });
        }
        let value: Value = serde_json::from_slice(body).map_err(crate::job::malformed)?;
        Ok(match parse_value(value)? {
            Parsed::Job(job) => Intake::Job(job),
            Parsed::Event(job) if is_own_output(&job) => Intake::Ignored(IgnoredEvent::OwnOutput),
            Parsed::Event(job) => Intake::Job(job),
            Parsed::Ignored(reason) => Intake::Ignored(reason),
        })
    }
}

/// Sort a parsed body by its shape and read it. Jobs come out validated.
fn parse_value(value: Value) -> Result<Parsed, InvalidJob> {
    let Some(o) = value.as_object() else {
        return plain_job(value).map(Parsed::Job);
    };
    if o.contains_key("job_id") {
        return plain_job(value).map(Parsed::Job);
    }
    if let Some(parsed) = bucket_event(&value, None)? {
        return Ok(parsed);
    }
    if is_sns_envelope(o) {
        return sns(value);
    }
    // Not an event: read as a job, for the job's own error ("missing field `job_id`", ...).
    plain_job(value).map(Parsed::Job)
}

/// A producer's job object.
fn plain_job(value: Value) -> Result<Job, InvalidJob> {
    let job: Job = serde_json::from_value(value).map_err(crate::job::malformed)?;
    job.validate()?;
    Ok(job)
}

/// One of the bucket event shapes, or `None` when `value` is none of them. `sns_message_id`
/// is the envelope's id when the event came inside one.
fn bucket_event(value: &Value, sns_message_id: Option<&str>) -> Result<Option<Parsed>, InvalidJob> {
    let Some(o) = value.as_object() else {
        return Ok(None);
    };
    if o.contains_key("job_id") {
        return Ok(None);
    }
    if o.contains_key("Records") {
        return s3_event::from_records(value, sns_message_id).map(Some);
    }
    if s3_event::is_test_event(o) {
        return Ok(Some(Parsed::Ignored(IgnoredEvent::TestEvent)));
    }
    if o.contains_key("detail-type") {
        return s3_event::from_eventbridge(value, sns_message_id).map(Some);
    }
    Ok(None)
}

/// SNS's HTTP/S JSON (<https://docs.aws.amazon.com/sns/latest/dg/http-notification-json.html>,
/// <https://docs.aws.amazon.com/sns/latest/dg/http-subscription-confirmation-json.html>): the
/// fields every message type carries. The signature is not verified (that needs the signing
/// certificate, an HTTP fetch); the broker's access control is the trust boundary.
#[derive(Deserialize)]
struct SnsEnvelope {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "MessageId")]
    message_id: String,
    #[serde(rename = "TopicArn")]
    _topic_arn: String,
    #[serde(rename = "Message")]
    message: String,
}

/// An object that names itself an SNS message: `Type` and `TopicArn`.
fn is_sns_envelope(o: &Map<String, Value>) -> bool {
    o.get("Type").is_some_and(Value::is_string) && o.contains_key("TopicArn")
}

fn sns(value: Value) -> Result<Parsed, InvalidJob> {
    let envelope: SnsEnvelope = serde_json::from_value(value)
        .map_err(|_| InvalidJob::Malformed("not a valid SNS message".into()))?;
    match envelope.kind.as_str() {
        "Notification" => {}
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => {
            return Ok(Parsed::Ignored(IgnoredEvent::SnsControl));
        }
        _ => {
            return Err(InvalidJob::Field {
                field: "Type",
                reason: "not an SNS message type this worker reads",
            });
        }
    }
    let not_an_event = InvalidJob::Field {
        field: "Message",
        reason: "an SNS notification must carry one S3 event as a JSON string",
    };
    let inner: Value = serde_json::from_str(&envelope.message).map_err(|_| not_an_event.clone())?;
    // One envelope only: an SNS message inside an SNS message, or a job, is not an event.
    bucket_event(&inner, Some(&envelope.message_id))?.ok_or(not_an_event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::object_job_id;
    use serde_json::json;

    fn parse(v: &Value) -> Result<Intake, InvalidJob> {
        Intake::parse(&serde_json::to_vec(v).unwrap(), 65_536)
    }

    fn job(v: &Value) -> Job {
        match parse(v) {
            Ok(Intake::Job(j)) => j,
            other => panic!("{v}: {other:?}"),
        }
    }

    /// The S3 event notification for a PUT, shaped like the example on "Event message
    /// structure", <https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html>
    /// (event version 2.1, a versioned bucket).
    fn aws_put(key: &str) -> Value {
        json!({"Records": [{
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
                    "key": key,
                    "size": 1024,
                    "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                    "versionId": "096fKKXTRTtl3on89fVO.nfljtsv6qko",
                    "sequencer": "0055AED6DCD90281E5"
                }
            }
        }]})
    }

    /// The test message S3 sends when a notification is configured (same page).
    fn aws_test_event() -> Value {
        json!({
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": "2014-10-13T15:57:02.089Z",
            "Bucket": "bucketname",
            "RequestId": "5582815E1AEA5ADF",
            "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"
        })
    }

    /// An SNS notification as an HTTP/S subscriber (or a bridge from one) receives it, shaped
    /// like the example on "HTTP/HTTPS notification JSON format",
    /// <https://docs.aws.amazon.com/sns/latest/dg/http-notification-json.html>, with S3's
    /// subject and the event as the `Message` string.
    fn sns_notification(message: &Value) -> Value {
        json!({
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
            "Subject": "Amazon S3 Notification",
            "Message": message.to_string(),
            "Timestamp": "2012-05-02T00:54:06.655Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLEw6JRN...",
            "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
            "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:123456789012:MyTopic:c9135db0-26c4-47ec-8998-413945fb5a96"
        })
    }

    /// "HTTP/HTTPS subscription confirmation JSON format",
    /// <https://docs.aws.amazon.com/sns/latest/dg/http-subscription-confirmation-json.html>.
    fn sns_subscription_confirmation() -> Value {
        json!({
            "Type": "SubscriptionConfirmation",
            "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736",
            "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
            "Message": "You have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
            "SubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37",
            "Timestamp": "2012-04-26T20:45:04.751Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
            "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
        })
    }

    /// "EventBridge event message structure", Object created,
    /// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html>.
    fn eventbridge_created(key: &str) -> Value {
        json!({
            "version": "0",
            "id": "17793124-05d4-b198-2fde-7ededc63b103",
            "detail-type": "Object Created",
            "source": "aws.s3",
            "account": "111122223333",
            "time": "2021-11-12T00:00:00Z",
            "region": "ca-central-1",
            "resources": ["arn:aws:s3:::amzn-s3-demo-bucket1"],
            "detail": {
                "version": "0",
                "bucket": {"name": "amzn-s3-demo-bucket1"},
                "object": {
                    "key": key,
                    "size": 5,
                    "etag": "b1946ac92492d2347c6235b4d2611184",
                    "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
                    "sequencer": "617f08299329d189"
                },
                "request-id": "N4N7GDK58NMKJ12R",
                "requester": "123456789012",
                "source-ip-address": "1.2.3.4",
                "reason": "PutObject"
            }
        })
    }

    /// Derived, not copied: the page's Object Created example as an "Object Tags Added" event
    /// (a detail-type listed on <https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-s3.html>),
    /// whose object carries no size or sequencer and whose detail no reason.
    fn eventbridge_tags_added() -> Value {
        let mut v = eventbridge_created("example-key");
        v["detail-type"] = json!("Object Tags Added");
        let detail = v["detail"].as_object_mut().unwrap();
        detail.remove("reason");
        let object = detail["object"].as_object_mut().unwrap();
        object.remove("size");
        object.remove("sequencer");
        v
    }

    /// A MinIO record (the shape MinIO's AMQP target sends, as in `s3_event`'s tests).
    fn minio(event: &str) -> Value {
        let mut v = aws_put("scans/a.png");
        v["EventName"] = json!(event);
        v["Key"] = json!("amzn-s3-demo-bucket/scans/a.png");
        v["Records"][0]["eventName"] = json!(event);
        v["Records"][0]["eventSource"] = json!("minio:s3");
        v
    }

    enum Want {
        Job {
            bucket: &'static str,
            key: &'static str,
        },
        Ignored(IgnoredEvent),
        Invalid(&'static str),
    }

    #[test]
    fn every_vendor_shape_reads_as_a_job_an_ignored_reason_or_an_invalid_job() {
        use IgnoredEvent::*;
        let mut eb_deleted = eventbridge_created("example-key");
        eb_deleted["detail-type"] = json!("Object Deleted");
        let mut eb_other_source = eventbridge_created("example-key");
        eb_other_source["source"] = json!("aws.ec2");
        let mut eb_no_key = eventbridge_created("example-key");
        eb_no_key["detail"]["object"]
            .as_object_mut()
            .unwrap()
            .remove("key");
        let mut sns_unknown_type = sns_notification(&aws_put("a.png"));
        sns_unknown_type["Type"] = json!("Telegram");
        let mut sns_not_json = sns_notification(&aws_put("a.png"));
        sns_not_json["Message"] = json!("Hello world!");
        let mut sns_object_message = sns_notification(&aws_put("a.png"));
        sns_object_message["Message"] = aws_put("a.png");
        let mut sns_no_topic = sns_notification(&aws_put("a.png"));
        sns_no_topic.as_object_mut().unwrap().remove("MessageId");
        let plain = json!({"job_id": "j-1", "bucket": "scans", "key": "a.png"});
        let cases: Vec<(&str, Value, Want)> = vec![
            (
                "S3 notification (raw delivery, or MinIO)",
                aws_put("HappyFace.jpg"),
                Want::Job {
                    bucket: "amzn-s3-demo-bucket",
                    key: "HappyFace.jpg",
                },
            ),
            (
                "S3 notification in SNS",
                sns_notification(&aws_put("inbox/red+flower%2B1.jpg")),
                Want::Job {
                    bucket: "amzn-s3-demo-bucket",
                    key: "inbox/red flower+1.jpg",
                },
            ),
            (
                "EventBridge Object Created (key not encoded)",
                eventbridge_created("inbox/red flower+1%2B.jpg"),
                Want::Job {
                    bucket: "amzn-s3-demo-bucket1",
                    key: "inbox/red flower+1%2B.jpg",
                },
            ),
            (
                "EventBridge in SNS",
                sns_notification(&eventbridge_created("example-key")),
                Want::Job {
                    bucket: "amzn-s3-demo-bucket1",
                    key: "example-key",
                },
            ),
            (
                "MinIO copy (new bytes under a new key)",
                minio("s3:ObjectCreated:Copy"),
                Want::Job {
                    bucket: "amzn-s3-demo-bucket",
                    key: "scans/a.png",
                },
            ),
            (
                "MinIO multipart",
                minio("s3:ObjectCreated:CompleteMultipartUpload"),
                Want::Job {
                    bucket: "amzn-s3-demo-bucket",
                    key: "scans/a.png",
                },
            ),
            (
                "a job",
                plain,
                Want::Job {
                    bucket: "scans",
                    key: "a.png",
                },
            ),
            ("S3 test event", aws_test_event(), Want::Ignored(TestEvent)),
            (
                "S3 test event in SNS",
                sns_notification(&aws_test_event()),
                Want::Ignored(TestEvent),
            ),
            (
                "SNS subscription confirmation",
                sns_subscription_confirmation(),
                Want::Ignored(SnsControl),
            ),
            (
                "SNS unsubscribe confirmation",
                {
                    let mut v = sns_subscription_confirmation();
                    v["Type"] = json!("UnsubscribeConfirmation");
                    v
                },
                Want::Ignored(SnsControl),
            ),
            (
                "MinIO PutTagging",
                minio("s3:ObjectCreated:PutTagging"),
                Want::Ignored(MetadataOnly),
            ),
            (
                "MinIO DeleteTagging",
                minio("s3:ObjectCreated:DeleteTagging"),
                Want::Ignored(MetadataOnly),
            ),
            (
                "MinIO PutRetention",
                minio("s3:ObjectCreated:PutRetention"),
                Want::Ignored(MetadataOnly),
            ),
            (
                "MinIO PutLegalHold",
                minio("s3:ObjectCreated:PutLegalHold"),
                Want::Ignored(MetadataOnly),
            ),
            (
                "MinIO PutTagging in SNS",
                sns_notification(&minio("s3:ObjectCreated:PutTagging")),
                Want::Ignored(MetadataOnly),
            ),
            (
                "MinIO read",
                minio("s3:ObjectAccessed:Get"),
                Want::Ignored(MetadataOnly),
            ),
            (
                "AWS tagging",
                minio("ObjectTagging:Put"),
                Want::Ignored(MetadataOnly),
            ),
            (
                "AWS ACL",
                minio("ObjectAcl:Put"),
                Want::Ignored(MetadataOnly),
            ),
            (
                "AWS restore",
                minio("ObjectRestore:Completed"),
                Want::Ignored(MetadataOnly),
            ),
            (
                "AWS lifecycle transition",
                minio("LifecycleTransition"),
                Want::Ignored(MetadataOnly),
            ),
            (
                "EventBridge tags added",
                eventbridge_tags_added(),
                Want::Ignored(MetadataOnly),
            ),
            (
                "removal",
                minio("s3:ObjectRemoved:Delete"),
                Want::Invalid("eventName"),
            ),
            (
                "lifecycle expiration",
                minio("LifecycleExpiration:Delete"),
                Want::Invalid("eventName"),
            ),
            (
                "a created event with no sub-type",
                minio("ObjectCreated:"),
                Want::Invalid("eventName"),
            ),
            (
                "EventBridge deletion",
                eb_deleted,
                Want::Invalid("detail-type"),
            ),
            (
                "EventBridge from another service",
                eb_other_source,
                Want::Invalid("source"),
            ),
            (
                "EventBridge without a key",
                eb_no_key,
                Want::Invalid("EventBridge"),
            ),
            (
                "SNS of an unknown type",
                sns_unknown_type,
                Want::Invalid("Type"),
            ),
            (
                "SNS with a text message",
                sns_not_json,
                Want::Invalid("Message"),
            ),
            (
                "SNS with a message that is not a string",
                sns_object_message,
                Want::Invalid("SNS"),
            ),
            (
                "SNS without a message id",
                sns_no_topic,
                Want::Invalid("SNS"),
            ),
            (
                "SNS around a job",
                sns_notification(&json!({"job_id": "j", "bucket": "scans", "key": "a.png"})),
                Want::Invalid("Message"),
            ),
            (
                "SNS around SNS",
                sns_notification(&sns_notification(&aws_put("a.png"))),
                Want::Invalid("Message"),
            ),
            (
                "SNS around a removal",
                sns_notification(&minio("s3:ObjectRemoved:Delete")),
                Want::Invalid("eventName"),
            ),
            (
                "SNS around an unsafe key",
                sns_notification(&aws_put("..%2Fetc%2Fpasswd")),
                Want::Invalid("key"),
            ),
            (
                "EventBridge with an unsafe key",
                eventbridge_created("a/../b.png"),
                Want::Invalid("key"),
            ),
            (
                "an unknown event",
                json!({"Service": "Amazon S3", "Event": "s3:SomethingElse"}),
                Want::Invalid("missing field `job_id`"),
            ),
        ];
        for (name, v, want) in cases {
            let got = parse(&v);
            match (want, got) {
                (Want::Job { bucket, key }, Ok(Intake::Job(j))) => {
                    assert_eq!((j.bucket.as_str(), j.key.as_str()), (bucket, key), "{name}");
                }
                (Want::Ignored(r), Ok(Intake::Ignored(got))) => assert_eq!(got, r, "{name}"),
                (Want::Invalid(needle), Err(e)) => {
                    let msg = e.to_string();
                    assert!(msg.contains(needle), "{name}: {msg}");
                }
                (_, got) => panic!("{name}: got {got:?}"),
            }
        }
    }

    #[test]
    fn every_shape_of_one_upload_is_one_job_id() {
        // The same object announced bare, through SNS and through EventBridge: one job id.
        let mut eb = eventbridge_created("HappyFace.jpg");
        eb["detail"]["bucket"]["name"] = json!("amzn-s3-demo-bucket");
        eb["detail"]["object"]["etag"] = json!("d41d8cd98f00b204e9800998ecf8427e");
        let ids: Vec<String> = [
            aws_put("HappyFace.jpg"),
            sns_notification(&aws_put("HappyFace.jpg")),
            eb,
        ]
        .iter()
        .map(|v| job(v).job_id)
        .collect();
        let want = object_job_id(
            "amzn-s3-demo-bucket",
            "HappyFace.jpg",
            Some("d41d8cd98f00b204e9800998ecf8427e"),
        );
        assert_eq!(ids, vec![want.clone(), want.clone(), want]);
    }

    #[test]
    fn event_metadata_says_where_the_job_came_from() {
        let eb = job(&eventbridge_created("example-key"));
        let e = &eb.metadata.unwrap()["s3_event"];
        assert_eq!(e["format"], "eventbridge");
        assert_eq!(e["event_name"], "Object Created");
        assert_eq!(e["reason"], "PutObject");
        assert_eq!(e["event_time"], "2021-11-12T00:00:00Z");
        assert_eq!(e["size"], 5);
        assert_eq!(e["sequencer"], "617f08299329d189");
        assert_eq!(
            eb.version_id.as_deref(),
            Some("IYV3p45BT0ac8hjHg1houSdS1a.Mro8e")
        );
        assert_eq!(eb.etag.as_deref(), Some("b1946ac92492d2347c6235b4d2611184"));

        let via_sns = job(&sns_notification(&aws_put("a.png")));
        let e = &via_sns.metadata.unwrap()["s3_event"];
        assert_eq!(e["format"], "s3_notification");
        assert_eq!(e["sns_message_id"], "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324");
        assert_eq!(e["event_name"], "ObjectCreated:Put");
        let bare = job(&aws_put("a.png"));
        assert!(
            bare.metadata.unwrap()["s3_event"]
                .get("sns_message_id")
                .is_none()
        );
    }

    #[test]
    fn own_output_applies_to_events_never_to_a_producers_job() {
        let prefixes = ["ocr-results/", "ocr-dead/"];
        let own = |j: &Job| is_under_prefixes(&j.key, &prefixes);
        let body = |v: &Value| serde_json::to_vec(v).unwrap();
        let under = aws_put("ocr-results/obj-1.json");
        assert_eq!(
            Intake::parse_with(&body(&under), 65_536, own),
            Ok(Intake::Ignored(IgnoredEvent::OwnOutput))
        );
        let eb = eventbridge_created("ocr-dead/x.json");
        assert_eq!(
            Intake::parse_with(&body(&eb), 65_536, own),
            Ok(Intake::Ignored(IgnoredEvent::OwnOutput))
        );
        assert!(matches!(
            Intake::parse_with(&body(&aws_put("scans/ocr-results/a.png")), 65_536, own),
            Ok(Intake::Job(_))
        ));
        // A producer asked for this one by name and waits for its outcome.
        let asked = json!({"job_id": "j", "bucket": "scans", "key": "ocr-results/a.png"});
        assert!(matches!(
            Intake::parse_with(&body(&asked), 65_536, own),
            Ok(Intake::Job(_))
        ));
        // Without a predicate nothing is own output.
        assert!(matches!(parse(&under), Ok(Intake::Job(_))));
    }

    #[test]
    fn prefixes_match_as_s3_matches_them_and_empty_ones_never() {
        assert!(is_under_prefixes("results/a.json", &["results/"]));
        assert!(is_under_prefixes("results-old/a", &["results"]));
        assert!(!is_under_prefixes("a/results/x", &["results/"]));
        assert!(!is_under_prefixes("anything", &[""]));
        assert!(!is_under_prefixes("anything", &[] as &[&str]));
        assert!(is_under_prefixes("dead/x", &["", "results/", "dead/"]));
        assert!(is_under_prefixes("x", &[String::from("x")]));
    }

    #[test]
    fn reasons_are_bounded_stable_snake_case_labels() {
        let labels: Vec<&str> = IgnoredEvent::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            labels,
            ["test_event", "metadata_only", "sns_control", "own_output"]
        );
        let unique: std::collections::HashSet<_> = labels.iter().collect();
        assert_eq!(unique.len(), labels.len());
        for r in IgnoredEvent::ALL {
            assert_eq!(r.to_string(), r.as_str());
        }
    }

    #[test]
    fn job_parse_refuses_an_ignored_event_as_not_a_job() {
        let err = Job::parse(&serde_json::to_vec(&aws_test_event()).unwrap(), 65_536).unwrap_err();
        assert_eq!(err, InvalidJob::NotAJob(IgnoredEvent::TestEvent));
        assert!(err.to_string().contains("test_event"), "{err}");
    }

    #[test]
    fn errors_name_fields_never_values() {
        let secret = "Jane-Doe-M1234567";
        let mut cases = vec![
            sns_notification(&json!({"Records": [{"eventName": secret}]})),
            {
                let mut v = eventbridge_created("a.png");
                v["detail-type"] = json!(secret);
                v
            },
            {
                let mut v = eventbridge_created("a.png");
                v["source"] = json!(secret);
                v
            },
            {
                let mut v = sns_notification(&aws_put("a.png"));
                v["Type"] = json!(secret);
                v
            },
            {
                let mut v = sns_notification(&aws_put("a.png"));
                v["Message"] = json!(secret);
                v
            },
            eventbridge_created(&format!("{secret}/../x")),
            sns_notification(&json!({"Records": [{"eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": secret}, "object": {"key": "a"}}}]})),
        ];
        cases.push(json!({"Event": secret}));
        for v in cases {
            let err = parse(&v).unwrap_err().to_string();
            assert!(!err.contains(secret), "{v}: {err}");
        }
    }

    proptest::proptest! {
        #[test]
        fn no_body_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = Intake::parse(&body, 65_536);
        }

        #[test]
        fn no_sns_message_panics(message in ".{0,200}", kind in "(Notification|SubscriptionConfirmation|[A-Za-z]{0,12})") {
            let v = json!({"Type": kind, "MessageId": "m", "TopicArn": "t", "Message": message});
            let _ = parse(&v);
        }

        #[test]
        fn no_event_name_panics(name in "(s3:)?[A-Za-z]{0,16}(:[A-Za-z*]{0,16})?") {
            let mut v = aws_put("a.png");
            v["Records"][0]["eventName"] = json!(name);
            let _ = parse(&v);
            let mut eb = eventbridge_created("a.png");
            eb["detail-type"] = json!(name);
            let _ = parse(&eb);
        }
    }
}
