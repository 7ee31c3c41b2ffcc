//! A local S3-protocol server: [`s3s_fs`] (objects are files under a root directory) behind
//! [`s3s`]'s SigV4 authentication, so a client that signs wrongly is refused exactly as by AWS.
//!
//! Tests start it in-process on port 0 with [`spawn`]; the demo runs `ocr-infra s3`. An
//! optional per-request delay (changeable at run time) stands in for a slow object store.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub mod upload;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::SimpleAuth;
use s3s::path::S3Path;
use s3s::service::S3ServiceBuilder;
use std::sync::RwLock;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Signed requests only (as s3s's default), plus the deny-prefix fault.
struct Policy {
    faults: S3Faults,
}

#[async_trait::async_trait]
impl S3Access for Policy {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> s3s::S3Result<()> {
        if cx.credentials().is_none() {
            return Err(s3s::s3_error!(AccessDenied, "Signature is required"));
        }
        let deny = self
            .faults
            .deny_prefix
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let (Some(prefix), S3Path::Object { key, .. }) = (deny, cx.s3_path())
            && cx.s3_op().name() == "GetObject"
            && key.starts_with(prefix.as_str())
        {
            return Err(s3s::s3_error!(AccessDenied, "Access Denied"));
        }
        let archived = self
            .faults
            .archived_prefix
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let (Some(prefix), S3Path::Object { key, .. }) = (archived, cx.s3_path())
            && cx.s3_op().name() == "GetObject"
            && key.starts_with(prefix.as_str())
        {
            // What S3 answers for a GLACIER or DEEP_ARCHIVE object that is not restored.
            return Err(s3s::s3_error!(
                InvalidObjectState,
                "The operation is not valid for the object's storage class"
            ));
        }
        Ok(())
    }
}

/// Default access key of the local server (not a secret: local development only).
pub const DEFAULT_ACCESS_KEY: &str = "local-access-key";
/// Default secret key of the local server (local development only).
pub const DEFAULT_SECRET_KEY: &str = "local-secret-key";

/// Settings of the local S3-protocol server.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// Directory holding one sub-directory per bucket.
    pub root: PathBuf,
    /// Access key clients must sign with.
    pub access_key: String,
    /// Secret key clients must sign with.
    pub secret_key: String,
}

/// Handle to change a running server's behaviour (for fault tests), and to count its GETs.
#[derive(Debug, Clone, Default)]
pub struct S3Faults {
    delay_ms: Arc<AtomicU64>,
    deny_prefix: Arc<RwLock<Option<String>>>,
    archived_prefix: Arc<RwLock<Option<String>>>,
    /// GET latency range in milliseconds, `(min, max)`; `(0, 0)` is off.
    get_latency_ms: Arc<RwLock<(u64, u64)>>,
    /// GET requests received (object reads and listings).
    gets: Arc<AtomicU64>,
}

impl S3Faults {
    /// Answer `GetObject` for keys under `prefix` with 403 AccessDenied (as a bucket policy
    /// would); `None` lifts it.
    pub fn set_deny_prefix(&self, prefix: Option<&str>) {
        *self.deny_prefix.write().unwrap_or_else(|p| p.into_inner()) = prefix.map(str::to_string);
    }

    /// Answer `GetObject` for keys under `prefix` with 403 `InvalidObjectState`, as S3 does
    /// for an archived object that is not restored (the server itself refuses archive storage
    /// classes on PUT); `None` lifts it.
    pub fn set_archived_prefix(&self, prefix: Option<&str>) {
        *self
            .archived_prefix
            .write()
            .unwrap_or_else(|p| p.into_inner()) = prefix.map(str::to_string);
    }

    /// Delay every GET (object reads and listings) by a latency drawn uniformly from
    /// `min..=max`, like a regional S3 (20–80 ms is typical); `(0, 0)` turns it off. On top of
    /// [`S3Faults::set_delay`].
    pub fn set_get_latency(&self, min: Duration, max: Duration) {
        let ms = |d: Duration| d.as_millis().try_into().unwrap_or(u64::MAX);
        *self
            .get_latency_ms
            .write()
            .unwrap_or_else(|p| p.into_inner()) = (ms(min), ms(max).max(ms(min)));
    }

    fn get_latency(&self) -> Duration {
        let (min, max) = *self
            .get_latency_ms
            .read()
            .unwrap_or_else(|p| p.into_inner());
        if max == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(rand::random_range(min..=max))
    }

    /// GET requests received so far (object reads and listings), counted on arrival.
    pub fn gets(&self) -> u64 {
        self.gets.load(Ordering::Relaxed)
    }

    /// Delay every request by `delay` before serving it.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms.store(
            delay.as_millis().try_into().unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// Serve the S3 protocol on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    config: S3Config,
    faults: S3Faults,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    std::fs::create_dir_all(&config.root)?;
    let fs = s3s_fs::FileSystem::new(&config.root)
        .map_err(|e| std::io::Error::other(format!("s3s-fs root: {e:?}")))?;
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(
        config.access_key.clone(),
        config.secret_key.clone(),
    ));
    builder.set_access(Policy {
        faults: faults.clone(),
    });
    let service = builder.build();
    let http = ConnBuilder::new(TokioExecutor::new());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (socket, _) = tokio::select! {
            res = listener.accept() => match res {
                Ok(conn) => conn,
                Err(err) => {
                    tracing::warn!(error = %err, "s3: accept failed");
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        // Small responses (headers, then body) must not wait for delayed ACKs (Nagle).
        let _ = socket.set_nodelay(true);
        let service = service.clone();
        let faults = faults.clone();
        let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let service = service.clone();
            let mut delay = Duration::from_millis(faults.delay_ms.load(Ordering::Relaxed));
            if req.method() == hyper::Method::GET {
                faults.gets.fetch_add(1, Ordering::Relaxed);
                delay += faults.get_latency();
            }
            async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                hyper::service::Service::call(&service, req).await
            }
        });
        let conn = http
            .serve_connection(TokioIo::new(socket), svc)
            .into_owned();
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

/// A server running in-process on an ephemeral port; stops when dropped.
pub struct RunningS3 {
    addr: SocketAddr,
    config: S3Config,
    faults: S3Faults,
    _stop: oneshot::Sender<()>,
    _dir: Option<tempfile::TempDir>,
}

impl RunningS3 {
    /// `http://127.0.0.1:PORT`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// Access key clients must use.
    pub fn access_key(&self) -> &str {
        &self.config.access_key
    }
    /// Secret key clients must use.
    pub fn secret_key(&self) -> &str {
        &self.config.secret_key
    }
    /// Directory the objects live in.
    pub fn root(&self) -> &std::path::Path {
        &self.config.root
    }
    /// Fault controls (e.g. slow responses).
    pub fn faults(&self) -> &S3Faults {
        &self.faults
    }
}

/// Start a server on 127.0.0.1:0 over a fresh temporary directory with the default keys.
pub async fn spawn() -> std::io::Result<RunningS3> {
    let dir = tempfile::tempdir()?;
    let config = S3Config {
        root: dir.path().to_path_buf(),
        access_key: DEFAULT_ACCESS_KEY.into(),
        secret_key: DEFAULT_SECRET_KEY.into(),
    };
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let faults = S3Faults::default();
    tokio::spawn(serve(
        listener,
        config.clone(),
        faults.clone(),
        async move {
            let _ = rx.await;
        },
    ));
    Ok(RunningS3 {
        addr,
        config,
        faults,
        _stop: tx,
        _dir: Some(dir),
    })
}

/// Arguments of `ocr-infra s3`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000", env = "LOCAL_S3_LISTEN")]
    listen: SocketAddr,
    /// Directory holding one sub-directory per bucket.
    #[arg(long, default_value = ".data/s3", env = "LOCAL_S3_ROOT")]
    root: PathBuf,
    /// Access key clients must sign with.
    #[arg(long, env = "AWS_ACCESS_KEY_ID", default_value = DEFAULT_ACCESS_KEY, hide_env_values = true, hide_default_value = true)]
    access_key: String,
    /// Secret key clients must sign with.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", default_value = DEFAULT_SECRET_KEY, hide_env_values = true, hide_default_value = true)]
    secret_key: String,
    /// Latency of every GET, uniform over MIN-MAX milliseconds (e.g. `20-80`, a regional S3).
    #[arg(long, value_parser = parse_range_ms)]
    get_latency_ms: Option<(u64, u64)>,
}

fn parse_range_ms(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let p = |v: &str| {
        v.trim()
            .parse::<u64>()
            .map_err(|_| format!("`{s}` is not MIN-MAX in ms"))
    };
    let (a, b) = (p(a)?, p(b)?);
    if a > b {
        return Err(format!("`{s}`: MIN is above MAX"));
    }
    Ok((a, b))
}

/// Run the server until Ctrl-C / SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, root = %args.root.display(), "s3-protocol server listening");
    let config = S3Config {
        root: args.root,
        access_key: args.access_key,
        secret_key: args.secret_key,
    };
    let faults = S3Faults::default();
    if let Some((min, max)) = args.get_latency_ms {
        faults.set_get_latency(Duration::from_millis(min), Duration::from_millis(max));
    }
    serve(listener, config, faults, shutdown_signal()).await?;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
