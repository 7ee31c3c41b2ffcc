//! When a session may start deliveries, and how many it holds.
//!
//! - **Flow control.** While the broker blocks publishers (a memory or disk alarm) no new job
//!   starts: its outcome could not be published. Jobs in flight wait in their publish.
//! - **Quota pause.** While OCR calls are paused (period quota 0023, a long Retry-After) no new
//!   job starts either: it would only wait, holding a delivery.
//! - **Prefetch.** The consumer's prefetch follows this replica's share of the OCR concurrency
//!   (2 × share unless configured), so no replica hoards jobs it cannot start soon.
//!   `basic.qos` only applies to consumers created after it, so a share change re-creates the
//!   consumer; the old one is cancelled and drained (its buffered deliveries are still
//!   processed) through the same merged stream.

use std::time::Duration;

use futures::stream::SelectAll;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Consumer};

use super::Context;
use crate::amqp::AmqpError;

/// The flow-control half of the gate: follows `connection.blocked` / `unblocked`.
#[derive(Debug, Default)]
pub(super) struct FlowGate {
    blocked: bool,
}

impl FlowGate {
    /// Apply a connection event; other events are ignored.
    pub(super) fn on_event<S, O>(&mut self, ctx: &Context<S, O>, ev: lapin::Event) {
        match ev {
            lapin::Event::ConnectionBlocked(reason) => {
                tracing::warn!(%reason, "broker blocked publishing (resource alarm); not starting new jobs");
                ctx.set_blocked(true);
                self.blocked = true;
            }
            lapin::Event::ConnectionUnblocked => {
                tracing::info!("broker unblocked publishing");
                ctx.set_blocked(false);
                self.blocked = false;
            }
            _ => {}
        }
    }

    /// Whether the broker blocks this connection now (no frame would be written).
    pub(super) fn blocked(&self) -> bool {
        self.blocked
    }

    /// Whether a new delivery may start now, given the quota pause still to run.
    pub(super) fn open(&self, paused: Option<Duration>) -> bool {
        !self.blocked && paused.is_none()
    }
}

/// The work queue's consumers on one channel: the current one, plus any being drained after a
/// prefetch change, merged into one stream.
pub(super) struct WorkConsumers {
    channel: Channel,
    queue: String,
    tag: String,
    generation: u32,
    prefetch: u16,
    /// Every live consumer; deliveries come from any of them.
    pub(super) stream: SelectAll<Consumer>,
}

impl WorkConsumers {
    /// Start consuming `queue` on `channel` with `prefetch`.
    pub(super) async fn start(
        channel: Channel,
        queue: &str,
        tag: &str,
        prefetch: u16,
    ) -> Result<Self, AmqpError> {
        let mut c = WorkConsumers {
            channel,
            queue: queue.to_string(),
            tag: tag.to_string(),
            generation: 0,
            prefetch,
            stream: SelectAll::new(),
        };
        let first = c.consume(prefetch).await?;
        c.stream.push(first);
        Ok(c)
    }

    /// The prefetch of the current consumer.
    pub(super) fn prefetch(&self) -> u16 {
        self.prefetch
    }

    fn current_tag(&self) -> String {
        format!("{}-{}", self.tag, self.generation)
    }

    async fn consume(&self, prefetch: u16) -> Result<Consumer, AmqpError> {
        self.channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        Ok(self
            .channel
            .basic_consume(
                self.queue.as_str().into(),
                self.current_tag().as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?)
    }

    /// Re-create the consumer with `want` when it differs from the current prefetch.
    pub(super) async fn follow(&mut self, want: u16) -> Result<(), AmqpError> {
        if want == self.prefetch {
            return Ok(());
        }
        let old_tag = self.current_tag();
        self.generation += 1;
        let new = self.consume(want).await?;
        let _ = self
            .channel
            .basic_cancel(old_tag.as_str().into(), BasicCancelOptions::default())
            .await;
        self.stream.push(new);
        tracing::info!(
            from = self.prefetch,
            to = want,
            "prefetch follows the OCR share"
        );
        self.prefetch = want;
        Ok(())
    }

    /// Stop taking deliveries (buffered ones still arrive through the stream).
    pub(super) async fn cancel(&self) {
        let tag = self.current_tag();
        let cancel = self
            .channel
            .basic_cancel(tag.as_str().into(), BasicCancelOptions::default());
        crate::amqp::bounded(crate::amqp::SHUTDOWN_CALL_WAIT, "basic.cancel", cancel).await;
    }

    /// The channel, for closing.
    pub(super) fn channel(&self) -> &Channel {
        &self.channel
    }
}

/// Prefetch for this replica now: configured, or twice its share of the OCR concurrency.
pub(super) fn desired_prefetch<S, O>(ctx: &Context<S, O>) -> u16 {
    if ctx.settings.broker.prefetch > 0 {
        ctx.settings.broker.prefetch
    } else {
        ctx.pipeline.limiter.prefetch_hint().max(1)
    }
}
