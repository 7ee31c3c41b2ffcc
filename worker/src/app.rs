//! Building and running the worker: the one `build` that `main` and the tests share.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::consumer::{self, Context};
use crate::health::{self, Health};
use crate::limiter::OcrLimiter;
use crate::metrics::Metrics;
use crate::ocr::ClovaClient;
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::result_store::ResultStore;
use crate::storage::{ObjectStore, S3Store};

/// How long leaving the presence exchange, and stopping the health server, may take at exit.
const LEAVE_WAIT: Duration = Duration::from_secs(1);

/// A built worker, ready to run.
pub struct Application {
    ctx: Context<S3Store, ClovaClient>,
    http_addr: SocketAddr,
    http_listener: tokio::net::TcpListener,
}

/// The pipeline with the CLOVA client, built from settings, over `store` (S3, or local files
/// for `ocr-worker process FILE`).
pub fn pipeline<S: ObjectStore>(
    settings: &Settings,
    store: S,
    results: Option<ResultStore>,
    metrics: Arc<Metrics>,
) -> anyhow::Result<Pipeline<S, ClovaClient>> {
    let o = &settings.ocr;
    let ocr = ClovaClient::new(
        &o.invoke_url,
        o.secret.clone(),
        o.request_mode,
        o.call_timeout,
        o.connect_timeout,
    )
    .context("building the OCR client")?;
    let limiter = OcrLimiter::new(o.rate_per_sec, o.max_concurrency);
    limiter.set_bulk_min_share(o.bulk_min_share);
    metrics.ocr_limit.set(i64::from(limiter.current_limit()));
    metrics.ocr_rate_share.set(o.rate_per_sec);
    Ok(Pipeline {
        store,
        ocr,
        limiter,
        metrics,
        config: PipelineConfig::from(settings),
        results,
    })
}

/// The result store the settings ask for, on `store`'s S3 client. Warns when it may share a
/// bucket with the images (its own notifications are then ignored by prefix, see
/// `docs/result-store.md`).
pub fn result_store(settings: &Settings, store: &S3Store) -> Option<ResultStore> {
    let rs = settings.s3.results.clone()?;
    let inputs = &settings.s3.allowed_buckets;
    if inputs.is_empty() || inputs.contains(&rs.bucket) {
        tracing::warn!(
            results_bucket = %rs.bucket,
            "the result store's bucket may also hold input images: bucket notifications for \
             keys under its prefixes are ignored; give the store a bucket of its own, or \
             notify only on the image prefixes"
        );
    }
    Some(ResultStore::new(store.client().clone(), rs))
}

impl Application {
    /// Build with the S3 client from the standard AWS environment.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = S3Store::from_settings(&settings.s3).await;
        Self::build_with(settings, store).await
    }

    /// Build with an explicit S3 client (tests point it at their own server).
    pub async fn build_with(settings: Settings, store: S3Store) -> anyhow::Result<Self> {
        settings.require_ocr()?;
        let metrics = Arc::new(Metrics::new());
        let results = result_store(&settings, &store);
        let pipeline = pipeline(&settings, store, results, metrics.clone())?;
        let listen = settings.http.listen;
        let http_listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding the health server on {listen}"))?;
        let http_addr = http_listener.local_addr()?;
        Ok(Application {
            ctx: Context {
                settings: Arc::new(settings),
                pipeline: Arc::new(pipeline),
                metrics,
                health: Arc::new(Health::default()),
                stop: CancellationToken::new(),
                free_returns: Arc::default(),
            },
            http_addr,
            http_listener,
        })
    }

    /// Address of the health/metrics server.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Readiness flags.
    pub fn health(&self) -> Arc<Health> {
        self.ctx.health.clone()
    }

    /// The metrics registry the worker serves on `/metrics`.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.ctx.metrics.clone()
    }

    /// Run until `shutdown` is cancelled: serve health, consume, drain on shutdown.
    pub async fn run_until(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Application {
            ctx, http_listener, ..
        } = self;
        let http_stop = CancellationToken::new();
        let app = health::router(ctx.health.clone(), ctx.metrics.clone());
        let stop = http_stop.clone();
        let http = tokio::spawn(async move {
            axum::serve(http_listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        });
        let health = ctx.health.clone();
        let sd = shutdown.clone();
        tokio::spawn(async move {
            sd.cancelled().await;
            health.set_shutting_down();
        });
        // Share the domain's OCR limits with the other replicas (a no-op when turned off),
        // as a member only while this replica consumes.
        let presence = crate::presence::spawn(
            &ctx.settings,
            ctx.pipeline.limiter.clone(),
            ctx.metrics.clone(),
            ctx.health.subscribe_active(),
        );
        // Queue depths and consumers from the broker, on a timer (ops: worker/src/status.rs).
        let stats_stop = CancellationToken::new();
        let stats = crate::status::spawn_queue_poller(
            &ctx.settings,
            ctx.metrics.clone(),
            stats_stop.clone(),
        );
        let res = consumer::run(ctx, shutdown).await;
        // Our OCR calls are over: let the others take our share, stop the queue poller and stop
        // serving health. All at once, all bounded: nothing after the last ack may keep the
        // process from exiting (during a resource alarm the leave beat is never written).
        stats_stop.cancel();
        http_stop.cancel();
        let leave = async {
            if let Some(p) = presence
                && tokio::time::timeout(LEAVE_WAIT, p.leave()).await.is_err()
            {
                tracing::warn!("OCR quota: leaving the presence exchange timed out");
            }
        };
        let _ = tokio::join!(
            leave,
            tokio::time::timeout(LEAVE_WAIT, http),
            tokio::time::timeout(LEAVE_WAIT, stats)
        );
        res.map_err(Into::into)
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}
