//! The delivery loop: one broker session at a time (reconnecting with backoff), one task per
//! delivery, and the rule that a delivery is acked only after its outcome is confirmed.
//!
//! Per delivery: parse the job → run the [`Pipeline`] under the job deadline → publish exactly
//! one of: a result, a dead letter, or a delayed retry copy → on the broker's confirm (and no
//! return), ack. A configuration error nacks the delivery back to the queue and stops
//! consumption. A task whose channel died never acks anything: the broker redelivers.

use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, Connection};
use ocr_common::failure::{Disposition, JobError};
use ocr_common::job::Job;
use ocr_common::message::{DeadLetterMessage, outcome_message_id};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::amqp::{self, ATTEMPTS_HEADER, AmqpError, Outgoing, RETRIES_HEADER};
use crate::config::Settings;
use crate::health::Health;
use crate::metrics::{KindLabel, Metrics};
use crate::ocr::OcrApi;
use crate::pipeline::Pipeline;
use crate::storage::ObjectStore;

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
}

/// Everything a delivery task needs.
pub struct Context<S, O> {
    /// Settings.
    pub settings: Arc<Settings>,
    /// The pipeline.
    pub pipeline: Arc<Pipeline<S, O>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Readiness flags.
    pub health: Arc<Health>,
    /// Cancelled when a configuration error must stop consumption.
    pub stop: CancellationToken,
}

impl<S, O> Clone for Context<S, O> {
    fn clone(&self) -> Self {
        Context {
            settings: self.settings.clone(),
            pipeline: self.pipeline.clone(),
            metrics: self.metrics.clone(),
            health: self.health.clone(),
            stop: self.stop.clone(),
        }
    }
}

enum Decision {
    Result(Vec<u8>, String),
    Dead(JobError, u32, Option<String>),
    Delay {
        attempts: u32,
        retries: u32,
        stage: Duration,
        kind: &'static str,
    },
    Stop(JobError),
}

/// Salvage a job id from an invalid but JSON job: only a string that would have been a valid
/// id counts (non-empty, at most 255 bytes so it fits `message_id`, no control characters so
/// it cannot forge a log line). A delivery's own `message_id` is producer-set bytes, so log
/// lines print it quoted and escaped (`?msg_id`).
fn salvage_job_id(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let id = v.get("job_id")?.as_str()?;
    (!id.trim().is_empty()
        && id.len() <= ocr_common::job::MAX_JOB_ID_BYTES
        && !id.chars().any(char::is_control))
    .then(|| id.to_string())
}

impl<S, O> Context<S, O> {
    /// Broker flow control on or off, in `/readyz` and `/metrics` alike.
    fn set_blocked(&self, blocked: bool) {
        self.health.set_blocked(blocked);
        self.metrics.broker_blocked.set(i64::from(blocked));
    }
}

impl<S: ObjectStore, O: OcrApi> Context<S, O> {
    async fn decide(&self, delivery: &Delivery) -> (Decision, Option<Job>) {
        let job = match Job::parse(&delivery.data, self.settings.max_job_bytes) {
            Ok(job) => job,
            Err(invalid) => {
                let id = salvage_job_id(&delivery.data);
                return (Decision::Dead(JobError::InvalidJob(invalid), 0, id), None);
            }
        };
        let props = &delivery.properties;
        let attempts = AtomicU32::new(amqp::header_u32(props, ATTEMPTS_HEADER));
        let retries = amqp::header_u32(props, RETRIES_HEADER);
        let deadline = Settings::secs(self.settings.job_deadline_secs);
        let res = match tokio::time::timeout(deadline, self.pipeline.process(&job, &attempts)).await
        {
            Ok(r) => r,
            // A job that only waited for a paused quota is not a job that failed.
            Err(_) if self.pipeline.limiter.is_paused() => Err(JobError::QuotaPausedPastDeadline),
            Err(_) => Err(JobError::DeadlineExceeded),
        };
        let attempts = attempts.load(std::sync::atomic::Ordering::Acquire);
        let decision = match res {
            Ok(result) => match serde_json::to_vec(&result) {
                Ok(body) => Decision::Result(body, job.job_id.clone()),
                Err(e) => Decision::Dead(
                    JobError::BadResponse(format!("result not serialisable: {e}")),
                    attempts,
                    Some(job.job_id.clone()),
                ),
            },
            Err(e) => match e.disposition() {
                Disposition::DeadLetter(_) => Decision::Dead(e, attempts, Some(job.job_id.clone())),
                Disposition::Stop => Decision::Stop(e),
                Disposition::Retry { .. }
                | Disposition::RateLimited { .. }
                | Disposition::PauseQuota => {
                    let stages = self.settings.retry_delays().unwrap_or_default();
                    let quota_wait = e.disposition().is_quota_wait();
                    let retries_used = if quota_wait { retries } else { retries + 1 };
                    if attempts >= self.settings.max_attempts
                        || (!quota_wait && retries >= self.settings.max_attempts)
                        || stages.is_empty()
                    {
                        Decision::Dead(
                            JobError::RetriesExhausted {
                                attempts,
                                last: Box::new(e),
                            },
                            attempts,
                            Some(job.job_id.clone()),
                        )
                    } else {
                        let stage = stages[(retries as usize).min(stages.len() - 1)];
                        Decision::Delay {
                            attempts,
                            retries: retries_used,
                            stage,
                            kind: e.kind().as_str(),
                        }
                    }
                }
            },
        };
        (decision, Some(job))
    }

    /// Handle one delivery to its end. Publishing goes on `publish`, acking on the delivery's
    /// own channel.
    /// A failure of the publishing channel cancels `broken`: the session then ends and its
    /// unacked deliveries go back to the queue.
    pub async fn handle(
        &self,
        delivery: Delivery,
        publish: &Channel,
        broken: &CancellationToken,
    ) -> Outcome {
        self.metrics.in_flight.inc();
        let outcome = self.handle_inner(&delivery, publish).await;
        self.metrics.in_flight.dec();
        if matches!(outcome, Outcome::Abandoned) {
            broken.cancel();
        }
        outcome
    }

    async fn handle_inner(&self, delivery: &Delivery, publish: &Channel) -> Outcome {
        let (decision, job) = self.decide(delivery).await;
        let props = &delivery.properties;
        let msg_id = match (&decision, &job) {
            // An invalid job that still names a job id is deduplicated on it.
            (Decision::Dead(_, _, Some(id)), None) => id.clone(),
            _ => outcome_message_id(
                job.as_ref(),
                props.message_id().as_ref().map(|s| s.as_str()),
                &delivery.data,
            ),
        };
        let correlation = props
            .correlation_id()
            .as_ref()
            .map(|s| s.as_str().to_string());
        let s = &self.settings;
        let (published, outcome) = match decision {
            Decision::Result(body, job_id) => {
                let r = amqp::publish_confirmed(
                    publish,
                    Outgoing {
                        exchange: &s.results_exchange,
                        routing_key: &s.results_routing_key,
                        body: &body,
                        message_id: &msg_id,
                        correlation_id: correlation.as_deref(),
                        headers: None,
                    },
                )
                .await;
                tracing::info!(job_id = %job_id, outcome = "succeeded", "job done");
                (r, Outcome::Succeeded)
            }
            Decision::Dead(err, attempts, job_id) => {
                let dl = DeadLetterMessage::new(
                    job_id.clone(),
                    &err,
                    attempts,
                    &delivery.data,
                    chrono::Utc::now(),
                );
                let body = serde_json::to_vec(&dl).unwrap_or_default();
                let rk = dl.routing_key();
                let r = amqp::publish_confirmed(
                    publish,
                    Outgoing {
                        exchange: &s.dead_exchange,
                        routing_key: &rk,
                        body: &body,
                        message_id: &msg_id,
                        correlation_id: correlation.as_deref(),
                        headers: None,
                    },
                )
                .await;
                tracing::warn!(
                    job_id = job_id.as_deref().unwrap_or("-"),
                    message_id = ?msg_id,
                    error_kind = %err.kind(),
                    attempts,
                    "job dead-lettered"
                );
                if r.is_ok() {
                    self.metrics
                        .dead_letters
                        .get_or_create(&KindLabel {
                            kind: err.kind().as_str().into(),
                        })
                        .inc();
                }
                (r, Outcome::DeadLettered(err.kind()))
            }
            Decision::Delay {
                attempts,
                retries,
                stage,
                kind,
            } => {
                let queue = amqp::delay_queue_name(&s.jobs_queue, stage);
                let r = amqp::publish_confirmed(
                    publish,
                    Outgoing {
                        exchange: "",
                        routing_key: &queue,
                        body: &delivery.data,
                        message_id: &msg_id,
                        correlation_id: correlation.as_deref(),
                        headers: Some(amqp::retry_headers(attempts, retries)),
                    },
                )
                .await;
                tracing::info!(
                    job_id = %msg_id,
                    error_kind = kind,
                    attempts,
                    retry = retries,
                    delay_ms = stage.as_millis() as u64,
                    "job scheduled for a delayed retry"
                );
                (r, Outcome::Retried)
            }
            Decision::Stop(err) => {
                let reason = err.to_string();
                if !self.stop.is_cancelled() {
                    tracing::error!(
                        error_kind = %err.kind(),
                        reason = %reason,
                        "CONFIGURATION ERROR: stopping consumption; jobs stay queued until this is fixed"
                    );
                    self.health.set_stopped(reason);
                    self.stop.cancel();
                }
                let _ = delivery
                    .acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await;
                self.metrics.job("requeued");
                return Outcome::Requeued;
            }
        };
        match published {
            Ok(()) => match delivery.acker.ack(BasicAckOptions::default()).await {
                Ok(_) => {
                    self.metrics.job(match outcome {
                        Outcome::Succeeded => "succeeded",
                        Outcome::DeadLettered(_) => "dead_lettered",
                        Outcome::Retried => "retried",
                        _ => "other",
                    });
                    outcome
                }
                Err(e) => {
                    tracing::warn!(message_id = ?msg_id, error = %e, "ack failed after a confirmed outcome: the job will be redelivered (duplicate outcome, same message_id)");
                    Outcome::Abandoned
                }
            },
            Err(AmqpError::Unroutable {
                exchange,
                routing_key,
            }) => {
                let err = JobError::Unroutable {
                    exchange,
                    routing_key,
                };
                tracing::error!(message_id = ?msg_id, reason = %err, "CONFIGURATION ERROR: outcome unroutable; not acking, stopping consumption");
                self.health.set_stopped(err.to_string());
                self.stop.cancel();
                let _ = delivery
                    .acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await;
                Outcome::Requeued
            }
            Err(e) => {
                tracing::warn!(message_id = ?msg_id, error = %e, "outcome not confirmed; leaving the job unacked for redelivery");
                Outcome::Abandoned
            }
        }
    }
}

/// Why a broker session ended.
#[derive(Debug)]
pub enum SessionEnd {
    /// Shutdown requested; in-flight work drained (or abandoned at the grace deadline).
    Shutdown,
    /// Consumption stopped on a configuration error.
    Stopped,
}

/// Run sessions until shutdown, reconnecting with jittered backoff when the broker goes away.
pub async fn run<S: ObjectStore, O: OcrApi>(
    ctx: Context<S, O>,
    shutdown: CancellationToken,
) -> Result<(), AmqpError> {
    let mut backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(10))
        .with_jitter()
        .without_max_times()
        .build();
    loop {
        if shutdown.is_cancelled() {
            return Ok(());
        }
        match session(&ctx, &shutdown).await {
            Ok(SessionEnd::Shutdown) => return Ok(()),
            Ok(SessionEnd::Stopped) => {
                // Stay alive (health endpoints say why) until told to exit.
                shutdown.cancelled().await;
                return Ok(());
            }
            Err(e @ AmqpError::QueueMismatch { .. }) => {
                tracing::error!(error = %e, "CONFIGURATION ERROR: topology mismatch; not consuming");
                ctx.health.set_stopped(e.to_string());
                ctx.health.set_connected(false);
                shutdown.cancelled().await;
                return Err(e);
            }
            Err(e) => {
                ctx.health.set_connected(false);
                ctx.metrics.consuming.set(0);
                let wait = backoff.next().unwrap_or(Duration::from_secs(10));
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "broker session ended; reconnecting");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shutdown.cancelled() => return Ok(()),
                }
            }
        }
    }
}

async fn session<S: ObjectStore, O: OcrApi>(
    ctx: &Context<S, O>,
    shutdown: &CancellationToken,
) -> Result<SessionEnd, AmqpError> {
    let s = &ctx.settings;
    let conn = amqp::connect(&s.amqp_url, &format!("ocr-worker {}", s.jobs_queue)).await?;
    ctx.metrics.connections.inc();
    let result = session_on(ctx, &conn, shutdown).await;
    ctx.health.set_connected(false);
    // A new connection starts unblocked; the broker says so again if the alarm persists.
    ctx.set_blocked(false);
    ctx.metrics.consuming.set(0);
    amqp::close_bounded(conn.close(200, "bye".into())).await;
    result
}

async fn session_on<S: ObjectStore, O: OcrApi>(
    ctx: &Context<S, O>,
    conn: &Connection,
    shutdown: &CancellationToken,
) -> Result<SessionEnd, AmqpError> {
    let s = &ctx.settings;
    amqp::declare_topology(conn, s).await?;
    let publish = amqp::confirm_channel(conn).await?;
    let consume = conn.create_channel().await?;
    let tag = format!("ocr-worker-{}", uuid::Uuid::new_v4());
    // Prefetch follows this replica's share of the OCR concurrency (2 × share), so no replica
    // hoards jobs it cannot start soon. `basic.qos` only applies to consumers created after
    // it, so a share change re-creates the consumer; the old one is cancelled and drained
    // (its buffered deliveries are still processed) through the same merged stream.
    let mut prefetch = desired_prefetch(ctx);
    let mut generation = 0u32;
    let mut current_tag = format!("{tag}-{generation}");
    let mut consumers = futures::stream::SelectAll::new();
    consumers.push(start_consumer(&consume, s, prefetch, &current_tag).await?);
    let mut share_changes = ctx.pipeline.limiter.subscribe();
    let poison_ch = conn.create_channel().await?;
    poison_ch.basic_qos(8, BasicQosOptions::default()).await?;
    let mut poison = poison_ch
        .basic_consume(
            s.poison_queue.as_str().into(),
            format!("{tag}-poison").as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut events = Box::pin(conn.events_listener());
    ctx.health.set_connected(true);
    ctx.health.set_consuming(true);
    ctx.metrics.consuming.set(1);
    tracing::info!(
        queue = %s.jobs_queue,
        prefetch,
        broker = %crate::config::redacted_amqp_url(&s.amqp_url),
        "consuming"
    );

    let mut tasks: JoinSet<Outcome> = JoinSet::new();
    let broken = CancellationToken::new();
    // While the broker blocks publishers (memory/disk alarm) no new job starts: its outcome
    // could not be published. Jobs in flight wait in their publish; nothing is dropped.
    let mut blocked = false;
    let end = loop {
        // While OCR calls are paused (period quota 0023, a long Retry-After) no new job
        // starts either: it would only wait, holding a delivery. Wake when the pause ends.
        let paused = ctx.pipeline.limiter.paused_remaining();
        tokio::select! {
            () = shutdown.cancelled() => break Ok(SessionEnd::Shutdown),
            () = tokio::time::sleep(paused.unwrap_or_default()), if paused.is_some() => {}
            () = broken.cancelled() => break Err(AmqpError::ChannelLost),
            () = ctx.stop.cancelled() => break Ok(SessionEnd::Stopped),
            ev = events.next() => {
                if let Some(ev) = ev {
                    match ev {
                        lapin::Event::ConnectionBlocked(reason) => {
                            tracing::warn!(%reason, "broker blocked publishing (resource alarm); not starting new jobs");
                            ctx.set_blocked(true);
                            blocked = true;
                        }
                        lapin::Event::ConnectionUnblocked => {
                            tracing::info!("broker unblocked publishing");
                            ctx.set_blocked(false);
                            blocked = false;
                        }
                        _ => {}
                    }
                }
            }
            Ok(()) = share_changes.changed() => {
                let want = desired_prefetch(ctx);
                if want != prefetch {
                    generation += 1;
                    let next_tag = format!("{tag}-{generation}");
                    let new = start_consumer(&consume, s, want, &next_tag).await;
                    match new {
                        Ok(c) => {
                            let _ = consume
                                .basic_cancel(current_tag.as_str().into(), BasicCancelOptions::default())
                                .await;
                            consumers.push(c);
                            tracing::info!(from = prefetch, to = want, "prefetch follows the OCR share");
                            prefetch = want;
                            current_tag = next_tag;
                        }
                        Err(e) => break Err(e),
                    }
                }
            }
            d = consumers.next(), if !blocked && paused.is_none() => match d {
                Some(Ok(delivery)) => {
                    let ctx = ctx.clone();
                    let publish = publish.clone();
                    let broken = broken.clone();
                    tasks.spawn(async move { ctx.handle(delivery, &publish, &broken).await });
                }
                Some(Err(e)) => break Err(e.into()),
                None => break Err(AmqpError::ChannelLost),
            },
            p = poison.next() => match p {
                Some(Ok(delivery)) => {
                    let ctx = ctx.clone();
                    let publish = publish.clone();
                    tasks.spawn(async move { relay_poison(&ctx, delivery, &publish).await });
                }
                Some(Err(e)) => break Err(e.into()),
                None => {}
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    };
    ctx.health.set_consuming(false);
    ctx.metrics.consuming.set(0);
    match &end {
        Ok(_) => {
            // Stop taking deliveries, then let in-flight jobs finish within the grace period.
            let _ = consume
                .basic_cancel(current_tag.as_str().into(), BasicCancelOptions::default())
                .await;
            let _ = poison_ch
                .basic_cancel(
                    format!("{tag}-poison").as_str().into(),
                    BasicCancelOptions::default(),
                )
                .await;
            let grace = Settings::secs(s.shutdown_grace_secs);
            let n = tasks.len();
            let drained =
                tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} })
                    .await;
            if drained.is_err() {
                tracing::warn!(
                    unfinished = tasks.len(),
                    "grace period over: leaving unfinished jobs unacked for redelivery"
                );
                tasks.abort_all();
            } else if n > 0 {
                tracing::info!(finished = n, "in-flight jobs finished");
            }
            // Buffered deliveries not yet started are returned to the queue by closing.
            amqp::close_bounded(consume.close(200, "shutdown".into())).await;
            amqp::close_bounded(publish.close(200, "shutdown".into())).await;
        }
        Err(_) => {
            // The session is dead: its tasks can never ack. Drop them; the broker redelivers.
            tasks.abort_all();
        }
    }
    end
}

/// Prefetch for this replica now: configured, or twice its share of the OCR concurrency.
fn desired_prefetch<S, O>(ctx: &Context<S, O>) -> u16 {
    if ctx.settings.prefetch > 0 {
        ctx.settings.prefetch
    } else {
        ctx.pipeline.limiter.prefetch_hint().max(1)
    }
}

async fn start_consumer(
    ch: &Channel,
    s: &Settings,
    prefetch: u16,
    tag: &str,
) -> Result<lapin::Consumer, AmqpError> {
    ch.basic_qos(prefetch, BasicQosOptions::default()).await?;
    Ok(ch
        .basic_consume(
            s.jobs_queue.as_str().into(),
            tag.into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?)
}

/// Turn a broker dead letter (delivery limit hit) into a proper `poison_message` record.
async fn relay_poison<S: ObjectStore, O: OcrApi>(
    ctx: &Context<S, O>,
    delivery: Delivery,
    publish: &Channel,
) -> Outcome {
    let reason = delivery
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
        .unwrap_or_else(|| "unknown".into());
    let job = Job::parse(&delivery.data, usize::MAX).ok();
    let job_id = job
        .as_ref()
        .map(|j| j.job_id.clone())
        .or_else(|| salvage_job_id(&delivery.data));
    let attempts = amqp::header_u32(&delivery.properties, ATTEMPTS_HEADER);
    let err = JobError::Poison { reason };
    let dl = DeadLetterMessage::new(
        job_id.clone(),
        &err,
        attempts,
        &delivery.data,
        chrono::Utc::now(),
    );
    let body = serde_json::to_vec(&dl).unwrap_or_default();
    let msg_id = outcome_message_id(
        job.as_ref(),
        delivery
            .properties
            .message_id()
            .as_ref()
            .map(|s| s.as_str()),
        &delivery.data,
    );
    let rk = dl.routing_key();
    let r = amqp::publish_confirmed(
        publish,
        Outgoing {
            exchange: &ctx.settings.dead_exchange,
            routing_key: &rk,
            body: &body,
            message_id: &msg_id,
            correlation_id: delivery
                .properties
                .correlation_id()
                .as_ref()
                .map(|s| s.as_str()),
            headers: None,
        },
    )
    .await;
    tracing::warn!(
        job_id = job_id.as_deref().unwrap_or("-"),
        error_kind = "poison_message",
        "relayed a broker dead letter"
    );
    match r {
        Ok(()) if delivery.acker.ack(BasicAckOptions::default()).await.is_ok() => {
            ctx.metrics
                .dead_letters
                .get_or_create(&KindLabel {
                    kind: "poison_message".into(),
                })
                .inc();
            Outcome::DeadLettered(ocr_common::failure::ErrorKind::PoisonMessage)
        }
        _ => Outcome::Abandoned,
    }
}
