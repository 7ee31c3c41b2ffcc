//! The dashboards, alerts and metrics proven in the real tools: `promtool check metrics` on a
//! live scrape, and a real Prometheus (Debian's package) scraping a worker that is processing
//! jobs, through whose HTTP API every dashboard query and every alert expression runs.

mod ops_support;

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::*;
use ops_support::*;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

/// Prometheus 2.42's scrape `Accept` header.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,\
    application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find("ocr_worker_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

#[test]
fn dashboard_is_grafana_json_with_datasource_references_and_every_panel_ops_needs() {
    let d = dashboard();
    assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty()));
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 30));
    // The datasource is a variable, so the dashboard imports into any Grafana.
    let vars = d["templating"]["list"].as_array().unwrap();
    let ds = vars
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    let panels = d["panels"].as_array().unwrap();
    let mut ids = HashSet::new();
    for p in panels {
        let title = p["title"].as_str().unwrap();
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "{title}: duplicate id"
        );
        assert!(
            ["timeseries", "stat", "gauge", "table", "bargauge"]
                .contains(&p["type"].as_str().unwrap()),
            "{title}"
        );
        let g = &p["gridPos"];
        let (x, w) = (g["x"].as_u64().unwrap(), g["w"].as_u64().unwrap());
        assert!(
            x + w <= 24 && g["h"].as_u64().unwrap() > 0 && g["y"].is_u64(),
            "{title}"
        );
        for ds in std::iter::once(&p["datasource"]).chain(
            p["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| &t["datasource"]),
        ) {
            assert_eq!(ds["type"], "prometheus", "{title}");
            assert_eq!(ds["uid"], "${datasource}", "{title}");
        }
        let refs: HashSet<_> = p["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["refId"].as_str().unwrap())
            .collect();
        assert_eq!(
            refs.len(),
            p["targets"].as_array().unwrap().len(),
            "{title}"
        );
    }
    let queries = dashboard_queries(&d);
    let all: String = queries.iter().map(|(_, _, e)| e.as_str()).collect();
    for needed in [
        "ocr_worker_jobs_total",
        "ocr_worker_dead_letters_total",
        "ocr_worker_events_ignored_total",
        "ocr_worker_s3_fetch_duration_seconds_bucket",
        "ocr_worker_limiter_wait_seconds_bucket",
        "ocr_worker_ocr_call_duration_seconds_bucket",
        "ocr_worker_publish_duration_seconds_bucket",
        "ocr_worker_job_duration_seconds_bucket",
        "ocr_worker_job_queued_seconds_bucket",
        "ocr_worker_ocr_quota_utilisation_ratio",
        "ocr_worker_ocr_rate_share_calls_per_second",
        "ocr_worker_ocr_throttled_total{result=\"0023\"}",
        "0025",
        "ocr_worker_queue_messages_ready",
        "ocr_worker_broker_blocked",
        "ocr_worker_ready",
        "histogram_quantile(0.5,",
        "histogram_quantile(0.99,",
    ] {
        assert!(all.contains(needed), "no panel uses {needed}");
    }
    // Every replica exports the broker's figures: panels aggregate them with max().
    for (title, _, e) in &queries {
        if e.contains("ocr_worker_queue_") || e.contains("ocr_worker_broker_blocked") {
            assert!(
                e.trim_start().starts_with("max"),
                "{title}: `{e}` needs max()"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_scrape_passes_promtool_and_speaks_both_formats() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    upload_images(&env, 2).await;
    let worker = env.spawn_worker(env.settings()).await.unwrap();
    env.publish_job("m-1", BUCKET, "img/0.png").await.unwrap();
    env.publish_job("m-2", BUCKET, "img/missing.png")
        .await
        .unwrap();
    assert_eq!(env.collect(2, WAIT).await.unwrap().len(), 2);
    let client = reqwest::Client::new();
    let url = format!("http://{}/metrics", worker.http_addr);
    let classic = client
        .get(&url)
        .header("accept", "text/plain;version=0.0.4")
        .send()
        .await
        .unwrap();
    assert!(
        classic.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = classic.text().await.unwrap();
    assert!(!text.contains("# EOF"));
    for line in [
        "ocr_worker_jobs_total{outcome=\"succeeded\"} 1",
        "ocr_worker_dead_letters_total{kind=\"object_not_found\"} 1",
        "ocr_worker_s3_fetch_duration_seconds_count{result=\"error\"} 1",
        "ocr_worker_ocr_call_duration_seconds_count{result=\"ok\"} 1",
        "ocr_worker_events_ignored_total{reason=\"metadata_only\"} 0",
        "ocr_worker_jobs_total{outcome=\"ignored\"} 0",
    ] {
        assert!(text.contains(line), "missing `{line}`");
    }
    assert!(text.contains("ocr_worker_build_info{version=\""));
    // Bounded labels: every `result` of the OCR counter is from the known set.
    for l in text
        .lines()
        .filter(|l| l.starts_with("ocr_worker_ocr_calls_total{"))
    {
        let v = l.split('"').nth(1).unwrap();
        let known = v == "ok"
            || v == "other"
            || ocr_common::failure::ProviderCode::KNOWN
                .iter()
                .any(|c| c.as_str() == v)
            || v.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        assert!(known, "unbounded label value in `{l}`");
    }
    // promtool lints the classic format (its 2.42 rejects OpenMetrics `_total` families).
    let mut child = std::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}"
    );
    // Prometheus's own Accept gets OpenMetrics.
    let om = client
        .get(&url)
        .header("accept", PROMETHEUS_ACCEPT)
        .send()
        .await
        .unwrap();
    assert!(
        om.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text; version=1.0.0")
    );
    assert!(om.text().await.unwrap().ends_with("# EOF\n"));
    worker.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_prometheus_runs_every_dashboard_query_and_alert_expression() {
    let Some(bin) = tool("prometheus") else {
        return;
    };
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    upload_images(&env, 3).await;
    let worker = env.spawn_worker(env.settings()).await.unwrap();
    let prom = Prometheus::start(&bin, &[worker.http_addr.to_string()])
        .await
        .unwrap();
    let (stop_load, load) = workload(&env, 3, Duration::from_millis(150));

    let queries: Vec<_> = dashboard_queries(&dashboard())
        .into_iter()
        .map(|(t, r, e)| (t, r, substitute(&e)))
        .collect();
    assert!(queries.len() >= 14, "{}", queries.len());
    let longest = queries
        .iter()
        .filter_map(|(_, _, e)| longest_range(e))
        .max()
        .expect("range queries");
    // Run for at least twice the longest range: that many 1 s scrapes of the worker stored.
    let samples_needed = 2 * longest.as_secs() + 1;
    eventually(WAIT, || async {
        prom.value("count_over_time(ocr_worker_build_info[10m])")
            .await
            .is_some_and(|n| n >= samples_needed as f64)
    })
    .await
    .expect("Prometheus never stored enough scrapes of the worker");
    // Jobs are finishing as Prometheus sees them.
    eventually(WAIT, || async {
        prom.value(&substitute(&queries[0].2))
            .await
            .is_some_and(|v| v > 0.0)
    })
    .await
    .expect("throughput never above 0 in Prometheus");

    for (title, ref_id, q) in &queries {
        let v = prom.query(q).await.unwrap();
        assert_eq!(v["status"], "success", "{title}/{ref_id}: `{q}`: {v}");
        let n = v["data"]["result"].as_array().map_or(0, Vec::len);
        assert!(n > 0, "{title}/{ref_id}: `{q}` returned no series");
    }

    // The alert rules as Prometheus loaded them: every one parsed and evaluates cleanly.
    let file =
        std::fs::read_to_string(repo_root().join("infra/deploy/prometheus/alerts.yml")).unwrap();
    let written = file
        .lines()
        .filter(|l| l.trim_start().starts_with("- alert:"))
        .count();
    assert_eq!(written, 8);
    async fn alert_rules(prom: &Prometheus) -> Vec<Value> {
        let Ok(v) = prom.api("rules", &[("type", "alert")]).await else {
            return Vec::new();
        };
        v["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect()
    }
    eventually(WAIT, || async {
        let r = alert_rules(&prom).await;
        r.len() == written
            && r.iter().all(|r| {
                r["health"] == "ok"
                    && r["lastEvaluation"]
                        .as_str()
                        .is_some_and(|t| !t.starts_with("0001"))
            })
    })
    .await
    .expect("every alert rule loaded and evaluated with health ok");
    let rules = alert_rules(&prom).await;
    let healthy_quiet = [
        "OcrWorkerNoConsumers",
        "OcrWorkerNotReady",
        "OcrWorkerBrokerBlocked",
        "OcrWorkerStoppedOnConfigurationError",
        "OcrWorkerQuotaPaused0023",
        "OcrWorkerNoProgress",
    ];
    for r in &rules {
        let name = r["name"].as_str().unwrap();
        let q = r["query"].as_str().unwrap();
        let v = prom.query(q).await.unwrap();
        assert_eq!(v["status"], "success", "{name}: `{q}`: {v}");
        // Every metric the alert names is one the worker exports (no typo hides an alert).
        for m in metric_names(q) {
            let c = prom.query(&format!("count({m})")).await.unwrap();
            assert!(
                !c["data"]["result"].as_array().unwrap().is_empty(),
                "{name}: metric {m} has no series"
            );
        }
        // A healthy, busy, consuming worker trips none of these.
        if healthy_quiet.contains(&name) {
            assert!(
                v["data"]["result"].as_array().unwrap().is_empty(),
                "{name} would fire on a healthy worker: {v}"
            );
        }
    }
    stop_load.cancel();
    assert!(load.await.unwrap() > 0);
    prom.stop().await;
    worker.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_subcommand_exits_by_the_workers_answer() {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    let worker = env.spawn_worker(env.settings()).await.unwrap();
    let run = |listen: String, ready: bool| {
        let mut cmd = tokio::process::Command::new(binary("ocr-worker"));
        cmd.arg("health");
        if ready {
            cmd.arg("--ready");
        }
        cmd.env_clear().env("OCR_HTTP_LISTEN", listen).output()
    };
    let up = worker.http_addr.to_string();
    assert_eq!(run(up.clone(), false).await.unwrap().status.code(), Some(0));
    assert_eq!(run(up.clone(), true).await.unwrap().status.code(), Some(0));
    // An unspecified address is probed on loopback (the image listens on 0.0.0.0).
    let any = format!("0.0.0.0:{}", worker.http_addr.port());
    assert_eq!(run(any, false).await.unwrap().status.code(), Some(0));
    worker.stop().await.unwrap();
    // Nothing listening: unhealthy.
    assert_eq!(run(up, false).await.unwrap().status.code(), Some(1));
    env.cleanup().await;
}
