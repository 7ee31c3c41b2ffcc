//! The domain's quota: simultaneous calls, calls per second (both → 0025) and an optional
//! period quota of billed calls (→ 0023).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::codes::ErrorCode;
use super::config::EmulatorConfig;

const WINDOW: Duration = Duration::from_secs(1);

/// Admission state shared by all calls.
#[derive(Default)]
pub(crate) struct Quota {
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
    /// Admission instants within the last second (only kept while a rate cap is set).
    window: Mutex<VecDeque<Instant>>,
    /// Billed calls counted against the period quota.
    period_used: AtomicU64,
    /// The integral of `in_flight` over time: `(last change, call-seconds up to it)`.
    occupancy: Mutex<Option<(Instant, f64)>>,
}

/// An admitted call; releases its concurrency slot on drop.
pub(crate) struct Permit<'a>(&'a Quota);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.account(|| {
            self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

impl Quota {
    /// Admit a call or say which error it gets. Checks, in order: period quota already used up
    /// (0023), simultaneous calls (0025), calls in the last second (0025).
    pub(crate) fn admit(&self, config: &EmulatorConfig) -> Result<Permit<'_>, ErrorCode> {
        if let Some(limit) = config.period_quota
            && self.period_used.load(Ordering::Acquire) >= limit
        {
            return Err(ErrorCode::PeriodQuota);
        }
        let cap = config.max_concurrency.map_or(u64::MAX, u64::from);
        let now = self.account(|| {
            self.in_flight
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < cap).then_some(n + 1)
                })
                .map_err(|_| ErrorCode::ConcurrencyLimit)
        })? + 1;
        let permit = Permit(self);
        self.peak_in_flight.fetch_max(now, Ordering::AcqRel);
        if let Some(rate) = config.rate_per_sec {
            let t = Instant::now();
            let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
            while window
                .front()
                .is_some_and(|&t0| t.duration_since(t0) >= WINDOW)
            {
                window.pop_front();
            }
            if window.len() >= rate as usize {
                return Err(ErrorCode::RateLimit); // permit drops: slot released
            }
            window.push_back(t);
        }
        Ok(permit)
    }

    /// Count one billed call against the period quota; `false` when it is used up (the call
    /// must then answer 0023 and not be billed).
    pub(crate) fn take_period(&self, config: &EmulatorConfig) -> bool {
        let limit = config.period_quota.unwrap_or(u64::MAX);
        self.period_used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok()
    }

    /// Run `change` (a change of `in_flight`) with the occupancy integral brought up to now
    /// first, under its lock, so the integral sees every change in order.
    fn account<T>(&self, change: impl FnOnce() -> T) -> T {
        let mut occ = self.occupancy.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let area = match *occ {
            Some((last, area)) => {
                area + self.in_flight.load(Ordering::Acquire) as f64
                    * now.duration_since(last).as_secs_f64()
            }
            None => 0.0,
        };
        *occ = Some((now, area));
        change()
    }

    /// The integral of admitted calls in flight over time since start, in call-seconds: its
    /// growth over a window divided by the window is the mean number of calls in flight.
    pub(crate) fn occupancy_seconds(&self) -> f64 {
        self.account(|| ());
        self.occupancy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map_or(0.0, |(_, area)| area)
    }

    /// Calls admitted and not yet answered.
    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Highest [`Quota::in_flight`] since start or reset.
    pub(crate) fn peak_in_flight(&self) -> u64 {
        self.peak_in_flight.load(Ordering::Acquire)
    }

    /// Billed calls counted against the period quota since start or reset.
    pub(crate) fn period_used(&self) -> u64 {
        self.period_used.load(Ordering::Acquire)
    }

    /// Forget the rate window and the period count; peaks restart from the current value.
    pub(crate) fn reset(&self) {
        self.window
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.period_used.store(0, Ordering::Release);
        self.peak_in_flight
            .store(self.in_flight.load(Ordering::Acquire), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occupancy_integrates_calls_in_flight() {
        let q = Quota::default();
        let config = EmulatorConfig::default();
        let a = q.admit(&config).unwrap();
        let b = q.admit(&config).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        drop(a);
        std::thread::sleep(Duration::from_millis(100));
        drop(b);
        let area = q.occupancy_seconds();
        // 2 calls for 0.1 s, then 1 for 0.1 s: 0.3 call-seconds (and nothing after).
        assert!((0.29..0.33).contains(&area), "{area}");
        std::thread::sleep(Duration::from_millis(50));
        assert!((q.occupancy_seconds() - area).abs() < 1e-9);
    }

    #[test]
    fn concurrency_cap_is_exact() {
        let q = Quota::default();
        let config = EmulatorConfig {
            max_concurrency: Some(2),
            ..EmulatorConfig::default()
        };
        let a = q.admit(&config).unwrap();
        let _b = q.admit(&config).unwrap();
        assert_eq!(q.admit(&config).err(), Some(ErrorCode::ConcurrencyLimit));
        drop(a);
        assert!(q.admit(&config).is_ok());
        assert_eq!(q.peak_in_flight(), 2);
    }

    #[test]
    fn rate_cap_is_exact_within_a_second() {
        let q = Quota::default();
        let config = EmulatorConfig {
            rate_per_sec: Some(3),
            ..EmulatorConfig::default()
        };
        for _ in 0..3 {
            assert!(q.admit(&config).is_ok());
        }
        assert_eq!(q.admit(&config).err(), Some(ErrorCode::RateLimit));
        assert_eq!(q.in_flight(), 0);
    }

    #[test]
    fn period_quota() {
        let q = Quota::default();
        let config = EmulatorConfig {
            period_quota: Some(1),
            ..EmulatorConfig::default()
        };
        assert!(q.admit(&config).is_ok());
        assert!(q.take_period(&config));
        assert!(!q.take_period(&config));
        assert_eq!(q.admit(&config).err(), Some(ErrorCode::PeriodQuota));
        q.reset();
        assert!(q.admit(&config).is_ok());
    }
}
