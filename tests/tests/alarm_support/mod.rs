//! A broker resource alarm for the tests that need one, and the helpers around it. The alarm
//! is broker-wide, so each test that raises it lives in a test binary of its own with a single
//! test: `cargo test` runs test binaries one after another. The alarm is the broker's own
//! (`rabbit_alarm:set_alarm`, the call the memory monitor makes), raised and cleared with
//! `rabbitmqctl eval`; a guard clears it even if the test fails.

use std::time::Duration;

use ocr_tests::{TestEnv, WorkerHandle, eventually};

/// How long these tests wait for an event.
pub const WAIT: Duration = Duration::from_secs(60);

/// A memory alarm on the local broker, cleared on drop.
pub struct MemoryAlarm;

impl MemoryAlarm {
    /// Raise it.
    pub fn raise() -> anyhow::Result<MemoryAlarm> {
        eval("rabbit_alarm:set_alarm({{resource_limit, memory, node()}, []}).")?;
        Ok(MemoryAlarm)
    }

    /// Raise it and wait until the broker's connections have been told: a probe connection
    /// publishes and is blocked. (The broker tells each connection asynchronously; a publish
    /// that races the news would go through.)
    pub async fn raise_in_effect() -> anyhow::Result<MemoryAlarm> {
        use futures::StreamExt;
        let probe = lapin::Connection::connect(&ocr_tests::amqp_url(), Default::default()).await?;
        let mut events = Box::pin(probe.events_listener());
        let alarm = MemoryAlarm::raise()?;
        let ch = probe.create_channel().await?;
        // Unroutable and not mandatory: the broker drops it; only the block matters. (No
        // confirms on this channel: the returned confirm future is dropped unawaited.)
        let confirm = ch
            .basic_publish(
                "".into(),
                "alarm-probe-nowhere".into(),
                Default::default(),
                b"probe",
                Default::default(),
            )
            .await?;
        drop(confirm);
        tokio::time::timeout(WAIT, async {
            while let Some(ev) = events.next().await {
                if matches!(ev, lapin::Event::ConnectionBlocked(_)) {
                    return;
                }
            }
        })
        .await?;
        drop(probe);
        Ok(alarm)
    }
}

impl Drop for MemoryAlarm {
    fn drop(&mut self) {
        let _ = eval("rabbit_alarm:clear_alarm({resource_limit, memory, node()}).");
    }
}

fn eval(expr: &str) -> anyhow::Result<()> {
    ocr_tests::rabbitmqctl(&["-q", "eval", expr]).map(drop)
}

/// `POST` an emulator admin action (`hold`, `release`).
pub async fn admin_post(env: &TestEnv, what: &str) {
    ocr_tests::emulator_admin(env, what)
        .await
        .unwrap_or_else(|e| panic!("emulator {what}: {e}"));
}

/// Wait until the worker's `ocr_worker_broker_blocked` gauge reads `value`.
pub async fn blocked_metric_becomes(worker: &WorkerHandle, value: f64) {
    eventually(WAIT, || async {
        worker
            .metrics()
            .await
            .unwrap()
            .get("ocr_worker_broker_blocked")
            == Some(&value)
    })
    .await
    .unwrap();
}
