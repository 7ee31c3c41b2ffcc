//! The pure half of quota sharing: who the replicas are, and which share this one may apply.
//! No broker, no limiter, no clock read: every input (heartbeats, the time, calls held) is
//! passed in, so the rules are unit-tested without a broker.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::limiter::{MILLI, Share};

/// How long a peer must have been stable (no shrink) before others grow into what it gave up:
/// the domain's sliding rate window plus a margin.
pub const SETTLE: Duration = Duration::from_millis(1100);

/// Heartbeat periods without news after which a replica no longer counts.
pub const EXPIRY_PERIODS: u32 = 3;

/// The timing of the protocol, all derived from the heartbeat period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// A peer silent for longer no longer counts ([`EXPIRY_PERIODS`] periods).
    pub expiry: Duration,
    /// The discovery window: a replica that (re)joins listens this long, one and a half
    /// periods, to hear every peer's heartbeat before it may grow.
    pub discovery: Duration,
}

impl Timing {
    /// The timing for heartbeats every `period`.
    pub fn for_period(period: Duration) -> Timing {
        Timing {
            expiry: period * EXPIRY_PERIODS,
            discovery: period * 3 / 2,
        }
    }
}

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
    /// The domain's whole calls per second as this replica is configured (read by replicas
    /// that predate `rate_milli`).
    pub rate: u32,
    /// The domain's calls per second in millicalls (fractional rates); absent from the beats
    /// of older replicas, whose `rate` is then used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_milli: Option<u32>,
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
    /// Rate share applied now, whole calls per second.
    pub share_rate: u32,
    /// Rate share applied now, millicalls per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_rate_milli: Option<u32>,
    /// Last heartbeat of a replica shutting down.
    pub leaving: bool,
    /// This replica splits the rate in proportion to slots ([`split_rate`]); absent (false)
    /// from the beats of older replicas, which split it evenly. While any peer splits evenly,
    /// every replica takes the smaller of the two splits, so old and new together never
    /// add up to more than the domain's rate during a rolling upgrade.
    #[serde(default)]
    pub rate_by_slots: bool,
    /// The fewest slots this replica gives a replica that makes calls
    /// (`OCR_MIN_SLOTS_PER_REPLICA`, [`placement`]); absent (1) from the beats of older
    /// replicas. Replicas configured differently all use the smallest setting in the view:
    /// a function of the view like the rest of the split, so shares still add up to the
    /// domain exactly and growth still waits until every peer reports the same view.
    #[serde(default = "one")]
    pub min_slots: u32,
}

fn one() -> u32 {
    1
}

/// `total` split over `n` ranks as evenly as possible in whole numbers; the share of `rank`.
pub fn split(total: u32, n: u32, rank: u32) -> u32 {
    if n == 0 {
        return total;
    }
    total / n + u32::from(rank < total % n)
}

/// A rate of `total_milli` millicalls per second split over `n` ranks in proportion to the
/// slots each rank gets of `slots` ([`split`]); the share of `rank`, in millicalls.
///
/// Proportional, so that every replica runs its slots equally hard: with 8 slots and
/// 40 calls/s over 3 replicas (3 + 3 + 2 slots) an even 14 + 13 + 13 would load the 2-slot
/// replica's slots at 13 × latency ÷ 2, a third more than the others', and it is the first to
/// find all its slots busy when latency varies; 15 + 15 + 10 loads all three alike (over 6
/// replicas: 10 + 10 + 5 + 5 + 5 + 5 for 2 + 2 + 1 + 1 + 1 + 1 slots). A rank without a slot
/// gets no rate. The whole calls are apportioned by largest remainder (ties to the lower
/// rank), and the fraction of a call left over goes to one rank with slots, the
/// `whole % ranks_with_slots`-th, so the shares add up to exactly the domain's rate and no
/// replica's share has more than one fractional call: in any sliding second the replicas
/// together make at most `⌈rate⌉` calls. 2 calls/s with 8 slots over 3 replicas is
/// 1 + 1 + 0 (the third takes no deliveries); 2.5 is 1 + 1 + 0.5; 0.5 over 2 is 0.5 + 0.
/// With no slots at all (`slots == 0`) every rank weighs the same.
pub fn split_rate(total_milli: u32, slots: u32, n: u32, rank: u32) -> u32 {
    if n == 0 {
        return total_milli;
    }
    let weights: Vec<u64> = (0..n)
        .map(|r| {
            if slots == 0 {
                1
            } else {
                u64::from(split(slots, n, r))
            }
        })
        .collect();
    let total_weight: u64 = weights.iter().sum();
    let (whole, frac) = (total_milli / MILLI, total_milli % MILLI);
    // Each rank's quota of the whole calls: a floor, and a remainder in 1/total_weight calls.
    let quotas: Vec<(u64, u64)> = weights
        .iter()
        .map(|w| {
            let exact = u64::from(whole) * w;
            (exact / total_weight, exact % total_weight)
        })
        .collect();
    let left = u64::from(whole) - quotas.iter().map(|q| q.0).sum::<u64>();
    // The `left` calls go one each to the ranks with the largest remainders (ties to the
    // lower rank); they all have a remainder, since the remainders add up to `left` wholes.
    let (floor, rem) = quotas[rank as usize];
    let ahead = (0..n)
        .filter(|&r| {
            let other = quotas[r as usize].1;
            other > rem || (other == rem && r < rank)
        })
        .count() as u64;
    let whole_share = floor + u64::from(ahead < left);
    // The fraction goes to the `whole % with_slots`-th rank that has a slot (there is one:
    // rank 0 always has).
    let with_slots: Vec<u32> = (0..n).filter(|&r| weights[r as usize] > 0).collect();
    let frac_rank = with_slots[(whole as usize) % with_slots.len()];
    let frac_share = if rank == frac_rank { frac } else { 0 };
    whole_share as u32 * MILLI + frac_share
}

/// The share of `rank` among `n` replicas when a replica that makes calls gets at least
/// `min_slots` of the domain's slots: the slots go to the oldest
/// `⌊slots ÷ min_slots⌋` ranks (at least one, at most `n`), split by [`split`], the rate in
/// proportion ([`split_rate`]), and the younger ranks get nothing and stand by (no usable
/// share: no deliveries) until an older one leaves. `min_slots` 1 is every replica.
///
/// Why: the domain's slots are one pool at the vendor, but fixed shares cut them into a pool
/// per replica, and with a heavy-tailed latency a small pool finds all its slots busy while
/// the domain has room (docs/quota.md: lognormal latency, 8 slots over 3 replicas use
/// 96.1 % of the rate, one replica 98.3 %). Fewer, larger pools lose less; one pool loses
/// nothing to the split.
pub fn placement(domain: Share, n: u32, rank: u32, min_slots: u32) -> Share {
    let active = active_replicas(domain, n, min_slots);
    if rank >= active {
        return Share::ZERO;
    }
    Share {
        concurrency: split(domain.concurrency, active, rank),
        rate_milli: split_rate(domain.rate_milli, domain.concurrency, active, rank),
    }
}

/// How many of `n` replicas get slots when each that makes calls gets at least `min_slots`
/// ([`placement`]): `⌊slots ÷ min_slots⌋`, at least 1 and at most `n` (with `min_slots` 1,
/// every replica up to one per slot).
pub fn active_replicas(domain: Share, n: u32, min_slots: u32) -> u32 {
    if domain.concurrency == 0 {
        n
    } else {
        (domain.concurrency / min_slots.max(1)).clamp(1, n.max(1))
    }
}

struct Peer {
    started_ms: u64,
    last_seen: Instant,
    view: Vec<String>,
    settled: bool,
    stable_since: Instant,
    domain: Share,
    rate_by_slots: bool,
    min_slots: u32,
}

/// What one evaluation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The share to apply now (shrinks at once, growth only when safe).
    pub share: Share,
    /// The share this replica's rank gives it once growing is safe.
    pub target: Share,
    /// Replicas counted, this one included.
    pub replicas: u32,
    /// This replica's rank among them (0 = oldest).
    pub rank: u32,
    /// How many of them get slots ([`active_replicas`]): the bulk floor is dealt over these.
    pub active: u32,
    /// Whether anything a heartbeat carries changed (view, share, settled).
    pub changed: bool,
}

/// This replica's view of the membership and the share it has applied.
pub struct Membership {
    /// This replica's id.
    pub id: String,
    /// This replica's start time, ms since the Unix epoch.
    pub started_ms: u64,
    /// The domain's limits as this replica is configured.
    pub domain: Share,
    seq: u64,
    peers: HashMap<String, Peer>,
    /// Start of the current session's discovery window.
    joined_at: Instant,
    /// The share applied now.
    pub applied: Share,
    /// The replicas counted, in rank order.
    pub view: Vec<String>,
    settled: bool,
    stable_since: Instant,
    warned_domain: bool,
    /// When this replica last heard its own heartbeat come back through the exchange (or
    /// joined): a replica that does not hear itself cannot trust what it does not hear.
    self_heard: Instant,
    /// The fewest slots a replica that makes calls gets ([`placement`]).
    min_slots: u32,
    /// When the last peer left or could last have made a call before falling silent: nobody
    /// grows into what it gave up for a [`SETTLE`] after that, since its last calls are still
    /// in the domain's sliding second.
    departed_at: Option<Instant>,
    warned_min_slots: bool,
}

impl Membership {
    /// A replica that has heard nobody yet, holding `applied`.
    pub fn new(id: String, started_ms: u64, domain: Share, applied: Share, now: Instant) -> Self {
        Membership {
            view: vec![id.clone()],
            id,
            started_ms,
            domain,
            seq: 0,
            peers: HashMap::new(),
            joined_at: now,
            applied,
            settled: true,
            stable_since: now,
            warned_domain: false,
            self_heard: now,
            min_slots: 1,
            departed_at: None,
            warned_min_slots: false,
        }
    }

    /// Give a replica that makes calls at least `min_slots` slots ([`placement`]).
    pub fn with_min_slots(mut self, min_slots: u32) -> Self {
        self.min_slots = min_slots.max(1);
        self
    }

    /// Start a (new) session: listen for a discovery window before growing.
    pub fn join(&mut self, now: Instant) {
        self.joined_at = now;
        self.self_heard = now;
    }

    /// The presence session is lost: hold nothing, forget everyone, and join again (with
    /// the same start time, so its rank is kept: the peers may not have stopped counting it,
    /// and a new rank would move theirs while its last calls are in the sliding second).
    pub fn reset(&mut self) {
        self.applied = Share::ZERO;
        self.peers.clear();
        self.view = vec![self.id.clone()];
    }

    /// The next heartbeat this replica sends.
    pub fn beat(&mut self, leaving: bool, now: Instant) -> Beat {
        self.seq += 1;
        Beat {
            v: 1,
            id: self.id.clone(),
            started_ms: self.started_ms,
            seq: self.seq,
            rate: self.domain.rate_milli / MILLI,
            rate_milli: Some(self.domain.rate_milli),
            conc: self.domain.concurrency,
            view: self.view.clone(),
            settled: self.settled,
            stable_ms: now.duration_since(self.stable_since).as_millis() as u64,
            share_conc: self.applied.concurrency,
            share_rate: self.applied.rate_milli / MILLI,
            share_rate_milli: Some(self.applied.rate_milli),
            leaving,
            rate_by_slots: true,
            min_slots: self.min_slots,
        }
    }

    /// Record a heartbeat: a peer's, or this replica's own come back through the exchange.
    /// Returns whether it is news (a new or departed peer).
    pub fn receive(&mut self, beat: Beat, now: Instant) -> bool {
        if beat.v != 1 {
            return false;
        }
        if beat.id == self.id {
            self.self_heard = now;
            return false;
        }
        if beat.leaving {
            let known = self.peers.remove(&beat.id).is_some();
            if known {
                tracing::info!(replica = %beat.id, "OCR quota: replica left");
            }
            // Known or not (it may have beaten last before this replica joined), its last
            // calls are in the domain's sliding second.
            self.departed_at = Some(now);
            return known;
        }
        let domain = Share {
            concurrency: beat.conc,
            rate_milli: beat
                .rate_milli
                .unwrap_or_else(|| beat.rate.saturating_mul(MILLI)),
        };
        if domain != self.domain && !self.warned_domain {
            self.warned_domain = true;
            tracing::warn!(
                replica = %beat.id,
                peer_rate = domain.rate_per_sec(),
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
            rate_by_slots: beat.rate_by_slots,
            min_slots: beat.min_slots.max(1),
        };
        let new = self.peers.insert(beat.id.clone(), peer).is_none();
        if new {
            tracing::info!(replica = %beat.id, "OCR quota: replica joined");
        }
        new
    }

    /// Recompute the view and the share at `now`, with `held` calls in flight; shrinks apply
    /// at once, growth only when safe. The caller applies [`Evaluation::share`].
    pub fn evaluate(&mut self, now: Instant, held: u32, timing: Timing) -> Evaluation {
        let had_peers = !self.peers.is_empty();
        let mut departed = self.departed_at;
        self.peers.retain(|id, p| {
            let alive = now.duration_since(p.last_seen) <= timing.expiry;
            if !alive {
                tracing::info!(replica = %id, "OCR quota: replica silent; no longer counted");
                // If it crashed, it may have made calls until its next beat was due: beats
                // go out on a tick of a fifth of a period, so up to 1.2 periods apart.
                let last_call = p.last_seen + timing.expiry * 6 / (5 * EXPIRY_PERIODS);
                departed = Some(departed.map_or(last_call, |d| d.max(last_call)));
            }
            alive
        });
        self.departed_at = departed;
        // Silence is evidence only while this replica hears itself. Not hearing its own beat,
        // or every peer falling silent at once (a half-open connection, a partition, a freeze
        // whose queued beats are not read yet), means it cannot tell who is there: it holds
        // nothing and listens a discovery window again, instead of taking the whole domain
        // while the others split it without it.
        let deaf = now.duration_since(self.self_heard) > timing.expiry;
        let lost_everyone = had_peers && self.peers.is_empty();
        if deaf || lost_everyone {
            if self.applied != Share::ZERO {
                tracing::warn!(
                    replica = %self.id,
                    deaf,
                    lost_everyone,
                    "OCR quota: lost contact with the presence exchange; share 0 until it is heard again"
                );
            }
            self.joined_at = now;
        }
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
            .fold(self.domain, |d, p| d.min(p.domain));
        // The smallest setting in the view decides: like the domain's limits above, a
        // function of the view, so the split still adds up to the domain exactly.
        let min_slots = self
            .peers
            .values()
            .map(|p| p.min_slots)
            .fold(self.min_slots, u32::min);
        if min_slots != self.min_slots && !self.warned_min_slots {
            self.warned_min_slots = true;
            tracing::warn!(
                replica = %self.id,
                own = self.min_slots,
                used = min_slots,
                "OCR quota: replicas are configured with different OCR_MIN_SLOTS_PER_REPLICA; using the smallest"
            );
        }
        let mut target = placement(domain, n, rank, min_slots);
        if !self.peers.values().all(|p| p.rate_by_slots) {
            // An older peer splits the rate evenly (what `split_rate` does without slots).
            target.rate_milli = target
                .rate_milli
                .min(split_rate(domain.rate_milli, 0, n, rank));
        }
        let mut next = self.applied.min(target);
        let view_changed = view != self.view;
        self.view = view;
        if deaf || lost_everyone {
            next = Share::ZERO;
        } else if next != target && self.may_grow(now, timing.discovery) {
            next = target;
        }
        // A departure counts as instability too, so the beats carry it: a peer that never
        // knew the departed replica (a newcomer) does not grow into its share either.
        if let Some(d) = self.departed_at
            && d > self.stable_since
        {
            self.stable_since = d.min(now);
        }
        let shrank = next.concurrency < self.applied.concurrency
            || next.rate_milli < self.applied.rate_milli;
        let share_changed = next != self.applied;
        self.applied = next;
        let settled = held <= self.applied.concurrency;
        if shrank || !settled {
            self.stable_since = now;
        }
        let settled_changed = settled != self.settled;
        self.settled = settled;
        Evaluation {
            share: next,
            target,
            replicas: n,
            rank,
            active: active_replicas(domain, n, min_slots),
            changed: view_changed || share_changed || settled_changed,
        }
    }

    /// Growth is safe when we have listened long enough and every other replica we count
    /// sees the same set, is settled, and has been stable for a rate window.
    fn may_grow(&self, now: Instant, discovery: Duration) -> bool {
        if now.duration_since(self.joined_at) < discovery {
            return false;
        }
        if self
            .departed_at
            .is_some_and(|d| now.saturating_duration_since(d) < SETTLE)
        {
            return false;
        }
        self.peers.values().all(|p| {
            p.view == self.view && p.settled && now.duration_since(p.stable_since) >= SETTLE
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOMAIN: Share = Share {
        concurrency: 8,
        rate_milli: 40_000,
    };

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

    /// Issue 12, defect 3: fractional rates split exactly, and the replica a rate leaves
    /// without a share is the one that takes no deliveries. Issue 15: in proportion to the
    /// slots each replica has, and nothing for a replica without a slot.
    #[test]
    fn fractional_rates_split_exactly_in_proportion_to_slots() {
        for total in [1u32, 400, 999, 1000, 2000, 2500, 40_000, 40_500, 41_001] {
            for slots in [0u32, 1, 2, 3, 8, 13] {
                for n in 1u32..=10 {
                    let shares: Vec<u32> = (0..n).map(|r| split_rate(total, slots, n, r)).collect();
                    let case = format!("{total} with {slots} slots over {n}: {shares:?}");
                    assert_eq!(shares.iter().sum::<u32>(), total, "{case}");
                    // At most one fractional call among them: the whole calls per sliding
                    // second add up to at most the rate rounded up.
                    let fractional = shares.iter().filter(|s| *s % MILLI != 0).count();
                    assert!(fractional <= 1, "{case}");
                    let ceil: u32 = shares.iter().map(|s| s.div_ceil(MILLI)).sum();
                    assert_eq!(ceil, total.div_ceil(MILLI), "{case}");
                    for (r, share) in (0..n).zip(&shares) {
                        // Within one call (plus the fraction) of the exact proportion.
                        let w = if slots == 0 { 1 } else { split(slots, n, r) };
                        let weights = if slots == 0 { n } else { slots };
                        let exact = f64::from(total / MILLI) * f64::from(w) / f64::from(weights);
                        let whole = f64::from(share / MILLI);
                        assert!((whole - exact).abs() < 1.0, "{case}: rank {r}");
                        if w == 0 {
                            assert_eq!(*share, 0, "{case}: rank {r} has no slot");
                        }
                    }
                }
            }
        }
        let of = |total, n| {
            (0..n)
                .map(|r| split_rate(total, 8, n, r))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            of(40_000, 3),
            vec![15_000, 15_000, 10_000],
            "3 + 3 + 2 slots, each loaded alike"
        );
        assert_eq!(
            of(40_000, 6),
            vec![10_000, 10_000, 5_000, 5_000, 5_000, 5_000],
            "2 + 2 + 1 + 1 + 1 + 1 slots"
        );
        assert_eq!(of(40_000, 4), vec![10_000; 4], "even slots, even rates");
        assert_eq!(of(2_000, 3), vec![1_000, 1_000, 0]);
        assert_eq!(of(2_500, 3), vec![1_000, 1_000, 500]);
        assert_eq!(of(2_500, 2), vec![1_500, 1_000]);
        assert_eq!(of(500, 2), vec![500, 0]);
        assert_eq!(
            (0..3)
                .map(|r| split_rate(40_000, 2, 3, r))
                .collect::<Vec<_>>(),
            vec![20_000, 20_000, 0],
            "the replica without a slot gets no rate either"
        );
        let usable = |total, n, conc| {
            (0..n)
                .filter(|&r| {
                    Share {
                        concurrency: split(conc, n, r),
                        rate_milli: split_rate(total, conc, n, r),
                    }
                    .is_usable()
                })
                .count()
        };
        assert_eq!(usable(2_000, 3, 8), 2, "2 calls/s over 3: one idle replica");
        assert_eq!(usable(2_500, 3, 8), 3);
        assert_eq!(usable(40_000, 3, 2), 2, "2 slots over 3: one idle replica");
    }

    #[test]
    fn beats_carry_millicalls_and_old_beats_still_read() {
        let now = Instant::now();
        let domain = Share {
            concurrency: 2,
            rate_milli: 2_500,
        };
        let mut s = Membership::new("m".into(), 100, domain, Share::ZERO, now);
        let b = s.beat(false, now);
        assert_eq!((b.rate, b.rate_milli), (2, Some(2_500)));
        let json = serde_json::to_value(&b).unwrap();
        assert_eq!(json["rate_milli"], 2_500);
        // A beat from a replica that predates millicalls: its whole rate counts.
        let mut old = serde_json::to_value(beat("z", 200, &["m", "z"])).unwrap();
        old.as_object_mut().unwrap().remove("rate_milli");
        old.as_object_mut().unwrap().remove("rate_by_slots");
        old["rate"] = serde_json::json!(2);
        let old: Beat = serde_json::from_value(old).unwrap();
        assert!(
            !old.rate_by_slots,
            "an older replica splits the rate evenly"
        );
        s.receive(old, now);
        let e = s.evaluate(now, 0, TIMING);
        assert_eq!(
            e.target.rate_milli, 1_000,
            "the smaller domain (2/s) over 2 ranks"
        );
    }

    #[test]
    fn discovery_is_one_and_a_half_periods() {
        let t = Timing::for_period(Duration::from_millis(500));
        assert_eq!(t.discovery, Duration::from_millis(750));
        assert_eq!(t.expiry, Duration::from_millis(1500));
    }

    fn beat(id: &str, started_ms: u64, view: &[&str]) -> Beat {
        Beat {
            v: 1,
            id: id.into(),
            started_ms,
            seq: 1,
            rate: 40,
            rate_milli: None,
            conc: 8,
            view: view.iter().map(|s| s.to_string()).collect(),
            settled: true,
            stable_ms: 10_000,
            share_conc: 0,
            share_rate: 0,
            share_rate_milli: None,
            leaving: false,
            rate_by_slots: true,
            min_slots: 1,
        }
    }

    const TIMING: Timing = Timing {
        expiry: Duration::from_millis(1500),
        discovery: Duration::from_millis(750),
    };

    /// This replica's own beat, come back through the exchange.
    fn hear_self(s: &mut Membership, now: Instant) {
        let b = s.beat(false, now);
        s.receive(b, now);
    }

    #[test]
    fn shrinks_at_once_and_grows_only_on_agreement() {
        let mut now = Instant::now();
        let mut s = Membership::new("m".into(), 100, DOMAIN, DOMAIN, now);
        // Alone, after discovery: the whole domain.
        now += TIMING.discovery;
        s.evaluate(now, 0, TIMING);
        assert_eq!(s.applied, DOMAIN);
        // A newer replica appears: shrink at once to rank 0 of 2.
        s.receive(beat("z", 200, &["z"]), now);
        let e = s.evaluate(now, 0, TIMING);
        assert_eq!(
            e.share,
            Share {
                concurrency: 4,
                rate_milli: 20_000
            }
        );
        assert!(e.changed);
        assert_eq!(s.view, vec!["m".to_string(), "z".to_string()]);
        // It leaves: growth waits for nobody else, but for its last calls to leave the
        // domain's sliding second; then back to the whole domain.
        let mut b = beat("z", 200, &["m", "z"]);
        b.leaving = true;
        s.receive(b, now);
        s.evaluate(now, 0, TIMING);
        assert_eq!(s.applied.concurrency, 4, "not at once after a leave");
        now += SETTLE;
        hear_self(&mut s, now);
        s.evaluate(now, 0, TIMING);
        assert_eq!(s.applied, DOMAIN);
        // An older replica appears: we become rank 1 and shrink; we may not grow back while
        // it disagrees on the view.
        s.receive(beat("a", 50, &["a"]), now);
        s.evaluate(now, 0, TIMING);
        assert_eq!(s.applied.rate_milli, 20_000);
        // It crashes: silent past the expiry, while we keep hearing ourselves. It was our only
        // peer, so losing it is losing every peer at once: we hold nothing, listen a
        // discovery window, and only then take the whole domain.
        now += Duration::from_millis(1000);
        hear_self(&mut s, now);
        s.evaluate(now, 0, TIMING);
        assert_eq!(s.applied.rate_milli, 20_000);
        now += Duration::from_millis(600);
        hear_self(&mut s, now);
        s.evaluate(now, 0, TIMING);
        assert_eq!(s.applied, Share::ZERO, "every peer silent at once");
        now += TIMING.discovery;
        hear_self(&mut s, now);
        s.evaluate(now, 0, TIMING);
        assert_eq!(s.applied, DOMAIN);
    }

    /// Issue 12, defect 2: a replica whose presence connection stops delivering (half-open
    /// TCP, a partition, a freeze) sees its peers time out. Before, it then took the whole
    /// domain while they split it without it.
    #[test]
    fn a_replica_that_hears_nobody_does_not_take_the_domain() {
        let mut now = Instant::now();
        let mut s = Membership::new("m".into(), 100, DOMAIN, Share::ZERO, now);
        s.receive(beat("a", 50, &["a", "m", "z"]), now);
        s.receive(beat("z", 200, &["a", "m", "z"]), now);
        hear_self(&mut s, now);
        now += TIMING.discovery + SETTLE;
        s.receive(beat("a", 50, &["a", "m", "z"]), now);
        s.receive(beat("z", 200, &["a", "m", "z"]), now);
        hear_self(&mut s, now);
        s.evaluate(now, 0, TIMING);
        assert_eq!(s.applied.concurrency, 3, "rank 1 of 3: 3 of 8 slots");
        assert_eq!(
            s.applied.rate_milli, 15_000,
            "and 15 of 40 calls/s, in proportion to its slots"
        );
        // Nothing arrives any more, not even our own beats.
        for _ in 0..20 {
            now += Duration::from_millis(250);
            let e = s.evaluate(now, 0, TIMING);
            assert!(
                e.share.concurrency <= 3 && e.share.rate_milli <= 15_000,
                "grew to {:?} while hearing nobody",
                e.share
            );
        }
        assert_eq!(s.applied, Share::ZERO);
    }

    /// During a rolling upgrade an older peer splits the rate evenly (14 + 13 + 13 of 40):
    /// this replica then takes the smaller of the two splits, so old and new never add up to
    /// more than the rate; with only new peers it takes its part in proportion to its slots.
    #[test]
    fn an_older_peer_means_the_smaller_split() {
        let settle = |z_is_old: bool| {
            let mut now = Instant::now();
            let mut s = Membership::new("m".into(), 100, DOMAIN, Share::ZERO, now);
            let z = Beat {
                rate_by_slots: !z_is_old,
                ..beat("z", 200, &["a", "m", "z"])
            };
            for round in 0..2 {
                if round > 0 {
                    now += TIMING.discovery + SETTLE;
                }
                s.receive(beat("a", 50, &["a", "m", "z"]), now);
                s.receive(z.clone(), now);
                hear_self(&mut s, now);
            }
            s.evaluate(now, 0, TIMING);
            s.applied
        };
        let new = settle(false);
        assert_eq!((new.concurrency, new.rate_milli), (3, 15_000));
        let mixed = settle(true);
        assert_eq!(
            (mixed.concurrency, mixed.rate_milli),
            (3, 13_000),
            "rank 1 of 3: min(15, 13)"
        );
    }

    #[test]
    fn not_hearing_itself_means_a_zero_share() {
        let mut now = Instant::now();
        let mut s = Membership::new("m".into(), 100, DOMAIN, DOMAIN, now);
        s.receive(beat("z", 200, &["m", "z"]), now);
        hear_self(&mut s, now);
        s.evaluate(now, 0, TIMING);
        assert_eq!(s.applied.concurrency, 4);
        // The peer's beats still arrive, ours do not come back: something is wrong with
        // our side of the exchange.
        for _ in 0..8 {
            now += Duration::from_millis(250);
            s.receive(beat("z", 200, &["m", "z"]), now);
            s.evaluate(now, 0, TIMING);
        }
        assert_eq!(s.applied, Share::ZERO);
        // Heard again: back after a discovery window.
        hear_self(&mut s, now);
        s.evaluate(now, 0, TIMING);
        assert_eq!(s.applied, Share::ZERO);
        for _ in 0..4 {
            now += Duration::from_millis(250);
            hear_self(&mut s, now);
            s.receive(beat("z", 200, &["m", "z"]), now);
            s.evaluate(now, 0, TIMING);
        }
        assert_eq!(s.applied.concurrency, 4);
    }

    #[test]
    fn a_newcomer_waits_for_peers_to_settle() {
        let mut now = Instant::now();
        let mut s = Membership::new("n".into(), 300, DOMAIN, Share::ZERO, now);
        s.receive(beat("a", 100, &["a"]), now);
        now += TIMING.discovery;
        hear_self(&mut s, now);
        s.evaluate(now, 0, TIMING);
        assert_eq!(s.applied.concurrency, 0, "peer does not count us yet");
        let mut b = beat("a", 100, &["a", "n"]);
        b.stable_ms = 0; // it just shrank
        s.receive(b.clone(), now);
        s.evaluate(now, 0, TIMING);
        assert_eq!(
            s.applied.concurrency, 0,
            "peer has not been stable for a rate window"
        );
        now += SETTLE;
        hear_self(&mut s, now);
        s.receive(
            Beat {
                stable_ms: SETTLE.as_millis() as u64,
                ..b
            },
            now,
        );
        s.evaluate(now, 0, TIMING);
        assert_eq!(
            s.applied,
            Share {
                concurrency: 4,
                rate_milli: 20_000
            }
        );
    }

    #[test]
    fn holding_more_than_the_share_is_unsettled() {
        let now = Instant::now();
        let mut s = Membership::new("m".into(), 100, DOMAIN, DOMAIN, now);
        let later = now + TIMING.discovery;
        s.evaluate(later, 0, TIMING);
        s.receive(beat("z", 200, &["m", "z"]), later);
        let e = s.evaluate(later, 8, TIMING);
        assert_eq!(e.share.concurrency, 4);
        let b = s.beat(false, later);
        assert!(!b.settled, "8 held over a share of 4");
        assert_eq!(b.stable_ms, 0);
    }

    #[test]
    fn a_reset_drops_to_zero_and_forgets() {
        let now = Instant::now();
        let mut s = Membership::new("m".into(), 100, DOMAIN, DOMAIN, now);
        s.receive(beat("z", 200, &["m", "z"]), now);
        s.evaluate(now, 0, TIMING);
        s.reset();
        assert_eq!(s.applied, Share::ZERO);
        assert_eq!(s.view, vec!["m".to_string()]);
        assert_eq!(s.started_ms, 100, "its rank is kept");
    }

    #[test]
    fn a_minimum_of_slots_concentrates_the_domain_on_the_oldest() {
        let all = |n: u32, k: u32| -> Vec<(u32, u32)> {
            (0..n)
                .map(|r| {
                    let p = placement(DOMAIN, n, r, k);
                    (p.concurrency, p.rate_milli)
                })
                .collect()
        };
        assert_eq!(all(3, 8), [(8, 40_000), (0, 0), (0, 0)]);
        assert_eq!(all(3, 4), [(4, 20_000), (4, 20_000), (0, 0)]);
        // 8 ÷ 3 is 2 pools of at least 3 slots: 4 + 4.
        assert_eq!(all(3, 3), [(4, 20_000), (4, 20_000), (0, 0)]);
        assert_eq!(all(6, 8)[0], (8, 40_000));
        assert_eq!(
            all(1, 20),
            [(8, 40_000)],
            "more than the domain: one replica"
        );
        assert_eq!(all(2, 0), all(2, 1), "0 is read as 1");
        for n in 1..=9 {
            let even: Vec<(u32, u32)> = (0..n)
                .map(|r| (split(8, n, r), split_rate(40_000, 8, n, r)))
                .collect();
            assert_eq!(
                all(n, 1),
                even,
                "min_slots 1 is the split over every replica"
            );
        }
    }

    #[test]
    fn the_split_adds_up_to_the_domain_for_every_minimum() {
        for n in 1..=7u32 {
            for conc in 1..=12u32 {
                for rate_milli in [500, 2_500, 7_000, 40_000] {
                    let domain = Share {
                        concurrency: conc,
                        rate_milli,
                    };
                    for k in [1, 2, 3, 4, 8, 13] {
                        let shares: Vec<Share> =
                            (0..n).map(|r| placement(domain, n, r, k)).collect();
                        let slots: u32 = shares.iter().map(|s| s.concurrency).sum();
                        let rate: u32 = shares.iter().map(|s| s.rate_milli).sum();
                        let case = format!("n {n}, {conc} slots, {rate_milli} mcalls/s, k {k}");
                        assert_eq!((slots, rate), (conc, rate_milli), "{case}");
                        let active = active_replicas(domain, n, k);
                        assert!(
                            shares
                                .iter()
                                .take(active as usize)
                                .all(|s| s.concurrency > 0),
                            "{case}"
                        );
                        assert!(
                            shares
                                .iter()
                                .skip(active as usize)
                                .all(|s| *s == Share::ZERO),
                            "{case}"
                        );
                    }
                }
            }
        }
    }

    /// Two replicas, this one ("m") the younger, with their own settings of `min_slots`;
    /// the share "m" settles on.
    fn settled_share(peer_min: u32, own_min: u32) -> (u32, u32) {
        let mut now = Instant::now();
        let mut s =
            Membership::new("m".into(), 100, DOMAIN, Share::ZERO, now).with_min_slots(own_min);
        let a = Beat {
            min_slots: peer_min,
            ..beat("a", 50, &["a", "m"])
        };
        for round in 0..2 {
            if round > 0 {
                now += TIMING.discovery + SETTLE;
            }
            s.receive(a.clone(), now);
            hear_self(&mut s, now);
        }
        s.evaluate(now, 0, TIMING);
        (s.applied.concurrency, s.applied.rate_milli)
    }

    #[test]
    fn the_smallest_setting_in_the_view_decides() {
        assert_eq!(settled_share(1, 1), (4, 20_000));
        assert_eq!(settled_share(8, 8), (0, 0), "the older one holds all 8");
        assert_eq!(settled_share(8, 1), (4, 20_000), "its own 1 decides");
        assert_eq!(settled_share(1, 8), (4, 20_000), "the peer's 1 decides");
        assert_eq!(settled_share(4, 8), (4, 20_000), "4 of 8: two pools");
        // A beat from a release without the field reads as 1.
        let old: Beat = serde_json::from_str(
            r#"{"v":1,"id":"a","started_ms":50,"seq":1,"rate":40,"conc":8,"view":["a","m"],
                "settled":true,"stable_ms":10000,"share_conc":4,"share_rate":20,"leaving":false}"#,
        )
        .unwrap();
        assert_eq!(old.min_slots, 1);
    }

    #[test]
    fn nobody_grows_into_a_departed_share_for_a_settle() {
        // "m" and "z" stand by behind "a", which holds all 8 slots; "a" leaves (first case)
        // or falls silent (second). "m", next in rank, takes the domain only once a's last
        // calls have left the domain's sliding second.
        for silent in [false, true] {
            let mut now = Instant::now();
            let mut s =
                Membership::new("m".into(), 100, DOMAIN, Share::ZERO, now).with_min_slots(8);
            let a = Beat {
                min_slots: 8,
                ..beat("a", 50, &["a", "m", "z"])
            };
            let z = |view: &[&str]| Beat {
                min_slots: 8,
                ..beat("z", 200, view)
            };
            for round in 0..2 {
                if round > 0 {
                    now += TIMING.discovery + SETTLE;
                }
                s.receive(a.clone(), now);
                s.receive(z(&["a", "m", "z"]), now);
                hear_self(&mut s, now);
            }
            assert_eq!(s.evaluate(now, 0, TIMING).share, Share::ZERO);
            let last_seen = now;
            let departed = if silent {
                // Silent: it may have called until its next beat was due (1.2 periods).
                now += TIMING.expiry + Duration::from_millis(1);
                last_seen + TIMING.expiry * 6 / (5 * EXPIRY_PERIODS)
            } else {
                now += Duration::from_millis(10);
                s.receive(
                    Beat {
                        leaving: true,
                        ..a.clone()
                    },
                    now,
                );
                now
            };
            let beats = |s: &mut Membership, now: Instant| {
                s.receive(z(&["m", "z"]), now);
                hear_self(s, now);
                s.evaluate(now, 0, TIMING)
            };
            let e = beats(&mut s, now);
            assert_eq!(e.target, DOMAIN, "silent {silent}");
            assert_eq!(
                (e.replicas, e.active),
                (2, 1),
                "the bulk floor is dealt over 1"
            );
            assert_eq!(e.share, Share::ZERO, "not at once (silent {silent})");
            // The departure goes out in its beats, so a newcomer that never heard "a" waits
            // as well.
            let stable_ms = s.beat(false, now).stable_ms;
            assert!(
                u128::from(stable_ms) < SETTLE.as_millis(),
                "stable for {stable_ms} ms (silent {silent})"
            );
            let e = beats(&mut s, departed + SETTLE - Duration::from_millis(1));
            assert_eq!(e.share, Share::ZERO, "silent {silent}");
            let e = beats(&mut s, departed + SETTLE);
            assert_eq!(e.share, DOMAIN, "silent {silent}");
        }
    }
}
