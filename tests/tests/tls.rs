//! `amqps://` with a private CA (`OCR_AMQP_CA_FILE`), against a real RabbitMQ TLS listener:
//! an extra local node that `scripts/rabbitmq-node.sh tls` starts (once) with a CA and server
//! certificate it generates, listening for AMQPS only on 127.0.0.1:5681.

use std::path::PathBuf;
use std::time::Duration;

use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::{TestEnv, Truth, passport_png};
use ocr_worker::amqp::{AmqpCa, connect};
use secrecy::SecretString;

const URL: &str = "amqps://guest:guest@localhost:5681/%2f";

/// Start (or find) the TLS node; returns its CA certificate file.
fn tls_node() -> PathBuf {
    let dir = ocr_tests::rabbitmq_node(&["tls"]).expect("the TLS node starts");
    PathBuf::from(dir).join("ca.pem")
}

/// The node's certificate is checked: without the CA the handshake is refused (the system's
/// roots do not know it), with it the connection opens, and a host the certificate does not
/// name is refused even with the CA.
#[tokio::test]
async fn amqps_needs_the_private_ca_and_checks_the_host() {
    let ca_file = tls_node();
    let ca = AmqpCa::load(&ca_file).unwrap();
    let url = SecretString::from(URL);
    assert!(
        connect(&url, None, "tls-test").await.is_err(),
        "a certificate from an unknown CA was accepted"
    );
    let conn = connect(&url, Some(&ca), "tls-test").await.unwrap();
    assert!(conn.status().connected());
    conn.close(200, "done".into()).await.unwrap();
    // 127.0.0.2 reaches the same loopback listener, but the certificate names only
    // localhost and 127.0.0.1.
    let wrong_host = SecretString::from("amqps://guest:guest@127.0.0.2:5681/%2f");
    assert!(
        connect(&wrong_host, Some(&ca), "tls-test").await.is_err(),
        "a certificate for another host was accepted"
    );
}

/// A job end to end over TLS: the worker's sessions, publisher and presence all connect with
/// `OCR_AMQP_CA_FILE`.
#[tokio::test]
async fn a_job_runs_end_to_end_over_amqps() {
    let ca_file = tls_node();
    let env = TestEnv::start_on(EmulatorConfig::default(), URL.into(), Some(ca_file))
        .await
        .unwrap();
    env.create_bucket("passports").await.unwrap();
    let truth = Truth::synthetic(5681);
    env.put("passports", "p.png", passport_png(&truth))
        .await
        .unwrap();
    let worker = env.spawn_worker(env.settings()).await.unwrap();
    let collector = env.collector().await.unwrap();
    env.publish_job("over-tls", "passports", "p.png")
        .await
        .unwrap();
    collector
        .wait_until(Duration::from_secs(30), |c| !c.is_empty())
        .await
        .unwrap();
    let got = collector.snapshot();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].queue, "result", "{got:?}");
    assert_eq!(
        got[0].body["passport"]["number"],
        serde_json::json!(truth.number)
    );
    worker.stop().await.unwrap();
    env.cleanup().await;
}

/// A CA file is refused at start-up when it holds no certificate, naming the setting.
#[test]
fn a_ca_file_without_a_certificate_is_refused() {
    let dir = std::env::temp_dir().join(format!("ocr-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("not-a-cert.pem");
    std::fs::write(&bad, "hello").unwrap();
    let args = ocr_worker::config::SettingsArgs {
        amqp_url: Some(URL.into()),
        amqp_ca_file: Some(bad),
        clova_ocr_invoke_url: Some("http://127.0.0.1:1/custom/v1/demo/local".into()),
        clova_ocr_secret: Some("s".into()),
        ..Default::default()
    };
    let err = args.load().unwrap_err().to_string();
    assert!(err.contains("OCR_AMQP_CA_FILE"), "{err}");
    assert!(err.contains("no PEM certificate"), "{err}");
    // A CA with no amqps:// node would never be used.
    let args = ocr_worker::config::SettingsArgs {
        amqp_url: Some("amqp://guest:guest@127.0.0.1:5672/%2f".into()),
        amqp_ca_file: Some(dir.join("any.pem")),
        clova_ocr_invoke_url: Some("http://127.0.0.1:1/custom/v1/demo/local".into()),
        clova_ocr_secret: Some("s".into()),
        ..Default::default()
    };
    let err = args.load().unwrap_err().to_string();
    assert!(err.contains("no AMQP_URL node is amqps://"), "{err}");
}
