//! Nothing lost when a RabbitMQ cluster loses nodes. Soaks, not part of the suite (each starts
//! a 3-node cluster of its own, about 30 s, and runs for a minute or two):
//!
//! ```text
//! cargo test -p ocr-tests --test cluster -- --ignored --nocapture --test-threads 1
//! ```
//!
//! `scripts/rabbitmq-node.sh cluster` starts nodes `ocr-c1..3` (AMQP 5682-5684, `+sbwt none`)
//! beside the main broker and never touches it. Two worker processes get all three URLs,
//! `ocr-c1` first; the test itself publishes and collects on `ocr-c3`, which is never taken
//! down. Every queue the worker declares is a quorum queue with a replica on each node.
//! `OCR_CLUSTER_JOBS` sets the batch (default 3000), `OCR_CLUSTER_LATENCY_MS` the OCR latency
//! (default `100-150`); `OCR_CLUSTER_QUEUE_TYPE=classic` shows
//! what quorum queues are for (the classic queues live on one node and go with it).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use ocr_infra::emulator::{EmulatorConfig, Latency};
use ocr_tests::{Collector, Received, TestEnv, Truth, by_message_id, passport_png, rabbitmqctl};

const BUCKET: &str = "passports";
const C3: &str = "amqp://guest:guest@127.0.0.1:5684/%2f";
/// The OCR domain's concurrency, at the emulator and in the workers' settings.
const SLOTS: u32 = 8;

/// [`ocr_tests::rabbitmq_node`] off the runtime's threads (a node takes seconds to start).
async fn node_script(args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ocr_tests::rabbitmq_node(&args)
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The node that leads `queue`, as the cluster says.
fn leader(queue: &str) -> String {
    let out = rabbitmqctl(&[
        "-n",
        "ocr-c3@localhost",
        "-q",
        "list_queues",
        "name",
        "leader",
        "--formatter",
        "json",
    ])
    .unwrap();
    let all: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    all.iter()
        .find(|q| q["name"] == queue)
        .and_then(|q| q["leader"].as_str())
        .unwrap_or("")
        .trim_end_matches("@localhost")
        .to_string()
}

struct Soak {
    env: TestEnv,
    collector: Collector,
    workers: Vec<ocr_tests::WorkerProcess>,
    ids: Vec<String>,
}

/// The cluster, an emulator capped at [`SLOTS`] calls, two workers on all three nodes, and
/// `n` jobs published.
async fn soak(n: usize) -> Soak {
    let urls = node_script(&["cluster"]).await;
    let emulator = EmulatorConfig {
        latency: latency(),
        max_concurrency: Some(SLOTS),
        ..Default::default()
    };
    let env = TestEnv::start_on(emulator, C3.into(), None).await.unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    for i in 0..16u64 {
        env.put(
            BUCKET,
            &format!("img/{i}.png"),
            passport_png(&Truth::synthetic(i)),
        )
        .await
        .unwrap();
    }
    let mut extra = vec![
        ("AMQP_URL", urls),
        ("CLOVA_OCR_MAX_CONCURRENCY", SLOTS.to_string()),
    ];
    if let Ok(t) = std::env::var("OCR_CLUSTER_QUEUE_TYPE") {
        extra.push(("OCR_QUEUE_TYPE", t));
    }
    let mut workers = Vec::new();
    for _ in 0..2 {
        workers.push(env.spawn_worker_process(&extra).await.unwrap());
    }
    let collector = env.collector().await.unwrap();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let id = format!("cl-{i}");
        env.publish_job(&id, BUCKET, &format!("img/{}.png", i % 16))
            .await
            .unwrap();
        ids.push(id);
    }
    Soak {
        env,
        collector,
        workers,
        ids,
    }
}

/// OCR latency: uniform 100-150 ms, or `OCR_CLUSTER_LATENCY_MS=MIN-MAX`.
fn latency() -> Latency {
    let (min_ms, max_ms) = std::env::var("OCR_CLUSTER_LATENCY_MS")
        .ok()
        .and_then(|v| {
            let (a, b) = v.split_once('-')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .unwrap_or((100, 150));
    Latency::Uniform { min_ms, max_ms }
}

fn jobs() -> usize {
    std::env::var("OCR_CLUSTER_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

/// Distinct outcomes so far.
fn distinct(c: &Collector) -> usize {
    by_message_id(&c.snapshot()).len()
}

/// Wait for `target` distinct outcomes.
async fn until_distinct(c: &Collector, target: usize, within: Duration) {
    c.wait_until(within, |c| distinct(c) >= target)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Every job has exactly one distinct outcome, all of the same kind per id; returns the
/// duplicates (same `message_id`) and the outcome queues' counts.
fn exactly_once(ids: &[String], got: &[Received]) -> (usize, HashMap<&'static str, usize>) {
    let by_id = by_message_id(got);
    for o in got.iter().filter(|o| o.queue == "dead") {
        eprintln!(
            "cluster: dead letter {}: {} ({})",
            o.body["job_id"], o.body["error"]["kind"], o.body["error"]["message"]
        );
    }
    let known: HashSet<&String> = ids.iter().collect();
    let mut kinds = HashMap::new();
    for id in ids {
        let outs = by_id.get(id).unwrap_or_else(|| panic!("job {id} lost"));
        if outs.iter().any(|o| o.queue != outs[0].queue) {
            // Say what each copy was: a dead letter's kind, paid attempts and message, a
            // result's attempts (no personal data: the test's own synthetic passports).
            let what: Vec<String> = outs
                .iter()
                .map(|o| match o.queue {
                    "dead" => format!(
                        "dead letter {} after {} attempts ({})",
                        o.body["error"]["kind"],
                        o.body["error"]["attempts"],
                        o.body["error"]["message"]
                    ),
                    q => format!("{q} after {} attempts", o.body["attempts"]),
                })
                .collect();
            panic!("{id}: duplicate outcomes disagree: {what:?}");
        }
        *kinds.entry(outs[0].queue).or_default() += 1;
    }
    for k in by_id.keys() {
        assert!(known.contains(k), "outcome for an unknown job {k}");
    }
    (got.len() - by_id.len(), kinds)
}

/// SIGKILL the node that leads the jobs queue mid-run and start it again; later the same to
/// another node. Every job ends with one distinct result, the workers resume within seconds,
/// and the emulator never refuses a call for the concurrency cap (the quota holds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: starts a 3-node cluster; see the module doc"]
async fn sigkilled_nodes_lose_no_job() {
    let n = jobs();
    let s = soak(n).await;
    let jobs_queue = s.env.names.jobs.clone();
    let mut killed = Vec::new();
    // The first kill a quarter into the batch; the second as soon as the first node is back.
    until_distinct(&s.collector, n / 4, Duration::from_secs(180)).await;
    for step in 1..=2 {
        // The jobs queue's leader, unless that is ocr-c3 (the test's own node) or a node
        // killed before: then another one.
        let lead = leader(&jobs_queue);
        let victim = if lead == "ocr-c3" || killed.contains(&lead) || lead.is_empty() {
            ["ocr-c1", "ocr-c2"]
                .into_iter()
                .find(|c| !killed.iter().any(|k| k == c))
                .unwrap()
                .to_string()
        } else {
            lead.clone()
        };
        let before = distinct(&s.collector);
        let t = Instant::now();
        node_script(&["kill", &victim]).await;
        until_distinct(&s.collector, before + 50, Duration::from_secs(120)).await;
        let resumed = t.elapsed();
        eprintln!(
            "cluster: kill {step}: {victim} (jobs leader {lead}) SIGKILLed at {before} of {n}; \
             50 more outcomes {:.1} s later",
            resumed.as_secs_f64()
        );
        node_script(&["cluster"]).await;
        eprintln!(
            "cluster: {victim} back after {:.1} s; jobs leader now {}",
            t.elapsed().as_secs_f64(),
            leader(&jobs_queue)
        );
        killed.push(victim);
    }
    until_distinct(&s.collector, n, Duration::from_secs(300)).await;
    let got = s.collector.snapshot();
    let (duplicates, kinds) = exactly_once(&s.ids, &got);
    let stats = ocr_tests::emulator_stats(&s.env).await.unwrap();
    eprintln!(
        "cluster: {n} jobs, {} outcomes ({duplicates} duplicates), {kinds:?}; emulator: \
         peak {} in flight of {SLOTS}, {} refused (0025)",
        got.len(),
        stats.peak_in_flight,
        stats.rejected("0025")
    );
    assert_eq!(kinds.get("result").copied(), Some(n), "{kinds:?}");
    assert_eq!(stats.rejected("0025"), 0, "the domain's quota was exceeded");
    for w in s.workers {
        w.terminate().await.unwrap();
    }
    s.env.cleanup().await;
}

/// With two of three nodes down the quorum queues have no majority: the workers pause (no
/// job is dead-lettered, nothing is lost) and resume when the majority is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: starts a 3-node cluster; see the module doc"]
async fn without_a_majority_workers_pause_and_resume() {
    let n = jobs() / 2;
    let s = soak(n).await;
    until_distinct(&s.collector, n / 4, Duration::from_secs(180)).await;
    node_script(&["kill", "ocr-c1"]).await;
    node_script(&["kill", "ocr-c2"]).await;
    let at_loss = distinct(&s.collector);
    // No event says "nothing happens": watch the minority for a while.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let during = distinct(&s.collector);
    let dead_during = s
        .collector
        .snapshot()
        .iter()
        .filter(|o| o.queue == "dead")
        .count();
    eprintln!(
        "cluster: majority down at {at_loss} of {n}; {} outcomes in the next 15 s, {dead_during} dead letters",
        during - at_loss
    );
    let t = Instant::now();
    node_script(&["cluster"]).await;
    until_distinct(&s.collector, n, Duration::from_secs(300)).await;
    eprintln!(
        "cluster: majority back; all {n} done {:.1} s after the restart began",
        t.elapsed().as_secs_f64()
    );
    let got = s.collector.snapshot();
    let (duplicates, kinds) = exactly_once(&s.ids, &got);
    eprintln!(
        "cluster: {n} jobs, {} outcomes ({duplicates} duplicates), {kinds:?}",
        got.len()
    );
    assert_eq!(
        dead_during, 0,
        "a job was dead-lettered while the majority was down"
    );
    assert_eq!(kinds.get("result").copied(), Some(n), "{kinds:?}");
    for w in s.workers {
        w.terminate().await.unwrap();
    }
    s.env.cleanup().await;
}
