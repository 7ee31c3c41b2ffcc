//! The `ocr-worker` binary as an operator meets it: help, configuration errors, `process`.

use std::process::Command;

use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::{TestEnv, Truth, assert_schema, binary, emulator_stats, output_ok, passport_png};
use serde_json::Value;

const SECRET: &str = "super-secret-value-123";

#[test]
fn help_lists_every_setting_and_never_a_secret() {
    let out = Command::new(binary("ocr-worker"))
        .args(["run", "--help"])
        .env("CLOVA_OCR_SECRET", SECRET)
        .env("AMQP_URL", format!("amqp://user:{SECRET}@host:5672/%2f"))
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(!help.contains(SECRET), "{help}");
    for env in [
        "AMQP_URL",
        "CLOVA_OCR_INVOKE_URL",
        "CLOVA_OCR_SECRET",
        "CLOVA_OCR_RATE_PER_SEC",
        "CLOVA_OCR_MAX_CONCURRENCY",
        "OCR_JOBS_QUEUE",
        "OCR_PREFETCH",
        "OCR_MAX_IMAGE_BYTES",
        "OCR_JOB_DEADLINE_SECS",
    ] {
        assert!(help.contains(env), "--help does not list {env}");
    }
}

#[test]
fn a_bad_setting_is_named_and_exits_2() {
    let out = Command::new(binary("ocr-worker"))
        .arg("run")
        .env_clear()
        .env("CLOVA_OCR_INVOKE_URL", "http://127.0.0.1:1/custom/v1/d/k")
        .env("CLOVA_OCR_SECRET", SECRET)
        .env("CLOVA_OCR_MAX_CONCURRENCY", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CLOVA_OCR_MAX_CONCURRENCY"), "{err}");
    assert!(!err.contains(SECRET));

    let out = Command::new(binary("ocr-worker"))
        .arg("run")
        .env_clear()
        .env("CLOVA_OCR_SECRET", SECRET)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CLOVA_OCR_INVOKE_URL"));
}

// Multi-threaded: the blocking `Command::output` below must not starve the in-process servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_prints_the_record_for_a_file_and_an_s3_object() {
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    env.create_bucket("scans").await.unwrap();
    let truth = Truth::synthetic(99);
    let png = passport_png(&truth);
    env.put("scans", "one.png", png.clone()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scan.jpg"); // the name lies; the bytes are a PNG
    std::fs::write(&file, &png).unwrap();
    for target in [file.display().to_string(), "s3://scans/one.png".to_string()] {
        let out = output_ok(&mut env.worker_command(&["process", &target], &[]));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_schema("result", &v);
        assert_eq!(v["passport"]["number"], Value::from(truth.number.clone()));
        assert_eq!(v["source"]["format"], Value::from("png"));
        // Logs never carry the record's personal data.
        let logs = String::from_utf8_lossy(&out.stderr);
        assert!(!logs.contains(&truth.number) && !logs.contains(&truth.surname));
    }
    // A missing object: classified error as JSON, exit code 1.
    let out = env
        .worker_command(&["process", "s3://scans/missing.png"], &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["kind"], Value::from("object_not_found"));
    // The image cap applies to files too, before anything is paid for.
    let small_cap = [("OCR_MAX_IMAGE_BYTES", "100".to_string())];
    let out = env
        .worker_command(&["process", &file.display().to_string()], &small_cap)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["kind"], Value::from("image_too_large"));
    assert_eq!(emulator_stats(&env).await.unwrap().billed_total, 2);
}
