//! Backfill: list every object under an S3 prefix and publish one job per object to the work
//! queue, with publisher confirms pipelined (many in flight at once).
//!
//! Job ids are derived from bucket, key and ETag ([`object_job_id`]), so enqueueing the same
//! prefix twice yields the same job ids (consumers deduplicate on `message_id`), and they match
//! the ids of bucket notifications for the same objects. Resumable: `--start-after` the last
//! key reported (on success in the printed report; when a run fails mid-way, [`enqueue_prefix`]
//! prints to stderr the last key up to which every object is confirmed, [`resume_hint`]).

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

/// What to tell an operator after a run failed with `report` done: the `--start-after` key
/// from which a rerun misses nothing. Every object up to and including `report.last_key` is
/// confirmed (later ones may be too: a rerun publishes them again under the same job ids,
/// which consumers deduplicate); with nothing confirmed, the run's own `start_after`.
pub fn resume_hint(report: &EnqueueReport, start_after: Option<&str>) -> String {
    match report.last_key.as_deref().or(start_after) {
        Some(key) => format!(
            "ocr-worker enqueue: failed after {} confirmed jobs; resume with --start-after {key}",
            report.published
        ),
        None => "ocr-worker enqueue: failed before any job was confirmed; rerun from the start \
                 (no --start-after)"
            .to_string(),
    }
}

/// List `bucket/prefix` (after `start_after`) and publish up to `limit` jobs. When it fails
/// mid-way it prints [`resume_hint`] to stderr before returning the error.
pub async fn enqueue_prefix(
    settings: &Settings,
    store: &S3Store,
    bucket: &str,
    prefix: &str,
    start_after: Option<String>,
    limit: Option<u64>,
) -> anyhow::Result<EnqueueReport> {
    let mut report = EnqueueReport::default();
    let resume_from = start_after.clone();
    // `report` holds what was confirmed, also when the run fails.
    let run = async {
        let conn = amqp::connect(&settings.broker.amqp_url, "ocr-worker-enqueue").await?;
        amqp::declare_topology(&conn, settings).await?;
        let ch = amqp::confirm_channel(&conn).await?;
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
                let mut body =
                    serde_json::json!({ "job_id": job_id, "bucket": bucket, "key": key });
                if let Some(etag) = obj
                    .e_tag()
                    .map(|e| e.trim_matches('"'))
                    .filter(|e| !e.is_empty())
                {
                    body["etag"] = etag.into();
                }
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
            // In listing order: `last_key` only advances past a key once every key before it is
            // confirmed, so it is always safe to resume after.
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
        Ok::<(), anyhow::Error>(())
    };
    if let Err(e) = run.await {
        eprintln!("{}", resume_hint(&report, resume_from.as_deref()));
        return Err(e);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resume_hint_names_the_last_confirmed_key_or_the_original_start() {
        let done = EnqueueReport {
            published: 3,
            skipped: 0,
            last_key: Some("scans/0003.png".into()),
        };
        let hint = resume_hint(&done, Some("scans/0000.png"));
        assert!(hint.ends_with("--start-after scans/0003.png"), "{hint}");
        assert!(hint.contains("3 confirmed"), "{hint}");
        let none = EnqueueReport::default();
        assert!(
            resume_hint(&none, Some("scans/0000.png")).ends_with("--start-after scans/0000.png")
        );
        assert!(resume_hint(&none, None).contains("no --start-after"));
    }
}
