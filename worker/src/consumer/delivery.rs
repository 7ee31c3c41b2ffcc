//! One delivery, from its bytes to the outcome the retry policy chose, then published and
//! settled by [`outcome`](super::outcome).

use std::sync::atomic::Ordering;

use lapin::message::Delivery;
use ocr_common::failure::JobError;
use ocr_common::intake::{IgnoredEvent, Intake};
use ocr_common::job::Job;
use ocr_common::lane::Lane;
use ocr_common::message::{DeadLetterMessage, outcome_message_id};
use ocr_common::retry::{self, Decision};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::outcome::Route;
use super::returns::{Charge, MessageKey};
use super::{Context, Outcome};
use crate::amqp::{self, ATTEMPTS_HEADER, Publisher, RETRIES_HEADER};
use crate::ocr::OcrApi;
use crate::storage::ObjectStore;

/// What an attempt came to.
enum Attempt {
    /// A bucket event that asks for no job: nothing to publish.
    Ignored(IgnoredEvent),
    /// A job (or an invalid one): its outcome to publish.
    Decided(Attempted),
}

/// A delivery after its attempt: what to publish, and the ids to publish it under.
struct Attempted {
    /// The job id, or one salvaged from an invalid job, for the dead letter and logs.
    job_id: Option<String>,
    /// The outcome's `message_id`: consumers deduplicate on it.
    message_id: String,
    /// The job, when it parsed (where its dead letter is stored).
    job: Option<Box<Job>>,
    decision: Decision<Vec<u8>>,
    /// The job's paid calls, when it parsed: settled once the delivery is acked.
    charge: Option<Charge>,
}

/// Salvage a job id from an invalid but JSON job: only a string that would have been a valid
/// id counts (non-empty, at most 255 bytes so it fits `message_id`, no control characters so
/// it cannot forge a log line). A delivery's own `message_id` is producer-set bytes, so log
/// lines print it quoted and escaped (`?msg_id`).
pub(super) fn salvage_job_id(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let id = v.get("job_id")?.as_str()?;
    (!id.trim().is_empty()
        && id.len() <= ocr_common::job::MAX_JOB_ID_BYTES
        && !id.chars().any(char::is_control))
    .then(|| id.to_string())
}

/// The outcome `message_id` of a delivery whose job parsed (or not).
pub(super) fn message_id_of(delivery: &Delivery, job: Option<&Job>) -> String {
    outcome_message_id(
        job,
        delivery
            .properties
            .message_id()
            .as_ref()
            .map(|s| s.as_str()),
        &delivery.data,
    )
}

impl<S: ObjectStore, O: OcrApi> Context<S, O> {
    /// Parse, run the pipeline under the job deadline, and let the retry policy decide. An
    /// ignored event comes back before any S3 or OCR request.
    async fn attempt(&self, delivery: &Delivery, lane: Lane) -> Attempt {
        // A bucket event for a key this worker wrote (its result store's prefixes) would make
        // a job of every stored result, in a loop.
        let own_output = |job: &Job| {
            self.pipeline.results.as_ref().is_some_and(|store| {
                ocr_common::result_entry::is_own_output(
                    &job.bucket,
                    &job.key,
                    &store.settings().bucket,
                    &store.prefixes(),
                )
            })
        };
        let parsed = Intake::parse_with(
            &delivery.data,
            self.settings.broker.max_job_bytes,
            own_output,
        );
        let job = parsed.as_ref().ok().and_then(|i| match i {
            Intake::Job(job) => Some(job),
            Intake::Ignored(_) => None,
        });
        self.observe_queued(delivery, job);
        let job = match parsed {
            Ok(Intake::Job(job)) => job,
            Ok(Intake::Ignored(reason)) => return Attempt::Ignored(reason),
            Err(invalid) => {
                let salvaged = salvage_job_id(&delivery.data);
                if let Some(id) = &salvaged {
                    tracing::Span::current().record("job_id", id.as_str());
                }
                return Attempt::Decided(Attempted {
                    // An invalid job that still names a job id is deduplicated on it.
                    message_id: salvaged
                        .clone()
                        .unwrap_or_else(|| message_id_of(delivery, None)),
                    job_id: salvaged,
                    job: None,
                    decision: Decision::DeadLetter {
                        error: JobError::InvalidJob(invalid),
                        attempts: 0,
                    },
                    charge: None,
                });
            }
        };
        let props = &delivery.properties;
        let message_id = message_id_of(delivery, Some(&job));
        let key = MessageKey::of(delivery, &message_id);
        // Paid calls so far: the copy's header plus one for every time the broker took
        // this delivery back without an outcome (defect 6: a call then a crash), less the
        // returns this process knows paid nothing.
        let free = key.as_ref().map_or(0, |k| self.free_returns.free(k));
        let returns = amqp::returns(delivery).less_free(free);
        let charge = Charge::new(
            self.free_returns.clone(),
            key,
            retry::charged_attempts(amqp::header_u32(props, ATTEMPTS_HEADER), returns),
        );
        let attempts = &charge.attempts;
        tracing::Span::current().record("job_id", job.job_id.as_str());
        let retries = amqp::header_u32(props, RETRIES_HEADER);
        let deadline = self.settings.retry.job_deadline;
        // Quota waits do not run the deadline down; waiting past it is a quota wait.
        let work = self.pipeline.process(&job, lane, attempts);
        let res = match crate::pipeline::under_job_deadline(deadline, work).await {
            Ok(r) => r,
            // A job that only waited for a paused quota is not a job that failed.
            Err(_) if self.pipeline.limiter.is_paused() => Err(JobError::QuotaPausedPastDeadline),
            Err(crate::pipeline::DeadlineCut::QuotaWait) => Err(JobError::QuotaWaitPastDeadline),
            Err(crate::pipeline::DeadlineCut::Work) => Err(JobError::DeadlineExceeded),
        };
        let body = res.and_then(|result| {
            serde_json::to_vec(&result)
                .map_err(|e| JobError::BadResponse(format!("result not serialisable: {e}")))
        });
        let attempts = attempts.load(Ordering::Acquire);
        tracing::Span::current().record("attempt", attempts);
        Attempt::Decided(Attempted {
            message_id,
            job_id: Some(job.job_id.clone()),
            job: Some(Box::new(job)),
            decision: retry::decide(body, attempts, retries, &self.settings.retry.policy),
            charge: Some(charge),
        })
    }

    /// Handle one delivery of `lane` (the queue it came from) to its end. Publishing goes on
    /// `publish`, acking on the delivery's own channel.
    /// A failure of the publishing channel cancels `broken`: the session then ends and its
    /// unacked deliveries go back to the queue.
    pub async fn handle(
        &self,
        delivery: Delivery,
        lane: Lane,
        publish: &Publisher,
        broken: &CancellationToken,
    ) -> Outcome {
        let series = self.metrics.lane(lane);
        let held = (
            crate::metrics::GaugeHold::new(&self.metrics.in_flight),
            crate::metrics::GaugeHold::new(&series.in_flight),
        );
        let started = std::time::Instant::now();
        // JSON logs carry these as span fields on every line of this job (`spans`); the job
        // id and the paid attempts are filled in once known. Never a field of the job body
        // beyond its validated id.
        let trace = amqp::traceparent(&delivery.properties);
        let span = tracing::info_span!(
            "job",
            %lane,
            job_id = tracing::field::Empty,
            attempt = tracing::field::Empty,
            trace_id = trace.as_ref().map(|t| t.trace_id()),
        );
        let outcome = self
            .handle_inner(&delivery, lane, publish)
            .instrument(span)
            .await;
        drop(held);
        series.jobs.inc();
        self.metrics
            .observe_job(outcome.metric_label(), started.elapsed());
        if matches!(outcome, Outcome::Abandoned) {
            broken.cancel();
        }
        outcome
    }

    /// Time queued, from the AMQP timestamp (1 s resolution), or a bucket notification's
    /// `eventTime` (kept in `metadata.s3_event` by `Job::parse`) when the producer set none
    /// (MinIO sets none).
    fn observe_queued(&self, delivery: &Delivery, job: Option<&Job>) {
        let event_time = job
            .and_then(|j| j.metadata.as_ref())
            .and_then(|m| m.get("s3_event")?.get("event_time"))
            .and_then(|t| t.as_str())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc));
        if let Some(s) = crate::metrics::queued_seconds(
            *delivery.properties.timestamp(),
            event_time,
            chrono::Utc::now(),
        ) {
            self.metrics.observe_queued(s);
        }
    }

    /// Store a copy of a dead letter before it is published. Best effort: the published dead
    /// letter is the record that counts (`ocr-worker dlq`), so a store failure is counted and
    /// logged, and the dead letter still goes out.
    async fn keep_dead_letter(&self, job: Option<&Job>, message_id: &str, body: &[u8]) {
        let Some(store) = &self.pipeline.results else {
            return;
        };
        match store.put_dead_letter(job, message_id, body.to_vec()).await {
            Ok(()) => self.metrics.store_request("write_dead_letter", "ok"),
            Err(e) => {
                self.metrics.store_request("write_dead_letter", "error");
                tracing::warn!(
                    message_id = ?message_id,
                    error_kind = %e.kind(),
                    "dead letter not stored in the result store; publishing it anyway"
                );
            }
        }
    }

    async fn handle_inner(&self, delivery: &Delivery, lane: Lane, publish: &Publisher) -> Outcome {
        let Attempted {
            job_id,
            message_id,
            job,
            decision,
            charge,
        } = match self.attempt(delivery, lane).await {
            Attempt::Decided(attempted) => attempted,
            Attempt::Ignored(reason) => return self.settle_ignored(delivery, reason).await,
        };
        let job_id_or_dash = job_id.as_deref().unwrap_or("-");
        let (route, body, headers, outcome) = match decision {
            Decision::Publish(body) => {
                tracing::info!(job_id = %job_id_or_dash, outcome = "succeeded", "job done");
                (Route::Result, body, None, Outcome::Succeeded)
            }
            Decision::DeadLetter { error, attempts } => {
                let dl = DeadLetterMessage::new(
                    job_id.clone(),
                    &error,
                    attempts,
                    &delivery.data,
                    chrono::Utc::now(),
                )
                .with_queue(self.settings.broker.queue(lane));
                tracing::warn!(
                    job_id = job_id_or_dash,
                    message_id = ?message_id,
                    error_kind = %error.kind(),
                    attempts,
                    "job dead-lettered"
                );
                let body = serde_json::to_vec(&dl).unwrap_or_default();
                self.keep_dead_letter(job.as_deref(), &message_id, &body)
                    .await;
                (
                    Route::DeadLetter(dl.routing_key()),
                    body,
                    None,
                    Outcome::DeadLettered(error.kind()),
                )
            }
            Decision::Delay {
                stage,
                attempts,
                retries,
                error,
            } => {
                tracing::info!(
                    job_id = %message_id,
                    error_kind = %error.kind(),
                    attempts,
                    retry = retries,
                    delay_ms = stage.as_millis() as u64,
                    "job scheduled for a delayed retry"
                );
                (
                    Route::Delay(lane, stage),
                    delivery.data.clone(),
                    Some(amqp::retry_headers(attempts, retries)),
                    Outcome::Retried,
                )
            }
            Decision::Stop { error } => {
                if !self.stop.is_cancelled() {
                    tracing::error!(
                        error_kind = %error.kind(),
                        reason = %error,
                        "CONFIGURATION ERROR: stopping consumption; jobs stay queued until this is fixed"
                    );
                }
                self.stop_consuming(error.to_string());
                return self.requeue(delivery).await;
            }
        };
        let published = self
            .publish_outcome(publish, delivery, route, &body, &message_id, headers)
            .await;
        let outcome = self.settle(delivery, published, outcome, &message_id).await;
        // Acked: the message will not come back. Otherwise the charge, dropped, remembers a
        // return that paid nothing.
        if let (Some(charge), Outcome::Succeeded | Outcome::DeadLettered(_) | Outcome::Retried) =
            (charge, &outcome)
        {
            charge.settled();
        }
        outcome
    }
}
