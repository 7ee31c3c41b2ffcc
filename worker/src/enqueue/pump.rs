//! The listing → publish loop of one target, generic over where pages come from and how a job
//! is published, so that its guarantees are tested with scripted pages and confirms:
//!
//! - the checkpoint only ever holds a low-water mark ([`Watermark`]), saved as it moves (every
//!   half window of confirms, at least every second while it moves, at the end, and on a
//!   failure after the publishes still in flight have their answer), in the background: the
//!   loop goes on publishing while the file is written and fsynced;
//! - at most `window` publishes are made after the last *saved* mark, so a crash (or a failed
//!   page) followed by a resume publishes at most `window` jobs twice.

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use futures::stream::{FuturesUnordered, Stream, StreamExt as _};
use ocr_common::job::{Job, PASSPORT, object_job_id};
use tokio::time::Instant;

use super::EnqueueError;
use super::checkpoint::{Checkpoint, CheckpointError, TargetState};
use super::filter::{Filter, Listed, SkipCounts};
use super::progress::{Counts, Progress};
use super::target::Target;
use super::watermark::{SaveToken, Watermark};

/// Longest time a moved mark waits before it is saved.
pub const SAVE_EVERY: Duration = Duration::from_secs(1);

/// What every target of a run shares.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Which objects become jobs.
    pub filter: Filter,
    /// Set `force_ocr` in every job.
    pub force_ocr: bool,
    /// Publishes after the last saved mark, at most (the pipelining depth, and the bound on
    /// duplicates after a crash).
    pub window: usize,
}

/// One target's progress in this run.
#[derive(Debug)]
pub struct TargetRun {
    /// The target.
    pub target: Target,
    /// Its low-water mark.
    pub watermark: Watermark,
    /// Jobs confirmed under the mark by earlier runs (from the checkpoint).
    pub confirmed_before: u64,
    /// This run's counts.
    pub counts: Counts,
    /// This run's skips, by reason.
    pub skipped: SkipCounts,
    /// Bytes of the objects published.
    pub bytes: u64,
}

impl TargetRun {
    /// A run over `target` starting after `after`.
    pub fn new(target: Target, after: Option<String>, confirmed_before: u64) -> Self {
        TargetRun {
            target,
            watermark: Watermark::new(after),
            confirmed_before,
            counts: Counts::default(),
            skipped: SkipCounts::default(),
            bytes: 0,
        }
    }
}

/// A save being written in the background, and the mark it writes.
type Saving = (
    tokio::task::JoinHandle<Result<(), CheckpointError>>,
    SaveToken,
);

/// Where saves go and what the display shows.
pub struct Recorder {
    /// The checkpoint file and its contents (`None`: no `--checkpoint`).
    pub checkpoint: Option<(PathBuf, Checkpoint)>,
    /// The progress display.
    pub progress: Progress,
    /// Counts of the targets done earlier in this run (the display shows the run's total).
    pub earlier: Counts,
    last_save: Instant,
    /// The save being written (at most one at a time, so files land in order).
    saving: Option<Saving>,
}

impl Recorder {
    /// A recorder saving to `checkpoint`, showing on `progress`.
    pub fn new(checkpoint: Option<(PathBuf, Checkpoint)>, progress: Progress) -> Self {
        Recorder {
            checkpoint,
            progress,
            earlier: Counts::default(),
            last_save: Instant::now(),
            saving: None,
        }
    }

    /// Put `run`'s mark (and whether the target is `complete`) in the checkpoint; the copy
    /// to write, if there is a file.
    fn record(&mut self, run: &TargetRun, complete: bool) -> Option<(PathBuf, Checkpoint)> {
        let (path, cp) = self.checkpoint.as_mut()?;
        cp.targets.insert(
            run.target.to_string(),
            TargetState {
                after: run.watermark.mark().map(str::to_string),
                complete,
                confirmed: run.confirmed_before + run.watermark.covered(),
                updated_at: chrono::Utc::now(),
            },
        );
        Some((path.clone(), cp.clone()))
    }

    /// Start saving `run`'s mark in the background (the loop goes on publishing within its
    /// window meanwhile); without a file, it is "saved" at once.
    fn start_save(&mut self, run: &mut TargetRun) {
        if self.saving.is_some() {
            return;
        }
        let token = run.watermark.token();
        match self.record(run, false) {
            Some((path, cp)) => {
                let write = tokio::task::spawn_blocking(move || cp.save(&path));
                self.saving = Some((write, token));
            }
            None => {
                run.watermark.saved(token);
                self.last_save = Instant::now();
            }
        }
    }

    /// The background save ended with `written`.
    fn save_ended(
        &mut self,
        run: &mut TargetRun,
        written: Result<Result<(), CheckpointError>, tokio::task::JoinError>,
    ) -> Result<(), EnqueueError> {
        let Some((_, token)) = self.saving.take() else {
            return Ok(());
        };
        match written {
            Ok(Ok(())) => {
                run.watermark.saved(token);
                self.last_save = Instant::now();
                Ok(())
            }
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(CheckpointError::Io {
                path: self
                    .checkpoint
                    .as_ref()
                    .map(|c| c.0.clone())
                    .unwrap_or_default(),
                source: std::io::Error::other(format!("the checkpoint writer failed: {e}")),
            }
            .into()),
        }
    }

    /// Wait for the background save, if any.
    async fn finish_saving(&mut self, run: &mut TargetRun) -> Result<(), EnqueueError> {
        match self.saving.as_mut() {
            Some((write, _)) => {
                let written = write.await;
                self.save_ended(run, written)
            }
            None => Ok(()),
        }
    }

    /// Save `run`'s mark now (after any background save), and whether it is `complete`.
    pub async fn save(&mut self, run: &mut TargetRun, complete: bool) -> Result<(), EnqueueError> {
        self.finish_saving(run).await?;
        let token = run.watermark.token();
        if let Some((path, cp)) = self.record(run, complete) {
            cp.save(&path)?;
        }
        run.watermark.saved(token);
        self.last_save = Instant::now();
        Ok(())
    }

    /// Whether a save should start now: none is being written, and half a window of confirms
    /// went under the mark, or it moved at least [`SAVE_EVERY`] ago.
    fn due(&self, run: &TargetRun, window: u64) -> bool {
        let w = &run.watermark;
        self.saving.is_none()
            && (w.unsaved_covered() >= (window / 2).max(1)
                || (w.dirty() && self.last_save.elapsed() >= SAVE_EVERY))
    }

    fn show(&mut self, run: &TargetRun) {
        self.progress.update(&self.earlier.plus(&run.counts));
    }
}

/// The background save's result (pending forever when there is none: its branch is off then).
async fn saved(
    saving: &mut Option<Saving>,
) -> Result<Result<(), CheckpointError>, tokio::task::JoinError> {
    match saving.as_mut() {
        Some((write, _)) => write.await,
        None => std::future::pending().await,
    }
}

/// How a target's loop ended without failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The listing ended and every job is confirmed.
    Complete,
    /// `--limit` jobs were published (and confirmed) first.
    Limit,
}

/// The job for one listed object: its id (derived from bucket, key and ETag) and its body.
pub fn job_for(bucket: &str, obj: &Listed, force_ocr: bool) -> (String, Vec<u8>) {
    let job_id = object_job_id(bucket, &obj.key, obj.etag.as_deref());
    let job = Job {
        job_id: job_id.clone(),
        bucket: bucket.to_string(),
        key: obj.key.clone(),
        version_id: None,
        etag: obj.etag.clone(),
        force_ocr,
        document_type: PASSPORT.to_string(),
        metadata: None,
    };
    (job_id, serde_json::to_vec(&job).expect("a job serialises"))
}

/// List and publish one target until its listing ends, `remaining` (the `--limit` budget of
/// the run) reaches 0, or something fails. On a failure no new job is published, the
/// publishes in flight are awaited (so the saved mark is as high as it can be), the mark is
/// saved, and the first error is returned.
pub async fn pump<L, P, F>(
    run: &mut TargetRun,
    plan: &Plan,
    remaining: &mut Option<u64>,
    rec: &mut Recorder,
    mut listing: L,
    mut publish: P,
) -> Result<Finish, EnqueueError>
where
    L: Stream<Item = Result<Vec<Listed>, EnqueueError>> + Unpin,
    P: FnMut(String, Vec<u8>) -> F,
    F: Future<Output = Result<(), EnqueueError>>,
{
    let window = plan.window.max(1) as u64;
    let mut buffer: VecDeque<Listed> = VecDeque::new();
    let mut in_flight = FuturesUnordered::new();
    let mut listing_done = false;
    let mut failure: Option<EnqueueError> = None;
    loop {
        // Publish what the listing gave, while the window allows.
        while failure.is_none() && *remaining != Some(0) && run.watermark.unsaved() < window {
            let Some(obj) = buffer.pop_front() else {
                break;
            };
            match plan.filter.check(&obj) {
                Err(skip) => {
                    run.skipped.add(skip);
                    run.counts.skipped += 1;
                    run.watermark.skip(obj.key);
                }
                Ok(()) => {
                    let (job_id, body) = job_for(&run.target.bucket, &obj, plan.force_ocr);
                    let seq = run.watermark.publish(obj.key);
                    run.counts.published += 1;
                    run.bytes += obj.size;
                    if let Some(r) = remaining.as_mut() {
                        *r -= 1;
                    }
                    let confirm = publish(job_id, body);
                    in_flight.push(async move { (seq, confirm.await) });
                }
            }
        }
        if failure.is_none() && rec.due(run, window) {
            rec.start_save(run);
        }
        rec.show(run);
        let limit_reached = *remaining == Some(0);
        let can_list = failure.is_none() && !limit_reached && !listing_done && buffer.is_empty();
        if in_flight.is_empty() && rec.saving.is_none() {
            if failure.is_some() || limit_reached || (listing_done && buffer.is_empty()) {
                break;
            }
            if !can_list {
                // The window is full of confirmed publishes: saving the mark reopens it.
                rec.start_save(run);
                continue;
            }
        }
        let save_at = rec.last_save + SAVE_EVERY;
        // (Not after a failure: no save starts then, and a past deadline would spin.)
        let idle = failure.is_none() && rec.saving.is_none() && run.watermark.dirty();
        tokio::select! {
            Some((seq, answer)) = in_flight.next(), if !in_flight.is_empty() => match answer {
                Ok(()) => {
                    run.watermark.confirm(seq);
                    run.counts.confirmed += 1;
                }
                Err(e) => {
                    failure.get_or_insert(e);
                }
            },
            page = listing.next(), if can_list => match page {
                None => listing_done = true,
                Some(Ok(objects)) => {
                    run.counts.listed += objects.len() as u64;
                    buffer.extend(objects);
                }
                Some(Err(e)) => failure = Some(e),
            },
            written = saved(&mut rec.saving), if rec.saving.is_some() => {
                if let Err(e) = rec.save_ended(run, written) {
                    failure.get_or_insert(e);
                }
            },
            // Wake up to save a mark that moved and then stood still (a slow page).
            () = tokio::time::sleep_until(save_at), if idle => {}
        }
    }
    let complete =
        failure.is_none() && listing_done && buffer.is_empty() && run.watermark.above() == 0;
    let saved = rec.save(run, complete).await;
    rec.show(run);
    match (failure, saved) {
        (Some(e), saved) => {
            if let Err(s) = saved {
                tracing::warn!(error = %s, "enqueue: could not save the checkpoint after a failure");
            }
            Err(e)
        }
        (None, Err(e)) => Err(e),
        (None, Ok(())) if complete => Ok(Finish::Complete),
        (None, Ok(())) => Ok(Finish::Limit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::rc::Rc;

    fn listed(key: &str, size: u64) -> Listed {
        Listed {
            key: key.into(),
            size,
            last_modified: None,
            storage_class: None,
            etag: Some(format!("etag-{key}")),
        }
    }

    fn pages(keys: &[&str], per_page: usize) -> Vec<Result<Vec<Listed>, EnqueueError>> {
        keys.chunks(per_page)
            .map(|c| Ok(c.iter().map(|k| listed(k, 10)).collect()))
            .collect()
    }

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("k{i:03}.png")).collect()
    }

    fn plan(window: usize) -> Plan {
        Plan {
            filter: Filter::default().with_suffixes([".png"]),
            force_ocr: false,
            window,
        }
    }

    fn recorder(dir: &tempfile::TempDir) -> (PathBuf, Recorder) {
        let path = dir.path().join("cp.json");
        let rec = Recorder::new(
            Some((path.clone(), Checkpoint::new("test".into()))),
            Progress::Hidden,
        );
        (path, rec)
    }

    fn saved(path: &std::path::Path) -> TargetState {
        Checkpoint::load(path).unwrap().unwrap().targets["s3://bkt/"].clone()
    }

    /// A publisher that answers each job after `delay(index)` turns (so confirms come back
    /// out of order) and fails the jobs `fail` names; it records what it was sent.
    type Sent = Rc<RefCell<Vec<(String, serde_json::Value)>>>;
    type Answer = std::pin::Pin<Box<dyn Future<Output = Result<(), EnqueueError>>>>;

    fn publisher(
        delay: impl Fn(usize) -> u64,
        fail: impl Fn(&str) -> bool,
        sent: Sent,
    ) -> impl FnMut(String, Vec<u8>) -> Answer {
        let mut i = 0;
        move |job_id, body| {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let key = v["key"].as_str().unwrap().to_string();
            let ms = delay(i);
            i += 1;
            let failed = fail(&key);
            sent.borrow_mut().push((job_id, v));
            Box::pin(async move {
                // Answered after `ms` turns of the scheduler: later jobs can overtake.
                for _ in 0..ms {
                    tokio::task::yield_now().await;
                }
                if failed {
                    Err(EnqueueError::Broker(crate::amqp::AmqpError::Nacked {
                        exchange: format!("refused {key}"),
                    }))
                } else {
                    Ok(())
                }
            })
        }
    }

    #[tokio::test]
    async fn a_failed_publish_leaves_the_mark_below_it_even_when_later_ones_were_confirmed() {
        let ks = keys(10);
        let refs: Vec<&str> = ks.iter().map(String::as_str).collect();
        let dir = tempfile::tempdir().unwrap();
        let (path, mut rec) = recorder(&dir);
        let mut run = TargetRun::new(Target::parse("s3://bkt/").unwrap(), None, 0);
        let sent: Sent = Rc::default();
        // Later jobs are answered first (k009 after 1 turn, k000 after 10); k003 is refused.
        let err = pump(
            &mut run,
            &plan(16),
            &mut None,
            &mut rec,
            futures::stream::iter(pages(&refs, 4)),
            publisher(|i| 10 - i as u64, |k| k == "k003.png", sent.clone()),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("refused k003.png"), "{err}");
        // All ten went out and the nine others were confirmed, the last key sent among them:
        // the mark is still the key before the refused one.
        assert_eq!(sent.borrow().len(), 10);
        assert_eq!(run.counts.confirmed, 9);
        assert_eq!(run.watermark.mark(), Some("k002.png"));
        let s = saved(&path);
        assert_eq!(s.after.as_deref(), Some("k002.png"));
        assert!(!s.complete);
        assert_eq!(s.confirmed, 3);
    }

    #[tokio::test]
    async fn a_complete_run_saves_the_last_key_and_sends_one_valid_job_per_kept_object() {
        let mut ks = keys(7);
        ks.insert(3, "k002.txt".into()); // skipped by the suffix filter
        ks.push("zz.txt".into()); // skipped, last: the mark still reaches it
        let refs: Vec<&str> = ks.iter().map(String::as_str).collect();
        let dir = tempfile::tempdir().unwrap();
        let (path, mut rec) = recorder(&dir);
        let mut run = TargetRun::new(Target::parse("s3://bkt/").unwrap(), None, 5);
        let sent: Sent = Rc::default();
        let finish = pump(
            &mut run,
            &Plan {
                force_ocr: true,
                ..plan(3)
            },
            &mut None,
            &mut rec,
            futures::stream::iter(pages(&refs, 2)),
            publisher(|i| [5, 1, 3][i % 3], |_| false, sent.clone()),
        )
        .await
        .unwrap();
        assert_eq!(finish, Finish::Complete);
        let s = saved(&path);
        assert_eq!(
            (s.after.as_deref(), s.complete, s.confirmed),
            (Some("zz.txt"), true, 12)
        );
        assert_eq!((run.counts.listed, run.counts.skipped), (9, 2));
        assert_eq!(run.skipped.suffix, 2);
        assert_eq!(run.bytes, 70);
        let sent = sent.borrow();
        let by_key: BTreeMap<&str, &(String, serde_json::Value)> = sent
            .iter()
            .map(|s| (s.1["key"].as_str().unwrap(), s))
            .collect();
        assert_eq!(by_key.len(), 7, "one job per kept object");
        for (key, (job_id, body)) in by_key {
            let etag = format!("etag-{key}");
            assert_eq!(job_id, &object_job_id("bkt", key, Some(&etag)));
            assert_eq!(body["job_id"], job_id.as_str());
            assert_eq!(body["bucket"], "bkt");
            assert_eq!(body["etag"], etag.as_str());
            assert_eq!(body["force_ocr"], true);
            Job::parse(&serde_json::to_vec(body).unwrap(), 65536).expect("a valid job");
        }
    }

    /// What a crash at any instant would repeat is the publishes after the saved mark: never
    /// more than the window, whatever the order of confirms.
    #[tokio::test]
    async fn never_more_than_the_window_is_published_after_the_saved_mark() {
        let ks = keys(200);
        let refs: Vec<&str> = ks.iter().map(String::as_str).collect();
        let dir = tempfile::tempdir().unwrap();
        let (path, mut rec) = recorder(&dir);
        let mut run = TargetRun::new(Target::parse("s3://bkt/").unwrap(), None, 0);
        let sent: Sent = Rc::default();
        let window = 8;
        let path_for_check = path.clone();
        let watch = sent.clone();
        // At each publish, compare what was sent with the mark the file holds.
        let mut inner = publisher(|i| (i * 7 % 13) as u64, |_| false, sent.clone());
        let mut worst = 0;
        let finish = pump(
            &mut run,
            &plan(window),
            &mut None,
            &mut rec,
            futures::stream::iter(pages(&refs, 30)),
            |id, body| {
                let mark = Checkpoint::load(&path_for_check)
                    .unwrap()
                    .and_then(|c| c.targets.get("s3://bkt/").and_then(|t| t.after.clone()));
                let after_mark = watch
                    .borrow()
                    .iter()
                    .filter(|(_, v)| {
                        mark.as_deref()
                            .is_none_or(|m| v["key"].as_str().unwrap() > m)
                    })
                    .count()
                    + 1;
                worst = worst.max(after_mark);
                inner(id, body)
            },
        )
        .await
        .unwrap();
        assert_eq!(finish, Finish::Complete);
        assert_eq!(sent.borrow().len(), 200);
        assert!(worst <= window, "{worst} publishes after the saved mark");
        assert!(worst > 1, "the window was used: {worst}");
        assert_eq!(saved(&path).after.as_deref(), Some("k199.png"));
    }

    #[tokio::test]
    async fn the_limit_stops_publishing_and_a_failed_page_keeps_what_was_confirmed() {
        let ks = keys(10);
        let refs: Vec<&str> = ks.iter().map(String::as_str).collect();
        let dir = tempfile::tempdir().unwrap();
        let (path, mut rec) = recorder(&dir);
        let mut run = TargetRun::new(Target::parse("s3://bkt/").unwrap(), None, 0);
        let mut remaining = Some(4);
        let finish = pump(
            &mut run,
            &plan(16),
            &mut remaining,
            &mut rec,
            futures::stream::iter(pages(&refs, 3)),
            publisher(|i| 4 - i as u64, |_| false, Rc::default()),
        )
        .await
        .unwrap();
        assert_eq!((finish, remaining), (Finish::Limit, Some(0)));
        let s = saved(&path);
        assert_eq!((s.after.as_deref(), s.complete), (Some("k003.png"), false));

        // A page that fails after one good page: the good page's jobs are kept.
        let mut run = TargetRun::new(Target::parse("s3://bkt/").unwrap(), None, 0);
        let mut listing = pages(&refs[..3], 3);
        listing.push(Err(EnqueueError::List {
            target: "s3://bkt/".into(),
            message: "503 SlowDown".into(),
        }));
        let err = pump(
            &mut run,
            &plan(16),
            &mut None,
            &mut rec,
            futures::stream::iter(listing),
            publisher(|_| 1, |_| false, Rc::default()),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("503"), "{err}");
        assert_eq!(saved(&path).after.as_deref(), Some("k002.png"));
    }

    #[tokio::test]
    async fn a_checkpoint_that_cannot_be_written_stops_the_run_within_one_window() {
        let ks = keys(100);
        let refs: Vec<&str> = ks.iter().map(String::as_str).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir").join("cp.json");
        let mut rec = Recorder::new(Some((path, Checkpoint::new("t".into()))), Progress::Hidden);
        let mut run = TargetRun::new(Target::parse("s3://bkt/").unwrap(), None, 0);
        let sent: Sent = Rc::default();
        let err = pump(
            &mut run,
            &plan(8),
            &mut None,
            &mut rec,
            futures::stream::iter(pages(&refs, 50)),
            publisher(|_| 1, |_| false, sent.clone()),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, EnqueueError::Checkpoint(_)), "{err}");
        // Nothing can be saved, so the window is never reopened.
        assert!(
            sent.borrow().len() <= 8,
            "{} published",
            sent.borrow().len()
        );
    }
}
