//! `ocr-worker enqueue` against the real broker and S3 server: every job it publishes is a
//! valid job by `schemas/job.schema.json`; a run that fails mid-way says on stderr which
//! `--start-after` key resumes it without missing an object; a SIGKILL mid-way followed by
//! `--resume` leaves exactly one job id per object and at most the in-flight window of
//! duplicates, over listings of many pages and several targets; the filters keep exactly what
//! they say; a dry run publishes nothing, needs no broker and prints the right figures.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use futures::StreamExt as _;
use lapin::options::BasicGetOptions;
use ocr_common::job::object_job_id;
use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::{TestEnv, assert_schema, binary, eventually};
use serde_json::Value;

const BUCKET: &str = "scans";
const KEYS: usize = 10;

/// One message taken off the work queue.
#[derive(Debug, Clone)]
struct Taken {
    key: String,
    job_id: String,
    message_id: Option<String>,
    body: Value,
}

/// Drain the work queue, each body checked against the schema.
async fn drain(env: &TestEnv) -> Vec<Taken> {
    drain_queue(env, &env.names.jobs).await
}

/// Drain `queue`, each body checked against the schema.
async fn drain_queue(env: &TestEnv, queue: &str) -> Vec<Taken> {
    let mut out = Vec::new();
    while let Some(m) = env
        .channel
        .basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
    {
        let body: Value = serde_json::from_slice(&m.delivery.data).unwrap();
        assert_schema("job", &body);
        out.push(Taken {
            key: body["key"].as_str().unwrap().to_string(),
            job_id: body["job_id"].as_str().unwrap().to_string(),
            message_id: m
                .delivery
                .properties
                .message_id()
                .as_ref()
                .map(|s| s.to_string()),
            body,
        });
    }
    out
}

/// Drain the work queue: key → (job id, message id).
async fn drain_jobs(env: &TestEnv) -> BTreeMap<String, (String, Option<String>)> {
    drain(env)
        .await
        .into_iter()
        .map(|t| (t.key, (t.job_id, t.message_id)))
        .collect()
}

/// `ocr-worker enqueue <args>` for this environment, with a classic work queue (it applies a
/// length limit at once, so a failure is exact) and `extra` environment.
fn enqueue_command(
    env: &TestEnv,
    args: &[&str],
    extra: &[(&str, String)],
) -> std::process::Command {
    let mut all = vec!["enqueue"];
    all.extend_from_slice(args);
    let mut vars = vec![("OCR_QUEUE_TYPE", "classic".to_string())];
    vars.extend(extra.iter().cloned());
    env.worker_command(&all, &vars)
}

/// `ocr-worker enqueue s3://scans/ <extra>`, run to the end.
fn enqueue(env: &TestEnv, extra: &[&str]) -> std::process::Output {
    let target = format!("s3://{BUCKET}/");
    let mut args = vec![target.as_str()];
    args.extend_from_slice(extra);
    enqueue_command(env, &args, &[]).output().unwrap()
}

fn rabbitmqctl(args: &[&str]) -> String {
    ocr_tests::rabbitmqctl(args).unwrap()
}

fn stdout_json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON report ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Upload `keys` (one byte each), a few at a time.
async fn put_many(env: &TestEnv, keys: &[String]) {
    futures::stream::iter(keys)
        .map(|k| env.put(BUCKET, k, vec![b'x']))
        .buffer_unordered(16)
        .for_each(|r| async move { r.unwrap() })
        .await;
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
    assert!(stderr.contains("failed after 3 confirmed jobs"), "{stderr}");
    // Publishes go out side by side, so which 3 the queue took is up to the broker; the key
    // named is the low-water mark: every key up to it is in the queue.
    let resume = stderr.lines().find_map(|l| {
        l.split_once("resume with --start-after ")
            .map(|(_, k)| k.trim().to_string())
    });
    if resume.is_none() {
        assert!(stderr.contains("no --start-after"), "{stderr}");
    }
    let first = drain_jobs(&env).await;
    assert_eq!(first.len(), 3, "{first:?}");
    for key in keys
        .iter()
        .filter(|k| resume.as_ref().is_some_and(|r| *k <= r))
    {
        assert!(
            first.contains_key(key),
            "{key} is under the mark: {first:?}"
        );
    }
    if let Some(r) = &resume {
        assert!(keys.contains(r), "{stderr}");
        // The mark is the longest prefix in the queue: the key after it is not there.
        let next = keys.iter().find(|k| *k > r);
        assert!(next.is_none_or(|n| !first.contains_key(n)), "{stderr}");
    }

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
    let start: Vec<&str> = resume
        .as_deref()
        .map(|r| vec!["--start-after", r])
        .unwrap_or_default();
    let report = stdout_json(&enqueue(&env, &start));
    assert_eq!(
        report["last_key"],
        Value::from(keys.last().unwrap().as_str())
    );
    assert_eq!(report["targets"][0]["status"], "complete");
    let second = drain_jobs(&env).await;
    if let Some(r) = &resume {
        assert!(second.keys().all(|k| k > r), "{second:?}");
    }
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

fn read_checkpoint(path: &Path) -> Option<Value> {
    // The file is replaced by a rename: a read sees the old or the new one, whole.
    let bytes = std::fs::read(path).ok()?;
    Some(serde_json::from_slice(&bytes).expect("a checkpoint is always whole JSON"))
}

/// Two targets, the second listed in pages of 100; SIGKILL while the second is under way;
/// `--resume` skips the first (complete) and continues the second from its low-water mark,
/// whose pages are then the store's default 1000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_backfill_resumes_from_its_checkpoint_with_one_job_id_per_object() {
    const SMALL: usize = 50;
    const LARGE: usize = 3000;
    const WINDOW: usize = 16;
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    let small: Vec<String> = (0..SMALL).map(|i| format!("a/{i:04}.png")).collect();
    let large: Vec<String> = (0..LARGE).map(|i| format!("b/{i:05}.png")).collect();
    put_many(&env, &small).await;
    put_many(&env, &large).await;
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("backfill.json");
    let cp_arg = cp.to_str().unwrap();
    let targets = [format!("s3://{BUCKET}/a/"), format!("s3://{BUCKET}/b/")];
    let window = WINDOW.to_string();
    let common = [
        targets[0].as_str(),
        targets[1].as_str(),
        "--checkpoint",
        cp_arg,
        "--suffix",
        ".png",
        "--in-flight",
        &window,
    ];

    // Slow listing pages (each request waits 60 ms), 100 keys a page: 30 pages for `b/`.
    env.s3.faults().set_delay(Duration::from_millis(60));
    let mut args = common.to_vec();
    args.extend(["--page-size", "100"]);
    let mut child = enqueue_command(&env, &args, &[])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill once the checkpoint shows the second target part-way (a few pages in).
    eventually(Duration::from_secs(60), || async {
        read_checkpoint(&cp).is_some_and(|c| {
            c["targets"][targets[1].as_str()]["confirmed"]
                .as_u64()
                .is_some_and(|n| n >= 300)
        })
    })
    .await
    .unwrap();
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());
    env.s3.faults().set_delay(Duration::ZERO);

    let at_kill = read_checkpoint(&cp).unwrap();
    assert_eq!(at_kill["version"], 1);
    let a = &at_kill["targets"][targets[0].as_str()];
    assert_eq!(a["complete"], true, "{at_kill}");
    assert_eq!(a["after"], Value::from(small.last().unwrap().as_str()));
    let b = &at_kill["targets"][targets[1].as_str()];
    assert_eq!(b["complete"], false, "killed before the end: {at_kill}");
    let mark = b["after"].as_str().unwrap().to_string();
    assert!(mark.as_str() < large.last().unwrap().as_str(), "{at_kill}");
    let first = drain(&env).await;
    let first_keys: BTreeSet<&str> = first.iter().map(|t| t.key.as_str()).collect();
    // Safety: every key under the saved mark has its job in the queue.
    for key in small.iter().chain(&large).filter(|k| **k <= mark) {
        assert!(
            first_keys.contains(key.as_str()),
            "{key} is under the mark {mark}"
        );
    }
    assert_eq!(
        b["confirmed"].as_u64().unwrap() as usize,
        large.iter().filter(|k| **k <= mark).count(),
        "the checkpoint counts the jobs under its mark"
    );

    let report = stdout_json(
        &enqueue_command(&env, &[&common[..], &["--resume"]].concat(), &[])
            .output()
            .unwrap(),
    );
    assert_eq!(
        report["targets"][0]["status"], "already_complete",
        "{report}"
    );
    assert_eq!(report["targets"][0]["published"], 0);
    assert_eq!(report["targets"][1]["status"], "complete", "{report}");
    assert_eq!(
        report["targets"][1]["last_key"],
        Value::from(large.last().unwrap().as_str())
    );
    let after = read_checkpoint(&cp).unwrap();
    let b = &after["targets"][targets[1].as_str()];
    assert_eq!(b["complete"], true);
    assert_eq!(b["confirmed"], LARGE as u64, "{after}");
    let second = drain(&env).await;

    // Every object is in the queue under exactly one job id (its content-derived id), and
    // the duplicates are at most the publishes after the saved mark (the window).
    let mut ids: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for t in first.iter().chain(&second) {
        assert_eq!(t.message_id.as_deref(), Some(t.job_id.as_str()));
        ids.entry(&t.key).or_default().insert(&t.job_id);
    }
    let expected: BTreeSet<&str> = small.iter().chain(&large).map(String::as_str).collect();
    assert_eq!(ids.keys().copied().collect::<BTreeSet<_>>(), expected);
    for (key, set) in &ids {
        assert_eq!(set.len(), 1, "{key}: {set:?}");
        assert_eq!(
            set.first().copied(),
            Some(object_job_id(BUCKET, key, None).as_str())
        );
    }
    let total = first.len() + second.len();
    let duplicates = total - expected.len();
    eprintln!(
        "killed with the mark at {mark}: {} jobs before, {} after the resume, {duplicates} \
         duplicates",
        first.len(),
        second.len()
    );
    assert!(
        duplicates <= WINDOW,
        "{duplicates} duplicates, more than the window of {WINDOW}"
    );
    // The second run published only what was above the mark.
    assert!(
        second.iter().all(|t| t.key > mark),
        "a key under the mark was published again"
    );
    env.cleanup().await;
}

/// Set an object's `LastModified` (s3s-fs reads it from the file's modification time).
fn set_modified(env: &TestEnv, key: &str, rfc3339: &str) {
    let t: SystemTime = chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .into();
    std::fs::File::options()
        .write(true)
        .open(env.s3.root().join(BUCKET).join(key))
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filters_keep_what_they_say_and_a_dry_run_publishes_nothing() {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    let jan = "2026-01-15T00:00:00Z";
    // (key, size, last modified, kept?)
    let objects: &[(&str, usize, &str, bool)] = &[
        ("p/keep1.jpg", 100, jan, true),
        ("p/KEEP2.PNG", 1000, jan, true),
        ("p/keep3.png", 10, "2026-01-01T00:00:00Z", true), // both bounds inclusive/at start
        ("p/notes.txt", 100, jan, false),                  // suffix
        ("p/scan.jpeg", 100, jan, false),                  // suffix (.jpeg is not .jpg)
        ("p/tiny.jpg", 9, jan, false),                     // under --min-size
        ("p/big.png", 1001, jan, false),                   // over --max-size (1KB)
        ("p/old.jpg", 100, "2025-12-31T23:59:59Z", false), // before --modified-after
        ("p/feb.jpg", 100, "2026-02-01T00:00:00Z", false), // at --modified-before
        ("p/empty.png", 0, jan, false),                    // empty
        ("q/other.png", 100, jan, false),                  // another prefix
    ];
    for (key, size, modified, _) in objects {
        env.put(BUCKET, key, vec![b'x'; *size]).await.unwrap();
        set_modified(&env, key, modified);
    }
    let kept: BTreeSet<&str> = objects.iter().filter(|o| o.3).map(|o| o.0).collect();
    let kept_bytes: u64 = objects.iter().filter(|o| o.3).map(|o| o.1 as u64).sum();
    let target = format!("s3://{BUCKET}/p/");
    let filters = [
        target.as_str(),
        "--suffix",
        ".jpg,.PNG",
        "--min-size",
        "10",
        "--max-size",
        "1KB",
        "--modified-after",
        "2026-01-01T00:00:00Z",
        "--modified-before",
        "2026-02-01T00:00:00+00:00",
    ];

    let report = stdout_json(
        &enqueue_command(&env, &[&filters[..], &["--force-ocr"]].concat(), &[])
            .output()
            .unwrap(),
    );
    let jobs = drain(&env).await;
    assert_eq!(
        jobs.iter().map(|t| t.key.as_str()).collect::<BTreeSet<_>>(),
        kept
    );
    assert_eq!(jobs.len(), kept.len(), "one job each");
    for t in &jobs {
        assert_eq!(t.body["force_ocr"], true, "{}", t.body);
        assert_eq!(t.job_id, object_job_id(BUCKET, &t.key, None));
    }
    assert_eq!(report["published"], kept.len() as u64, "{report}");
    assert_eq!(report["listed"], 10, "{report}");
    assert_eq!(report["bytes"], kept_bytes, "{report}");
    assert_eq!(
        report["skipped_by"],
        serde_json::json!({"empty": 1, "suffix": 2, "size": 2, "modified": 2, "archived": 0}),
        "{report}"
    );
    assert_eq!(report["skipped"], 7);

    // A dry run with the same filters, on a domain of 3 calls/s and 8 at once, calls of 2 s
    // (8 ÷ 2 = 4/s, so the rate of 3/s binds): the queue stays empty.
    let domain = [
        ("CLOVA_OCR_RATE_PER_SEC", "3".to_string()),
        ("CLOVA_OCR_MAX_CONCURRENCY", "8".to_string()),
    ];
    let dry_args = [&filters[..], &["--dry-run", "--ocr-latency", "2"]].concat();
    let out = enqueue_command(&env, &dry_args, &domain).output().unwrap();
    let dry = stdout_json(&out);
    assert_eq!(
        env.queue_len("jobs").await.unwrap(),
        0,
        "a dry run publishes nothing"
    );
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["objects"], kept.len() as u64, "{dry}");
    assert_eq!(dry["ocr_calls"], kept.len() as u64, "{dry}");
    assert_eq!(dry["bytes"], kept_bytes, "{dry}");
    assert_eq!(dry["skipped"], 7, "{dry}");
    assert_eq!(dry["calls_per_sec"], 3.0, "{dry}");
    assert_eq!(dry["bound"], "rate", "{dry}");
    assert_eq!(dry["estimated_secs"], kept.len() as f64 / 3.0, "{dry}");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains(&format!("objects: {}", kept.len())), "{text}");
    assert!(
        text.contains("min(rate 3/s, concurrency 8 ÷ 2 s latency = 4/s)"),
        "{text}"
    );

    // It needs no broker at all; 1.5 s calls and 2 at once make concurrency bind (1.33/s).
    let no_broker = [
        ("AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f".to_string()),
        ("CLOVA_OCR_MAX_CONCURRENCY", "2".to_string()),
    ];
    let dry_args = [&filters[..], &["--dry-run", "--ocr-latency", "1500ms"]].concat();
    let dry = stdout_json(
        &enqueue_command(&env, &dry_args, &no_broker)
            .output()
            .unwrap(),
    );
    assert_eq!(dry["objects"], kept.len() as u64, "{dry}");
    assert_eq!(dry["bound"], "concurrency", "{dry}");
    let expected = kept.len() as f64 / (2.0 / 1.5);
    assert!(
        (dry["estimated_secs"].as_f64().unwrap() - expected).abs() < 1e-9,
        "{dry}"
    );
    // The real run needs the broker, and says so.
    let out = enqueue_command(&env, &filters, &no_broker)
        .output()
        .unwrap();
    assert!(!out.status.success());
    env.cleanup().await;
}

#[test]
fn enqueue_help_lists_the_backfill_flags_and_never_a_secret() {
    const SECRET: &str = "super-secret-value-123";
    let out = std::process::Command::new(binary("ocr-worker"))
        .args(["enqueue", "--help"])
        .env("AMQP_URL", format!("amqp://user:{SECRET}@host:5672/%2f"))
        .env("CLOVA_OCR_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(!help.contains(SECRET), "{help}");
    for flag in [
        "--suffix",
        "--min-size",
        "--max-size",
        "--modified-after",
        "--modified-before",
        "--include-archived",
        "--force-ocr",
        "--checkpoint",
        "--resume",
        "--start-after",
        "--limit",
        "--dry-run",
        "--ocr-latency",
        "--in-flight",
        "[default: 2s]",
    ] {
        assert!(help.contains(flag), "--help does not list {flag}: {help}");
    }
    assert!(!help.contains("--page-size"), "a test knob, hidden: {help}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_priority_publishes_to_the_priority_lane_only() {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    let keys: Vec<String> = (0..3).map(|i| format!("u{i}.png")).collect();
    put_many(&env, &keys).await;
    let report = stdout_json(&enqueue(&env, &["--priority"]));
    assert_eq!(report["published"], 3, "{report}");
    assert!(drain(&env).await.is_empty(), "nothing on the bulk lane");
    let lane: BTreeSet<String> = drain_queue(&env, &env.names.priority)
        .await
        .into_iter()
        .map(|t| t.key)
        .collect();
    assert_eq!(lane, keys.iter().cloned().collect::<BTreeSet<_>>());
    env.cleanup().await;
}
