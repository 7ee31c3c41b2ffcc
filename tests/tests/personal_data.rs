//! Planted personal data never leaves the worker except in the result record: not in its logs
//! at `RUST_LOG=debug` or `trace` (lapin's included: it would log a returned message, passport
//! data and all, at WARN), not in `/metrics`, the status page or `/status.json`, and not in
//! `ocr-worker status`, nor in `ocr-worker dlq stats`/`show` when a dead letter's job carries
//! it as producer metadata. The job's result (the dead letter, for `dlq`) is checked to carry
//! the data, so the data did flow.

mod ops_support;

use std::time::Duration;

use lapin::options::QueueDeleteOptions;
use lapin::types::{AMQPValue, FieldTable};
use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::*;
use ops_support::BUCKET;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

async fn get(client: &reqwest::Client, url: &str, accept: &str) -> (u16, String) {
    match client.get(url).header("accept", accept).send().await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(_) => (0, String::new()),
    }
}

/// The personal data of `truth` as it would be printed.
fn planted(truth: &Truth) -> [String; 5] {
    [
        truth.number.clone(),
        truth.surname.clone(),
        truth.given_names.clone(),
        truth.full_name_korean.clone(),
        truth.birth_date.format("%Y-%m-%d").to_string(),
    ]
}

/// A W3C trace context, as a producer would send it.
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

async fn run_at(level: &str, seed: u64) {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    let truth = Truth::synthetic(seed);
    env.put(BUCKET, "planted.png", passport_png(&truth))
        .await
        .unwrap();
    let planted = planted(&truth);

    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("worker.log");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let envs = env.worker_env(&[
        ("RUST_LOG", level.to_string()),
        ("OCR_LOG_FORMAT", "json".to_string()),
        ("OCR_HTTP_LISTEN", addr.clone()),
    ]);
    let mut child = tokio::process::Command::new(binary("ocr-worker"))
        .arg("run")
        .env_clear()
        .envs(envs.iter().cloned())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://{addr}");
    eventually(WAIT, || {
        let c = client.clone();
        let u = format!("{base}/readyz");
        async move { get(&c, &u, "*/*").await.0 == 200 }
    })
    .await
    .unwrap();

    // The data flows: the result carries it, and the job's trace context.
    let mut headers = FieldTable::default();
    headers.insert(
        "traceparent".into(),
        AMQPValue::LongString(TRACEPARENT.into()),
    );
    env.publish_job_with_headers("planted-1", BUCKET, "planted.png", headers)
        .await
        .unwrap();
    let got = env.collect(1, WAIT).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].queue, "result");
    assert_eq!(got[0].traceparent.as_deref(), Some(TRACEPARENT));
    assert_eq!(
        got[0].body["passport"]["number"],
        Value::from(truth.number.clone())
    );

    // Everything ops can see of it.
    let mut seen = Vec::new();
    for (path, accept) in [
        ("/metrics", "text/plain;version=0.0.4"),
        ("/metrics", "application/openmetrics-text;version=1.0.0"),
        ("/", "text/html"),
        ("/status.js", "*/*"),
        ("/status.json", "application/json"),
        ("/readyz", "*/*"),
    ] {
        let (code, body) = get(&client, &format!("{base}{path}"), accept).await;
        assert_eq!(code, 200, "{path}");
        seen.push((path.to_string(), body));
    }
    assert!(seen[4].1.contains("succeeded"), "status.json answered");
    let status = tokio::process::Command::new(binary("ocr-worker"))
        .args(["status", "--endpoint", &base])
        .env_clear()
        .envs(envs.iter().cloned())
        .output()
        .await
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let status_out = format!(
        "{}{}",
        String::from_utf8_lossy(&status.stdout),
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(status_out.contains("succeeded=1"), "{status_out}");
    seen.push(("ocr-worker status".into(), status_out));

    // A returned message: lapin would log it in full (passport data included) at WARN. With
    // the results queue gone, the next result is unroutable and comes back.
    env.channel
        .queue_delete(
            format!("{}.results", env.prefix).as_str().into(),
            QueueDeleteOptions::default(),
        )
        .await
        .unwrap();
    env.publish_job("planted-2", BUCKET, "planted.png")
        .await
        .unwrap();
    eventually(WAIT, || {
        let c = client.clone();
        let u = format!("{base}/readyz");
        async move {
            let (code, body) = get(&c, &u, "*/*").await;
            code == 503 && body.contains("unroutable")
        }
    })
    .await
    .expect("the returned result stopped the worker");

    let pid = child.id().unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("worker exits after SIGTERM")
        .unwrap();
    let logs = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<&str> = logs.lines().collect();
    // The level really is on (trace shows TRACE lines; debug DEBUG ones).
    let marker = format!("\"level\":\"{}\"", level.to_uppercase());
    assert!(
        lines.iter().filter(|l| l.contains(&marker)).count() > 5,
        "{level}: too few {marker} lines: {}",
        lines.len()
    );
    for l in &lines {
        assert!(
            !l.contains("\"target\":\"lapin") && !l.contains("\"target\":\"amq_protocol"),
            "{level}: lapin logged: {l}"
        );
    }
    // JSON lines carry the job's span fields: job id, lane, paid attempts, trace id, and the
    // stage on lines inside one.
    let done = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["fields"]["message"] == "job done" && v["span"]["job_id"] == "planted-1")
        .unwrap_or_else(|| panic!("{level}: no `job done` line in the span of planted-1"));
    let job = &done["span"];
    assert_eq!(job["lane"], "bulk", "{done}");
    assert_eq!(job["attempt"], 1, "{done}");
    assert_eq!(job["trace_id"], &TRACEPARENT[3..35], "{done}");
    let staged = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["span"]["name"] == "stage")
        .map(|v| v["span"]["stage"].as_str().unwrap_or_default().to_string())
        .collect::<std::collections::BTreeSet<_>>();
    assert!(
        staged.contains("ocr") && staged.contains("fetch"),
        "{level}: stage spans on log lines: {staged:?}"
    );
    seen.push((format!("logs at {level}"), logs));

    for (what, text) in &seen {
        for p in &planted {
            assert!(
                !text.contains(p.as_str()),
                "{what} contains planted data `{p}`"
            );
        }
    }
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_data_stays_out_of_logs_at_debug_metrics_page_and_status() {
    run_at("debug", 4242).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_data_stays_out_of_logs_at_trace_metrics_page_and_status() {
    run_at("trace", 4343).await;
}

/// A producer that puts passport data in a job's metadata, for an object that is not there: the
/// real dead letter holds it, `dlq stats` and `dlq show` at `RUST_LOG=trace` print none of it,
/// and only `dlq show --include-job` does (the control).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_data_in_a_dead_letter_stays_out_of_dlq_stats_and_show() {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    let truth = Truth::synthetic(4545);
    let planted = planted(&truth);
    let worker = env.spawn_worker(env.settings()).await.unwrap();
    let job = serde_json::json!({
        "job_id": "planted-dead", "bucket": BUCKET, "key": "missing.png",
        "metadata": {"holder": planted.to_vec()},
    });
    assert_schema("job", &job);
    env.publish_raw(&serde_json::to_vec(&job).unwrap(), None, None)
        .await
        .unwrap();
    eventually(WAIT, || async {
        env.queue_len("dead").await.unwrap_or(0) == 1
    })
    .await
    .unwrap();
    worker.stop().await.unwrap();

    let dlq = |args: &[&str]| {
        let out = env
            .worker_command(args, &[("RUST_LOG", "trace".to_string())])
            .output()
            .unwrap();
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{args:?}: {printed}");
        printed
    };
    for args in [
        &["dlq", "stats"][..],
        &["dlq", "show"],
        &["dlq", "show", "--kind", "object_not_found"],
    ] {
        let printed = dlq(args);
        assert!(printed.contains("object_not_found"), "{args:?}: {printed}");
        for p in &planted {
            assert!(
                !printed.contains(p.as_str()),
                "{args:?} printed planted data `{p}`"
            );
        }
    }
    let printed = dlq(&["dlq", "show", "--include-job"]);
    assert!(printed.contains("planted-dead"), "{printed}");
    assert!(
        printed.contains(truth.surname.as_str()),
        "the control: {printed}"
    );
    env.cleanup().await;
}
