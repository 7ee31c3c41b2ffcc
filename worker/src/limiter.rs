//! The OCR quota guard of one process.
//!
//! Two limits, both a *share* of the domain's limits (see [`crate::presence`], which sets the
//! share from the replicas it hears; without it a process has the whole domain):
//!
//! - **Calls per second**, two rules a call must pass, in this order:
//!   - a `governor` GCRA pacer at the share's rate (in millicalls per second, so fractional
//!     rates and shares below one call per second work: the pacer is built from a period,
//!     `Quota::with_period`), minus a small safety margin. Each call weighs `k` fine cells
//!     (about [`RATE_TOLERANCE`] each). A whole share has a burst of up to one second's
//!     calls (the window binds), a fractional one a burst of one call, which keeps the
//!     average at the fraction; a new pacer starts with no credit.
//!   - a sliding window: at most the share rounded up in any [`RATE_WINDOW`] (the domain's
//!     sliding second, plus the margin), counted over every call this process started,
//!     across changes of share, at the moment it starts (after any pause). This is the rule
//!     the domain enforces, so the replicas' shares add up to at most the domain's rate in
//!     any sliding second. Unlike pacing one call per period, it does not throw away the
//!     time a call could not start because every slot was busy: a slow call is caught up
//!     within the window (issue 15; docs/quota.md has the numbers).
//!
//!   Waiters of both wake with a little jitter so they do not stampede.
//! - **Simultaneous calls**: a semaphore whose permits in circulation follow
//!   `min(share, aimd)`; extra permits are retired as calls end.
//! - **Lanes** ([`Lane`]): who takes a slot that frees. Each lane queues its callers FIFO
//!   behind one head; the two heads arbitrate every freed slot: a waiting priority caller
//!   takes it, unless bulk holds fewer slots than its floor (its part of `OCR_BULK_MIN_SHARE`
//!   of the domain's slots, dealt out by rank: [`ocr_common::lane::bulk_floor_slots`]). With
//!   no priority caller waiting, bulk takes every slot. The pacer is not lane-aware: a
//!   priority caller that has its slot waits at most for the callers already pacing, which
//!   are at most the slots held.
//!
//! On top of the share, an AIMD loop reacts to the domain's answers: a 0025/429 halves the
//! concurrency and cuts the rate by a quarter (once per round trip) and honours any
//! Retry-After as a pause; successes win them back gradually (one slot per `limit` successes,
//! one eighth of the rate per four successes, counting only calls started after the last
//! cut). A period-quota answer (0023) pauses all calls.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Jitter, Quota, RateLimiter};
use ocr_common::lane::Lane;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;

use crate::image_gate::{ImageGate, ImageHold, images_for_share};

/// How early (relative to its ideal slot) the pacer lets a call go, absorbing timer lateness.
pub const RATE_TOLERANCE: Duration = Duration::from_millis(2);
/// Fraction of the share's rate left unused, so that tolerance and network delay never put
/// one call too many in a sliding second.
pub const RATE_MARGIN: f64 = 0.008;
/// The window over which a process keeps to its share: the domain's sliding second, longer by
/// [`RATE_MARGIN`] (8 ms): up to [`RATE_TOLERANCE`] of it absorbs timer lateness, the rest
/// covers calls whose network delays differ, so neither puts one call too many into one of
/// the domain's seconds.
pub const RATE_WINDOW: Duration = Duration::from_millis(1008);
/// Granularity of the adaptive rate factor (the rate is `share × steps / RATE_STEPS`).
pub const RATE_STEPS: u32 = 8;
/// Random extra wait of a pacer waiter, so waiters do not all wake at once.
const RATE_JITTER: Duration = Duration::from_micros(500);
/// Successes that win back one step of the rate factor.
const RATE_STEP_SUCCESSES: u32 = 4;
/// AIMD ceiling meaning "not backing off".
const NO_BACKOFF: u32 = u32::MAX;

/// Millicalls in one call: rates are kept as whole millicalls per second.
pub const MILLI: u32 = 1000;

/// This process's share of the domain's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// Simultaneous calls.
    pub concurrency: u32,
    /// Calls per second, in millicalls (2.5 calls/s is 2500).
    pub rate_milli: u32,
}

impl Share {
    /// No calls at all: a replica that has not joined, or has lost its presence session.
    pub const ZERO: Share = Share {
        concurrency: 0,
        rate_milli: 0,
    };

    /// Each limit the smaller of the two.
    pub fn min(self, other: Share) -> Share {
        Share {
            concurrency: self.concurrency.min(other.concurrency),
            rate_milli: self.rate_milli.min(other.rate_milli),
        }
    }

    /// Calls per second.
    pub fn rate_per_sec(self) -> f64 {
        f64::from(self.rate_milli) / f64::from(MILLI)
    }

    /// Whether a call can ever start under this share: at least one slot and a rate above
    /// zero. A replica without a usable share takes no deliveries (it cancels its consumer):
    /// they would only wait.
    pub fn is_usable(self) -> bool {
        self.concurrency > 0 && self.rate_milli > 0
    }
}

/// A rate in calls per second as whole millicalls (at least one).
pub fn rate_to_milli(rate_per_sec: f64) -> u32 {
    (rate_per_sec * f64::from(MILLI))
        .round()
        .clamp(1.0, f64::from(u32::MAX)) as u32
}

/// Counters for reporting quota use (monotonic since start).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimiterCounters {
    /// Permits granted (calls started).
    pub calls: u64,
    /// Quota refusals reported through [`OcrLimiter::on_rate_limited`].
    pub throttled: u64,
    /// Total time callers waited for a permit, microseconds.
    pub waited_us: u64,
}

/// What [`OcrLimiter::enter_window`] found.
enum Window {
    /// The call is counted: it may start now.
    Entered,
    /// The pacer was replaced: pass the new one first.
    PacerChanged,
    /// The window is full until then.
    FullUntil(Instant),
}

struct Pacer {
    limiter: DefaultDirectRateLimiter,
    cells: NonZeroU32,
    /// Calls per second this pacer lets through.
    rate: f64,
    /// Calls allowed in any [`RATE_WINDOW`].
    window_cap: usize,
}

impl Pacer {
    /// A pacer for `rate` calls per second on average and `window_cap` in any window, primed
    /// with no credit (the previous pacer, if any, may just have spent its own). `whole`:
    /// the share is a whole number of calls per second, so a burst of up to a second's
    /// calls is safe under the window; a fractional share keeps a burst of one call, so that
    /// e.g. 2.5 calls/s stays 5 calls in any 2 s.
    fn new(rate: f64, window_cap: usize, whole: bool) -> Pacer {
        let period = Duration::from_secs_f64(1.0 / rate);
        let k = (period.as_secs_f64() / RATE_TOLERANCE.as_secs_f64())
            .round()
            .clamp(1.0, 10_000.0) as u32;
        let cell = (period / k).max(Duration::from_nanos(1));
        let cells = NonZeroU32::new(k).expect("k >= 1");
        // Up to one second's whole calls of credit (the window caps what a burst may spend),
        // plus one cell of tolerance for timer lateness.
        let burst_calls = if whole {
            (rate.floor() as u32).clamp(1, 100_000)
        } else {
            1
        };
        let burst =
            NonZeroU32::new(k.saturating_mul(burst_calls).saturating_add(1)).expect("burst >= 1");
        let quota = Quota::with_period(cell)
            .expect("cell period is non-zero")
            .allow_burst(burst);
        let limiter = RateLimiter::direct(quota);
        // Priming: no credit to start with; it builds up only while calls are late.
        let _ = limiter.check_n(burst);
        Pacer {
            limiter,
            cells,
            rate,
            window_cap,
        }
    }
}

struct Inner {
    share: Share,
    /// AIMD concurrency ceiling ([`NO_BACKOFF`] when not backing off).
    aimd: u32,
    /// AIMD rate factor, in `1..=RATE_STEPS`.
    rate_steps: u32,
    /// Permits in circulation (held or available).
    capacity: u32,
    successes: u32,
    rate_successes: u32,
}

impl Inner {
    fn limit(&self) -> u32 {
        self.share.concurrency.min(self.aimd)
    }

    fn rate(&self) -> f64 {
        self.share.rate_per_sec() * f64::from(self.rate_steps) / f64::from(RATE_STEPS)
            * (1.0 - RATE_MARGIN)
    }

    /// The pacer for the share times the adaptive factor (none at rate 0). Its window cap is
    /// that rate rounded up (a whole share of 13 calls/s: 13; a fractional 2.5: 3), at least
    /// 1 since the rate is above 0.
    fn pacer(&self) -> Option<Pacer> {
        let rate = self.rate();
        let scaled = u64::from(self.share.rate_milli) * u64::from(self.rate_steps);
        let per_call = u64::from(MILLI) * u64::from(RATE_STEPS);
        let window_cap = scaled.div_ceil(per_call) as usize;
        let whole = scaled.is_multiple_of(per_call);
        (rate > 0.0).then(|| Pacer::new(rate, window_cap, whole))
    }
}

/// Per-lane slot accounting, under one lock: who waits, who holds, and bulk's floor.
#[derive(Debug, Default)]
struct LaneState {
    /// Fraction of the domain's slots bulk keeps while priority callers wait.
    bulk_min_share: f64,
    /// Callers waiting for a slot, per lane (the head and those queued behind it).
    waiting: [u32; 2],
    /// Slots held, per lane (calls in flight and callers pacing).
    holding: [u32; 2],
    /// Slots bulk may hold while priority callers wait.
    bulk_floor: u32,
    /// Replicas sharing the domain, and this one's rank (the floor is dealt out by rank).
    replicas: u32,
    rank: u32,
}

/// Guard of this process's OCR calls.
pub struct OcrLimiter {
    domain: Share,
    lanes: Mutex<LaneState>,
    /// Woken whenever a slot frees, permits are added, the floor changes, or a lane stops
    /// waiting: the lane heads look again.
    lane_changed: Notify,
    /// One head per lane arbitrates; the lane's other callers queue FIFO behind it.
    lane_heads: [tokio::sync::Mutex<()>; 2],
    inner: Mutex<Inner>,
    slots: Arc<Semaphore>,
    /// Fetched images held by bulk jobs, bounded by the share ([`crate::image_gate`]).
    images: Arc<ImageGate>,
    pacer: RwLock<Option<Arc<Pacer>>>,
    /// Start times of the calls of the last [`RATE_WINDOW`], oldest first, kept across
    /// pacers so a change of share never starts a window afresh.
    starts: Mutex<std::collections::VecDeque<Instant>>,
    /// Bumped on every change of share or pacer; waiters re-check on it.
    generation: watch::Sender<u64>,
    /// Time (ms since `epoch`) before which no call may start.
    paused_until_ms: AtomicU64,
    /// Time (ms since `epoch`) of the last multiplicative decrease.
    last_decrease_ms: AtomicU64,
    /// Start time (ms since `epoch`) of the call whose permit was dropped last.
    last_finished_start_ms: AtomicU64,
    epoch: Instant,
    calls: AtomicU64,
    throttled: AtomicU64,
    waited_us: AtomicU64,
    in_flight: AtomicU32,
}

/// A slot held by one lane's caller; returned (or retired, after a decrease) on drop, and
/// the lane heads are told.
struct SlotHold {
    permit: Option<OwnedSemaphorePermit>,
    lane: Lane,
    limiter: Arc<OcrLimiter>,
}

impl Drop for SlotHold {
    fn drop(&mut self) {
        let Some(p) = self.permit.take() else {
            return;
        };
        let l = &self.limiter;
        // The lane stops holding it before the slot is free: a head that sees the free slot
        // also sees bulk's holding without it (or bulk could lose a turn it is owed).
        {
            let mut lanes = l.lanes();
            let held = &mut lanes.holding[self.lane.index()];
            *held = held.saturating_sub(1);
        }
        {
            let mut inner = l.lock();
            if inner.capacity > inner.limit() {
                inner.capacity -= 1;
                p.forget();
            } else {
                drop(p);
            }
        }
        l.lane_changed.notify_waiters();
    }
}

/// Counts a caller as waiting in its lane until it has a slot or gives up.
struct WaitingGuard<'a> {
    limiter: &'a OcrLimiter,
    lane: Lane,
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        let mut lanes = self.limiter.lanes();
        let w = &mut lanes.waiting[self.lane.index()];
        *w = w.saturating_sub(1);
        let none_left = *w == 0;
        drop(lanes);
        // The other lane may have been holding back for this one: bulk for waiting priority
        // callers, priority for a slot bulk was owed while it waited.
        if none_left {
            self.limiter.lane_changed.notify_waiters();
        }
    }
}

/// A slot for one OCR call; returned (or retired, after a decrease) on drop.
pub struct OcrPermit {
    slot: SlotHold,
    limiter: Arc<OcrLimiter>,
    /// When the call started (ms since the limiter's epoch).
    started_ms: u64,
    /// How long the caller waited for this permit.
    pub waited: Duration,
}

impl OcrPermit {
    /// The lane this call was made for.
    pub fn lane(&self) -> Lane {
        self.slot.lane
    }
}

impl Drop for OcrPermit {
    fn drop(&mut self) {
        let l = &self.limiter;
        l.in_flight.fetch_sub(1, Ordering::AcqRel);
        // The caller reports this call's answer right after dropping its permit.
        l.last_finished_start_ms
            .store(self.started_ms, Ordering::Release);
        // The slot itself is released when `self.slot` drops, right after this.
    }
}

impl OcrLimiter {
    /// A limiter for a domain of `rate_per_sec` calls per second (fractions allowed, kept to
    /// the millicall) and `max_concurrency` simultaneous calls, holding the whole domain as its
    /// share (until [`OcrLimiter::set_share`] says otherwise).
    pub fn new(rate_per_sec: f64, max_concurrency: u32) -> Arc<Self> {
        let domain = Share {
            concurrency: max_concurrency.max(1),
            rate_milli: rate_to_milli(rate_per_sec),
        };
        let inner = Inner {
            share: domain,
            aimd: NO_BACKOFF,
            rate_steps: RATE_STEPS,
            capacity: domain.concurrency,
            successes: 0,
            rate_successes: 0,
        };
        let pacer = inner.pacer();
        Arc::new(OcrLimiter {
            domain,
            lanes: Mutex::new(LaneState {
                replicas: 1,
                ..LaneState::default()
            }),
            lane_changed: Notify::new(),
            lane_heads: [tokio::sync::Mutex::new(()), tokio::sync::Mutex::new(())],
            slots: Arc::new(Semaphore::new(domain.concurrency as usize)),
            images: ImageGate::new(images_for_share(domain.concurrency)),
            inner: Mutex::new(inner),
            pacer: RwLock::new(pacer.map(Arc::new)),
            starts: Mutex::new(std::collections::VecDeque::new()),
            generation: watch::Sender::new(0),
            paused_until_ms: AtomicU64::new(0),
            last_decrease_ms: AtomicU64::new(0),
            last_finished_start_ms: AtomicU64::new(u64::MAX),
            epoch: Instant::now(),
            calls: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            waited_us: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
        })
    }

    /// Give bulk a floor of `min_share` of the domain's slots (0 to 1): while priority
    /// callers wait, bulk still takes slots up to its part of it.
    pub fn set_bulk_min_share(&self, min_share: f64) {
        self.lanes().bulk_min_share = min_share.clamp(0.0, 1.0);
        self.refresh_floor();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lanes(&self) -> std::sync::MutexGuard<'_, LaneState> {
        self.lanes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where this replica stands among those sharing the domain: its part of the bulk floor
    /// follows its rank (the floor is a share of the domain, dealt out from rank 0 over the
    /// `replicas` that get slots).
    pub fn set_placement(&self, replicas: u32, rank: u32) {
        let mut lanes = self.lanes();
        lanes.replicas = replicas.max(1);
        lanes.rank = rank;
        drop(lanes);
        self.refresh_floor();
    }

    /// Recompute this replica's floor: its rank's part, and (below a whole-domain floor)
    /// never more than the current limit less one, so while AIMD backs off a priority caller
    /// still gets a slot.
    fn refresh_floor(&self) {
        let (share, limit) = {
            let inner = self.lock();
            (inner.share.concurrency, inner.limit())
        };
        let mut lanes = self.lanes();
        let mut floor = ocr_common::lane::bulk_floor_slots(
            lanes.bulk_min_share,
            self.domain.concurrency,
            lanes.replicas,
            lanes.rank,
            share,
        );
        if lanes.bulk_min_share < 1.0 {
            floor = floor.min(limit.saturating_sub(1));
        }
        let changed = floor != lanes.bulk_floor;
        lanes.bulk_floor = floor;
        drop(lanes);
        if changed {
            self.lane_changed.notify_waiters();
        }
    }

    /// Slots bulk keeps while priority callers wait (this replica's part of the floor).
    #[cfg(test)]
    fn bulk_floor(&self) -> u32 {
        self.lanes().bulk_floor
    }

    /// Callers of `lane` waiting for a slot now.
    #[cfg(test)]
    fn waiting(&self, lane: Lane) -> u32 {
        self.lanes().waiting[lane.index()]
    }

    /// Slots `lane` holds now (calls in flight and callers pacing).
    #[cfg(test)]
    fn holding(&self, lane: Lane) -> u32 {
        self.lanes().holding[lane.index()]
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The domain's limits this limiter was built for.
    pub fn domain(&self) -> Share {
        self.domain
    }

    /// This process's share of the domain (before AIMD).
    pub fn share(&self) -> Share {
        self.lock().share
    }

    /// Set this process's share (clamped to the domain). Shrinking takes effect at once for
    /// new calls (calls in flight finish; their slots are then retired); growing adds slots.
    pub fn set_share(&self, share: Share) {
        let share = Share {
            concurrency: share.concurrency.min(self.domain.concurrency),
            rate_milli: share.rate_milli.min(self.domain.rate_milli),
        };
        let mut inner = self.lock();
        if inner.share == share {
            return;
        }
        let rate_changed = inner.share.rate_milli != share.rate_milli;
        inner.share = share;
        self.images.set_limit(images_for_share(share.concurrency));
        if inner.aimd != NO_BACKOFF && inner.aimd >= share.concurrency {
            inner.aimd = NO_BACKOFF;
        }
        self.apply_capacity(&mut inner);
        if rate_changed {
            self.rebuild_pacer(&inner);
        }
        drop(inner);
        self.refresh_floor();
        self.generation.send_modify(|g| *g += 1);
    }

    /// Bring the permits in circulation towards the current limit.
    fn apply_capacity(&self, inner: &mut Inner) {
        let limit = inner.limit();
        if inner.capacity < limit {
            self.slots.add_permits((limit - inner.capacity) as usize);
            inner.capacity = limit;
            self.lane_changed.notify_waiters();
        }
        while inner.capacity > limit {
            match self.slots.try_acquire() {
                Ok(p) => {
                    p.forget();
                    inner.capacity -= 1;
                }
                // The rest are held: retired when their calls end.
                Err(_) => break,
            }
        }
    }

    fn rebuild_pacer(&self, inner: &Inner) {
        let pacer = inner.pacer().map(Arc::new);
        *self.pacer.write().unwrap_or_else(|e| e.into_inner()) = pacer;
    }

    /// A receiver that changes whenever the share or the pacing changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// [`OcrLimiter::acquire_in`] the bulk lane.
    pub async fn acquire(self: &Arc<Self>) -> OcrPermit {
        self.acquire_in(Lane::Bulk).await
    }

    /// Wait for a pause to end, a free slot for `lane` and a rate slot, in that order.
    pub async fn acquire_in(self: &Arc<Self>, lane: Lane) -> OcrPermit {
        let started = Instant::now();
        self.wait_pause().await;
        let slot = self.take_slot(lane).await;
        // Waits out a pause that begins meanwhile, then counts the call in the window.
        self.wait_rate().await;
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let waited = started.elapsed();
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.waited_us
            .fetch_add(waited.as_micros() as u64, Ordering::Relaxed);
        OcrPermit {
            slot,
            limiter: self.clone(),
            started_ms: self.now_ms().max(1),
            waited,
        }
    }

    /// Whether `lane` may take one of `free` slots now. Bulk: unless priority callers wait
    /// and bulk already holds its floor. Priority: unless the slot is one bulk needs to reach
    /// its floor while bulk callers wait.
    fn may_take(lanes: &LaneState, lane: Lane, free: u32) -> bool {
        let bulk_holding = lanes.holding[Lane::Bulk.index()];
        match lane {
            Lane::Priority => {
                let deficit = if lanes.waiting[Lane::Bulk.index()] > 0 {
                    lanes.bulk_floor.saturating_sub(bulk_holding)
                } else {
                    0
                };
                free > deficit
            }
            Lane::Bulk => {
                lanes.waiting[Lane::Priority.index()] == 0 || bulk_holding < lanes.bulk_floor
            }
        }
    }

    /// Wait for a slot `lane` may take. The lane's callers queue FIFO behind its head; the
    /// head looks again whenever [`OcrLimiter::lane_changed`] fires.
    async fn take_slot(self: &Arc<Self>, lane: Lane) -> SlotHold {
        self.lanes().waiting[lane.index()] += 1;
        let _waiting = WaitingGuard {
            limiter: self,
            lane,
        };
        let _head = self.lane_heads[lane.index()].lock().await;
        loop {
            // Registered before looking, so a change meanwhile is not missed.
            let changed = self.lane_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut lanes = self.lanes();
                let free = self.slots.available_permits() as u32;
                if Self::may_take(&lanes, lane, free)
                    && let Ok(permit) = self.slots.clone().try_acquire_owned()
                {
                    lanes.holding[lane.index()] += 1;
                    drop(lanes);
                    // Slots are still free: the other head may take one now (its answer may
                    // have changed with this take).
                    if self.slots.available_permits() > 0 {
                        self.lane_changed.notify_waiters();
                    }
                    return SlotHold {
                        permit: Some(permit),
                        lane,
                        limiter: self.clone(),
                    };
                }
            }
            changed.await;
        }
    }

    /// Pass the current pacer, then the sliding window; if the pacer changes meanwhile, start
    /// again on the new one (the old one's slot is no longer ours to use). A pause that begins
    /// meanwhile is waited out before the call enters the window, so the window counts a call
    /// when it really starts; nothing awaits after that.
    async fn wait_rate(&self) {
        let jitter = Jitter::up_to(RATE_JITTER);
        let mut changes = self.generation.subscribe();
        'pacer: loop {
            changes.mark_unchanged();
            let Some(p) = self.current_pacer() else {
                let _ = changes.changed().await;
                continue;
            };
            if p.limiter
                .until_n_ready_with_jitter(p.cells, jitter)
                .await
                .is_err()
            {
                // Cannot happen (burst > cells); fall back to one cell.
                p.limiter.until_ready_with_jitter(jitter).await;
            }
            // When the window said a place frees: a waiter woken a little late by the timer
            // is counted at that time, so timer lateness does not accumulate.
            let mut due = None;
            loop {
                if self.paused_remaining().is_some() {
                    self.wait_pause().await;
                    continue;
                }
                let until = match self.enter_window(&p, due) {
                    Window::Entered => return,
                    Window::PacerChanged => continue 'pacer,
                    Window::FullUntil(t) => t,
                };
                due = Some(until);
                // Waiters of one window wake a little apart, not all at once.
                let spread = rand::random_range(0..=RATE_JITTER.as_micros() as u64);
                tokio::select! {
                    _ = tokio::time::sleep_until(until + Duration::from_micros(spread)) => {}
                    _ = changes.changed() => {}
                }
            }
        }
    }

    fn current_pacer(&self) -> Option<Arc<Pacer>> {
        self.pacer.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Count a call starting now if `pacer` is still the current one and fewer than its cap
    /// started in the last [`RATE_WINDOW`]. Checked and counted under one lock, so
    /// concurrent callers never both take the last place.
    ///
    /// `due`: when this caller was told a place frees. If the timer woke it at most
    /// [`RATE_TOLERANCE`] after that, the call is counted at `due` (never before the newest
    /// start), as the GCRA pacer absorbs lateness: otherwise each late wake-up would push
    /// the next window back and the rate would fall by the timer's lateness (about 0.15 %
    /// with tokio's 1 ms timer). A call then starts at most 2 ms after the time it is
    /// counted at, so any cap + 1 calls still span more than 1.006 s.
    fn enter_window(&self, pacer: &Arc<Pacer>, due: Option<Instant>) -> Window {
        let mut starts = self.starts.lock().unwrap_or_else(|e| e.into_inner());
        if !self.current_pacer().is_some_and(|c| Arc::ptr_eq(&c, pacer)) {
            return Window::PacerChanged;
        }
        let now = Instant::now();
        let mut at = now;
        if let Some(due) = due
            && due <= now
            && now.duration_since(due) <= RATE_TOLERANCE
        {
            at = starts.back().map_or(due, |&newest| due.max(newest));
        }
        while starts
            .front()
            .is_some_and(|&t| at.duration_since(t) >= RATE_WINDOW)
        {
            starts.pop_front();
        }
        let cap = pacer.window_cap;
        if starts.len() < cap {
            starts.push_back(at);
            Window::Entered
        } else {
            Window::FullUntil(starts[starts.len() - cap] + RATE_WINDOW)
        }
    }

    async fn wait_pause(&self) {
        loop {
            let until = self.paused_until_ms.load(Ordering::Acquire);
            let now = self.now_ms();
            if until <= now {
                return;
            }
            tokio::time::sleep(Duration::from_millis(until - now)).await;
        }
    }

    /// Stop all calls for `d` (extends, never shortens, a pause in force).
    pub fn pause_for(&self, d: Duration) {
        let until = self.now_ms() + d.as_millis() as u64;
        self.paused_until_ms.fetch_max(until, Ordering::AcqRel);
    }

    /// Whether calls are paused right now.
    pub fn is_paused(&self) -> bool {
        self.paused_until_ms.load(Ordering::Acquire) > self.now_ms()
    }

    /// How much longer calls are paused, if they are.
    pub fn paused_remaining(&self) -> Option<std::time::Duration> {
        let left = self
            .paused_until_ms
            .load(Ordering::Acquire)
            .saturating_sub(self.now_ms());
        (left > 0).then(|| std::time::Duration::from_millis(left))
    }

    /// The domain said "too many" (0025 / 429): halve concurrency and cut the rate by a
    /// quarter (once per round trip: refusals of calls started before the last cut do not
    /// count again), and honour any Retry-After as a pause.
    pub fn on_rate_limited(&self, retry_after: Option<Duration>) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
        if let Some(d) = retry_after {
            self.pause_for(d);
        }
        // One cut per round trip: a refusal of a call that started before the last cut says
        // nothing about the cut limit.
        if self.started_before_last_decrease() {
            return;
        }
        self.last_decrease_ms
            .store(self.now_ms().max(1), Ordering::Release);
        let mut inner = self.lock();
        inner.aimd = (inner.limit() / 2).max(1);
        inner.successes = 0;
        inner.rate_successes = 0;
        let steps = (inner.rate_steps * 3 / 4).max(1);
        let rate_changed = steps != inner.rate_steps;
        inner.rate_steps = steps;
        self.apply_capacity(&mut inner);
        if rate_changed {
            self.rebuild_pacer(&inner);
        }
        let (limit, rate) = (inner.limit(), inner.rate());
        drop(inner);
        self.refresh_floor();
        self.generation.send_modify(|g| *g += 1);
        tracing::info!(
            concurrency = limit,
            rate_per_sec = rate,
            "OCR quota refusal: backing off"
        );
    }

    /// A call succeeded: win back one slot per `limit` successes and one rate step per
    /// four successes (of calls started after the last decrease).
    pub fn on_success(&self) {
        // Only calls started after the last cut tell how the cut limit fares.
        if self.started_before_last_decrease() {
            return;
        }
        let mut inner = self.lock();
        let mut changed = false;
        if inner.aimd != NO_BACKOFF {
            inner.successes += 1;
            if inner.successes >= inner.aimd {
                inner.successes = 0;
                inner.aimd += 1;
                if inner.aimd >= inner.share.concurrency {
                    inner.aimd = NO_BACKOFF;
                }
                self.apply_capacity(&mut inner);
                changed = true;
            }
        }
        if inner.rate_steps < RATE_STEPS {
            inner.rate_successes += 1;
            if inner.rate_successes >= RATE_STEP_SUCCESSES {
                inner.rate_successes = 0;
                inner.rate_steps += 1;
                self.rebuild_pacer(&inner);
                changed = true;
            }
        }
        drop(inner);
        if changed {
            self.refresh_floor();
            self.generation.send_modify(|g| *g += 1);
        }
    }

    fn started_before_last_decrease(&self) -> bool {
        let last = self.last_decrease_ms.load(Ordering::Acquire);
        let started = self.last_finished_start_ms.load(Ordering::Acquire);
        last != 0 && started != u64::MAX && started < last
    }

    /// Current concurrency limit: the share, or less while backing off.
    pub fn current_limit(&self) -> u32 {
        self.lock().limit()
    }

    /// Current paced rate, calls per second (share × adaptive factor × (1 − margin)).
    pub fn current_rate(&self) -> f64 {
        self.pacer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(0.0, |p| p.rate)
    }

    /// Whether AIMD is currently holding the limits below the share.
    pub fn is_backing_off(&self) -> bool {
        let inner = self.lock();
        inner.aimd != NO_BACKOFF || inner.rate_steps < RATE_STEPS
    }

    /// Calls in flight now (permits granted and not yet dropped).
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Slots taken now: calls in flight plus callers holding a slot while they wait for the
    /// rate.
    pub fn held(&self) -> u32 {
        let inner = self.lock();
        inner
            .capacity
            .saturating_sub(self.slots.available_permits() as u32)
    }

    /// Prefetch that keeps this process busy without hoarding: twice its concurrency share
    /// (at least 1; AMQP's 0 would mean "unlimited"). A share that is not
    /// [usable](Share::is_usable) takes no deliveries at all: see `consumer::gate`.
    pub fn prefetch_hint(&self) -> u16 {
        (self.share().concurrency.saturating_mul(2)).clamp(1, 256) as u16
    }

    /// Wait until this process holds fewer fetched images than its share allows
    /// ([`crate::image_gate`]); a bulk job holds the returned place from before it fetches
    /// its image until its OCR call is over.
    pub async fn hold_image(&self) -> ImageHold {
        self.images.hold().await
    }

    /// Whether this process's share lets any call start ([`Share::is_usable`]).
    pub fn has_usable_share(&self) -> bool {
        self.share().is_usable()
    }

    /// Monotonic counters for reporting.
    pub fn counters(&self) -> LimiterCounters {
        LimiterCounters {
            calls: self.calls.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            waited_us: self.waited_us.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn caps_concurrency_and_adapts() {
        let l = OcrLimiter::new(1000.0, 4);
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(l.acquire().await);
        }
        assert_eq!(l.in_flight(), 4);
        // A fifth waits.
        let l2 = l.clone();
        let fifth = tokio::spawn(async move { l2.acquire().await });
        tokio::task::yield_now().await;
        assert!(!fifth.is_finished());
        l.on_rate_limited(None);
        assert_eq!(l.current_limit(), 2);
        // Pretend the decrease was over a second ago.
        l.last_decrease_ms.store(0, Ordering::Release);
        assert!(l.is_backing_off());
        // Dropping permits retires them until capacity meets the target.
        held.clear();
        let _fifth = fifth.await.unwrap();
        assert!(l.in_flight() <= 2);
        // Successes grow it back by one per `limit` successes.
        for _ in 0..2 {
            l.on_success();
        }
        assert_eq!(l.current_limit(), 3);
    }

    /// The permit a spawned caller gets (the pacer runs on real time: wait for it).
    async fn granted(h: tokio::task::JoinHandle<OcrPermit>) -> OcrPermit {
        tokio::time::timeout(Duration::from_secs(5), h)
            .await
            .expect("the caller gets its slot")
            .expect("the caller does not panic")
    }

    /// Let every spawned task run until it parks.
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_freed_slot_goes_to_a_waiting_priority_caller_first() {
        let l = OcrLimiter::new(1000.0, 2);
        let mut held = vec![l.acquire().await, l.acquire().await];
        let spawn = |lane| {
            let l = l.clone();
            tokio::spawn(async move { l.acquire_in(lane).await })
        };
        // Bulk callers queued first, then one priority caller.
        let bulk: Vec<_> = (0..3).map(|_| spawn(Lane::Bulk)).collect();
        settle().await;
        let priority = spawn(Lane::Priority);
        settle().await;
        assert_eq!(l.waiting(Lane::Bulk), 3);
        assert_eq!(l.waiting(Lane::Priority), 1);
        held.pop();
        let mut bulk = bulk;
        let p = granted(priority).await;
        assert_eq!(
            p.lane(),
            Lane::Priority,
            "the priority caller took the freed slot"
        );
        settle().await;
        assert!(bulk.iter().all(|b| !b.is_finished()), "no bulk caller did");
        assert_eq!(l.holding(Lane::Priority), 1);
        // With no priority caller waiting, bulk takes the next one (FIFO within the lane).
        held.pop();
        let _b = granted(bulk.remove(0)).await;
        settle().await;
        assert!(!bulk[0].is_finished());
        assert_eq!(l.waiting(Lane::Priority), 0);
    }

    #[tokio::test]
    async fn bulk_keeps_its_floor_while_priority_waits() {
        // A floor of half the domain's 2 slots: 1 slot.
        let l = OcrLimiter::new(1000.0, 2);
        l.set_bulk_min_share(0.5);
        assert_eq!(l.bulk_floor(), 1);
        let mut held = vec![
            l.acquire_in(Lane::Priority).await,
            l.acquire_in(Lane::Priority).await,
        ];
        let spawn = |lane| {
            let l = l.clone();
            tokio::spawn(async move { l.acquire_in(lane).await })
        };
        let priority: Vec<_> = (0..3).map(|_| spawn(Lane::Priority)).collect();
        let bulk: Vec<_> = (0..2).map(|_| spawn(Lane::Bulk)).collect();
        settle().await;
        // Bulk holds nothing, below its floor: the freed slot is bulk's.
        let (mut priority, mut bulk) = (priority, bulk);
        held.pop();
        let _b = granted(bulk.remove(0)).await;
        settle().await;
        assert!(
            priority.iter().all(|p| !p.is_finished()),
            "bulk took the slot it is owed"
        );
        // Bulk holds its floor now: the next freed slot is priority's.
        held.pop();
        let _p = granted(priority.remove(0)).await;
        settle().await;
        assert!(!bulk[0].is_finished());
    }

    #[tokio::test]
    async fn backing_off_to_one_slot_still_lets_priority_through() {
        // A floor of 1 of 8 slots; three refusals cut the limit to 1.
        let l = OcrLimiter::new(1000.0, 8);
        l.set_bulk_min_share(0.10);
        assert_eq!(l.bulk_floor(), 1);
        for _ in 0..3 {
            l.last_decrease_ms.store(0, Ordering::Release);
            l.on_rate_limited(None);
        }
        assert_eq!(l.current_limit(), 1);
        assert_eq!(l.bulk_floor(), 0, "the one slot is not reserved for bulk");
        let held = l.acquire().await;
        let spawn = |lane| {
            let l = l.clone();
            tokio::spawn(async move { l.acquire_in(lane).await })
        };
        let bulk = spawn(Lane::Bulk);
        settle().await;
        let priority = spawn(Lane::Priority);
        settle().await;
        drop(held);
        let p = granted(priority).await;
        assert_eq!(p.lane(), Lane::Priority);
        assert!(!bulk.is_finished());
    }

    #[tokio::test]
    async fn the_floor_is_dealt_out_by_rank() {
        let l = OcrLimiter::new(1000.0, 8);
        l.set_bulk_min_share(0.10);
        assert_eq!(l.bulk_floor(), 1);
        l.set_share(Share {
            concurrency: 3,
            rate_milli: 1_000_000,
        });
        l.set_placement(3, 1);
        assert_eq!(
            l.bulk_floor(),
            0,
            "rank 1 of 3 holds none of a 1-slot floor"
        );
        l.set_placement(3, 0);
        assert_eq!(l.bulk_floor(), 1);
    }

    #[tokio::test]
    async fn pauses_hold_calls_back() {
        let l = OcrLimiter::new(1000.0, 2);
        l.pause_for(Duration::from_millis(300));
        assert!(l.is_paused());
        let start = Instant::now();
        let p = l.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(300));
        assert!(p.waited >= Duration::from_millis(300));
    }

    #[tokio::test]
    async fn a_zero_share_blocks_until_granted() {
        let l = OcrLimiter::new(100.0, 4);
        l.set_share(Share::ZERO);
        assert_eq!(l.current_limit(), 0);
        assert_eq!(l.current_rate(), 0.0);
        let l2 = l.clone();
        let waiter = tokio::spawn(async move { l2.acquire().await.waited });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished());
        l.set_share(Share {
            concurrency: 2,
            rate_milli: 50_000,
        });
        waiter.await.unwrap();
        assert_eq!(l.current_limit(), 2);
        assert_eq!(l.prefetch_hint(), 4);
    }

    #[tokio::test]
    async fn paces_within_the_share_in_any_second() {
        // 20 calls/s: 21 calls must span more than one second.
        let l = OcrLimiter::new(20.0, 4);
        let mut times = Vec::new();
        quick_calls(&l, 21, Instant::now(), &mut times).await;
        let span = times[20] - times[0];
        assert!(span >= Duration::from_millis(1000), "{span:?}");
        assert!(span < Duration::from_millis(1100), "{span:?}");
    }

    /// `n` calls one after another, each ending at once; their start times after `start`.
    async fn quick_calls(l: &Arc<OcrLimiter>, n: usize, start: Instant, times: &mut Vec<Duration>) {
        for _ in 0..n {
            drop(l.acquire().await);
            times.push(start.elapsed());
        }
    }

    /// Issue 15: calls that could not start on time (here: the one slot was busy with a slow
    /// call) are caught up as soon as the slot frees, where pacing one call per period lost
    /// them (the four calls after the slow one came 100 ms apart); and still no window holds
    /// more than the share.
    #[tokio::test]
    async fn calls_held_up_are_caught_up_within_the_window() {
        let l = OcrLimiter::new(10.0, 1);
        let start = Instant::now();
        let mut times = Vec::new();
        quick_calls(&l, 10, start, &mut times).await;
        let slow = l.acquire().await;
        times.push(start.elapsed());
        // The slow call: the only slot stays busy for 400 ms, four periods.
        tokio::time::sleep(Duration::from_millis(400)).await;
        drop(slow);
        quick_calls(&l, 4, start, &mut times).await;
        let caught_up = times[14] - times[11];
        assert!(caught_up < Duration::from_millis(150), "{caught_up:?}");
        for w in times.windows(11) {
            let span = w[10] - w[0];
            assert!(
                span + Duration::from_millis(2) >= RATE_WINDOW,
                "11 calls within {span:?}: {times:?}"
            );
        }
    }

    /// Issue 15: a new share counts the calls started under the old one, so shrinking the
    /// share never opens a fresh window on top of a full one.
    #[tokio::test]
    async fn a_new_share_counts_the_calls_already_started() {
        let l = OcrLimiter::new(10.0, 4);
        let start = Instant::now();
        let mut times = Vec::new();
        quick_calls(&l, 10, start, &mut times).await;
        l.set_share(Share {
            concurrency: 4,
            rate_milli: 5_000,
        });
        drop(l.acquire().await);
        let next = start.elapsed();
        // 5 calls in any window: the sixth-newest start must have left it.
        assert!(
            next + Duration::from_millis(2) >= times[5] + RATE_WINDOW,
            "{next:?} after {times:?}"
        );
    }

    /// Issue 12, defect 3: a share below one call per second paces at its period (here
    /// 0.8 calls/s: one call every 1.25 s, less the margin; governor keeps its own clock, so
    /// this runs in real time).
    #[tokio::test]
    async fn paces_a_share_below_one_call_per_second() {
        let l = OcrLimiter::new(0.8, 2);
        assert_eq!(l.domain().rate_milli, 800);
        let mut times = Vec::new();
        quick_calls(&l, 3, Instant::now(), &mut times).await;
        let period = Duration::from_secs_f64(1.0 / (0.8 * (1.0 - RATE_MARGIN)));
        for w in times.windows(2) {
            let gap = w[1] - w[0];
            assert!(gap + RATE_TOLERANCE >= period, "{gap:?} < {period:?}");
            assert!(gap < period + Duration::from_millis(20), "{gap:?}");
        }
        assert!((l.current_rate() - 0.8 * (1.0 - RATE_MARGIN)).abs() < 1e-9);
    }

    #[test]
    fn usable_shares_and_millicalls() {
        assert!(!Share::ZERO.is_usable());
        let no_rate = Share {
            concurrency: 2,
            rate_milli: 0,
        };
        let no_slot = Share {
            concurrency: 0,
            rate_milli: 500,
        };
        assert!(!no_rate.is_usable() && !no_slot.is_usable());
        assert!(
            Share {
                concurrency: 1,
                rate_milli: 1
            }
            .is_usable()
        );
        assert_eq!(rate_to_milli(2.5), 2500);
        assert_eq!(rate_to_milli(40.0), 40_000);
        assert_eq!(rate_to_milli(0.0001), 1);
        assert_eq!(no_slot.rate_per_sec(), 0.5);
    }
}
