//! The delivery loop: one broker session at a time (reconnecting with backoff), one task per
//! delivery, and the rule that a delivery is acked only after its outcome is confirmed.
//!
//! Per delivery: parse the job → run the [`Pipeline`] under the job deadline → ask the retry
//! policy ([`ocr_common::retry::decide`]) → publish exactly one of: a result, a dead letter, or
//! a delayed retry copy → on the broker's confirm (and no return), ack. A bucket event that
//! asks for no job ([`ocr_common::intake::Intake::Ignored`]: a test event, a metadata-only
//! change) is acked at once with no outcome and counted by reason, before any S3 or OCR
//! request. A configuration error nacks the delivery back to the queue and stops consumption.
//! A task whose channel died never acks anything: the broker redelivers.
//!
//! # Layout
//! - [`session`]: broker sessions, reconnect with backoff, drain on shutdown.
//! - [`delivery`]: one delivery, from its bytes to the [`Decision`](ocr_common::retry::Decision).
//! - [`outcome`]: publishing that one outcome and settling the delivery (ack, nack, abandon).
//! - [`poison`]: relaying the broker's own dead letters as `poison_message` records.
//! - [`gate`]: when deliveries may start (flow control, quota pause) and the prefetch that
//!   follows the replica's OCR share.

mod delivery;
mod gate;
mod outcome;
mod poison;
mod returns;
mod session;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub use session::{SessionEnd, run};

use crate::config::Settings;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;

/// What one delivery turned into.
#[derive(Debug)]
pub enum Outcome {
    /// Published a result and acked.
    Succeeded,
    /// Published a dead letter and acked.
    DeadLettered(ocr_common::failure::ErrorKind),
    /// Published a delayed retry copy and acked.
    Retried,
    /// Nacked back to the queue (configuration error; consumption stops).
    Requeued,
    /// Nothing acked (the channel died or the outcome was not confirmed): the broker redelivers.
    Abandoned,
    /// A bucket event that asks for no job: acked, no outcome published.
    Ignored(ocr_common::intake::IgnoredEvent),
}

impl Outcome {
    /// The `outcome` label of `ocr_worker_jobs_total` and `ocr_worker_job_duration_seconds`
    /// (one of [`crate::metrics::OUTCOMES`]).
    fn metric_label(&self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::DeadLettered(_) => "dead_lettered",
            Outcome::Retried => "retried",
            Outcome::Requeued => "requeued",
            Outcome::Abandoned => "abandoned",
            Outcome::Ignored(_) => "ignored",
        }
    }
}

/// Everything a delivery task needs; cloned into each task.
pub struct Context<S, O> {
    /// The worker's validated settings.
    pub settings: Arc<Settings>,
    /// Fetch → OCR → normalize, shared by every delivery of the process.
    pub pipeline: Arc<Pipeline<S, O>>,
    /// The process's metrics registry.
    pub metrics: Arc<Metrics>,
    /// Readiness flags behind `/readyz`.
    pub health: Arc<Health>,
    /// Cancelled when a configuration error must stop consumption.
    pub stop: CancellationToken,
    /// Deliveries given back without a paid call, so their next charge leaves them out.
    pub free_returns: Arc<returns::FreeReturns>,
}

impl<S, O> Clone for Context<S, O> {
    fn clone(&self) -> Self {
        Context {
            settings: self.settings.clone(),
            pipeline: self.pipeline.clone(),
            metrics: self.metrics.clone(),
            health: self.health.clone(),
            stop: self.stop.clone(),
            free_returns: self.free_returns.clone(),
        }
    }
}

impl<S, O> Context<S, O> {
    /// Broker flow control on or off, in `/readyz` and `/metrics` alike.
    fn set_blocked(&self, blocked: bool) {
        self.health.set_blocked(blocked);
        self.metrics.broker_blocked.set(i64::from(blocked));
    }

    /// Stop consuming because of a configuration error (once; later calls only log nothing).
    fn stop_consuming(&self, reason: String) {
        if !self.stop.is_cancelled() {
            self.health.set_stopped(reason);
            self.stop.cancel();
        }
    }
}
