//! Bucket events as S3 and MinIO publish them, read as jobs (event-driven onboarding).
//!
//! An image lands in a bucket; the bucket's event arrives on the work queue (directly, or in an
//! SNS envelope, see [`crate::intake`]) and is turned into the same [`Job`] a producer would
//! have written. Three shapes:
//!
//! - the **S3 event notification** (AWS event format 2.x, which MinIO's AMQP target also sends,
//!   with its extra top-level `EventName`/`Key`): exactly one record; its key is URL-encoded
//!   (S3 form-encodes it, `+` for a space) and decoded here;
//! - the **S3 test event** (`{"Service":"Amazon S3","Event":"s3:TestEvent",...}`), sent when a
//!   notification is configured: [`IgnoredEvent::TestEvent`];
//! - the **EventBridge** event from `aws.s3`: `detail-type` `Object Created` is a job; its
//!   `detail.object.key` is the key as it is, not URL-encoded.
//!
//! Which events are jobs ([`EventClass`]): object creations (`ObjectCreated:Put`, `Post`,
//! `Copy`, `CompleteMultipartUpload`, with or without MinIO's `s3:` prefix, and any future
//! creation sub-type; EventBridge `Object Created`, whatever its `reason`). Events about an
//! object whose bytes did not change are [`IgnoredEvent::MetadataOnly`]: MinIO's
//! `s3:ObjectCreated:PutTagging`, `DeleteTagging`, `PutRetention` and `PutLegalHold` (MinIO
//! files them under `s3:ObjectCreated:*`, so a `put` rule sends them), tagging, ACL, restore,
//! transition and read events, and their EventBridge detail-types. Anything else (removals,
//! lifecycle expirations, replication, several records) is an invalid job: configure the
//! bucket to notify on creations only.
//!
//! For a job: `bucket`, `key`, `versionId` when the bucket is versioned; `job_id` =
//! [`object_job_id`] over bucket, key and ETag, the id a backfill gives the same object, so the
//! same upload announced twice, in two shapes, uploaded again with the same bytes, or both
//! backfilled and announced, is one job id that consumers deduplicate; `metadata.s3_event`
//! carries the event's name, time, ETag, size and sequencer, its `format`
//! (`s3_notification` or `eventbridge`), EventBridge's `reason`, and `sns_message_id` when an
//! SNS envelope carried it.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::intake::{IgnoredEvent, Parsed};
use crate::job::{InvalidJob, Job, PASSPORT, object_job_id};

/// The parts of a notification this worker reads; everything else is ignored.
#[derive(Debug, Deserialize)]
struct Notification {
    #[serde(rename = "Records")]
    records: Vec<Record>,
}

#[derive(Debug, Deserialize)]
struct Record {
    #[serde(rename = "eventName")]
    event_name: String,
    #[serde(rename = "eventTime", default)]
    event_time: Option<String>,
    s3: Entity,
}

#[derive(Debug, Deserialize)]
struct Entity {
    bucket: Bucket,
    object: Object,
}

#[derive(Debug, Deserialize)]
struct Bucket {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Object {
    key: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(rename = "eTag", default)]
    etag: Option<String>,
    #[serde(rename = "versionId", default)]
    version_id: Option<String>,
    #[serde(default)]
    sequencer: Option<String>,
}

/// An EventBridge event from S3
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html>).
#[derive(Debug, Deserialize)]
struct EventBridge {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    #[serde(default)]
    time: Option<String>,
    detail: Detail,
}

#[derive(Debug, Deserialize)]
struct Detail {
    bucket: Bucket,
    object: DetailObject,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DetailObject {
    key: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    etag: Option<String>,
    #[serde(rename = "version-id", default)]
    version_id: Option<String>,
    #[serde(default)]
    sequencer: Option<String>,
}

/// What an event name says about the object's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventClass {
    /// New bytes under the key: a job.
    Creates,
    /// The object's bytes did not change: ignored.
    MetadataOnly,
    /// Anything else: an invalid job.
    Other,
}

/// MinIO's `s3:ObjectCreated:*` sub-types that write no bytes
/// (`internal/event/name.go` in MinIO: `ObjectCreatedAll` expands to these four and to `Put`,
/// `Post`, `Copy`, `CompleteMultipartUpload`).
const METADATA_CREATED: [&str; 4] = [
    "PutTagging",
    "DeleteTagging",
    "PutRetention",
    "PutLegalHold",
];

/// Event families (the part before `:`) about an object whose bytes stay as they were: AWS's
/// tagging, ACL, restore, lifecycle transition and Intelligent-Tiering events, MinIO's reads
/// and transitions.
const METADATA_FAMILIES: [&str; 7] = [
    "ObjectTagging",
    "ObjectAcl",
    "ObjectRestore",
    "ObjectAccessed",
    "ObjectTransition",
    "LifecycleTransition",
    "IntelligentTiering",
];

/// Classify an S3 / MinIO record's `eventName` (with or without MinIO's `s3:` prefix).
pub fn classify_event_name(name: &str) -> EventClass {
    let name = name.strip_prefix("s3:").unwrap_or(name);
    let (family, sub) = match name.split_once(':') {
        Some((f, s)) => (f, Some(s)),
        None => (name, None),
    };
    match (family, sub) {
        ("ObjectCreated", Some(sub)) if METADATA_CREATED.contains(&sub) => EventClass::MetadataOnly,
        ("ObjectCreated", Some(sub)) if !sub.is_empty() => EventClass::Creates,
        (f, _) if METADATA_FAMILIES.contains(&f) => EventClass::MetadataOnly,
        _ => EventClass::Other,
    }
}

/// EventBridge detail-types about an object whose bytes stay as they were
/// (<https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-s3.html>).
const METADATA_DETAIL_TYPES: [&str; 8] = [
    "Object Tags Added",
    "Object Tags Deleted",
    "Object ACL Updated",
    "Object Storage Class Changed",
    "Object Access Tier Changed",
    "Object Restore Initiated",
    "Object Restore Completed",
    "Object Restore Expired",
];

/// Classify an EventBridge `detail-type` from `aws.s3`.
pub fn classify_detail_type(detail_type: &str) -> EventClass {
    match detail_type {
        "Object Created" => EventClass::Creates,
        t if METADATA_DETAIL_TYPES.contains(&t) => EventClass::MetadataOnly,
        _ => EventClass::Other,
    }
}

/// Whether an object is S3's test event: `Event` is `s3:TestEvent`.
pub(crate) fn is_test_event(o: &Map<String, Value>) -> bool {
    o.get("Event").and_then(Value::as_str) == Some("s3:TestEvent")
}

/// An S3 / MinIO notification (`{"Records": [...]}`).
pub(crate) fn from_records(v: &Value, sns_message_id: Option<&str>) -> Result<Parsed, InvalidJob> {
    let n = Notification::deserialize(v)
        .map_err(|_| InvalidJob::Malformed("not a valid S3 event notification".into()))?;
    let [record]: [Record; 1] = n.records.try_into().map_err(|_| InvalidJob::Field {
        field: "Records",
        reason: "a notification must carry exactly one record",
    })?;
    match classify_event_name(&record.event_name) {
        EventClass::Creates => {}
        EventClass::MetadataOnly => return Ok(Parsed::Ignored(IgnoredEvent::MetadataOnly)),
        EventClass::Other => {
            return Err(InvalidJob::Field {
                field: "eventName",
                reason: "only object-created events are jobs",
            });
        }
    }
    let key = decode_key(&record.s3.object.key).ok_or(InvalidJob::Field {
        field: "key",
        reason: "not valid URL-encoded UTF-8",
    })?;
    let object = record.s3.object;
    object_job(ObjectEvent {
        format: "s3_notification",
        event_name: record.event_name,
        reason: None,
        event_time: record.event_time,
        bucket: record.s3.bucket.name,
        key,
        size: object.size,
        etag: object.etag,
        version_id: object.version_id,
        sequencer: object.sequencer,
        sns_message_id,
    })
}

/// An EventBridge event (it has `detail-type`).
pub(crate) fn from_eventbridge(
    v: &Value,
    sns_message_id: Option<&str>,
) -> Result<Parsed, InvalidJob> {
    let e = EventBridge::deserialize(v)
        .map_err(|_| InvalidJob::Malformed("not a valid S3 EventBridge event".into()))?;
    if e.source != "aws.s3" {
        return Err(InvalidJob::Field {
            field: "source",
            reason: "only S3 events (aws.s3) are jobs",
        });
    }
    match classify_detail_type(&e.detail_type) {
        EventClass::Creates => {}
        EventClass::MetadataOnly => return Ok(Parsed::Ignored(IgnoredEvent::MetadataOnly)),
        EventClass::Other => {
            return Err(InvalidJob::Field {
                field: "detail-type",
                reason: "only Object Created events are jobs",
            });
        }
    }
    let object = e.detail.object;
    object_job(ObjectEvent {
        format: "eventbridge",
        event_name: e.detail_type,
        reason: e.detail.reason,
        event_time: e.time,
        bucket: e.detail.bucket.name,
        // EventBridge carries the key as it is (no form encoding).
        key: object.key,
        size: object.size,
        etag: object.etag,
        version_id: object.version_id,
        sequencer: object.sequencer,
        sns_message_id,
    })
}

/// One object creation, whatever the shape that announced it.
struct ObjectEvent<'a> {
    format: &'static str,
    event_name: String,
    reason: Option<String>,
    event_time: Option<String>,
    bucket: String,
    key: String,
    size: Option<u64>,
    etag: Option<String>,
    version_id: Option<String>,
    sequencer: Option<String>,
    sns_message_id: Option<&'a str>,
}

/// The validated job for one object creation.
fn object_job(e: ObjectEvent<'_>) -> Result<Parsed, InvalidJob> {
    // Unversioned buckets omit the version; a suspended one may say "null".
    let version_id = e.version_id.filter(|v| !v.is_empty() && v != "null");
    let etag = e.etag.map(|t| t.trim_matches('"').to_string());
    // Creation events always carry the ETag; should one not, the version (or the event's
    // sequencer) still names this upload.
    let id_tag = etag
        .as_deref()
        .or(version_id.as_deref())
        .or(e.sequencer.as_deref());
    let job_id = object_job_id(&e.bucket, &e.key, id_tag);
    let etag = etag.filter(|t| !t.is_empty());
    let mut event = json!({
        "event_name": e.event_name,
        "event_time": e.event_time,
        "etag": etag,
        "size": e.size,
        "sequencer": e.sequencer,
        "format": e.format,
    });
    if let Some(reason) = e.reason {
        event["reason"] = json!(reason);
    }
    if let Some(id) = e.sns_message_id {
        event["sns_message_id"] = json!(id);
    }
    let mut metadata = Map::new();
    metadata.insert("s3_event".into(), event);
    let job = Job {
        job_id,
        bucket: e.bucket,
        key: e.key,
        version_id,
        etag,
        force_ocr: false,
        document_type: PASSPORT.to_string(),
        metadata: Some(metadata),
    };
    job.validate()?;
    Ok(Parsed::Event(job))
}

/// S3 notifications form-encode the key: `+` is a space, `%XX` a byte.
fn decode_key(raw: &str) -> Option<String> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A notification as MinIO's AMQP target sends it (shape from MinIO's documentation of
    /// bucket notifications), with a key that needs decoding.
    fn minio(event: &str, key: &str, version: Option<&str>) -> Value {
        let mut object = json!({
            "key": key,
            "size": 245_112,
            "eTag": "d41d8cd98f00b204e9800998ecf8427e",
            "contentType": "image/png",
            "userMetadata": {"content-type": "image/png"},
            "sequencer": "17E1B1D0A8A5B1C2"
        });
        if let Some(v) = version {
            object["versionId"] = json!(v);
        }
        json!({
            "EventName": event,
            "Key": format!("scans/{key}"),
            "Records": [{
                "eventVersion": "2.0",
                "eventSource": "minio:s3",
                "awsRegion": "",
                "eventTime": "2026-11-26T01:02:03.456Z",
                "eventName": event,
                "userIdentity": {"principalId": "minioadmin"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": "17E1B1D0A8A5B1C2"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "Config",
                    "bucket": {"name": "scans", "ownerIdentity": {"principalId": "minioadmin"}, "arn": "arn:aws:s3:::scans"},
                    "object": object
                },
                "source": {"host": "127.0.0.1", "port": "", "userAgent": "MinIO (linux; amd64)"}
            }]
        })
    }

    fn parse(v: &Value) -> Result<Job, InvalidJob> {
        Job::parse(&serde_json::to_vec(v).unwrap(), 65_536)
    }

    #[test]
    fn a_minio_put_event_becomes_a_job_with_a_decoded_key() {
        let job = parse(&minio(
            "s3:ObjectCreated:Put",
            "2026/scan+no.1%2Bx%C3%A9.png",
            None,
        ))
        .unwrap();
        assert_eq!(job.bucket, "scans");
        assert_eq!(job.key, "2026/scan no.1+xé.png");
        assert_eq!(job.version_id, None);
        assert_eq!(
            job.job_id,
            object_job_id(
                "scans",
                "2026/scan no.1+xé.png",
                Some("d41d8cd98f00b204e9800998ecf8427e")
            ),
            "the backfill's id for the same object"
        );
        let meta = job.metadata.unwrap();
        assert_eq!(meta["s3_event"]["event_name"], "s3:ObjectCreated:Put");
        assert_eq!(meta["s3_event"]["size"], 245_112);
    }

    #[test]
    fn an_aws_event_without_the_prefix_and_with_a_version_is_accepted() {
        let mut v = minio("ObjectCreated:CompleteMultipartUpload", "a.png", Some("v7"));
        v.as_object_mut().unwrap().remove("EventName");
        let job = parse(&v).unwrap();
        assert_eq!(job.version_id.as_deref(), Some("v7"));
        let null = parse(&minio("ObjectCreated:Put", "a.png", Some("null"))).unwrap();
        assert_eq!(null.version_id, None);
    }

    #[test]
    fn the_job_id_names_the_content_not_the_delivery() {
        let a = parse(&minio("s3:ObjectCreated:Put", "a.png", None)).unwrap();
        let again = parse(&minio("s3:ObjectCreated:Copy", "a.png", None)).unwrap();
        assert_eq!(a.job_id, again.job_id, "same bytes under the same key");
        let other_key = parse(&minio("s3:ObjectCreated:Put", "b.png", None)).unwrap();
        assert_ne!(a.job_id, other_key.job_id);
        let mut changed = minio("s3:ObjectCreated:Put", "a.png", None);
        changed["Records"][0]["s3"]["object"]["eTag"] = json!("0cc175b9c0f1b6a831c399e269772661");
        assert_ne!(a.job_id, parse(&changed).unwrap().job_id, "new content");
        let v1 = parse(&minio("s3:ObjectCreated:Put", "a.png", Some("1"))).unwrap();
        assert_eq!(
            v1.job_id, a.job_id,
            "a new version with the same bytes is the same image"
        );
    }

    #[test]
    fn other_notifications_are_invalid_jobs_naming_why() {
        let cases: Vec<(Value, &str)> = vec![
            (minio("s3:ObjectRemoved:Delete", "a.png", None), "eventName"),
            (json!({"Records": []}), "exactly one record"),
            (
                {
                    let mut v = minio("s3:ObjectCreated:Put", "a.png", None);
                    let r = v["Records"][0].clone();
                    v["Records"] = json!([r.clone(), r]);
                    v
                },
                "exactly one record",
            ),
            (json!({"Records": [{"eventName": 5}]}), "S3 event"),
            (minio("s3:ObjectCreated:Put", "%FF.png", None), "key"),
            (
                minio("s3:ObjectCreated:Put", "..%2Fetc%2Fpasswd", None),
                "key",
            ),
            (minio("s3:ObjectCreated:Put", "", None), "key"),
        ];
        for (v, needle) in cases {
            let err = parse(&v).unwrap_err().to_string();
            assert!(err.contains(needle), "{v}: {err}");
        }
        let mut bad_bucket = minio("s3:ObjectCreated:Put", "a.png", None);
        bad_bucket["Records"][0]["s3"]["bucket"]["name"] = json!("Bad_Bucket");
        assert!(
            parse(&bad_bucket)
                .unwrap_err()
                .to_string()
                .contains("bucket")
        );
    }

    #[test]
    fn a_job_with_records_is_still_a_job() {
        let v = json!({"job_id": "j", "bucket": "scans", "key": "k", "Records": []});
        assert_eq!(parse(&v).unwrap().job_id, "j");
    }

    #[test]
    fn event_names_sort_into_creations_metadata_and_the_rest() {
        use EventClass::*;
        for (name, want) in [
            ("s3:ObjectCreated:Put", Creates),
            ("ObjectCreated:Post", Creates),
            ("s3:ObjectCreated:Copy", Creates),
            ("ObjectCreated:CompleteMultipartUpload", Creates),
            ("s3:ObjectCreated:SomethingNew", Creates),
            ("s3:ObjectCreated:PutTagging", MetadataOnly),
            ("s3:ObjectCreated:DeleteTagging", MetadataOnly),
            ("s3:ObjectCreated:PutRetention", MetadataOnly),
            ("s3:ObjectCreated:PutLegalHold", MetadataOnly),
            ("ObjectTagging:Put", MetadataOnly),
            ("ObjectTagging:Delete", MetadataOnly),
            ("ObjectAcl:Put", MetadataOnly),
            ("ObjectRestore:Post", MetadataOnly),
            ("s3:ObjectAccessed:Head", MetadataOnly),
            ("s3:ObjectTransition:Complete", MetadataOnly),
            ("LifecycleTransition", MetadataOnly),
            ("IntelligentTiering", MetadataOnly),
            ("s3:ObjectRemoved:Delete", Other),
            ("LifecycleExpiration:DeleteMarkerCreated", Other),
            ("s3:Replication:OperationFailedReplication", Other),
            ("ReducedRedundancyLostObject", Other),
            ("ObjectCreated", Other),
            ("ObjectCreated:", Other),
            ("s3:PutTagging", Other),
            ("", Other),
        ] {
            assert_eq!(classify_event_name(name), want, "{name}");
        }
        assert_eq!(classify_detail_type("Object Created"), Creates);
        for t in METADATA_DETAIL_TYPES {
            assert_eq!(classify_detail_type(t), MetadataOnly, "{t}");
        }
        for t in [
            "Object Deleted",
            "Async Copy Completion",
            "object created",
            "",
        ] {
            assert_eq!(classify_detail_type(t), Other, "{t}");
        }
    }
}
