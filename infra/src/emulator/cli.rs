//! `ocr-infra emulator`: serve the emulator from the command line.
//!
//! Settings come from `--config FILE.json` (an [`EmulatorConfig`] document, any subset of
//! fields), then individual flags override it. The secret can come from `--secret` or the
//! environment variable `CLOVA_EMULATOR_SECRET`; it is never printed.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

use super::config::{EmulatorConfig, Latency};

/// Arguments of `ocr-infra emulator`.
#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "CLOVA_EMULATOR_LISTEN", default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// JSON configuration file (fields of EmulatorConfig; flags below override it).
    #[arg(long, env = "CLOVA_EMULATOR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Settings overriding the file (boxed: keeps the subcommand enum small).
    #[command(flatten)]
    pub settings: Box<Settings>,
}

/// Individual settings of `ocr-infra emulator`, each overriding the configuration file.
#[derive(clap::Args)]
pub struct Settings {
    /// Expected X-OCR-SECRET value (default "local-secret").
    #[arg(long, env = "CLOVA_EMULATOR_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Domain id of the invoke URL (default "demo").
    #[arg(long)]
    pub domain_id: Option<String>,
    /// Invoke key of the invoke URL (default "local").
    #[arg(long)]
    pub invoke_key: Option<String>,
    /// Largest accepted decoded image in bytes (default 50 MiB).
    #[arg(long)]
    pub max_image_bytes: Option<usize>,
    /// Cap on simultaneous calls; above it 400/0025.
    #[arg(long)]
    pub max_concurrency: Option<u32>,
    /// Cap on calls per sliding second; above it 400/0025.
    #[arg(long)]
    pub rate_per_sec: Option<u32>,
    /// Billed calls after which everything gets 400/0023 (until reset).
    #[arg(long)]
    pub period_quota: Option<u64>,
    /// Latency: "fixed:MS", "uniform:MIN..MAX", "jitter:MEAN+-J", "tail:BASE,P,TAIL",
    /// "lognormal:MEDIAN,SIGMA".
    #[arg(long)]
    pub latency: Option<Latency>,
    /// Probability of 500/0500.
    #[arg(long)]
    pub fault_rate_0500: Option<f64>,
    /// Probability of 500/0501.
    #[arg(long)]
    pub fault_rate_0501: Option<f64>,
    /// Probability of a hang (no answer for --hang-ms).
    #[arg(long)]
    pub fault_rate_hang: Option<f64>,
    /// Probability of a dropped connection.
    #[arg(long)]
    pub fault_rate_drop: Option<f64>,
    /// Probability of a gateway-style non-JSON 502.
    #[arg(long)]
    pub fault_rate_502: Option<f64>,
    /// Probability of a gateway-style non-JSON 503.
    #[arg(long)]
    pub fault_rate_503: Option<f64>,
    /// Probability of an HTTP 200 whose JSON body is cut short.
    #[arg(long)]
    pub fault_rate_garbage: Option<f64>,
    /// Duration of a hang in ms (default 600000).
    #[arg(long)]
    pub hang_ms: Option<u64>,
}

impl std::fmt::Debug for Args {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Args")
            .field("listen", &self.listen)
            .field("config", &self.config)
            .field(
                "secret",
                &self
                    .settings
                    .secret
                    .as_ref()
                    .map(|_| super::config::REDACTED),
            )
            .finish_non_exhaustive()
    }
}

impl Args {
    /// The configuration these arguments describe (file, then flags), validated.
    pub fn to_config(&self) -> anyhow::Result<EmulatorConfig> {
        let mut c = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                serde_json::from_str(&text)
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            None => EmulatorConfig::default(),
        };
        let a = &self.settings;
        fn set<T: Clone>(slot: &mut T, value: &Option<T>) {
            if let Some(v) = value {
                *slot = v.clone();
            }
        }
        set(&mut c.secret, &a.secret);
        set(&mut c.domain_id, &a.domain_id);
        set(&mut c.invoke_key, &a.invoke_key);
        set(&mut c.max_image_bytes, &a.max_image_bytes);
        if a.max_concurrency.is_some() {
            c.max_concurrency = a.max_concurrency;
        }
        if a.rate_per_sec.is_some() {
            c.rate_per_sec = a.rate_per_sec;
        }
        if a.period_quota.is_some() {
            c.period_quota = a.period_quota;
        }
        set(&mut c.latency, &a.latency);
        set(&mut c.faults.error_0500, &a.fault_rate_0500);
        set(&mut c.faults.error_0501, &a.fault_rate_0501);
        set(&mut c.faults.hang, &a.fault_rate_hang);
        set(&mut c.faults.drop_connection, &a.fault_rate_drop);
        set(&mut c.faults.gateway_502, &a.fault_rate_502);
        set(&mut c.faults.gateway_503, &a.fault_rate_503);
        set(&mut c.faults.garbage_200, &a.fault_rate_garbage);
        set(&mut c.faults.hang_ms, &a.hang_ms);
        c.validate()?;
        Ok(c)
    }
}

/// Run the subcommand until Ctrl-C / SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let config = args.to_config()?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(config = ?config, "CLOVA OCR emulator configuration");
    println!(
        "CLOVA OCR emulator listening on http://{addr}\n  invoke URL: http://{addr}/custom/v1/{}/{}\n  endpoint:   http://{addr}/custom/v1/{}/{}/document/id-card\n  admin:      http://{addr}/_emulator/stats",
        config.domain_id, config.invoke_key, config.domain_id, config.invoke_key
    );
    super::serve(listener, config, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("emulator shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn flags_build_the_config_and_debug_hides_the_secret() {
        let cli = Cli::try_parse_from([
            "emulator",
            "--secret",
            "top-secret",
            "--max-concurrency",
            "3",
            "--rate-per-sec",
            "50",
            "--latency",
            "jitter:100+-50",
            "--fault-rate-0500",
            "0.1",
            "--fault-rate-drop",
            "0.05",
        ])
        .unwrap();
        let config = cli.args.to_config().unwrap();
        assert_eq!(config.secret, "top-secret");
        assert_eq!(config.max_concurrency, Some(3));
        assert_eq!(config.rate_per_sec, Some(50));
        assert_eq!(config.faults.error_0500, 0.1);
        assert_eq!(config.faults.drop_connection, 0.05);
        assert_eq!(config.latency.to_string(), "jitter:100+-50");
        assert!(!format!("{:?}", cli.args).contains("top-secret"));
        assert!(!format!("{config:?}").contains("top-secret"));
        let bad = Cli::try_parse_from(["emulator", "--fault-rate-0500", "2"]).unwrap();
        assert!(bad.args.to_config().is_err());
        assert!(Cli::try_parse_from(["emulator", "--latency", "soon"]).is_err());
    }
}
