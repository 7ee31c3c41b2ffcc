//! The `ocr-worker` binary as an operator meets it: `process` on a file and an S3 object. Help
//! and configuration errors: `worker/tests/cli.rs`.

use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::{TestEnv, Truth, assert_schema, emulator_stats, output_ok, passport_png};
use serde_json::Value;

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
