//! `ocr-worker summary`: take outcomes off the results and dead-letter queues (acking them)
//! until the expected number arrived, and report counts. Used by the demo; handy for smoke
//! tests of a deployment. Prints no personal data: job ids, kinds and check results only.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use lapin::types::FieldTable;
use serde_json::Value;

use crate::amqp;
use crate::config::Settings;

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

/// Read up to `expect` outcomes, waiting at most `timeout` in all.
pub async fn collect(
    settings: &Settings,
    expect: u64,
    timeout: Duration,
) -> anyhow::Result<Summary> {
    let conn = amqp::connect(&settings.broker.amqp_url, "ocr-worker-summary").await?;
    amqp::declare_topology(&conn, settings).await?;
    let ch = conn.create_channel().await?;
    let mut results = ch
        .basic_consume(
            settings.broker.results_queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut dead = ch
        .basic_consume(
            settings.broker.dead_queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut summary = Summary::default();
    let mut ids = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while summary.outcomes < expect {
        let (is_result, next) = tokio::select! {
            d = results.next() => (true, d),
            d = dead.next() => (false, d),
            () = tokio::time::sleep_until(deadline) => break,
        };
        let Some(d) = next else { break };
        let d = d?;
        d.ack(BasicAckOptions::default()).await?;
        summary.outcomes += 1;
        if let Some(id) = d.properties.message_id() {
            ids.insert(id.to_string());
        }
        let body: Value = serde_json::from_slice(&d.data).unwrap_or(Value::Null);
        if is_result {
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
    crate::amqp::close_bounded(conn.close(200, "done".into())).await;
    Ok(summary)
}
