//! A faithful emulator of the CLOVA OCR ID-card endpoint, over real HTTP.
//!
//! `POST /custom/v1/{domain_id}/{invoke_key}/document/id-card` in both request modes
//! (`application/json` with base64 `images[].data`, and `multipart/form-data` with `message` and
//! `file` parts), answering like the vendor: the documented error codes and bodies, success
//! bodies shaped key for key like the vendor example and built from the ground truth carried by
//! each image ([`crate::truth`]), the domain quota (0025, 0023), and injected latency and faults.
//! An admin API under `/_emulator/` reports counters and changes the behaviour at run time
//! (see [`admin`] and `docs/emulator.md`).
//!
//! In tests, start one on an ephemeral port with [`spawn`]:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use ocr_infra::emulator::{EmulatorConfig, spawn};
//! let emulator = spawn(EmulatorConfig::default()).await?;
//! let url = format!("{}/document/id-card", emulator.invoke_url());
//! // ... call `url` with header X-OCR-SECRET: emulator.secret() ...
//! emulator.shutdown().await?;
//! # Ok(()) }
//! ```

pub mod admin;
pub mod cli;
pub mod codes;
pub mod config;
pub mod response;
pub mod server;
pub mod stats;

mod quota;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use codes::ErrorCode;
pub use config::{ConfigError, EmulatorConfig, FaultKind, Faults, Latency};
pub use server::serve;
pub use stats::{LatencyStats, Outcome, Stats};

/// An emulator serving on `127.0.0.1` in a background task; shuts down when dropped or by
/// [`RunningEmulator::shutdown`].
pub struct RunningEmulator {
    addr: SocketAddr,
    secret: String,
    domain_id: String,
    invoke_key: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("addr", &self.addr)
            .field("invoke_url", &self.invoke_url())
            .finish_non_exhaustive()
    }
}

/// Start an emulator with `config` on `127.0.0.1:0` (an ephemeral port) in a background task.
///
/// Fails if the configuration does not validate ([`std::io::ErrorKind::InvalidInput`]) or the
/// port cannot be bound.
pub async fn spawn(config: EmulatorConfig) -> std::io::Result<RunningEmulator> {
    config
        .validate()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let (secret, domain_id, invoke_key) = (
        config.secret.clone(),
        config.domain_id.clone(),
        config.invoke_key.clone(),
    );
    let task = tokio::spawn(serve(listener, config, async move {
        let _ = stopped.await;
    }));
    Ok(RunningEmulator {
        addr,
        secret,
        domain_id,
        invoke_key,
        stop: Some(stop),
        task: Some(task),
    })
}

impl RunningEmulator {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The invoke URL as the vendor issues it: `http://127.0.0.1:PORT/custom/v1/{domain}/{key}`.
    /// The client appends `/document/id-card`. (Reflects the start-up domain and key.)
    pub fn invoke_url(&self) -> String {
        format!(
            "http://{}/custom/v1/{}/{}",
            self.addr, self.domain_id, self.invoke_key
        )
    }

    /// The full id-card endpoint URL (`invoke_url()` + `/document/id-card`).
    pub fn endpoint_url(&self) -> String {
        format!("{}/document/id-card", self.invoke_url())
    }

    /// Base URL of the admin API: `http://127.0.0.1:PORT/_emulator`.
    pub fn admin_url(&self) -> String {
        format!("http://{}/_emulator", self.addr)
    }

    /// The secret the emulator expects in `X-OCR-SECRET` (as configured at start-up).
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// Stop serving: calls still waiting get their connection closed; waits for the server.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
