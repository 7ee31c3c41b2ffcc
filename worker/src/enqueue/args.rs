//! The flags of `ocr-worker enqueue`, checked into [`Options`].

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Options;
use super::estimate::DEFAULT_OCR_LATENCY;
use super::filter::Filter;
use super::target::Target;
use super::units::{parse_latency, parse_size};
use crate::config::Settings;

/// `ocr-worker enqueue` (without the settings, which are flattened beside these).
#[derive(clap::Args, Debug, Clone)]
pub struct EnqueueArgs {
    /// One or more prefixes to list, in order: s3://bucket/prefix (s3://bucket: all of it).
    #[arg(required = true, value_name = "s3://BUCKET/PREFIX", value_parser = Target::parse)]
    pub targets: Vec<Target>,
    /// Keep only keys ending in one of these, case-insensitive, comma-separated or repeated
    /// (e.g. .jpg,.jpeg,.png).
    #[arg(long, value_name = "SUFFIXES", value_delimiter = ',')]
    pub suffix: Vec<String>,
    /// Skip objects smaller than this: bytes, or with a unit (10KB = 10 000, 5MiB = 5 × 2^20).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub min_size: Option<u64>,
    /// Skip objects larger than this (same units as --min-size).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_size: Option<u64>,
    /// Keep objects last modified at or after this instant (RFC 3339, e.g.
    /// 2026-01-01T00:00:00Z).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    pub modified_after: Option<DateTime<Utc>>,
    /// Keep objects last modified strictly before this instant (RFC 3339): with
    /// --modified-after, consecutive windows neither overlap nor leave gaps.
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    pub modified_before: Option<DateTime<Utc>>,
    /// Enqueue GLACIER and DEEP_ARCHIVE objects too, once restored (by default they are
    /// skipped and counted: a GET fails until a restore). GLACIER_IR is always enqueued.
    #[arg(long)]
    pub include_archived: bool,
    /// Publish to the priority lane (OCR_PRIORITY_QUEUE) instead of the jobs queue: these
    /// jobs take a freed OCR slot before any bulk job. Meant for a handful of urgent images,
    /// not a backfill (bulk keeps only OCR_BULK_MIN_SHARE of the domain while it runs).
    #[arg(long)]
    pub priority: bool,
    /// Set `"force_ocr": true` in every job: a fresh OCR call even when a stored result exists.
    #[arg(long)]
    pub force_ocr: bool,
    /// Record each target's low-water mark in FILE as the run goes (JSON, replaced atomically):
    /// every key up to it has a confirmed job or was skipped.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Continue from --checkpoint FILE after a crash or a failure: complete targets are
    /// skipped, the others listed after their mark (no FILE yet: from the beginning).
    #[arg(long, requires = "checkpoint", conflicts_with = "start_after")]
    pub resume: bool,
    /// List after this key (one target only): a manual start point, such as the key a failed
    /// run printed.
    #[arg(long, value_name = "KEY")]
    pub start_after: Option<String>,
    /// Publish at most this many jobs in all.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// List and filter only: print the objects, their bytes, the OCR calls and the time at the
    /// domain's quota (objects ÷ min(CLOVA_OCR_RATE_PER_SEC, CLOVA_OCR_MAX_CONCURRENCY ÷
    /// --ocr-latency)). Publishes nothing; needs no broker.
    #[arg(long)]
    pub dry_run: bool,
    /// For --dry-run: the time of one OCR call, in seconds (1.5) or milliseconds (800ms).
    /// CLOVA publishes none; 2 s is a judgement for one passport scan, on the slow side.
    /// Measure yours: the worker's ocr_worker_ocr_call_duration_seconds.
    #[arg(long, value_name = "SECS", default_value = DEFAULT_OCR_LATENCY, value_parser = parse_latency)]
    pub ocr_latency: Duration,
    /// Publishes awaiting their broker confirm at once; also the most jobs that a crash can
    /// make a --resume publish twice.
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub in_flight: u32,
    /// Keys per listing page (S3 max-keys; the store's default is 1000).
    #[arg(long, hide = true, value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub page_size: Option<i32>,
}

/// An RFC 3339 instant.
fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.to_utc())
        .map_err(|e| format!("`{text}`: not an RFC 3339 instant ({e}); e.g. 2026-01-01T00:00:00Z"))
}

impl EnqueueArgs {
    /// The checked options, publishing to `settings`' work queue.
    pub fn options(&self, settings: &Settings) -> Result<Options, String> {
        if self.start_after.is_some() && self.targets.len() > 1 {
            return Err(
                "--start-after applies to one target; for several, use --checkpoint \
                        FILE and, after a failure, --resume"
                    .into(),
            );
        }
        for (i, t) in self.targets.iter().enumerate() {
            if self.targets[..i].contains(t) {
                return Err(format!("target {t} is given twice"));
            }
        }
        let filter = Filter {
            min_size: self.min_size,
            max_size: self.max_size,
            modified_after: self.modified_after,
            modified_before: self.modified_before,
            include_archived: self.include_archived,
            ..Filter::default()
        }
        .with_suffixes(&self.suffix);
        filter.validate()?;
        Ok(Options {
            targets: self.targets.clone(),
            filter,
            force_ocr: self.force_ocr,
            start_after: self.start_after.clone(),
            limit: self.limit,
            checkpoint: self.checkpoint.clone(),
            resume: self.resume,
            dry_run: self.dry_run,
            ocr_latency: self.ocr_latency,
            in_flight: usize::try_from(self.in_flight).unwrap_or(64),
            page_size: self.page_size,
            queue: settings
                .broker
                .queue(if self.priority {
                    ocr_common::lane::Lane::Priority
                } else {
                    ocr_common::lane::Lane::Bulk
                })
                .to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: EnqueueArgs,
    }

    fn parse(args: &[&str]) -> Result<EnqueueArgs, String> {
        Cli::try_parse_from(std::iter::once("enqueue").chain(args.iter().copied()))
            .map(|c| c.args)
            .map_err(|e| e.to_string())
    }

    fn settings() -> Settings {
        crate::config::SettingsArgs::default()
            .load()
            .expect("defaults load")
    }

    #[test]
    fn the_flags_become_options() {
        let a = parse(&[
            "s3://a/x/",
            "s3://b",
            "--suffix",
            ".JPG,.png",
            "--suffix",
            ".tif",
            "--min-size",
            "10KB",
            "--max-size",
            "5MiB",
            "--modified-after",
            "2026-01-01T00:00:00+09:00",
            "--modified-before",
            "2026-02-01T00:00:00Z",
            "--include-archived",
            "--force-ocr",
            "--checkpoint",
            "cp.json",
            "--resume",
            "--limit",
            "5",
            "--ocr-latency",
            "1500ms",
            "--in-flight",
            "8",
            "--page-size",
            "100",
        ])
        .unwrap();
        let o = a.options(&settings()).unwrap();
        assert_eq!(o.targets.len(), 2);
        assert_eq!(o.targets[1].to_string(), "s3://b/");
        assert_eq!(o.filter.suffixes, [".jpg", ".png", ".tif"]);
        assert_eq!(
            (o.filter.min_size, o.filter.max_size),
            (Some(10_000), Some(5 << 20))
        );
        assert_eq!(
            o.filter.modified_after.unwrap().to_rfc3339(),
            "2025-12-31T15:00:00+00:00"
        );
        assert!(o.filter.include_archived && o.force_ocr && o.resume);
        assert_eq!(o.limit, Some(5));
        assert_eq!(o.ocr_latency, Duration::from_millis(1500));
        assert_eq!((o.in_flight, o.page_size), (8, Some(100)));
        assert_eq!(o.queue, "ocr.jobs");
        assert!(
            o.fingerprint()
                .ends_with("include_archived=true force_ocr=true")
        );

        let d = parse(&["s3://a/"]).unwrap().options(&settings()).unwrap();
        assert_eq!(d.ocr_latency, Duration::from_secs(2));
        assert_eq!(d.in_flight, 64);
        assert!(!d.dry_run && !d.force_ocr && d.checkpoint.is_none());
    }

    #[test]
    fn contradictions_are_refused() {
        for (args, needle) in [
            (&["--resume", "s3://a/"][..], "--checkpoint"),
            (
                &[
                    "s3://a/",
                    "--checkpoint",
                    "c",
                    "--resume",
                    "--start-after",
                    "k",
                ][..],
                "--start-after",
            ),
            (&["s3://a/", "--min-size", "ten"][..], "unknown unit"),
            (
                &["s3://a/", "--modified-after", "yesterday"][..],
                "RFC 3339",
            ),
            (&["s3://a/", "--in-flight", "0"][..], "in-flight"),
            (&["a/b"][..], "s3://bucket/prefix"),
            (&[][..], "required"),
        ] {
            let e = parse(args)
                .err()
                .unwrap_or_else(|| panic!("{args:?} parsed"));
            assert!(e.contains(needle), "{args:?}: {e}");
        }
        for (args, needle) in [
            (
                &["s3://a/", "s3://b/", "--start-after", "k"][..],
                "one target",
            ),
            (&["s3://a/", "s3://a"][..], "twice"),
            (
                &["s3://a/", "--min-size", "2KB", "--max-size", "1KB"][..],
                "--min-size",
            ),
        ] {
            let e = parse(args).unwrap().options(&settings()).unwrap_err();
            assert!(e.contains(needle), "{args:?}: {e}");
        }
    }
}
