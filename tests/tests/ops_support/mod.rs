//! Shared by the ops suites (observability, status page, personal data): the external tools
//! (Debian's `prometheus`/`promtool`, `chromium`), a real Prometheus on a free port, the
//! dashboard's queries and a workload that keeps jobs finishing.
//!
//! A missing tool fails the test with the command that installs it
//! (`scripts/install-ops-tools.sh`, which CI runs); `OCR_SKIP_OPS_TOOLS=1` skips instead.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ocr_tests::*;
use serde_json::Value;

/// The bucket the workload's images live in.
pub const BUCKET: &str = "ops";

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The path of `tool` on PATH; `None` (skip) only when `OCR_SKIP_OPS_TOOLS=1`.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => Some(p),
        None if std::env::var("OCR_SKIP_OPS_TOOLS").is_ok_and(|v| v == "1") => {
            eprintln!("SKIPPED: `{name}` is not installed (OCR_SKIP_OPS_TOOLS=1)");
            None
        }
        None => panic!(
            "`{name}` is not installed: run scripts/install-ops-tools.sh (CI does), \
             or set OCR_SKIP_OPS_TOOLS=1 to skip this test"
        ),
    }
}

/// A real Prometheus server on a free loopback port, with its own data directory.
pub struct Prometheus {
    child: tokio::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Start `prometheus` scraping `targets` every second under job `ocr-worker`, with the
    /// alert rules of `infra/deploy/prometheus/alerts.yml` loaded.
    pub async fn start(bin: &Path, targets: &[String]) -> anyhow::Result<Prometheus> {
        let dir = tempfile::tempdir()?;
        let rules = repo_root().join("infra/deploy/prometheus/alerts.yml");
        let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files: [\"{}\"]\n\
             scrape_configs:\n  - job_name: ocr-worker\n    static_configs:\n      - targets: [{}]\n",
            rules.display(),
            targets.join(", ")
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config)?;
        let port = free_port();
        let child = tokio::process::Command::new(bin)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log"))?)
            .kill_on_drop(true)
            .spawn()?;
        let p = Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let client = reqwest::Client::new();
        let ready = format!("{}/-/ready", p.url);
        eventually(Duration::from_secs(30), || {
            let r = client.get(&ready).send();
            async move { r.await.is_ok_and(|r| r.status().is_success()) }
        })
        .await?;
        Ok(p)
    }

    /// GET `/api/v1/<path>` with `params`; the JSON answer (any status).
    pub async fn api(&self, path: &str, params: &[(&str, &str)]) -> anyhow::Result<Value> {
        let url = reqwest::Url::parse_with_params(&format!("{}/api/v1/{path}", self.url), params)?;
        Ok(reqwest::Client::new().get(url).send().await?.json().await?)
    }

    /// An instant query.
    pub async fn query(&self, q: &str) -> anyhow::Result<Value> {
        self.api("query", &[("query", q)]).await
    }

    /// The first sample value of an instant query, if any.
    pub async fn value(&self, q: &str) -> Option<f64> {
        let v = self.query(q).await.ok()?;
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }

    /// Stop the server.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The Grafana dashboard.
pub fn dashboard() -> Value {
    let path = repo_root().join("infra/deploy/grafana/dashboards/ocr-worker.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("dashboard file"))
        .expect("dashboard is JSON")
}

/// Every panel query of the dashboard: (panel title, refId, expression as written).
pub fn dashboard_queries(d: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            out.push((
                p["title"].as_str().unwrap_or("").to_string(),
                t["refId"].as_str().unwrap_or("").to_string(),
                t["expr"].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    out
}

/// Grafana's built-in variables as Grafana would fill them for a 1 s scrape interval
/// (`$__rate_interval` is at least four scrape intervals). Panics on an unknown variable.
pub fn substitute(expr: &str) -> String {
    let mut e = expr.to_string();
    for (var, val) in [
        ("$__rate_interval", "4s"),
        ("$__interval", "1s"),
        ("$__range", "1m"),
    ] {
        e = e.replace(var, val);
    }
    assert!(!e.contains('$'), "unsubstituted variable in `{expr}`");
    e
}

/// The longest range selector (`[…]`) in `expr`, if any.
pub fn longest_range(expr: &str) -> Option<Duration> {
    let mut best = None;
    let mut rest = expr;
    while let Some(i) = rest.find('[') {
        let Some(j) = rest[i..].find(']') else { break };
        let inner = &rest[i + 1..i + j];
        let split = inner
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(inner.len());
        if let Ok(n) = inner[..split].parse::<u64>() {
            let d = match &inner[split..] {
                "ms" => Duration::from_millis(n),
                "s" => Duration::from_secs(n),
                "m" => Duration::from_secs(n * 60),
                "h" => Duration::from_secs(n * 3600),
                _ => Duration::ZERO,
            };
            best = Some(best.map_or(d, |b: Duration| b.max(d)));
        }
        rest = &rest[i + j..];
    }
    best
}

/// Upload `images` synthetic passports to [`BUCKET`].
pub async fn upload_images(env: &TestEnv, images: usize) {
    env.create_bucket(BUCKET).await.unwrap();
    for i in 0..images {
        env.put(
            BUCKET,
            &format!("img/{i}.png"),
            passport_png(&Truth::synthetic(1000 + i as u64)),
        )
        .await
        .unwrap();
    }
}

/// Keep jobs flowing (a good one every `every`, an unreadable one every 5th, a missing object
/// every 7th) until the returned token is cancelled; returns how many were published.
pub fn workload(
    env: &TestEnv,
    images: usize,
    every: Duration,
) -> (
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<usize>,
) {
    let stop = tokio_util::sync::CancellationToken::new();
    let token = stop.clone();
    let conn_url = amqp_url();
    let queue = format!("{}.jobs", env.prefix);
    let task = tokio::spawn(async move {
        let conn = lapin::Connection::connect(&conn_url, lapin::ConnectionProperties::default())
            .await
            .expect("workload connection");
        let ch = conn.create_channel().await.expect("workload channel");
        let mut n = 0usize;
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = token.cancelled() => break,
                _ = tick.tick() => {}
            }
            let body = if n % 5 == 4 {
                b"not json".to_vec()
            } else if n % 7 == 6 {
                serde_json::to_vec(&serde_json::json!({
                    "job_id": format!("wl-{n}"), "bucket": BUCKET, "key": "img/missing.png"
                }))
                .unwrap()
            } else {
                serde_json::to_vec(&serde_json::json!({
                    "job_id": format!("wl-{n}"), "bucket": BUCKET,
                    "key": format!("img/{}.png", n % images)
                }))
                .unwrap()
            };
            ch.basic_publish(
                "".into(),
                queue.as_str().into(),
                lapin::options::BasicPublishOptions::default(),
                &body,
                lapin::BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
            n += 1;
        }
        let _ = conn.close(200, "done".into()).await;
        n
    });
    (stop, task)
}
