//! The OCR quota guard: a calls-per-second limit (`governor`, jittered so waiters do not
//! stampede) and a cap on simultaneous calls (a semaphore), adapted AIMD-style to the domain's
//! answers: a 0025/429 halves this process's concurrency and, with a Retry-After, pauses calls;
//! successes win it back one slot at a time. A period-quota answer (0023) pauses all calls.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Jitter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Guard of this process's OCR calls.
pub struct OcrLimiter {
    rate: DefaultDirectRateLimiter,
    jitter: Jitter,
    slots: Arc<Semaphore>,
    max: u32,
    /// Permits currently in circulation (held or available).
    capacity: AtomicU32,
    /// Where AIMD wants `capacity` to be.
    target: AtomicU32,
    /// Successes since the last change of `target` (additive increase after `target` of them).
    successes: AtomicU32,
    /// Time (ms since `epoch`) before which no call may start.
    paused_until_ms: AtomicU64,
    /// Time (ms since `epoch`) of the last multiplicative decrease (one per window).
    last_decrease_ms: AtomicU64,
    epoch: Instant,
}

/// A slot for one OCR call; returned (or retired, after a decrease) on drop.
pub struct OcrPermit {
    permit: Option<OwnedSemaphorePermit>,
    limiter: Arc<OcrLimiter>,
    /// How long the caller waited for this permit.
    pub waited: Duration,
}

impl Drop for OcrPermit {
    fn drop(&mut self) {
        if let Some(p) = self.permit.take() {
            let l = &self.limiter;
            let cap = l.capacity.load(Ordering::Acquire);
            if cap > l.target.load(Ordering::Acquire)
                && l.capacity
                    .compare_exchange(cap, cap - 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                p.forget();
            }
        }
    }
}

impl OcrLimiter {
    /// A limiter for `rate_per_sec` calls per second and `max_concurrency` simultaneous calls.
    pub fn new(rate_per_sec: u32, max_concurrency: u32) -> Arc<Self> {
        let rate = NonZeroU32::new(rate_per_sec.max(1)).expect("max(1) is non-zero");
        // Burst of one: calls are spaced evenly, so no one-second window ever sees more than
        // the rate (a bursty start is what earns 0025s from a windowed quota).
        let quota = Quota::per_second(rate).allow_burst(NonZeroU32::MIN);
        let spacing = Duration::from_secs_f64(1.0 / f64::from(rate.get()));
        let max = max_concurrency.max(1);
        Arc::new(OcrLimiter {
            rate: RateLimiter::direct(quota),
            jitter: Jitter::up_to(spacing / 4),
            slots: Arc::new(Semaphore::new(max as usize)),
            max,
            capacity: AtomicU32::new(max),
            target: AtomicU32::new(max),
            successes: AtomicU32::new(0),
            paused_until_ms: AtomicU64::new(0),
            last_decrease_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Wait for a pause to end, a free slot and a rate token, in that order.
    pub async fn acquire(self: &Arc<Self>) -> OcrPermit {
        let started = Instant::now();
        self.wait_pause().await;
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        self.rate.until_ready_with_jitter(self.jitter).await;
        // A pause may have begun while we waited for the slot.
        self.wait_pause().await;
        OcrPermit {
            permit: Some(permit),
            limiter: self.clone(),
            waited: started.elapsed(),
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

    /// The domain said "too many": halve concurrency (at most once per second) and honour
    /// any Retry-After as a pause.
    pub fn on_rate_limited(&self, retry_after: Option<Duration>) {
        if let Some(d) = retry_after {
            self.pause_for(d);
        }
        let now = self.now_ms();
        let last = self.last_decrease_ms.load(Ordering::Acquire);
        if now.saturating_sub(last) < 1000 && last != 0 {
            return;
        }
        self.last_decrease_ms.store(now.max(1), Ordering::Release);
        let t = self.target.load(Ordering::Acquire);
        self.target.store((t / 2).max(1), Ordering::Release);
        self.successes.store(0, Ordering::Release);
    }

    /// A call succeeded: after `target` successes in a row, allow one more slot.
    pub fn on_success(&self) {
        let t = self.target.load(Ordering::Acquire);
        if t >= self.max {
            return;
        }
        if self.successes.fetch_add(1, Ordering::AcqRel) + 1 >= t {
            self.successes.store(0, Ordering::Release);
            self.target.store(t + 1, Ordering::Release);
            // Grow capacity back towards the target.
            loop {
                let cap = self.capacity.load(Ordering::Acquire);
                if cap >= t + 1 {
                    break;
                }
                if self
                    .capacity
                    .compare_exchange(cap, cap + 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    self.slots.add_permits(1);
                    break;
                }
            }
        }
    }

    /// Current concurrency target (this process's share).
    pub fn current_limit(&self) -> u32 {
        self.target.load(Ordering::Acquire)
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> u32 {
        self.capacity
            .load(Ordering::Acquire)
            .saturating_sub(self.slots.available_permits() as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn caps_concurrency_and_adapts() {
        let l = OcrLimiter::new(1000, 4);
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
        // Dropping permits retires them until capacity meets the target.
        held.clear();
        let _fifth = fifth.await.unwrap();
        assert!(l.in_flight() <= 2);
        // Successes grow it back by one per `target` successes.
        for _ in 0..2 {
            l.on_success();
        }
        assert_eq!(l.current_limit(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn pauses_hold_calls_back() {
        let l = OcrLimiter::new(1000, 2);
        l.pause_for(Duration::from_secs(5));
        assert!(l.is_paused());
        let start = Instant::now();
        let p = l.acquire().await;
        assert!(start.elapsed() >= Duration::from_secs(5));
        assert!(p.waited >= Duration::from_secs(5));
    }
}
