//! What the result store keeps for one image, and where: the entry a paid OCR call leaves in S3
//! so that the same content is never paid for again.
//!
//! An entry is addressed by its source alone, bucket, key and *content tag* (the version id
//! when the job names one, else the ETag), so finding it needs no index and no other store:
//! one GET at [`entry_key`]. It holds the raw CLOVA answer, and a reused entry is normalized
//! again with today's normalizer ([`crate::normalize`]), so a fixed normalizer bug never lives
//! on in reused results; the stored record is kept for people and audits, not read back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::job::{Job, MAX_KEY_BYTES};
use crate::message::ResultMessage;

/// Version of the entry layout ([`ResultEntry`]).
pub const ENTRY_VERSION: u32 = 1;

/// Which content of an object an entry belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentTag {
    /// A version id (versioned buckets; names one immutable content).
    Version(String),
    /// An ETag, quotes removed (changes whenever the bytes do).
    ETag(String),
}

impl ContentTag {
    /// The tag a job's content is stored and looked up under: the version id when the job
    /// names one, else the ETag (the job's own, or the store's answer), else none.
    pub fn for_job(job: &Job, etag: Option<&str>) -> Option<ContentTag> {
        if let Some(v) = &job.version_id {
            return Some(ContentTag::Version(v.clone()));
        }
        let etag = etag.or(job.etag.as_deref())?.trim_matches('"');
        (!etag.is_empty()).then(|| ContentTag::ETag(etag.to_string()))
    }

    fn label(&self) -> String {
        match self {
            ContentTag::Version(v) => format!("version-{v}"),
            ContentTag::ETag(e) => format!("etag-{e}"),
        }
    }
}

/// The key of the entry for `bucket/key` at `tag` under `prefix`:
/// `<prefix><bucket>/<key>@<version-…|etag-…>.json`, readable in a bucket listing. When that
/// would pass S3's 1024-byte key limit, the object key is replaced by its SHA-256
/// (`<prefix><bucket>/_sha256/<hex>@….json`), so every source has exactly one entry key.
pub fn entry_key(prefix: &str, bucket: &str, key: &str, tag: &ContentTag) -> String {
    let label = tag.label();
    let readable = format!("{prefix}{bucket}/{key}@{label}.json");
    if readable.len() <= MAX_KEY_BYTES {
        return readable;
    }
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    let label_digest = hex::encode(&Sha256::digest(label.as_bytes())[..16]);
    format!("{prefix}{bucket}/_sha256/{digest}@{label_digest}.json")
}

/// The key of a dead letter's copy under `prefix`: its source's entry key when the job parsed
/// (tagged with the content when known, else with a digest of the job id), else a digest of
/// the delivery's message id under `_unparsed/`.
pub fn dead_letter_key(prefix: &str, job: Option<&Job>, message_id: &str) -> String {
    let short = |s: &str| hex::encode(&Sha256::digest(s.as_bytes())[..16]);
    match job {
        Some(job) => {
            let tag = ContentTag::for_job(job, None)
                .unwrap_or_else(|| ContentTag::ETag(format!("job-{}", short(&job.job_id))));
            entry_key(prefix, &job.bucket, &job.key, &tag)
        }
        None => format!("{prefix}_unparsed/{}.json", short(message_id)),
    }
}

/// Whether `key` in `bucket` is one of this worker's own writes: under the result or
/// dead-letter prefix of the result store's bucket. Bucket notifications for such keys are
/// ignored, or writing results would create jobs in a loop.
pub fn is_own_output(bucket: &str, key: &str, store_bucket: &str, prefixes: &[&str]) -> bool {
    bucket == store_bucket && crate::intake::is_under_prefixes(key, prefixes)
}

/// One stored result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultEntry {
    /// [`ENTRY_VERSION`].
    pub entry_version: u32,
    /// [`crate::normalize::NORMALIZER_VERSION`] of the normalizer that made `result`.
    pub normalizer_version: u32,
    /// The worker release that wrote the entry.
    pub written_by: String,
    /// The CLOVA answer as received (the `200 OK` body).
    pub clova_response: Value,
    /// The result as it was published: its `source` is the image the answer is for, its `ocr`
    /// the paid call.
    pub result: ResultMessage,
    /// When the entry was written.
    pub stored_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(version: Option<&str>, etag: Option<&str>) -> Job {
        Job {
            job_id: "j-1".into(),
            bucket: "scans".into(),
            key: "a/b.png".into(),
            version_id: version.map(Into::into),
            etag: etag.map(Into::into),
            force_ocr: false,
            document_type: "passport".into(),
            metadata: None,
        }
    }

    #[test]
    fn the_version_wins_over_any_etag_and_quotes_do_not_matter() {
        let v = ContentTag::for_job(&job(Some("v7"), Some("e1")), Some("\"e2\""));
        assert_eq!(v, Some(ContentTag::Version("v7".into())));
        // The store's answer (quoted, as S3 sends it) and the job's own (bare) are one tag.
        let from_store = ContentTag::for_job(&job(None, None), Some("\"abc\""));
        let from_job = ContentTag::for_job(&job(None, Some("abc")), None);
        assert_eq!(from_store, from_job);
        assert_eq!(from_store, Some(ContentTag::ETag("abc".into())));
        assert_eq!(ContentTag::for_job(&job(None, None), Some("\"\"")), None);
        assert_eq!(ContentTag::for_job(&job(None, None), None), None);
    }

    #[test]
    fn entry_keys_are_readable_distinct_per_content_and_never_too_long() {
        let e = entry_key(
            "ocr-results/",
            "scans",
            "a/b.png",
            &ContentTag::ETag("abc".into()),
        );
        assert_eq!(e, "ocr-results/scans/a/b.png@etag-abc.json");
        let v = entry_key(
            "ocr-results/",
            "scans",
            "a/b.png",
            &ContentTag::Version("abc".into()),
        );
        assert_ne!(
            e, v,
            "a version and an ETag that happen to be equal are two tags"
        );
        let long_key = "k".repeat(1020);
        let long = entry_key("p/", "scans", &long_key, &ContentTag::ETag("x".into()));
        assert!(long.len() <= MAX_KEY_BYTES, "{}", long.len());
        assert!(long.starts_with("p/scans/_sha256/"), "{long}");
        let other = entry_key("p/", "scans", &long_key, &ContentTag::ETag("y".into()));
        assert_ne!(long, other, "new content under a long key is a new entry");
    }

    #[test]
    fn dead_letter_keys_follow_the_source_or_the_message_id() {
        let with_etag = dead_letter_key("dl/", Some(&job(None, Some("e1"))), "m");
        assert_eq!(with_etag, "dl/scans/a/b.png@etag-e1.json");
        let without = dead_letter_key("dl/", Some(&job(None, None)), "m");
        assert!(
            without.starts_with("dl/scans/a/b.png@etag-job-"),
            "{without}"
        );
        let unparsed = dead_letter_key("dl/", None, "m-1");
        assert!(unparsed.starts_with("dl/_unparsed/"), "{unparsed}");
        assert_ne!(unparsed, dead_letter_key("dl/", None, "m-2"));
        assert!(
            !unparsed.contains("m-1"),
            "message ids are producer data: digest only"
        );
    }

    #[test]
    fn own_output_is_the_store_bucket_under_a_store_prefix() {
        let prefixes = ["ocr-results/", "ocr-dead-letters/"];
        assert!(is_own_output(
            "scans",
            "ocr-results/scans/x.png@etag-1.json",
            "scans",
            &prefixes
        ));
        assert!(is_own_output(
            "scans",
            "ocr-dead-letters/x",
            "scans",
            &prefixes
        ));
        assert!(!is_own_output("other", "ocr-results/x", "scans", &prefixes));
        assert!(!is_own_output("scans", "uploads/x.png", "scans", &prefixes));
    }
}
