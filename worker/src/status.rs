//! What ops sees: the broker-side queue figures (read on a timer into the metrics), the status
//! document behind the status page (`GET /status.json`) and `ocr-worker status`.
//!
//! Everything here is counts, names of configured queues, error kinds and job ids. No image
//! content, no recognised field, no secret.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use ocr_common::failure::ErrorKind;
use ocr_common::lane::Lane;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::amqp;
use crate::config::Settings;
use crate::health::Health;
use crate::metrics::{Metrics, OUTCOMES, OutcomeLabel, QueueLabel, RecentError, ResultLabel};

/// How often the queue figures are read from the broker.
pub const QUEUE_POLL_PERIOD: Duration = Duration::from_secs(5);

/// One queue, as the broker reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueueStat {
    /// The queue's name.
    pub queue: String,
    /// Which queue this is: `jobs`, `delay`, `poison`, `dead`, `results`.
    pub role: String,
    /// Ready messages (not those delivered and unacked), or `None` when the queue is absent.
    pub messages_ready: Option<u32>,
    /// Consumers, or `None` when the queue is absent.
    pub consumers: Option<u32>,
}

/// The queues this worker reports on, with their role.
pub fn watched_queues(settings: &Settings) -> Vec<(String, &'static str)> {
    let b = &settings.broker;
    let mut q = vec![
        (b.jobs_queue.clone(), "jobs"),
        (b.priority_queue.clone(), "priority"),
    ];
    for queue in [&b.jobs_queue, &b.priority_queue] {
        for d in &settings.retry.policy.delays {
            q.push((amqp::delay_queue_name(queue, *d), "delay"));
        }
    }
    q.push((b.poison_queue.clone(), "poison"));
    q.push((b.dead_queue.clone(), "dead"));
    if b.declare_outcome_queues {
        q.push((b.results_queue.clone(), "results"));
    }
    q.dedup_by(|a, b| a.0 == b.0);
    q
}

/// Read each queue with a passive declare (a missing queue closes the channel: it is
/// reopened and the queue reported absent).
pub async fn read_queues(
    conn: &lapin::Connection,
    queues: &[(String, &'static str)],
) -> Result<Vec<QueueStat>, lapin::Error> {
    let mut ch = conn.create_channel().await?;
    let mut out = Vec::with_capacity(queues.len());
    for (name, role) in queues {
        let res = ch
            .queue_declare(
                name.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await;
        match res {
            Ok(q) => out.push(QueueStat {
                queue: name.clone(),
                role: (*role).into(),
                messages_ready: Some(q.message_count()),
                consumers: Some(q.consumer_count()),
            }),
            Err(e) if !conn.status().connected() => return Err(e),
            Err(_) => {
                out.push(QueueStat {
                    queue: name.clone(),
                    role: (*role).into(),
                    messages_ready: None,
                    consumers: None,
                });
                ch = conn.create_channel().await?;
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), ch.close(200, "done".into())).await;
    Ok(out)
}

/// Read the queue figures into `metrics` every [`QUEUE_POLL_PERIOD`] until `stop`, on a
/// connection of its own (reconnecting after a failure). Every replica does this, so the
/// dashboards aggregate these gauges with `max()`.
pub fn spawn_queue_poller(
    settings: &Settings,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let queues = watched_queues(settings);
    metrics.track_queues(queues.iter().map(|(q, r)| (q.as_str(), *r)));
    let url = settings.broker.amqp_url.clone();
    let ca = settings.broker.amqp_ca.clone();
    tokio::spawn(async move {
        let mut conn: Option<lapin::Connection> = None;
        loop {
            if conn.as_ref().is_none_or(|c| !c.status().connected()) {
                conn = amqp::connect(&url, ca.as_ref(), "ocr-worker queue stats")
                    .await
                    .ok();
            }
            let read = match &conn {
                Some(c) => read_queues(c, &queues).await.ok(),
                None => None,
            };
            match read {
                Some(stats) => {
                    for s in stats {
                        let l = QueueLabel {
                            queue: s.queue,
                            role: s.role,
                        };
                        metrics
                            .queue_messages
                            .get_or_create(&l)
                            .set(i64::from(s.messages_ready.unwrap_or(0)));
                        metrics
                            .queue_consumers
                            .get_or_create(&l)
                            .set(i64::from(s.consumers.unwrap_or(0)));
                    }
                }
                None => {
                    metrics.queue_poll_errors.inc();
                    conn = None;
                }
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(QUEUE_POLL_PERIOD) => {}
            }
        }
        if let Some(c) = conn {
            amqp::close_bounded(c.close(200, "shutdown".into())).await;
        }
    })
}

/// The status document of one replica (`GET /status.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Status {
    /// Crate version.
    pub version: String,
    /// Seconds since start.
    pub uptime_seconds: i64,
    /// Ready (what `/readyz` says).
    pub ready: bool,
    /// Connected to the broker.
    pub connected: bool,
    /// Consuming jobs.
    pub consuming: bool,
    /// The broker blocks publishing.
    pub broker_blocked: bool,
    /// Consumption stopped on a configuration error (the reason names a setting or code).
    pub stopped_reason: Option<String>,
    /// Jobs finished, by outcome.
    pub jobs: BTreeMap<String, u64>,
    /// Dead letters, by kind.
    pub dead_letters: BTreeMap<String, u64>,
    /// Jobs in flight.
    pub jobs_in_flight: i64,
    /// OCR calls in flight.
    pub ocr_in_flight: i64,
    /// OCR concurrency limit of this replica.
    pub ocr_concurrency_limit: i64,
    /// This replica's share of the domain's rate, calls per second.
    pub ocr_rate_share_calls_per_second: f64,
    /// Calls per second over the last period ÷ the share.
    pub ocr_quota_utilisation_ratio: f64,
    /// Replicas sharing the domain, as this one sees them.
    pub replicas: i64,
    /// Quota refusals (`0025`, `0023`, `rate_limited`).
    pub ocr_throttled: BTreeMap<String, u64>,
    /// Queue figures read from the broker by this replica (both lanes, delay stages, dead…).
    pub queues: BTreeMap<String, QueueFigures>,
    /// This replica's work per lane (`bulk`, `priority`).
    #[serde(default)]
    pub lanes: BTreeMap<String, LaneFigures>,
    /// The last errors, oldest first: kind and job id only.
    pub recent_errors: Vec<RecentError>,
}

/// One lane's work in this replica.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LaneFigures {
    /// Jobs finished (every outcome).
    pub jobs_finished: u64,
    /// Jobs being processed now.
    pub in_flight: i64,
    /// Of those, waiting for the OCR limiter now (a slot, pacing, a pause).
    pub waiting_for_limiter: i64,
    /// Mean wait for the OCR limiter so far, milliseconds.
    pub mean_wait_ms: f64,
    /// The last wait for the OCR limiter, milliseconds.
    pub last_wait_ms: f64,
}

/// Ready messages and consumers of one queue.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueueFigures {
    /// `jobs`, `delay`, `poison`, `dead`, `results`.
    pub role: String,
    /// Ready messages.
    pub messages_ready: i64,
    /// Consumers.
    pub consumers: i64,
}

impl Status {
    /// The status of this process now.
    pub fn collect(health: &Health, m: &Metrics) -> Status {
        let report = health.report();
        let flag = |k: &str| report.get(k).and_then(|v| v.as_bool()).unwrap_or(false);
        let mut dead_letters = BTreeMap::new();
        for k in ErrorKind::ALL {
            let l = crate::metrics::KindLabel {
                kind: k.as_str().into(),
            };
            if let Some(c) = m.dead_letters.get(&l) {
                dead_letters.insert(k.as_str().to_string(), c.get());
            }
        }
        let jobs = OUTCOMES
            .iter()
            .map(|o| {
                let l = OutcomeLabel {
                    outcome: (*o).into(),
                };
                (o.to_string(), m.jobs.get_or_create(&l).get())
            })
            .collect();
        let ocr_throttled = ["0025", "0023", "rate_limited"]
            .iter()
            .map(|r| {
                let l = ResultLabel {
                    result: (*r).into(),
                };
                (r.to_string(), m.ocr_throttled.get_or_create(&l).get())
            })
            .collect();
        let mut queues = BTreeMap::new();
        for l in m.tracked_queues() {
            queues.insert(
                l.queue.clone(),
                QueueFigures {
                    role: l.role.clone(),
                    messages_ready: m.queue_messages.get_or_create(&l).get(),
                    consumers: m.queue_consumers.get_or_create(&l).get(),
                },
            );
        }
        let lanes = Lane::ALL
            .into_iter()
            .map(|lane| {
                let series = m.lane(lane);
                let (mean, last) = series.wait_summary();
                let figures = LaneFigures {
                    jobs_finished: series.jobs.get(),
                    in_flight: series.in_flight.get(),
                    waiting_for_limiter: series.waiting.get(),
                    mean_wait_ms: mean.as_secs_f64() * 1000.0,
                    last_wait_ms: last.as_secs_f64() * 1000.0,
                };
                (lane.as_str().to_string(), figures)
            })
            .collect();
        Status {
            version: crate::metrics::VERSION.into(),
            uptime_seconds: (chrono::Utc::now() - m.started).num_seconds(),
            ready: health.is_ready(),
            connected: flag("connected"),
            consuming: flag("consuming"),
            broker_blocked: flag("broker_blocked"),
            stopped_reason: health.stopped(),
            jobs,
            dead_letters,
            jobs_in_flight: m.in_flight.get(),
            ocr_in_flight: m.ocr_in_flight.get(),
            ocr_concurrency_limit: m.ocr_limit.get(),
            ocr_rate_share_calls_per_second: m.ocr_rate_share.get(),
            ocr_quota_utilisation_ratio: m.ocr_quota_utilisation.get(),
            replicas: m.replicas.get(),
            ocr_throttled,
            queues,
            lanes,
            recent_errors: m.recent_errors(),
        }
    }
}

/// `ocr-worker status`: the queue figures from the broker, and each replica's status document
/// from `endpoints` (base URLs such as `http://10.0.0.5:9464`), as a text report.
pub async fn report(settings: &Settings, endpoints: &[String]) -> anyhow::Result<String> {
    use std::fmt::Write as _;
    let mut out = String::new();
    let conn = amqp::connect(
        &settings.broker.amqp_url,
        settings.broker.amqp_ca.as_ref(),
        "ocr-worker status",
    )
    .await?;
    let stats = read_queues(&conn, &watched_queues(settings)).await;
    amqp::close_bounded(conn.close(200, "done".into())).await;
    let stats = stats?;
    writeln!(out, "queues (from the broker; ready messages only):")?;
    writeln!(
        out,
        "  {:<48} {:<8} {:>10} {:>10}",
        "queue", "role", "ready", "consumers"
    )?;
    for s in &stats {
        let n = |v: Option<u32>| v.map_or_else(|| "absent".to_string(), |v| v.to_string());
        writeln!(
            out,
            "  {:<48} {:<8} {:>10} {:>10}",
            s.queue,
            s.role,
            n(s.messages_ready),
            n(s.consumers)
        )?;
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    for ep in endpoints {
        let url = format!("{}/status.json", ep.trim_end_matches('/'));
        writeln!(out, "\nreplica {ep}:")?;
        let st = match client.get(&url).send().await {
            Ok(r) => r.json::<Status>().await.map_err(anyhow::Error::from),
            Err(e) => Err(e.into()),
        };
        match st {
            Ok(s) => write_replica(&mut out, &s)?,
            Err(e) => writeln!(out, "  unreachable: {e}")?,
        }
    }
    Ok(out)
}

fn write_replica(out: &mut String, s: &Status) -> std::fmt::Result {
    use std::fmt::Write as _;
    writeln!(
        out,
        "  version {}  up {} s  ready {}  consuming {}  broker_blocked {}",
        s.version, s.uptime_seconds, s.ready, s.consuming, s.broker_blocked
    )?;
    if let Some(r) = &s.stopped_reason {
        writeln!(out, "  STOPPED on a configuration error: {r}")?;
    }
    let join = |m: &BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    writeln!(out, "  jobs: {}", join(&s.jobs))?;
    writeln!(
        out,
        "  dead letters: {}",
        join(
            &s.dead_letters
                .iter()
                .filter(|(_, v)| **v > 0)
                .map(|(k, v)| (k.clone(), *v))
                .collect()
        )
    )?;
    writeln!(
        out,
        "  in flight: {} jobs, {} OCR calls (limit {})",
        s.jobs_in_flight, s.ocr_in_flight, s.ocr_concurrency_limit
    )?;
    writeln!(
        out,
        "  quota: share {:.2} calls/s, utilisation {:.0}%, {} replicas; throttled {}",
        s.ocr_rate_share_calls_per_second,
        s.ocr_quota_utilisation_ratio * 100.0,
        s.replicas,
        join(&s.ocr_throttled)
    )?;
    for (lane, l) in &s.lanes {
        writeln!(
            out,
            "  lane {lane}: {} finished, {} in flight, {} waiting for the limiter, wait mean {:.1} ms last {:.1} ms",
            l.jobs_finished, l.in_flight, l.waiting_for_limiter, l.mean_wait_ms, l.last_wait_ms
        )?;
    }
    for e in s.recent_errors.iter().rev().take(5) {
        writeln!(out, "  error {} {} job {}", e.at, e.kind, e.job_id)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_has_every_outcome_and_no_personal_field() {
        let m = Metrics::new();
        let h = Health::default();
        m.job("succeeded");
        m.record_error("job-7", ocr_common::failure::ErrorKind::OcrRejected);
        let s = Status::collect(&h, &m);
        assert_eq!(s.jobs["succeeded"], 1);
        assert_eq!(s.jobs.len(), OUTCOMES.len());
        assert_eq!(s.dead_letters["retries_exhausted"], 0);
        assert!(!s.ready);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["recent_errors"][0]["job_id"], "job-7");
        let keys: Vec<_> = v["recent_errors"][0]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, ["at", "job_id", "kind"]);
        let mut text = String::new();
        write_replica(&mut text, &s).unwrap();
        assert!(text.contains("succeeded=1"), "{text}");
    }
}
