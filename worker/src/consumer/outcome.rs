//! Publishing a delivery's one outcome and settling the delivery by what the broker said:
//! confirmed → ack; unroutable → nack back and stop consuming; anything else → abandon (leave
//! it unacked, the broker redelivers).

use std::time::Duration;

use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::types::FieldTable;
use ocr_common::failure::JobError;
use ocr_common::intake::IgnoredEvent;
use ocr_common::lane::Lane;

use tracing::Instrument as _;

use super::{Context, Outcome};
use crate::amqp::{self, AmqpError, Outgoing, Publisher};
use crate::metrics::KindLabel;

/// Where an outcome goes.
pub(super) enum Route {
    /// The results exchange, with the configured routing key.
    Result,
    /// The dead-letter exchange, with this `dead.<kind>` routing key.
    DeadLetter(String),
    /// The delay stage of this length of the lane's work queue, through the default exchange
    /// (its copies expire back into that lane).
    Delay(Lane, Duration),
}

impl Route {
    /// The `route` label of `ocr_worker_publish_duration_seconds`.
    fn metric_label(&self) -> &'static str {
        match self {
            Route::Result => "result",
            Route::DeadLetter(_) => "dead_letter",
            Route::Delay(..) => "delay",
        }
    }
}

impl<S, O> Context<S, O> {
    /// Publish `body` on `route` (persistent, mandatory, confirmed), with the delivery's
    /// correlation id copied over.
    pub(super) async fn publish_outcome(
        &self,
        publish: &Publisher,
        delivery: &Delivery,
        route: Route,
        body: &[u8],
        message_id: &str,
        headers: Option<FieldTable>,
    ) -> Result<(), AmqpError> {
        let b = &self.settings.broker;
        let started = std::time::Instant::now();
        let route_label = route.metric_label();
        let delay_queue;
        let (exchange, routing_key) = match &route {
            Route::Result => (b.results_exchange.as_str(), b.results_routing_key.as_str()),
            Route::DeadLetter(rk) => (b.dead_exchange.as_str(), rk.as_str()),
            Route::Delay(lane, stage) => {
                delay_queue = amqp::delay_queue_name(b.queue(*lane), *stage);
                ("", delay_queue.as_str())
            }
        };
        // A job's trace context goes on with its outcome (and its delayed copy).
        let headers =
            amqp::with_traceparent(headers, amqp::traceparent(&delivery.properties).as_ref());
        let published = publish
            .publish(Outgoing {
                exchange,
                routing_key,
                body,
                message_id,
                correlation_id: delivery
                    .properties
                    .correlation_id()
                    .as_ref()
                    .map(|s| s.as_str()),
                headers,
            })
            .instrument(tracing::info_span!("stage", stage = "publish"))
            .await;
        self.metrics.observe_publish(route_label, started.elapsed());
        published
    }

    /// Nack the delivery back to the queue (consumption is stopping).
    pub(super) async fn requeue(&self, delivery: &Delivery) -> Outcome {
        let _ = delivery
            .acker
            .nack(BasicNackOptions {
                requeue: true,
                ..Default::default()
            })
            .await;
        self.metrics.job(Outcome::Requeued.metric_label());
        Outcome::Requeued
    }

    /// Ack a bucket event that asks for no job: there is no outcome to publish, so nothing to
    /// wait for. Counted once acked; an ack that fails leaves it for redelivery (it is ignored
    /// again then).
    pub(super) async fn settle_ignored(
        &self,
        delivery: &Delivery,
        reason: IgnoredEvent,
    ) -> Outcome {
        // The reason only: the event's bucket and key are producer data.
        tracing::debug!(reason = %reason, "bucket event ignored: no job");
        match delivery.acker.ack(BasicAckOptions::default()).await {
            Ok(true) => {
                self.metrics.event_ignored(reason);
                let outcome = Outcome::Ignored(reason);
                self.metrics.job(outcome.metric_label());
                outcome
            }
            Ok(false) => {
                tracing::warn!(
                    "ack of an ignored event not sent (channel closed): it will be redelivered"
                );
                Outcome::Abandoned
            }
            Err(e) => {
                tracing::warn!(error = %e, "ack of an ignored event failed: it will be redelivered");
                Outcome::Abandoned
            }
        }
    }

    /// Settle the delivery by what publishing its `outcome` gave.
    pub(super) async fn settle(
        &self,
        delivery: &Delivery,
        published: Result<(), AmqpError>,
        outcome: Outcome,
        message_id: &str,
    ) -> Outcome {
        match published {
            Ok(()) => {
                if let Outcome::DeadLettered(kind) = &outcome {
                    self.metrics
                        .dead_letters
                        .get_or_create(&KindLabel {
                            kind: kind.as_str().into(),
                        })
                        .inc();
                }
                match delivery.acker.ack(BasicAckOptions::default()).await {
                    Ok(true) => {
                        self.metrics.job(outcome.metric_label());
                        outcome
                    }
                    // lapin answers `Ok(false)` when the ack was never sent (the delivery's
                    // channel is closed): the broker will redeliver, so nothing is done.
                    Ok(false) => {
                        tracing::warn!(message_id = ?message_id, "ack not sent (channel closed) after a confirmed outcome: the job will be redelivered (duplicate outcome, same message_id)");
                        Outcome::Abandoned
                    }
                    Err(e) => {
                        tracing::warn!(message_id = ?message_id, error = %e, "ack failed after a confirmed outcome: the job will be redelivered (duplicate outcome, same message_id)");
                        Outcome::Abandoned
                    }
                }
            }
            Err(AmqpError::Unroutable {
                exchange,
                routing_key,
            }) => {
                let err = JobError::Unroutable {
                    exchange,
                    routing_key,
                };
                tracing::error!(message_id = ?message_id, reason = %err, "CONFIGURATION ERROR: outcome unroutable; not acking, stopping consumption");
                self.stop_consuming(err.to_string());
                self.requeue(delivery).await
            }
            Err(e) => {
                tracing::warn!(message_id = ?message_id, error = %e, "outcome not confirmed; leaving the job unacked for redelivery");
                Outcome::Abandoned
            }
        }
    }
}
