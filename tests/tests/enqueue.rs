//! `ocr-worker enqueue` against the real broker and S3 server: every job it publishes is a
//! valid job by `schemas/job.schema.json`, and a run that fails mid-way says on stderr which
//! `--start-after` key resumes it without missing an object.

use std::collections::BTreeMap;
use std::time::Duration;

use lapin::options::BasicGetOptions;
use ocr_common::job::object_job_id;
use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::{TestEnv, assert_schema, eventually};
use serde_json::Value;

const BUCKET: &str = "scans";
const KEYS: usize = 10;

/// Drain the work queue: key → (job id, message id), each body checked against the schema.
async fn drain_jobs(env: &TestEnv) -> BTreeMap<String, (String, Option<String>)> {
    let mut jobs = BTreeMap::new();
    while let Some(m) = env
        .channel
        .basic_get(
            env.names.jobs.as_str().into(),
            BasicGetOptions { no_ack: true },
        )
        .await
        .unwrap()
    {
        let body: Value = serde_json::from_slice(&m.delivery.data).unwrap();
        assert_schema("job", &body);
        let message_id = m
            .delivery
            .properties
            .message_id()
            .as_ref()
            .map(|s| s.to_string());
        jobs.insert(
            body["key"].as_str().unwrap().to_string(),
            (body["job_id"].as_str().unwrap().to_string(), message_id),
        );
    }
    jobs
}

fn enqueue(env: &TestEnv, extra: &[&str]) -> std::process::Output {
    let target = format!("s3://{BUCKET}/");
    let mut args = vec!["enqueue", target.as_str()];
    args.extend_from_slice(extra);
    // A classic work queue: it applies a length limit at once, so the failure is exact.
    env.worker_command(&args, &[("OCR_QUEUE_TYPE", "classic".into())])
        .output()
        .unwrap()
}

fn rabbitmqctl(args: &[&str]) -> String {
    ocr_tests::rabbitmqctl(args).unwrap()
}

// Multi-threaded: the blocking `Command::output` calls must not starve the in-process servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_publishes_valid_jobs_and_names_the_resume_key_when_it_fails() {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    let keys: Vec<String> = (0..KEYS).map(|i| format!("k{i:02}.png")).collect();
    for (i, key) in keys.iter().enumerate() {
        env.put(BUCKET, key, vec![b'x'; 10 + i]).await.unwrap();
    }
    // The ETags as a listing reports them (the S3 stand-in, s3s-fs, lists none).
    let listing = env
        .s3_client
        .list_objects_v2()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    let etags: BTreeMap<String, Option<String>> = listing
        .contents()
        .iter()
        .map(|o| (o.key().unwrap().to_string(), o.e_tag().map(str::to_string)))
        .collect();
    assert_eq!(etags.len(), KEYS);

    // The work queue takes 3 jobs, then refuses publishes (nacks): the run fails mid-way.
    let policy = env.prefix.clone();
    let pattern = format!("^{}$", env.names.jobs.replace('.', "\\."));
    rabbitmqctl(&[
        "-q",
        "set_policy",
        "--apply-to",
        "queues",
        &policy,
        &pattern,
        r#"{"max-length":3,"overflow":"reject-publish"}"#,
    ]);
    let out = enqueue(&env, &[]);
    rabbitmqctl(&["-q", "clear_policy", &policy]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let resume = stderr
        .lines()
        .find_map(|l| {
            l.split_once("resume with --start-after ")
                .map(|(_, k)| k.trim())
        })
        .unwrap_or_else(|| panic!("no resume key on stderr: {stderr}"))
        .to_string();
    assert_eq!(resume, keys[2], "{stderr}");
    assert!(stderr.contains("failed after 3 confirmed jobs"), "{stderr}");
    let first = drain_jobs(&env).await;
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        keys[..3].iter().collect::<Vec<_>>()
    );

    // Once the queue takes jobs again, resuming from that key enqueues the rest.
    eventually(Duration::from_secs(30), || async {
        // Our policy no longer applies (another, such as the test broker's lowest-priority
        // expiry policy, may).
        rabbitmqctl(&["-q", "list_queues", "name", "policy"])
            .lines()
            .any(|l| {
                let mut cols = l.split_whitespace();
                cols.next() == Some(env.names.jobs.as_str()) && cols.next() != Some(&policy)
            })
    })
    .await
    .unwrap();
    let out = enqueue(&env, &["--start-after", &resume]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["last_key"],
        Value::from(keys.last().unwrap().as_str())
    );
    let second = drain_jobs(&env).await;
    assert!(second.keys().all(|k| **k > *resume), "{second:?}");
    let mut all = first;
    all.extend(second);
    assert_eq!(all.keys().cloned().collect::<Vec<_>>(), keys);
    for (key, (job_id, message_id)) in &all {
        // Derived from bucket, key and listed ETag, as for a bucket notification.
        assert_eq!(job_id, &object_job_id(BUCKET, key, etags[key].as_deref()));
        assert_eq!(message_id.as_deref(), Some(job_id.as_str()));
    }
    env.cleanup().await;
}
