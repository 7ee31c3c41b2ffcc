//! Result-store edge: results and dead letters kept as JSON objects in S3, and the lookup that
//! lets the worker reuse a paid answer instead of paying again.
//!
//! Where entries go and what they hold is pure ([`ocr_common::result_entry`]); this module
//! only moves them. A lookup is one GET of the entry key (a missing key is a miss); a write is
//! one PUT with the configured server-side encryption.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use ocr_common::failure::JobError;
use ocr_common::job::Job;
use ocr_common::result_entry::{self, ContentTag, ResultEntry};

use crate::config::{ResultStoreSettings, Sse};

/// Largest entry read back (an entry is a CLOVA answer plus its record: tens of KB).
const MAX_ENTRY_BYTES: usize = 8 << 20;

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    /// An entry for this content.
    Hit(Box<ResultEntry>),
    /// No entry.
    Miss,
    /// An object at the entry key that is no readable entry (it is overwritten by the next
    /// paid call for this content).
    Unreadable,
}

/// The result store over `aws-sdk-s3`.
#[derive(Debug, Clone)]
pub struct ResultStore {
    client: aws_sdk_s3::Client,
    settings: ResultStoreSettings,
}

impl ResultStore {
    /// A store in `settings.bucket`, written and read with `client`.
    pub fn new(client: aws_sdk_s3::Client, settings: ResultStoreSettings) -> Self {
        ResultStore { client, settings }
    }

    /// Its settings.
    pub fn settings(&self) -> &ResultStoreSettings {
        &self.settings
    }

    /// The prefixes under which this store writes (for ignoring its own notifications).
    pub fn prefixes(&self) -> [&str; 2] {
        [
            self.settings.results_prefix.as_str(),
            self.settings.dead_letter_prefix.as_str(),
        ]
    }

    /// The stored entry for `job`'s object at `tag`, if any.
    pub async fn lookup(&self, job: &Job, tag: &ContentTag) -> Result<Lookup, JobError> {
        let key =
            result_entry::entry_key(&self.settings.results_prefix, &job.bucket, &job.key, tag);
        let got = self
            .client
            .get_object()
            .bucket(&self.settings.bucket)
            .key(&key)
            .send()
            .await;
        let out = match got {
            Ok(out) => out,
            Err(SdkError::ServiceError(se))
                if se.err().code() != Some("NoSuchBucket")
                    && (se.raw().status().as_u16() == 404
                        || se.err().code() == Some("NoSuchKey")) =>
            {
                return Ok(Lookup::Miss);
            }
            Err(e) => return Err(classify(&e, "reading")),
        };
        if out
            .content_length()
            .is_some_and(|n| n as usize > MAX_ENTRY_BYTES)
        {
            return Ok(Lookup::Unreadable);
        }
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|_| JobError::StorageTransient("result store: body interrupted".into()))?
            .into_bytes();
        Ok(match serde_json::from_slice::<ResultEntry>(&bytes) {
            Ok(entry) if entry.entry_version == result_entry::ENTRY_VERSION => {
                Lookup::Hit(Box::new(entry))
            }
            _ => Lookup::Unreadable,
        })
    }

    /// Write the entry for `job`'s object at `tag`.
    pub async fn put_result(
        &self,
        job: &Job,
        tag: &ContentTag,
        entry: &ResultEntry,
    ) -> Result<(), JobError> {
        let key =
            result_entry::entry_key(&self.settings.results_prefix, &job.bucket, &job.key, tag);
        let body = serde_json::to_vec(entry)
            .map_err(|e| JobError::BadResponse(format!("entry not serialisable: {e}")))?;
        self.put(key, body).await
    }

    /// Write a dead letter's copy (`body` is the published dead letter).
    pub async fn put_dead_letter(
        &self,
        job: Option<&Job>,
        message_id: &str,
        body: Vec<u8>,
    ) -> Result<(), JobError> {
        let key = result_entry::dead_letter_key(&self.settings.dead_letter_prefix, job, message_id);
        self.put(key, body).await
    }

    async fn put(&self, key: String, body: Vec<u8>) -> Result<(), JobError> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.settings.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        req = match &self.settings.sse {
            None => req,
            Some(Sse::Aes256) => req.server_side_encryption(ServerSideEncryption::Aes256),
            Some(Sse::Kms { key_id }) => req
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .set_ssekms_key_id(key_id.clone()),
        };
        req.send().await.map_err(|e| classify(&e, "writing"))?;
        Ok(())
    }
}

/// A failure of the store itself: credentials, a missing bucket or a refusal are
/// configuration (consumption stops: every paid result would be lost to it), the rest is
/// transient.
fn classify<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>, doing: &str) -> JobError {
    match e {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or_default();
            let status = se.raw().status().as_u16();
            match code {
                "NoSuchBucket"
                | "AccessDenied"
                | "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "KMS.NotFoundException" => JobError::StorageConfig(format!(
                    "result store refused {doing} ({code}); check OCR_RESULTS_BUCKET and its permissions"
                )),
                _ if status == 403 => JobError::StorageConfig(format!(
                    "result store refused {doing} (403); check OCR_RESULTS_BUCKET and its permissions"
                )),
                _ => JobError::StorageTransient(format!("result store {doing}: {status} {code}")),
            }
        }
        SdkError::TimeoutError(_) => {
            JobError::StorageTransient(format!("result store {doing}: timeout"))
        }
        _ => JobError::StorageTransient(format!("result store {doing}: unreachable")),
    }
}
