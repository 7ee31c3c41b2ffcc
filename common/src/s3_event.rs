//! S3 / MinIO bucket notifications accepted as jobs (event-driven onboarding).
//!
//! An image lands in a bucket; the bucket's notification (AWS S3 event format 2.x, which MinIO's
//! AMQP target also sends, with its extra top-level `EventName`/`Key`) arrives on the work queue
//! and is turned into the same [`Job`] a producer would have written:
//!
//! - exactly one record, whose `eventName` is an object creation (`ObjectCreated:*`, with or
//!   without MinIO's `s3:` prefix); anything else is an invalid job (configure the bucket to
//!   notify on creations only);
//! - `bucket`, `key` (URL-decoded: S3 form-encodes it, `+` for a space), `versionId` when the
//!   bucket is versioned;
//! - `job_id` = [`object_job_id`] over bucket, key and ETag, the id a backfill gives the same
//!   object: the same notification delivered twice, the same bytes uploaded again under the
//!   same key, or an object both backfilled and announced, is one job id that consumers
//!   deduplicate; other content under the key is a new job;
//! - `metadata.s3_event` carries the event name, time, ETag, size and sequencer.

use crate::job::{InvalidJob, Job, PASSPORT, object_job_id};
use serde::Deserialize;
use serde_json::{Map, Value, json};

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

/// Whether a parsed JSON body looks like a bucket notification rather than a job: an object
/// with `Records` and no `job_id`.
pub fn is_notification(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|o| o.contains_key("Records") && !o.contains_key("job_id"))
}

/// The job a bucket notification asks for. The result is not yet validated (the caller runs
/// the same checks as for any job).
pub fn job_from_notification(v: Value) -> Result<Job, InvalidJob> {
    let n: Notification = serde_json::from_value(v)
        .map_err(|_| InvalidJob::Malformed("not a valid S3 event notification".into()))?;
    let [record]: [Record; 1] = n.records.try_into().map_err(|_| InvalidJob::Field {
        field: "Records",
        reason: "a notification must carry exactly one record",
    })?;
    let kind = record
        .event_name
        .strip_prefix("s3:")
        .unwrap_or(&record.event_name);
    if !kind.starts_with("ObjectCreated:") {
        return Err(InvalidJob::Field {
            field: "eventName",
            reason: "only object-created events are jobs",
        });
    }
    let bucket = record.s3.bucket.name;
    let key = decode_key(&record.s3.object.key).ok_or(InvalidJob::Field {
        field: "key",
        reason: "not valid URL-encoded UTF-8",
    })?;
    let object = record.s3.object;
    // Unversioned buckets omit `versionId`; a suspended one may say "null".
    let version_id = object.version_id.filter(|v| !v.is_empty() && v != "null");
    let etag = object.etag.map(|e| e.trim_matches('"').to_string());
    // Creation events always carry the ETag; should one not, the version (or the event's
    // sequencer) still names this upload.
    let id_tag = etag
        .as_deref()
        .or(version_id.as_deref())
        .or(object.sequencer.as_deref());
    let job_id = object_job_id(&bucket, &key, id_tag);
    let etag = etag.filter(|e| !e.is_empty());
    let mut metadata = Map::new();
    metadata.insert(
        "s3_event".into(),
        json!({
            "event_name": record.event_name,
            "event_time": record.event_time,
            "etag": etag,
            "size": object.size,
            "sequencer": object.sequencer,
        }),
    );
    Ok(Job {
        job_id,
        bucket,
        key,
        version_id,
        etag,
        force_ocr: false,
        document_type: PASSPORT.to_string(),
        metadata: Some(metadata),
    })
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
        assert!(!is_notification(&v));
    }
}
