//! Object-store edge: fetch one image from S3 (or any S3-protocol server) with a size cap.
//!
//! The size limit is checked against the GET response's `Content-Length` before any body byte
//! is read, and again while streaming (a server may lie or omit it), so at most
//! `max_image_bytes` are ever held in memory per job. No extra HEAD request is made.

use std::future::Future;
use std::path::PathBuf;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_types::service_config::ServiceConfigKey;
use bytes::{Bytes, BytesMut};
use ocr_common::failure::JobError;

use crate::config::S3Settings;

/// An object read into memory.
#[derive(Debug, Clone)]
pub struct FetchedObject {
    /// Object bytes.
    pub bytes: Bytes,
    /// ETag, as reported.
    pub etag: Option<String>,
    /// Version id, as reported.
    pub version_id: Option<String>,
}

/// Where images come from. The worker's pipeline is generic over it.
pub trait ObjectStore: Send + Sync + 'static {
    /// Fetch `bucket/key` (at `version_id`), refusing anything over `max_bytes`.
    fn fetch(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        max_bytes: u64,
    ) -> impl Future<Output = Result<FetchedObject, JobError>> + Send;

    /// The ETag of `bucket/key` without reading it, when the store can tell (one HEAD).
    /// `None` on any failure: the caller then fetches, and that GET classifies the error.
    fn etag(&self, bucket: &str, key: &str) -> impl Future<Output = Option<String>> + Send {
        let _ = (bucket, key);
        async { None }
    }
}

/// [`ObjectStore`] over `aws-sdk-s3`.
#[derive(Clone, Debug)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
}

impl S3Store {
    /// Build from the standard AWS configuration chain (environment, profile, IMDS...), with
    /// path-style addressing when `force_path_style` (default: when a custom endpoint is set).
    /// The one way the worker's commands build their S3 client.
    pub async fn from_settings(settings: &S3Settings) -> Self {
        let force_path_style = settings.force_path_style;
        let shared = aws_config::from_env()
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(settings.connect_timeout)
                    .build(),
            )
            .load()
            .await;
        // The S3 endpoint may be set for all services (`AWS_ENDPOINT_URL`) or for S3 only
        // (`AWS_ENDPOINT_URL_S3`, a profile's `services` section); ask the SDK's own
        // service-config lookup, the one the S3 client builder uses.
        let s3_endpoint_key = ServiceConfigKey::builder()
            .service_id("S3")
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .expect("every field is set");
        let custom_endpoint = shared.endpoint_url().is_some()
            || shared
                .service_config()
                .and_then(|c| c.load_config(s3_endpoint_key))
                .is_some();
        let path_style = force_path_style.unwrap_or(custom_endpoint);
        let conf = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(path_style)
            .build();
        S3Store {
            client: aws_sdk_s3::Client::from_conf(conf),
        }
    }

    /// Wrap an existing client.
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        S3Store { client }
    }

    /// The underlying client (for listing prefixes in `enqueue`).
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }
}

fn classify(err: SdkError<GetObjectError>, bucket: &str, key: &str) -> JobError {
    let not_found = || JobError::ObjectNotFound {
        bucket: bucket.to_string(),
        key: key.to_string(),
    };
    match &err {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().unwrap_or_default().to_string();
            match (status, code.as_str()) {
                (_, "NoSuchKey" | "NoSuchBucket" | "NoSuchVersion") | (404, _) => not_found(),
                // Archived and not restored: its own kind, not a refusal of access.
                (_, "InvalidObjectState") => JobError::ObjectArchived {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                },
                (_, "InvalidAccessKeyId" | "SignatureDoesNotMatch") => JobError::StorageConfig(
                    format!("S3 refused our credentials ({code}); check AWS_* settings"),
                ),
                (403, _) | (_, "AccessDenied") => JobError::AccessDenied {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                },
                (400, "InvalidArgument") => not_found(), // e.g. malformed version id
                _ => JobError::StorageTransient(format!("S3 answered {status} {code}")),
            }
        }
        SdkError::ConstructionFailure(_) => {
            JobError::StorageConfig("S3 request could not be built".into())
        }
        SdkError::TimeoutError(_) => JobError::StorageTransient("S3 timeout".into()),
        SdkError::DispatchFailure(d) => {
            let what = if d.is_timeout() {
                "timeout"
            } else if d.is_io() {
                "i/o error"
            } else {
                "connection error"
            };
            JobError::StorageTransient(format!("S3 unreachable ({what})"))
        }
        SdkError::ResponseError(_) => JobError::StorageTransient("S3 response unreadable".into()),
        _ => JobError::StorageTransient("S3 error".into()),
    }
}

impl ObjectStore for S3Store {
    async fn etag(&self, bucket: &str, key: &str) -> Option<String> {
        let out = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .ok()?;
        out.e_tag().map(str::to_string)
    }

    async fn fetch(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        max_bytes: u64,
    ) -> Result<FetchedObject, JobError> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_string))
            .send()
            .await
            .map_err(|e| classify(e, bucket, key))?;
        let declared = out.content_length().unwrap_or(-1);
        if declared > 0 && declared as u64 > max_bytes {
            return Err(JobError::ImageTooLarge {
                size: declared as u64,
                limit: max_bytes,
            });
        }
        let etag = out.e_tag().map(str::to_string);
        let version = out.version_id().map(str::to_string);
        let mut body = out.body;
        let mut buf = BytesMut::with_capacity(declared.clamp(0, 8 << 20) as usize);
        loop {
            match body.next().await {
                None => break,
                Some(Ok(chunk)) => {
                    if (buf.len() + chunk.len()) as u64 > max_bytes {
                        return Err(JobError::ImageTooLarge {
                            size: (buf.len() + chunk.len()) as u64,
                            limit: max_bytes,
                        });
                    }
                    buf.extend_from_slice(&chunk);
                }
                Some(Err(_)) => {
                    return Err(JobError::StorageTransient(
                        "S3 body stream interrupted".into(),
                    ));
                }
            }
        }
        Ok(FetchedObject {
            bytes: buf.freeze(),
            etag,
            version_id: version.or_else(|| version_id.map(str::to_string)),
        })
    }
}

/// [`ObjectStore`] over local files, for `ocr-worker process FILE`: the job's key is the path
/// (the bucket is ignored), under the same size cap as an S3 object, checked before reading.
#[derive(Clone, Debug, Default)]
pub struct LocalFiles;

impl ObjectStore for LocalFiles {
    async fn fetch(
        &self,
        bucket: &str,
        key: &str,
        _version_id: Option<&str>,
        max_bytes: u64,
    ) -> Result<FetchedObject, JobError> {
        let path = PathBuf::from(key);
        let io_error = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::NotFound => JobError::ObjectNotFound {
                bucket: bucket.to_string(),
                key: key.to_string(),
            },
            std::io::ErrorKind::PermissionDenied => JobError::AccessDenied {
                bucket: bucket.to_string(),
                key: key.to_string(),
            },
            other => JobError::StorageTransient(format!("reading a local file: {other}")),
        };
        let size = tokio::fs::metadata(&path).await.map_err(io_error)?.len();
        if size > max_bytes {
            return Err(JobError::ImageTooLarge {
                size,
                limit: max_bytes,
            });
        }
        let bytes = tokio::fs::read(&path).await.map_err(io_error)?;
        if bytes.len() as u64 > max_bytes {
            return Err(JobError::ImageTooLarge {
                size: bytes.len() as u64,
                limit: max_bytes,
            });
        }
        Ok(FetchedObject {
            bytes: Bytes::from(bytes),
            etag: None,
            version_id: None,
        })
    }
}
