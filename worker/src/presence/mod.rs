//! Sharing the OCR domain's limits between replicas, through RabbitMQ alone.
//!
//! Every replica (one per process) binds an exclusive, auto-delete, server-named queue to a
//! fanout exchange (`<jobs_queue>.presence` unless configured) and publishes a small heartbeat
//! every period (500 ms by default) and at once whenever its view or share changes:
//! `{id, started_ms, seq, domain limits, view, settled, stable_ms, leaving}`.
//!
//! Each replica counts the replicas heard from within three periods (itself included), orders
//! them by start time then id, and takes its share by rank: the domain's simultaneous calls
//! are split into whole numbers, `total / n` plus one for the first `total % n` ranks, and its
//! calls per second in proportion to those slots ([`split_rate`]: 40 calls/s and 8 slots over
//! 3 replicas is 15 + 15 + 10 for 3 + 3 + 2 slots), so the shares add up to exactly the
//! domain's limits and every replica loads its slots alike (a replica ranked past the slots
//! gets no share at all). When replicas disagree on the domain's limits, every one uses the
//! smallest.
//!
//! Changes are made safe by their direction:
//! - **Shrinking** is applied at once.
//! - **Growing** waits until every other replica's latest heartbeat shows the same view, says
//!   it is *settled* (no more calls in flight than its share) and has been stable (no shrink)
//!   for over one second, the width of the domain's rate window. A newly joined replica
//!   starts at zero and also waits a discovery window ([`Timing::discovery`]) to hear
//!   everyone first.
//!
//! A replica that crashes stops heartbeating and drops out of the others' views after three
//! periods; one that shuts down gracefully, or stops consuming (a configuration stop, a
//! topology mismatch, a broker reconnect loop), announces `leaving` once its calls are over,
//! and one that consumes again joins again as new. A
//! replica whose presence session breaks drops to a zero share (the others will soon stop
//! counting it) and joins again as new.
//!
//! # Layout
//! - [`membership`]: the pure state machine (heartbeats in, share out), tested without a broker.
//! - [`session`]: the AMQP session that carries the heartbeats and applies the share.

mod membership;
mod session;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::SecretString;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use membership::{
    Beat, EXPIRY_PERIODS, Evaluation, Membership, SETTLE, Timing, split, split_rate,
};

use crate::config::Settings;
use crate::limiter::{OcrLimiter, Share};
use crate::metrics::Metrics;

/// What the presence task needs from the settings.
#[derive(Debug, Clone)]
pub struct PresenceConfig {
    /// Broker URL.
    pub amqp_url: SecretString,
    /// The private CA for `amqps://` nodes.
    pub amqp_ca: Option<crate::amqp::AmqpCa>,
    /// Fanout exchange name.
    pub exchange: String,
    /// Heartbeat period.
    pub period: Duration,
}

impl PresenceConfig {
    /// From settings; `None` when sharing is turned off (`presence_heartbeat_ms = 0`).
    pub fn from_settings(s: &Settings) -> Option<PresenceConfig> {
        s.broker.presence_heartbeat.map(|period| PresenceConfig {
            amqp_url: s.broker.amqp_url.clone(),
            amqp_ca: s.broker.amqp_ca.clone(),
            exchange: s.broker.presence_exchange.clone(),
            period,
        })
    }

    /// The protocol's timing for this period.
    pub fn timing(&self) -> Timing {
        Timing::for_period(self.period)
    }
}

/// The running presence task.
pub struct PresenceHandle {
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
    id: String,
}

impl PresenceHandle {
    /// This replica's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Announce that this replica is leaving (call once its OCR calls are over) and stop.
    pub async fn leave(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for PresenceHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Start sharing: the limiter drops to a zero share at once and grows as the presence
/// protocol allows. The replica is a member only while `active` (it consumes; see
/// [`crate::health::Health::subscribe_active`]): when it stops consuming it leaves, so its
/// peers take its share, and joins again as new when it consumes again. Returns `None` (and
/// leaves the limiter at the whole domain) when sharing is turned off.
pub fn spawn(
    settings: &Settings,
    limiter: Arc<OcrLimiter>,
    metrics: Arc<Metrics>,
    active: watch::Receiver<bool>,
) -> Option<PresenceHandle> {
    let config = PresenceConfig::from_settings(settings)?;
    limiter.set_share(Share::ZERO);
    let stop = CancellationToken::new();
    let id = uuid::Uuid::new_v4().simple().to_string()[..16].to_string();
    let started_ms = now_ms();
    let membership = Membership::new(
        id.clone(),
        started_ms,
        limiter.domain(),
        limiter.share(),
        Instant::now(),
    )
    .with_min_slots(settings.ocr.min_slots_per_replica);
    let sharing = session::Sharing::new(membership, limiter, metrics);
    sharing.publish_metrics();
    let token = stop.clone();
    let task = tokio::spawn(async move { session::run(config, sharing, token, active).await });
    Some(PresenceHandle {
        stop,
        task: Some(task),
        id,
    })
}

/// Wall-clock milliseconds since the Unix epoch: a replica's start time, which orders ranks
/// (oldest first) across hosts, so their clocks must agree to well under a second (NTP).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
