//! Broker sessions: connect, declare, consume until shutdown, a configuration stop or a lost
//! channel; reconnect with jittered backoff; on shutdown, drain in-flight jobs within the
//! grace period.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures::StreamExt;
use lapin::Connection;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::gate::{FlowGate, WorkConsumers, desired_prefetch};
use super::{Context, Outcome};
use crate::amqp::{self, AmqpError};
use crate::ocr::OcrApi;
use crate::storage::ObjectStore;
use ocr_common::lane::Lane;

/// Prefetch of the poison relay's consumer.
const POISON_PREFETCH: u16 = 8;
/// Confirm channels outcomes are published on, one publish at a time each (a round trip of
/// about a millisecond: far above the OCR quota's tens of calls per second).
const PUBLISH_CHANNELS: usize = 16;

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
    let b = &ctx.settings.broker;
    let conn = amqp::connect(
        &b.amqp_url,
        b.amqp_ca.as_ref(),
        &format!("ocr-worker {}", b.jobs_queue),
    )
    .await?;
    ctx.metrics.connections.inc();
    let result = session_on(ctx, &conn, shutdown).await;
    ctx.health.set_connected(false);
    // A new connection starts unblocked; the broker says so again if the alarm persists.
    ctx.set_blocked(false);
    ctx.metrics.consuming.set(0);
    if shutdown.is_cancelled() {
        amqp::bounded(
            amqp::SHUTDOWN_CALL_WAIT,
            "connection.close",
            conn.close(200, "bye".into()),
        )
        .await;
    } else {
        amqp::close_bounded(conn.close(200, "bye".into())).await;
    }
    result
}

async fn session_on<S: ObjectStore, O: OcrApi>(
    ctx: &Context<S, O>,
    conn: &Connection,
    shutdown: &CancellationToken,
) -> Result<SessionEnd, AmqpError> {
    let b = &ctx.settings.broker;
    amqp::declare_topology(conn, &ctx.settings).await?;
    let publish = amqp::Publisher::open(conn, PUBLISH_CHANNELS).await?;
    let tag = format!("ocr-worker-{}", uuid::Uuid::new_v4());
    // One channel and consumer per lane: bulk deliveries held never stand in front of
    // priority ones (each channel has its own prefetch window), and the limiter gives a freed
    // OCR slot to a waiting priority job first.
    let mut work = WorkConsumers::start(
        conn.create_channel().await?,
        &b.jobs_queue,
        &tag,
        desired_prefetch(ctx),
    )
    .await?;
    let mut urgent = WorkConsumers::start(
        conn.create_channel().await?,
        &b.priority_queue,
        &format!("{tag}-priority"),
        desired_prefetch(ctx),
    )
    .await?;
    let mut share_changes = ctx.pipeline.limiter.subscribe();
    let poison_tag = format!("{tag}-poison");
    let poison_ch = conn.create_channel().await?;
    poison_ch
        .basic_qos(POISON_PREFETCH, BasicQosOptions::default())
        .await?;
    let mut poison = poison_ch
        .basic_consume(
            b.poison_queue.as_str().into(),
            poison_tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut events = Box::pin(conn.events_listener());
    ctx.health.set_connected(true);
    // Consuming, even while idle for want of an OCR share (no consumer then): healthy.
    ctx.health.set_consuming(true);
    ctx.health.set_active(true);
    ctx.metrics.consuming.set(1);
    tracing::info!(
        queue = %b.jobs_queue,
        priority_queue = %b.priority_queue,
        prefetch = ?work.prefetch(),
        broker = %crate::config::redacted_amqp_url(&b.amqp_url),
        "consuming"
    );

    let mut tasks: JoinSet<Outcome> = JoinSet::new();
    let broken = CancellationToken::new();
    let mut flow = FlowGate::default();
    let mut prefetch_pending = false;
    let end = loop {
        let paused = ctx.pipeline.limiter.paused_remaining();
        tokio::select! {
            () = shutdown.cancelled() => break Ok(SessionEnd::Shutdown),
            // Wake when the quota pause ends.
            () = tokio::time::sleep(paused.unwrap_or_default()), if paused.is_some() => {}
            () = broken.cancelled() => break Err(AmqpError::ChannelLost),
            () = ctx.stop.cancelled() => break Ok(SessionEnd::Stopped),
            ev = events.next() => {
                if let Some(ev) = ev {
                    flow.on_event(ctx, ev);
                    if prefetch_pending && !flow.blocked() {
                        prefetch_pending = false;
                        if let Err(e) = follow_lanes(&mut work, &mut urgent, desired_prefetch(ctx)).await {
                            break Err(e);
                        }
                    }
                }
            }
            Ok(()) = share_changes.changed() => {
                // While the broker blocks the connection no frame is written: `basic.qos`
                // would wait for the alarm to end. Follow the share once it has.
                if flow.blocked() {
                    prefetch_pending = true;
                } else if let Err(e) = follow_lanes(&mut work, &mut urgent, desired_prefetch(ctx)).await {
                    break Err(e);
                }
            }
            d = urgent.stream.next(), if flow.open(paused) && urgent.may_yield() => match d {
                Some(Ok(delivery)) => spawn_job(&mut tasks, ctx, &publish, &broken, delivery, Lane::Priority),
                Some(Err(e)) => break Err(e.into()),
                None if !urgent.consuming() => {}
                None => break Err(AmqpError::ChannelLost),
            },
            d = work.stream.next(), if flow.open(paused) && work.may_yield() => match d {
                Some(Ok(delivery)) => spawn_job(&mut tasks, ctx, &publish, &broken, delivery, Lane::Bulk),
                Some(Err(e)) => break Err(e.into()),
                // The last consumer ended: cancelled for want of a share (idle), or the
                // channel is gone.
                None if !work.consuming() => {}
                None => break Err(AmqpError::ChannelLost),
            },
            p = poison.next() => match p {
                Some(Ok(delivery)) => {
                    let ctx = ctx.clone();
                    let publish = publish.clone();
                    let broken = broken.clone();
                    tasks.spawn(async move {
                        let outcome = ctx.relay_poison(delivery, &publish).await;
                        // Like a job task: an unsettled relay ends the session, so its
                        // delivery is redelivered instead of holding a poison prefetch slot.
                        if matches!(outcome, Outcome::Abandoned) {
                            broken.cancel();
                        }
                        outcome
                    });
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
            // Every broker call here is bounded: during a resource alarm none is answered.
            let deadline = tokio::time::Instant::now() + ctx.settings.shutdown_grace;
            let poison_cancel =
                poison_ch.basic_cancel(poison_tag.as_str().into(), BasicCancelOptions::default());
            tokio::join!(
                work.cancel(),
                urgent.cancel(),
                amqp::bounded(amqp::SHUTDOWN_CALL_WAIT, "basic.cancel", poison_cancel)
            );
            let n = tasks.len();
            let drained = tokio::time::timeout_at(deadline, async {
                while tasks.join_next().await.is_some() {}
            })
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
            let work_close = work.channel().close(200, "shutdown".into());
            let urgent_close = urgent.channel().close(200, "shutdown".into());
            tokio::join!(
                amqp::bounded(amqp::SHUTDOWN_CALL_WAIT, "channel.close", work_close),
                amqp::bounded(amqp::SHUTDOWN_CALL_WAIT, "channel.close", urgent_close),
                publish.close(amqp::SHUTDOWN_CALL_WAIT)
            );
        }
        Err(_) => {
            // The session is dead: its tasks can never ack. Drop them; the broker redelivers.
            // Waiting for the aborted tasks to be dropped means every delivery that never
            // called has recorded its free return (`returns.rs`) before the next session can
            // be handed the message again.
            tasks.shutdown().await;
        }
    }
    // Our jobs are over (drained or abandoned): the presence leaves, so the other replicas
    // take this share until we consume again. (On shutdown the application leaves once this
    // returns.)
    if !shutdown.is_cancelled() {
        ctx.health.set_active(false);
    }
    end
}

/// Run one delivery of `lane` to its end as a task of the session.
fn spawn_job<S: ObjectStore, O: OcrApi>(
    tasks: &mut JoinSet<Outcome>,
    ctx: &Context<S, O>,
    publish: &amqp::Publisher,
    broken: &CancellationToken,
    delivery: lapin::message::Delivery,
    lane: Lane,
) {
    let (ctx, publish, broken) = (ctx.clone(), publish.clone(), broken.clone());
    tasks.spawn(async move { ctx.handle(delivery, lane, &publish, &broken).await });
}

/// Both lanes' consumers follow the prefetch `want` (see [`follow_bounded`]).
async fn follow_lanes(
    bulk: &mut WorkConsumers,
    priority: &mut WorkConsumers,
    want: Option<u16>,
) -> Result<(), AmqpError> {
    follow_bounded(priority, want).await?;
    follow_bounded(bulk, want).await
}

/// Re-create the work consumer for a new prefetch, giving up (and ending the session) if the
/// broker does not answer in time.
async fn follow_bounded(work: &mut WorkConsumers, want: Option<u16>) -> Result<(), AmqpError> {
    match amqp::bounded(
        amqp::SHUTDOWN_CALL_WAIT * 5,
        "prefetch change",
        work.follow(want),
    )
    .await
    {
        Some(r) => r,
        None => Err(AmqpError::ChannelLost),
    }
}
