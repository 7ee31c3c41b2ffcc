//! `ocr-worker dlq` against the real broker: `stats` and `show` read the dead-letter queue
//! without changing it (count and order), `show` prints ids and sources but no job body
//! unless asked, `replay` moves exactly the dead letters of one kind back to the work queue
//! (no attempt headers, original ids), honours `--limit`, and a replay killed mid-way loses
//! nothing and duplicates at most the one message in flight.

use std::collections::HashSet;
use std::time::Duration;

use lapin::BasicProperties;
use lapin::options::BasicGetOptions;
use ocr_common::failure::JobError;
use ocr_common::job::Job;
use ocr_common::message::DeadLetterMessage;
use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::{TestEnv, Truth, assert_schema, binary, eventually, passport_png};
use ocr_worker::amqp::{self, ATTEMPTS_HEADER, Outgoing, PUBLISH_ID_HEADER, RETRIES_HEADER};
use ocr_worker::config::QueueType;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);
/// Producer metadata in every planted job: it must never be printed without `--include-job`.
const MARKER: &str = "PLANTED-HOLDER-KIM-MINJUN-1990-01-01";
const NOT_FOUND: &str = "object_not_found";
const REJECTED: &str = "ocr_rejected";

/// A test environment with the worker's topology declared and a confirm channel to plant
/// dead letters with.
struct Dlq {
    env: TestEnv,
    ch: lapin::Channel,
    /// Worker environment overrides for the `dlq` commands.
    extra: Vec<(&'static str, String)>,
}

/// What a planted message is.
enum Plant<'a> {
    /// A dead letter of `kind` for job `id`, optionally recording a lane.
    Letter {
        kind: &'a str,
        id: &'a str,
        lane: Option<&'a str>,
    },
    /// The dead letter of a job that was not JSON (only `job_base64`), AMQP id `id`.
    Bytes { id: &'a str, bytes: &'a [u8] },
    /// A message that is no dead letter at all.
    Garbage,
}

/// One message taken off a queue.
#[derive(Debug)]
struct Taken {
    message_id: Option<String>,
    correlation_id: Option<String>,
    props: BasicProperties,
    data: Vec<u8>,
}

fn job_of(id: &str) -> Value {
    json!({"job_id": id, "bucket": "scans", "key": format!("in/{id}.png"),
           "metadata": {"holder": MARKER}})
}

impl Dlq {
    /// The worker's topology as it declares it by default (quorum queues).
    async fn start() -> Dlq {
        Self::start_with(None).await
    }

    /// With classic queues (`OCR_QUEUE_TYPE=classic`), where a requeue keeps a message's
    /// place: a quorum queue requeues to the back, so a read of part of it rotates it
    /// (docs/dead-letters.md). The tests of queue order use this.
    async fn start_classic() -> Dlq {
        Self::start_with(Some(QueueType::Classic)).await
    }

    async fn start_with(queue_type: Option<QueueType>) -> Dlq {
        let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
        let mut args = env.settings_args();
        args.queue_type = queue_type;
        amqp::declare_topology(&env.conn, &args.load().unwrap())
            .await
            .unwrap();
        let ch = amqp::confirm_channel(&env.conn).await.unwrap();
        let extra = match queue_type {
            Some(QueueType::Classic) => vec![("OCR_QUEUE_TYPE", "classic".to_string())],
            _ => vec![],
        };
        Dlq { env, ch, extra }
    }

    /// Publish `plants` to the dead-letter exchange, confirmed, in order. Each carries attempt
    /// and retry headers, as a copy of a retried job would: a replay must not pass them on.
    async fn plant(&self, plants: &[Plant<'_>]) {
        let names = &self.env.names;
        for p in plants {
            let (body, message_id, routing_key) = match p {
                Plant::Letter { kind, id, lane } => {
                    let job = serde_json::to_vec(&job_of(id)).unwrap();
                    let mut dl = DeadLetterMessage::new(
                        Some(id.to_string()),
                        &JobError::Unrecognized,
                        1,
                        &job,
                        chrono::Utc::now(),
                    );
                    dl.error.kind = kind.to_string();
                    if let Some(l) = lane {
                        dl = dl.with_queue(l);
                    }
                    let v = serde_json::to_value(&dl).unwrap();
                    assert_schema("dead-letter", &v);
                    (
                        serde_json::to_vec(&v).unwrap(),
                        id.to_string(),
                        dl.routing_key(),
                    )
                }
                Plant::Bytes { id, bytes } => {
                    let invalid = JobError::InvalidJob(Job::parse(bytes, 1024).unwrap_err());
                    let dl = DeadLetterMessage::new(None, &invalid, 0, bytes, chrono::Utc::now())
                        .with_queue(&names.jobs);
                    assert!(dl.job.is_none() && dl.job_base64.is_some());
                    (
                        serde_json::to_vec(&dl).unwrap(),
                        id.to_string(),
                        dl.routing_key(),
                    )
                }
                Plant::Garbage => (
                    b"not a dead letter".to_vec(),
                    "garbage".to_string(),
                    "dead.unknown".to_string(),
                ),
            };
            amqp::publish_confirmed(
                &self.ch,
                Outgoing {
                    exchange: &names.dead_exchange,
                    routing_key: &routing_key,
                    body: &body,
                    message_id: &message_id,
                    correlation_id: Some(&format!("corr-{message_id}")),
                    headers: Some(amqp::retry_headers(3, 2)),
                },
            )
            .await
            .unwrap();
        }
    }

    /// `ocr-worker dlq <args>`: its report (stdout, JSON) and everything it printed.
    fn run(&self, args: &[&str]) -> (Value, String) {
        let mut all = vec!["dlq"];
        all.extend_from_slice(args);
        let out = self.env.worker_command(&all, &self.extra).output().unwrap();
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "dlq {args:?}: {printed}");
        let report = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("dlq {args:?} printed no JSON ({e}): {printed}"));
        (report, printed)
    }

    /// Wait until queue `suffix` has `n` ready messages (requeues land asynchronously).
    async fn wait_len(&self, suffix: &str, n: u32) {
        eventually(WAIT, || async {
            self.env.queue_len(suffix).await.unwrap_or(u32::MAX) == n
        })
        .await
        .unwrap_or_else(|e| {
            panic!("{suffix} never held {n} messages: {e}");
        });
    }

    /// Take every message off queue `suffix` (acked), in order.
    async fn drain(&self, suffix: &str) -> Vec<Taken> {
        let mut out = Vec::new();
        while let Some(m) = self
            .env
            .channel
            .basic_get(
                self.env.names.queue(suffix).as_str().into(),
                BasicGetOptions { no_ack: true },
            )
            .await
            .unwrap()
        {
            let d = m.delivery;
            out.push(Taken {
                message_id: d.properties.message_id().as_ref().map(|s| s.to_string()),
                correlation_id: d
                    .properties
                    .correlation_id()
                    .as_ref()
                    .map(|s| s.to_string()),
                props: d.properties,
                data: d.data,
            });
        }
        out
    }
}

fn ids(taken: &[Taken]) -> Vec<String> {
    taken
        .iter()
        .map(|t| t.message_id.clone().unwrap_or_default())
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Six dead letters of three kinds and one message that is no dead letter, interleaved.
fn mixed() -> Vec<Plant<'static>> {
    let letter = |kind, id| Plant::Letter {
        kind,
        id,
        lane: None,
    };
    vec![
        letter(NOT_FOUND, "nf-1"),
        letter(REJECTED, "rj-1"),
        letter(NOT_FOUND, "nf-2"),
        Plant::Garbage,
        letter("retries_exhausted", "rx-1"),
        letter(REJECTED, "rj-2"),
        letter(NOT_FOUND, "nf-3"),
    ]
}

const MIXED_ORDER: [&str; 7] = ["nf-1", "rj-1", "nf-2", "garbage", "rx-1", "rj-2", "nf-3"];

// Multi-threaded: the blocking `Command::output` calls must not starve the test's connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_by_kind_and_leave_the_queue_as_it_was() {
    let t = Dlq::start_classic().await;
    t.plant(&mixed()).await;
    t.wait_len("dead", 7).await;

    let (stats, _) = t.run(&["stats"]);
    assert_eq!(
        stats["by_kind"],
        json!({NOT_FOUND: 3, REJECTED: 2, "retries_exhausted": 1})
    );
    assert_eq!(stats["unreadable"], 1);
    assert_eq!(
        (&stats["ready"], &stats["read"], &stats["complete"]),
        (&json!(7), &json!(7), &json!(true))
    );
    assert_eq!(stats["warnings"], json!([]), "{stats}");
    t.wait_len("dead", 7).await;

    // A window smaller than the queue: counted in part, and said so.
    let (part, _) = t.run(&["stats", "--max-held", "3"]);
    assert_eq!(part["read"], 3);
    assert_eq!(part["complete"], false);
    assert_eq!(part["by_kind"], json!({NOT_FOUND: 2, REJECTED: 1}));
    assert!(
        part["warnings"][0].as_str().unwrap().contains("--max-held"),
        "{part}"
    );
    t.wait_len("dead", 7).await;
    // Twice more, then the queue is taken apart: every message is there, in planted order.
    t.run(&["stats"]);
    t.wait_len("dead", 7).await;
    assert_eq!(ids(&t.drain("dead").await), strings(&MIXED_ORDER));
    t.env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_lists_ids_and_sources_in_order_and_no_job_body_without_the_flag() {
    let t = Dlq::start_classic().await;
    t.plant(&mixed()).await;
    t.wait_len("dead", 7).await;

    let (shown, printed) = t.run(&["show"]);
    let listed = shown["dead_letters"].as_array().unwrap();
    let listed_ids: Vec<&str> = listed
        .iter()
        .map(|l| l["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed_ids, MIXED_ORDER);
    let positions: Vec<u64> = listed
        .iter()
        .map(|l| l["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, (1..=7).collect::<Vec<_>>());
    assert_eq!(listed[0]["kind"], NOT_FOUND);
    assert_eq!(listed[0]["job_id"], "nf-1");
    assert_eq!(listed[0]["bucket"], "scans");
    assert_eq!(listed[0]["key"], "in/nf-1.png");
    assert_eq!(listed[3]["kind"], Value::Null, "the garbage is unreadable");
    // Neither the metadata nor the job body is printed, on stdout or in the logs.
    assert!(!printed.contains(MARKER), "{printed}");
    assert!(!printed.contains("metadata"), "{printed}");
    t.wait_len("dead", 7).await;

    // One kind, a limit.
    let (rejected, _) = t.run(&["show", "--kind", REJECTED]);
    let rejected: Vec<(&str, u64)> = rejected["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["job_id"].as_str().unwrap(),
                l["position"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rejected, [("rj-1", 2), ("rj-2", 6)]);
    t.wait_len("dead", 7).await;
    let (two, _) = t.run(&["show", "--limit", "2"]);
    assert_eq!(two["dead_letters"].as_array().unwrap().len(), 2);
    assert_eq!((&two["read"], &two["complete"]), (&json!(2), &json!(false)));
    t.wait_len("dead", 7).await;

    // With the flag the job is there, metadata and all: the marker really was in reach.
    let (with_job, printed) = t.run(&["show", "--limit", "1", "--include-job"]);
    assert!(printed.contains(MARKER), "{printed}");
    assert_eq!(with_job["dead_letters"][0]["job"], job_of("nf-1"));

    // An unknown kind is refused by name, before anything is read.
    let out = t
        .env
        .worker_command(&["dlq", "show", "--kind", "no_such_kind"], &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("object_not_found"));

    t.wait_len("dead", 7).await;
    assert_eq!(ids(&t.drain("dead").await), strings(&MIXED_ORDER));
    t.env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_moves_exactly_one_kind_to_the_work_queue_without_attempt_headers() {
    let t = Dlq::start().await;
    let mut plants = mixed();
    plants.push(Plant::Bytes {
        id: "raw-1",
        bytes: b"\x00not json",
    });
    // A lane no configured queue has (a renamed queue, a forged body): never replayed.
    plants.push(Plant::Letter {
        kind: NOT_FOUND,
        id: "nf-elsewhere",
        lane: Some("elsewhere.jobs"),
    });
    // A lane the worker knows: the work queue, recorded as the worker records it.
    let jobs = t.env.names.jobs.clone();
    plants.push(Plant::Letter {
        kind: NOT_FOUND,
        id: "nf-4",
        lane: Some(&jobs),
    });
    t.plant(&plants).await;
    t.wait_len("dead", 10).await;

    let (report, printed) = t.run(&["replay", "--kind", NOT_FOUND]);
    assert_eq!(report["replayed"], 4, "{report}");
    assert_eq!(report["to"], json!({jobs.as_str(): 4}));
    assert_eq!(
        report["left"],
        json!({"other_kind": 4, "unreadable": 1, "unknown_lane": 1}),
        "{report}"
    );
    assert!(!printed.contains(MARKER), "{printed}");

    t.wait_len("jobs", 4).await;
    let replayed = t.drain("jobs").await;
    assert_eq!(ids(&replayed), ["nf-1", "nf-2", "nf-3", "nf-4"]);
    for r in &replayed {
        let id = r.message_id.as_deref().unwrap();
        let job: Value = serde_json::from_slice(&r.data).unwrap();
        assert_eq!(job, job_of(id), "the original job, metadata included");
        assert_eq!(r.correlation_id, Some(format!("corr-{id}")));
        assert_eq!(amqp::header_u32(&r.props, ATTEMPTS_HEADER), 0);
        let headers = r.props.headers().clone().unwrap_or_default();
        let names: Vec<String> = headers.inner().keys().map(|k| k.to_string()).collect();
        assert!(
            !names
                .iter()
                .any(|n| n == ATTEMPTS_HEADER || n == RETRIES_HEADER),
            "{names:?}"
        );
        // Published the confirmed way (mandatory, with its own publish id).
        assert!(amqp::header_str(&r.props, PUBLISH_ID_HEADER).is_some());
        assert_eq!(r.props.delivery_mode(), &Some(2));
    }
    t.wait_len("dead", 6).await;

    // The job that was not JSON goes back as its very bytes, under its original id.
    let (report, _) = t.run(&["replay", "--kind", "invalid_job"]);
    assert_eq!(report["replayed"], 1, "{report}");
    t.wait_len("jobs", 1).await;
    let raw = t.drain("jobs").await;
    assert_eq!(raw[0].data, b"\x00not json");
    assert_eq!(raw[0].message_id.as_deref(), Some("raw-1"));

    t.wait_len("dead", 5).await;
    assert_eq!(
        ids(&t.drain("dead").await),
        ["rj-1", "garbage", "rx-1", "rj-2", "nf-elsewhere"]
    );
    t.env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_with_a_limit_takes_the_first_of_the_kind_in_queue_order() {
    let t = Dlq::start().await;
    let letter = |kind, id| Plant::Letter {
        kind,
        id,
        lane: None,
    };
    t.plant(&[
        letter(REJECTED, "rj-1"),
        letter(NOT_FOUND, "nf-1"),
        letter(REJECTED, "rj-2"),
        letter(NOT_FOUND, "nf-2"),
        letter(NOT_FOUND, "nf-3"),
        letter(REJECTED, "rj-3"),
        letter(NOT_FOUND, "nf-4"),
    ])
    .await;
    t.wait_len("dead", 7).await;
    let (report, _) = t.run(&["replay", "--kind", NOT_FOUND, "--limit", "2"]);
    assert_eq!(report["replayed"], 2, "{report}");
    assert_eq!(report["complete"], false, "{report}");
    t.wait_len("jobs", 2).await;
    assert_eq!(ids(&t.drain("jobs").await), ["nf-1", "nf-2"]);
    t.wait_len("dead", 5).await;
    assert_eq!(
        ids(&t.drain("dead").await),
        ["rj-1", "rj-2", "nf-3", "rj-3", "nf-4"]
    );
    t.env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_killed_midway_loses_nothing_and_duplicates_at_most_one() {
    const N: usize = 1500;
    let t = Dlq::start().await;
    let letter_ids: Vec<String> = (0..N).map(|i| format!("many-{i:04}")).collect();
    let mut plants: Vec<Plant> = letter_ids
        .iter()
        .map(|id| Plant::Letter {
            kind: NOT_FOUND,
            id,
            lane: None,
        })
        .collect();
    plants.insert(
        N / 3,
        Plant::Letter {
            kind: REJECTED,
            id: "stays",
            lane: None,
        },
    );
    t.plant(&plants).await;
    t.wait_len("dead", N as u32 + 1).await;

    let mut child = tokio::process::Command::new(binary("ocr-worker"))
        .args(["dlq", "replay", "--kind", NOT_FOUND])
        .env_clear()
        .envs(t.env.worker_env(&[]))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Mid-replay: some jobs are in the work queue already.
    eventually(WAIT, || async {
        t.env.queue_len("jobs").await.unwrap_or(0) >= 50
    })
    .await
    .unwrap();
    child.kill().await.unwrap(); // SIGKILL: no close, no last ack
    // The broker requeues what the dead connection held: the dead letters not replayed and
    // the replayed ones make N + 1 (N + 2 with the duplicate); fewer is a loss.
    let total = || async {
        t.env.queue_len("dead").await.unwrap_or(0) + t.env.queue_len("jobs").await.unwrap_or(0)
    };
    if eventually(Duration::from_secs(20), || async {
        total().await > N as u32
    })
    .await
    .is_err()
    {
        panic!("dead letters lost: {} of {} left", total().await, N + 1);
    }
    // What the killed replay moved: in queue order, each once, and not everything.
    let first = ids(&t.drain("jobs").await);
    assert!(
        first.len() < N,
        "the replay finished before it was killed: the test proved nothing"
    );
    assert!(first.windows(2).all(|w| w[0] < w[1]), "{first:?}");

    // Everything else is still a dead letter: a second replay finds it all, in order, and
    // shares at most the one message in flight with the first.
    let (report, _) = t.run(&["replay", "--kind", NOT_FOUND]);
    assert_eq!(report["left"], json!({"other_kind": 1}), "{report}");
    t.wait_len("jobs", report["replayed"].as_u64().unwrap() as u32)
        .await;
    let second = ids(&t.drain("jobs").await);
    assert!(second.windows(2).all(|w| w[0] < w[1]), "order kept");
    let once: HashSet<&String> = first.iter().collect();
    let duplicates = second.iter().filter(|id| once.contains(id)).count();
    assert!(duplicates <= 1, "{duplicates} duplicates");
    let all: HashSet<&String> = first.iter().chain(&second).collect();
    let lost: Vec<&String> = letter_ids.iter().filter(|id| !all.contains(id)).collect();
    assert!(
        lost.is_empty(),
        "lost {} dead letters: {lost:?}",
        lost.len()
    );
    assert_eq!(all.len(), N);
    t.wait_len("dead", 1).await;
    assert_eq!(ids(&t.drain("dead").await), ["stays"]);
    t.env.cleanup().await;
}

/// The whole loop with a real worker: a job for an object that is not there yet is
/// dead-lettered (the worker records its lane); once the object is uploaded, a replay gives a
/// result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_dead_letter_replayed_after_the_cause_is_fixed_gives_a_result() {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    env.create_bucket("scans").await.unwrap();
    let worker = env.spawn_worker(env.settings()).await.unwrap();
    env.publish_job("late-1", "scans", "late.png")
        .await
        .unwrap();
    eventually(WAIT, || async {
        env.queue_len("dead").await.unwrap_or(0) == 1
    })
    .await
    .unwrap();
    let dlq = |args: &[&str]| {
        let mut all = vec!["dlq"];
        all.extend_from_slice(args);
        let out = env.worker_command(&all, &[]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let shown = dlq(&["show", "--include-job"]);
    let letter = &shown["dead_letters"][0];
    assert_eq!(letter["kind"], NOT_FOUND);
    assert_eq!(letter["job_id"], "late-1");
    assert_eq!(
        letter["queue"],
        env.names.jobs.as_str(),
        "the recorded lane"
    );

    env.put("scans", "late.png", passport_png(&Truth::synthetic(7)))
        .await
        .unwrap();
    let report = dlq(&["replay", "--kind", NOT_FOUND]);
    assert_eq!(report["replayed"], 1, "{report}");
    let got = env.collect(1, WAIT).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].queue, "result", "{:?}", got[0].body);
    assert_eq!(got[0].message_id.as_deref(), Some("late-1"));
    worker.stop().await.unwrap();
    env.cleanup().await;
}

/// A dead-letter queue that is not there is named, and reading does not create it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_dead_letter_queue_is_named_and_not_created() {
    let t = Dlq::start().await;
    let absent = t.env.names.queue("absent");
    let out = t
        .env
        .worker_command(&["dlq", "stats"], &[("OCR_DEAD_QUEUE", absent.clone())])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&absent) && err.contains("does not exist"),
        "{err}"
    );
    assert!(t.env.queue_len("absent").await.is_err(), "it was declared");
    t.env.cleanup().await;
}

/// The worker's own quorum dead-letter queue: reads count deliveries there, but its delivery
/// limit is never reached, so `stats` warns of nothing and every dead letter stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_on_the_quorum_dead_letter_queue_keep_every_letter() {
    let t = Dlq::start().await;
    t.plant(&mixed()).await;
    t.wait_len("dead", 7).await;
    for _ in 0..3 {
        let (stats, _) = t.run(&["stats"]);
        assert_eq!(
            stats["by_kind"],
            json!({NOT_FOUND: 3, REJECTED: 2, "retries_exhausted": 1})
        );
        assert_eq!(stats["warnings"], json!([]), "{stats}");
        t.wait_len("dead", 7).await;
    }
    let mut left: Vec<String> = ids(&t.drain("dead").await);
    left.sort();
    let mut planted = strings(&MIXED_ORDER);
    planted.sort();
    assert_eq!(left, planted);
    t.env.cleanup().await;
}
