//! Quota (0025 exactly when a cap is exceeded, 0023 after the period quota), faults, latency
//! and the admin API, over real HTTP.

mod emulator_support;

use std::time::{Duration, Instant};

use emulator_support::{Client, image_for, json_body, sha256_hex, tiny_png};
use ocr_infra::emulator::{EmulatorConfig, Latency, spawn};
use serde_json::json;

#[tokio::test]
async fn concurrency_cap_answers_0025_exactly_when_exceeded() {
    let config = EmulatorConfig {
        max_concurrency: Some(2),
        ..EmulatorConfig::default()
    };
    let emu = spawn(config).await.unwrap();
    let client = Client::new(&emu);
    assert!(client.admin_post("hold").await.is_success());
    let (_, a) = image_for(1, |_| {});
    let (_, b) = image_for(2, |_| {});
    let (_, c) = image_for(3, |_| {});
    let first = tokio::spawn({
        let url = emu.endpoint_url();
        let secret = emu.secret().to_string();
        let body = json_body(&a);
        async move {
            reqwest::Client::new()
                .post(url)
                .header("X-OCR-SECRET", secret)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let second = tokio::spawn({
        let url = emu.endpoint_url();
        let secret = emu.secret().to_string();
        let body = json_body(&b);
        async move {
            reqwest::Client::new()
                .post(url)
                .header("X-OCR-SECRET", secret)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    // Both are admitted and held: the cap is reached, not exceeded.
    let stats = client.wait_until(|s| s.held == 2).await;
    assert_eq!(stats.in_flight, 2);
    assert_eq!(stats.rejected("0025"), 0);
    // The third simultaneous call exceeds it.
    let err = client
        .post_json(&json_body(&c))
        .await
        .assert_error(400, "0025");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("Calls to this api have exceeded the rate limit")
    );
    assert!(client.admin_post("release").await.is_success());
    assert_eq!(first.await.unwrap().as_u16(), 200);
    assert_eq!(second.await.unwrap().as_u16(), 200);
    // Below the cap again: accepted.
    client.recognise(&c).await;
    let stats = client.stats().await;
    assert_eq!(stats.rejected("0025"), 1);
    assert_eq!(stats.outcome("success"), 3);
    assert_eq!(stats.peak_in_flight, 2);
    assert_eq!(stats.peak_active, 3);
    assert_eq!(stats.billed_total, 3);
    assert_eq!(
        stats.billed_for(&sha256_hex(&c)),
        1,
        "the rejected call was not billed"
    );
}

#[tokio::test]
async fn concurrency_cap_with_latency_many_callers() {
    let config = EmulatorConfig {
        max_concurrency: Some(4),
        latency: "fixed:300".parse().unwrap(),
        ..EmulatorConfig::default()
    };
    let emu = spawn(config).await.unwrap();
    let client = Client::new(&emu);
    let mut tasks = Vec::new();
    for i in 0..10u64 {
        let url = emu.endpoint_url();
        let secret = emu.secret().to_string();
        let body = json_body(&image_for(100 + i, |_| {}).1);
        tasks.push(tokio::spawn(async move {
            let resp = reqwest::Client::new()
                .post(url)
                .header("X-OCR-SECRET", secret)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap();
            (status, body)
        }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for t in tasks {
        match t.await.unwrap() {
            (200, _) => ok += 1,
            (400, body) if body["code"] == "0025" => limited += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    let stats = client.stats().await;
    assert_eq!(ok + limited, 10);
    assert!(ok >= 4, "at least the cap is served");
    assert_eq!(stats.peak_in_flight, 4, "{stats:?}");
    assert_eq!(stats.rejected("0025"), limited);
    assert_eq!(stats.billed_total, ok);
}

#[tokio::test]
async fn rate_cap_answers_0025_for_the_call_over_the_limit() {
    let config = EmulatorConfig {
        rate_per_sec: Some(3),
        ..EmulatorConfig::default()
    };
    let emu = spawn(config).await.unwrap();
    let client = Client::new(&emu);
    let image = tiny_png();
    let start = Instant::now();
    for _ in 0..3 {
        client.recognise(&image).await;
    }
    let answer = client.post_json(&json_body(&image)).await;
    if start.elapsed() < Duration::from_millis(900) {
        let err = answer.assert_error(400, "0025");
        assert_eq!(
            err["message"],
            "Calls to this api have exceeded the rate limit."
        );
        assert_eq!(client.stats().await.rejected("0025"), 1);
    }
    // Lifting the cap at run time lets calls through at once.
    let (status, _) = client.configure(json!({"rate_per_sec": null})).await;
    assert!(status.is_success());
    client.recognise(&image).await;
}

#[tokio::test]
async fn period_quota_answers_0023_until_reset() {
    let config = EmulatorConfig {
        period_quota: Some(2),
        ..EmulatorConfig::default()
    };
    let emu = spawn(config).await.unwrap();
    let client = Client::new(&emu);
    let image = tiny_png();
    client.recognise(&image).await;
    client.recognise(&image).await;
    for _ in 0..2 {
        let err = client
            .post_json(&json_body(&image))
            .await
            .assert_error(400, "0023");
        assert_eq!(err["message"], "API request count reach the upper limit.");
    }
    let stats = client.stats().await;
    assert_eq!(stats.billed_total, 2);
    assert_eq!(stats.period_used, 2);
    assert_eq!(stats.rejected("0023"), 2);
    let after_reset: ocr_infra::emulator::Stats = client
        .http
        .post(format!("{}/reset", emu.admin_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after_reset.requests_total, 0);
    assert_eq!(after_reset.period_used, 0);
    client.recognise(&image).await;
}

#[tokio::test]
async fn injected_vendor_errors_0500_and_0501() {
    let emu = spawn(EmulatorConfig::default()).await.unwrap();
    let client = Client::new(&emu);
    let image = tiny_png();
    client
        .configure(json!({"faults": {"error_0500": 1.0}}))
        .await;
    let err = client
        .post_json(&json_body(&image))
        .await
        .assert_error(500, "0500");
    assert_eq!(err["message"], "Unknown service error.");
    client
        .configure(json!({"faults": {"error_0500": 0.0, "error_0501": 1.0}}))
        .await;
    let err = client
        .post_json(&json_body(&image))
        .await
        .assert_error(500, "0501");
    assert_eq!(err["message"], "OCR service error.");
    let stats = client.stats().await;
    assert_eq!(stats.faults.get("error_0500"), Some(&1));
    assert_eq!(stats.faults.get("error_0501"), Some(&1));
    assert_eq!(stats.billed_total, 0, "failed calls are not billed");
}

#[tokio::test]
async fn injected_gateway_errors_are_not_json() {
    let emu = spawn(EmulatorConfig::default()).await.unwrap();
    let client = Client::new(&emu);
    let image = tiny_png();
    for (kind, status) in [("gateway_502", 502), ("gateway_503", 503)] {
        client
            .configure(json!({"faults": {"gateway_502": 0.0, "gateway_503": 0.0, kind: 1.0}}))
            .await;
        let answer = client.post_json(&json_body(&image)).await;
        assert_eq!(answer.status.as_u16(), status);
        assert!(answer.content_type.starts_with("text/html"));
        assert!(serde_json::from_str::<serde_json::Value>(&answer.text).is_err());
    }
}

#[tokio::test]
async fn injected_garbage_is_a_200_that_is_not_a_clova_answer() {
    let emu = spawn(EmulatorConfig::default()).await.unwrap();
    let client = Client::new(&emu);
    client
        .configure(json!({"faults": {"garbage_200": 1.0}}))
        .await;
    let answer = client.post_json(&json_body(&tiny_png())).await;
    assert_eq!(answer.status.as_u16(), 200);
    assert!(answer.content_type.starts_with("application/json"));
    assert!(serde_json::from_str::<serde_json::Value>(&answer.text).is_err());
    let stats = client.stats().await;
    assert_eq!(stats.faults.get("garbage_200"), Some(&1));
    assert_eq!(stats.billed_total, 0);
}

#[tokio::test]
async fn injected_dropped_connection_is_a_transport_error() {
    let emu = spawn(EmulatorConfig::default()).await.unwrap();
    let client = Client::new(&emu);
    client
        .configure(json!({"faults": {"drop_connection": 1.0}}))
        .await;
    let err = client
        .try_post_json(&json_body(&tiny_png()))
        .await
        .unwrap_err();
    assert!(!err.is_timeout(), "{err:?}");
    // No status line at all: the client fails at send time (hyper IncompleteMessage).
    assert!(err.is_request(), "{err:?}");
    let stats = client.stats().await;
    assert_eq!(stats.faults.get("drop_connection"), Some(&1));
    assert_eq!(stats.billed_total, 0);
    // Back to normal at run time, on a fresh connection.
    client
        .configure(json!({"faults": {"drop_connection": 0.0}}))
        .await;
    client.recognise(&tiny_png()).await;
}

#[tokio::test]
async fn injected_hang_outlasts_the_client_timeout_and_shutdown_is_prompt() {
    let emu = spawn(EmulatorConfig::default()).await.unwrap();
    let client = Client::new(&emu);
    client.configure(json!({"faults": {"hang": 1.0}})).await;
    let short = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = short
        .post(emu.endpoint_url())
        .header("X-OCR-SECRET", emu.secret())
        .json(&json_body(&tiny_png()))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(client.stats().await.faults.get("hang"), Some(&1));
    // A call still hanging does not keep the server from stopping.
    let pending = tokio::spawn({
        let url = emu.endpoint_url();
        let secret = emu.secret().to_string();
        let body = json_body(&tiny_png());
        async move {
            reqwest::Client::new()
                .post(url)
                .header("X-OCR-SECRET", secret)
                .json(&body)
                .send()
                .await
        }
    });
    client
        .wait_until(|s| s.faults.get("hang") == Some(&2))
        .await;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), emu.shutdown())
        .await
        .expect("prompt shutdown")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        pending.await.unwrap().is_err(),
        "the hanging call's connection is closed"
    );
}

#[tokio::test]
async fn latency_is_applied_and_reported() {
    let config = EmulatorConfig {
        latency: Latency::Fixed { ms: 150 },
        ..EmulatorConfig::default()
    };
    let emu = spawn(config).await.unwrap();
    let client = Client::new(&emu);
    let start = Instant::now();
    client.recognise(&tiny_png()).await;
    assert!(start.elapsed() >= Duration::from_millis(150));
    client.configure(json!({"latency": "jitter:20+-10"})).await;
    client.recognise(&tiny_png()).await;
    let stats = client.stats().await;
    assert_eq!(stats.latency.count, 2);
    assert_eq!(stats.latency.max_ms, 150);
    assert!(stats.latency.total_ms >= 160 && stats.latency.total_ms <= 180);
}

#[tokio::test]
async fn admin_config_is_redacted_patchable_validated_and_resettable() {
    let emu = spawn(EmulatorConfig::default()).await.unwrap();
    let client = Client::new(&emu);
    let config: serde_json::Value = client
        .http
        .get(format!("{}/config", emu.admin_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["secret"], "<redacted>");
    assert_eq!(config["latency"], "fixed:0");
    assert_eq!(config["domain_id"], "demo");

    let (status, body) = client
        .configure(
            json!({"max_concurrency": 7, "latency": "uniform:1..2", "faults": {"hang_ms": 5}}),
        )
        .await;
    assert!(status.is_success());
    assert_eq!(body["max_concurrency"], 7);
    assert_eq!(body["latency"], "uniform:1..2");
    assert_eq!(body["faults"]["hang_ms"], 5);
    assert_eq!(body["secret"], "<redacted>");

    for bad in [
        json!({"latency": "sometimes"}),
        json!({"faults": {"error_0500": 1.5}}),
        json!({"faults": {"error_0500": 0.6, "hang": 0.6}}),
        json!({"max_concurrency": 0}),
        json!({"unknown_knob": true}),
    ] {
        let (status, body) = client.configure(bad.clone()).await;
        assert_eq!(status.as_u16(), 400, "{bad}");
        assert!(body["error"].is_string());
    }
    // A round trip of the redacted document keeps the secret.
    let (status, _) = client.configure(config.clone()).await;
    assert!(status.is_success());
    client.recognise(&tiny_png()).await;

    // Changing the secret at run time takes effect at once.
    client.configure(json!({"secret": "rotated"})).await;
    client
        .post_json(&json_body(&tiny_png()))
        .await
        .assert_error(401, "0002");
    let status = client
        .http
        .post(format!("{}/reset?config=true", emu.admin_url()))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success());
    client.recognise(&tiny_png()).await;
    let stats = client.stats().await;
    assert_eq!(stats.requests_total, 1);
    // Unknown admin paths are plain 404s, not vendor errors.
    let resp = client
        .http
        .get(format!("{}/nope", emu.admin_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
}

#[tokio::test]
async fn invalid_startup_config_is_refused() {
    let config = EmulatorConfig {
        max_concurrency: Some(0),
        ..EmulatorConfig::default()
    };
    let err = spawn(config).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let emu = spawn(EmulatorConfig::default()).await.unwrap();
    let addr = emu.addr();
    drop(emu);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            break;
        }
        assert!(Instant::now() < deadline, "still accepting after drop");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
