//! Prometheus metrics (bounded labels only: outcome, kind, code — never job ids or keys).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label with one `kind` value.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// Snake-case kind.
    pub kind: String,
}

/// Label with one `outcome` value.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `succeeded`, `dead_lettered`, `retried`, `requeued`.
    pub outcome: String,
}

/// Label with one `result` value.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `ok`, or the error kind / provider code.
    pub result: String,
}

/// Every metric the worker exports.
pub struct Metrics {
    registry: Registry,
    /// Jobs finished, by outcome.
    pub jobs: Family<OutcomeLabel, Counter>,
    /// Dead letters published, by kind.
    pub dead_letters: Family<KindLabel, Counter>,
    /// OCR calls, by result.
    pub ocr_calls: Family<ResultLabel, Counter>,
    /// OCR rejections for quota (`0025`, `0023`, `429`).
    pub ocr_throttled: Family<ResultLabel, Counter>,
    /// OCR call latency, seconds.
    pub ocr_duration: Histogram,
    /// Time waiting for the limiter, seconds.
    pub limiter_wait: Histogram,
    /// Jobs being processed now.
    pub in_flight: Gauge,
    /// OCR calls in flight now.
    pub ocr_in_flight: Gauge,
    /// This process's current OCR concurrency limit.
    pub ocr_limit: Gauge,
    /// This process's share of the domain rate, calls per second.
    pub ocr_rate_share: Gauge<f64, AtomicU64>,
    /// OCR calls per second over the last report period ÷ this replica's rate share.
    pub ocr_quota_utilisation: Gauge<f64, AtomicU64>,
    /// Replicas sharing the OCR domain, as this replica sees them (itself included).
    pub replicas: Gauge,
    /// 1 while consuming, 0 otherwise.
    pub consuming: Gauge,
    /// Broker (re)connections made.
    pub connections: Counter,
    /// 1 while the broker blocks this worker's publishing (resource alarm), 0 otherwise.
    pub broker_blocked: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Register every metric under the `ocr_worker` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ocr_worker");
        let m = Metrics {
            jobs: Family::default(),
            dead_letters: Family::default(),
            ocr_calls: Family::default(),
            ocr_throttled: Family::default(),
            ocr_duration: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            limiter_wait: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            in_flight: Gauge::default(),
            ocr_in_flight: Gauge::default(),
            ocr_limit: Gauge::default(),
            ocr_rate_share: Gauge::default(),
            ocr_quota_utilisation: Gauge::default(),
            replicas: Gauge::default(),
            consuming: Gauge::default(),
            connections: Counter::default(),
            broker_blocked: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register("jobs", "Jobs finished, by outcome", m.jobs.clone());
        registry.register(
            "dead_letters",
            "Dead letters published, by kind",
            m.dead_letters.clone(),
        );
        registry.register("ocr_calls", "OCR calls, by result", m.ocr_calls.clone());
        registry.register(
            "ocr_throttled",
            "OCR calls refused for quota (0025, 0023, 429)",
            m.ocr_throttled.clone(),
        );
        registry.register(
            "ocr_call_duration_seconds",
            "OCR call latency",
            m.ocr_duration.clone(),
        );
        registry.register(
            "limiter_wait_seconds",
            "Time spent waiting for the OCR limiter",
            m.limiter_wait.clone(),
        );
        registry.register(
            "jobs_in_flight",
            "Jobs being processed",
            m.in_flight.clone(),
        );
        registry.register(
            "ocr_in_flight",
            "OCR calls in flight",
            m.ocr_in_flight.clone(),
        );
        registry.register(
            "ocr_concurrency_limit",
            "This process's current OCR concurrency limit",
            m.ocr_limit.clone(),
        );
        registry.register(
            "ocr_rate_share",
            "This process's share of the domain's calls per second",
            m.ocr_rate_share.clone(),
        );
        registry.register(
            "ocr_quota_utilisation_ratio",
            "OCR calls per second over the last report period divided by this replica's rate share",
            m.ocr_quota_utilisation.clone(),
        );
        registry.register(
            "replicas",
            "Replicas sharing the OCR domain as this replica sees them",
            m.replicas.clone(),
        );
        registry.register("consuming", "1 while consuming jobs", m.consuming.clone());
        registry.register(
            "broker_connections",
            "Broker connections made",
            m.connections.clone(),
        );
        registry.register(
            "broker_blocked",
            "1 while the broker blocks publishing (memory or disk alarm)",
            m.broker_blocked.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Count a finished job.
    pub fn job(&self, outcome: &str) {
        self.jobs
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// Count an OCR call result.
    pub fn ocr_call(&self, result: &str) {
        self.ocr_calls
            .get_or_create(&ResultLabel {
                result: result.to_string(),
            })
            .inc();
    }

    /// Text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
