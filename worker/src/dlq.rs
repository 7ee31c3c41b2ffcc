//! Dead letters on the broker, for operators: `ocr-worker dlq stats`, `show` and `replay`.
//! See `docs/dead-letters.md` for the commands and their guarantees.
//!
//! # Reading without removing
//! A [`Window`] reads the dead-letter queue with `basic.get` and no ack, on a channel of its
//! own. Closing that channel (or losing the connection, or the process dying) hands every
//! message it still holds back to the broker, which requeues it; on a classic queue (the
//! dead-letter queue [`amqp::declare_topology`] declares is classic) a requeued message goes
//! back to its original place, so reading leaves the queue as it was, order included. Two
//! bounds hold the work:
//! - only the messages ready when the command started are read (the count from a passive
//!   declare): dead letters published meanwhile, those of replayed jobs that fail again among
//!   them, are left for the next run, so a replay never chases its own tail;
//! - at most `max_held` messages are held unacked at once ([`DEFAULT_MAX_HELD`]); a longer
//!   queue is read in part, and the report says so (`complete: false` and a warning).
//!
//! `basic.get` is not limited by `basic.qos`, so the window is counted here, not by prefetch.
//! A quorum queue counts every return as a delivery (`x-delivery-count`) and may drop or
//! dead-letter a message at its delivery limit (RabbitMQ 4.x sets 20 by default): a report
//! warns when a message read carries that header.
//!
//! # Replay
//! One dead letter at a time: take it, publish its job to its lane **confirmed** (mandatory
//! and persistent, through [`Publisher`], so a return is matched to this very publish; no
//! `ocr-attempts`/`ocr-retries` headers, so the attempt counters start again), and only then
//! ack the dead letter. A crash at any point loses nothing: before the confirm the dead letter
//! is still unacked and the broker requeues it; between the confirm and the ack the job is in
//! its lane *and* the dead letter is requeued, one duplicate with the same `message_id`. Dead
//! letters of other kinds, and those that cannot be replayed, are held untouched and requeued
//! in their places when the window closes.
//!
//! What is printed is kinds, ids, sources, error texts (which name fields, never values) and
//! counts; the job body, which may hold producer metadata, only on request
//! ([`ShowOptions::include_job`]).

use std::collections::BTreeMap;

use base64::Engine as _;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicGetOptions, QueueDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection};
use ocr_common::failure::ErrorKind;
use ocr_common::job::Job;
use ocr_common::message::{DeadLetterMessage, outcome_message_id};
use serde::Serialize;
use serde_json::Value;

use crate::amqp::{self, AmqpError, DELIVERY_COUNT_HEADER, Outgoing, Publisher};
use crate::config::{BrokerSettings, Settings};

/// Dead letters held unacked at once unless `--max-held` says otherwise: enough for a
/// backlog an operator reads by hand, small for the broker (it holds them anyway).
pub const DEFAULT_MAX_HELD: u32 = 10_000;

/// The kinds a dead letter can carry (`--kind` takes one of these).
pub fn dead_letter_kinds() -> impl Iterator<Item = &'static str> {
    ErrorKind::ALL
        .into_iter()
        .filter(|k| k.is_dead_letter())
        .map(ErrorKind::as_str)
}

/// Failures of the `dlq` commands.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// Connecting, publishing or another broker-edge failure.
    #[error(transparent)]
    Amqp(#[from] AmqpError),
    /// A broker call failed.
    #[error("broker error: {0}")]
    Broker(#[from] lapin::Error),
    /// The queue to read is not there.
    #[error(
        "queue `{queue}` does not exist (check OCR_DEAD_QUEUE, or start a worker to declare it)"
    )]
    NoQueue {
        /// The queue's name.
        queue: String,
    },
    /// A replay failed part-way. What it replayed is in its lane; everything else is still in
    /// the dead-letter queue (the one in flight possibly in both: a duplicate, same
    /// `message_id`).
    #[error(
        "replay stopped after {replayed} dead letters were replayed: {source}; every dead \
         letter not replayed is still in `{queue}`"
    )]
    Interrupted {
        /// Dead letters replayed and removed before the failure.
        replayed: u64,
        /// The dead-letter queue.
        queue: String,
        /// What failed.
        source: Box<DlqError>,
    },
}

/// One message read from the dead-letter queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Letter {
    /// The body, when it is a dead letter this worker writes; `None` for anything else (such a
    /// message is counted as unreadable, listed without content and never replayed).
    pub body: Option<DeadLetterMessage>,
    /// The AMQP `message_id`: the outcome's (the job id, else the job's own message id, else a
    /// hash of its bytes).
    pub message_id: Option<String>,
    /// The AMQP `correlation_id`, copied from the job when it was dead-lettered.
    pub correlation_id: Option<String>,
    /// Whether the queue counts this message's deliveries (a quorum queue does).
    pub delivery_counted: bool,
}

impl Letter {
    /// Read a message's bytes and properties.
    pub fn read(data: &[u8], props: &BasicProperties) -> Letter {
        Letter {
            body: serde_json::from_slice(data).ok(),
            message_id: props.message_id().as_ref().map(|s| s.to_string()),
            correlation_id: props.correlation_id().as_ref().map(|s| s.to_string()),
            delivery_counted: props.headers().as_ref().is_some_and(|h| {
                h.inner()
                    .contains_key(&ShortString::from(DELIVERY_COUNT_HEADER))
            }),
        }
    }

    /// The dead letter's kind; `None` when it is unreadable.
    pub fn kind(&self) -> Option<&str> {
        self.body.as_ref().map(|b| b.error.kind.as_str())
    }
}

/// Where a dead letter's image is, read from its job: as the worker reads the job when it is
/// valid (a bucket notification included), else the plain `bucket`, `key` and `version_id`
/// fields when they are strings.
fn source_of(job: Option<&Value>) -> (Option<String>, Option<String>, Option<String>) {
    let Some(job) = job else {
        return (None, None, None);
    };
    if let Ok(j) = serde_json::to_vec(job)
        .map_err(|_| ())
        .and_then(|b| Job::parse(&b, usize::MAX).map_err(|_| ()))
    {
        return (Some(j.bucket), Some(j.key), j.version_id);
    }
    let field = |k: &str| job.get(k).and_then(Value::as_str).map(str::to_string);
    (field("bucket"), field("key"), field("version_id"))
}

/// One dead letter as `dlq show` prints it: no job body unless asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Listing {
    /// 1-based place in the queue when it was read (queue order).
    pub position: u32,
    /// The kind (`None`: unreadable, not a dead letter this worker writes).
    pub kind: Option<String>,
    /// The job id (`None` for a job that was unreadable).
    pub job_id: Option<String>,
    /// The AMQP `message_id`.
    pub message_id: Option<String>,
    /// The job's bucket.
    pub bucket: Option<String>,
    /// The job's object key.
    pub key: Option<String>,
    /// The job's object version.
    pub version_id: Option<String>,
    /// The lane the job came from, when the dead letter records it.
    pub queue: Option<String>,
    /// When the worker gave up.
    pub failed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Paid OCR calls made.
    pub attempts: Option<u32>,
    /// Whether the failure was transient in nature.
    pub retryable: Option<bool>,
    /// HTTP status of the last OCR answer.
    pub http_status: Option<u16>,
    /// Provider code of the last OCR answer.
    pub provider_code: Option<String>,
    /// The error text (it names fields, never their values).
    pub message: Option<String>,
    /// The original job (producer metadata included): only with `include_job`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<Value>,
    /// The original bytes of a job that was not JSON, base64: only with `include_job`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_base64: Option<String>,
}

impl Listing {
    /// The listing of `letter`, read at `position`.
    pub fn of(letter: &Letter, position: u32, include_job: bool) -> Listing {
        let body = letter.body.as_ref();
        let (bucket, key, version_id) = source_of(body.and_then(|b| b.job.as_ref()));
        Listing {
            position,
            kind: letter.kind().map(str::to_string),
            job_id: body.and_then(|b| b.job_id.clone()),
            message_id: letter.message_id.clone(),
            bucket,
            key,
            version_id,
            queue: body.and_then(|b| b.queue.clone()),
            failed_at: body.map(|b| b.failed_at),
            attempts: body.map(|b| b.error.attempts),
            retryable: body.map(|b| b.error.retryable),
            http_status: body.and_then(|b| b.error.http_status),
            provider_code: body.and_then(|b| b.error.provider_code.clone()),
            message: body.map(|b| b.error.message.clone()),
            job: body.filter(|_| include_job).and_then(|b| b.job.clone()),
            job_base64: body
                .filter(|_| include_job)
                .and_then(|b| b.job_base64.clone()),
        }
    }
}

/// How far a command read the queue.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Scan {
    /// The dead-letter queue.
    pub queue: String,
    /// Messages ready in it when the command started: the most it reads.
    pub ready: u32,
    /// Messages read.
    pub read: u32,
    /// Whether every message ready at the start was read (a `--limit` reached, or a full
    /// window, stops earlier).
    pub complete: bool,
    /// What the operator should know: a window that filled up, a queue counting deliveries.
    pub warnings: Vec<String>,
}

/// `dlq stats`: dead letters by kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// How far the queue was read.
    #[serde(flatten)]
    pub scan: Scan,
    /// Dead letters read, by kind.
    pub by_kind: BTreeMap<String, u64>,
    /// Messages read that are no dead letter this worker writes.
    pub unreadable: u64,
}

impl Stats {
    /// Count one message.
    pub fn count(&mut self, letter: &Letter) {
        match letter.kind() {
            Some(k) => *self.by_kind.entry(k.to_string()).or_default() += 1,
            None => self.unreadable += 1,
        }
    }
}

/// What `dlq show` lists.
#[derive(Debug, Clone)]
pub struct ShowOptions {
    /// Only dead letters of this kind.
    pub kind: Option<String>,
    /// List at most this many.
    pub limit: u32,
    /// Print the job body too (it may hold producer metadata, personal data among it).
    pub include_job: bool,
    /// Hold at most this many messages unacked at once.
    pub max_held: u32,
}

/// `dlq show`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Shown {
    /// How far the queue was read.
    #[serde(flatten)]
    pub scan: Scan,
    /// The dead letters listed, in queue order.
    pub dead_letters: Vec<Listing>,
}

/// The lanes a replay may send a job to (the jobs queue and the priority queue), and the one
/// for dead letters that record none (the jobs queue).
#[derive(Debug, Clone, PartialEq)]
pub struct Lanes {
    /// For dead letters written before they recorded their lane.
    pub default: String,
    /// Every queue a recorded lane may name; any other is not replayed (it may be a renamed
    /// queue, or a body that names a queue no job came from).
    pub known: Vec<String>,
}

impl Lanes {
    /// The lanes of `broker`'s configuration.
    pub fn of(broker: &BrokerSettings) -> Lanes {
        Lanes {
            default: broker.jobs_queue.clone(),
            known: vec![broker.jobs_queue.clone(), broker.priority_queue.clone()],
        }
    }

    fn pick(&self, recorded: Option<&str>) -> Option<&str> {
        match recorded {
            None => Some(&self.default),
            Some(q) => self.known.iter().map(String::as_str).find(|k| *k == q),
        }
    }
}

/// Why a replay leaves a dead letter where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Keep {
    /// Another kind than the one replayed.
    OtherKind,
    /// Not a dead letter this worker writes.
    Unreadable,
    /// It records a lane that is not one of [`Lanes::known`].
    UnknownLane,
    /// Neither a JSON job nor base64 that decodes: nothing to send.
    NoJob,
}

/// A job to publish again.
#[derive(Debug, Clone, PartialEq)]
pub struct Republish {
    /// The lane (a queue, through the default exchange).
    pub queue: String,
    /// The job: the JSON job re-serialised, or the original bytes of a job that was not JSON.
    pub body: Vec<u8>,
    /// The job id; for a job without one, the dead letter's own `message_id` (the original
    /// job's id or hash), so a replayed duplicate deduplicates like the first delivery.
    pub message_id: String,
    /// The correlation id the job had.
    pub correlation_id: Option<String>,
}

/// What a replay of `kind` does with one dead letter.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Publish this, then remove the dead letter.
    Replay(Republish),
    /// Leave it in the queue.
    Keep(Keep),
}

/// The replay plan for one dead letter: the pure decision, tested without a broker.
pub fn plan(letter: &Letter, kind: &str, lanes: &Lanes) -> Step {
    let Some(body) = &letter.body else {
        return Step::Keep(Keep::Unreadable);
    };
    if body.error.kind != kind {
        return Step::Keep(Keep::OtherKind);
    }
    let Some(queue) = lanes.pick(body.queue.as_deref()) else {
        return Step::Keep(Keep::UnknownLane);
    };
    let bytes = match (&body.job, &body.job_base64) {
        (Some(job), _) => serde_json::to_vec(job).ok(),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD.decode(b64).ok(),
        (None, None) => None,
    };
    let Some(bytes) = bytes else {
        return Step::Keep(Keep::NoJob);
    };
    let message_id = match &body.job_id {
        Some(id) => id.clone(),
        None => outcome_message_id(None, letter.message_id.as_deref(), &bytes),
    };
    Step::Replay(Republish {
        queue: queue.to_string(),
        body: bytes,
        message_id,
        correlation_id: letter.correlation_id.clone(),
    })
}

/// What `dlq replay` replays.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The kind to replay.
    pub kind: String,
    /// Replay at most this many.
    pub limit: Option<u64>,
    /// Hold at most this many messages unacked at once.
    pub max_held: u32,
}

/// `dlq replay`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Replayed {
    /// How far the queue was read.
    #[serde(flatten)]
    pub scan: Scan,
    /// The kind replayed.
    pub kind: String,
    /// Dead letters replayed (confirmed in their lane) and removed.
    pub replayed: u64,
    /// Replayed, by lane.
    pub to: BTreeMap<String, u64>,
    /// Dead letters read and left in the queue, by reason.
    pub left: BTreeMap<Keep, u64>,
}

/// A read window on one queue (see the module docs): messages taken with `basic.get` and held
/// unacked until acked one by one or requeued together by [`Window::close`].
struct Window {
    ch: Channel,
    scan: Scan,
    /// Messages taken and neither acked nor requeued.
    held: u32,
    max_held: u32,
    delivery_counted: bool,
    /// The worker declares this queue (`declare_outcome_queues`, quorum) with
    /// [`amqp::HOLDING_DELIVERY_LIMIT`]: counted deliveries are harmless then.
    limit_known: bool,
}

impl Window {
    /// Open a channel on `conn` and read how many messages `queue` has ready.
    async fn open(
        conn: &Connection,
        broker: &BrokerSettings,
        queue: &str,
        max_held: u32,
    ) -> Result<Window, DlqError> {
        let ch = conn.create_channel().await?;
        let declared = ch
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await;
        let ready = match declared {
            Ok(q) => q.message_count(),
            // A passive declare of a missing queue closes the channel (404), not the
            // connection.
            Err(_) if conn.status().connected() => {
                return Err(DlqError::NoQueue {
                    queue: queue.to_string(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Window {
            ch,
            scan: Scan {
                queue: queue.to_string(),
                ready,
                ..Default::default()
            },
            held: 0,
            max_held: max_held.max(1),
            delivery_counted: false,
            limit_known: broker.declare_outcome_queues
                && broker.queue_type == crate::config::QueueType::Quorum
                && queue == broker.dead_queue,
        })
    }

    /// The next message, held unacked; `None` once every message ready at the start was read,
    /// the window is full or the queue is empty.
    async fn next(&mut self) -> Result<Option<Delivery>, DlqError> {
        if self.scan.read >= self.scan.ready || self.held >= self.max_held {
            return Ok(None);
        }
        let got = self
            .ch
            .basic_get(
                self.scan.queue.as_str().into(),
                BasicGetOptions { no_ack: false },
            )
            .await?;
        let Some(m) = got else {
            return Ok(None);
        };
        self.scan.read += 1;
        self.held += 1;
        Ok(Some(m.delivery))
    }

    /// Note what `letter` says about the queue.
    fn saw(&mut self, letter: &Letter) {
        self.delivery_counted |= letter.delivery_counted;
    }

    /// Remove `delivery` from the queue.
    async fn ack(&mut self, delivery: &Delivery) -> Result<(), DlqError> {
        // `Ok(false)`: the ack was never sent (the channel closed); the broker requeues it.
        if !delivery.acker.ack(BasicAckOptions::default()).await? {
            return Err(AmqpError::ChannelLost.into());
        }
        self.held -= 1;
        Ok(())
    }

    /// Requeue everything still held (by closing the channel) and say how far the read got.
    async fn close(mut self) -> Scan {
        let full = self.held >= self.max_held && self.scan.read < self.scan.ready;
        amqp::close_bounded(self.ch.close(200, "dlq: requeue what was read".into())).await;
        self.scan.complete = self.scan.read >= self.scan.ready;
        if full {
            self.scan.warnings.push(format!(
                "read {} of {} messages: {} were held at once (the window, --max-held); \
                 the rest were not read",
                self.scan.read, self.scan.ready, self.max_held
            ));
        }
        if self.delivery_counted && !self.limit_known {
            self.scan.warnings.push(format!(
                "`{}` counts deliveries ({DELIVERY_COUNT_HEADER}: a quorum queue): every read \
                 adds one to each message read, and a delivery limit on it would drop or \
                 dead-letter messages: give it no limit (the worker declares its own with \
                 x-delivery-limit {}) or make it a classic queue",
                self.scan.queue,
                amqp::HOLDING_DELIVERY_LIMIT
            ));
        }
        self.scan
    }
}

/// Connect, run `work`, then close the connection (bounded) whatever `work` gave.
async fn with_connection<T, F>(settings: &Settings, work: F) -> Result<T, DlqError>
where
    F: AsyncFnOnce(&Connection) -> Result<T, DlqError>,
{
    let conn = amqp::connect(
        &settings.broker.amqp_url,
        settings.broker.amqp_ca.as_ref(),
        "ocr-worker dlq",
    )
    .await?;
    let res = work(&conn).await;
    amqp::close_bounded(conn.close(200, "done".into())).await;
    res
}

/// `dlq stats`: count the dead letters by kind, removing none.
pub async fn stats(settings: &Settings, max_held: u32) -> Result<Stats, DlqError> {
    with_connection(settings, async |conn| {
        let mut w = Window::open(
            conn,
            &settings.broker,
            &settings.broker.dead_queue,
            max_held,
        )
        .await?;
        let mut stats = Stats::default();
        while let Some(d) = w.next().await? {
            let letter = Letter::read(&d.data, &d.properties);
            w.saw(&letter);
            stats.count(&letter);
        }
        stats.scan = w.close().await;
        Ok(stats)
    })
    .await
}

/// `dlq show`: list dead letters in queue order, removing none.
pub async fn show(settings: &Settings, opts: &ShowOptions) -> Result<Shown, DlqError> {
    with_connection(settings, async |conn| {
        let mut w = Window::open(
            conn,
            &settings.broker,
            &settings.broker.dead_queue,
            opts.max_held,
        )
        .await?;
        let mut listed = Vec::new();
        while listed.len() < opts.limit as usize
            && let Some(d) = w.next().await?
        {
            let letter = Letter::read(&d.data, &d.properties);
            w.saw(&letter);
            if opts
                .kind
                .as_deref()
                .is_none_or(|k| letter.kind() == Some(k))
            {
                listed.push(Listing::of(&letter, w.scan.read, opts.include_job));
            }
        }
        Ok(Shown {
            scan: w.close().await,
            dead_letters: listed,
        })
    })
    .await
}

/// `dlq replay`: send the dead letters of one kind back to their lanes, each confirmed before
/// it is removed; everything else stays where it was.
pub async fn replay(settings: &Settings, opts: &ReplayOptions) -> Result<Replayed, DlqError> {
    let lanes = Lanes::of(&settings.broker);
    let queue = settings.broker.dead_queue.clone();
    with_connection(settings, async |conn| {
        let mut w = Window::open(conn, &settings.broker, &queue, opts.max_held).await?;
        // One confirm channel, one publish at a time: a return can only be this publish's.
        let publisher = Publisher::open(conn, 1).await?;
        let mut report = Replayed {
            kind: opts.kind.clone(),
            ..Default::default()
        };
        let run = async {
            while opts.limit.is_none_or(|l| report.replayed < l)
                && let Some(d) = w.next().await?
            {
                let letter = Letter::read(&d.data, &d.properties);
                w.saw(&letter);
                let job = match plan(&letter, &opts.kind, &lanes) {
                    Step::Replay(job) => job,
                    Step::Keep(why) => {
                        *report.left.entry(why).or_default() += 1;
                        continue;
                    }
                };
                publisher
                    .publish(Outgoing {
                        exchange: "",
                        routing_key: &job.queue,
                        body: &job.body,
                        message_id: &job.message_id,
                        correlation_id: job.correlation_id.as_deref(),
                        // No attempt or retry headers: the counters start again.
                        headers: None,
                    })
                    .await?;
                w.ack(&d).await?;
                report.replayed += 1;
                *report.to.entry(job.queue).or_default() += 1;
                tracing::debug!(message_id = ?job.message_id, "dead letter replayed");
            }
            Ok::<(), DlqError>(())
        };
        let res = run.await;
        report.scan = w.close().await;
        publisher.close(amqp::SHUTDOWN_CALL_WAIT).await;
        if let Err(e) = res {
            return Err(DlqError::Interrupted {
                replayed: report.replayed,
                queue: queue.clone(),
                source: Box::new(e),
            });
        }
        tracing::info!(
            kind = %report.kind,
            replayed = report.replayed,
            left = report.left.values().sum::<u64>(),
            "dead letters replayed"
        );
        Ok(report)
    })
    .await
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use ocr_common::failure::JobError;
    use serde_json::json;

    use super::*;

    fn lanes() -> Lanes {
        Lanes {
            default: "ocr.jobs".into(),
            known: vec!["ocr.jobs".into(), "ocr.jobs.priority".into()],
        }
    }

    fn letter(error: &JobError, job_id: Option<&str>, original: &[u8]) -> Letter {
        Letter {
            body: Some(DeadLetterMessage::new(
                job_id.map(str::to_string),
                error,
                2,
                original,
                Utc::now(),
            )),
            message_id: Some("m-1".into()),
            correlation_id: Some("c-1".into()),
            delivery_counted: false,
        }
    }

    fn not_found() -> JobError {
        JobError::ObjectNotFound {
            bucket: "scans".into(),
            key: "a.png".into(),
        }
    }

    const JOB: &[u8] =
        br#"{"job_id":"j-1","bucket":"scans","key":"a.png","metadata":{"holder":"SECRET"}}"#;

    #[test]
    fn a_json_job_goes_back_to_its_lane_under_its_job_id() {
        let l = letter(&not_found(), Some("j-1"), JOB);
        let Step::Replay(r) = plan(&l, "object_not_found", &lanes()) else {
            panic!("not replayed");
        };
        assert_eq!(r.queue, "ocr.jobs", "no recorded lane: the default");
        assert_eq!(r.message_id, "j-1");
        assert_eq!(r.correlation_id.as_deref(), Some("c-1"));
        let job = Job::parse(&r.body, usize::MAX).unwrap();
        assert_eq!((job.job_id.as_str(), job.key.as_str()), ("j-1", "a.png"));
        assert_eq!(job.metadata.unwrap()["holder"], "SECRET");

        let mut l = l;
        l.body = l.body.map(|b| b.with_queue("ocr.jobs.priority"));
        let Step::Replay(r) = plan(&l, "object_not_found", &lanes()) else {
            panic!("not replayed");
        };
        assert_eq!(r.queue, "ocr.jobs.priority", "the recorded lane");
    }

    #[test]
    fn what_a_replay_leaves_and_why() {
        let l = letter(&not_found(), Some("j-1"), JOB);
        assert_eq!(
            plan(&l, "ocr_rejected", &lanes()),
            Step::Keep(Keep::OtherKind)
        );
        let mut renamed = l.clone();
        renamed.body = renamed.body.map(|b| b.with_queue("old.jobs"));
        assert_eq!(
            plan(&renamed, "object_not_found", &lanes()),
            Step::Keep(Keep::UnknownLane)
        );
        let unreadable = Letter::read(b"not a dead letter", &BasicProperties::default());
        assert_eq!(unreadable.kind(), None);
        assert_eq!(
            plan(&unreadable, "invalid_job", &lanes()),
            Step::Keep(Keep::Unreadable)
        );
        let mut empty = l.clone();
        if let Some(b) = empty.body.as_mut() {
            b.job = None;
            b.job_base64 = Some("***".into());
        }
        assert_eq!(
            plan(&empty, "object_not_found", &lanes()),
            Step::Keep(Keep::NoJob)
        );
    }

    #[test]
    fn a_job_that_was_not_json_goes_back_as_its_bytes() {
        let invalid = JobError::InvalidJob(Job::parse(b"\x00bin", 100).unwrap_err());
        let mut l = letter(&invalid, None, b"\x00bin");
        let Step::Replay(r) = plan(&l, "invalid_job", &lanes()) else {
            panic!("not replayed");
        };
        assert_eq!(r.body, b"\x00bin");
        assert_eq!(r.message_id, "m-1", "the dead letter's own message id");
        l.message_id = None;
        let Step::Replay(r) = plan(&l, "invalid_job", &lanes()) else {
            panic!("not replayed");
        };
        assert_eq!(r.message_id, outcome_message_id(None, None, b"\x00bin"));
    }

    #[test]
    fn a_listing_names_the_source_and_holds_the_job_only_when_asked() {
        let l = letter(&not_found(), Some("j-1"), JOB);
        let shown = Listing::of(&l, 3, false);
        assert_eq!(shown.position, 3);
        assert_eq!(shown.kind.as_deref(), Some("object_not_found"));
        assert_eq!(
            (shown.bucket.as_deref(), shown.key.as_deref()),
            (Some("scans"), Some("a.png"))
        );
        let text = serde_json::to_string(&shown).unwrap();
        assert!(
            !text.contains("SECRET") && !text.contains("metadata"),
            "{text}"
        );
        let with_job = serde_json::to_string(&Listing::of(&l, 3, true)).unwrap();
        assert!(with_job.contains("SECRET"), "{with_job}");

        // An invalid job still shows what it named; a bucket notification its object.
        let bad = letter(
            &not_found(),
            Some("j-2"),
            br#"{"job_id":"j-2","bucket":"scans","key":"../x"}"#,
        );
        assert_eq!(Listing::of(&bad, 1, false).key.as_deref(), Some("../x"));
        let event = json!({"Records": [{"eventName": "s3:ObjectCreated:Put", "s3": {
            "bucket": {"name": "scans"}, "object": {"key": "in%2Fb.png", "eTag": "e"}}}]});
        let ev = letter(&not_found(), None, event.to_string().as_bytes());
        let shown = Listing::of(&ev, 1, false);
        assert_eq!(
            (shown.bucket.as_deref(), shown.key.as_deref()),
            (Some("scans"), Some("in/b.png"))
        );
    }

    #[test]
    fn stats_count_by_kind_and_unreadable() {
        let mut s = Stats::default();
        for l in [
            letter(&not_found(), Some("a"), JOB),
            letter(&not_found(), Some("b"), JOB),
            letter(&JobError::Unrecognized, Some("c"), JOB),
            Letter::read(b"{}", &BasicProperties::default()),
        ] {
            s.count(&l);
        }
        assert_eq!(s.by_kind["object_not_found"], 2);
        assert_eq!(s.by_kind["ocr_unrecognized"], 1);
        assert_eq!(s.unreadable, 1);
    }

    #[test]
    fn a_quorum_redelivery_is_noticed() {
        let mut h = FieldTable::default();
        h.insert(
            DELIVERY_COUNT_HEADER.into(),
            lapin::types::AMQPValue::LongLongInt(1),
        );
        let props = BasicProperties::default().with_headers(h);
        assert!(Letter::read(b"{}", &props).delivery_counted);
        assert!(!Letter::read(b"{}", &BasicProperties::default()).delivery_counted);
    }

    #[test]
    fn the_kinds_are_the_dead_letter_kinds() {
        let kinds: Vec<_> = dead_letter_kinds().collect();
        assert!(kinds.contains(&"poison_message") && kinds.contains(&"invalid_job"));
        assert!(!kinds.contains(&"transient"));
    }
}
