//! One job's work, from a validated [`Job`] to a [`ResultMessage`] or a classified
//! [`JobError`]: allow-list, fetch, format check, OCR under the limiter with quick retries,
//! normalization. No broker code here: the consumer decides what to do with the outcome, so
//! tests and `ocr-worker process` drive this directly.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use ocr_common::clova::{self, DocumentKind, InferResult};
use ocr_common::failure::{Disposition, JobError};
use ocr_common::format;
use ocr_common::job::Job;
use ocr_common::message::{OcrInfo, ResultMessage, SCHEMA_VERSION, Source};
use ocr_common::normalize::{NORMALIZER_VERSION, normalize};
use ocr_common::result_entry::{ContentTag, ENTRY_VERSION, ResultEntry};
use ocr_common::retry::RetryPolicy;

use crate::config::Settings;
use crate::limiter::OcrLimiter;
use crate::metrics::Metrics;
use crate::ocr::{OcrApi, OcrImage, OcrReply};
use crate::result_store::{Lookup, ResultStore};
use crate::storage::ObjectStore;
use ocr_common::lane::Lane;
use tracing::Instrument as _;

/// The knobs the pipeline needs, taken from [`Settings`].
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Largest image fetched, in bytes.
    pub max_image_bytes: u64,
    /// Buckets jobs may name (empty: any).
    pub allowed_buckets: Vec<String>,
    /// Paid attempts allowed, and the retry stages: the pipeline stops calling at the limit.
    pub policy: RetryPolicy,
    /// Quick in-process retries of a transient error.
    pub quick_retries: u32,
    /// Backoff base.
    pub retry_base: Duration,
    /// Backoff cap, and cap of honoured Retry-After waits.
    pub retry_max: Duration,
    /// Pause of every OCR call after 0023.
    pub quota_pause: Duration,
}

impl From<&Settings> for PipelineConfig {
    fn from(s: &Settings) -> Self {
        PipelineConfig {
            max_image_bytes: s.s3.max_image_bytes,
            allowed_buckets: s.s3.allowed_buckets.clone(),
            policy: s.retry.policy.clone(),
            quick_retries: s.retry.quick_retries,
            retry_base: s.retry.backoff_base,
            retry_max: s.retry.backoff_max,
            quota_pause: s.ocr.quota_pause,
        }
    }
}

/// Fetch → OCR → normalize, generic over the object store and the OCR service.
pub struct Pipeline<S, O> {
    /// Where images come from.
    pub store: S,
    /// The OCR service.
    pub ocr: O,
    /// The quota guard shared by all jobs of this process.
    pub limiter: Arc<OcrLimiter>,
    /// The process's metrics registry.
    pub metrics: Arc<Metrics>,
    /// Limits, retries and backoff.
    pub config: PipelineConfig,
    /// Where paid answers are kept and looked up (none: every job calls OCR).
    pub results: Option<ResultStore>,
}

/// An image in memory with what we know of its origin.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    /// The OCR request image.
    pub image: OcrImage,
    /// Its source description.
    pub source: Source,
}

impl<S: ObjectStore, O: OcrApi> Pipeline<S, O> {
    /// Run `job` to a result or an error. `attempts` holds the paid OCR calls so far (from
    /// earlier deliveries) and is updated as calls are made, so a caller that cuts the job off
    /// at its deadline still knows how many were paid. `lane` is the queue the job came
    /// from: it decides who goes first for a freed OCR slot.
    pub async fn process(
        &self,
        job: &Job,
        lane: Lane,
        attempts: &AtomicU32,
    ) -> Result<ResultMessage, JobError> {
        if !self.config.allowed_buckets.is_empty()
            && !self.config.allowed_buckets.iter().any(|b| b == &job.bucket)
        {
            return Err(JobError::BucketNotAllowed {
                bucket: job.bucket.clone(),
            });
        }
        let result: Result<ResultMessage, JobError> = async {
            // A stored answer for this content first: at most a HEAD (when the job does not
            // say which content it means) and one GET, before any byte of the image is read.
            let reusing = self
                .results
                .as_ref()
                .filter(|s| s.settings().reuse && !job.force_ocr);
            let mut looked_up = None;
            if let Some(store) = reusing {
                let tag = match ContentTag::for_job(job, None) {
                    Some(tag) => Some(tag),
                    None => ContentTag::for_job(
                        job,
                        self.store.etag(&job.bucket, &job.key).await.as_deref(),
                    ),
                };
                if let Some(tag) = tag {
                    if let Some(reused) = self
                        .reuse(store, job, &tag, attempts)
                        .instrument(tracing::info_span!("stage", stage = "lookup"))
                        .await?
                    {
                        return Ok(reused);
                    }
                    looked_up = Some(tag);
                }
            }
            // A bulk job fetches only while the process holds fewer images than its share
            // allows (`crate::image_gate`); a priority job passes. Held until the OCR call
            // is over.
            let hold = match lane {
                Lane::Bulk => {
                    let _waiting = crate::metrics::GaugeHold::new(&self.metrics.images_waiting);
                    Some(quota_wait(self.limiter.hold_image()).await)
                }
                Lane::Priority => None,
            };
            let loaded = self
                .load(job)
                .instrument(tracing::info_span!("stage", stage = "fetch"))
                .await?;
            let tag = ContentTag::for_job(job, loaded.source.etag.as_deref());
            // The object changed since the job was written: the bytes in hand may still have
            // an answer (one more GET, never more than two lookups).
            if let (Some(store), Some(tag)) = (reusing, &tag)
                && looked_up.as_ref() != Some(tag)
                && let Some(reused) = self
                    .reuse(store, job, tag, attempts)
                    .instrument(tracing::info_span!("stage", stage = "lookup"))
                    .await?
            {
                return Ok(reused);
            }
            let LoadedImage { image, source } = loaded;
            let mut reply = self.recognize(&image, lane, attempts).await?;
            drop(image);
            drop(hold);
            let raw = std::mem::take(&mut reply.raw);
            let now = chrono::Utc::now();
            let result = build_result(reply, source, job, attempts.load(Ordering::Acquire), now)?;
            match (&self.results, &tag) {
                (Some(store), Some(tag)) => {
                    self.keep(store, job, tag, result, raw, now)
                        .instrument(tracing::info_span!("stage", stage = "store"))
                        .await
                }
                _ => Ok(result),
            }
        }
        .await;
        if let Err(e) = &result {
            // For the status page: the kind and the job id, nothing else.
            self.metrics.record_error(&job.job_id, e.kind());
        }
        result
    }

    /// Fetch the job's object (quick retries for transient store errors) and check its format.
    pub async fn load(&self, job: &Job) -> Result<LoadedImage, JobError> {
        let mut backoff = self.backoff();
        let mut left = self.config.quick_retries;
        let obj = loop {
            let started = std::time::Instant::now();
            let fetched = self
                .store
                .fetch(
                    &job.bucket,
                    &job.key,
                    job.version_id.as_deref(),
                    self.config.max_image_bytes,
                )
                .await;
            self.metrics
                .observe_s3_fetch(fetched.is_ok(), started.elapsed());
            match fetched {
                Err(e @ JobError::StorageTransient(_)) if left > 0 => {
                    left -= 1;
                    tracing::debug!(job_id = %job.job_id, error_kind = %e.kind(), "object store retry");
                    tokio::time::sleep(backoff.next().unwrap_or(self.config.retry_max)).await;
                }
                other => break other?,
            }
        };
        tracing::debug!(size_bytes = obj.bytes.len(), "object fetched");
        let fmt = format::inspect(&obj.bytes)?;
        Ok(LoadedImage {
            source: Source {
                bucket: job.bucket.clone(),
                key: job.key.clone(),
                version_id: obj.version_id,
                etag: obj.etag,
                size_bytes: obj.bytes.len() as u64,
                format: fmt,
            },
            image: OcrImage {
                bytes: obj.bytes,
                format: fmt,
                name: job.job_id.clone(),
            },
        })
    }

    /// The result for `job` from a stored answer for `tag`, normalized again with today's
    /// normalizer, or `None` when there is no readable entry.
    async fn reuse(
        &self,
        store: &ResultStore,
        job: &Job,
        tag: &ContentTag,
        attempts: &AtomicU32,
    ) -> Result<Option<ResultMessage>, JobError> {
        let entry = match store.lookup(job, tag).await {
            Ok(Lookup::Hit(entry)) => entry,
            Ok(Lookup::Miss) => {
                self.metrics.store_request("lookup", "miss");
                return Ok(None);
            }
            Ok(Lookup::Unreadable) => {
                self.metrics.store_request("lookup", "unreadable");
                tracing::warn!(job_id = %job.job_id, "unreadable result-store entry: calling OCR again");
                return Ok(None);
            }
            Err(e) => {
                self.metrics.store_request("lookup", "error");
                return Err(e);
            }
        };
        let Ok(response) = clova::response_from_tree(&entry.clova_response) else {
            self.metrics.store_request("lookup", "unreadable");
            tracing::warn!(job_id = %job.job_id, "unreadable stored answer: calling OCR again");
            return Ok(None);
        };
        self.metrics.store_request("lookup", "hit");
        let reply = OcrReply {
            response,
            raw: Vec::new(),
            request_id: entry.result.ocr.request_id.clone(),
            duration: Duration::from_millis(entry.result.ocr.duration_ms),
        };
        let mut result = build_result(
            reply,
            entry.result.source,
            job,
            attempts.load(Ordering::Acquire),
            chrono::Utc::now(),
        )?;
        result.reused = true;
        self.metrics.results_reused.inc();
        tracing::info!(job_id = %job.job_id, "stored answer reused: no OCR call");
        Ok(Some(result))
    }

    /// Store the paid answer behind `result` and hand `result` back (quick retries for a
    /// transient store error; a result that cannot be stored is not published, so a retry
    /// finds no entry either). The result moves through the entry: no copy of it is made.
    async fn keep(
        &self,
        store: &ResultStore,
        job: &Job,
        tag: &ContentTag,
        result: ResultMessage,
        raw: Vec<u8>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<ResultMessage, JobError> {
        // The tree is built only here, for the entry: the answer itself was read without one
        // (with a result store, that is one more parse per paid answer, about what reading
        // it through the tree cost before). It cannot fail: `parse_response` has read these
        // bytes as JSON under the same nesting limit.
        let clova_response = serde_json::from_slice(&raw)
            .map_err(|_| JobError::BadResponse("answer is not a JSON tree".into()))?;
        let entry = ResultEntry {
            entry_version: ENTRY_VERSION,
            normalizer_version: NORMALIZER_VERSION,
            written_by: format!("ocr-worker {}", env!("CARGO_PKG_VERSION")),
            clova_response,
            result,
            stored_at: now,
        };
        let mut backoff = self.backoff();
        let mut left = self.config.quick_retries;
        loop {
            match store.put_result(job, tag, &entry).await {
                Ok(()) => {
                    self.metrics.store_request("write_result", "ok");
                    return Ok(entry.result);
                }
                Err(e) => {
                    self.metrics.store_request("write_result", "error");
                    if !matches!(e, JobError::StorageTransient(_)) || left == 0 {
                        return Err(e);
                    }
                    left -= 1;
                    tracing::debug!(job_id = %job.job_id, error_kind = %e.kind(), "result store retry");
                    tokio::time::sleep(backoff.next().unwrap_or(self.config.retry_max)).await;
                }
            }
        }
    }

    fn backoff(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_min_delay(self.config.retry_base)
            .with_max_delay(self.config.retry_max)
            .with_jitter()
            .without_max_times()
            .build()
    }

    /// Call OCR until it answers something final for this image. Quota answers (0025, 429,
    /// 0023) wait and retry without using attempts; transient errors get `quick_retries`
    /// in-process retries, then come back as `Err` for a delayed retry through the broker.
    /// Once the job has made `max_attempts` paid calls the error comes back at once; the retry
    /// policy ([`ocr_common::retry::decide`]) then dead-letters it as `retries_exhausted`.
    pub async fn recognize(
        &self,
        image: &OcrImage,
        lane: Lane,
        attempts: &AtomicU32,
    ) -> Result<OcrReply, JobError> {
        let mut backoff = self.backoff();
        let mut quick_left = self.config.quick_retries;
        loop {
            // A job may arrive with its budget spent on earlier deliveries (charged on
            // arrival): no call, the retry policy dead-letters it.
            let paid = attempts.load(Ordering::Acquire);
            if !self.config.policy.may_call_again(paid) {
                return Err(JobError::AttemptsSpent { attempts: paid });
            }
            let series = self.metrics.lane(lane);
            let waiting = crate::metrics::GaugeHold::new(&series.waiting);
            let permit = quota_wait(self.limiter.acquire_in(lane)).await;
            drop(waiting);
            series.observe_limiter_wait(permit.waited);
            self.metrics.ocr_in_flight.inc();
            // Counted before the call: a call cut off by the job deadline may have been billed.
            attempts.fetch_add(1, Ordering::AcqRel);
            let started = std::time::Instant::now();
            let res = async {
                let r = self.ocr.recognize(image).await;
                tracing::debug!(
                    error_kind = r.as_ref().err().map(|e| e.kind().as_str()),
                    "OCR call answered"
                );
                r
            }
            .instrument(tracing::info_span!(
                "stage",
                stage = "ocr",
                attempt = attempts.load(Ordering::Acquire)
            ))
            .await
            .and_then(check_reply);
            let elapsed = started.elapsed();
            self.metrics.ocr_in_flight.dec();
            drop(permit);
            self.metrics
                .ocr_limit
                .set(i64::from(self.limiter.current_limit()));
            let err = match res {
                Ok(reply) => {
                    self.limiter.on_success();
                    self.metrics.ocr_call("ok");
                    self.metrics.observe_ocr("ok", elapsed);
                    return Ok(reply);
                }
                Err(e) => e,
            };
            if !err.is_paid_call() {
                attempts.fetch_sub(1, Ordering::AcqRel);
            }
            // Bounded: a known provider code, `other`, or the error kind.
            let label = crate::metrics::ocr_result_label(&err).to_string();
            self.metrics.ocr_call(&label);
            self.metrics
                .observe_ocr(crate::metrics::ocr_result_class(&err), elapsed);
            let cap = |d: Option<Duration>| d.map(|d| d.min(self.config.retry_max));
            match err.disposition() {
                Disposition::RateLimited { retry_after } => {
                    self.metrics
                        .ocr_throttled
                        .get_or_create(&crate::metrics::ResultLabel { result: label })
                        .inc();
                    self.limiter.on_rate_limited(cap(retry_after));
                    let wait = backoff.next().unwrap_or(self.config.retry_max);
                    quota_wait(tokio::time::sleep(
                        cap(retry_after).unwrap_or(wait).max(wait),
                    ))
                    .await;
                }
                Disposition::PauseQuota => {
                    self.metrics
                        .ocr_throttled
                        .get_or_create(&crate::metrics::ResultLabel { result: label })
                        .inc();
                    tracing::warn!(
                        pause_secs = self.config.quota_pause.as_secs_f64(),
                        "OCR period quota reached (0023): pausing all OCR calls"
                    );
                    self.limiter.pause_for(self.config.quota_pause);
                }
                Disposition::Retry { retry_after } => {
                    let paid = attempts.load(Ordering::Acquire);
                    if quick_left == 0 || !self.config.policy.may_call_again(paid) {
                        return Err(err);
                    }
                    quick_left -= 1;
                    let wait = backoff.next().unwrap_or(self.config.retry_max);
                    tokio::time::sleep(cap(retry_after).unwrap_or(wait).max(wait)).await;
                }
                Disposition::DeadLetter(_) | Disposition::Stop => return Err(err),
            }
        }
    }
}

/// Why [`under_job_deadline`] cut a job off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineCut {
    /// The job worked (fetching, calling, storing) for longer than the deadline.
    Work,
    /// The job waited for the domain's quota for longer than the deadline: a quota wait,
    /// not a failure ([`JobError::QuotaWaitPastDeadline`]).
    QuotaWait,
}

/// Time one job spends waiting for the domain's quota: for the limiter (slots, pacing, the
/// 0023 pause) and in 0025/429 back-off.
#[derive(Debug, Default)]
struct QuotaWaits {
    state: std::sync::Mutex<WaitState>,
    changed: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct WaitState {
    /// Waits in progress (nested waits count once).
    depth: u32,
    /// Start of the wait in progress.
    since: Option<tokio::time::Instant>,
    /// Finished waits, summed.
    total: Duration,
}

impl QuotaWaits {
    fn lock(&self) -> std::sync::MutexGuard<'_, WaitState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn begin(&self) {
        let mut s = self.lock();
        s.depth += 1;
        if s.depth == 1 {
            s.since = Some(tokio::time::Instant::now());
        }
        drop(s);
        self.changed.notify_waiters();
    }

    fn end(&self) {
        let mut s = self.lock();
        s.depth = s.depth.saturating_sub(1);
        if s.depth == 0
            && let Some(since) = s.since.take()
        {
            s.total += since.elapsed();
        }
        drop(s);
        self.changed.notify_waiters();
    }

    /// Whether the job waits for quota now, and how long it has waited in all (this wait
    /// included).
    fn snapshot(&self, now: tokio::time::Instant) -> (bool, Duration) {
        let s = self.lock();
        let ongoing = s.since.map_or(Duration::ZERO, |t| now.duration_since(t));
        (s.since.is_some(), s.total + ongoing)
    }
}

struct WaitGuard(Arc<QuotaWaits>);

impl Drop for WaitGuard {
    fn drop(&mut self) {
        self.0.end();
    }
}

tokio::task_local! {
    /// The quota-wait clock of the job running under [`under_job_deadline`] (none for
    /// `ocr-worker process`, which has no deadline).
    static QUOTA_WAITS: Arc<QuotaWaits>;
}

/// Run `fut` as a wait for the domain's quota: its time does not count against the job
/// deadline of the job running it (see [`under_job_deadline`]).
async fn quota_wait<F: std::future::Future>(fut: F) -> F::Output {
    let _guard = QUOTA_WAITS.try_with(Arc::clone).ok().map(|w| {
        w.begin();
        WaitGuard(w)
    });
    fut.await
}

/// Run one job's `work` under the job deadline, where waiting for the domain's quota (the
/// limiter, 0025/429 back-off, the 0023 pause) does not count: the job is cut off
/// ([`DeadlineCut::Work`]) once it has *worked* for `deadline`, or
/// ([`DeadlineCut::QuotaWait`]) once it has *waited for quota* for `deadline` in all, so a
/// delivery is held at most twice the deadline and a busy domain never makes a job fail.
pub async fn under_job_deadline<F: std::future::Future>(
    deadline: Duration,
    work: F,
) -> Result<F::Output, DeadlineCut> {
    let waits = Arc::new(QuotaWaits::default());
    let work = QUOTA_WAITS.scope(waits.clone(), work);
    tokio::pin!(work);
    let start = tokio::time::Instant::now();
    loop {
        // Registered before the state is read: a wait that begins or ends meanwhile wakes us.
        let changed = waits.changed.notified();
        let now = tokio::time::Instant::now();
        let (waiting, waited) = waits.snapshot(now);
        let (wake_at, cut) = if waiting {
            (
                now + deadline.saturating_sub(waited),
                DeadlineCut::QuotaWait,
            )
        } else {
            (start + deadline + waited, DeadlineCut::Work)
        };
        if now >= wake_at {
            return Err(cut);
        }
        tokio::select! {
            out = &mut work => return Ok(out),
            () = tokio::time::sleep_until(wake_at) => {}
            () = changed => {}
        }
    }
}

/// Turn a 200 answer into an error when it says FAILURE/ERROR or has no image.
fn check_reply(reply: OcrReply) -> Result<OcrReply, JobError> {
    let Some(img) = reply.response.images.first() else {
        return Err(JobError::BadResponse("no image in the answer".into()));
    };
    match &img.infer_result {
        InferResult::Success => Ok(reply),
        InferResult::Failure => Err(JobError::Unrecognized),
        InferResult::Error => Err(JobError::RecognitionError),
        InferResult::Other(s) => Err(JobError::BadResponse(format!(
            "unknown inferResult `{}`",
            s.chars().take(32).collect::<String>()
        ))),
    }
}

/// Build the result record from a successful answer (pure; the clock is passed in).
pub fn build_result(
    reply: OcrReply,
    source: Source,
    job: &Job,
    attempts: u32,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ResultMessage, JobError> {
    let img = reply
        .response
        .images
        .into_iter()
        .next()
        .ok_or_else(|| JobError::BadResponse("no image in the answer".into()))?;
    let card = img
        .id_card
        .ok_or_else(|| JobError::BadResponse("no idCard in a SUCCESS answer".into()))?;
    let language = card
        .meta
        .as_ref()
        .and_then(|m| m.estimated_language.clone());
    let result = card
        .result
        .ok_or_else(|| JobError::BadResponse("no idCard.result in a SUCCESS answer".into()))?;
    match result.document_kind() {
        DocumentKind::Passport => {}
        DocumentKind::Other(found) => return Err(JobError::WrongDocumentType { found }),
        DocumentKind::Unknown => {
            return Err(JobError::WrongDocumentType {
                found: "unknown".into(),
            });
        }
    }
    let pp = result
        .pp
        .as_ref()
        .ok_or_else(|| JobError::WrongDocumentType {
            found: "no passport section".into(),
        })?;
    let record = normalize(pp, result.is_confident, now.date_naive());
    Ok(ResultMessage {
        schema_version: SCHEMA_VERSION,
        job_id: job.job_id.clone(),
        source,
        record,
        ocr: OcrInfo {
            request_id: reply.request_id,
            image_uid: img.uid,
            inferred_language: language,
            duration_ms: reply.duration.as_millis() as u64,
        },
        attempts,
        reused: false,
        metadata: job.metadata.clone(),
        completed_at: now,
    })
}

#[cfg(test)]
mod deadline_tests {
    use super::*;

    const DEADLINE: Duration = Duration::from_millis(150);

    async fn work(ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    /// Issue 12, defect 3: time spent waiting for quota never runs the job deadline down
    /// (before, one `timeout` covered both, and a job that had waited for the limiter was
    /// cut as `DeadlineExceeded`, a failed try).
    #[tokio::test]
    async fn quota_waits_do_not_count_against_the_deadline() {
        let r = under_job_deadline(DEADLINE, async {
            work(50).await;
            quota_wait(work(70)).await;
            work(60).await;
            quota_wait(quota_wait(work(60))).await;
            work(20).await;
            7
        })
        .await;
        assert_eq!(
            r,
            Ok(7),
            "130 ms of work and 130 ms of waiting, each under 150"
        );
    }

    #[tokio::test]
    async fn work_past_the_deadline_is_cut() {
        let started = tokio::time::Instant::now();
        let r = under_job_deadline(DEADLINE, async {
            quota_wait(work(50)).await;
            work(1000).await;
        })
        .await;
        assert_eq!(r, Err(DeadlineCut::Work));
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(200) && took < Duration::from_millis(400));
    }

    /// A job that only waits for quota is handed back (as a quota wait) after the deadline's
    /// worth of waiting: a delivery is never held without bound.
    #[tokio::test]
    async fn waiting_past_the_deadline_is_a_quota_wait() {
        let started = tokio::time::Instant::now();
        let r = under_job_deadline(DEADLINE, async {
            work(40).await;
            quota_wait(work(100)).await;
            quota_wait(std::future::pending::<()>()).await;
        })
        .await;
        assert_eq!(r, Err(DeadlineCut::QuotaWait));
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(190) && took < Duration::from_millis(400));
        // Outside a job (`ocr-worker process`), a quota wait is just a wait.
        quota_wait(work(1)).await;
    }
}
