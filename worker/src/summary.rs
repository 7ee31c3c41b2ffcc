//! `ocr-worker summary`: take outcomes off the results and dead-letter queues (acking them)
//! until the expected number arrived, and report counts. Used by the demo; handy for smoke
//! tests of a deployment. Prints no personal data: job ids, kinds and check results only.
//!
//! [`OutcomeReader`] is the one way outcomes are read back: `summary` counts them, and the
//! end-to-end harness (`ocr-tests`) collects them with it.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Consumer};
use serde_json::Value;

use crate::amqp;
use crate::config::Settings;

/// [`Outcome::queue`] of a result.
pub const RESULT: &str = "result";
/// [`Outcome::queue`] of a dead letter.
pub const DEAD: &str = "dead";

/// One outcome read back from the results or dead-letter queue.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// [`RESULT`] or [`DEAD`].
    pub queue: &'static str,
    /// Parsed body (`null` when it is not JSON).
    pub body: Value,
    /// AMQP message id.
    pub message_id: Option<String>,
    /// AMQP correlation id.
    pub correlation_id: Option<String>,
    /// Routing key.
    pub routing_key: String,
    /// The W3C `traceparent` carried over from the job, if it had a valid one.
    pub traceparent: Option<String>,
}

impl Outcome {
    /// Whether this is a result (not a dead letter).
    pub fn is_result(&self) -> bool {
        self.queue == RESULT
    }
}

/// Consumes a results queue and a dead-letter queue together, acking each outcome it yields.
pub struct OutcomeReader {
    results: Consumer,
    dead: Consumer,
}

impl OutcomeReader {
    /// Start consuming `results_queue` and `dead_queue` on `ch`.
    pub async fn start(
        ch: &Channel,
        results_queue: &str,
        dead_queue: &str,
    ) -> Result<OutcomeReader, lapin::Error> {
        let consume = |queue: &str| {
            ch.basic_consume(
                queue.into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
        };
        let results = consume(results_queue).await?;
        let dead = consume(dead_queue).await?;
        Ok(OutcomeReader { results, dead })
    }

    /// The next outcome from either queue, acked; `None` when a consumer ended.
    pub async fn next(&mut self) -> Option<Result<Outcome, lapin::Error>> {
        let (queue, next) = tokio::select! {
            d = self.results.next() => (RESULT, d),
            d = self.dead.next() => (DEAD, d),
        };
        let d = match next? {
            Ok(d) => d,
            Err(e) => return Some(Err(e)),
        };
        if let Err(e) = d.ack(BasicAckOptions::default()).await {
            return Some(Err(e));
        }
        Some(Ok(Outcome {
            queue,
            body: serde_json::from_slice(&d.data).unwrap_or(Value::Null),
            message_id: d.properties.message_id().as_ref().map(|s| s.to_string()),
            correlation_id: d
                .properties
                .correlation_id()
                .as_ref()
                .map(|s| s.to_string()),
            routing_key: d.routing_key.to_string(),
            traceparent: crate::amqp::traceparent(&d.properties).map(|t| t.as_str().to_string()),
        }))
    }

    /// Up to `n` outcomes, waiting at most until `deadline` in all (fewer on timeout).
    pub async fn take(
        &mut self,
        n: usize,
        deadline: tokio::time::Instant,
    ) -> Result<Vec<Outcome>, lapin::Error> {
        let mut out = Vec::new();
        while out.len() < n {
            let next = tokio::select! {
                o = self.next() => o,
                () = tokio::time::sleep_until(deadline) => break,
            };
            let Some(o) = next else { break };
            out.push(o?);
        }
        Ok(out)
    }
}

/// Counts over the outcomes read.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Summary {
    /// Outcomes read.
    pub outcomes: u64,
    /// Results.
    pub succeeded: u64,
    /// Results whose MRZ was valid.
    pub mrz_valid: u64,
    /// Results whose MRZ matched the visual zone.
    pub mrz_matches_visual: u64,
    /// Results with at least one warning.
    pub with_warnings: u64,
    /// Dead letters by kind.
    pub dead_letters: BTreeMap<String, u64>,
    /// Distinct message ids seen (outcomes minus duplicates).
    pub distinct_message_ids: u64,
}

impl Summary {
    /// Count the outcomes in `outcomes`.
    pub fn of(outcomes: &[Outcome]) -> Summary {
        let mut summary = Summary::default();
        let mut ids = std::collections::HashSet::new();
        for o in outcomes {
            summary.outcomes += 1;
            if let Some(id) = &o.message_id {
                ids.insert(id.as_str());
            }
            let body = &o.body;
            if o.is_result() {
                summary.succeeded += 1;
                if body["checks"]["mrz_valid"] == Value::Bool(true) {
                    summary.mrz_valid += 1;
                }
                if body["checks"]["mrz_matches_visual"] == Value::Bool(true) {
                    summary.mrz_matches_visual += 1;
                }
                if body["warnings"].as_array().is_some_and(|w| !w.is_empty()) {
                    summary.with_warnings += 1;
                }
            } else {
                let kind = body["error"]["kind"]
                    .as_str()
                    .unwrap_or("unknown")
                    .to_string();
                *summary.dead_letters.entry(kind).or_default() += 1;
            }
        }
        summary.distinct_message_ids = ids.len() as u64;
        summary
    }
}

/// Read up to `expect` outcomes, waiting at most `timeout` in all.
pub async fn collect(
    settings: &Settings,
    expect: u64,
    timeout: Duration,
) -> anyhow::Result<Summary> {
    let conn = amqp::connect(
        &settings.broker.amqp_url,
        settings.broker.amqp_ca.as_ref(),
        "ocr-worker-summary",
    )
    .await?;
    amqp::declare_topology(&conn, settings).await?;
    let ch = conn.create_channel().await?;
    let mut reader = OutcomeReader::start(
        &ch,
        &settings.broker.results_queue,
        &settings.broker.dead_queue,
    )
    .await?;
    let deadline = tokio::time::Instant::now() + timeout;
    let n = usize::try_from(expect).unwrap_or(usize::MAX);
    let outcomes = reader.take(n, deadline).await?;
    crate::amqp::close_bounded(conn.close(200, "done".into())).await;
    Ok(Summary::of(&outcomes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outcome(queue: &'static str, id: &str, body: Value) -> Outcome {
        Outcome {
            queue,
            body,
            message_id: Some(id.into()),
            correlation_id: None,
            routing_key: String::new(),
            traceparent: None,
        }
    }

    #[test]
    fn counts_results_dead_letters_and_duplicates() {
        let ok = json!({"checks": {"mrz_valid": true, "mrz_matches_visual": false},
                        "warnings": ["x"]});
        let s = Summary::of(&[
            outcome(RESULT, "a", ok.clone()),
            outcome(RESULT, "a", ok),
            outcome(DEAD, "b", json!({"error": {"kind": "invalid_job"}})),
            outcome(DEAD, "c", Value::Null),
        ]);
        assert_eq!(
            (s.outcomes, s.succeeded, s.mrz_valid, s.mrz_matches_visual),
            (4, 2, 2, 0)
        );
        assert_eq!(s.with_warnings, 2);
        assert_eq!(s.distinct_message_ids, 3);
        assert_eq!(s.dead_letters.get("invalid_job"), Some(&1));
        assert_eq!(s.dead_letters.get("unknown"), Some(&1));
    }
}
