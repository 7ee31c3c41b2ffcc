//! The poison relay: a job the broker dead-lettered itself (its quorum delivery limit was hit,
//! so it kept killing workers) arrives on the poison queue and is republished as a proper
//! `poison_message` dead letter, then acked like any outcome.

use lapin::message::Delivery;
use lapin::types::{AMQPValue, ShortString};
use ocr_common::failure::JobError;
use ocr_common::job::Job;
use ocr_common::message::DeadLetterMessage;

use super::delivery::{message_id_of, salvage_job_id};
use super::outcome::Route;
use super::{Context, Outcome};
use crate::amqp::{self, ATTEMPTS_HEADER, Publisher};

/// Why the broker dead-lettered the job out of one of the `lanes` (work queues), and which:
/// the `reason` and `queue` of the newest `x-death` entry for a work queue (`delivery_limit`,
/// `rejected`, …). Not `x-first-death-reason`: a job that went through a delay stage first
/// died there, by `expired`.
pub(super) fn death_of(props: &lapin::BasicProperties, lanes: &[&str]) -> (String, Option<String>) {
    let headers = props.headers().as_ref();
    let text = |v: Option<&AMQPValue>| match v? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    };
    let from_x_death = headers
        .and_then(|h| h.inner().get(&ShortString::from("x-death")).cloned())
        .and_then(|v| match v {
            AMQPValue::FieldArray(entries) => entries.as_slice().iter().find_map(|e| {
                let AMQPValue::FieldTable(t) = e else {
                    return None;
                };
                let t = t.inner();
                let queue = text(t.get(&ShortString::from("queue")))?;
                if !lanes.contains(&queue.as_str()) {
                    return None;
                }
                Some((text(t.get(&ShortString::from("reason")))?, queue))
            }),
            _ => None,
        });
    match from_x_death {
        Some((reason, queue)) => (reason, Some(queue)),
        None => (
            text(headers.and_then(|h| h.inner().get(&ShortString::from("x-first-death-reason"))))
                .unwrap_or_else(|| "unknown".into()),
            None,
        ),
    }
}

/// [`death_of`], the reason only.
#[cfg(test)]
fn death_reason(props: &lapin::BasicProperties, jobs_queue: &str) -> String {
    death_of(props, &[jobs_queue]).0
}

impl<S, O> Context<S, O> {
    /// Turn a broker dead letter into a `poison_message` record and settle it.
    pub(super) async fn relay_poison(&self, delivery: Delivery, publish: &Publisher) -> Outcome {
        let job = Job::parse(&delivery.data, usize::MAX).ok();
        let job_id = job
            .as_ref()
            .map(|j| j.job_id.clone())
            .or_else(|| salvage_job_id(&delivery.data));
        let attempts = amqp::header_u32(&delivery.properties, ATTEMPTS_HEADER);
        let b = &self.settings.broker;
        let (reason, lane_queue) =
            death_of(&delivery.properties, &[&b.jobs_queue, &b.priority_queue]);
        let err = JobError::Poison { reason };
        let dl = DeadLetterMessage::new(
            job_id.clone(),
            &err,
            attempts,
            &delivery.data,
            chrono::Utc::now(),
        )
        // The broker dead-lettered it out of a work queue: that is the lane it came from.
        .with_queue(lane_queue.as_deref().unwrap_or(&b.jobs_queue));
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

#[cfg(test)]
mod tests {
    use lapin::types::{FieldArray, FieldTable, LongString};

    use super::*;

    fn entry(queue: &str, reason: &str) -> AMQPValue {
        let mut t = FieldTable::default();
        t.insert(
            "queue".into(),
            AMQPValue::LongString(LongString::from(queue)),
        );
        t.insert(
            "reason".into(),
            AMQPValue::LongString(LongString::from(reason)),
        );
        AMQPValue::FieldTable(t)
    }

    #[test]
    fn the_reason_is_the_work_queues_own() {
        // As the broker writes it for a job that expired out of a delay stage into the work
        // queue, then hit the delivery limit there: newest death first.
        let mut h = FieldTable::default();
        h.insert(
            "x-death".into(),
            AMQPValue::FieldArray(FieldArray::from(vec![
                entry("ocr.jobs", "delivery_limit"),
                entry("ocr.jobs.delay.5s", "expired"),
            ])),
        );
        h.insert(
            "x-first-death-reason".into(),
            AMQPValue::LongString(LongString::from("expired")),
        );
        let props = lapin::BasicProperties::default().with_headers(h);
        assert_eq!(death_reason(&props, "ocr.jobs"), "delivery_limit");
        assert_eq!(
            death_reason(&lapin::BasicProperties::default(), "ocr.jobs"),
            "unknown"
        );
    }

    #[test]
    fn a_priority_job_is_relayed_with_its_own_lane() {
        let mut h = FieldTable::default();
        h.insert(
            "x-death".into(),
            AMQPValue::FieldArray(FieldArray::from(vec![
                entry("ocr.jobs.priority", "delivery_limit"),
                entry("ocr.jobs.priority.delay.5s", "expired"),
            ])),
        );
        let props = lapin::BasicProperties::default().with_headers(h);
        assert_eq!(
            death_of(&props, &["ocr.jobs", "ocr.jobs.priority"]),
            ("delivery_limit".into(), Some("ocr.jobs.priority".into()))
        );
    }
}
