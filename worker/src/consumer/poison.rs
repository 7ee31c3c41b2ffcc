//! The poison relay: a job the broker dead-lettered itself (its quorum delivery limit was hit,
//! so it kept killing workers) arrives on the poison queue and is republished as a proper
//! `poison_message` dead letter, then acked like any outcome.

use lapin::Channel;
use lapin::message::Delivery;
use lapin::types::{AMQPValue, ShortString};
use ocr_common::failure::JobError;
use ocr_common::job::Job;
use ocr_common::message::DeadLetterMessage;

use super::delivery::{message_id_of, salvage_job_id};
use super::outcome::Route;
use super::{Context, Outcome};
use crate::amqp::{self, ATTEMPTS_HEADER};

/// The broker's reason for the first dead-lettering (`x-first-death-reason`), if it says.
fn first_death_reason(delivery: &Delivery) -> String {
    delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| {
            h.inner()
                .get(&ShortString::from("x-first-death-reason"))
                .cloned()
        })
        .and_then(|v| match v {
            AMQPValue::LongString(s) => Some(s.to_string()),
            AMQPValue::ShortString(s) => Some(s.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| "unknown".into())
}

impl<S, O> Context<S, O> {
    /// Turn a broker dead letter into a `poison_message` record and settle it.
    pub(super) async fn relay_poison(&self, delivery: Delivery, publish: &Channel) -> Outcome {
        let job = Job::parse(&delivery.data, usize::MAX).ok();
        let job_id = job
            .as_ref()
            .map(|j| j.job_id.clone())
            .or_else(|| salvage_job_id(&delivery.data));
        let attempts = amqp::header_u32(&delivery.properties, ATTEMPTS_HEADER);
        let err = JobError::Poison {
            reason: first_death_reason(&delivery),
        };
        let dl = DeadLetterMessage::new(
            job_id.clone(),
            &err,
            attempts,
            &delivery.data,
            chrono::Utc::now(),
        );
        let body = serde_json::to_vec(&dl).unwrap_or_default();
        let message_id = message_id_of(&delivery, job.as_ref());
        let published = self
            .publish_outcome(
                publish,
                &delivery,
                Route::DeadLetter(dl.routing_key()),
                &body,
                &message_id,
                None,
            )
            .await;
        tracing::warn!(
            job_id = job_id.as_deref().unwrap_or("-"),
            error_kind = "poison_message",
            "relayed a broker dead letter"
        );
        self.settle(
            &delivery,
            published,
            Outcome::DeadLettered(err.kind()),
            &message_id,
        )
        .await
    }
}
