//! Backfill: list every object under an S3 prefix and publish one job per object to the work
//! queue, with publisher confirms pipelined (many in flight at once).
//!
//! Job ids are derived from bucket, key and ETag ([`object_job_id`]), so enqueueing the same
//! prefix twice yields the same job ids (consumers deduplicate on `message_id`), and they match
//! the ids of bucket notifications for the same objects. Resumable: `--start-after` the last
//! key reported.

use futures::StreamExt;
use ocr_common::job::object_job_id;

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

/// List `bucket/prefix` (after `start_after`) and publish up to `limit` jobs.
pub async fn enqueue_prefix(
    settings: &Settings,
    store: &S3Store,
    bucket: &str,
    prefix: &str,
    start_after: Option<String>,
    limit: Option<u64>,
) -> anyhow::Result<EnqueueReport> {
    let conn = amqp::connect(&settings.broker.amqp_url, "ocr-worker-enqueue").await?;
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
            let job_id = object_job_id(bucket, key, obj.e_tag());
            let body = serde_json::json!({ "job_id": job_id, "bucket": bucket, "key": key });
            jobs.push((job_id, key.to_string(), serde_json::to_vec(&body)?));
        }
        let results: Vec<_> = futures::stream::iter(jobs.iter())
            .map(|(id, _, body)| {
                amqp::publish_confirmed(
                    &ch,
                    Outgoing {
                        exchange: "",
                        routing_key: &settings.broker.jobs_queue,
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
    amqp::close_bounded(conn.close(200, "done".into())).await;
    Ok(report)
}
