//! Backfill: list every object under an S3 prefix and publish one job per object to the work
//! queue, with publisher confirms pipelined (many in flight at once).
//!
//! Job ids are derived from bucket, key and ETag, so enqueueing the same prefix twice yields
//! the same job ids (consumers deduplicate on `message_id`). Resumable: `--start-after` the last
//! key reported.

use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::amqp::{self, Outgoing};
use crate::config::Settings;
use crate::storage::S3Store;

/// What an enqueue run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EnqueueReport {
    /// Jobs published and confirmed.
    pub published: u64,
    /// Objects skipped (e.g. "directory" markers).
    pub skipped: u64,
    /// Last key confirmed (pass it as `start_after` to resume).
    pub last_key: Option<String>,
}

/// Deterministic job id of an object version.
pub fn job_id_for(bucket: &str, key: &str, etag: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(bucket.as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    h.update([0]);
    h.update(etag.unwrap_or("").trim_matches('"').as_bytes());
    format!("bf-{}", &hex::encode(h.finalize())[..32])
}

/// List `bucket/prefix` (after `start_after`) and publish up to `limit` jobs.
pub async fn enqueue_prefix(
    settings: &Settings,
    store: &S3Store,
    bucket: &str,
    prefix: &str,
    start_after: Option<String>,
    limit: Option<u64>,
) -> anyhow::Result<EnqueueReport> {
    let conn = amqp::connect(&settings.amqp_url, "ocr-worker-enqueue").await?;
    amqp::declare_topology(&conn, settings).await?;
    let ch = amqp::confirm_channel(&conn).await?;
    let mut report = EnqueueReport::default();
    let mut pages = store
        .client()
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .set_start_after(start_after)
        .into_paginator()
        .send();
    'outer: while let Some(page) = pages.next().await {
        let page = page?;
        let mut jobs = Vec::new();
        for obj in page.contents() {
            let Some(key) = obj.key() else { continue };
            if key.ends_with('/') || obj.size().unwrap_or(0) == 0 {
                report.skipped += 1;
                continue;
            }
            if limit.is_some_and(|l| report.published + jobs.len() as u64 >= l) {
                break;
            }
            let job_id = job_id_for(bucket, key, obj.e_tag());
            let body = serde_json::json!({ "job_id": job_id, "bucket": bucket, "key": key });
            jobs.push((job_id, key.to_string(), serde_json::to_vec(&body)?));
        }
        let results: Vec<_> = futures::stream::iter(jobs.iter())
            .map(|(id, _, body)| {
                amqp::publish_confirmed(
                    &ch,
                    Outgoing {
                        exchange: "",
                        routing_key: &settings.jobs_queue,
                        body,
                        message_id: id,
                        correlation_id: None,
                        headers: None,
                    },
                )
            })
            .buffered(256)
            .collect()
            .await;
        for ((_, key, _), r) in jobs.iter().zip(results) {
            r?;
            report.published += 1;
            report.last_key = Some(key.clone());
        }
        tracing::info!(published = report.published, "enqueue progress");
        if limit.is_some_and(|l| report.published >= l) {
            break 'outer;
        }
    }
    let _ = conn.close(200, "done".into()).await;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_stable_and_distinct() {
        let a = job_id_for("b", "k", Some("\"e1\""));
        assert_eq!(a, job_id_for("b", "k", Some("e1")));
        assert_ne!(a, job_id_for("b", "k", Some("e2")));
        assert_ne!(a, job_id_for("b", "k2", Some("e1")));
        assert_eq!(a.len(), 35);
    }
}
