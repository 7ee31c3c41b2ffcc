//! The `ocr-worker` binary before it connects to anything: help and configuration errors.
//!
//! These live in the worker's own package so that `cargo test --workspace` builds the binary
//! (cargo builds a package's binaries for its integration tests) with the same features as
//! everything else it builds: the end-to-end tests in `ocr-tests` start that same binary.

use std::process::Command;

const SECRET: &str = "super-secret-value-123";
const BIN: &str = env!("CARGO_BIN_EXE_ocr-worker");

#[test]
fn help_lists_every_setting_and_never_a_secret() {
    let out = Command::new(BIN)
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
    let out = Command::new(BIN)
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

    let out = Command::new(BIN)
        .arg("run")
        .env_clear()
        .env("CLOVA_OCR_SECRET", SECRET)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CLOVA_OCR_INVOKE_URL"));
}

#[test]
fn a_bad_runtime_thread_count_is_named_and_exits_2() {
    for bad in ["abc", "0", "-1"] {
        let out = Command::new(BIN)
            .arg("--help")
            .env("TOKIO_WORKER_THREADS", bad)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains("TOKIO_WORKER_THREADS"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
