//! Nothing lost when a RabbitMQ cluster loses a node. A soak, not part of the suite (it starts
//! a 3-node cluster of its own, about 30 s, and runs for about a minute):
//!
//! ```text
//! cargo test -p ocr-tests --test cluster -- --ignored --nocapture
//! ```
//!
//! `OCR_CLUSTER_JOBS` sets the batch (default 2000).
//!
//! `scripts/rabbitmq-node.sh cluster` starts nodes `ocr-c1..3` (AMQP 5682-5684) beside the
//! main broker and never touches it. Two worker processes get all three URLs, `ocr-c1`
//! first, so they start on the node that is then stopped; the test itself publishes and
//! collects on `ocr-c3`. Every queue the worker declares is a quorum queue with a replica on
//! each node, so two of three keep every queue available.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use ocr_infra::emulator::{EmulatorConfig, Latency};
use ocr_tests::{TestEnv, Truth, by_message_id, passport_png, rabbitmqctl};
use serde_json::json;

const BUCKET: &str = "passports";
const C3: &str = "amqp://guest:guest@127.0.0.1:5684/%2f";

fn cluster() -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/rabbitmq-node.sh");
    let out = std::process::Command::new("bash")
        .args([script, "cluster"])
        .output()
        .expect("run scripts/rabbitmq-node.sh");
    assert!(
        out.status.success(),
        "the cluster did not start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn node(args: &[&str], name: &str) {
    let mut all = vec!["-n", name];
    all.extend_from_slice(args);
    rabbitmqctl(&all).unwrap_or_else(|e| panic!("rabbitmqctl {all:?}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: starts a 3-node cluster; see the module doc"]
async fn losing_a_node_loses_no_job() {
    let urls = cluster();
    let n: usize = std::env::var("OCR_CLUSTER_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let emulator = EmulatorConfig {
        latency: Latency::Uniform {
            min_ms: 5,
            max_ms: 15,
        },
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
    // `OCR_CLUSTER_QUEUE_TYPE=classic` shows what quorum queues are for: the classic queues
    // live on the stopped node, and their jobs and outcomes are gone with it.
    let mut extra = vec![("AMQP_URL", urls.clone())];
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
    collector
        .wait_until(Duration::from_secs(120), |c| c.len() >= n / 3)
        .await
        .unwrap();
    // Lose the node the workers started on, mid-batch.
    let stopped_at = collector.len();
    node(&["-q", "stop_app"], "ocr-c1@localhost");
    eprintln!("cluster: ocr-c1 stopped after {stopped_at} of {n} outcomes");
    let all_done = collector
        .wait_until(Duration::from_secs(300), |c| {
            by_message_id(&c.snapshot()).len() >= n
        })
        .await;
    node(&["-q", "start_app"], "ocr-c1@localhost");
    all_done.unwrap();
    let got = collector.snapshot();
    let by_id = by_message_id(&got);
    let known: HashSet<&String> = ids.iter().collect();
    let mut kinds: HashMap<&str, usize> = HashMap::new();
    for id in &ids {
        let outs = by_id.get(id).unwrap_or_else(|| panic!("job {id} lost"));
        for o in outs {
            assert_eq!(o.queue, outs[0].queue, "{id}: duplicate outcomes disagree");
        }
        *kinds.entry(outs[0].queue).or_default() += 1;
    }
    for k in by_id.keys() {
        assert!(known.contains(k), "outcome for an unknown job {k}");
    }
    let duplicates = got.len() - by_id.len();
    eprintln!(
        "cluster: {n} jobs, {} outcomes ({duplicates} duplicates by message id), {kinds:?}",
        got.len()
    );
    assert_eq!(kinds.get("result").copied(), Some(n), "{kinds:?}");
    assert_eq!(
        json!(by_id.len()),
        json!(n),
        "every job has exactly one distinct outcome"
    );
    for w in workers {
        w.terminate().await.unwrap();
    }
    env.cleanup().await;
}
