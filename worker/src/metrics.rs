//! Prometheus metrics. Bounded labels only: every label value comes from a fixed set written
//! here (outcomes, error kinds, the vendor's code table plus `other`, result classes, the
//! configured queue names), and each is initialised to 0 at start-up so every panel and alert
//! finds its series. Never a job id, key, or raw vendor string.
//!
//! Served in two formats: OpenMetrics 1.0 by default, and the classic Prometheus text format
//! 0.0.4 when the scraper's `Accept` asks for `text/plain` (promtool 2.42 lints only that one).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use ocr_common::failure::{Disposition, ErrorKind, JobError, ProviderCode};
use ocr_common::intake::IgnoredEvent;
use ocr_common::lane::Lane;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use serde::Serialize;

/// Label with one `kind` value.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// Snake-case kind.
    pub kind: String,
}

/// Label with one `outcome` value.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `succeeded`, `dead_lettered`, `retried`, `requeued`, `abandoned`, `ignored`.
    pub outcome: String,
}

/// Label with one `reason` value.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// Why a bucket event was ignored ([`IgnoredEvent::as_str`]).
    pub reason: String,
}

/// Label with one `result` value.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `ok`, or the error kind / provider code (see [`ocr_result_label`]).
    pub result: String,
}

/// Label with one `lane` value.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LaneLabel {
    /// `bulk` or `priority` ([`Lane::as_str`]).
    pub lane: String,
}

/// The label of `lane`.
fn lane_label(lane: Lane) -> LaneLabel {
    LaneLabel {
        lane: lane.as_str().into(),
    }
}

/// The per-lane families, registered once.
struct LaneFamilies {
    jobs: Family<LaneLabel, Counter>,
    in_flight: Family<LaneLabel, Gauge>,
    waiting: Family<LaneLabel, Gauge>,
    limiter_wait: Family<LaneLabel, Histogram, Buckets>,
}

impl Default for LaneFamilies {
    fn default() -> Self {
        LaneFamilies {
            jobs: Family::default(),
            in_flight: Family::default(),
            waiting: Family::default(),
            limiter_wait: Family::new_with_constructor(Buckets(seconds_buckets)),
        }
    }
}

/// One lane's series, resolved once from the families (each handle shares its series, so
/// every job touches its lane's metrics without a family lookup).
pub struct LaneMetrics {
    /// Jobs finished (every outcome).
    pub jobs: Counter,
    /// Jobs being processed now.
    pub in_flight: Gauge,
    /// Jobs waiting for the OCR limiter now (a slot, pacing, a pause).
    pub waiting: Gauge,
    limiter_wait: Histogram,
    /// Limiter waits, `[count, total µs, last µs]`, for the status page (the histogram does
    /// not expose its sum and count).
    waits: [AtomicU64; 3],
}

impl LaneMetrics {
    fn of(f: &LaneFamilies, lane: Lane) -> LaneMetrics {
        let l = lane_label(lane);
        LaneMetrics {
            jobs: f.jobs.get_or_create(&l).clone(),
            in_flight: f.in_flight.get_or_create(&l).clone(),
            waiting: f.waiting.get_or_create(&l).clone(),
            limiter_wait: f.limiter_wait.get_or_create(&l).clone(),
            waits: Default::default(),
        }
    }

    /// Observe one wait for the limiter.
    pub fn observe_limiter_wait(&self, waited: Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        self.limiter_wait.observe(waited.as_secs_f64());
        let us = waited.as_micros().min(u128::from(u64::MAX)) as u64;
        self.waits[0].fetch_add(1, Relaxed);
        self.waits[1].fetch_add(us, Relaxed);
        self.waits[2].store(us, Relaxed);
    }

    /// The mean and the last of the limiter waits so far.
    pub fn wait_summary(&self) -> (Duration, Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        let n = self.waits[0].load(Relaxed);
        let mean = self.waits[1].load(Relaxed).checked_div(n).unwrap_or(0);
        (
            Duration::from_micros(mean),
            Duration::from_micros(self.waits[2].load(Relaxed)),
        )
    }
}

/// A gauge raised while this is held, and lowered when it drops (also when its task is
/// cancelled or aborted).
pub struct GaugeHold(Gauge);

impl GaugeHold {
    /// Raise `gauge` until the hold drops.
    pub fn new(gauge: &Gauge) -> GaugeHold {
        gauge.inc();
        GaugeHold(gauge.clone())
    }
}

impl Drop for GaugeHold {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Label with one `route` value.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    /// `result`, `dead_letter`, `delay`.
    pub route: String,
}

/// Labels of a result-store request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreLabel {
    /// One of [`STORE_OPS`].
    pub op: String,
    /// `hit`, `miss`, `unreadable` (lookups), `ok` (writes), `error`.
    pub result: String,
}

/// Result-store operations, and the results each can have.
pub const STORE_OPS: [(&str, &[&str]); 3] = [
    ("lookup", &["hit", "miss", "unreadable", "error"]),
    ("write_result", &["ok", "error"]),
    ("write_dead_letter", &["ok", "error"]),
];

/// Labels of a queue figure: the configured queue name and its role.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabel {
    /// The queue's name.
    pub queue: String,
    /// `jobs`, `priority`, `delay`, `poison`, `dead`, `results`.
    pub role: String,
}

/// The labels of `ocr_worker_build_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    /// The crate version.
    pub version: String,
    /// The source revision baked in at build time (`OCR_BUILD_REVISION`), or `unknown`.
    pub revision: String,
}

/// Every job outcome label value.
pub const OUTCOMES: [&str; 6] = [
    "succeeded",
    "dead_lettered",
    "retried",
    "requeued",
    "abandoned",
    "ignored",
];

/// The result classes of an OCR call, by what the worker does next.
pub const OCR_RESULT_CLASSES: [&str; 6] = [
    "ok",
    "rate_limited",
    "quota_paused",
    "transient",
    "rejected",
    "configuration",
];

/// The label value `other` for a provider code outside the vendor's table.
pub const OTHER: &str = "other";

/// Publish routes.
pub const ROUTES: [&str; 3] = ["result", "dead_letter", "delay"];

/// How many recent errors the status page keeps.
pub const RECENT_ERRORS: usize = 20;

/// The `ocr_calls_total{result}` value for a failed call: the provider code from the known
/// table (or `other`), else the error kind. Never the vendor's raw text.
pub fn ocr_result_label(err: &JobError) -> &'static str {
    match err.provider_code().map(ProviderCode::parse) {
        Some(ProviderCode::InvalidUrl) => "0001",
        Some(ProviderCode::SecretRejected) => "0002",
        Some(ProviderCode::InvalidRequestBody) => "0011",
        Some(ProviderCode::UnsupportedProtocol) => "0021",
        Some(ProviderCode::InvalidDomain) => "0022",
        Some(ProviderCode::PeriodQuota) => "0023",
        Some(ProviderCode::RateLimit) => "0025",
        Some(ProviderCode::UnknownServiceError) => "0500",
        Some(ProviderCode::ServiceError) => "0501",
        Some(ProviderCode::DeploymentNotFound) => "1021",
        Some(ProviderCode::Other(_)) => OTHER,
        None => err.kind().as_str(),
    }
}

/// The result class of an OCR call that failed with `err` (one of [`OCR_RESULT_CLASSES`]).
pub fn ocr_result_class(err: &JobError) -> &'static str {
    match err.disposition() {
        Disposition::RateLimited { .. } => "rate_limited",
        Disposition::PauseQuota => "quota_paused",
        Disposition::Retry { .. } => "transient",
        Disposition::DeadLetter(_) => "rejected",
        Disposition::Stop => "configuration",
    }
}

/// Seconds a job waited in the broker: from the AMQP `timestamp` property (whole seconds since
/// the epoch) when set, else from the S3 event's `eventTime`; `None` when neither is known.
/// Clock skew never yields a negative figure.
pub fn queued_seconds(
    amqp_timestamp: Option<u64>,
    event_time: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<f64> {
    let enqueued_ms = match (amqp_timestamp, event_time) {
        (Some(ts), _) if ts > 0 => i64::try_from(ts).ok()?.checked_mul(1000)?,
        (_, Some(t)) => t.timestamp_millis(),
        _ => return None,
    };
    let waited = now.timestamp_millis().saturating_sub(enqueued_ms);
    Some((waited.max(0) as f64) / 1000.0)
}

/// One recent error for the status page: when, the job id, the kind. Nothing else.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct RecentError {
    /// Unix time, seconds.
    pub at: i64,
    /// The job id (control characters removed, at most 128 characters).
    pub job_id: String,
    /// The error kind.
    pub kind: String,
}

/// A histogram constructor with fixed buckets (so families can be built and pre-filled).
#[derive(Clone)]
pub struct Buckets(fn() -> Histogram);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        (self.0)()
    }
}

fn seconds_buckets() -> Histogram {
    // 1 ms … ~33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

fn ocr_buckets() -> Histogram {
    // 10 ms … ~82 s.
    Histogram::new(exponential_buckets(0.01, 2.0, 14))
}

fn queued_buckets() -> Histogram {
    // 0.5 s … ~2.3 h (the AMQP timestamp has 1-second resolution).
    Histogram::new(exponential_buckets(0.5, 2.0, 15))
}

/// Every metric the worker exports.
pub struct Metrics {
    registry: Registry,
    /// Jobs finished, by outcome.
    pub jobs: Family<OutcomeLabel, Counter>,
    /// Dead letters published, by kind.
    pub dead_letters: Family<KindLabel, Counter>,
    /// Bucket events acked without a job or an outcome, by reason.
    pub events_ignored: Family<ReasonLabel, Counter>,
    /// OCR calls, by result (`ok`, known provider code, `other`, or error kind).
    pub ocr_calls: Family<ResultLabel, Counter>,
    /// OCR rejections for quota (`0025`, `0023`, `rate_limited` for gateway 429).
    pub ocr_throttled: Family<ResultLabel, Counter>,
    /// OCR call latency by result class, seconds, every outcome.
    pub ocr_duration: Family<ResultLabel, Histogram, Buckets>,
    /// Each lane's series (indexed by [`Lane::index`]), resolved once.
    lanes: [LaneMetrics; 2],
    /// S3 GET latency by result (`ok`, `error`), seconds, every attempt.
    pub s3_fetch_duration: Family<ResultLabel, Histogram, Buckets>,
    /// Publishing one outcome and its confirm, by route, seconds.
    pub publish_duration: Family<RouteLabel, Histogram, Buckets>,
    /// One delivery from start to settle, by outcome, seconds.
    pub job_duration: Family<OutcomeLabel, Histogram, Buckets>,
    /// Time a job waited in the broker before its delivery started, seconds.
    pub queued: Histogram,
    /// Result-store requests, by operation and result.
    pub result_store: Family<StoreLabel, Counter>,
    /// Results built from a stored answer, with no OCR call.
    pub results_reused: Counter,
    /// Jobs being processed now.
    pub in_flight: Gauge,
    /// OCR calls in flight now.
    pub ocr_in_flight: Gauge,
    /// Bulk jobs waiting to fetch their image ([`crate::image_gate`]).
    pub images_waiting: Gauge,
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
    /// 1 while ready (`/readyz` 200), 0 otherwise (set on every scrape from [`crate::health`]).
    pub ready: Gauge,
    /// 1 while consumption is stopped on a configuration error.
    pub stopped_on_configuration: Gauge,
    /// Ready messages per queue, read from the broker on a timer.
    pub queue_messages: Family<QueueLabel, Gauge>,
    /// Consumers per queue, read from the broker on a timer.
    pub queue_consumers: Family<QueueLabel, Gauge>,
    /// Broker queue reads that failed.
    pub queue_poll_errors: Counter,
    /// The queues reported in `queue_*` (configured names).
    tracked_queues: Mutex<Vec<QueueLabel>>,
    /// The last job errors (kind and job id only), newest last.
    recent_errors: Mutex<VecDeque<RecentError>>,
    /// Process start, for the status page.
    pub started: chrono::DateTime<chrono::Utc>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

impl Metrics {
    /// Register every metric under the `ocr_worker` prefix, every bounded label at 0.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ocr_worker");
        let lane_families = LaneFamilies::default();
        let m = Metrics {
            jobs: Family::default(),
            dead_letters: Family::default(),
            events_ignored: Family::default(),
            ocr_calls: Family::default(),
            ocr_throttled: Family::default(),
            ocr_duration: Family::new_with_constructor(Buckets(ocr_buckets)),
            lanes: Lane::ALL.map(|l| LaneMetrics::of(&lane_families, l)),
            s3_fetch_duration: Family::new_with_constructor(Buckets(seconds_buckets)),
            publish_duration: Family::new_with_constructor(Buckets(seconds_buckets)),
            job_duration: Family::new_with_constructor(Buckets(ocr_buckets)),
            queued: queued_buckets(),
            result_store: Family::default(),
            results_reused: Counter::default(),
            in_flight: Gauge::default(),
            ocr_in_flight: Gauge::default(),
            images_waiting: Gauge::default(),
            ocr_limit: Gauge::default(),
            ocr_rate_share: Gauge::default(),
            ocr_quota_utilisation: Gauge::default(),
            replicas: Gauge::default(),
            consuming: Gauge::default(),
            connections: Counter::default(),
            broker_blocked: Gauge::default(),
            ready: Gauge::default(),
            stopped_on_configuration: Gauge::default(),
            queue_messages: Family::default(),
            queue_consumers: Family::default(),
            queue_poll_errors: Counter::default(),
            tracked_queues: Mutex::new(Vec::new()),
            recent_errors: Mutex::new(VecDeque::with_capacity(RECENT_ERRORS)),
            started: chrono::Utc::now(),
            registry: Registry::default(),
        };
        m.initialise_labels();
        registry.register(
            "build",
            "Build information: version and source revision",
            Info::new(BuildLabels {
                version: VERSION.into(),
                revision: option_env!("OCR_BUILD_REVISION")
                    .unwrap_or("unknown")
                    .into(),
            }),
        );
        registry.register("jobs", "Jobs finished, by outcome", m.jobs.clone());
        registry.register(
            "dead_letters",
            "Dead letters published, by kind",
            m.dead_letters.clone(),
        );
        registry.register(
            "events_ignored",
            "Bucket events acked with no job and no outcome, by reason",
            m.events_ignored.clone(),
        );
        registry.register(
            "ocr_calls",
            "OCR calls, by result: ok, a provider code of the vendor's table, other, or an error kind",
            m.ocr_calls.clone(),
        );
        registry.register(
            "ocr_throttled",
            "OCR calls refused for quota (0025, 0023, rate_limited for gateway 429)",
            m.ocr_throttled.clone(),
        );
        registry.register(
            "ocr_call_duration_seconds",
            "OCR call latency, every outcome, by result class",
            m.ocr_duration.clone(),
        );
        registry.register(
            "limiter_wait_seconds",
            "Time spent waiting for the OCR limiter (slot, pacing, pause), by lane",
            lane_families.limiter_wait,
        );
        registry.register(
            "lane_jobs",
            "Jobs finished, by lane (bulk: the jobs queue; priority: the priority queue)",
            lane_families.jobs,
        );
        registry.register(
            "lane_jobs_in_flight",
            "Jobs being processed, by lane",
            lane_families.in_flight,
        );
        registry.register(
            "lane_jobs_waiting_for_limiter",
            "Jobs waiting for the OCR limiter (a slot, pacing, a pause), by lane",
            lane_families.waiting,
        );
        registry.register(
            "s3_fetch_duration_seconds",
            "S3 GET latency, every attempt, by result (ok, error)",
            m.s3_fetch_duration.clone(),
        );
        registry.register(
            "publish_duration_seconds",
            "Publishing one outcome until the broker's confirm, by route",
            m.publish_duration.clone(),
        );
        registry.register(
            "job_duration_seconds",
            "One delivery from start to settle, by outcome",
            m.job_duration.clone(),
        );
        registry.register(
            "job_queued_seconds",
            "Time a job waited in the broker (AMQP timestamp, else the S3 eventTime)",
            m.queued.clone(),
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
            "jobs_waiting_for_image",
            "Bulk jobs waiting to fetch their image: at most the OCR share plus a read-ahead of images are held at once",
            m.images_waiting.clone(),
        );
        registry.register(
            "ocr_concurrency_limit",
            "This process's current OCR concurrency limit",
            m.ocr_limit.clone(),
        );
        registry.register(
            "ocr_rate_share_calls_per_second",
            "This process's share of the domain's OCR rate, calls per second",
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
        registry.register(
            "ready",
            "1 while the worker is ready (connected, consuming, not stopped, not shutting down)",
            m.ready.clone(),
        );
        registry.register(
            "stopped_on_configuration_error",
            "1 while consumption is stopped on a configuration error",
            m.stopped_on_configuration.clone(),
        );
        registry.register(
            "queue_messages_ready",
            "Ready messages in each queue, read from the broker on a timer",
            m.queue_messages.clone(),
        );
        registry.register(
            "queue_consumers",
            "Consumers of each queue, read from the broker on a timer",
            m.queue_consumers.clone(),
        );
        registry.register(
            "result_store_requests",
            "Result-store requests, by operation (lookup, write_result, write_dead_letter) and result",
            m.result_store.clone(),
        );
        registry.register(
            "results_reused",
            "Results built from a stored answer for the same content, with no OCR call",
            m.results_reused.clone(),
        );
        registry.register(
            "queue_poll_errors",
            "Failed reads of queue depths from the broker",
            m.queue_poll_errors.clone(),
        );
        Metrics { registry, ..m }
    }

    fn initialise_labels(&self) {
        for o in OUTCOMES {
            let _ = self.jobs.get_or_create(&outcome(o));
            let _ = self.job_duration.get_or_create(&outcome(o));
        }
        for k in ErrorKind::ALL {
            let _ = self.ocr_calls.get_or_create(&result(k.as_str()));
            if k.is_dead_letter() {
                let _ = self.dead_letters.get_or_create(&KindLabel {
                    kind: k.as_str().into(),
                });
            }
        }
        for r in IgnoredEvent::ALL {
            let _ = self.events_ignored.get_or_create(&reason(r));
        }
        let _ = self.ocr_calls.get_or_create(&result("ok"));
        let _ = self.ocr_calls.get_or_create(&result(OTHER));
        for c in ProviderCode::KNOWN {
            let _ = self.ocr_calls.get_or_create(&result(c.as_str()));
        }
        for r in ["0025", "0023", "rate_limited"] {
            let _ = self.ocr_throttled.get_or_create(&result(r));
        }
        for c in OCR_RESULT_CLASSES {
            let _ = self.ocr_duration.get_or_create(&result(c));
        }
        for r in ["ok", "error"] {
            let _ = self.s3_fetch_duration.get_or_create(&result(r));
        }
        for r in ROUTES {
            let _ = self
                .publish_duration
                .get_or_create(&RouteLabel { route: r.into() });
        }
        for (op, results) in STORE_OPS {
            for r in results {
                let _ = self.result_store.get_or_create(&StoreLabel {
                    op: op.into(),
                    result: (*r).into(),
                });
            }
        }
    }

    /// Count one result-store request (`op` from [`STORE_OPS`], `result` one of its results).
    pub fn store_request(&self, op: &'static str, result: &'static str) {
        self.result_store
            .get_or_create(&StoreLabel {
                op: op.into(),
                result: result.into(),
            })
            .inc();
    }

    /// Start reporting `queues` (at 0 until the first broker read).
    pub fn track_queues<'a>(&self, queues: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let mut tracked = self
            .tracked_queues
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (q, role) in queues {
            let l = QueueLabel {
                queue: q.into(),
                role: role.into(),
            };
            if !tracked.contains(&l) {
                tracked.push(l.clone());
            }
            let _ = self.queue_messages.get_or_create(&l);
            let _ = self.queue_consumers.get_or_create(&l);
        }
    }

    /// The queues reported on, in configuration order.
    pub fn tracked_queues(&self) -> Vec<QueueLabel> {
        self.tracked_queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Count a finished job.
    pub fn job(&self, outcome: &str) {
        self.jobs
            .get_or_create(&OutcomeLabel {
                outcome: bounded(outcome, &OUTCOMES).to_string(),
            })
            .inc();
    }

    /// Count a bucket event that was acked without a job.
    pub fn event_ignored(&self, why: IgnoredEvent) {
        self.events_ignored.get_or_create(&reason(why)).inc();
    }

    /// Count an OCR call result (`ok`, or a value from [`ocr_result_label`]).
    pub fn ocr_call(&self, result_label: &str) {
        self.ocr_calls.get_or_create(&result(result_label)).inc();
    }

    /// Observe one OCR call of `elapsed` that ended in `class` (one of [`OCR_RESULT_CLASSES`]).
    pub fn observe_ocr(&self, class: &str, elapsed: Duration) {
        self.ocr_duration
            .get_or_create(&result(bounded(class, &OCR_RESULT_CLASSES)))
            .observe(elapsed.as_secs_f64());
    }

    /// Observe one S3 GET attempt.
    pub fn observe_s3_fetch(&self, ok: bool, elapsed: Duration) {
        self.s3_fetch_duration
            .get_or_create(&result(if ok { "ok" } else { "error" }))
            .observe(elapsed.as_secs_f64());
    }

    /// Observe one outcome publish (until the confirm) on `route` (one of [`ROUTES`]).
    pub fn observe_publish(&self, route: &str, elapsed: Duration) {
        self.publish_duration
            .get_or_create(&RouteLabel {
                route: bounded(route, &ROUTES).into(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Observe one whole delivery that ended in `outcome` (one of [`OUTCOMES`]).
    pub fn observe_job(&self, outcome_label: &str, elapsed: Duration) {
        self.job_duration
            .get_or_create(&outcome(bounded(outcome_label, &OUTCOMES)))
            .observe(elapsed.as_secs_f64());
    }

    /// The series of `lane`.
    pub fn lane(&self, lane: Lane) -> &LaneMetrics {
        &self.lanes[lane.index()]
    }

    /// Observe a job's time queued (see [`queued_seconds`]).
    pub fn observe_queued(&self, seconds: f64) {
        self.queued.observe(seconds);
    }

    /// Remember a job error for the status page (kind and job id only).
    pub fn record_error(&self, job_id: &str, kind: ErrorKind) {
        let mut q = self.recent_errors.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() == RECENT_ERRORS {
            q.pop_front();
        }
        q.push_back(RecentError {
            at: chrono::Utc::now().timestamp(),
            job_id: job_id
                .chars()
                .filter(|c| !c.is_control())
                .take(128)
                .collect(),
            kind: kind.as_str().to_string(),
        });
    }

    /// The recent errors, oldest first.
    pub fn recent_errors(&self) -> Vec<RecentError> {
        self.recent_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// OpenMetrics 1.0 text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// The classic Prometheus text format 0.0.4.
    pub fn encode_classic(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

fn outcome(o: &str) -> OutcomeLabel {
    OutcomeLabel {
        outcome: o.to_string(),
    }
}

fn reason(r: IgnoredEvent) -> ReasonLabel {
    ReasonLabel {
        reason: r.as_str().to_string(),
    }
}

fn result(r: &str) -> ResultLabel {
    ResultLabel {
        result: r.to_string(),
    }
}

/// `v` when it is one of `allowed`, else `other`: a caller's mistake can never add a series.
fn bounded<'a>(v: &'a str, allowed: &[&str]) -> &'a str {
    if allowed.contains(&v) { v } else { OTHER }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(code: &str) -> JobError {
        JobError::Provider {
            http_status: 400,
            code: ProviderCode::parse(code),
            message: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn provider_labels_are_bounded() {
        for c in ProviderCode::KNOWN {
            assert_eq!(ocr_result_label(&provider(c.as_str())), c.as_str());
        }
        // A raw vendor string never becomes a label value.
        for raw in ["9999", "Jane Doe P1234567", "", "0025 "] {
            assert_eq!(ocr_result_label(&provider(raw)), OTHER, "{raw:?}");
        }
        assert_eq!(
            ocr_result_label(&JobError::Unrecognized),
            ErrorKind::OcrUnrecognized.as_str()
        );
    }

    #[test]
    fn result_classes_follow_the_disposition() {
        assert_eq!(ocr_result_class(&provider("0025")), "rate_limited");
        assert_eq!(ocr_result_class(&provider("0023")), "quota_paused");
        assert_eq!(ocr_result_class(&provider("0002")), "configuration");
        assert_eq!(ocr_result_class(&provider("0011")), "rejected");
        assert_eq!(ocr_result_class(&JobError::RecognitionError), "transient");
        for e in [provider("0025"), provider("0023"), provider("0501")] {
            assert!(OCR_RESULT_CLASSES.contains(&ocr_result_class(&e)));
        }
    }

    #[test]
    fn every_bounded_label_is_exported_at_zero() {
        let m = Metrics::new();
        let text = m.encode_classic();
        for c in ProviderCode::KNOWN {
            let line = format!("ocr_worker_ocr_calls_total{{result=\"{}\"}} 0", c.as_str());
            assert!(text.contains(&line), "missing {line}");
        }
        assert!(text.contains("ocr_worker_ocr_calls_total{result=\"other\"} 0"));
        assert!(text.contains("ocr_worker_dead_letters_total{kind=\"poison_message\"} 0"));
        assert!(!text.contains("ocr_worker_dead_letters_total{kind=\"transient\"}"));
        assert!(text.contains("ocr_worker_jobs_total{outcome=\"succeeded\"} 0"));
        assert!(text.contains("ocr_worker_jobs_total{outcome=\"ignored\"} 0"));
        assert!(text.contains("ocr_worker_job_duration_seconds_count{outcome=\"ignored\"} 0"));
        for r in IgnoredEvent::ALL {
            let line = format!(
                "ocr_worker_events_ignored_total{{reason=\"{}\"}} 0",
                r.as_str()
            );
            assert!(text.contains(&line), "missing {line}");
        }
        assert!(
            text.contains("ocr_worker_ocr_call_duration_seconds_count{result=\"rate_limited\"} 0")
        );
        assert!(text.contains("ocr_worker_ocr_throttled_total{result=\"0023\"} 0"));
        assert!(text.contains(&format!("ocr_worker_build_info{{version=\"{VERSION}\"")));
        assert!(text.contains("ocr_worker_ocr_rate_share_calls_per_second "));
    }

    #[test]
    fn classic_and_openmetrics_differ_only_in_framing() {
        let m = Metrics::new();
        m.job("succeeded");
        m.job("not-an-outcome");
        let om = m.encode();
        let classic = m.encode_classic();
        assert!(om.ends_with("# EOF\n"));
        assert!(!classic.contains("# EOF"));
        assert!(classic.contains("# TYPE ocr_worker_jobs_total counter"));
        assert!(classic.contains("ocr_worker_jobs_total{outcome=\"succeeded\"} 1"));
        assert!(classic.contains("ocr_worker_jobs_total{outcome=\"other\"} 1"));
    }

    #[test]
    fn queued_time_prefers_the_amqp_timestamp_then_the_event_time() {
        let now = chrono::DateTime::parse_from_rfc3339("2025-01-01T00:00:10.500Z")
            .unwrap()
            .to_utc();
        let ts = now.timestamp() as u64 - 10;
        assert_eq!(queued_seconds(Some(ts), None, now), Some(10.5));
        let ev = now - chrono::Duration::milliseconds(2_250);
        assert_eq!(queued_seconds(None, Some(ev), now), Some(2.25));
        assert_eq!(queued_seconds(Some(0), Some(ev), now), Some(2.25));
        assert_eq!(queued_seconds(None, None, now), None);
        // A timestamp from the future (skew) reads 0, not negative.
        assert_eq!(queued_seconds(Some(ts + 100), None, now), Some(0.0));
    }

    #[test]
    fn recent_errors_are_capped_and_carry_no_control_characters() {
        let m = Metrics::new();
        for i in 0..(RECENT_ERRORS + 5) {
            m.record_error(&format!("job-{i}\n"), ErrorKind::OcrRejected);
        }
        let r = m.recent_errors();
        assert_eq!(r.len(), RECENT_ERRORS);
        assert_eq!(r[0].job_id, "job-5");
        assert_eq!(r.last().unwrap().kind, "ocr_rejected");
    }
}
