//! Sharing the OCR domain's limits between replicas, through RabbitMQ alone.
//!
//! Every replica (one per process) binds an exclusive, auto-delete, server-named queue to a
//! fanout exchange (`<jobs_queue>.presence` unless configured) and publishes a small heartbeat
//! every period (500 ms by default) and at once whenever its view or share changes:
//! `{id, started_ms, seq, domain limits, view, settled, stable_ms, leaving}`.
//!
//! Each replica counts the replicas heard from within three periods (itself included), orders
//! them by start time then id, and takes its share by rank: the domain's calls per second and
//! simultaneous calls are each split into whole numbers, `total / n` plus one for the first
//! `total % n` ranks, so the shares add up to exactly the domain's limits (a replica ranked
//! past the total gets 0 of that limit). When replicas disagree on the domain's limits, every
//! one uses the smallest.
//!
//! Changes are made safe by their direction:
//! - **Shrinking** is applied at once.
//! - **Growing** waits until every other replica's latest heartbeat shows the same view, says
//!   it is *settled* (no more calls in flight than its share) and has been stable (no shrink)
//!   for over one second, the width of the domain's rate window. A newly joined replica
//!   starts at zero and also waits one and a half periods to hear everyone first.
//!
//! A replica that crashes stops heartbeating and drops out of the others' views after three
//! periods; one that shuts down gracefully announces `leaving` once its calls are over. A
//! replica whose presence session breaks drops to a zero share (the others will soon stop
//! counting it) and joins again as new.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, ExchangeKind};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::limiter::{OcrLimiter, Share};
use crate::metrics::Metrics;

/// Heartbeat periods without news after which a replica no longer counts.
pub const EXPIRY_PERIODS: u32 = 3;
/// How long a peer must have been stable (no shrink) before others grow into what it gave up:
/// the domain's sliding rate window plus a margin.
pub const SETTLE: Duration = Duration::from_millis(1100);
/// How often quota use is logged while calls are being made.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// One heartbeat on the presence exchange.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Beat {
    /// Format version (1).
    pub v: u8,
    /// Random replica id (no host or personal data).
    pub id: String,
    /// Start time of the replica, ms since the Unix epoch (orders ranks: oldest first).
    pub started_ms: u64,
    /// Heartbeat sequence number.
    pub seq: u64,
    /// The domain's calls per second as this replica is configured.
    pub rate: u32,
    /// The domain's simultaneous calls as this replica is configured.
    pub conc: u32,
    /// Ids of the replicas this one counts, in rank order.
    pub view: Vec<String>,
    /// No more calls in flight than its concurrency share.
    pub settled: bool,
    /// Milliseconds since it last shrank its share or was unsettled.
    pub stable_ms: u64,
    /// Concurrency share applied now.
    pub share_conc: u32,
    /// Rate share applied now.
    pub share_rate: u32,
    /// Last heartbeat of a replica shutting down.
    pub leaving: bool,
}

/// What the presence task needs from the settings.
#[derive(Debug, Clone)]
pub struct PresenceConfig {
    /// Broker URL.
    pub amqp_url: SecretString,
    /// Fanout exchange name.
    pub exchange: String,
    /// Heartbeat period.
    pub period: Duration,
}

impl PresenceConfig {
    /// From settings; `None` when sharing is turned off (`presence_heartbeat_ms = 0`).
    pub fn from_settings(s: &Settings) -> Option<PresenceConfig> {
        (s.presence_heartbeat_ms > 0).then(|| PresenceConfig {
            amqp_url: s.amqp_url.clone(),
            exchange: s.effective_presence_exchange(),
            period: Duration::from_millis(s.presence_heartbeat_ms),
        })
    }

    fn expiry(&self) -> Duration {
        self.period * EXPIRY_PERIODS
    }
}

/// `total` split over `n` ranks as evenly as possible in whole numbers; the share of `rank`.
pub fn split(total: u32, n: u32, rank: u32) -> u32 {
    if n == 0 {
        return total;
    }
    total / n + u32::from(rank < total % n)
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
/// protocol allows. Returns `None` (and leaves the limiter at the whole domain) when sharing
/// is turned off.
pub fn spawn(
    settings: &Settings,
    limiter: Arc<OcrLimiter>,
    metrics: Arc<Metrics>,
) -> Option<PresenceHandle> {
    let config = PresenceConfig::from_settings(settings)?;
    limiter.set_share(Share {
        concurrency: 0,
        rate_per_sec: 0,
    });
    let stop = CancellationToken::new();
    let id = uuid::Uuid::new_v4().simple().to_string()[..16].to_string();
    let state = State::new(id.clone(), limiter, metrics);
    state.publish_metrics();
    let token = stop.clone();
    let task = tokio::spawn(async move { run(config, state, token).await });
    Some(PresenceHandle {
        stop,
        task: Some(task),
        id,
    })
}

struct Peer {
    started_ms: u64,
    last_seen: Instant,
    view: Vec<String>,
    settled: bool,
    stable_since: Instant,
    domain: Share,
}

struct State {
    id: String,
    started_ms: u64,
    seq: u64,
    limiter: Arc<OcrLimiter>,
    metrics: Arc<Metrics>,
    peers: HashMap<String, Peer>,
    /// Start of the current session's discovery window.
    joined_at: Instant,
    applied: Share,
    view: Vec<String>,
    settled: bool,
    stable_since: Instant,
    warned_domain: bool,
    report_at: Instant,
    reported: crate::limiter::LimiterCounters,
}

impl State {
    fn new(id: String, limiter: Arc<OcrLimiter>, metrics: Arc<Metrics>) -> State {
        let now = Instant::now();
        let started_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        State {
            view: vec![id.clone()],
            id,
            started_ms,
            seq: 0,
            applied: limiter.share(),
            reported: limiter.counters(),
            limiter,
            metrics,
            peers: HashMap::new(),
            joined_at: now,
            settled: true,
            stable_since: now,
            warned_domain: false,
            report_at: now + REPORT_EVERY,
        }
    }

    fn beat(&mut self, leaving: bool) -> Beat {
        self.seq += 1;
        let domain = self.limiter.domain();
        Beat {
            v: 1,
            id: self.id.clone(),
            started_ms: self.started_ms,
            seq: self.seq,
            rate: domain.rate_per_sec,
            conc: domain.concurrency,
            view: self.view.clone(),
            settled: self.settled,
            stable_ms: self.stable_since.elapsed().as_millis() as u64,
            share_conc: self.applied.concurrency,
            share_rate: self.applied.rate_per_sec,
            leaving,
        }
    }

    /// Record a peer's heartbeat. Returns whether it is news (a new or departed peer).
    fn receive(&mut self, beat: Beat, now: Instant) -> bool {
        if beat.id == self.id || beat.v != 1 {
            return false;
        }
        if beat.leaving {
            let known = self.peers.remove(&beat.id).is_some();
            if known {
                tracing::info!(replica = %beat.id, "OCR quota: replica left");
            }
            return known;
        }
        let domain = Share {
            concurrency: beat.conc,
            rate_per_sec: beat.rate,
        };
        if domain != self.limiter.domain() && !self.warned_domain {
            self.warned_domain = true;
            tracing::warn!(
                replica = %beat.id,
                peer_rate = beat.rate,
                peer_concurrency = beat.conc,
                "OCR quota: replicas are configured with different domain limits; using the smallest"
            );
        }
        let stable_since = now
            .checked_sub(Duration::from_millis(beat.stable_ms))
            .unwrap_or(now);
        let peer = Peer {
            started_ms: beat.started_ms,
            last_seen: now,
            view: beat.view,
            settled: beat.settled,
            stable_since,
            domain,
        };
        let new = self.peers.insert(beat.id.clone(), peer).is_none();
        if new {
            tracing::info!(replica = %beat.id, "OCR quota: replica joined");
        }
        new
    }

    fn forget_peers(&mut self) {
        self.peers.clear();
        self.view = vec![self.id.clone()];
    }

    /// Recompute the view and the share; apply shrinks at once and growth when safe. Returns
    /// whether anything a heartbeat carries changed.
    fn evaluate(&mut self, now: Instant, expiry: Duration, discovery: Duration) -> bool {
        self.peers.retain(|id, p| {
            let alive = now.duration_since(p.last_seen) <= expiry;
            if !alive {
                tracing::info!(replica = %id, "OCR quota: replica silent; no longer counted");
            }
            alive
        });
        let mut members: Vec<(u64, &str)> = self
            .peers
            .iter()
            .map(|(id, p)| (p.started_ms, id.as_str()))
            .chain(std::iter::once((self.started_ms, self.id.as_str())))
            .collect();
        members.sort_unstable();
        let view: Vec<String> = members.iter().map(|(_, id)| id.to_string()).collect();
        let n = view.len() as u32;
        let rank = view.iter().position(|id| *id == self.id).unwrap_or(0) as u32;
        let domain = self
            .peers
            .values()
            .fold(self.limiter.domain(), |d, p| Share {
                concurrency: d.concurrency.min(p.domain.concurrency),
                rate_per_sec: d.rate_per_sec.min(p.domain.rate_per_sec),
            });
        let target = Share {
            concurrency: split(domain.concurrency, n, rank),
            rate_per_sec: split(domain.rate_per_sec, n, rank),
        };
        let mut next = Share {
            concurrency: self.applied.concurrency.min(target.concurrency),
            rate_per_sec: self.applied.rate_per_sec.min(target.rate_per_sec),
        };
        let view_changed = view != self.view;
        self.view = view;
        if next != target && self.may_grow(now, discovery) {
            next = target;
        }
        let shrank = next.concurrency < self.applied.concurrency
            || next.rate_per_sec < self.applied.rate_per_sec;
        let share_changed = next != self.applied;
        if share_changed {
            self.limiter.set_share(next);
            tracing::info!(
                replica = %self.id,
                replicas = n,
                rank,
                concurrency = next.concurrency,
                rate_per_sec = next.rate_per_sec,
                target_concurrency = target.concurrency,
                target_rate_per_sec = target.rate_per_sec,
                "OCR quota: share changed"
            );
            self.applied = next;
        }
        let settled = self.limiter.held() <= self.applied.concurrency;
        if shrank || !settled {
            self.stable_since = now;
        }
        let settled_changed = settled != self.settled;
        self.settled = settled;
        self.publish_metrics();
        self.metrics.replicas.set(i64::from(n));
        self.report(now, n, rank);
        view_changed || share_changed || settled_changed
    }

    /// Growth is safe when we have listened long enough and every other replica we count
    /// sees the same set, is settled, and has been stable for a rate window.
    fn may_grow(&self, now: Instant, discovery: Duration) -> bool {
        if now.duration_since(self.joined_at) < discovery {
            return false;
        }
        self.peers.values().all(|p| {
            p.view == self.view && p.settled && now.duration_since(p.stable_since) >= SETTLE
        })
    }

    fn publish_metrics(&self) {
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
        let share = f64::from(self.applied.rate_per_sec);
        self.metrics
            .ocr_quota_utilisation
            .set(if share > 0.0 { per_sec / share } else { 0.0 });
        if calls == 0 && throttled == 0 {
            return;
        }
        tracing::info!(
            replicas = n,
            rank,
            share_concurrency = self.applied.concurrency,
            share_rate_per_sec = self.applied.rate_per_sec,
            concurrency_limit = self.limiter.current_limit(),
            paced_rate_per_sec = format!("{:.2}", self.limiter.current_rate()),
            calls_per_sec = format!("{per_sec:.2}"),
            utilisation_pct = format!(
                "{:.1}",
                if share > 0.0 {
                    100.0 * per_sec / share
                } else {
                    0.0
                }
            ),
            throttled,
            mean_wait_ms = format!("{:.1}", waited as f64 / 1000.0 / (calls.max(1) as f64)),
            "OCR quota use"
        );
    }
}

async fn run(config: PresenceConfig, mut state: State, stop: CancellationToken) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match session(&config, &mut state, &stop).await {
            Ok(()) => return,
            Err(e) => {
                // Others stop counting us soon: stop calling, and join again as new.
                state.limiter.set_share(Share {
                    concurrency: 0,
                    rate_per_sec: 0,
                });
                state.applied = state.limiter.share();
                state.forget_peers();
                state.publish_metrics();
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
    let ttl = config.expiry().as_millis().to_string();
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
    state: &mut State,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let conn = crate::amqp::connect(&config.amqp_url, "ocr-worker-presence").await?;
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
        AMQPValue::LongLongInt(config.expiry().as_millis() as i64),
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
    let now = Instant::now();
    state.joined_at = now;
    state.evaluate(now, config.expiry(), config.period * 3 / 2);
    let b = state.beat(false);
    publish(&ch, config, &b).await?;
    tracing::info!(replica = %state.id, exchange = %config.exchange, "OCR quota: presence joined");
    let mut next_beat = Instant::now() + config.period;
    let mut tick = tokio::time::interval(config.period / 5);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result = loop {
        let changed = tokio::select! {
            () = stop.cancelled() => break Ok(()),
            d = beats.next() => match d {
                Some(Ok(d)) => match serde_json::from_slice::<Beat>(&d.data) {
                    Ok(beat) => {
                        let now = Instant::now();
                        let news = state.receive(beat, now);
                        state.evaluate(now, config.expiry(), config.period * 3 / 2) || news
                    }
                    Err(_) => false,
                },
                Some(Err(e)) => break Err(e.into()),
                None => break Err(anyhow::anyhow!("presence consumer ended")),
            },
            _ = tick.tick() => state.evaluate(Instant::now(), config.expiry(), config.period * 3 / 2),
        };
        if changed || Instant::now() >= next_beat {
            let b = state.beat(false);
            if let Err(e) = publish(&ch, config, &b).await {
                break Err(e.into());
            }
            next_beat = Instant::now() + config.period;
        }
    };
    if result.is_ok() {
        // Leaving: our calls are over (the caller waits for that), so others may grow.
        state.limiter.set_share(Share {
            concurrency: 0,
            rate_per_sec: 0,
        });
        let b = state.beat(true);
        let _ = publish(&ch, config, &b).await;
        tracing::info!(replica = %state.id, "OCR quota: presence left");
        crate::amqp::close_bounded(ch.close(200, "leaving".into())).await;
    }
    crate::amqp::close_bounded(conn.close(200, "bye".into())).await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_add_up_exactly() {
        for total in [1u32, 2, 8, 40, 41] {
            for n in 1u32..=10 {
                let sum: u32 = (0..n).map(|r| split(total, n, r)).sum();
                assert_eq!(sum, total, "{total} over {n}");
                let max = (0..n).map(|r| split(total, n, r)).max().unwrap();
                let min = (0..n).map(|r| split(total, n, r)).min().unwrap();
                assert!(max - min <= 1);
            }
        }
        assert_eq!(split(40, 3, 0), 14);
        assert_eq!(split(8, 3, 2), 2);
        assert_eq!(split(2, 3, 2), 0);
    }

    fn beat(id: &str, started_ms: u64, view: &[&str]) -> Beat {
        Beat {
            v: 1,
            id: id.into(),
            started_ms,
            seq: 1,
            rate: 40,
            conc: 8,
            view: view.iter().map(|s| s.to_string()).collect(),
            settled: true,
            stable_ms: 10_000,
            share_conc: 0,
            share_rate: 0,
            leaving: false,
        }
    }

    #[tokio::test]
    async fn shrinks_at_once_and_grows_only_on_agreement() {
        let limiter = OcrLimiter::new(40, 8);
        let metrics = Arc::new(Metrics::new());
        let mut s = State::new("m".into(), limiter.clone(), metrics);
        s.started_ms = 100;
        let (expiry, discovery) = (Duration::from_millis(1500), Duration::from_millis(750));
        let mut now = Instant::now();
        // Alone, after discovery: the whole domain.
        now += discovery;
        s.evaluate(now, expiry, discovery);
        assert_eq!(s.applied, limiter.domain());
        // A newer replica appears: shrink at once to rank 0 of 2.
        s.receive(beat("z", 200, &["z"]), now);
        s.evaluate(now, expiry, discovery);
        assert_eq!(
            s.applied,
            Share {
                concurrency: 4,
                rate_per_sec: 20
            }
        );
        assert_eq!(s.view, vec!["m".to_string(), "z".to_string()]);
        // It leaves: growth waits for... nobody else; back to the whole domain.
        let mut b = beat("z", 200, &["m", "z"]);
        b.leaving = true;
        s.receive(b, now);
        s.evaluate(now, expiry, discovery);
        assert_eq!(s.applied, limiter.domain());
        // An older replica appears: we become rank 1 and shrink; we may not grow back while
        // it disagrees on the view.
        s.receive(beat("a", 50, &["a"]), now);
        s.evaluate(now, expiry, discovery);
        assert_eq!(s.applied.rate_per_sec, 20);
        // It crashes: silent past the expiry. We grow only once it no longer counts.
        now += Duration::from_millis(1000);
        s.evaluate(now, expiry, discovery);
        assert_eq!(s.applied.rate_per_sec, 20);
        now += Duration::from_millis(600);
        s.evaluate(now, expiry, discovery);
        assert_eq!(s.applied, limiter.domain());
    }

    #[tokio::test]
    async fn a_newcomer_waits_for_peers_to_settle() {
        let limiter = OcrLimiter::new(40, 8);
        let mut s = State::new("n".into(), limiter.clone(), Arc::new(Metrics::new()));
        s.started_ms = 300;
        limiter.set_share(Share {
            concurrency: 0,
            rate_per_sec: 0,
        });
        s.applied = limiter.share();
        let (expiry, discovery) = (Duration::from_millis(1500), Duration::from_millis(750));
        let mut now = Instant::now();
        s.receive(beat("a", 100, &["a"]), now);
        now += discovery;
        s.evaluate(now, expiry, discovery);
        assert_eq!(s.applied.concurrency, 0, "peer does not count us yet");
        let mut b = beat("a", 100, &["a", "n"]);
        b.stable_ms = 0; // it just shrank
        s.receive(b.clone(), now);
        s.evaluate(now, expiry, discovery);
        assert_eq!(
            s.applied.concurrency, 0,
            "peer has not been stable for a rate window"
        );
        now += SETTLE;
        s.receive(
            Beat {
                stable_ms: SETTLE.as_millis() as u64,
                ..b
            },
            now,
        );
        s.evaluate(now, expiry, discovery);
        assert_eq!(
            s.applied,
            Share {
                concurrency: 4,
                rate_per_sec: 20
            }
        );
    }
}
