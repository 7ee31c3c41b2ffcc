//! Counters kept for tests and benchmarks, reported by `GET /_emulator/stats`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::codes::ErrorCode;
use super::config::FaultKind;

/// How one call to the OCR endpoint ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// HTTP 200, `inferResult` SUCCESS with a passport.
    Success,
    /// HTTP 200, `inferResult` FAILURE.
    Failure,
    /// HTTP 200, `inferResult` ERROR.
    Error,
    /// HTTP 200, recognised as another document type.
    OtherDocument,
    /// A vendor JSON error answer (not injected).
    Rejected(ErrorCode),
    /// An injected fault.
    Fault(FaultKind),
    /// The server shut down while the call was waiting; the connection was closed.
    Aborted,
}

impl Outcome {
    /// Key used in [`Stats::outcomes`].
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Error => "error",
            Outcome::OtherDocument => "other_document",
            Outcome::Rejected(code) => code.code(),
            Outcome::Fault(kind) => match kind {
                FaultKind::Error0500 => "0500",
                FaultKind::Error0501 => "0501",
                FaultKind::Hang => "hang",
                FaultKind::DropConnection => "drop_connection",
                FaultKind::Gateway502 => "gateway_502",
                FaultKind::Gateway503 => "gateway_503",
                FaultKind::Garbage200 => "garbage_200",
            },
            Outcome::Aborted => "aborted",
        }
    }

    /// The vendor error code this outcome answered with, if any.
    pub fn error_code(self) -> Option<&'static str> {
        match self {
            Outcome::Rejected(code) => Some(code.code()),
            Outcome::Fault(FaultKind::Error0500) => Some("0500"),
            Outcome::Fault(FaultKind::Error0501) => Some("0501"),
            _ => None,
        }
    }
}

/// Snapshot of the emulator's counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Calls to any non-admin path, counted when they end (answered or aborted).
    pub requests_total: u64,
    /// Calls to any non-admin path, counted on arrival: includes calls still held or running,
    /// and calls whose client went away before the answer (a call the real service may bill).
    #[serde(default)]
    pub received_total: u64,
    /// Calls by outcome: `success`, `failure`, `error`, `other_document`, a vendor error code
    /// (`0001`, `0002`, `0011`, `0021`, `0023`, `0025`, `0500`, `0501`), or a non-JSON fault
    /// (`hang`, `drop_connection`, `gateway_502`, `gateway_503`), or `aborted` (shutdown).
    pub outcomes: BTreeMap<String, u64>,
    /// Calls answered with a vendor JSON error, by code (including injected 0500/0501).
    pub rejections: BTreeMap<String, u64>,
    /// Injected faults by kind (`error_0500`, `error_0501`, `hang`, `drop_connection`,
    /// `gateway_502`, `gateway_503`).
    pub faults: BTreeMap<String, u64>,
    /// Admitted calls in progress now (counted against `max_concurrency`).
    pub in_flight: u64,
    /// Highest `in_flight` seen.
    pub peak_in_flight: u64,
    /// The integral of `in_flight` over time since start, call-seconds: its growth over a
    /// window ÷ the window is the mean number of admitted calls in flight (domain use).
    #[serde(default)]
    pub in_flight_seconds_total: f64,
    /// Calls being handled now, admitted or not (what the client is attempting).
    pub active: u64,
    /// Highest `active` seen: the client's real concurrency, including calls that got 0025.
    pub peak_active: u64,
    /// Calls held at the admin gate (`POST /_emulator/hold`) right now.
    pub held: u64,
    /// Calls that reached recognition and were answered with HTTP 200 (what the vendor bills).
    pub billed_total: u64,
    /// Billed calls per image: SHA-256 (lower-case hex) of the decoded image bytes → count.
    pub billed_by_digest: BTreeMap<String, u64>,
    /// Number of images billed more than once.
    pub digests_billed_more_than_once: u64,
    /// Billed calls counted against `period_quota` since start or reset.
    pub period_used: u64,
    /// Injected latency over admitted calls.
    pub latency: LatencyStats,
}

impl Stats {
    /// Calls that ended with `outcome` (a key of [`Stats::outcomes`]), 0 if none.
    pub fn outcome(&self, outcome: &str) -> u64 {
        self.outcomes.get(outcome).copied().unwrap_or(0)
    }

    /// Calls answered with the vendor error `code` (e.g. `"0025"`), 0 if none.
    pub fn rejected(&self, code: &str) -> u64 {
        self.rejections.get(code).copied().unwrap_or(0)
    }

    /// Billed calls for the image with this SHA-256 (lower-case hex), 0 if none.
    pub fn billed_for(&self, digest_hex: &str) -> u64 {
        self.billed_by_digest.get(digest_hex).copied().unwrap_or(0)
    }
}

/// Injected (simulated) latency.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    /// Calls that drew a latency.
    pub count: u64,
    /// Sum, ms.
    pub total_ms: u64,
    /// Largest, ms.
    pub max_ms: u64,
}

#[derive(Default)]
struct Inner {
    requests_total: u64,
    outcomes: HashMap<&'static str, u64>,
    rejections: HashMap<&'static str, u64>,
    faults: HashMap<&'static str, u64>,
    billed_total: u64,
    billed_by_digest: HashMap<[u8; 32], u64>,
    latency: LatencyStats,
}

/// Thread-safe recorder behind [`Stats`].
#[derive(Default)]
pub(crate) struct Recorder {
    inner: Mutex<Inner>,
    pub(crate) active: AtomicU64,
    peak_active: AtomicU64,
    received: AtomicU64,
    pub(crate) held: AtomicU64,
}

/// Decrements the active counter when a call ends, however it ends.
pub(crate) struct ActiveGuard<'a>(&'a Recorder);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Recorder {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Count a call as active until the guard drops.
    pub(crate) fn enter(&self) -> ActiveGuard<'_> {
        self.received.fetch_add(1, Ordering::AcqRel);
        let now = self.active.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak_active.fetch_max(now, Ordering::AcqRel);
        ActiveGuard(self)
    }

    /// Record how a call ended.
    pub(crate) fn record(&self, outcome: Outcome) {
        let mut inner = self.lock();
        inner.requests_total += 1;
        *inner.outcomes.entry(outcome.as_str()).or_default() += 1;
        if let Some(code) = outcome.error_code() {
            *inner.rejections.entry(code).or_default() += 1;
        }
        if let Outcome::Fault(kind) = outcome {
            *inner.faults.entry(kind.as_str()).or_default() += 1;
        }
    }

    /// Record a billed call for an image.
    pub(crate) fn bill(&self, digest: [u8; 32]) {
        let mut inner = self.lock();
        inner.billed_total += 1;
        *inner.billed_by_digest.entry(digest).or_default() += 1;
    }

    /// Record one injected latency.
    pub(crate) fn latency(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let mut inner = self.lock();
        inner.latency.count += 1;
        inner.latency.total_ms = inner.latency.total_ms.saturating_add(ms);
        inner.latency.max_ms = inner.latency.max_ms.max(ms);
    }

    /// Zero every counter (peaks restart from the current values).
    pub(crate) fn reset(&self) {
        *self.lock() = Inner::default();
        self.peak_active
            .store(self.active.load(Ordering::Acquire), Ordering::Release);
    }

    /// Snapshot; `in_flight`/`peak_in_flight` come from the quota.
    pub(crate) fn snapshot(&self, in_flight: u64, peak_in_flight: u64) -> Stats {
        let inner = self.lock();
        let map = |m: &HashMap<&'static str, u64>| {
            m.iter()
                .map(|(k, v)| ((*k).to_string(), *v))
                .collect::<BTreeMap<_, _>>()
        };
        Stats {
            requests_total: inner.requests_total,
            received_total: self.received.load(Ordering::Acquire),
            outcomes: map(&inner.outcomes),
            rejections: map(&inner.rejections),
            faults: map(&inner.faults),
            in_flight,
            peak_in_flight,
            in_flight_seconds_total: 0.0,
            active: self.active.load(Ordering::Acquire),
            peak_active: self.peak_active.load(Ordering::Acquire),
            held: self.held.load(Ordering::Acquire),
            billed_total: inner.billed_total,
            billed_by_digest: inner
                .billed_by_digest
                .iter()
                .map(|(k, v)| (hex::encode(k), *v))
                .collect(),
            digests_billed_more_than_once: inner
                .billed_by_digest
                .values()
                .filter(|v| **v > 1)
                .count() as u64,
            period_used: 0,
            latency: inner.latency.clone(),
        }
    }
}
