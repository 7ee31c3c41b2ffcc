//! Backfill (`ocr-worker enqueue`): list one or more S3 prefixes and publish one job per object
//! that passes the filters, with publisher confirms pipelined (many in flight at once).
//!
//! Job ids are derived from bucket, key and ETag ([`ocr_common::job::object_job_id`]), so
//! enqueueing the same prefix twice yields the same job ids (consumers deduplicate on
//! `message_id`), and they match the ids of bucket notifications for the same objects.
//!
//! # Layout
//! - [`args`]: the command's flags, checked into [`Options`].
//! - [`target`]: a target, `s3://bucket/prefix`.
//! - [`filter`]: which listed objects become jobs (suffix, size, dates, storage class).
//! - [`watermark`]: the low-water mark over out-of-order confirms.
//! - [`checkpoint`]: the `--checkpoint` file (versioned JSON, replaced atomically).
//! - [`pump`]: the listing → publish loop of one target.
//! - [`estimate`]: the `--dry-run` arithmetic.
//! - [`progress`]: a bar on a terminal, log lines otherwise.
//! - [`units`]: sizes, latencies and their human forms.
//!
//! This file runs the targets in order: starting points (checkpoint, `--start-after`), the
//! broker and S3 edges, the report and the resume hint. See `docs/backfill.md`.

use std::path::PathBuf;
use std::time::Duration;

use futures::stream::Stream;
use serde::Serialize;

use crate::amqp::{self, AmqpError, Outgoing};
use crate::config::Settings;
use crate::storage::S3Store;

pub mod args;
pub mod checkpoint;
pub mod estimate;
pub mod filter;
pub mod progress;
pub mod pump;
pub mod target;
pub mod units;
pub mod watermark;

pub use args::EnqueueArgs;
use checkpoint::{Checkpoint, CheckpointError};
use estimate::Estimate;
use filter::{Filter, Listed, SkipCounts};
use progress::{Counts, Progress};
use pump::{Finish, Plan, Recorder, TargetRun};
use target::Target;

/// What to enqueue and how (the checked flags).
#[derive(Debug, Clone)]
pub struct Options {
    /// The prefixes to list, in order.
    pub targets: Vec<Target>,
    /// Which objects become jobs.
    pub filter: Filter,
    /// Set `force_ocr` in every job.
    pub force_ocr: bool,
    /// List after this key (one target only).
    pub start_after: Option<String>,
    /// Publish at most this many jobs in all.
    pub limit: Option<u64>,
    /// The checkpoint file.
    pub checkpoint: Option<PathBuf>,
    /// Continue from the checkpoint.
    pub resume: bool,
    /// List and estimate; publish nothing.
    pub dry_run: bool,
    /// The assumed time of one OCR call (dry run).
    pub ocr_latency: Duration,
    /// Publishes in flight (and after the saved mark) at most.
    pub in_flight: usize,
    /// Keys per listing page (`max-keys`; `None`: the store's default, 1000 on S3).
    pub page_size: Option<i32>,
    /// The queue the jobs go to (through the default exchange).
    pub queue: String,
}

impl Options {
    /// The filter and job options, as the checkpoint records them.
    pub fn fingerprint(&self) -> String {
        format!("{} force_ocr={}", self.filter.describe(), self.force_ocr)
    }
}

/// Why a backfill failed.
#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    /// The checkpoint could not be read, written or used.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The broker failed or refused a publish.
    #[error(transparent)]
    Broker(#[from] AmqpError),
    /// Listing a target failed.
    #[error("listing {target} failed: {message}")]
    List {
        /// The target.
        target: String,
        /// The store's answer.
        message: String,
    },
    /// The run stopped part-way; `hint` says how to continue and `report` what was done.
    #[error("{cause}")]
    Interrupted {
        /// What to tell the operator (the key or the checkpoint to resume from).
        hint: String,
        /// What was confirmed before it stopped.
        report: Box<EnqueueReport>,
        /// Why it stopped.
        cause: Box<EnqueueError>,
    },
}

/// How a target ended in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetStatus {
    /// Listed to the end, every job confirmed.
    Complete,
    /// The checkpoint says it was complete before this run: not listed.
    AlreadyComplete,
    /// Stopped by `--limit` or a failure.
    Partial,
}

/// One target's part of an [`EnqueueReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetReport {
    /// `s3://bucket/prefix`.
    pub target: String,
    /// How it ended.
    pub status: TargetStatus,
    /// Jobs published and confirmed in this run.
    pub published: u64,
    /// Objects skipped by the filters in this run.
    pub skipped: u64,
    /// Its low-water mark: resume after this key.
    pub last_key: Option<String>,
}

/// What an enqueue run did (printed as JSON on stdout).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct EnqueueReport {
    /// Jobs published and confirmed.
    pub published: u64,
    /// Objects skipped (directory markers, empty objects, filters, archived).
    pub skipped: u64,
    /// Skips by reason.
    pub skipped_by: SkipCounts,
    /// Objects listed.
    pub listed: u64,
    /// Bytes of the objects enqueued.
    pub bytes: u64,
    /// The low-water mark of the last target worked on: with one target, the key to pass as
    /// `--start-after` to continue.
    pub last_key: Option<String>,
    /// By target, in order (targets after a `--limit` stop are absent).
    pub targets: Vec<TargetReport>,
}

impl EnqueueReport {
    fn add(&mut self, run: &TargetRun, status: TargetStatus) {
        self.published += run.counts.confirmed;
        self.skipped += run.counts.skipped;
        self.skipped_by = self.skipped_by.plus(&run.skipped);
        self.listed += run.counts.listed;
        self.bytes += run.bytes;
        self.last_key = run.watermark.mark().map(str::to_string);
        self.targets.push(TargetReport {
            target: run.target.to_string(),
            status,
            published: run.counts.confirmed,
            skipped: run.counts.skipped,
            last_key: self.last_key.clone(),
        });
    }
}

/// One target's part of a [`DryRunReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DryRunTarget {
    /// `s3://bucket/prefix`.
    pub target: String,
    /// Objects that would become jobs.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Objects skipped.
    pub skipped: u64,
    /// The checkpoint says it is complete: not listed.
    pub already_complete: bool,
}

/// What a dry run found (printed as JSON on stdout; [`Estimate::explain`] on stderr).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DryRunReport {
    /// Always true: nothing was published.
    pub dry_run: bool,
    /// Objects listed.
    pub listed: u64,
    /// Objects skipped.
    pub skipped: u64,
    /// Skips by reason.
    pub skipped_by: SkipCounts,
    /// Objects, bytes, OCR calls and the time at the domain's quota.
    #[serde(flatten)]
    pub estimate: Estimate,
    /// By target.
    pub targets: Vec<DryRunTarget>,
}

/// Where a target starts in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Start {
    /// List after `after` (`None`: from the beginning).
    After {
        after: Option<String>,
        confirmed_before: u64,
    },
    /// Complete in the checkpoint.
    Done,
}

/// The starting point of each target and the checkpoint to keep writing (`None` without
/// `--checkpoint`, and for a dry run, which writes nothing).
fn starting_points(opts: &Options) -> Result<(Vec<Start>, Option<Checkpoint>), EnqueueError> {
    let fresh = |opts: &Options| {
        opts.targets
            .iter()
            .map(|_| Start::After {
                after: opts.start_after.clone(),
                confirmed_before: 0,
            })
            .collect::<Vec<_>>()
    };
    let Some(path) = &opts.checkpoint else {
        return Ok((fresh(opts), None));
    };
    let fingerprint = opts.fingerprint();
    match (Checkpoint::load(path)?, opts.resume) {
        (Some(cp), true) => {
            cp.check_options(path, &fingerprint)?;
            let starts = opts
                .targets
                .iter()
                .map(|t| match cp.targets.get(&t.to_string()) {
                    Some(s) if s.complete => Start::Done,
                    Some(s) => Start::After {
                        after: s.after.clone(),
                        confirmed_before: s.confirmed,
                    },
                    None => Start::After {
                        after: None,
                        confirmed_before: 0,
                    },
                })
                .collect();
            Ok((starts, (!opts.dry_run).then_some(cp)))
        }
        (Some(_), false) if !opts.dry_run => {
            Err(CheckpointError::Exists { path: path.clone() }.into())
        }
        (found, resume) => {
            if found.is_none() && resume {
                tracing::warn!(
                    "enqueue: no checkpoint file yet; starting every target from the beginning"
                );
            }
            Ok((
                fresh(opts),
                (!opts.dry_run).then(|| Checkpoint::new(fingerprint)),
            ))
        }
    }
}

/// List `target` after `after`, `page_size` keys a page, as [`Listed`] objects.
fn listing(
    store: &S3Store,
    target: &Target,
    after: Option<String>,
    page_size: Option<i32>,
) -> impl Stream<Item = Result<Vec<Listed>, EnqueueError>> + Unpin + use<> {
    let pages = store
        .client()
        .list_objects_v2()
        .bucket(&target.bucket)
        .prefix(&target.prefix)
        .set_start_after(after)
        .set_max_keys(page_size)
        .into_paginator()
        .send();
    let name = target.to_string();
    Box::pin(futures::stream::unfold(pages, move |mut pages| {
        let name = name.clone();
        async move {
            let page = pages.next().await?;
            let item = match page {
                Ok(p) => Ok(p.contents().iter().filter_map(to_listed).collect()),
                Err(e) => Err(EnqueueError::List {
                    target: name,
                    message: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
                }),
            };
            Some((item, pages))
        }
    }))
}

/// What the filter needs from a listing entry (entries without a key are dropped).
fn to_listed(o: &aws_sdk_s3::types::Object) -> Option<Listed> {
    Some(Listed {
        key: o.key()?.to_string(),
        size: o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
        last_modified: o
            .last_modified()
            .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
        storage_class: o.storage_class().map(|c| c.as_str().to_string()),
        etag: o
            .e_tag()
            .map(|e| e.trim_matches('"'))
            .filter(|e| !e.is_empty())
            .map(str::to_string),
    })
}

/// What to tell an operator after a run stopped with `report` done (see [`EnqueueError::
/// Interrupted`]): the key from which a rerun misses nothing (every object up to it has a
/// confirmed job or was skipped; later ones may too: a rerun publishes them again under the
/// same job ids, which consumers deduplicate), or the checkpoint that records it.
pub fn resume_hint(
    report: &EnqueueReport,
    opts: &Options,
    failed: &Target,
    start_after: Option<&str>,
) -> String {
    let confirmed = report.published;
    let key = report.last_key.as_deref().or(start_after);
    let single = opts.targets.len() == 1;
    let head = if confirmed == 0 && key.is_none() {
        "ocr-worker enqueue: failed before any job was confirmed".to_string()
    } else {
        format!("ocr-worker enqueue: failed after {confirmed} confirmed jobs")
    };
    if let Some(cp) = &opts.checkpoint {
        let at = key.map_or(String::new(), |k| format!("; {failed} stands after {k}"));
        return format!(
            "{head}{at}; resume with --resume --checkpoint {}",
            cp.display()
        );
    }
    let later: Vec<String> = opts
        .targets
        .iter()
        .skip_while(|t| *t != failed)
        .skip(1)
        .map(ToString::to_string)
        .collect();
    match (key, single) {
        (Some(k), true) => format!("{head}; resume with --start-after {k}"),
        (None, true) => format!("{head}; rerun from the start (no --start-after)"),
        (k, false) => {
            let from = k.map_or("from the start".to_string(), |k| {
                format!("with --start-after {k}")
            });
            let rest = if later.is_empty() {
                String::new()
            } else {
                format!(", then enqueue {}", later.join(" "))
            };
            format!(
                "{head} in {failed}; rerun {failed} {from}{rest} (the targets before it are \
                 done; --checkpoint FILE makes this one --resume)"
            )
        }
    }
}

/// Enqueue every target of `opts` (not for a dry run: [`dry_run`]). On a failure part-way,
/// returns [`EnqueueError::Interrupted`] with the resume hint.
pub async fn enqueue(
    settings: &Settings,
    store: &S3Store,
    opts: &Options,
    progress: Progress,
) -> Result<EnqueueReport, EnqueueError> {
    let (starts, checkpoint) = starting_points(opts)?;
    let checkpoint = checkpoint.map(|c| (opts.checkpoint.clone().expect("set"), c));
    let mut rec = Recorder::new(checkpoint, progress);
    let plan = Plan {
        filter: opts.filter.clone(),
        force_ocr: opts.force_ocr,
        window: opts.in_flight.max(1),
    };
    let mut report = EnqueueReport::default();
    let interrupted = |report: &EnqueueReport, target: &Target, cause: EnqueueError| {
        let start = opts.start_after.as_deref();
        EnqueueError::Interrupted {
            hint: resume_hint(report, opts, target, start),
            report: Box::new(report.clone()),
            cause: Box::new(cause),
        }
    };
    let first = opts.targets.first().cloned().expect("at least one target");
    let conn = amqp::connect(
        &settings.broker.amqp_url,
        settings.broker.amqp_ca.as_ref(),
        "ocr-worker-enqueue",
    )
    .await
    .map_err(|e| interrupted(&report, &first, e.into()))?;
    let setup = async {
        amqp::declare_topology(&conn, settings).await?;
        amqp::Publisher::open(&conn, plan.window).await
    };
    let publisher = match setup.await {
        Ok(p) => p,
        Err(e) => {
            amqp::close_bounded(conn.close(200, "failed".into())).await;
            return Err(interrupted(&report, &first, e.into()));
        }
    };
    let mut remaining = opts.limit;
    let mut result = Ok(());
    for (target, start) in opts.targets.iter().zip(starts) {
        let (after, confirmed_before) = match start {
            Start::Done => {
                report.targets.push(TargetReport {
                    target: target.to_string(),
                    status: TargetStatus::AlreadyComplete,
                    published: 0,
                    skipped: 0,
                    last_key: None,
                });
                continue;
            }
            Start::After {
                after,
                confirmed_before,
            } => (after, confirmed_before),
        };
        if remaining == Some(0) {
            break;
        }
        let mut run = TargetRun::new(target.clone(), after.clone(), confirmed_before);
        let pages = listing(store, target, after, opts.page_size);
        let queue = opts.queue.clone();
        let publish = |job_id: String, body: Vec<u8>| {
            let publisher = publisher.clone();
            let queue = queue.clone();
            async move {
                publisher
                    .publish(Outgoing {
                        exchange: "",
                        routing_key: &queue,
                        body: &body,
                        message_id: &job_id,
                        correlation_id: None,
                        headers: None,
                    })
                    .await
                    .map_err(EnqueueError::from)
            }
        };
        let outcome = pump::pump(&mut run, &plan, &mut remaining, &mut rec, pages, publish).await;
        let status = match outcome {
            Ok(Finish::Complete) => TargetStatus::Complete,
            Ok(Finish::Limit) | Err(_) => TargetStatus::Partial,
        };
        report.add(&run, status);
        rec.earlier = rec.earlier.plus(&run.counts);
        if let Err(e) = outcome {
            result = Err(interrupted(&report, target, e));
            break;
        }
    }
    rec.progress.finish(&rec.earlier);
    publisher.close(amqp::SHUTDOWN_CALL_WAIT).await;
    amqp::close_bounded(conn.close(200, "done".into())).await;
    result.map(|()| report)
}

/// List every target of `opts` with the filters and estimate the OCR time; publishes nothing
/// and needs no broker.
pub async fn dry_run(
    settings: &Settings,
    store: &S3Store,
    opts: &Options,
    mut progress: Progress,
) -> Result<DryRunReport, EnqueueError> {
    use futures::StreamExt as _;
    let (starts, _) = starting_points(opts)?;
    let mut remaining = opts.limit;
    let mut counts = Counts::default();
    let mut skipped_by = SkipCounts::default();
    let (mut objects, mut bytes) = (0u64, 0u64);
    let mut targets = Vec::new();
    for (target, start) in opts.targets.iter().zip(starts) {
        let Start::After { after, .. } = start else {
            targets.push(DryRunTarget {
                target: target.to_string(),
                objects: 0,
                bytes: 0,
                skipped: 0,
                already_complete: true,
            });
            continue;
        };
        let mut this = DryRunTarget {
            target: target.to_string(),
            objects: 0,
            bytes: 0,
            skipped: 0,
            already_complete: false,
        };
        let mut pages = listing(store, target, after, opts.page_size);
        'pages: while remaining != Some(0) {
            let Some(page) = pages.next().await else {
                break;
            };
            for obj in page? {
                if remaining == Some(0) {
                    break 'pages;
                }
                counts.listed += 1;
                match opts.filter.check(&obj) {
                    Err(skip) => {
                        skipped_by.add(skip);
                        counts.skipped += 1;
                        this.skipped += 1;
                    }
                    Ok(()) => {
                        this.objects += 1;
                        this.bytes += obj.size;
                        if let Some(r) = remaining.as_mut() {
                            *r -= 1;
                        }
                    }
                }
            }
            progress.update(&counts);
        }
        objects += this.objects;
        bytes += this.bytes;
        targets.push(this);
    }
    progress.finish(&counts);
    Ok(DryRunReport {
        dry_run: true,
        listed: counts.listed,
        skipped: counts.skipped,
        skipped_by,
        estimate: estimate::estimate(
            objects,
            bytes,
            settings.ocr.rate_per_sec,
            settings.ocr.max_concurrency,
            opts.ocr_latency,
        ),
        targets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(targets: &[&str], checkpoint: Option<&str>) -> Options {
        Options {
            targets: targets.iter().map(|t| Target::parse(t).unwrap()).collect(),
            filter: Filter::default(),
            force_ocr: false,
            start_after: None,
            limit: None,
            checkpoint: checkpoint.map(PathBuf::from),
            resume: false,
            dry_run: false,
            ocr_latency: Duration::from_secs(2),
            in_flight: 64,
            page_size: None,
            queue: "ocr.jobs".into(),
        }
    }

    fn done(published: u64, last_key: Option<&str>) -> EnqueueReport {
        EnqueueReport {
            published,
            last_key: last_key.map(str::to_string),
            ..EnqueueReport::default()
        }
    }

    #[test]
    fn the_resume_hint_names_the_mark_the_original_start_or_the_checkpoint() {
        let one = opts(&["s3://scans/"], None);
        let t = &one.targets[0];
        let hint = resume_hint(&done(3, Some("scans/0003.png")), &one, t, Some("x"));
        assert!(hint.ends_with("--start-after scans/0003.png"), "{hint}");
        assert!(hint.contains("3 confirmed"), "{hint}");
        let none = done(0, None);
        let hint = resume_hint(&none, &one, t, Some("scans/0000.png"));
        assert!(hint.ends_with("--start-after scans/0000.png"), "{hint}");
        assert!(resume_hint(&none, &one, t, None).contains("no --start-after"));

        let cp = opts(&["s3://scans/"], Some("/tmp/cp.json"));
        let hint = resume_hint(&done(3, Some("k2")), &cp, &cp.targets[0], None);
        assert!(
            hint.contains("--resume --checkpoint /tmp/cp.json"),
            "{hint}"
        );
        assert!(hint.contains("s3://scans/ stands after k2"), "{hint}");

        let many = opts(&["s3://a/", "s3://b/x", "s3://c/"], None);
        let hint = resume_hint(&done(7, Some("x/9")), &many, &many.targets[1], None);
        assert!(
            hint.contains(
                "in s3://b/x; rerun s3://b/x with --start-after x/9, then enqueue s3://c/"
            ),
            "{hint}"
        );
        let hint = resume_hint(&done(7, None), &many, &many.targets[2], None);
        assert!(hint.contains("rerun s3://c/ from the start ("), "{hint}");
    }

    #[test]
    fn a_checkpoint_gives_each_target_its_start_and_is_never_overwritten_by_accident() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        let mut o = opts(&["s3://a/", "s3://b/", "s3://c/"], path.to_str());
        // No file: a fresh checkpoint (with or without --resume).
        let (starts, cp) = starting_points(&o).unwrap();
        assert!(cp.is_some());
        assert!(
            starts
                .iter()
                .all(|s| matches!(s, Start::After { after: None, .. }))
        );

        let mut cp = Checkpoint::new(o.fingerprint());
        let state = |after: Option<&str>, complete, confirmed| checkpoint::TargetState {
            after: after.map(str::to_string),
            complete,
            confirmed,
            updated_at: chrono::Utc::now(),
        };
        cp.targets
            .insert("s3://a/".into(), state(Some("z"), true, 10));
        cp.targets
            .insert("s3://b/".into(), state(Some("m"), false, 4));
        cp.save(&path).unwrap();

        // The file exists: without --resume that is refused (a dry run only reads).
        let e = starting_points(&o).unwrap_err();
        assert!(e.to_string().contains("--resume"), "{e}");
        o.dry_run = true;
        assert!(starting_points(&o).is_ok());
        o.dry_run = false;

        o.resume = true;
        let (starts, cp) = starting_points(&o).unwrap();
        assert_eq!(
            starts,
            vec![
                Start::Done,
                Start::After {
                    after: Some("m".into()),
                    confirmed_before: 4
                },
                Start::After {
                    after: None,
                    confirmed_before: 0
                },
            ]
        );
        assert_eq!(cp.unwrap().targets.len(), 2, "the checkpoint is carried on");

        // Other filters than the checkpoint's: refused.
        o.filter = Filter::default().with_suffixes([".png"]);
        let e = starting_points(&o).unwrap_err();
        assert!(e.to_string().contains("other options"), "{e}");
    }
}
