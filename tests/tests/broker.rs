//! Broker-side behaviour: topology conflicts, the poison-message path, per-job deadlines.

use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::{
    TestEnv, Truth, assert_schema, emulator_patch, emulator_stats, eventually, passport_png,
};
use serde_json::json;

const BUCKET: &str = "passports";
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn existing_queue_with_other_arguments_gets_a_clear_error() {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    // Someone created the work queue as a classic queue; the worker wants a quorum queue.
    let mut args = FieldTable::default();
    args.insert(
        "x-expires".into(),
        lapin::types::AMQPValue::LongLongInt(600_000),
    );
    env.channel
        .queue_declare(
            format!("{}.jobs", env.prefix).as_str().into(),
            QueueDeclareOptions::durable(),
            args,
        )
        .await
        .unwrap();
    let stopped = env.run_until_config_stop(env.settings()).await.unwrap();
    let reason = &stopped.reason;
    assert!(reason.contains(&format!("{}.jobs", env.prefix)), "{reason}");
    assert!(reason.contains("inequivalent arg"), "{reason}");
    let addr = stopped.http_addr;
    let body = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
    assert_eq!(body.status().as_u16(), 503);
    let res = stopped.finish().await;
    assert!(res.is_err(), "run_until reports the mismatch");
    env.cleanup().await;
}

#[tokio::test]
async fn broker_dead_letters_become_poison_message_records() {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    let mut args = env.settings_args();
    args.delivery_limit = Some(20);
    let settings = args.load().unwrap();
    // Declare the topology by starting and stopping a worker once.
    let w = env.spawn_worker(settings.clone()).await.unwrap();
    w.stop().await.unwrap();
    // A job that "crashes every worker": returned to the queue more than the delivery limit.
    env.publish_raw(
        &serde_json::to_vec(&json!({"job_id":"poison-1","bucket":BUCKET,"key":"k.png"})).unwrap(),
        None,
        Some("corr-poison"),
    )
    .await
    .unwrap();
    // Return it to the queue on every delivery, as a crashing worker would, until the broker
    // dead-letters it to the poison queue (at-least-once).
    let returns = env.crash_until_poisoned().await.unwrap();
    assert!(returns <= 25, "the delivery limit did not apply");
    assert!(
        returns >= 20,
        "dead-lettered after {returns} returns, before the limit"
    );
    let w = env.spawn_worker(settings).await.unwrap();
    let got = env.collect(1, WAIT).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].queue, "dead");
    assert_eq!(got[0].body["error"]["kind"], json!("poison_message"));
    assert_eq!(got[0].body["job_id"], json!("poison-1"));
    assert_eq!(got[0].message_id.as_deref(), Some("poison-1"));
    assert_eq!(got[0].correlation_id.as_deref(), Some("corr-poison"));
    assert_schema("dead-letter", &got[0].body);
    assert_eq!(env.queue_len("jobs.poison").await.unwrap(), 0);
    w.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn a_hung_ocr_call_is_cut_by_the_job_deadline_and_retried() {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    emulator_patch(&env, json!({"faults": {"hang": 1.0, "hang_ms": 60_000}}))
        .await
        .unwrap();
    let mut args = env.settings_args();
    args.job_deadline_secs = Some(1.0);
    args.call_timeout_secs = Some(30.0);
    let worker = env.spawn_worker(args.load().unwrap()).await.unwrap();
    env.put(BUCKET, "p.png", passport_png(&Truth::synthetic(77)))
        .await
        .unwrap();
    env.publish_job("deadline", BUCKET, "p.png").await.unwrap();
    // The call hangs; the deadline cuts it and the job goes to a delay stage.
    eventually(WAIT, || async {
        emulator_stats(&env)
            .await
            .unwrap()
            .faults
            .get("hang")
            .copied()
            .unwrap_or(0)
            >= 1
    })
    .await
    .unwrap();
    emulator_patch(&env, json!({"faults": {"hang": 0.0}}))
        .await
        .unwrap();
    let got = env.collect(1, WAIT).await.unwrap();
    assert_eq!(got[0].queue, "result", "{:?}", got[0].body);
    // The hung call counts as paid (it may have been billed), so this is attempt 2 or more.
    assert!(got[0].body["attempts"].as_u64().unwrap() >= 2);
    worker.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn a_list_of_broker_urls_skips_a_dead_node() {
    // A cluster's nodes as AMQP_URL lists them: the first is down (nothing listens there).
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    env.create_bucket(BUCKET).await.unwrap();
    env.put(BUCKET, "a.png", passport_png(&Truth::synthetic(7)))
        .await
        .unwrap();
    let dead = format!(
        "amqp://guest:guest@127.0.0.1:{}/%2f",
        ocr_tests::free_port()
    );
    let mut args = env.settings_args();
    args.amqp_url = Some(format!("{dead},{}", ocr_tests::amqp_url()));
    // Ready means connected and consuming, through the second URL.
    let worker = env.spawn_worker(args.load().unwrap()).await.unwrap();
    env.publish_job("failover-1", BUCKET, "a.png")
        .await
        .unwrap();
    let got = env.collect(1, WAIT).await.unwrap();
    assert_eq!(got.len(), 1);
    assert!(got[0].is_result(), "{:?}", got[0].body);
    drop(worker);
    env.cleanup().await;
}
