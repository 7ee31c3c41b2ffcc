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
//! - **No usable share, no consumer.** A replica whose share lets no call start (0 slots or
//!   0 calls/s: more replicas than the domain's calls per second, not joined yet, presence
//!   lost) would only hold deliveries that wait, and prefetch 0 means "unlimited" in AMQP,
//!   so it cancels its consumer instead and consumes again when it has a share. It stays
//!   ready (`/readyz`): it is healthy, only idle. Nothing is requeued for it (on 3.10 every
//!   requeue counts toward `x-delivery-limit`): deliveries it already holds are processed
//!   when its share is back, and a job that waits for quota longer than the job deadline goes
//!   to a delay stage as a quota wait (see `delivery.rs`).

use std::time::Duration;

use futures::stream::SelectAll;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Consumer};

use super::Context;
use crate::amqp::AmqpError;
use crate::limiter::Share;

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
    /// The current consumer's prefetch; `None`: no consumer (no usable share).
    prefetch: Option<u16>,
    /// Every live consumer; deliveries come from any of them.
    pub(super) stream: SelectAll<Consumer>,
}

impl WorkConsumers {
    /// Start consuming `queue` on `channel` with `prefetch` (`None`: not yet, no usable
    /// share).
    pub(super) async fn start(
        channel: Channel,
        queue: &str,
        tag: &str,
        prefetch: Option<u16>,
    ) -> Result<Self, AmqpError> {
        let mut c = WorkConsumers {
            channel,
            queue: queue.to_string(),
            tag: tag.to_string(),
            generation: 0,
            prefetch,
            stream: SelectAll::new(),
        };
        if let Some(p) = prefetch {
            let first = c.consume(p).await?;
            c.stream.push(first);
        }
        Ok(c)
    }

    /// The prefetch of the current consumer (`None`: no consumer).
    pub(super) fn prefetch(&self) -> Option<u16> {
        self.prefetch
    }

    /// Whether a consumer is registered now (deliveries may come).
    pub(super) fn consuming(&self) -> bool {
        self.prefetch.is_some()
    }

    /// Whether the merged stream may yield: a consumer is registered, or a cancelled one still
    /// hands over its buffered deliveries. (An empty stream would end at once.)
    pub(super) fn may_yield(&self) -> bool {
        !self.stream.is_empty()
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

    /// Follow `want`: re-create the consumer when the prefetch differs, cancel it when there
    /// is no usable share (`None`), create it again when there is one.
    pub(super) async fn follow(&mut self, want: Option<u16>) -> Result<(), AmqpError> {
        if want == self.prefetch {
            return Ok(());
        }
        let old_tag = self.current_tag();
        match (self.prefetch, want) {
            (Some(from), Some(to)) => {
                self.generation += 1;
                let new = self.consume(to).await?;
                let _ = self
                    .channel
                    .basic_cancel(old_tag.as_str().into(), BasicCancelOptions::default())
                    .await;
                self.stream.push(new);
                tracing::info!(from, to, "prefetch follows the OCR share");
            }
            (None, Some(to)) => {
                self.generation += 1;
                let new = self.consume(to).await?;
                self.stream.push(new);
                tracing::info!(prefetch = to, "OCR share usable: consuming");
            }
            (Some(_), None) => {
                // Its buffered deliveries still arrive through the stream, then it ends.
                self.channel
                    .basic_cancel(old_tag.as_str().into(), BasicCancelOptions::default())
                    .await?;
                tracing::info!("no usable OCR share: consumer cancelled; idle until a share");
            }
            (None, None) => {}
        }
        self.prefetch = want;
        Ok(())
    }

    /// Stop taking deliveries (buffered ones still arrive through the stream).
    pub(super) async fn cancel(&self) {
        if !self.consuming() {
            return;
        }
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

/// Prefetch for this replica now: configured, or twice its share of the OCR concurrency;
/// `None` (no consumer) without a usable share.
pub(super) fn desired_prefetch<S, O>(ctx: &Context<S, O>) -> Option<u16> {
    let limiter = &ctx.pipeline.limiter;
    prefetch_for(
        ctx.settings.broker.prefetch,
        limiter.share(),
        limiter.prefetch_hint(),
    )
}

/// The prefetch rule, pure: no consumer without a usable share, whatever is configured;
/// otherwise the configured prefetch, or the share's hint.
pub(super) fn prefetch_for(configured: u16, share: Share, hint: u16) -> Option<u16> {
    if !share.is_usable() {
        None
    } else if configured > 0 {
        Some(configured)
    } else {
        Some(hint.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_usable_share_means_no_consumer() {
        let share = |concurrency, rate_milli| Share {
            concurrency,
            rate_milli,
        };
        // Issue 12, defect 3: 2 calls/s over 3 replicas leaves one at 0 calls/s; before, it
        // consumed with prefetch 2 × its slots and its jobs waited out their deadline.
        assert_eq!(prefetch_for(0, share(2, 0), 4), None);
        assert_eq!(prefetch_for(0, share(0, 5_000), 1), None);
        assert_eq!(prefetch_for(0, Share::ZERO, 1), None);
        assert_eq!(
            prefetch_for(7, Share::ZERO, 1),
            None,
            "even when configured"
        );
        assert_eq!(
            prefetch_for(0, share(2, 500), 4),
            Some(4),
            "below 1 call/s works"
        );
        assert_eq!(prefetch_for(7, share(2, 500), 4), Some(7));
    }
}
