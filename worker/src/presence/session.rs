//! The AMQP side of quota sharing: the heartbeat queue and exchange, the session loop that
//! feeds [`Membership`] and applies its share to the limiter, and the periodic quota report.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, ExchangeKind};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Beat, Membership, PresenceConfig};
use crate::limiter::{LimiterCounters, OcrLimiter, Share};
use crate::metrics::Metrics;

/// How often quota use is logged while calls are being made.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// The membership, wired to the limiter it steers and the metrics it reports.
pub(super) struct Sharing {
    membership: Membership,
    limiter: Arc<OcrLimiter>,
    metrics: Arc<Metrics>,
    report_at: Instant,
    reported: LimiterCounters,
}

impl Sharing {
    pub(super) fn new(
        membership: Membership,
        limiter: Arc<OcrLimiter>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Sharing {
            membership,
            reported: limiter.counters(),
            limiter,
            metrics,
            report_at: Instant::now() + REPORT_EVERY,
        }
    }

    /// Evaluate the membership now and apply its share. Returns whether a heartbeat is due.
    fn evaluate(&mut self, config: &PresenceConfig) -> bool {
        let now = Instant::now();
        let before = self.membership.applied;
        let e = self
            .membership
            .evaluate(now, self.limiter.held(), config.timing());
        self.limiter.set_placement(e.active, e.rank);
        if e.share != before {
            self.limiter.set_share(e.share);
            tracing::info!(
                replica = %self.membership.id,
                replicas = e.replicas,
                rank = e.rank,
                concurrency = e.share.concurrency,
                rate_per_sec = e.share.rate_per_sec(),
                target_concurrency = e.target.concurrency,
                target_rate_per_sec = e.target.rate_per_sec(),
                "OCR quota: share changed"
            );
        }
        self.publish_metrics();
        self.metrics.replicas.set(i64::from(e.replicas));
        self.report(now, e.replicas, e.rank);
        e.changed
    }

    /// Drop to a zero share and forget every peer: the presence session is lost.
    fn reset(&mut self) {
        self.membership.reset();
        self.limiter.set_share(Share::ZERO);
        self.publish_metrics();
    }

    pub(super) fn publish_metrics(&self) {
        self.metrics
            .ocr_limit
            .set(i64::from(self.limiter.current_limit()));
        self.metrics.ocr_rate_share.set(self.limiter.current_rate());
    }

    /// Log quota use every [`REPORT_EVERY`] while calls are being made.
    fn report(&mut self, now: Instant, n: u32, rank: u32) {
        if now < self.report_at {
            return;
        }
        let secs = (now - self.report_at + REPORT_EVERY).as_secs_f64();
        self.report_at = now + REPORT_EVERY;
        let c = self.limiter.counters();
        let calls = c.calls - self.reported.calls;
        let throttled = c.throttled - self.reported.throttled;
        let waited = c.waited_us - self.reported.waited_us;
        self.reported = c;
        let per_sec = calls as f64 / secs;
        let applied = self.membership.applied;
        let share = applied.rate_per_sec();
        let utilisation = if share > 0.0 { per_sec / share } else { 0.0 };
        self.metrics.ocr_quota_utilisation.set(utilisation);
        if calls == 0 && throttled == 0 {
            return;
        }
        tracing::info!(
            replicas = n,
            rank,
            share_concurrency = applied.concurrency,
            share_rate_per_sec = applied.rate_per_sec(),
            concurrency_limit = self.limiter.current_limit(),
            paced_rate_per_sec = format!("{:.2}", self.limiter.current_rate()),
            calls_per_sec = format!("{per_sec:.2}"),
            utilisation_pct = format!("{:.1}", 100.0 * utilisation),
            throttled,
            mean_wait_ms = format!("{:.1}", waited as f64 / 1000.0 / (calls.max(1) as f64)),
            "OCR quota use"
        );
    }
}

/// How a presence session ended without an error.
enum Left {
    /// `stop`: the process is exiting.
    Stopped,
    /// This replica stopped consuming: it left so its peers take its share.
    Idle,
}

/// Run presence sessions until `stop`, rejoining as new after a lost session. A session runs
/// only while this replica consumes (`active`): one that has stopped consuming (a
/// configuration stop, a topology mismatch, a broker reconnect loop) leaves, so its peers
/// take its share, and joins again as new when it consumes again.
pub(super) async fn run(
    config: PresenceConfig,
    mut sharing: Sharing,
    stop: CancellationToken,
    mut active: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        tokio::select! {
            r = active.wait_for(|a| *a) => if r.is_err() { return },
            () = stop.cancelled() => return,
        }
        match session(&config, &mut sharing, &stop, &mut active).await {
            Ok(Left::Stopped) => return,
            Ok(Left::Idle) => {
                // Forget the peers: the next session is a new join.
                sharing.reset();
                backoff = Duration::from_millis(200);
            }
            Err(e) => {
                // Others stop counting us soon: stop calling, and join again as new.
                sharing.reset();
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "OCR quota: presence session lost; share set to 0 until it is back");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = stop.cancelled() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn publish(ch: &Channel, config: &PresenceConfig, beat: &Beat) -> Result<(), lapin::Error> {
    let body = serde_json::to_vec(beat).expect("a heartbeat serialises");
    let ttl = config.timing().expiry.as_millis().to_string();
    ch.basic_publish(
        config.exchange.as_str().into(),
        "".into(),
        BasicPublishOptions::default(),
        &body,
        BasicProperties::default()
            .with_expiration(ttl.as_str().into())
            .with_content_type("application/json".into()),
    )
    .await?;
    Ok(())
}

async fn session(
    config: &PresenceConfig,
    sharing: &mut Sharing,
    stop: &CancellationToken,
    active: &mut watch::Receiver<bool>,
) -> anyhow::Result<Left> {
    let conn = crate::amqp::connect(
        &config.amqp_url,
        config.amqp_ca.as_ref(),
        "ocr-worker-presence",
    )
    .await?;
    let ch = conn.create_channel().await?;
    ch.exchange_declare(
        config.exchange.as_str().into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await?;
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from("x-message-ttl"),
        AMQPValue::LongLongInt(config.timing().expiry.as_millis() as i64),
    );
    let q = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            args,
        )
        .await?;
    ch.queue_bind(
        q.name().clone(),
        config.exchange.as_str().into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await?;
    let mut beats = ch
        .basic_consume(
            q.name().clone(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    sharing.membership.join(Instant::now());
    sharing.evaluate(config);
    let b = sharing.membership.beat(false, Instant::now());
    publish(&ch, config, &b).await?;
    tracing::info!(replica = %sharing.membership.id, exchange = %config.exchange, "OCR quota: presence joined");
    let mut next_beat = Instant::now() + config.period;
    let mut tick = tokio::time::interval(config.period / 5);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result = loop {
        let changed = tokio::select! {
            () = stop.cancelled() => break Ok(Left::Stopped),
            r = active.wait_for(|a| !*a) => {
                // Not consuming any more (its jobs are drained or abandoned by then), or
                // the consumer is gone for good: leave.
                let _ = r;
                break Ok(Left::Idle);
            }
            d = beats.next() => match d {
                Some(Ok(d)) => match serde_json::from_slice::<Beat>(&d.data) {
                    Ok(beat) => {
                        let news = sharing.membership.receive(beat, Instant::now());
                        sharing.evaluate(config) || news
                    }
                    Err(_) => false,
                },
                Some(Err(e)) => break Err(e.into()),
                None => break Err(anyhow::anyhow!("presence consumer ended")),
            },
            _ = tick.tick() => sharing.evaluate(config),
        };
        if changed || Instant::now() >= next_beat {
            let b = sharing.membership.beat(false, Instant::now());
            if let Err(e) = publish(&ch, config, &b).await {
                break Err(e.into());
            }
            next_beat = Instant::now() + config.period;
        }
    };
    if let Ok(left) = &result {
        // Leaving: our calls are over (the caller waits for that, and a replica that stops
        // consuming has drained or abandoned its jobs first), so others may grow. Bounded:
        // during a resource alarm the beat is never written.
        sharing.limiter.set_share(Share::ZERO);
        sharing.membership.applied = Share::ZERO;
        sharing.publish_metrics();
        let b = sharing.membership.beat(true, Instant::now());
        let _ = crate::amqp::bounded(
            crate::amqp::SHUTDOWN_CALL_WAIT,
            "presence leave",
            publish(&ch, config, &b),
        )
        .await;
        match left {
            Left::Stopped => {
                tracing::info!(replica = %sharing.membership.id, "OCR quota: presence left")
            }
            Left::Idle => tracing::warn!(
                replica = %sharing.membership.id,
                "OCR quota: not consuming; presence left so the other replicas take this share"
            ),
        }
        crate::amqp::close_bounded(ch.close(200, "leaving".into())).await;
    }
    crate::amqp::close_bounded(conn.close(200, "bye".into())).await;
    result
}
