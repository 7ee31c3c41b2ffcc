//! Delivery defects found by reading lapin's source, each reproduced against the real broker:
//! returns matched to the wrong publish, and the poison reason of a job that went through a
//! delay stage.

use std::time::Duration;

use lapin::BasicProperties;
use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::{TestEnv, eventually, rabbitmqctl};
use ocr_worker::amqp::{AmqpError, Outgoing, Publisher};
use serde_json::json;
use tokio::task::JoinSet;

const WAIT: Duration = Duration::from_secs(30);

/// Many concurrent mandatory publishes, half of them unroutable: every one is told its own
/// fate. On one shared confirm channel (before [`Publisher`]) lapin hands a return to
/// whichever confirm completes next, so unroutable publishes read as delivered: an outcome
/// lost while its job is acked.
#[tokio::test]
async fn a_returned_outcome_is_matched_to_its_own_publish() {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    let queue = format!("{}.routable", env.prefix);
    let mut args = FieldTable::default();
    args.insert("x-expires".into(), AMQPValue::LongLongInt(600_000));
    env.channel
        .queue_declare(queue.as_str().into(), QueueDeclareOptions::durable(), args)
        .await
        .unwrap();
    let publisher = Publisher::open(&env.conn, 4).await.unwrap();
    const N: usize = 10_000;
    let mut tasks = JoinSet::new();
    for i in 0..N {
        let p = publisher.clone();
        let routable = i % 2 == 0;
        let rk = if routable {
            queue.clone()
        } else {
            format!("{queue}.nowhere")
        };
        tasks.spawn(async move {
            let r = p
                .publish(Outgoing {
                    exchange: "",
                    routing_key: &rk,
                    body: b"{}",
                    message_id: &format!("m-{i}"),
                    correlation_id: None,
                    headers: None,
                })
                .await;
            (routable, r)
        });
    }
    let (mut delivered, mut returned, mut wrong) = (0, 0, Vec::new());
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            (true, Ok(())) => delivered += 1,
            (false, Err(AmqpError::Unroutable { .. })) => returned += 1,
            (routable, r) => wrong.push(format!("routable={routable}: {r:?}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} misjudged: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    assert_eq!((delivered, returned), (N / 2, N / 2));
    // What was said delivered is in the queue.
    eventually(WAIT, || async {
        env.queue_len("routable").await.unwrap() as usize == N / 2
    })
    .await
    .unwrap();
    publisher.close(Duration::from_secs(1)).await;
    env.cleanup().await;
}

/// A job that went through a delay stage and then kept crashing workers is relayed with the
/// reason the work queue gave (`delivery_limit`), not the delay stage's `expired`.
#[tokio::test]
async fn a_poison_message_after_a_delay_stage_names_the_delivery_limit() {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    let mut args = env.settings_args();
    args.delivery_limit = Some(20);
    args.retry_delays = Some("200ms".into());
    let settings = args.load().unwrap();
    // Declare the topology by starting and stopping a worker once.
    let w = env.spawn_worker(settings.clone()).await.unwrap();
    w.stop().await.unwrap();
    // A delayed retry copy, as the worker publishes it: it expires into the work queue.
    let body =
        serde_json::to_vec(&json!({"job_id":"delayed-poison","bucket":"b","key":"k.png"})).unwrap();
    env.channel
        .basic_publish(
            "".into(),
            format!("{}.jobs.delay.200ms", env.prefix).as_str().into(),
            BasicPublishOptions::default(),
            &body,
            BasicProperties::default()
                .with_delivery_mode(2)
                .with_message_id("delayed-poison".into()),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    // Crash on every delivery until the broker dead-letters it to the poison queue.
    env.crash_until_poisoned().await.unwrap();
    let w = env.spawn_worker(settings).await.unwrap();
    let got = env.collect(1, WAIT).await.unwrap();
    assert_eq!(got[0].body["error"]["kind"], json!("poison_message"));
    let message = got[0].body["error"]["message"].as_str().unwrap();
    assert!(message.contains("(delivery_limit)"), "{message}");
    w.stop().await.unwrap();
    env.cleanup().await;
}

/// The broker's own view of the queues whose names start with `prefix`: name → (type,
/// arguments), from `rabbitmqctl list_queues --formatter json`.
fn broker_queues(prefix: &str) -> std::collections::HashMap<String, (String, serde_json::Value)> {
    let out = rabbitmqctl(&[
        "-q",
        "list_queues",
        "name",
        "type",
        "arguments",
        "--formatter",
        "json",
    ])
    .unwrap();
    let all: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    all.into_iter()
        .filter_map(|q| {
            let name = q["name"].as_str()?.to_string();
            // `arguments` is a list of `[name, type, value]`.
            let arguments: serde_json::Map<String, serde_json::Value> = q["arguments"]
                .as_array()?
                .iter()
                .filter_map(|a| Some((a[0].as_str()?.to_string(), a[2].clone())))
                .collect();
            name.starts_with(prefix).then(|| {
                (
                    name,
                    (
                        q["type"].as_str().unwrap_or("").to_string(),
                        serde_json::Value::Object(arguments),
                    ),
                )
            })
        })
        .collect()
}

/// Delay stages hold retries in flight: by default they are quorum queues (replicated) whose
/// expiry dead-letters back at least once, and the broker runs that strategy (it falls back to
/// at-most-once without `reject-publish` overflow or the `stream_queue` feature flag).
#[tokio::test]
async fn delay_stages_are_quorum_queues_that_dead_letter_at_least_once() {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    let mut args = env.settings_args();
    args.retry_delays = Some("1s,5s".into());
    let w = env.spawn_worker(args.load().unwrap()).await.unwrap();
    w.stop().await.unwrap();
    let queues = broker_queues(&env.prefix);
    for stage in ["1s", "5s"] {
        let name = format!("{}.jobs.delay.{stage}", env.prefix);
        let (kind, arguments) = queues
            .get(&name)
            .unwrap_or_else(|| panic!("{name} declared"));
        assert_eq!(kind, "quorum", "{name}");
        assert_eq!(
            arguments["x-dead-letter-strategy"],
            json!("at-least-once"),
            "{name}"
        );
        assert_eq!(arguments["x-overflow"], json!("reject-publish"), "{name}");
        assert_eq!(
            arguments["x-dead-letter-routing-key"],
            json!(format!("{}.jobs", env.prefix))
        );
    }
    let flags = rabbitmqctl(&[
        "-q",
        "list_feature_flags",
        "name",
        "state",
        "--formatter",
        "json",
    ])
    .unwrap();
    let flags: Vec<serde_json::Value> = serde_json::from_str(&flags).unwrap();
    assert!(
        flags
            .iter()
            .any(|f| f["name"] == json!("stream_queue") && f["state"] == json!("enabled")),
        "at-least-once dead-lettering needs the stream_queue feature flag: {flags:?}"
    );
    env.cleanup().await;
}

/// On a cluster a classic queue lives on one node and dies with it: the poison, results and
/// dead-letter queues follow `OCR_QUEUE_TYPE` (quorum by default), like the work queues.
#[tokio::test]
async fn every_queue_that_holds_outcomes_follows_the_queue_type() {
    for (queue_type, want) in [
        (None, "quorum"),
        (Some(ocr_worker::config::QueueType::Classic), "classic"),
    ] {
        let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
        let mut args = env.settings_args();
        args.queue_type = queue_type;
        let w = env.spawn_worker(args.load().unwrap()).await.unwrap();
        w.stop().await.unwrap();
        let queues = broker_queues(&env.prefix);
        for suffix in ["jobs", "jobs.priority", "jobs.poison", "results", "dead"] {
            let name = format!("{}.{suffix}", env.prefix);
            let (kind, _) = queues
                .get(&name)
                .unwrap_or_else(|| panic!("{name} declared"));
            assert_eq!(kind, want, "{name} with OCR_QUEUE_TYPE={queue_type:?}");
        }
        env.cleanup().await;
    }
}

/// A classic delay queue made by an earlier version is refused by name, with the fix.
#[tokio::test]
async fn an_existing_classic_delay_queue_is_refused_with_the_fix() {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    let mut args = env.settings_args();
    args.retry_delays = Some("1s".into());
    let settings = args.load().unwrap();
    let name = format!("{}.jobs.delay.1s", env.prefix);
    let mut classic = FieldTable::default();
    classic.insert("x-expires".into(), AMQPValue::LongLongInt(600_000));
    classic.insert("x-message-ttl".into(), AMQPValue::LongLongInt(1000));
    env.channel
        .queue_declare(
            name.as_str().into(),
            QueueDeclareOptions::durable(),
            classic,
        )
        .await
        .unwrap();
    let stopped = env.run_until_config_stop(settings).await.unwrap();
    let reason = &stopped.reason;
    assert!(reason.contains(&name), "{reason}");
    assert!(reason.contains("OCR_DELAY_QUEUE_TYPE"), "{reason}");
    assert!(stopped.finish().await.is_err());
    env.cleanup().await;
}

/// `OCR_QUEUE_EXPIRES_SECS` puts `x-expires` only on queues the workers consume. The broker
/// deletes an expired queue with its messages, and nobody consumes the outcome queues or the
/// delay stages: with the expiry they were deleted holding results, dead letters and retries.
#[tokio::test]
async fn queue_expiry_never_touches_queues_that_hold_outcomes() {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    let settings = env.settings();
    assert!(
        settings.broker.queue_expires.is_some(),
        "the harness sets it"
    );
    let w = env.spawn_worker(settings).await.unwrap();
    w.stop().await.unwrap();
    let queues = broker_queues(&env.prefix);
    let expires = |suffix: &str| {
        let name = format!("{}.{suffix}", env.prefix);
        let (_, arguments) = queues
            .get(&name)
            .unwrap_or_else(|| panic!("{name} declared"));
        arguments.get("x-expires").is_some()
    };
    assert!(expires("jobs") && expires("jobs.poison"));
    for holds in ["results", "dead"] {
        assert!(!expires(holds), "{holds} must not expire");
    }
    let stages: Vec<_> = queues
        .keys()
        .filter(|n| n.contains(".jobs.delay."))
        .collect();
    assert!(!stages.is_empty());
    for stage in stages {
        assert!(
            !expires(stage.trim_start_matches(&format!("{}.", env.prefix))),
            "{stage} must not expire"
        );
    }
    env.cleanup().await;
}

/// An environment with one passport at `passports/p.png`, and worker settings under which
/// only a lost session ends a call held at the service: no call timeout, no in-process retry.
async fn held_call_env(seed: u64) -> (TestEnv, ocr_worker::config::SettingsArgs) {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    env.create_bucket("passports").await.unwrap();
    env.put(
        "passports",
        "p.png",
        ocr_tests::passport_png(&ocr_tests::Truth::synthetic(seed)),
    )
    .await
    .unwrap();
    let mut args = env.settings_args();
    args.call_timeout_secs = Some(120.0);
    args.quick_retries = Some(0);
    (env, args)
}

/// The broker closes the worker's connections; the worker drops the call it held.
async fn lose_the_session(env: &TestEnv) {
    let closed = ocr_tests::close_worker_connections(env).unwrap();
    assert!(closed >= 1, "the worker's connections were closed");
    eventually(WAIT, || async {
        ocr_tests::emulator_stats(env).await.unwrap().held == 0
    })
    .await
    .unwrap();
}

/// Defect 6: a job's paid calls are remembered across redeliveries. Each delivery's OCR call
/// reaches the service and then the session dies before an outcome (the broker closes the
/// worker's connection while the call is held): the header count never moves, so before the
/// fix every redelivery paid again, without bound. Now each return is charged as a paid
/// call (`x-delivery-count`), and with `max_attempts` 2 the third delivery makes no call and
/// ends as `retries_exhausted`.
#[tokio::test]
async fn paid_calls_are_charged_across_redeliveries() {
    let (env, mut args) = held_call_env(61).await;
    args.max_attempts = Some(2);
    args.prefetch = Some(1);
    let worker = env.spawn_worker(args.load().unwrap()).await.unwrap();
    let collector = env.collector().await.unwrap();
    ocr_tests::emulator_admin(&env, "hold").await.unwrap();
    env.publish_job("repaid", "passports", "p.png")
        .await
        .unwrap();
    for call in 1..=2u64 {
        // The call is at the service (held there): paid, as far as the worker can know.
        eventually(WAIT, || async {
            let s = ocr_tests::emulator_stats(&env).await.unwrap();
            s.received_total == call && s.held == 1
        })
        .await
        .unwrap();
        // Its session dies before any outcome: the broker takes the delivery back, and the
        // worker drops the call.
        lose_the_session(&env).await;
    }
    // The third delivery arrives charged with 2 paid calls: it may not call again.
    collector.wait_until(WAIT, |c| !c.is_empty()).await.unwrap();
    ocr_tests::emulator_admin(&env, "release").await.unwrap();
    let got = collector.snapshot();
    assert_eq!(got.len(), 1, "one outcome: {got:?}");
    assert_eq!(got[0].queue, "dead", "{got:?}");
    assert_eq!(got[0].body["error"]["kind"], json!("retries_exhausted"));
    assert_eq!(got[0].body["error"]["attempts"], json!(2));
    let stats = ocr_tests::emulator_stats(&env).await.unwrap();
    assert_eq!(
        stats.received_total, 2,
        "two paid calls, not one per delivery"
    );
    worker.stop().await.unwrap();
    env.cleanup().await;
}

/// A return that paid nothing is not charged when the process that gave the delivery back
/// knows it. One OCR slot, four jobs with a publish id as `ocr-worker enqueue` gives them,
/// but the last without (as from another producer): one call is held at the service while
/// the others wait for the slot; the broker closes the worker's connection. All four come
/// back with `x-delivery-count` 1. The one that was calling is charged that return (it may
/// have been billed) and pays again: 2 attempts. The two with a publish id that only waited
/// are charged nothing: 1 attempt each. The one without cannot be told from another message
/// and is charged: 2. Before the fix every return was charged: 2, 2, 2, 2.
#[tokio::test]
async fn a_return_that_paid_nothing_is_not_charged() {
    let (env, mut args) = held_call_env(62).await;
    args.clova_ocr_max_concurrency = Some(1);
    args.prefetch = Some(4);
    args.max_attempts = Some(3);
    let worker = env.spawn_worker(args.load().unwrap()).await.unwrap();
    let collector = env.collector().await.unwrap();
    ocr_tests::emulator_admin(&env, "hold").await.unwrap();
    for id in ["first", "second", "third"] {
        let mut headers = FieldTable::default();
        headers.insert(
            ocr_worker::amqp::PUBLISH_ID_HEADER.into(),
            AMQPValue::LongString(format!("test-{id}").as_str().into()),
        );
        env.publish_job_with_headers(id, "passports", "p.png", headers)
            .await
            .unwrap();
    }
    env.publish_job("no-publish-id", "passports", "p.png")
        .await
        .unwrap();
    // One call at the service, held; the other three jobs wait for the slot or an image place.
    eventually(WAIT, || async {
        let s = ocr_tests::emulator_stats(&env).await.unwrap();
        s.received_total == 1 && s.held == 1
    })
    .await
    .unwrap();
    // All four are being handled (each charged on arrival), not merely delivered.
    eventually(WAIT, || async {
        worker.metric("ocr_worker_jobs_in_flight").await == Some(4.0)
    })
    .await
    .unwrap();
    lose_the_session(&env).await;
    ocr_tests::emulator_admin(&env, "release").await.unwrap();
    collector.wait_until(WAIT, |c| c.len() >= 4).await.unwrap();
    let got = collector.snapshot();
    let attempts = |id: &str| {
        let o = got
            .iter()
            .find(|o| o.message_id.as_deref() == Some(id))
            .unwrap_or_else(|| panic!("no outcome for {id}"));
        assert_eq!(o.queue, "result", "{id}: {}", o.body["error"]);
        o.body["attempts"].as_i64().unwrap()
    };
    assert_eq!(
        attempts("no-publish-id"),
        2,
        "charged in full without a publish id"
    );
    let mut with_id: Vec<i64> = ["first", "second", "third"].map(attempts).to_vec();
    with_id.sort_unstable();
    assert_eq!(
        with_id,
        vec![1, 1, 2],
        "attempts of the jobs with a publish id"
    );
    assert_eq!(
        ocr_tests::emulator_stats(&env)
            .await
            .unwrap()
            .received_total,
        5,
        "the held call and one call per job after the return"
    );
    worker.stop().await.unwrap();
    env.cleanup().await;
}
